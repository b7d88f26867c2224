"""Datastore persistence: to_state/from_state round trips, and a bad state loads nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from ipaddress import IPv4Network
from typing import Any

import pytest

from ipamd.datastore import Datastore, InconsistentState, PoolCounts, PoolEmpty
from ipamd.model import Allocation, PodRef
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import COOLDOWN, POD, cloud_iface, ip, key, new_store


def populated(clock: FakeClock) -> Datastore:
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28", "10.0.1.99/32"), created_at=5.5)
    store.add_interface(cloud_iface("eni-1", 1, "10.0.2.0/28"), pods_allowed=False)
    store.restore_allocation(
        Allocation(
            key("recovered"),
            PodRef(),
            ip("10.0.1.99"),
            "eni-0",
            IPv4Network("10.0.1.99/32"),
            3.25,
            recovered=True,
        )
    )
    for n in range(4):
        store.assign(key(n), PodRef("ns", f"pod-{n}", f"uid-{n}"))
        clock.advance(0.125)
    store.release(key(1))
    clock.advance(COOLDOWN)  # key 1's address is free again
    store.release(key(2))
    clock.advance(1)
    return store


def reload(store: Datastore, clock: FakeClock) -> Datastore:
    state = json.loads(json.dumps(store.to_state()))
    return Datastore.from_state(state, cooldown=COOLDOWN, serving_prefixlen=28, clock=clock)


def test_round_trip_keeps_interfaces_blocks_allocations_and_cooldowns(clock: FakeClock):
    store = populated(clock)
    loaded = reload(store, clock)
    assert loaded.to_state() == store.to_state()
    assert loaded.allocations() == store.allocations()
    assert loaded.interfaces() == store.interfaces()
    cooling = store.allocations()[0].address + 2  # key 2's address
    assert loaded.is_cooling(cooling)
    clock.advance(COOLDOWN - 1)
    assert not loaded.is_cooling(cooling)


def test_state_has_the_documented_shape(clock: FakeClock):
    state = populated(clock).to_state()
    assert state["interfaces"][0] == {
        "id": "eni-0",
        "device_index": 0,
        "primary": True,
        "primary_ip": "10.0.0.10",
        "pods_allowed": True,
        "created_at": 5.5,
        "blocks": ["10.0.1.0/28", "10.0.1.99/32"],
    }
    assert state["interfaces"][1]["pods_allowed"] is False
    assert state["allocations"][0] == {
        "key": {"network": "pod-net", "container_id": "container-0", "ifname": "eth0"},
        "pod": {"namespace": "ns", "name": "pod-0", "uid": "uid-0"},
        "address": "10.0.1.0",
        "interface_id": "eni-0",
        "block": "10.0.1.0/28",
        "assigned_at": 1000.0,
        "recovered": False,
    }
    assert state["allocations"][-1]["recovered"] is True
    # key 1's cooldown ended before the save, so only key 2's address is written
    assert state["cooling"] == [{"address": "10.0.1.2", "released_at": 1030.5}]


def test_a_fresh_datastore_round_trips_empty(clock: FakeClock):
    loaded = reload(new_store(clock), clock)
    assert loaded.to_state() == {"interfaces": [], "allocations": [], "cooling": []}


def test_a_loaded_datastore_serves_with_the_new_mode(clock: FakeClock):
    store = populated(clock)
    state = store.to_state()
    loaded = Datastore.from_state(state, cooldown=COOLDOWN, serving_prefixlen=32, clock=clock)
    assert loaded.allocations() == store.allocations()
    # now only eni-0's /32 serves, and a recovered pod holds it; the /28 pods stay put
    assert loaded.counts() == PoolCounts(total=1, assigned=1, cooling=0)
    with pytest.raises(PoolEmpty):
        loaded.assign(key("new"), POD)


Mutation = Callable[[dict[str, Any]], object]

INCONSISTENT: dict[str, Mutation] = {
    "address in two allocations": lambda s: s["allocations"][1].update(
        address=s["allocations"][0]["address"]
    ),
    "key in two allocations": lambda s: s["allocations"][1].update(key=s["allocations"][0]["key"]),
    "allocation outside any block": lambda s: s["allocations"][0].update(address="10.9.9.9"),
    "allocation on the wrong interface": lambda s: s["allocations"][0].update(interface_id="eni-1"),
    "allocation naming the wrong block": lambda s: s["allocations"][0].update(block="10.0.1.0/29"),
    "cooling address also assigned": lambda s: s["cooling"].append(
        {"address": s["allocations"][0]["address"], "released_at": 1.0}
    ),
    "cooling address outside any block": lambda s: s["cooling"].append(
        {"address": "10.9.9.9", "released_at": 1.0}
    ),
    "cooling address twice": lambda s: s["cooling"].append(dict(s["cooling"][0])),
    "block on two interfaces": lambda s: s["interfaces"][1]["blocks"].append("10.0.1.0/28"),
    "overlapping blocks": lambda s: s["interfaces"][1]["blocks"].append("10.0.1.8/29"),
    "block holding a primary address": lambda s: s["interfaces"][1]["blocks"].append("10.0.0.0/28"),
    "interface twice": lambda s: s["interfaces"].append(copy.deepcopy(s["interfaces"][1])),
}

MALFORMED: dict[str, Mutation] = {
    "not an object": lambda s: s.update(interfaces={}),
    "missing allocations": lambda s: s.pop("allocations"),
    "missing key field": lambda s: s["allocations"][0]["key"].pop("ifname"),
    "device index a bool": lambda s: s["interfaces"][0].update(device_index=True),
    "device index a string": lambda s: s["interfaces"][0].update(device_index="0"),
    "bad address": lambda s: s["allocations"][0].update(address="10.0.1.300"),
    "block with host bits": lambda s: s["interfaces"][0]["blocks"].append("10.0.5.1/28"),
    "block not a string": lambda s: s["interfaces"][0]["blocks"].append(28),
    "time not a number": lambda s: s["cooling"][0].update(released_at="soon"),
    "time a bool": lambda s: s["allocations"][0].update(assigned_at=True),
    "pod not an object": lambda s: s["allocations"][0].update(pod="ns/name"),
}


@pytest.mark.parametrize("mutate", INCONSISTENT.values(), ids=INCONSISTENT.keys())
def test_an_inconsistent_state_is_refused_whole(clock: FakeClock, mutate: Mutation):
    state = populated(clock).to_state()
    mutate(state)
    with pytest.raises(InconsistentState, match="inconsistent state"):
        Datastore.from_state(state, cooldown=COOLDOWN, serving_prefixlen=28, clock=clock)


@pytest.mark.parametrize("mutate", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_state_is_refused_with_the_field_named(clock: FakeClock, mutate: Mutation):
    state = populated(clock).to_state()
    mutate(state)
    with pytest.raises(InconsistentState, match=r"malformed state: \w+"):
        Datastore.from_state(state, cooldown=COOLDOWN, serving_prefixlen=28, clock=clock)


def test_to_state_is_a_copy_the_caller_may_change(clock: FakeClock):
    store = populated(clock)
    state = store.to_state()
    before = copy.deepcopy(state)
    state["interfaces"].clear()
    state["allocations"][0]["address"] = "1.2.3.4"
    assert store.to_state() == before


def test_assigned_at_and_pod_refs_survive_the_round_trip(clock: FakeClock):
    store = populated(clock)
    loaded = reload(store, clock)
    assert loaded.allocation(key(0)) == Allocation(
        key(0),
        PodRef("ns", "pod-0", "uid-0"),
        ip("10.0.1.0"),
        "eni-0",
        IPv4Network("10.0.1.0/28"),
        1000.0,
    )
    assert loaded.assign(key(3), POD).pod == PodRef("ns", "pod-3", "uid-3")
