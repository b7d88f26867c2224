"""Events on this node's Node object for what an operator must see, rate-limited.

``kubectl describe node`` is where someone on call looks first, so the pool's blockers are
posted there: the subnet has no room, a cloud permission is missing, the interface limit is
reached, custom networking has no ENIConfig, leaked addresses were taken back. A blocked
pool retries every few seconds; posting each time would flood etcd, so each reason is
posted at most once per interval, and the next post of that reason counts the ones held
back (``count``), as the kubelet's event aggregation does.

Posting happens in a thread of its own from a bounded queue: the pool loop never waits for
the API server, and when the server is down events are dropped (the pool's state is in
health and logs anyway).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ipamd.k8s.errors import KubeError

log = logging.getLogger(__name__)

Obj = dict[str, Any]

EVENT_INTERVAL = 600.0
"""Seconds between two posts of the same reason."""
QUEUE_SIZE = 64
COMPONENT = "vpc-ipamd"
EVENT_NAMESPACE = "default"
"""Events about cluster-scoped objects (nodes) live in ``default``, as the kubelet's do."""


@dataclass(frozen=True, slots=True)
class Notice:
    reason: str
    message: str
    warning: bool
    count: int


class EventRecorder:
    def __init__(
        self,
        post: Callable[[str, Obj], None],
        node_name: str,
        node_uid: Callable[[], str],
        *,
        interval: float = EVENT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
        self._node = node_name
        self._uid = node_uid
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._queue: queue.Queue[Notice | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self.posted = 0
        self.dropped = 0

    def record(self, reason: str, message: str, *, warning: bool = True) -> bool:
        """Queue an event unless ``reason`` was posted less than ``interval`` ago; True if
        queued."""
        now = self._clock()
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self.interval:
                self._held[reason] = self._held.get(reason, 0) + 1
                return False
            self._last[reason] = now
            count = 1 + self._held.pop(reason, 0)
        try:
            self._queue.put_nowait(Notice(reason, message, warning, count))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="k8s-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while (notice := self._queue.get()) is not None:
            try:
                self._post(EVENT_NAMESPACE, self.event(notice))
                self.posted += 1
            except KubeError as error:
                self.dropped += 1
                log.debug("event %s not posted: %s", notice.reason, error)
            except Exception:  # an event is never worth the thread
                self.dropped += 1
                log.exception("event %s not posted", notice.reason)

    def event(self, notice: Notice) -> Obj:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{self._node}.", "namespace": EVENT_NAMESPACE},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Node",
                "name": self._node,
                # the kubelet's own node events use the name as uid when it knows no better
                "uid": self._uid() or self._node,
            },
            "reason": notice.reason,
            "message": notice.message,
            "type": "Warning" if notice.warning else "Normal",
            "count": notice.count,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": COMPONENT, "host": self._node},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._node,
        }
