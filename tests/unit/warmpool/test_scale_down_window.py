"""A shrink keeps room for the recent peak of demand (PoolSnapshot.recent_demand)."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.warmpool.node import ips
from tests.unit.warmpool.test_anchor_examples import M5_LARGE, M5_LARGE_PD
from warmpool import Block, Interface, PoolSnapshot, Targets, decide, demand

OLD = 3600.0


def three_interfaces(pods: int) -> PoolSnapshot:
    """m5.large with WARM_ENI_TARGET=1: the primary holds the pods, two interfaces idle."""
    return PoolSnapshot(
        (
            Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, pods)),
            Interface("eni-1", 1, blocks=ips("10.0.1", 9), age_seconds=OLD),
            Interface("eni-2", 2, blocks=ips("10.0.2", 9), age_seconds=OLD),
        ),
        M5_LARGE,
        Targets(),
    )


def test_without_a_window_the_idle_newest_interface_goes():
    decision = decide(three_interfaces(pods=3))
    assert decision.remove == ("eni-2",)


def test_an_interface_the_recent_peak_needed_stays():
    # 12 pods a few minutes ago: 18 addresses would have left 6 free, under one interface's
    # worth, so the third interface was needed then and is kept.
    decision = decide(replace(three_interfaces(pods=3), recent_demand=12))
    assert decision.is_noop
    assert any("recent peak 12 in use" in r for r in decision.reasons)


def test_a_peak_the_smaller_pool_covers_lets_it_go():
    # 9 in use at the peak: 18 addresses leave 9 free, one interface's worth.
    decision = decide(replace(three_interfaces(pods=3), recent_demand=9))
    assert decision.remove == ("eni-2",)


def test_warm_ip_target_gives_back_only_above_the_peak():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, 2))
    snapshot = PoolSnapshot((primary,), M5_LARGE, Targets(warm_ip_target=2))
    assert sum(len(r.cidrs) for r in decide(snapshot).release) == 5
    # 6 in use at the peak: 8 addresses were wanted then, so only 1 of the 7 free goes
    held = decide(replace(snapshot, recent_demand=6))
    assert sum(len(r.cidrs) for r in held.release) == 1


def test_warm_prefix_target_keeps_the_prefixes_the_peak_filled():
    blocks = (
        Block("10.0.0.0/28", 16, assigned=3),
        Block("10.0.0.16/28", 16),
        Block("10.0.0.32/28", 16),
        Block("10.0.0.48/28", 16),
    )
    primary = Interface("eni-0", 0, primary=True, blocks=blocks)
    snapshot = PoolSnapshot((primary,), M5_LARGE_PD, Targets(warm_block_target=1))
    assert sum(len(r.cidrs) for r in decide(snapshot).release) == 2
    # 30 in use at the peak: 48 addresses still leave a prefix's worth free, 32 would not
    held = decide(replace(snapshot, recent_demand=30))
    assert [r.cidrs for r in held.release] == [("10.0.0.48/28",)]
    assert decide(replace(snapshot, recent_demand=40)).is_noop


def test_the_window_never_makes_the_pool_grow():
    # growth follows the present only: a past peak holds addresses, it does not buy them
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, 0))
    snapshot = PoolSnapshot((primary,), M5_LARGE, Targets(warm_ip_target=2))
    decision = decide(replace(snapshot, recent_demand=25))
    assert not decision.grows


def test_demand_counts_assigned_cooling_and_pending():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, 3, 2))
    snapshot = PoolSnapshot((primary,), M5_LARGE, Targets(), pending_pods=4)
    assert demand(snapshot) == 9
