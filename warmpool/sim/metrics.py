"""What a simulation measures as it runs: pod waits, idle addresses over time, percentiles."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of sorted samples (as bench.common); 0 for no samples."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Spread:
    """p50 / p99 / max of some seconds."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        ordered = sorted(samples)
        return cls(
            len(ordered),
            percentile(ordered, 50),
            percentile(ordered, 99),
            ordered[-1] if ordered else 0.0,
        )


class IdleTracker:
    """Addresses held but not used by a pod, as a step function of time, summed over nodes."""

    __slots__ = ("area", "last", "points", "value")

    def __init__(self, start: float = 0.0) -> None:
        self.value = 0
        self.area = 0.0
        self.last = start
        self.points: list[tuple[float, int]] = [(start, 0)]

    def change(self, now: float, delta: int) -> None:
        if delta == 0:
            return
        self.area += self.value * (now - self.last)
        self.last = now
        self.value += delta
        if self.points[-1][0] == now:
            self.points[-1] = (now, self.value)
        else:
            self.points.append((now, self.value))

    def mean(self, end: float) -> float:
        """Time-weighted mean from the first point to ``end``."""
        start = self.points[0][0]
        if end <= start:
            return float(self.value)
        return (self.area + self.value * (end - self.last)) / (end - start)

    def series(self, end: float, points: int) -> tuple[tuple[float, int], ...]:
        """The step function sampled at ``points`` evenly spaced times (for a plot), each the
        value holding at that time."""
        start = self.points[0][0]
        if points < 2 or end <= start:
            return ((start, self.value),)
        times = [p[0] for p in self.points]
        step = (end - start) / (points - 1)
        out = []
        for k in range(points):
            t = start + k * step
            out.append((t, self.points[bisect_right(times, t) - 1][1]))
        return tuple(out)


@dataclass
class NodeMetrics:
    """One node's pods and waits."""

    started_at: float
    pods: int = 0
    waits: list[float] = field(default_factory=list)
    """Seconds from ADD to an address, for each pod that got one."""
    unserved_waits: list[float] = field(default_factory=list)
    """Seconds each pod that never got one waited until its DEL or the end."""
    first_address_at: float | None = None

    def served(self, wait: float) -> None:
        self.waits.append(wait)

    def unserved(self, wait: float) -> None:
        self.unserved_waits.append(wait)
