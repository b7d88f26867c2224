"""Smoke tests of the daemon benchmarks (bench/startup.py, bench/daemon_rss.py, bench/rpc.py):
each runs in quick mode against the real daemon (IPAM-only, EC2 emulator) and returns a
well-formed result (its rows, every ratio with positive figures, the JSON the runner writes)
and leaves no working directory behind. Never a timing: the figures are for people to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import daemon_rss, rpc, startup
from bench.common import Options, Result, write

SCRATCH = ("ipb-*", "vpc-cni-bench-*", "rpc-*")
"""What the benchmarks create under /tmp (and must remove)."""


def _scratch() -> set[Path]:
    return {p for pattern in SCRATCH for p in Path("/tmp").glob(pattern)}


def _quick(module: ModuleType, out: Path) -> tuple[Result, dict[str, Any]]:
    before = _scratch()
    result: Result = module.run(Options(quick=True, out=out))
    assert _scratch() - before == set()
    written = json.loads(write(result, out).read_text())
    assert written["name"] == module.NAME == result.name
    assert len(written["rows"]) == len(result.rows) > 0
    assert all(len(row) == len(result.headers) for row in result.rows)
    assert len(written["ratios"]) == len(result.ratios) > 0
    assert all(r.ours > 0 and r.reference > 0 and r.ratio > 0 for r in result.ratios)
    return result, written


def test_startup_times_the_installed_plugin_and_a_restart_to_the_first_add(tmp_path: Path):
    result, written = _quick(startup, tmp_path)
    measured = {row[0]: row for row in result.rows}
    assert measured[startup.LAUNCHER][1] == 20
    assert measured["vpc-ipamd restart to first ADD answered"][1] == 1
    calls = written["figures"]["restart_ec2_calls_before_first_add"]
    assert len(calls) == 1 and all(isinstance(n, int) for n in calls[0].values())
    budgets = {r.what: r.budget for r in result.ratios}
    assert budgets["vpc-cni start p50 vs the 20 ms budget"] == 1.0
    assert startup.PTP.exists() == ("vpc-cni VERSION start p50 vs Go ptp" in budgets)
    assert any("DESIGN.md budget < 20 ms" in note for note in result.notes)


def test_daemon_rss_reads_memory_idle_loaded_and_after_in_both_configurations(tmp_path: Path):
    result, _ = _quick(daemon_rss, tmp_path)
    pods = daemon_rss.QUICK_PODS
    assert [(row[0], row[2]) for row in result.rows] == [
        (config, n) for config in daemon_rss.CONFIGS for n in (0, pods, 0)
    ]
    assert all(isinstance(v, float) and v > 0 for row in result.rows for v in row[4:])
    assert {r.unit for r in result.ratios} == {"MiB"}
    assert {(r.reference, r.budget) for r in result.ratios} == {(daemon_rss.BUDGET_MIB, 1.0)}


def test_rpc_pairs_each_operation_with_same_sized_bare_exchanges(tmp_path: Path):
    result, written = _quick(rpc, tmp_path)
    for what in ("health", "status", "add (already held)"):
        rows = [row for row in result.rows if row[0] == what]
        assert [row[1] for row in rows] == [rpc.DAEMON, rpc.CLIENT_ONLY, rpc.FLOOR]
        assert len({row[2:4] for row in rows}) == 1  # same request and reply sizes
    assert all(isinstance(v, float) and v > 0 for row in result.rows for v in row[4:])
    assert len(result.ratios) == 6 and all(r.budget is None for r in result.ratios)
    assert "100 rounds" in written["notes"][0]
