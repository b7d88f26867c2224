"""bench/simulate.py in quick mode: a well-formed result (rows per scenario and policy, a
budgeted ratio per scenario, the herd in the figures and notes, the JSON the runner writes).
Never a timing: the wall-clock seconds are figures for people to read."""

from __future__ import annotations

import json
from pathlib import Path

from bench import simulate
from bench.common import Options, write

SCENARIOS = ("steady", "diurnal", "rollout", "rollout-surge", "steady-ip5", "diurnal-prefix")


def test_the_quick_run_reports_every_scenario_both_policies_and_the_herd(tmp_path: Path):
    result = simulate.run(Options(quick=True, out=tmp_path))
    assert result.name == simulate.NAME == "simulate"
    assert [(r[0], r[1]) for r in result.rows] == [
        (scenario, policy) for scenario in SCENARIOS for policy in ("ours", "anchor")
    ]
    assert all(len(row) == len(result.headers) for row in result.rows)
    assert [r.budget for r in result.ratios] == [0.5] * len(SCENARIOS)
    assert result.figures["rollout-surge"]["instance_type"] == "m5.xlarge"
    assert result.figures["steady-ip5"]["settings"] == {"WARM_IP_TARGET": "5"}
    assert all(r.reference > 0 for r in result.ratios)
    herd = result.figures["herd"]
    assert set(herd) == {"ours", "naive", "anchor"}
    assert herd["naive"]["throttled_calls"] > herd["ours"]["throttled_calls"]
    floor = result.figures["herd_floor"]["throttled_calls"]
    assert 0 < floor <= min(run["throttled_calls"] for run in herd.values())
    assert all("calls_failed_throttled" in run for run in herd.values())
    assert any(note.startswith("herd: 200 nodes") for note in result.notes)
    written = json.loads(write(result, tmp_path).read_text())
    assert written["figures"]["steady"]["runs"][0]["policy"] == "ours"
