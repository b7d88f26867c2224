"""A list-then-watch loop keeping a local copy of some objects equal to the API server's.

The pattern of client-go's reflector, small: list (which gives a resourceVersion), watch
from it, apply each event, and when the stream ends (the server closes watches every few
minutes) watch again from the last version seen. A 410 means that version was compacted
away: list again at once. Any other failure marks the copy out of sync and retries with
capped, jittered exponential backoff, so a thousand nodes do not hammer a recovering API
server in step.

``synced`` is the copy's warrant: True only between a successful list and the next
failure. A copy that is not in sync may miss pods created meanwhile, so nothing destructive
may be decided from it (see ``leaks``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ipamd.k8s.errors import Gone, KubeError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""


def key_of(obj: Obj) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between failed attempts: first, doubling, capped, each scaled by 0.5..1."""

    first: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        grown: float = self.first * 2 ** max(failures - 1, 0)
        return min(self.cap, grown) * random.uniform(0.5, 1.0)


class Reflector:
    """One resource's list+watch in its own thread; ``objects()`` is a copy of the copy."""

    def __init__(
        self,
        name: str,
        list_objects: Callable[[], tuple[list[Obj], str]],
        watch_objects: Callable[[str], Iterator[tuple[str, Obj]]],
        on_change: Callable[[], None],
        *,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._list = list_objects
        self._watch = watch_objects
        self._on_change = on_change
        self._backoff = backoff
        self._clock = clock
        self._objects: dict[Key, Obj] = {}
        self._lock = threading.Lock()
        self.synced = False
        self.last_error: str | None = None
        self.failing_since: float | None = None
        """Clock time of the first failure of the current outage; None while healthy."""
        self.lists = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def objects(self) -> list[Obj]:
        with self._lock:
            return list(self._objects.values())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"k8s-{self.name}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the loop to end; closing the API client then ends a blocked read."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                version = self._relist()
                failures = 0
                while not self._stop.is_set():
                    version = self._follow(version)
            except Gone as gone:
                log.info("%s: %s; listing again", self.name, gone)
                self.synced = False
            except KubeError as error:
                failures += 1
                self._failed(str(error))
                self._stop.wait(self._backoff.delay(failures))
            except Exception as error:  # a bug must not end the loop for good
                failures += 1
                log.exception("%s: unexpected failure", self.name)
                self._failed(f"{type(error).__name__}: {error}")
                self._stop.wait(self._backoff.delay(failures))

    def _failed(self, message: str) -> None:
        self.failures += 1
        if self._stop.is_set():
            return
        if self.failing_since is None:
            self.failing_since = self._clock()
            log.warning("%s: %s; serving from what is known, retrying", self.name, message)
        self.synced = False
        self.last_error = message

    def _relist(self) -> str:
        items, version = self._list()
        with self._lock:
            self._objects = {key_of(item): item for item in items}
        self.synced = True
        self.lists += 1
        if self.failing_since is not None:
            log.info("%s: in sync again (%d objects)", self.name, len(items))
        self.failing_since = None
        self.last_error = None
        self._on_change()
        return version

    def _follow(self, version: str) -> str:
        """One watch stream, to its end; returns the last resourceVersion seen."""
        for kind, obj in self._watch(version):
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            with self._lock:
                if kind == "DELETED":
                    self._objects.pop(key_of(obj), None)
                else:
                    self._objects[key_of(obj)] = obj
            self._on_change()
            if self._stop.is_set():
                break
        return version
