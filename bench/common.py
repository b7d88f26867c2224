"""What every benchmark shares: percentiles, ratios against a budget, tables, JSON output.

A benchmark module exposes ``NAME`` and ``run(options) -> Result``. A ``Result`` carries its
table (printed as is), its ratios (ours / reference, with the budget DESIGN.md sets, if any)
and any raw figures worth keeping; ``write`` puts it in ``bench/out/<name>.json``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox import tables

OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool = False
    """Fewer rounds (tests and a first look); the full run is what figures come from."""
    out: Path = OUT


@dataclass(frozen=True, slots=True)
class Stats:
    count: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p99=percentile(ordered, 99),
            mean=sum(ordered) / len(ordered),
            max=ordered[-1],
        )


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Ratio:
    what: str
    ours: float
    reference: float
    budget: float | None = None
    """The largest ratio DESIGN.md allows (None: reported, not budgeted)."""
    unit: str = "ms"

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference else math.inf

    @property
    def within(self) -> bool | None:
        return None if self.budget is None else self.ratio <= self.budget

    def line(self) -> str:
        verdict = (
            ""
            if self.budget is None
            else (f"  budget <= {self.budget:g}x: {'ok' if self.within else 'OVER'}")
        )
        return (
            f"{self.what}: ours {self.ours:.2f} {self.unit}, reference {self.reference:.2f} "
            f"{self.unit}, ratio {self.ratio:.2f}x{verdict}"
        )


@dataclass
class Result:
    name: str
    headers: tuple[str, ...]
    rows: list[tuple[object, ...]]
    ratios: list[Ratio] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        return table(self.headers, self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "kernel": platform.release()},
            "headers": list(self.headers),
            "rows": [list(r) for r in self.rows],
            "ratios": [{**asdict(r), "ratio": r.ratio, "within": r.within} for r in self.ratios],
            "figures": self.figures,
            "notes": self.notes,
        }


def write(result: Result, out: Path = OUT) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.name}.json"
    path.write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    """The sandbox's plain table, with floats at two decimals."""
    return tables.table(headers, [[_cell(v) for v in row] for row in rows], indent)


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def ms(seconds: float) -> float:
    return seconds * 1000.0
