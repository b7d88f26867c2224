"""The pool loop on the real datastore and the in-memory provider, on one fake clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from ipaddress import IPv4Network

import pytest

from config import load_settings
from ipamd.checkpoint import MemoryCheckpoint
from ipamd.datastore import Datastore
from ipamd.model import AllocationKey, PodRef
from ipamd.poolloop import LoopTiming, PoolLoop
from ipamd.pooltargets import pool_limits, pool_targets
from ipamd.reconcile import apply, plan
from providers.errors import CapacityExhausted
from providers.fake import FakeNode, FakeProvider
from providers.models import AddressBlock
from sandbox.clock import FakeClock

POD = PodRef("default", "web", "uid")
TIMING = LoopTiming(
    pool_interval=1, shrink_interval=30, reconcile_interval=60, capacity_backoff=120
)


@dataclass
class Node:
    clock: FakeClock
    provider: FakeProvider
    store: Datastore
    loop: PoolLoop
    checkpoint: MemoryCheckpoint

    def add_pods(self, count: int, start: int = 0) -> None:
        for n in range(start, start + count):
            self.store.assign(AllocationKey("net", f"c{n}", "eth0"), POD)

    def delete_pods(self, count: int, start: int = 0) -> None:
        for n in range(start, start + count):
            self.store.release(AllocationKey("net", f"c{n}", "eth0"))

    def cloud_blocks(self) -> int:
        return sum(len(i.blocks) for i in self.provider.cloud_interfaces())


def make_node(
    env: dict[str, str] | None = None,
    subnet: str = "10.0.1.0/24",
    cooldown: float = 30,
    timing: LoopTiming = TIMING,
    adaptive: bool = False,
) -> Node:
    settings = load_settings({"VPC_IPAM_DATAPLANE": "none", **(env or {})})
    clock = FakeClock(1_700_000_000.0)
    provider = FakeProvider(FakeNode(subnet_cidr=IPv4Network(subnet)), clock=clock)
    store = Datastore(cooldown=cooldown, serving_prefixlen=provider.block_prefixlen, clock=clock)
    for iface in provider.cloud_interfaces():
        store.add_interface(iface, created_at=clock() - 3600)
    checkpoint = MemoryCheckpoint()
    node = provider.discover()
    loop = PoolLoop(
        store,
        provider,
        lambda: checkpoint.save(store.to_state()),
        pool_limits(node.limits, settings, provider.block_prefixlen),
        pool_targets(settings),
        timing=timing,
        adaptive=adaptive,
        reconcile=lambda: apply(
            store, plan(store.interfaces(), provider.cloud_interfaces()), lambda i: True
        ),
        clock=clock,
    )
    return Node(clock, provider, store, loop, checkpoint)


def test_first_tick_fills_the_primary_interface_to_warm_eni_target():
    node = make_node()
    node.loop.tick()
    assert node.store.counts().total == 9
    assert node.cloud_blocks() == 9
    assert node.checkpoint.saves >= 1


def test_pods_draining_the_pool_grow_a_second_interface():
    node = make_node()
    node.loop.tick()
    node.add_pods(3)
    node.loop.tick()
    interfaces = node.provider.cloud_interfaces()
    assert [len(i.blocks) for i in interfaces] == [9, 9]
    assert {i.id for i in node.store.interfaces()} == {i.id for i in interfaces}


def test_interface_is_removed_after_its_pods_leave_and_it_ages():
    node = make_node()
    node.loop.tick()
    node.add_pods(3)
    node.loop.tick()
    node.delete_pods(3)
    node.clock.advance(31)  # cooldown over, shrink interval passed, but the interface is young
    node.loop.tick()
    assert len(node.provider.cloud_interfaces()) == 2
    node.clock.advance(60)
    node.loop.tick()
    assert len(node.provider.cloud_interfaces()) == 1
    assert len(node.store.interfaces()) == 1
    assert node.store.counts().total == 9


def test_scale_down_window_keeps_an_interface_the_recent_peak_needed():
    window = replace(TIMING, scale_down_window=600)
    node = make_node(timing=window)
    node.loop.tick()
    node.add_pods(3)
    node.loop.tick()  # 3 in use: a second interface keeps 9 free
    node.delete_pods(3)
    node.clock.advance(120)  # cooled, aged, past the shrink interval: only the window holds
    decision = node.loop.tick()
    assert len(node.provider.cloud_interfaces()) == 2
    assert any("recent peak 3 in use" in r for r in decision.reasons)
    node.clock.advance(481)  # the peak is older than the window
    node.loop.tick()
    assert len(node.provider.cloud_interfaces()) == 1


def test_warm_ip_target_shrinks_at_most_once_per_shrink_interval():
    node = make_node({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "2"}, cooldown=5)
    node.loop.tick()
    assert node.store.counts().total == 2
    node.add_pods(2)
    node.loop.tick()  # grows at once: growth is never throttled
    assert node.store.counts().total == 4
    node.delete_pods(2)
    node.clock.advance(6)
    node.loop.tick()  # 4 free, 2 wanted: shrinks
    assert node.store.counts().total == 2
    node.add_pods(2, start=10)
    node.loop.tick()
    node.delete_pods(2, start=10)
    node.clock.advance(6)
    node.loop.tick()  # over target again, but the last shrink was 6 s ago
    assert node.store.counts().total == 4
    node.clock.advance(25)
    node.loop.tick()
    assert node.store.counts().total == 2
    assert node.cloud_blocks() == 2


def test_capacity_error_pauses_growth_and_says_why():
    node = make_node()
    node.provider.fail(
        "grow", CapacityExhausted("subnet full", code="InsufficientFreeAddressesInSubnet")
    )
    node.loop.tick()
    assert node.store.counts().total == 0
    assert node.loop.blocked and "InsufficientFreeAddressesInSubnet" in node.loop.blocked
    node.loop.tick()  # still paused: the provider is not asked again
    assert [c for c, _ in node.provider.calls].count("grow") == 1
    node.clock.advance(121)
    node.loop.tick()
    assert node.store.counts().total == 9
    assert node.loop.blocked is None


def test_reconcile_adopts_blocks_assigned_behind_our_back_and_drops_vanished_ones():
    node = make_node({"WARM_IP_TARGET": "3"})
    node.loop.tick()
    primary = node.provider.discover().primary_interface_id
    extra = node.provider.grow(primary, 1)  # someone else assigned one more
    held = node.store.interfaces()[0].blocks
    gone = AddressBlock(held[0].cidr)
    node.add_pods(1)  # the pod gets the lowest address: the one about to vanish
    node.provider.release(primary, [gone])
    counted: list[dict[str, int]] = []
    lost = apply(
        node.store,
        plan(node.store.interfaces(), node.provider.cloud_interfaces()),
        lambda i: True,
        fixed=lambda fixes: counted.append(dict(fixes)),
    )
    assert [a.address for a in lost] == [gone.cidr.network_address]
    assert counted == [
        {
            "adopted_interfaces": 0,
            "adopted_blocks": 1,
            "vanished_blocks": 1,
            "vanished_interfaces": 0,
            "pods_allowed_changed": 0,
            "lost_allocations": 1,
        }
    ]
    blocks = {AddressBlock(b.cidr) for b in node.store.interfaces()[0].blocks}
    assert set(extra) <= blocks and gone not in blocks


def test_waiters_are_woken_when_the_pool_grows():
    node = make_node()
    assert not node.loop.wait_for_growth(0.01)
    before = node.loop.growth
    grown: list[bool] = []
    waiter = threading.Thread(
        target=lambda: grown.append(node.loop.wait_for_growth(5, after=before))
    )
    waiter.start()
    node.loop.tick()
    waiter.join(5)
    assert grown == [True]


def test_a_growth_before_the_wait_begins_is_not_missed():
    node = make_node()
    before = node.loop.growth
    node.loop.tick()  # grows before anyone waits
    assert node.loop.wait_for_growth(0.0, after=before)


@pytest.mark.parametrize("count", [1, 20])
def test_max_pods_caps_growth_and_is_reported(count: int):
    node = make_node({"WARM_IP_TARGET": "30"})
    node.loop.limits = node.loop.limits.__class__(
        max_interfaces=3, blocks_per_interface=9, block_size=1, max_pods=count
    )
    node.loop.tick()
    assert node.store.counts().total == count
    node.loop.tick()
    assert node.loop.blocked == f"max pods reached ({count})"


def test_adaptive_mode_keeps_what_arrivals_during_a_replenish_need():
    node = make_node(adaptive=True)
    decision = node.loop.tick()
    # no arrivals yet: WARM_ENI_TARGET gives way to the floor of one free address
    assert decision.reasons[0].startswith("adaptive: 0 pods/s")
    assert "keep 1 free" in decision.reasons[0]
    assert node.store.counts().available == 1
    for n in range(20):  # a pod every second, each ADD waking the loop
        node.add_pods(1, start=n)
        node.clock.advance(1)
        node.loop.tick()
    assert node.loop.adaptation is not None
    estimate = node.loop.adaptation.estimate
    assert estimate is not None and estimate.rate > 0.2
    assert estimate.keep >= 1 and estimate.latency < 0.5  # the fake cloud answers at once
    assert node.store.counts().available >= estimate.keep - 1
    assert any(r.startswith("adaptive:") for r in node.loop.decisions.events(1)[0].reasons)


def test_adaptive_window_lengthens_after_a_regretted_shrink():
    node = make_node(cooldown=0, timing=replace(TIMING, scale_down_window=60), adaptive=True)
    node.loop.tick()
    for n in range(5):
        node.add_pods(1, start=n)
        node.loop.tick()
    node.delete_pods(5)
    assert node.loop.adaptation is not None
    window = node.loop.adaptation.window
    for _ in range(40):  # the peak leaves the 60 s window, the pool shrinks
        node.clock.advance(5)
        node.loop.tick()
    shrunk = node.cloud_blocks()
    for n in range(5, 10):
        node.add_pods(1, start=n)
        node.loop.tick()
    assert node.cloud_blocks() > shrunk
    assert window.regrets == 1
    assert window.window(node.clock()) > 60


def test_a_burst_of_adds_is_topped_up_by_one_growth():
    node = make_node(
        {"WARM_IP_TARGET": "3"}, timing=replace(TIMING, pool_interval=60, coalesce=0.5)
    )
    node.loop.tick()
    grows_before = sum(1 for name, _ in node.provider.calls if name == "grow")
    node.loop.start()
    wait = threading.Event()
    try:
        for n in range(2):  # each ADD wakes the loop, as the service does; 0.1 s apart
            node.add_pods(1, start=n)
            node.loop.wake()
            wait.wait(0.1)
        for _ in range(100):
            if node.store.counts().available == 3:
                break
            wait.wait(0.05)
    finally:
        node.loop.stop()
    assert node.store.counts().available == 3
    grows = [name for name, _ in node.provider.calls if name == "grow"][grows_before:]
    assert len(grows) == 1


def test_an_add_that_empties_the_pool_is_not_held_back():
    node = make_node({"WARM_IP_TARGET": "1"}, timing=replace(TIMING, pool_interval=60, coalesce=30))
    node.loop.tick()
    node.loop.start()
    try:
        node.add_pods(1)  # the last free address: the next pod would wait
        node.loop.wake()
        grew = node.loop.wait_for_growth(timeout=5)
    finally:
        node.loop.stop()
    assert grew
    assert node.store.counts().available == 1
