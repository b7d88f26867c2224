"""Datastore -> warmpool: the snapshot says what the datastore holds, and decide() accepts it."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

import warmpool
from ipamd.datastore import Datastore, PoolCounts
from providers.models import AddressBlock
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import POD, cloud_iface, key, new_store
from warmpool.counts import Counts, serving_counts

LIMITS = warmpool.Limits(max_interfaces=3, blocks_per_interface=4, block_size=16, max_pods=110)


def busy_node(clock: FakeClock) -> Datastore:
    """eni-0: a /28 with one pod and one cooling address, an empty /28, a left-over /32;
    eni-1 (100 s older): an empty /28."""
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"), created_at=clock() - 100)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.16/28", "10.0.1.99/32"))
    for n in range(3):
        store.assign(key(n), POD)
    store.release(key(0))
    clock.advance(40)  # key 0's cooldown is over
    store.release(key(1))
    clock.advance(10)
    return store


def test_snapshot_reports_each_block_with_assigned_and_cooling_by_the_clock(clock: FakeClock):
    store = busy_node(clock)
    targets = warmpool.Targets(warm_block_target=1)
    assert store.snapshot(LIMITS, targets) == warmpool.PoolSnapshot(
        (
            warmpool.Interface(
                "eni-0",
                0,
                primary=True,
                blocks=(
                    warmpool.Block("10.0.1.0/28", 16, assigned=1, cooling=1),
                    warmpool.Block("10.0.1.16/28", 16),
                    warmpool.Block("10.0.1.99/32", 1),
                ),
                age_seconds=50.0,
            ),
            warmpool.Interface(
                "eni-1",
                1,
                blocks=(warmpool.Block("10.0.2.0/28", 16),),
                age_seconds=150.0,
            ),
        ),
        LIMITS,
        targets,
    )


def test_snapshot_counts_agree_with_the_datastore_counts(clock: FakeClock):
    store = busy_node(clock)
    snapshot = store.snapshot(LIMITS, warmpool.Targets())
    counts = sum((serving_counts(i, LIMITS) for i in snapshot.interfaces), Counts())
    assert store.counts() == PoolCounts(total=48, assigned=1, cooling=1)
    assert (counts.total, counts.assigned, counts.cooling, counts.available) == (48, 1, 1, 46)


def test_snapshot_marks_interfaces_without_pods(clock: FakeClock):
    store = busy_node(clock)
    store.set_pods_allowed("eni-1", False)
    snapshot = store.snapshot(LIMITS, warmpool.Targets())
    assert not snapshot.interface("eni-1").pods_allowed
    assert store.counts().total == 32


def test_decide_accepts_the_snapshot_and_its_releases_are_accepted_back(clock: FakeClock):
    store = busy_node(clock)
    snapshot = store.snapshot(LIMITS, warmpool.Targets(warm_block_target=1))
    decision = warmpool.decide(snapshot)
    assert decision.reasons
    assert decision.release or decision.remove
    for release in decision.release:
        blocks = [AddressBlock(IPv4Network(c)) for c in release.cidrs]
        assert store.remove_blocks(release.interface_id, blocks) == []
    for interface_id in decision.remove:
        assert store.remove_interface(interface_id) == []
    assert store.counts().assigned == 1


def test_decide_asks_to_grow_an_empty_node(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0))
    decision = warmpool.decide(store.snapshot(LIMITS, warmpool.Targets(warm_block_target=1)))
    assert decision.grow == (warmpool.Grow("eni-0", 1),)


def test_snapshot_refuses_limits_for_another_block_size(clock: FakeClock):
    store = busy_node(clock)
    wrong = warmpool.Limits(max_interfaces=3, blocks_per_interface=4, block_size=1, max_pods=110)
    with pytest.raises(ValueError, match="block_size"):
        store.snapshot(wrong, warmpool.Targets())
