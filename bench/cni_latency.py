"""CNI ADD and DEL latency: vpc-cni against the Go reference plugins, in the same run.

DESIGN.md §8: ADD p50 within 1.5x of ``ptp`` + ``host-local`` timed in the same run, DEL
within 1.2x. One node of the sandbox holds a warm pool (``bench.refplugins``), so our ADD
is the whole path a pod pays on a warm node: the plugin's start, the request to vpc-ipamd,
an address from the pool, the daemon wiring the pod (veth, address, routes, neighbor,
rules) and the result. Each round runs one ADD and one DEL of each plugin, each plugin in a
fresh pod namespace; the two alternate which goes first, so drift on a shared machine (CPU
frequency, other load) lands on both. The first rounds warm the page cache and are dropped.
"""

from __future__ import annotations

import time

from bench.common import Options, Ratio, Result, Stats, ms
from bench.refplugins import (
    FAIRNESS_NOTE,
    SETUP_NOTE,
    PluginFailed,
    bench_node,
    skip_reason,
    skipped,
)

NAME = "cni_latency"
ROUNDS = 200
QUICK_ROUNDS = 10
WARMUP = 3
COMMANDS = ("ADD", "DEL")
BUDGETS = {"ADD": 1.5, "DEL": 1.2}


def run(options: Options) -> Result:
    reason = skip_reason()
    if reason is not None:
        return skipped(NAME, reason)
    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    started = time.monotonic()
    samples: dict[str, dict[str, list[float]]] = {}
    with bench_node() as bench:
        sides = (bench.ours, bench.reference)
        samples = {p.label: {c: [] for c in COMMANDS} for p in sides}
        for n in range(WARMUP + rounds):
            for plugin in sides if n % 2 == 0 else sides[::-1]:
                try:
                    add, delete = bench.add_then_del(plugin)
                except PluginFailed as failed:
                    raise bench.failure(failed) from None
                if n >= WARMUP:
                    samples[plugin.label]["ADD"].append(ms(add.seconds))
                    samples[plugin.label]["DEL"].append(ms(delete.seconds))
        ours, reference = bench.ours.label, bench.reference.label
    elapsed = time.monotonic() - started

    stats = {(label, c): Stats.of(s) for label, by in samples.items() for c, s in by.items()}
    rows: list[tuple[object, ...]] = []
    for command in COMMANDS:
        for label in (ours, reference):
            s = stats[label, command]
            rows.append((label, command, s.count, s.p50, s.p90, s.p99, s.mean, s.max))
    ratios = [
        Ratio(
            f"{command} {pct}",
            getattr(stats[ours, command], pct),
            getattr(stats[reference, command], pct),
            BUDGETS[command] if pct == "p50" else None,
        )
        for pct in ("p50", "p99")
        for command in COMMANDS
    ]
    return Result(
        NAME,
        ("plugin", "command", "n", "p50 ms", "p90 ms", "p99 ms", "mean ms", "max ms"),
        rows,
        ratios,
        figures={"rounds": rounds, "warmup": WARMUP, "seconds": round(elapsed, 1), "ms": samples},
        notes=[
            SETUP_NOTE,
            FAIRNESS_NOTE,
            f"{rounds} rounds (+{WARMUP} dropped), each: ADD then DEL of each plugin, in "
            f"alternating order; took {elapsed:.0f}s",
        ],
    )
