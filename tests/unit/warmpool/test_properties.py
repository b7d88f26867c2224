"""Properties of decide() over generated pools: safety, limits, fixed point, convergence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from warmpool import Block, Decision, Interface, Limits, PoolSnapshot, Targets, apply, decide
from warmpool.counts import Counts, serves, serving_counts, shortfall
from warmpool.model import mode_of

BLOCK_SIZES = (1, 16, 64)


@st.composite
def blocks(draw: st.DrawFn, owner: str, size: int, count: int) -> tuple[Block, ...]:
    made = []
    for n in range(count):
        # now and then a block left over from another mode
        this_size = draw(st.sampled_from((size, size, size, 1 if size > 1 else 16)))
        assigned = draw(st.integers(0, this_size))
        cooling = draw(st.integers(0, this_size - assigned))
        # mostly empty or lightly used blocks, so shrinking gets exercised too
        if draw(st.booleans()):
            assigned, cooling = 0, 0
        made.append(Block(f"{owner}/{n}", this_size, assigned, cooling))
    return tuple(made)


@st.composite
def snapshots(draw: st.DrawFn) -> PoolSnapshot:
    size = draw(st.sampled_from(BLOCK_SIZES))
    per_interface = draw(st.integers(1, 8))
    max_interfaces = draw(st.integers(1, 5))
    limits = Limits(
        max_interfaces=max_interfaces,
        blocks_per_interface=per_interface,
        block_size=size,
        max_pods=draw(st.integers(0, 3 * per_interface * size * max_interfaces)),
    )
    targets = Targets(
        warm_interface_target=draw(st.integers(0, 3)),
        warm_ip_target=draw(st.sampled_from((0, 0, 1, 2, 5, 17, 40))),
        minimum_ip_target=draw(st.sampled_from((0, 0, 3, 10, 33))),
        warm_block_target=draw(st.integers(0, 3)),
        min_interface_age_seconds=60,
    )
    count = draw(st.integers(1, max_interfaces + 1))
    interfaces = []
    for n in range(count):
        interfaces.append(
            Interface(
                id=f"eni-{n}",
                device_index=n,
                primary=n == 0,
                pods_allowed=n != 0 or draw(st.integers(0, 9)) > 0,
                blocks=draw(blocks(f"eni-{n}", size, draw(st.integers(0, per_interface)))),
                age_seconds=draw(st.sampled_from((0.0, 30.0, 3600.0))),
            )
        )
    return PoolSnapshot(tuple(interfaces), limits, targets)


def serving_total(snapshot: PoolSnapshot) -> Counts:
    return sum((serving_counts(i, snapshot.limits) for i in snapshot.interfaces), Counts())


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_never_releases_an_assigned_or_cooling_address(snapshot: PoolSnapshot):
    decision = decide(snapshot)
    for release in decision.release:
        iface = snapshot.interface(release.interface_id)
        by_cidr = {b.cidr: b for b in iface.blocks}
        assert release.cidrs, "empty release"
        assert len(set(release.cidrs)) == len(release.cidrs)
        for cidr in release.cidrs:
            assert by_cidr[cidr].releasable, f"{cidr} holds a pod or cools down"
    for interface_id in decision.remove:
        iface = snapshot.interface(interface_id)
        assert not iface.primary
        assert not iface.in_use
        assert iface.age_seconds >= snapshot.targets.min_interface_age_seconds
        assert interface_id not in {r.interface_id for r in decision.release}


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_never_exceeds_a_limit(snapshot: PoolSnapshot):
    limits = snapshot.limits
    decision = decide(snapshot)
    assert not (decision.grows and decision.shrinks)
    for grow in decision.grow:
        iface = snapshot.interface(grow.interface_id)
        assert iface.pods_allowed
        assert 0 < grow.blocks <= limits.blocks_per_interface - len(iface.blocks)
    for create in decision.create:
        assert 0 < create.blocks <= limits.blocks_per_interface
    if decision.create:
        assert len(snapshot.interfaces) + len(decision.create) <= limits.max_interfaces
    before = serving_total(snapshot).total
    after = serving_total(apply(snapshot, decision)).total
    if decision.grows:
        assert before < limits.max_pods
        assert after < limits.max_pods + limits.block_size


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_applied_decision_is_a_fixed_point_in_its_direction(snapshot: PoolSnapshot):
    decision = decide(snapshot)
    again = decide(apply(snapshot, decision))
    if decision.grows:
        assert not again.grows, (decision, again)
        # nothing that serves pods is given back right after asking for it
        grown = apply(snapshot, decision)
        for release in again.release:
            iface = grown.interface(release.interface_id)
            by_cidr = {b.cidr: b for b in iface.blocks}
            assert not any(serves(iface, by_cidr[c], grown.limits) for c in release.cidrs)
    if decision.shrinks:
        assert not again.shrinks, (decision, again)
        assert not again.grows, "a shrink left the pool short"


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_growth_meets_the_targets_unless_a_limit_stops_it(snapshot: PoolSnapshot):
    decision = decide(snapshot)
    after = apply(snapshot, decision)
    mode = mode_of(snapshot.targets, snapshot.limits)
    short = shortfall(serving_total(after), mode, snapshot.targets, snapshot.limits)
    assert short == 0 or decision.unmet_blocks > 0 or not decision.grows


@settings(max_examples=300, deadline=None)
@given(snapshots(), st.sampled_from((0.0, 3600.0)))
def test_repeated_application_converges(snapshot: PoolSnapshot, new_age: float):
    decisions: list[Decision] = []
    for _ in range(4):
        decision = decide(snapshot)
        if decision.is_noop:
            return
        decisions.append(decision)
        snapshot = apply(snapshot, decision, new_interface_age=new_age)
    raise AssertionError(f"no fixed point after 4 steps: {decisions}")


@settings(max_examples=200, deadline=None)
@given(snapshots())
def test_decide_is_deterministic(snapshot: PoolSnapshot):
    assert decide(snapshot) == decide(snapshot)
