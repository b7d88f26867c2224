"""Our policy on the simulated node: the daemon's loop timing around warmpool.decide()."""

from __future__ import annotations

import pytest

from tests.unit.warmpool.sim.support import burst, calls, held, node, replay
from warmpool.sim import OurPolicy, OurTiming, simulate, steady
from warmpool.sim import cloud as ec2
from warmpool.sim import ours as ours_module


def test_the_first_tick_grows_the_primary_interface_by_its_nine_blocks():
    n, log = replay(OurPolicy(), node(), [], until=3.0)
    assert held(n) == 9
    assert [a for _, a, _ in log] == [ec2.DESCRIBE_TYPES, ec2.ASSIGN]


def test_an_add_wakes_the_loop_at_once():
    # WARM_ENI_TARGET=1: the first pod leaves 8 free, and the loop grows right away
    n, log = replay(OurPolicy(), node(), [(10.0, "a", "add")], until=30.0)
    assert calls(log, ec2.DESCRIBE_ENIS)[0] == pytest.approx(10.0)
    assert calls(log, ec2.CREATE) == [pytest.approx(10.1)]
    assert n.interfaces[1].created_at == pytest.approx(11.45)  # + attach 0.75, modify 0.3


def test_one_decision_creates_every_interface_the_burst_needs():
    n, log = replay(OurPolicy(), node(), burst(4.0, 20), until=30.0)
    creates = calls(log, ec2.CREATE)
    assert len(creates) == 2 and creates[1] - creates[0] < 2.0
    assert len(n.metrics.waits) == 20 and max(n.metrics.waits) < 5.0


def test_a_new_interface_serves_pods_only_once_its_link_is_there():
    n, _ = replay(OurPolicy(), node(), burst(4.0, 12), until=30.0)
    # 9 at once from the primary; 3 once the new interface is ready (attach + 2 s)
    ready_after = 0.1 + 0.3 + 0.75 + 0.3 + 2.0
    assert sorted(n.metrics.waits)[-3:] == [pytest.approx(ready_after)] * 3


def test_pods_waiting_count_as_pending_demand():
    # WARM_IP_TARGET=1 with 5 pods at once: one decision for all of them plus the target
    n, log = replay(OurPolicy(), node(warm_ip_target=1), burst(10.0, 5), until=30.0)
    grows = [t for t in calls(log, ec2.ASSIGN) if t >= 10.0]
    assert len(grows) == 1 and held(n) == 6
    n, log = replay(
        OurPolicy(pending_pods=False), node(warm_ip_target=1), burst(10.0, 5), until=30.0
    )
    assert len([t for t in calls(log, ec2.ASSIGN) if t >= 10.0]) > 1


def test_shrinking_happens_at_most_every_shrink_interval():
    events = [*burst(10.0, 8, prefix="a"), *[(12.0, f"a{k}", "del") for k in range(8)]]
    events += [*burst(20.0, 8, prefix="b"), *[(22.0, f"b{k}", "del") for k in range(8)]]
    _, log = replay(OurPolicy(), node(cooldown=0.0, warm_ip_target=1), events, until=120.0)
    releases = calls(log, ec2.UNASSIGN)
    assert len(releases) == 2 and releases[1] - releases[0] >= 30.0


def test_a_cooling_address_is_never_given_back():
    events = [*burst(10.0, 8), *[(12.0, f"p{k}", "del") for k in range(8)]]
    _, log = replay(OurPolicy(), node(warm_ip_target=1), events, until=41.0)
    assert calls(log, ec2.UNASSIGN) == []  # all 8 cool until 42
    _, log = replay(OurPolicy(), node(warm_ip_target=1), events, until=80.0)
    assert len(calls(log, ec2.UNASSIGN)) == 1


def test_the_loop_reconciles_every_minute_but_never_within_ten_seconds_of_an_action():
    _, log = replay(OurPolicy(), node(), [], until=200.0)
    # due 5 s after start, but the grow at 0.1 holds it to the first tick after 10.1; then
    # every 60 s, at a tick (each tick 0.1 s later for the describe itself)
    expected = (10.6, 70.7, 130.8, 190.9)
    assert calls(log, ec2.DESCRIBE_ENIS) == [pytest.approx(t) for t in expected]


def test_the_pool_interval_is_the_time_between_ticks():
    timing = OurTiming(pool_interval=20.0, reconcile_quiet=0.0)
    _, log = replay(OurPolicy(timing=timing), node(), [], until=60.0)
    # the first tick at 0.1 grows; the reconcile due at 5.1 waits for the next tick, at 20.6
    assert [round(t, 2) for t, _, _ in log] == [0.0, 0.1, 20.6]


def test_memoised_decisions_are_the_decisions(monkeypatch: pytest.MonkeyPatch):
    trace = steady(hours=2, seed=9)
    memoised = simulate(trace, OurPolicy(), node(warm_ip_target=3))
    monkeypatch.setattr(ours_module, "MEMO_LIMIT", 0)  # every lookup clears: decide() anew
    assert simulate(trace, OurPolicy(), node(warm_ip_target=3)) == memoised
