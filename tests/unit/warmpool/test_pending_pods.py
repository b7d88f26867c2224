"""Pending pods: the pool grows for them on top of its target, in one decision, up to max pods.

The Kubernetes layer counts pods scheduled here that wait for an address; ``decide`` meets the
targets on the pool as it will be once those pods have taken addresses (``after_pending``),
so a burst of pods is served by one growth instead of one target's worth per tick. The same
arithmetic keeps the blocks they are about to use from being given back, and a pool left
above max pods (the kubelet's number fell) gives its free blocks back down to it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.warmpool.node import ips
from tests.unit.warmpool.test_anchor_examples import M5_LARGE, M5_LARGE_PD
from warmpool import Block, Decision, Interface, Limits, PoolSnapshot, Targets, apply, decide
from warmpool.counts import Counts, after_pending, serves, serving_counts, shortfall
from warmpool.model import mode_of

OLD = 3600.0


def prefixes(prefix: str, *used: tuple[int, int]) -> tuple[Block, ...]:
    """One /28 per (assigned, cooling) pair."""
    return tuple(
        Block(f"{prefix}.{16 * n}/28", 16, assigned, cooling)
        for n, (assigned, cooling) in enumerate(used)
    )


FREE = (0, 0)


def primary(*blocks: Block) -> Interface:
    return Interface("eni-0", 0, primary=True, blocks=blocks, age_seconds=OLD)


def secondary(index: int, *blocks: Block) -> Interface:
    return Interface(f"eni-{index}", index, blocks=blocks, age_seconds=OLD)


def pool(
    limits: Limits, targets: Targets, *interfaces: Interface, pending: int = 0
) -> PoolSnapshot:
    return PoolSnapshot(tuple(interfaces), limits, targets, pending_pods=pending)


def held(snapshot: PoolSnapshot) -> Counts:
    return sum((serving_counts(i, snapshot.limits) for i in snapshot.interfaces), Counts())


def place_pending(snapshot: PoolSnapshot) -> tuple[PoolSnapshot, int]:
    """The pending pods take addresses as the datastore hands them out: the first interface
    (primary, then by device index) with a free address in a serving block, on it the block
    with most addresses used. Returns the pool with no pods pending, and the pods left over."""
    order = sorted(
        (i for i in snapshot.interfaces if i.pods_allowed),
        key=lambda i: (not i.primary, i.device_index),
    )
    changed = {i.id: list(i.blocks) for i in order}
    left = snapshot.pending_pods
    for iface in order:
        blocks = changed[iface.id]
        while left:
            free = [n for n, b in enumerate(blocks) if serves(iface, b, snapshot.limits) and b.free]
            if not free:
                break
            n = min(free, key=lambda k: (-(blocks[k].assigned + blocks[k].cooling), k))
            blocks[n] = replace(blocks[n], assigned=blocks[n].assigned + 1)
            left -= 1
    interfaces = tuple(
        replace(i, blocks=tuple(changed[i.id])) if i.id in changed else i
        for i in snapshot.interfaces
    )
    return replace(snapshot, interfaces=interfaces, pending_pods=0), left


def grown_and_placed(snapshot: PoolSnapshot) -> PoolSnapshot:
    """The decision carried out, then the pending pods started."""
    placed, left = place_pending(apply(snapshot, decide(snapshot), new_interface_age=OLD))
    assert left == 0, f"{left} pending pods found no address"
    return placed


def released(decision: Decision) -> list[str]:
    return [cidr for release in decision.release for cidr in release.cidrs]


# -- met on top of each target, in one decision ----------------------------------------------


def test_warm_ip_target_is_met_on_top_of_the_pending_pods_in_one_decision():
    snapshot = pool(M5_LARGE, Targets(warm_ip_target=5), primary(*ips("10.0.0", 9, 4)), pending=3)
    decision = decide(snapshot)
    assert decision.blocks_added == 3  # 5 free: 3 go to the pods, 3 more keep 5 warm
    assert "3 pods pending" in decision.reasons[0]
    after = grown_and_placed(snapshot)
    assert held(after).available == 5
    assert decide(after).is_noop


def test_minimum_ip_target_holds_the_pending_pods_beyond_the_floor():
    snapshot = pool(
        M5_LARGE,
        Targets(minimum_ip_target=10),
        primary(*ips("10.0.0", 9)),
        secondary(1, *ips("10.0.1", 1)),
        pending=14,
    )
    assert decide(snapshot).blocks_added == 4  # 10 held, 14 wanted at once
    after = grown_and_placed(snapshot)
    assert held(after).total == 14
    assert decide(after).is_noop


def test_minimum_and_warm_ip_targets_are_both_met_on_top_of_the_pending_pods():
    snapshot = pool(
        M5_LARGE,
        Targets(warm_ip_target=2, minimum_ip_target=10),
        primary(*ips("10.0.0", 9)),
        secondary(1, *ips("10.0.1", 1)),
        pending=12,
    )
    assert decide(snapshot).blocks_added == 4  # 2 more for the pods, 2 to keep warm
    after = grown_and_placed(snapshot)
    assert held(after).available == 2
    assert decide(after).is_noop


def test_warm_prefix_target_is_met_on_top_of_the_pending_pods_in_one_decision():
    snapshot = pool(
        M5_LARGE_PD, Targets(warm_block_target=1), primary(*prefixes("10.0.0", FREE)), pending=20
    )
    decision = decide(snapshot)
    assert decision.blocks_added == 2  # the pods need 2 /28s, the target one whole free /28
    after = grown_and_placed(snapshot)
    counts = held(after)
    assert (counts.blocks, counts.assigned, counts.free_blocks) == (3, 20, 1)
    assert decide(after).is_noop


@pytest.mark.parametrize(("pending", "interfaces_created"), [(5, 1), (12, 2)])
def test_warm_eni_target_is_met_on_top_of_the_pending_pods_in_one_decision(
    pending: int, interfaces_created: int
):
    snapshot = pool(
        M5_LARGE, Targets(warm_interface_target=1), primary(*ips("10.0.0", 9)), pending=pending
    )
    decision = decide(snapshot)
    assert [c.blocks for c in decision.create] == [9] * interfaces_created  # whole interfaces
    after = grown_and_placed(snapshot)
    assert held(after).available >= 9
    assert decide(after).is_noop


@pytest.mark.parametrize(
    ("limits", "targets", "interfaces", "pending", "total"),
    [
        pytest.param(
            replace(M5_LARGE, max_pods=12),
            Targets(warm_ip_target=5),
            (primary(*ips("10.0.0", 9, 4)),),
            20,
            12,
            id="WARM_IP_TARGET",
        ),
        pytest.param(
            replace(M5_LARGE, max_pods=12),
            Targets(minimum_ip_target=10),
            (primary(*ips("10.0.0", 9)),),
            20,
            12,
            id="MINIMUM_IP_TARGET",
        ),
        pytest.param(
            replace(M5_LARGE_PD, max_pods=40),
            Targets(warm_block_target=1),
            (primary(*prefixes("10.0.0", FREE)),),
            100,
            48,  # the /28 that crosses 40 is the only one past it
            id="WARM_PREFIX_TARGET",
        ),
        pytest.param(
            replace(M5_LARGE, max_pods=12),
            Targets(warm_interface_target=1),
            (primary(*ips("10.0.0", 9)),),
            20,
            12,  # not a whole second interface
            id="WARM_ENI_TARGET",
        ),
    ],
)
def test_growth_for_pending_pods_stops_at_max_pods(
    limits: Limits, targets: Targets, interfaces: tuple[Interface, ...], pending: int, total: int
):
    snapshot = pool(limits, targets, *interfaces, pending=pending)
    decision = decide(snapshot)
    assert decision.grows
    assert decision.unmet_blocks == 0  # max pods is not an interface limit
    assert held(apply(snapshot, decision)).total == total


def test_a_pool_at_max_pods_does_not_grow_for_pending_pods():
    limits = replace(M5_LARGE, max_pods=9)
    decision = decide(
        pool(limits, Targets(warm_ip_target=5), primary(*ips("10.0.0", 9, 7)), pending=6)
    )
    assert decision.is_noop
    assert "at max pods (9)" in decision.reasons[0]


# -- already covered: nothing beyond the target ------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "limits", "interfaces"),
    [
        pytest.param(
            Targets(warm_ip_target=3),
            M5_LARGE,
            (primary(*ips("10.0.0", 9, 4)),),  # 5 free: 2 pods + 3 warm
            id="WARM_IP_TARGET",
        ),
        pytest.param(
            Targets(warm_block_target=1),
            M5_LARGE_PD,
            (primary(*prefixes("10.0.0", (6, 0), FREE)),),  # the pods fit in the used /28
            id="WARM_PREFIX_TARGET",
        ),
        pytest.param(
            Targets(warm_interface_target=1),
            M5_LARGE,
            (primary(*ips("10.0.0", 9, 7)), secondary(1, *ips("10.0.1", 9))),  # 11 free
            id="WARM_ENI_TARGET",
        ),
    ],
)
def test_pending_pods_covered_by_free_addresses_add_nothing_beyond_the_target(
    targets: Targets, limits: Limits, interfaces: tuple[Interface, ...]
):
    assert decide(pool(limits, targets, *interfaces, pending=2)).is_noop


def test_one_pod_more_than_the_free_addresses_cover_grows_by_one_address():
    snapshot = pool(M5_LARGE, Targets(warm_ip_target=3), primary(*ips("10.0.0", 9, 4)), pending=3)
    assert decide(snapshot).blocks_added == 1


def test_pending_pods_fill_the_partly_used_prefix_before_breaking_into_a_free_one():
    interfaces = (primary(*prefixes("10.0.0", (6, 0), FREE)),)
    targets = Targets(warm_block_target=1)
    # 10 free in the used /28: 10 pods leave the free /28 whole, 11 do not
    assert decide(pool(M5_LARGE_PD, targets, *interfaces, pending=10)).is_noop
    assert decide(pool(M5_LARGE_PD, targets, *interfaces, pending=11)).blocks_added == 1


# -- no shrink under the pods' feet -----------------------------------------------------------


def test_warm_prefix_target_keeps_the_prefixes_the_pending_pods_will_use():
    interfaces = (primary(*prefixes("10.0.0", FREE, FREE, FREE)),)
    targets = Targets(warm_block_target=1)
    assert len(released(decide(pool(M5_LARGE_PD, targets, *interfaces)))) == 2
    assert len(released(decide(pool(M5_LARGE_PD, targets, *interfaces, pending=5)))) == 1
    assert decide(pool(M5_LARGE_PD, targets, *interfaces, pending=20)).is_noop


def test_warm_ip_target_keeps_the_addresses_the_pending_pods_will_use():
    interfaces = (primary(*ips("10.0.0", 9)),)
    targets = Targets(warm_ip_target=2)
    assert len(released(decide(pool(M5_LARGE, targets, *interfaces)))) == 7
    assert len(released(decide(pool(M5_LARGE, targets, *interfaces, pending=4)))) == 3
    assert decide(pool(M5_LARGE, targets, *interfaces, pending=7)).is_noop


def test_ip_targets_in_prefix_mode_keep_the_prefixes_the_pending_pods_will_use():
    interfaces = (primary(*prefixes("10.0.0", FREE, FREE, FREE)),)
    targets = Targets(warm_ip_target=5)
    assert len(released(decide(pool(M5_LARGE_PD, targets, *interfaces)))) == 2
    # 20 pods and 5 warm need ceil(25 / 16) = 2 prefixes
    assert len(released(decide(pool(M5_LARGE_PD, targets, *interfaces, pending=20)))) == 1
    assert decide(pool(M5_LARGE_PD, targets, *interfaces, pending=30)).is_noop


def test_an_empty_interface_the_pending_pods_need_is_not_removed():
    interfaces = (primary(*ips("10.0.0", 9, 9)), secondary(1, *ips("10.0.1", 9)))
    targets = Targets(warm_ip_target=1)
    assert decide(pool(M5_LARGE, targets, *interfaces)).shrinks  # without pods it may go
    decision = decide(pool(M5_LARGE, targets, *interfaces, pending=8))
    assert not decision.remove
    assert not decision.release


# -- after_pending ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pending", "assigned", "free_blocks", "missing"),
    [
        (0, 6, 1, 0),
        (8, 14, 1, 0),  # the used /28 has 10 free: the free /28 stays whole
        (10, 16, 1, 0),
        (11, 17, 0, 0),  # one more breaks into it
        (26, 32, 0, 0),
        (30, 32, 0, 4),
    ],
)
def test_after_pending_fills_partly_used_blocks_first(
    pending: int, assigned: int, free_blocks: int, missing: int
):
    counts = Counts(total=32, assigned=6, cooling=0, blocks=2, free_blocks=1)
    after, short = after_pending(counts, pending, 16)
    assert (after.assigned, after.free_blocks, short) == (assigned, free_blocks, missing)
    assert (after.total, after.cooling, after.blocks) == (32, 0, 2)


def test_after_pending_with_single_addresses_takes_one_free_block_per_pod():
    counts = Counts(total=9, assigned=2, cooling=1, blocks=9, free_blocks=6)
    after, missing = after_pending(counts, 4, 1)
    assert (after.available, after.free_blocks, missing) == (2, 2, 0)


def test_after_pending_does_not_count_cooling_addresses_as_room():
    # a /28 of 16 cooling addresses and a free one: the first pod breaks into the free /28
    counts = Counts(total=32, assigned=0, cooling=16, blocks=2, free_blocks=1)
    after, missing = after_pending(counts, 1, 16)
    assert (after.assigned, after.free_blocks, missing) == (1, 0, 0)
    after, missing = after_pending(counts, 20, 16)
    assert (after.assigned, after.available, missing) == (16, 0, 4)


# -- a pool above max pods ----------------------------------------------------------------------


def test_a_pool_above_max_pods_gives_back_its_free_blocks_down_to_max_pods():
    blocks = prefixes("10.0.0", (3, 0), (0, 2), FREE, FREE, FREE)
    snapshot = pool(
        replace(M5_LARGE_PD, max_pods=20), Targets(warm_block_target=1), primary(*blocks)
    )
    decision = decide(snapshot)
    assert sorted(released(decision)) == ["10.0.0.32/28", "10.0.0.48/28", "10.0.0.64/28"]
    after = apply(snapshot, decision)
    assert held(after).total == 32  # the pods' /28 and the cooling one stay
    assert decide(after).is_noop


def test_a_pool_above_max_pods_in_warm_eni_mode_gives_back_addresses_down_to_max_pods():
    interfaces = (primary(*ips("10.0.0", 9, 2, 1)), secondary(1, *ips("10.0.1", 9)))
    snapshot = pool(replace(M5_LARGE, max_pods=10), Targets(warm_interface_target=1), *interfaces)
    decision = decide(snapshot)
    assert not decision.grows
    assert not {"10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32"} & set(released(decision))
    after = apply(snapshot, decision)
    assert held(after).total == 10
    assert decide(after).is_noop  # and it does not want them back


def test_a_pool_above_max_pods_keeps_the_blocks_pending_pods_will_use():
    blocks = prefixes("10.0.0", (3, 0), FREE, FREE, FREE, FREE)
    snapshot = pool(
        replace(M5_LARGE_PD, max_pods=40),
        Targets(warm_block_target=1),
        primary(*blocks),
        pending=20,
    )
    decision = decide(snapshot)
    assert len(released(decision)) == 2  # 80 -> 48: one /28 crosses 40, the pods need two
    after = grown_and_placed(snapshot)
    assert held(after).assigned == 23
    assert decide(after).is_noop


# -- properties ---------------------------------------------------------------------------------


@st.composite
def block_lists(draw: st.DrawFn, size: int) -> list[Block]:
    made = []
    for n in range(draw(st.integers(0, 8))):
        assigned = draw(st.integers(0, size))
        cooling = draw(st.integers(0, size - assigned))
        if draw(st.booleans()):
            assigned, cooling = 0, 0
        made.append(Block(f"b{n}", size, assigned, cooling))
    return made


@st.composite
def pending_snapshots(draw: st.DrawFn) -> PoolSnapshot:
    size = draw(st.sampled_from((1, 16)))
    per_interface = draw(st.integers(1, 6))
    max_interfaces = draw(st.integers(1, 4))
    limits = Limits(
        max_interfaces=max_interfaces,
        blocks_per_interface=per_interface,
        block_size=size,
        # half the pools are capped by max pods, half by their interfaces only
        max_pods=draw(st.integers(0, per_interface * size * max_interfaces + size) | st.just(500)),
    )
    targets = Targets(
        warm_interface_target=draw(st.integers(0, 2)),
        warm_ip_target=draw(st.sampled_from((0, 0, 1, 3, 7, 20))),
        minimum_ip_target=draw(st.sampled_from((0, 0, 4, 17))),
        warm_block_target=draw(st.integers(0, 2)),
    )
    interfaces = []
    for n in range(draw(st.integers(1, max_interfaces))):
        blocks = draw(block_lists(size))[:per_interface]
        interfaces.append(
            Interface(
                f"eni-{n}",
                n,
                primary=n == 0,
                blocks=tuple(replace(b, cidr=f"eni-{n}/{b.cidr}") for b in blocks),
                age_seconds=draw(st.sampled_from((0.0, OLD))),
            )
        )
    pending = draw(st.integers(0, 3 * size + 10))
    return PoolSnapshot(tuple(interfaces), limits, targets, pending_pods=pending)


def given_back(snapshot: PoolSnapshot, decision: Decision) -> list[Block]:
    """Serving blocks the decision releases, or removes with their interface."""
    out = []
    for iface in snapshot.interfaces:
        gone = set(released(decision)) if iface.id not in decision.remove else None
        out += [
            b
            for b in iface.blocks
            if serves(iface, b, snapshot.limits) and (gone is None or b.cidr in gone)
        ]
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from((1, 16, 64)).flatmap(lambda s: st.tuples(st.just(s), block_lists(s))),
    st.integers(0, 600),
)
def test_after_pending_matches_pods_taking_the_most_used_block_first(
    sized: tuple[int, list[Block]], pending: int
):
    size, blocks = sized
    counts = Counts.of_blocks(blocks)
    after, missing = after_pending(counts, pending, size)
    # the pods one by one, each into the most used block with a free address
    left, taken = pending, list(blocks)
    while left:
        free = [n for n, b in enumerate(taken) if b.free]
        if not free:
            break
        n = min(free, key=lambda k: (-(taken[k].assigned + taken[k].cooling), k))
        taken[n] = replace(taken[n], assigned=taken[n].assigned + 1)
        left -= 1
    assert after == Counts.of_blocks(taken)
    assert missing == left == max(pending - counts.available, 0)


@settings(max_examples=300, deadline=None)
@given(pending_snapshots())
def test_growth_for_pending_pods_never_passes_max_pods_by_a_whole_block(snapshot: PoolSnapshot):
    decision = decide(snapshot)
    if decision.grows:
        limits = snapshot.limits
        assert held(snapshot).total < limits.max_pods
        assert held(apply(snapshot, decision)).total < limits.max_pods + limits.block_size


@settings(max_examples=300, deadline=None)
@given(pending_snapshots())
def test_no_block_is_given_back_while_more_pods_are_pending_than_addresses_are_free(
    snapshot: PoolSnapshot,
):
    counts = held(snapshot)
    # the scheduler does not bind more pods than max pods allows
    schedulable = counts.assigned + snapshot.pending_pods <= snapshot.limits.max_pods
    if schedulable and snapshot.pending_pods > counts.available:
        assert given_back(snapshot, decide(snapshot)) == []


@settings(max_examples=300, deadline=None)
@given(pending_snapshots())
def test_what_is_given_back_leaves_room_for_every_pending_pod(snapshot: PoolSnapshot):
    counts = held(snapshot)
    # the scheduler does not bind more pods than max pods allows
    if counts.assigned + snapshot.pending_pods <= snapshot.limits.max_pods:
        freed = sum(b.size for b in given_back(snapshot, decide(snapshot)))
        assert freed <= max(counts.available - snapshot.pending_pods, 0)


@settings(max_examples=300, deadline=None)
@given(pending_snapshots())
def test_pending_pods_are_served_in_one_decision(snapshot: PoolSnapshot):
    decision = decide(snapshot)
    placed, left = place_pending(apply(snapshot, decision, new_interface_age=OLD))
    limits = snapshot.limits
    if decision.unmet_blocks or held(placed).total >= limits.max_pods:
        return  # an interface limit or max pods stopped it
    assert left == 0
    mode = mode_of(snapshot.targets, limits)
    assert shortfall(held(placed), mode, snapshot.targets, limits) == 0
    assert not decide(placed).grows


@settings(max_examples=300, deadline=None)
@given(pending_snapshots())
def test_a_pool_above_max_pods_keeps_no_free_block_past_it_and_stays_put(snapshot: PoolSnapshot):
    snapshot = replace(snapshot, pending_pods=0)
    limits = snapshot.limits
    if held(snapshot).total < limits.max_pods + limits.block_size:
        return
    decision = decide(snapshot)
    assert not decision.grows
    assert all(b.releasable for b in given_back(snapshot, decision))
    after = apply(snapshot, decision)
    counts = held(after)
    assert counts.total < limits.max_pods + limits.block_size or counts.free_blocks == 0
    if decision.shrinks:
        assert decide(after).is_noop
