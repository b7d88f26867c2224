"""aws-node's algorithm, replayed: hand-checked scenarios on an m5.large (3 ENIs of 9).

Timeline of the replay: nodeInit's DescribeNetworkInterfaces ends at 0.1 s and its first
increase (9 addresses, 0.5 s) at 0.6 s; then the loop updates the pool at 3.1, 8.1, 13.1 ...
and reconciles at 5.6, 10.6, ... (2.5 s sleeps plus the calls' own time).
"""

from __future__ import annotations

import pytest

from tests.unit.warmpool.sim.support import M5_LARGE, M5_LARGE_PREFIXES, burst, calls, held, replay
from tests.unit.warmpool.sim.support import node as config
from warmpool import Block, Interface, PoolSnapshot, decide
from warmpool.sim import AnchorPolicy, CloudModel, OurPolicy
from warmpool.sim import anchor_rules as rules
from warmpool.sim import cloud as ec2


def test_warm_eni_target_1_holds_9_addresses_after_the_first_tick():
    node, log = replay(AnchorPolicy(), config(), [], until=3.0)
    assert held(node) == 9 and len(node.interfaces) == 1
    assert [(a, round(t, 2)) for t, a, _ in log] == [(ec2.DESCRIBE_ENIS, 0.0), (ec2.ASSIGN, 0.1)]


def test_a_second_eni_comes_when_the_first_fills_and_no_third_while_nine_are_free():
    node, log = replay(AnchorPolicy(), config(), burst(4.0, 9), until=40.0)
    assert held(node) == 18 and len(node.interfaces) == 2
    assert calls(log, ec2.CREATE) == [pytest.approx(8.2)]  # the update at 8.1, after subnets
    assert node.metrics.waits == [0.0] * 9


def test_one_pod_is_enough_to_ask_for_a_second_eni():
    # available 8 < 9 x WARM_ENI_TARGET: low, and the primary ENI has no room left
    node, _ = replay(AnchorPolicy(), config(), [(4.0, "a", "add")], until=20.0)
    assert len(node.interfaces) == 2


def test_a_new_eni_costs_five_calls_and_an_imds_wait():
    _, log = replay(AnchorPolicy(), config(), [(4.0, "a", "add")], until=20.0)
    after_init = [a for t, a, _ in log if t > 1.0]
    assert after_init == [
        ec2.DESCRIBE_SUBNETS,
        ec2.CREATE,
        ec2.DESCRIBE_INSTANCES,
        ec2.ATTACH,
        ec2.MODIFY,
    ]


def test_the_anchor_grows_one_eni_per_tick_where_ours_grows_in_one_decision():
    anchor, _ = replay(AnchorPolicy(), config(), burst(4.0, 20), until=60.0)
    ours, _ = replay(OurPolicy(), config(), burst(4.0, 20), until=60.0)
    for node in (anchor, ours):
        assert len(node.interfaces) == 3 and node.metrics.waits and not node.waiting
    anchor_created = [i.created_at for i in anchor.interfaces[1:]]
    ours_created = [i.created_at for i in ours.interfaces[1:]]
    assert anchor_created[1] - anchor_created[0] >= 5.0  # the next loop period
    assert ours_created[1] - ours_created[0] < 2.0  # the same tick, one call after another
    assert max(ours.metrics.waits) < max(anchor.metrics.waits)


def test_cooling_addresses_count_as_available_for_the_anchor_but_not_for_ours():
    # WARM_IP_TARGET=1: a frees its address at 20 (cooling until 50), b takes the last free
    # one at 21; c at 22 finds only the cooling one.
    events = [(10.0, "a", "add"), (20.0, "a", "del"), (21.0, "b", "add"), (22.0, "c", "add")]
    anchor, _ = replay(AnchorPolicy(), config(warm_ip_target=1), events, until=80.0)
    ours, _ = replay(OurPolicy(), config(warm_ip_target=1), events, until=80.0)
    # the anchor sees 2 - 1 = 1 available (the cooling one): on target, no growth; c waits
    # for the cooldown to end
    assert anchor.metrics.waits[-1] == pytest.approx(28.0)
    # ours counted 0 available once b took the last one, and grew at once
    assert ours.metrics.waits[-1] < 1.0


def test_the_rules_on_a_pool_with_one_pod_and_one_cooling_address():
    stats = rules.Stats(total=2, assigned=1, cooling=1, blocks=2, free_blocks=1)
    anchor = rules.AnchorConfig.of(M5_LARGE, config(warm_ip_target=1).targets)
    assert not rules.pool_too_low(stats, anchor)
    snapshot = PoolSnapshot(
        (Interface("eni-0", 0, True, (Block("a", 1, 1, 0), Block("b", 1, 0, 1))),),
        M5_LARGE,
        config(warm_ip_target=1).targets,
    )
    assert decide(snapshot).blocks_added == 1


def test_the_anchor_gives_back_cooling_blocks_that_ours_keeps():
    stats = rules.Stats(total=6, assigned=0, cooling=5, blocks=6, free_blocks=6)
    anchor = rules.AnchorConfig.of(M5_LARGE, config(warm_ip_target=1).targets)
    assert rules.pool_too_high(stats, anchor) and rules.over_to_free(stats, anchor) == 5
    blocks = tuple(Block(f"b{k}", 1, 0, 1 if k < 5 else 0) for k in range(6))
    snapshot = PoolSnapshot(
        (Interface("eni-0", 0, True, blocks),), M5_LARGE, config(warm_ip_target=1).targets
    )
    assert decide(snapshot).is_noop  # one free address, the target; the cooling ones stay


def test_prefix_mode_low_and_over_follow_warm_prefix_target():
    anchor = rules.AnchorConfig.of(M5_LARGE_PREFIXES, config(warm_block_target=1).targets)
    empty = rules.Stats(total=0, assigned=0, cooling=0, blocks=0, free_blocks=0)
    assert rules.pool_too_low(empty, anchor) and rules.prefixes_needed(empty, anchor) == 1
    # a prefix with one cooling address is "free" for aws-node
    two = rules.Stats(total=32, assigned=0, cooling=1, blocks=2, free_blocks=2)
    assert not rules.pool_too_low(two, anchor) and rules.over_to_free(two, anchor) == 1


def test_ip_targets_in_prefix_mode_count_prefixes():
    anchor = rules.AnchorConfig.of(M5_LARGE_PREFIXES, config(warm_ip_target=20).targets)
    stats = rules.Stats(total=16, assigned=10, cooling=0, blocks=1, free_blocks=0)
    short, over, enabled = rules.target_state(stats, anchor)
    assert (short, over, enabled) == (1, 0, True)  # 14 short: one more prefix


def test_an_eni_is_deletable_only_old_empty_and_not_needed_by_the_targets():
    anchor = rules.AnchorConfig.of(M5_LARGE, config(warm_ip_target=5).targets)
    empty = rules.EniView(False, 120.0, 0, 0, 9, 9, 9)
    others = [rules.EniView(True, 999.0, 3, 0, 6, 9, 6)]
    assert rules.deletable(empty, others, anchor)
    assert not rules.deletable(rules.EniView(False, 30.0, 0, 0, 9, 9, 9), others, anchor)
    assert not rules.deletable(rules.EniView(False, 120.0, 0, 1, 9, 9, 8), others, anchor)
    short_others = [rules.EniView(True, 999.0, 6, 0, 3, 9, 3)]  # 3 warm < WARM_IP_TARGET
    assert not rules.deletable(empty, short_others, anchor)


def test_reconcile_asks_ec2_only_while_imds_lags_the_datastore():
    _, log = replay(AnchorPolicy(), config(), [], until=200.0)
    assert [a for _, a, _ in log] == [ec2.DESCRIBE_ENIS, ec2.ASSIGN]  # IMDS agrees: no call
    _, log = replay(AnchorPolicy(), config(), [], until=200.0, cloud=CloudModel(imds_lag=100.0))
    by_id = [t for t, a, _ in log if a == ec2.DESCRIBE_ENIS and t > 1.0]
    assert by_id == [pytest.approx(65.6)]  # the first reconcile over 60 s after the grow
