"""The policy's behaviour in named situations: shrinking, cooldown, limits, leftovers."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.warmpool.node import (
    age,
    cool_down,
    delete_pod,
    ips,
    settle,
    totals,
    with_pods,
)
from tests.unit.warmpool.test_anchor_examples import M5_LARGE, M5_LARGE_PD, T3_SMALL
from warmpool import Block, Interface, Limits, Mode, PoolSnapshot, Targets, decide, mode_of


def pool(limits: Limits, targets: Targets, *interfaces: Interface) -> PoolSnapshot:
    return PoolSnapshot(tuple(interfaces), limits, targets)


OLD = 3600.0


def test_ip_targets_take_precedence_over_warm_eni_and_warm_prefix_targets():
    targets = Targets(warm_interface_target=2, warm_ip_target=1, warm_block_target=3)
    assert mode_of(targets, M5_LARGE) is Mode.IP_TARGETS
    assert mode_of(targets, M5_LARGE_PD) is Mode.IP_TARGETS
    assert mode_of(Targets(minimum_ip_target=4), M5_LARGE) is Mode.IP_TARGETS
    assert mode_of(Targets(), M5_LARGE) is Mode.WARM_INTERFACES
    assert mode_of(Targets(), M5_LARGE_PD) is Mode.WARM_BLOCKS


def test_cooling_addresses_do_not_count_as_available():
    # 9 addresses, 4 pods, 5 cooling: aws-node sees 5 available and meets WARM_IP_TARGET=5;
    # no pod can get any of them, so we ask for 5 more.
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, 4, 5))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=5), primary))
    assert decision.blocks_added == 5
    assert [c.blocks for c in decision.create] == [5]


def test_warm_ip_target_releases_exactly_the_addresses_over_target():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, assigned=2))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=3), primary))
    assert not decision.grows
    released = [c for r in decision.release for c in r.cidrs]
    assert len(released) == 4  # 7 free, 3 wanted
    assert not {"10.0.0.0/32", "10.0.0.1/32"} & set(released)  # the pods' addresses stay


def test_minimum_ip_target_is_a_floor_for_releases():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, assigned=1))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=1, minimum_ip_target=6), primary))
    assert sum(len(r.cidrs) for r in decision.release) == 3


def test_cooling_addresses_are_never_released():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, cooling=9))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=1), primary))
    assert not decision.release
    assert decision.blocks_added == 1  # nothing is available while all cool down


def test_warm_eni_mode_never_releases_single_addresses():
    node = with_pods(M5_LARGE, Targets(), 8)
    for _ in range(8):
        node = delete_pod(node)
    node = age(cool_down(node), OLD)
    decision = decide(node)
    assert not decision.release
    assert len(decision.remove) == 1  # 18 free >= (WARM_ENI_TARGET + 1) x 9: one ENI goes
    assert totals(settle(node)) == (1, 9, 9)


def test_young_interfaces_are_not_removed():
    node = with_pods(M5_LARGE, Targets(), 8)
    for _ in range(8):
        node = delete_pod(node)
    node = age(cool_down(node), 30)
    assert decide(node).is_noop


def test_interface_with_cooling_address_is_not_removed():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9))
    second = Interface("eni-1", 1, blocks=ips("10.0.1", 9, cooling=1), age_seconds=OLD)
    third = Interface("eni-2", 2, blocks=ips("10.0.2", 9), age_seconds=OLD)
    decision = decide(pool(M5_LARGE, Targets(), primary, second, third))
    assert decision.remove == ("eni-2",)


def test_warm_ip_mode_removes_an_empty_interface_the_others_can_replace():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, assigned=2))
    spare = Interface("eni-1", 1, blocks=ips("10.0.1", 3), age_seconds=OLD)
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=5), primary, spare))
    assert decision.remove == ("eni-1",)
    assert sum(len(r.cidrs) for r in decision.release) == 2  # 7 free on eni-0, 5 wanted


def test_interface_emptied_by_releases_is_removed_whole():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, assigned=4))
    spare = Interface("eni-1", 1, blocks=ips("10.0.1", 2), age_seconds=OLD)
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=1), primary, spare))
    assert decision.remove == ("eni-1",)
    assert all(r.interface_id != "eni-1" for r in decision.release)


def test_warm_eni_target_zero_keeps_one_free_address_instead_of_thrashing():
    # aws-node would remove eni-1 (9 free >= 1 x 9), then find nothing free and recreate it.
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 9, assigned=9))
    spare = Interface("eni-1", 1, blocks=ips("10.0.1", 9), age_seconds=OLD)
    assert decide(pool(M5_LARGE, Targets(warm_interface_target=0), primary, spare)).is_noop


def test_warm_prefix_target_zero_keeps_the_last_free_prefix():
    full = tuple(Block(f"10.0.{n}.0/28", 16, assigned=16) for n in range(2))
    free = (Block("10.0.9.0/28", 16), Block("10.0.9.16/28", 16))
    primary = Interface("eni-0", 0, primary=True, blocks=full + free)
    decision = decide(pool(M5_LARGE_PD, Targets(warm_block_target=0), primary))
    assert [len(r.cidrs) for r in decision.release] == [1]


def test_prefix_mode_counts_cooling_addresses_as_occupying_their_prefix():
    # One address cools in prefix A; B is free. WARM_IP_TARGET=16 needs 16 free addresses:
    # giving B back would leave 15 and ask for a prefix again on the next tick.
    a = Block("10.0.0.0/28", 16, cooling=1)
    b = Block("10.0.0.16/28", 16)
    primary = Interface("eni-0", 0, primary=True, blocks=(a, b))
    assert decide(pool(M5_LARGE_PD, Targets(warm_ip_target=16), primary)).is_noop


def test_growth_stops_at_max_pods():
    limits = replace(M5_LARGE, max_pods=12)
    node = with_pods(limits, Targets(), 5)
    assert totals(node)[1] == 12  # WARM_ENI_TARGET=1 wants 14 (5 + 9): capped at max pods
    assert decide(node).is_noop
    assert "at max pods" in decide(node).reasons[-1]


def test_interface_limit_reports_unmet_blocks():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 3, assigned=3))
    others = [Interface(f"eni-{n}", n, blocks=ips(f"10.0.{n}", 3, assigned=3)) for n in (1, 2)]
    decision = decide(pool(T3_SMALL, Targets(warm_ip_target=2), primary, *others))
    assert decision.is_noop
    assert decision.unmet_blocks == 2
    assert "interface limit reached" in decision.reasons[-1]


def test_one_request_never_asks_an_interface_for_more_than_it_holds():
    primary = Interface("eni-0", 0, primary=True, blocks=ips("10.0.0", 7, assigned=7))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=12), primary))
    assert [(g.interface_id, g.blocks) for g in decision.grow] == [("eni-0", 2)]
    assert [c.blocks for c in decision.create] == [9, 1]


def test_custom_networking_primary_is_neither_counted_nor_grown():
    primary = Interface("eni-0", 0, primary=True, pods_allowed=False, blocks=ips("10.0.0", 9))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=3), primary))
    assert not decision.grow
    assert [c.blocks for c in decision.create] == [3]


def test_custom_networking_primary_gives_back_its_free_addresses():
    primary = Interface("eni-0", 0, primary=True, pods_allowed=False, blocks=ips("10.0.0", 2))
    pods_eni = Interface("eni-1", 1, blocks=ips("10.1.0", 3))
    decision = decide(pool(M5_LARGE, Targets(warm_ip_target=3), primary, pods_eni))
    assert [(r.interface_id, len(r.cidrs)) for r in decision.release] == [("eni-0", 2)]
    assert not decision.remove


def test_blocks_left_from_another_mode_are_given_back_once_empty():
    legacy = ips("10.0.0", 3, assigned=1)  # secondary IPs from before prefix mode
    prefix = (Block("10.0.5.0/28", 16, assigned=2),)
    primary = Interface("eni-0", 0, primary=True, blocks=legacy + prefix)
    decision = decide(pool(M5_LARGE_PD, Targets(warm_block_target=0), primary))
    assert sorted(c for r in decision.release for c in r.cidrs) == ["10.0.0.1/32", "10.0.0.2/32"]


def test_decision_reasons_name_the_mode_and_the_counts():
    node = with_pods(M5_LARGE, Targets(warm_ip_target=5, minimum_ip_target=10), 0)
    reason = decide(node).reasons[0]
    assert "WARM_IP_TARGET/MINIMUM_IP_TARGET" in reason
    assert "10 available" in reason
