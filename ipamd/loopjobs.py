"""Jobs handed to a worker thread to run between two of its own steps, and their answers.

The pool loop is the only thread that changes what the node holds in the cloud; the doctor
needs to look while nothing changes, so it hands its work to the loop (``submit``) and waits
for the answer. The loop runs what is queued after each tick (``run``). A job queued while
the loop is stopping or not running yet runs at once on the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar, cast

T = TypeVar("T")


class JobQueue:
    def __init__(self) -> None:
        self._jobs: list[tuple[Callable[[], object], Future[object]]] = []
        self._lock = threading.Lock()

    def submit(
        self, job: Callable[[], T], timeout: float, *, wake: Callable[[], None], running: bool
    ) -> T:
        """Queue ``job``, ``wake`` the worker, wait for and return its answer (or raise what
        it raised); TimeoutError if the worker does not get to it within ``timeout``."""
        future: Future[object] = Future()
        with self._lock:
            self._jobs.append((job, future))
        wake()
        if not running:
            self.run()
        return cast("T", future.result(timeout))

    def run(self) -> None:
        """Run every queued job on the calling thread (the worker's)."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for job, future in jobs:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as error:  # handed to the caller, which re-raises it
                future.set_exception(error)
