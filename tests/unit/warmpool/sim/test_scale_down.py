"""Our policy's scale-down window in simulation: fewer calls on churn than aws-node's algorithm.

Seeded simulations on virtual time: the counts are deterministic, not timings.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipamd.ctl.commands.simulate import setup
from warmpool import sim


@pytest.mark.parametrize("generator", ["steady", "diurnal"])
def test_default_settings_make_at_most_half_the_anchors_mutating_calls(generator):
    chosen = setup({})
    trace = sim.generate(generator, hours=6, seed=3)
    ours = sim.simulate(trace, chosen.ours, chosen.config, seed=3)
    anchor = sim.simulate(trace, chosen.anchor, chosen.config, seed=3)
    assert anchor.mutating > 0
    assert ours.mutating_per_1k <= 0.5 * anchor.mutating_per_1k, (ours.requests, anchor.requests)
    assert ours.waited <= anchor.waited


def test_without_the_window_the_same_trace_churns_interfaces():
    chosen = setup({"VPC_IPAM_SCALE_DOWN_WINDOW": "0"})
    assert chosen.ours.timing.scale_down_window == 0
    windowed = setup({})
    trace = sim.generate("steady", hours=6, seed=3)
    plain = sim.simulate(trace, chosen.ours, chosen.config, seed=3)
    kept = sim.simulate(trace, windowed.ours, windowed.config, seed=3)
    assert plain.requests["CreateNetworkInterface"] > kept.requests["CreateNetworkInterface"]
    assert plain.requests["DeleteNetworkInterface"] > kept.requests.get("DeleteNetworkInterface", 0)


def test_a_long_window_holds_the_rollout_surge_interface():
    # 20 replicas, 5 at a time, twice an hour on an m5.xlarge: each surge needs a fourth
    # interface; a window longer than the rollout period keeps it between rollouts.
    trace = sim.rollout(hours=4, replicas=20, surge=5, seed=1)
    short = setup({"VPC_IPAM_SCALE_DOWN_WINDOW": "600"}, "m5.xlarge")
    long = setup({}, "m5.xlarge")  # the default, 1800 s: as long as the rollout period
    churned = sim.simulate(trace, short.ours, short.config, seed=1)
    held = sim.simulate(trace, long.ours, long.config, seed=1)
    assert held.requests["CreateNetworkInterface"] < churned.requests["CreateNetworkInterface"]
    assert held.idle_mean > churned.idle_mean  # the price: addresses held between rollouts
    assert replace(long.ours.timing, scale_down_window=0) == replace(
        short.ours.timing, scale_down_window=0
    )
