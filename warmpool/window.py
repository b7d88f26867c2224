"""The highest value seen over a sliding window of time: the pool's recent peak demand.

A pool that gives back what it does not need *right now* gives back what it needed a few
minutes ago and will need again a few minutes from now: a pod count that wanders across an
interface's worth of addresses creates and deletes that interface every time, and a
Deployment rollout's surge does the same once per rollout. The Kubernetes
HorizontalPodAutoscaler meets the same problem with its scale-down stabilization window: it
scales down only to the highest recommendation of the last N seconds. The pool does the
same with its demand (addresses pods hold or cool in, plus pods waiting), tracked here.

Pure: the caller passes the times (its own clock), so the simulator and the daemon share it.
Memory is bounded by the samples that can still be the maximum: a monotonic deque keeps only
samples higher than every later one.
"""

from __future__ import annotations

from collections import deque


class SlidingMax:
    """``peak(now)``: the highest ``record``-ed value of the last ``window`` seconds (0 if none).

    A value recorded at ``t`` counts until ``t + window``; times must not go backwards (a
    sample older than the latest is treated as recorded at the latest time).
    """

    __slots__ = ("_samples", "window")

    def __init__(self, window: float) -> None:
        if window < 0:
            raise ValueError(f"window must be >= 0 seconds, got {window}")
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        """(time, value), times increasing and values strictly decreasing."""

    def record(self, now: float, value: int) -> None:
        samples = self._samples
        if samples and now < samples[-1][0]:
            now = samples[-1][0]
        while samples and samples[-1][1] <= value:
            samples.pop()
        samples.append((now, value))
        self._expire(now)

    def peak(self, now: float) -> int:
        self._expire(now)
        return self._samples[0][1] if self._samples else 0

    def _expire(self, now: float) -> None:
        samples = self._samples
        # the newest sample stays until its own window has passed, even if alone
        while samples and samples[0][0] + self.window < now:
            samples.popleft()

    def __len__(self) -> int:
        return len(self._samples)
