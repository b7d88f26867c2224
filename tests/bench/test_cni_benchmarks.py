"""Smoke tests of the CNI benchmarks (bench/cni_latency.py, bench/burst.py): each runs in
quick mode on a real sandbox node against the reference plugins, and what it returns is a
well-formed result (a row per plugin and measure, every ratio with positive figures, the
JSON the runner writes) and leaves no pod namespace behind. Never a timing: the machines
are shared and noisy, and the figures are for people to read (``make bench``).

Skipped, with the benchmarks' own reason, without root, iproute2/nft or the reference
plugins (Debian's containernetworking-plugins in /usr/lib/cni)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench import burst, cni_latency
from bench.common import Options, Result, write
from bench.refplugins import skip_reason
from sandbox.portal import NETNS_DIR

POD_NETNS = re.compile(r"(vpcsbx-[0-9a-f]+-n1)b-[0-9a-f]+")
"""The pod namespaces the benchmarks make (``bench.refplugins.PodNamespaces``), with the
name of their sandbox's node namespace."""


def _pod_namespaces() -> set[str]:
    """Pod namespaces left by a sandbox that is gone (its node namespace is): another
    benchmark running at the same time on this machine has its own, still alive."""
    names = {p.name for p in NETNS_DIR.iterdir()} if NETNS_DIR.exists() else set()
    found = {n: POD_NETNS.fullmatch(n) for n in names}
    return {n for n, m in found.items() if m is not None and m.group(1) not in names}


def _quick(module: ModuleType, out: Path) -> tuple[Result, dict[str, Any]]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    before = _pod_namespaces()
    result: Result = module.run(Options(quick=True, out=out))
    assert _pod_namespaces() - before == set()
    written = json.loads(write(result, out).read_text())
    assert written["name"] == module.NAME == result.name
    assert len(written["ratios"]) == len(result.ratios)
    assert all(r.ours > 0 and r.reference > 0 and r.ratio > 0 for r in result.ratios)
    assert all(len(row) == len(result.headers) for row in result.rows)
    return result, written


@pytest.mark.netns
def test_cni_latency_quick_reports_add_and_del_of_both_plugins_with_ratios(tmp_path: Path):
    result, written = _quick(cni_latency, tmp_path)
    assert [(r[0], r[1], r[2]) for r in result.rows] == [
        ("vpc-cni", "ADD", cni_latency.QUICK_ROUNDS),
        ("ptp+host-local", "ADD", cni_latency.QUICK_ROUNDS),
        ("vpc-cni", "DEL", cni_latency.QUICK_ROUNDS),
        ("ptp+host-local", "DEL", cni_latency.QUICK_ROUNDS),
    ]
    assert all(isinstance(v, float) and v > 0 for row in result.rows for v in row[3:])
    budgets = {r.what: r.budget for r in result.ratios}
    assert budgets == {"ADD p50": 1.5, "DEL p50": 1.2, "ADD p99": None, "DEL p99": None}
    samples = written["figures"]["ms"]
    assert len(samples["vpc-cni"]["ADD"]) == cni_latency.QUICK_ROUNDS


@pytest.mark.netns
def test_burst_quick_reports_each_size_for_both_plugins_with_ratios(tmp_path: Path):
    result, _ = _quick(burst, tmp_path)
    sizes = list(burst.QUICK_SIZES)
    assert [(r[0], r[1]) for r in result.rows] == [
        (label, size) for size in sizes for label in ("vpc-cni", "ptp+host-local")
    ]
    assert all(isinstance(row[3], int) and row[3] >= 0 for row in result.rows)  # failed ADDs
    assert all(isinstance(v, float) and v > 0 for row in result.rows for v in row[4:])
    assert [r.what for r in result.ratios] == [
        f"{size} ADDs {what}" for size in sizes for what in ("p50", "wall")
    ]


@pytest.mark.parametrize("module", [cni_latency, burst], ids=lambda m: m.NAME)
def test_a_benchmark_that_cannot_run_says_why_and_claims_no_ratio(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(module, "skip_reason", lambda: "needs the reference plugins")
    result: Result = module.run(Options(quick=True))
    assert result.name == module.NAME
    assert result.ratios == [] and result.rows == []
    assert result.notes == ["skipped: needs the reference plugins"]
