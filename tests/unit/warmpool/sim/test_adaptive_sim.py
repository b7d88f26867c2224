"""WARM_POOL_MODE=adaptive in the simulator: seeded, deterministic counts only."""

from __future__ import annotations

from ipamd.ctl.commands.simulate import setup
from warmpool import sim


def test_setup_maps_warm_pool_mode():
    assert setup({"WARM_POOL_MODE": "adaptive"}).ours.adaptive is True
    assert setup({}).ours.adaptive is False


def test_adaptive_holds_fewer_idle_addresses_than_the_default_on_rollouts():
    # the default's 30-minute window keeps the surge's fourth interface between rollouts;
    # adaptive sizes the pool to the arrival rate and gives it back: leaner, more calls
    trace = sim.rollout(hours=24, seed=1, replicas=20, surge=5)
    static = setup({}, "m5.xlarge")
    adaptive = setup({"WARM_POOL_MODE": "adaptive"}, "m5.xlarge")
    ours = sim.simulate(trace, static.ours, static.config, seed=1)
    ada = sim.simulate(trace, adaptive.ours, adaptive.config, seed=1)
    assert ada.idle_mean < 0.8 * ours.idle_mean
    assert ada.unserved == 0


def test_adaptive_beats_the_default_static_setting_on_a_diurnal_day():
    trace = sim.diurnal(hours=24, seed=1)
    static = setup({})
    adaptive = setup({"WARM_POOL_MODE": "adaptive"})
    ours = sim.simulate(trace, static.ours, static.config, seed=1)
    ada = sim.simulate(trace, adaptive.ours, adaptive.config, seed=1)
    anchor = sim.simulate(trace, static.anchor, static.config, seed=1)
    assert ada.waited <= ours.waited
    assert ada.idle_mean < ours.idle_mean
    assert ada.mutating <= anchor.mutating / 2
