"""What the CNI binary asked lately and what it was answered: for ``why`` and for metrics.

``RequestLog.timed`` wraps the socket server's handler: every request is timed and its
outcome (0, or the CNI error code the binary printed) goes to the ``finished`` callback
(metrics count every op). Requests about pods (add, del, check, gc, repair: not the probes'
health and status) are also kept: the last 256 in order, and the latest per attachment
for the last 1024 attachments, so ``why`` can still say "its last ADD was refused: max
pods reached" for a pod whose kubelet retried many others since.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cni.errors import INTERNAL, CniError
from cni.wire import PodArgs, Request
from ipamd.model import PodRef
from ipamd.service import addresses_in

KEEP = 256
KEEP_ATTACHMENTS = 1024
UNLOGGED_OPS = frozenset({"health", "status"})
"""Asked every few seconds by probes and runtimes; counted in metrics, not kept."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    at: float
    """Wall-clock time the request arrived."""
    op: str
    network: str
    container_id: str
    ifname: str
    pod: PodRef
    code: int
    """0 for success, else the CNI error code of the answer."""
    message: str
    seconds: float
    address: str | None
    """The address an ADD answered with."""

    @property
    def attachment(self) -> tuple[str, str, str]:
        return (self.network, self.container_id, self.ifname)


Handler = Callable[[Request], Mapping[str, object]]


class RequestLog:
    def __init__(
        self,
        *,
        finished: Callable[[str, int, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._finished = finished
        self._clock = clock
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._recent: deque[RequestRecord] = deque(maxlen=KEEP)
        self._latest: OrderedDict[tuple[str, str, str], RequestRecord] = OrderedDict()

    def timed(self, handler: Handler) -> Handler:
        """``handler``, timed and recorded; what it returns or raises passes unchanged."""

        def wrapped(request: Request) -> Mapping[str, object]:
            arrived, started = self._wall(), self._clock()
            try:
                result = handler(request)
            except CniError as error:
                self._done(request, (arrived, started), (error.code, error.msg), None)
                raise
            except Exception as error:  # the server answers 999; the log says what it was
                self._done(request, (arrived, started), (INTERNAL, str(error)), None)
                raise
            self._done(request, (arrived, started), (0, ""), result)
            return result

        return wrapped

    def _done(
        self,
        request: Request,
        times: tuple[float, float],
        answer: tuple[int, str],
        result: Mapping[str, object] | None,
    ) -> None:
        (arrived, started), (code, message) = times, answer
        seconds = self._clock() - started
        if self._finished is not None:
            self._finished(request.op, code, seconds)
        if request.op in UNLOGGED_OPS:
            return
        args = request.args
        pod = args if isinstance(args, PodArgs) else None
        found = addresses_in(result) if result is not None and request.op == "add" else []
        record = RequestRecord(
            at=arrived,
            op=request.op,
            network=getattr(args, "network", ""),
            container_id=pod.container_id if pod else "",
            ifname=pod.ifname if pod else "",
            pod=PodRef(pod.pod_namespace, pod.pod_name, pod.pod_uid) if pod else PodRef(),
            code=code,
            message=message,
            seconds=seconds,
            address=str(found[0]) if found else None,
        )
        with self._lock:
            self._recent.append(record)
            if pod is not None:
                self._latest.pop(record.attachment, None)
                self._latest[record.attachment] = record
                while len(self._latest) > KEEP_ATTACHMENTS:
                    self._latest.popitem(last=False)

    def recent(self) -> list[RequestRecord]:
        """Oldest first."""
        with self._lock:
            return list(self._recent)

    def latest(self) -> list[RequestRecord]:
        """The latest request of each attachment seen lately, oldest first."""
        with self._lock:
            return list(self._latest.values())

    def matching(self, wanted: Callable[[RequestRecord], bool]) -> list[RequestRecord]:
        """Kept requests ``wanted`` accepts, oldest first, each once.

        In arrival order, not by ``at`` (the wall clock may step back or repeat): a latest
        record no longer in the ring arrived before everything in it, and the latest records
        are kept in the order they arrived."""
        with self._lock:
            recent = list(self._recent)
            in_ring = {id(r) for r in recent}
            older = [r for r in self._latest.values() if id(r) not in in_ring]
        return [r for r in (*older, *recent) if wanted(r)]
