"""Concurrent ADDs on one node: vpc-cni against the same burst of the Go reference plugins.

DESIGN.md §8: 30 concurrent ADDs, p50 within 1.5x of the same burst of ``ptp`` +
``host-local``; 110 (an m5.large's max pods with prefixes) shows how both scale to a full
node. A burst is one request to the launcher (``bench.refplugins``): one thread a pod, each
in its own fresh namespace, all released by one barrier inside the node namespace, so both
sides start alike and the bench process's own scheduling is in no sample. Reported: the
burst's wall time (first fork to last reap) and the p50/p99 of the individual ADDs, pooled
over the repeats. An ADD that fails (e.g. the plugin's deadline passes while the daemon is
still busy) is counted and keeps its time until the error: leaving it out would flatter the
side that failed. Every pod is then deleted in one concurrent DEL burst, as containerd
would (with prevResult after a successful ADD, without after a failed one); its wall time
is shown, without a budget. Bursts alternate between the sides (ours, reference, ...) and
each starts on a quiet node: every address of the pool available, none cooling down.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.common import Options, Ratio, Result, Stats, ms
from bench.refplugins import (
    FAIRNESS_NOTE,
    POOL,
    SETUP_NOTE,
    Bench,
    Outcome,
    Plugin,
    PluginFailed,
    bench_node,
    skip_reason,
    skipped,
)

NAME = "burst"
SIZES = {30: 5, 110: 2}
"""Pods in a burst -> bursts per side (full run)."""
QUICK_SIZES = {5: 1, 10: 1}
BUDGETS = {30: 1.5}


@dataclass
class Bursts:
    """What the bursts of one side at one size gave, pooled."""

    add_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    del_wall_ms: list[float] = field(default_factory=list)
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def burst(bench: Bench, plugin: Plugin, count: int, into: Bursts) -> None:
    """``count`` concurrent ADDs, then as many concurrent DELs; every namespace goes after.
    A failed DEL raises: DEL must always succeed."""
    pods = [bench.pods.create() for _ in range(count)]
    try:
        added = bench.launcher.run([plugin.call("ADD", pod) for pod in pods])
        results: list[dict[str, Any] | None] = []
        for outcome in added:
            try:
                results.append(plugin.checked("ADD", outcome))
            except PluginFailed as failed:
                results.append(None)
                into.failed += 1
                into.errors.append(str(failed))
        deleted = bench.launcher.run(
            [plugin.call("DEL", pod, result) for pod, result in zip(pods, results, strict=True)]
        )
        for outcome in deleted:
            plugin.checked("DEL", outcome)
    finally:
        for pod in pods:
            bench.pods.remove(pod)
    into.add_ms += [ms(o.seconds) for o in added]
    into.wall_ms.append(_wall(added))
    into.del_wall_ms.append(_wall(deleted))


def _wall(outcomes: list[Outcome]) -> float:
    return ms(max(o.end for o in outcomes) - min(o.start for o in outcomes))


def run(options: Options) -> Result:
    reason = skip_reason()
    if reason is not None:
        return skipped(NAME, reason)
    sizes = QUICK_SIZES if options.quick else SIZES
    started = time.monotonic()
    pooled: dict[tuple[str, int], Bursts] = defaultdict(Bursts)
    with bench_node() as bench:
        sides = (bench.ours, bench.reference)
        ours, reference = (p.label for p in sides)
        try:
            for plugin in sides:  # the first call of each pays one-time costs: not a sample
                bench.add_then_del(plugin)
            for count, repeats in sizes.items():
                for _ in range(repeats):
                    for plugin in sides:
                        bench.wait_ready(POOL)
                        burst(bench, plugin, count, pooled[plugin.label, count])
        except PluginFailed as failed:
            raise bench.failure(failed) from None
    elapsed = time.monotonic() - started

    rows: list[tuple[object, ...]] = []
    ratios: list[Ratio] = []
    notes = [SETUP_NOTE, FAIRNESS_NOTE]
    for count, repeats in sizes.items():
        stats = {label: Stats.of(pooled[label, count].add_ms) for label in (ours, reference)}
        wall = {label: statistics.median(pooled[label, count].wall_ms) for label in stats}
        for label, s in stats.items():
            got = pooled[label, count]
            delete = statistics.median(got.del_wall_ms)
            rows.append((label, count, repeats, got.failed, wall[label], s.p50, s.p99, delete))
            if got.errors:
                notes.append(
                    f"{label}, {count} pods: {got.failed} of {count * repeats} ADDs failed, "
                    f"counted with their time until the error; first: {got.errors[0]}"
                )
        budget = BUDGETS.get(count)
        ratios.append(Ratio(f"{count} ADDs p50", stats[ours].p50, stats[reference].p50, budget))
        ratios.append(Ratio(f"{count} ADDs wall", wall[ours], wall[reference]))
    notes.append(
        "a burst: one thread a pod, released together by a barrier in the launcher; wall = "
        "first fork to last reap (median over bursts); ADD percentiles pooled over bursts; "
        f"bursts alternate ours/reference, each on a quiet node; took {elapsed:.0f}s"
    )
    return Result(
        NAME,
        (
            "plugin",
            "pods",
            "bursts",
            "failed",
            "wall ms",
            "ADD p50 ms",
            "ADD p99 ms",
            "DEL wall ms",
        ),
        rows,
        ratios,
        figures={
            "seconds": round(elapsed, 1),
            "bursts": {
                f"{label} x{count}": {
                    "add_ms": got.add_ms,
                    "wall_ms": got.wall_ms,
                    "del_wall_ms": got.del_wall_ms,
                    "failed": got.failed,
                }
                for (label, count), got in pooled.items()
            },
        },
        notes=notes,
    )
