"""Datastore under any interleaving: one address never has two owners, and none is lost.

A hypothesis state machine drives assign/release/release_address/restore, the clock, block
removal (refused and forced) and restarts through to_state/from_state, against a small
model: which key holds which address, and when each address was last released.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import warmpool
from ipamd.datastore import Datastore, InUse, PoolEmpty
from ipamd.model import Allocation, AllocationKey
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import COOLDOWN, POD, block_list, cloud_iface, key

PREFIXLEN = 30  # four addresses a block: pools run dry often
LEFTOVER = IPv4Network("10.0.2.9/32")  # a block of another mode: only restores land there
REMOVABLE = IPv4Network("10.0.2.0/30")
LIMITS = warmpool.Limits(max_interfaces=3, blocks_per_interface=4, block_size=4, max_pods=20)

keys = st.integers(0, 12).map(key)
steps = st.sampled_from([0.5, 1.0, 10.0, COOLDOWN - 0.5, COOLDOWN, 2 * COOLDOWN])


class DatastoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.store = Datastore(cooldown=COOLDOWN, serving_prefixlen=PREFIXLEN, clock=self.clock)
        self.store.add_interface(cloud_iface("eni-1", 1, str(REMOVABLE), str(LEFTOVER)))
        self.store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/30", "10.0.1.4/30"))
        self.live: dict[AllocationKey, IPv4Address] = {}
        self.released_at: dict[IPv4Address, float] = {}

    def cooling_in_model(self, address: IPv4Address) -> bool:
        released = self.released_at.get(address)
        return (
            address not in self.live.values()
            and released is not None
            and self.clock() < released + COOLDOWN
        )

    def serving_addresses(self) -> list[IPv4Address]:
        return [
            address
            for iface in self.store.interfaces()
            for block in iface.blocks
            if block.serving
            for address in block.cidr
        ]

    @rule(k=keys)
    def assign(self, k: AllocationKey) -> None:
        try:
            allocation = self.store.assign(k, POD)
        except PoolEmpty:
            assert k not in self.live
            for address in self.serving_addresses():
                assert address in self.live.values() or self.cooling_in_model(address)
            return
        if k in self.live:
            assert allocation.address == self.live[k]
            return
        assert allocation.address not in self.live.values()
        assert not self.cooling_in_model(allocation.address)
        self.live[k] = allocation.address

    @rule(k=keys)
    def release(self, k: AllocationKey) -> None:
        allocation = self.store.release(k)
        if k not in self.live:
            assert allocation is None
            return
        assert allocation is not None
        assert allocation.address == self.live.pop(k)
        self.released_at[allocation.address] = self.clock()

    @rule(k=keys)
    def release_by_address(self, k: AllocationKey) -> None:
        address = self.live.get(k, IPv4Address("10.0.1.3"))
        allocation = self.store.release_address(address)
        holder = next((held for held, a in self.live.items() if a == address), None)
        if holder is None:
            assert allocation is None
            return
        assert allocation is not None
        assert allocation.key == holder
        del self.live[holder]
        self.released_at[address] = self.clock()

    @rule(k=keys)
    def restore_on_the_leftover_block(self, k: AllocationKey) -> None:
        address = LEFTOVER.network_address
        if k in self.live or address in self.live.values():
            return
        allocation = Allocation(k, POD, address, "eni-1", LEFTOVER, self.clock(), recovered=True)
        self.store.restore_allocation(allocation)
        self.live[k] = address

    @rule(seconds=steps)
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def restart(self) -> None:
        state = json.loads(json.dumps(self.store.to_state()))
        self.store = Datastore.from_state(
            state, cooldown=COOLDOWN, serving_prefixlen=PREFIXLEN, clock=self.clock
        )

    @rule()
    def give_a_block_back_and_get_it_again(self) -> None:
        in_use = any(
            a in REMOVABLE and (a in self.live.values() or self.cooling_in_model(a))
            for a in REMOVABLE
        )
        try:
            self.store.remove_blocks("eni-1", block_list(str(REMOVABLE)))
        except InUse:
            assert in_use
            return
        assert not in_use
        self.store.add_blocks("eni-1", block_list(str(REMOVABLE)))

    @rule()
    def the_cloud_takes_a_block(self) -> None:
        lost = self.store.remove_blocks("eni-1", block_list(str(REMOVABLE)), force=True)
        expected = {k for k, a in self.live.items() if a in REMOVABLE}
        assert {a.key for a in lost} == expected
        for k in expected:
            del self.live[k]
        for address in REMOVABLE:
            self.released_at.pop(address, None)
        self.store.add_blocks("eni-1", block_list(str(REMOVABLE)))

    @invariant()
    def every_address_is_free_or_held_by_one_key_or_cooling(self) -> None:
        allocations = self.store.allocations()
        assert {a.key: a.address for a in allocations} == self.live
        assert len({a.address for a in allocations}) == len(allocations)
        for iface in self.store.interfaces():
            for block in iface.blocks:
                for address in block.cidr:
                    owner = self.store.allocation_for(address)
                    cooling = self.store.is_cooling(address)
                    assert not (owner and cooling)
                    assert cooling == self.cooling_in_model(address)
                    if owner is not None:
                        assert self.live[owner.key] == address
                        assert self.store.allocation(owner.key) == owner

    @invariant()
    def counts_and_snapshot_agree(self) -> None:
        counts = self.store.counts()
        serving = self.serving_addresses()
        assert counts.total == len(serving)
        assert counts.assigned == sum(1 for a in serving if a in self.live.values())
        assert counts.cooling == sum(1 for a in serving if self.cooling_in_model(a))
        snapshot = self.store.snapshot(LIMITS, warmpool.Targets(warm_ip_target=2))
        blocks = [b for i in snapshot.interfaces for b in i.blocks if b.size == 4]
        assert sum(b.assigned for b in blocks) == counts.assigned
        assert sum(b.cooling for b in blocks) == counts.cooling
        warmpool.decide(snapshot)


TestDatastoreMachine = DatastoreMachine.TestCase
TestDatastoreMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
