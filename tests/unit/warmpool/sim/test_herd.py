"""Many nodes on one account: throttling, and what our client's limiter and jitter change."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.warmpool.sim.support import node
from warmpool.sim import (
    AWS_SDK,
    NAIVE,
    AnchorPolicy,
    CloudModel,
    OurPolicy,
    Shape,
    TraceEvent,
    herd,
    make_trace,
    our_client,
    simulate,
)
from warmpool.sim import cloud as ec2
from warmpool.sim.herd import throttle_floor


def test_a_herd_with_our_client_is_throttled_far_less_than_with_a_naive_one():
    ours = herd(OurPolicy(), node(), nodes=200, window=10.0)
    naive = herd(OurPolicy(client=NAIVE), node(), nodes=200, window=10.0)
    assert ours.without_address == naive.without_address == 0
    assert 0 < ours.throttled < naive.throttled / 2
    # the account's AssignPrivateIpAddresses bucket (100, 5/s) bounds both
    assert ours.first_address.max < 60.0 and naive.first_address.max < 60.0
    assert set(ours.throttled_by_action) == {ec2.ASSIGN}


def test_a_herd_is_deterministic_by_seed():
    one = herd(OurPolicy(), node(), nodes=50, window=5.0, seed=3)
    assert one == herd(OurPolicy(), node(), nodes=50, window=5.0, seed=3)
    assert one != herd(OurPolicy(), node(), nodes=50, window=5.0, seed=4)


def join_storm(nodes: int) -> list[TraceEvent]:
    """``nodes`` nodes joining at once, 20 pods each: every node creates two ENIs."""
    return [TraceEvent(0.0, f"n{k}", f"p{j}", "add") for k in range(nodes) for j in range(20)]


SMALL_ACCOUNT = CloudModel(buckets={ec2.CREATE: Shape(10, 0.5)})
"""CreateNetworkInterface's bucket shrunk to 10 / 0.5 per s, so ten nodes can overrun it."""


def shares(nodes: int):
    """Our client with each class's bucket at 1/nodes of the account's (the sum fits)."""
    return our_client(
        mutating=Shape(50, 5).scaled(1 / nodes),
        allocate=Shape(10, 0.5).scaled(1 / nodes),
        describe=Shape(50, 10).scaled(1 / nodes),
    )


def test_a_herd_whose_limiters_share_the_account_is_never_throttled_where_a_naive_one_is():
    storm = make_trace(join_storm(10), 300.0)
    ours = simulate(storm, OurPolicy(client=shares(10)), node(), cloud=SMALL_ACCOUNT)
    naive = simulate(storm, OurPolicy(client=NAIVE), node(), cloud=SMALL_ACCOUNT)
    assert ours.throttled == 0 and naive.throttled > 0
    assert ours.unserved == naive.unserved == 0
    # holding back costs time: the token bucket's (sigma, rho) bound, not a failure
    assert ours.waits.max > naive.waits.max


@settings(max_examples=15, deadline=None)
@given(nodes=st.integers(1, 10), seed=st.integers(0, 1000))
def test_limiters_whose_shapes_add_up_to_the_accounts_are_never_throttled(nodes, seed):
    storm = make_trace(join_storm(nodes), 200.0)
    report = simulate(
        storm, OurPolicy(client=shares(nodes)), node(), cloud=SMALL_ACCOUNT, seed=seed
    )
    assert report.throttled == 0


def test_the_floor_replays_each_nodes_first_request_against_a_full_bucket():
    cloud = CloudModel(buckets={ec2.ASSIGN: Shape(2, 1.0)})
    # two at once take the burst, the third finds none, 1 s later one token is back
    assert throttle_floor({ec2.ASSIGN: [0.0, 0.0, 0.0, 1.0, 1.0]}, cloud) == 2
    # each bucket on its own: the describe bucket (100) serves all five
    assert throttle_floor({ec2.DESCRIBE_ENIS: [0.0] * 5}, cloud) == 0


def test_a_herd_with_our_adaptive_client_stays_near_the_floor_and_far_below_the_others():
    ours = herd(OurPolicy(), node(), nodes=400, window=24.0)
    naive = herd(OurPolicy(client=NAIVE), node(), nodes=400, window=24.0)
    anchor = herd(AnchorPolicy(), node(), nodes=400, window=24.0, client=AWS_SDK)
    assert ours.floor == naive.floor > 0
    assert ours.floor <= ours.throttled <= 3 * ours.floor
    assert ours.throttled < anchor.throttled < naive.throttled
    assert ours.without_address == 0
    # what the pool loop sees: calls failed for throttling, mostly refused by our own limiter
    assert ours.refused <= ours.gave_up
    assert ours.first_address.max < 2 * naive.first_address.max


def test_without_the_adaptive_rate_the_herd_is_throttled_many_times_more():
    adaptive = herd(OurPolicy(), node(), nodes=200, window=12.0)
    plain = herd(OurPolicy(client=our_client(adaptive=None)), node(), nodes=200, window=12.0)
    assert adaptive.throttled * 3 < plain.throttled
