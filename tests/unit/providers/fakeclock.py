"""A manual clock whose sleep advances it: tests of waiting code never really wait."""

from __future__ import annotations

import threading


class FakeClock:
    """Call it for the time; ``sleep`` records the wait and moves time forward. Thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
