"""Datastore, pod side: assign, release, cooldown, packing, serving blocks, recovery."""

from __future__ import annotations

import threading
from ipaddress import IPv4Network

import pytest

from ipamd.datastore import Conflict, PoolEmpty
from ipamd.model import Allocation, PodRef
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import COOLDOWN, POD, cloud_iface, ip, key, new_store


def test_assign_is_idempotent_on_the_key_and_keeps_the_first_pod_ref(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    first = store.assign(key(1), POD)
    clock.advance(5)
    again = store.assign(key(1), PodRef("other", "name", "uid-x"))
    assert again == first
    assert again.pod == POD
    assert store.counts().assigned == 1


def test_distinct_keys_get_distinct_addresses(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.16/28"))
    addresses = {store.assign(key(n), POD).address for n in range(32)}
    assert len(addresses) == 32
    with pytest.raises(PoolEmpty):
        store.assign(key(99), POD)


def test_allocation_records_interface_block_and_time(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    allocation = store.assign(key(1), POD)
    assert allocation == Allocation(
        key(1), POD, ip("10.0.1.0"), "eni-0", IPv4Network("10.0.1.0/28"), clock()
    )
    assert store.allocation(key(1)) == allocation
    assert store.allocation_for(ip("10.0.1.0")) == allocation
    assert store.block_of(ip("10.0.1.9")) == ("eni-0", IPv4Network("10.0.1.0/28"))
    assert store.block_of(ip("10.0.9.9")) is None


def test_released_address_is_not_reused_before_the_cooldown_and_is_after(clock: FakeClock):
    store = new_store(clock, prefixlen=32)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.5/32"))
    address = store.assign(key(1), POD).address
    store.release(key(1))
    assert store.is_cooling(address)
    with pytest.raises(PoolEmpty):
        store.assign(key(2), POD)
    clock.advance(COOLDOWN - 0.1)
    with pytest.raises(PoolEmpty):
        store.assign(key(2), POD)
    clock.advance(0.1)
    assert not store.is_cooling(address)
    assert store.assign(key(2), POD).address == address


def test_a_key_released_and_added_again_gets_a_fresh_address_not_its_cooling_one(
    clock: FakeClock,
):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    first = store.assign(key(1), POD).address
    store.release(key(1))
    assert store.assign(key(1), POD).address != first


def test_release_of_an_unknown_key_returns_none_and_changes_nothing(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    store.assign(key(1), POD)
    assert store.release(key(2)) is None
    released = store.release(key(1))
    assert released is not None
    assert store.release(key(1)) is None
    assert store.counts().cooling == 1


def test_release_address_frees_whichever_key_holds_it(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    allocation = store.assign(key(1), POD)
    assert store.release_address(ip("10.0.1.7")) is None
    assert store.release_address(ip("192.168.1.1")) is None
    assert store.release_address(allocation.address) == allocation
    assert store.allocation(key(1)) is None
    assert store.is_cooling(allocation.address)
    assert store.release_address(allocation.address) is None


def test_pods_pack_onto_the_primary_interface_first(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"))
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    placed = [store.assign(key(n), POD).interface_id for n in range(17)]
    assert placed == ["eni-0"] * 16 + ["eni-1"]


def test_pods_go_to_the_lowest_device_index_that_allows_pods(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"), pods_allowed=False)
    store.add_interface(cloud_iface("eni-2", 2, "10.0.3.0/28"))
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"))
    assert store.assign(key(1), POD).interface_id == "eni-1"
    store.set_pods_allowed("eni-1", False)
    assert store.assign(key(2), POD).interface_id == "eni-2"


def test_a_partly_used_prefix_fills_before_an_empty_one(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.16/28"))
    store.restore_allocation(
        Allocation(key("old"), POD, ip("10.0.1.20"), "eni-0", IPv4Network("10.0.1.16/28"), 1.0)
    )
    assert store.assign(key(1), POD).address == ip("10.0.1.16")
    assert store.assign(key(2), POD).address == ip("10.0.1.17")


def test_cooling_addresses_count_as_used_when_choosing_a_prefix(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.16/28"))
    store.restore_allocation(
        Allocation(key("old"), POD, ip("10.0.1.16"), "eni-0", IPv4Network("10.0.1.16/28"), 1.0)
    )
    store.release(key("old"))  # the second prefix now holds one cooling address, no pod
    assert store.assign(key(1), POD).address == ip("10.0.1.17")


def test_the_lowest_free_address_of_the_block_is_taken(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    for n in range(4):
        store.assign(key(n), POD)
    store.release(key(1))
    assert store.assign(key(10), POD).address == ip("10.0.1.4")
    clock.advance(COOLDOWN)
    assert store.assign(key(11), POD).address == ip("10.0.1.1")


def test_secondary_ip_blocks_are_taken_lowest_first(clock: FakeClock):
    store = new_store(clock, prefixlen=32)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.9/32", "10.0.1.3/32", "10.0.1.7/32"))
    assert [store.assign(key(n), POD).address for n in range(3)] == [
        ip("10.0.1.3"),
        ip("10.0.1.7"),
        ip("10.0.1.9"),
    ]


def test_blocks_of_another_size_keep_their_pods_but_get_no_new_ones(clock: FakeClock):
    store = new_store(clock, prefixlen=28)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.5/32", "10.0.1.6/32", "10.0.2.0/28"))
    leftover = Allocation(key("old"), POD, ip("10.0.1.5"), "eni-0", IPv4Network("10.0.1.5/32"), 1)
    store.restore_allocation(leftover)
    new = [store.assign(key(n), POD) for n in range(16)]
    assert all(a.block == IPv4Network("10.0.2.0/28") for a in new)
    with pytest.raises(PoolEmpty):
        store.assign(key(99), POD)
    assert store.allocation(key("old")) == leftover
    assert store.counts().total == 16
    assert store.release(key("old")) == leftover


def test_pool_empty_says_how_many_addresses_are_assigned_cooling_and_total(clock: FakeClock):
    store = new_store(clock)
    with pytest.raises(PoolEmpty, match=r"0 assigned, 0 cooling down, 0 in all"):
        store.assign(key(0), POD)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    for n in range(16):
        store.assign(key(n), POD)
    store.release(key(3))
    store.release(key(4))
    with pytest.raises(PoolEmpty, match=r"14 assigned, 2 cooling down, 16 in all") as caught:
        store.assign(key(99), POD)
    assert caught.value.counts.available == 0


def test_restore_allocation_puts_it_back_exactly_and_ends_its_cooldown(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    allocation = store.assign(key(1), POD)
    store.release(key(1))
    restored = Allocation(
        key(1), PodRef("ns", "p", "u"), allocation.address, "eni-0", allocation.block, 5.0, True
    )
    store.restore_allocation(restored)
    store.restore_allocation(restored)  # idempotent
    assert store.allocation(key(1)) == restored
    assert not store.is_cooling(allocation.address)
    assert store.counts().assigned == 1


def test_restore_allocation_refuses_what_would_give_an_address_two_owners(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"))
    held = store.assign(key(1), POD)
    block = IPv4Network("10.0.1.0/28")
    refused = [
        Allocation(key(2), POD, held.address, "eni-0", block, 1.0),  # held by another key
        Allocation(key(1), POD, ip("10.0.1.9"), "eni-0", block, 1.0),  # key holds another
        Allocation(key(3), POD, ip("10.0.9.1"), "eni-0", block, 1.0),  # in no block
        Allocation(key(4), POD, ip("10.0.1.9"), "eni-1", block, 1.0),  # wrong interface
        Allocation(key(5), POD, ip("10.0.1.9"), "eni-0", IPv4Network("10.0.1.8/29"), 1.0),
    ]
    for allocation in refused:
        with pytest.raises(Conflict):
            store.restore_allocation(allocation)
    assert store.allocations() == [held]


def test_allocations_are_listed_by_address(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    for n in range(5):
        store.assign(key(n), POD)
    store.release(key(0))
    store.release(key(2))
    store.assign(key(9), POD)
    assert [str(a.address) for a in store.allocations()] == [
        "10.0.1.1",
        "10.0.1.3",
        "10.0.1.4",
        "10.0.1.5",
    ]


def test_concurrent_assigns_never_share_an_address(clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, *(f"10.0.1.{16 * n}/28" for n in range(16))))
    results: list[list[str]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(30):
            results[n].append(str(store.assign(key(f"{n}-{i}"), POD).address))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [a for chunk in results for a in chunk]
    assert len(everything) == 240
    assert len(set(everything)) == 240
