"""Datastore, cloud side: interfaces and blocks come and go, never from under a pod."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from ipamd.datastore import (
    BlockView,
    Conflict,
    InterfaceView,
    InUse,
    PoolEmpty,
    UnknownInterface,
)
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import COOLDOWN, POD, block_list, cloud_iface, ip, key, new_store


def test_add_blocks_is_idempotent(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    store.add_blocks("eni-0", block_list("10.0.1.0/28", "10.0.1.16/28", "10.0.1.16/28"))
    store.add_blocks("eni-0", block_list("10.0.1.16/28"))
    assert [b.cidr for b in store.interfaces()[0].blocks] == [
        IPv4Network("10.0.1.0/28"),
        IPv4Network("10.0.1.16/28"),
    ]
    assert store.counts().total == 32


def test_adding_a_known_interface_again_adds_its_new_blocks_and_keeps_the_rest(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"), pods_allowed=False)
    clock.advance(100)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28", "10.0.2.16/28"))
    (view,) = store.interfaces()
    assert view.created_at == 1000.0
    assert not view.pods_allowed
    assert len(view.blocks) == 2
    with pytest.raises(Conflict):
        store.add_interface(cloud_iface("eni-1", 2))


def test_overlapping_blocks_are_refused_and_nothing_of_the_call_is_added(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    store.assign(key(1), POD)  # in use: the cloud contradicting it is refused, not obeyed
    store.add_interface(cloud_iface("eni-1", 1))
    for blocks in (
        block_list("10.0.3.0/28", "10.0.1.0/28"),  # the same block on another interface
        block_list("10.0.3.0/28", "10.0.1.5/32"),  # inside a held block
        block_list("10.0.3.0/28", "10.0.1.0/24"),  # around a held block
        block_list("10.0.3.0/28", "10.0.3.8/32"),  # overlapping each other
    ):
        with pytest.raises(Conflict):
            store.add_blocks("eni-1", blocks)
    assert store.interfaces()[1].blocks == ()
    with pytest.raises(Conflict):
        store.add_interface(cloud_iface("eni-2", 2, "10.0.4.0/28", "10.0.1.0/28"))
    assert [i.id for i in store.interfaces()] == ["eni-0", "eni-1"]


def test_a_block_holding_an_interfaces_primary_address_is_refused(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, primary_ip="10.0.1.4"))
    with pytest.raises(Conflict, match="primary address"):
        store.add_blocks("eni-0", block_list("10.0.1.0/28"))
    with pytest.raises(Conflict, match="primary address"):
        store.add_interface(cloud_iface("eni-1", 1, "10.0.1.0/28"))
    with pytest.raises(Conflict, match="primary address"):
        store.add_interface(cloud_iface("eni-2", 2, "10.0.3.0/28", primary_ip="10.0.3.1"))
    store.add_blocks("eni-0", block_list("10.0.2.0/28"))
    with pytest.raises(Conflict, match="primary address"):
        store.add_interface(cloud_iface("eni-3", 3, primary_ip="10.0.2.3"))


def test_unknown_interfaces_are_refused_for_adding_blocks_and_toggling_pods(clock: FakeClock):
    store = new_store(clock)
    with pytest.raises(UnknownInterface):
        store.add_blocks("eni-9", block_list("10.0.1.0/28"))
    with pytest.raises(UnknownInterface):
        store.set_pods_allowed("eni-9", False)


def test_remove_blocks_refuses_a_block_with_a_pod_and_changes_nothing(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.16/28"))
    allocation = store.assign(key(1), POD)
    before = store.interfaces()
    with pytest.raises(InUse) as caught:
        store.remove_blocks("eni-0", block_list("10.0.1.16/28", "10.0.1.0/28"))
    assert caught.value.allocations == (allocation,)
    assert store.interfaces() == before
    assert store.allocation(key(1)) == allocation


def test_remove_blocks_refuses_a_cooling_block_until_its_cooldown_ends(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    address = store.assign(key(1), POD).address
    store.release(key(1))
    with pytest.raises(InUse, match="1 cooling") as caught:
        store.remove_blocks("eni-0", block_list("10.0.1.0/28"))
    assert caught.value.cooling == (address,)
    clock.advance(COOLDOWN)
    assert store.remove_blocks("eni-0", block_list("10.0.1.0/28")) == []
    assert store.interfaces()[0].blocks == ()
    assert store.block_of(address) is None


def test_forced_remove_blocks_drops_them_and_returns_the_lost_allocations(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.16/28"))
    lost = [store.assign(key(n), POD) for n in range(3)]
    store.release(key(0))
    lost = lost[1:]
    gone = store.remove_blocks("eni-0", block_list("10.0.1.0/28"), force=True)
    assert gone == lost
    assert store.allocations() == []
    assert store.allocation_for(lost[0].address) is None
    assert not store.is_cooling(ip("10.0.1.0"))
    assert store.assign(key(1), POD).block == IPv4Network("10.0.1.16/28")


def test_remove_blocks_skips_blocks_not_held_and_refuses_another_interfaces(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"))
    assert store.remove_blocks("eni-0", block_list("10.0.9.0/28")) == []
    assert store.remove_blocks("eni-7", block_list("10.0.1.0/28")) == []
    with pytest.raises(Conflict):
        store.remove_blocks("eni-0", block_list("10.0.2.0/28"))
    assert store.counts().total == 32


def test_remove_interface_refuses_one_in_use_unless_forced(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"), pods_allowed=False)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28", "10.0.2.16/28"))
    allocation = store.assign(key(1), POD)
    with pytest.raises(InUse):
        store.remove_interface("eni-1")
    assert [i.id for i in store.interfaces()] == ["eni-0", "eni-1"]
    assert store.remove_interface("eni-1", force=True) == [allocation]
    assert [i.id for i in store.interfaces()] == ["eni-0"]
    assert store.allocation(key(1)) is None
    assert store.remove_interface("eni-1") == []
    with pytest.raises(PoolEmpty):
        store.assign(key(1), POD)


def test_an_empty_interface_is_removed_without_force(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"))
    assert store.remove_interface("eni-1") == []
    assert store.interfaces() == ()
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"))  # the cloud may give it back
    assert store.counts().total == 16


def test_interfaces_view_shows_each_block_with_its_counts(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.16/28", "10.0.2.0/28"), created_at=7.0)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.5/32"))
    for n in range(3):
        store.assign(key(n), POD)
    store.release(key(0))
    assert store.interfaces() == (
        InterfaceView(
            id="eni-0",
            device_index=0,
            primary=True,
            primary_ip=ip("10.0.0.10"),
            pods_allowed=True,
            created_at=1000.0,
            blocks=(BlockView(IPv4Network("10.0.1.5/32"), 1, 0, 0, serving=False),),
        ),
        InterfaceView(
            id="eni-1",
            device_index=1,
            primary=False,
            primary_ip=ip("10.0.0.11"),
            pods_allowed=True,
            created_at=7.0,
            blocks=(
                BlockView(IPv4Network("10.0.2.0/28"), 16, 2, 1, serving=True),
                BlockView(IPv4Network("10.0.2.16/28"), 16, 0, 0, serving=True),
            ),
        ),
    )


def test_a_block_the_cloud_moved_leaves_its_stale_unused_copy(clock: FakeClock):
    # a release EC2 finished after the daemon died: the checkpoint still has the address on
    # the old interface when EC2 hands it to a new one
    store = new_store(clock, prefixlen=32)
    store.add_interface(cloud_iface("eni-a", 1, "10.0.1.12/32", "10.0.1.13/32"))
    store.add_interface(cloud_iface("eni-b", 2, "10.0.1.12/32"))
    held = {i.id: [str(b.cidr) for b in i.blocks] for i in store.interfaces()}
    assert held == {"eni-a": ["10.0.1.13/32"], "eni-b": ["10.0.1.12/32"]}
    store.add_blocks("eni-a", block_list("10.0.1.12/32"))  # and back, by add_blocks
    held = {i.id: [str(b.cidr) for b in i.blocks] for i in store.interfaces()}
    assert held == {"eni-a": ["10.0.1.12/32", "10.0.1.13/32"], "eni-b": []}


def test_a_cooling_copy_is_stale_too(clock: FakeClock):
    # the pod that had it was deleted while the daemon was down: released into cooldown on
    # an interface that no longer has the address
    store = new_store(clock, prefixlen=32)
    store.add_interface(cloud_iface("eni-a", 1, "10.0.1.12/32"))
    store.assign(key(1), POD)
    store.release(key(1))
    store.add_interface(cloud_iface("eni-b", 2, "10.0.1.12/32"))
    held = {i.id: [str(b.cidr) for b in i.blocks] for i in store.interfaces()}
    assert held == {"eni-a": [], "eni-b": ["10.0.1.12/32"]}


def test_a_block_a_pod_holds_is_not_moved_by_a_contradicting_cloud(clock: FakeClock):
    store = new_store(clock, prefixlen=32)
    store.add_interface(cloud_iface("eni-a", 1, "10.0.1.12/32"))
    allocation = store.assign(key(1), POD)
    store.add_interface(cloud_iface("eni-b", 2))
    with pytest.raises(Conflict, match="overlaps"):
        store.add_blocks("eni-b", block_list("10.0.1.12/32"))
    with pytest.raises(Conflict, match="overlaps"):
        store.add_interface(cloud_iface("eni-c", 3, "10.0.1.12/32"))
    assert store.allocation(key(1)) == allocation
    assert [i.id for i in store.interfaces()] == ["eni-a", "eni-b"]
