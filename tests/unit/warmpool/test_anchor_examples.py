"""aws-node's documented examples, replayed: pods arrive one by one, the pool settles each time.

Sources: amazon-vpc-cni-k8s docs/eni-and-ip-target.md and docs/prefix-and-ip-target.md.
Where a documented row contradicts itself, the test says so and checks the arithmetic the
row's own notes describe.
"""

from __future__ import annotations

import pytest

from tests.unit.warmpool.node import (
    addresses_per_interface,
    blocks_per_interface,
    totals,
    with_pods,
)
from warmpool import Limits, Targets, max_pods


def ip_mode(enis: int, ipv4_per_eni: int) -> Limits:
    return Limits(
        max_interfaces=enis,
        blocks_per_interface=ipv4_per_eni - 1,
        block_size=1,
        max_pods=max_pods(enis, ipv4_per_eni),
    )


def prefix_mode(enis: int, ipv4_per_eni: int, vcpus: int) -> Limits:
    return Limits(
        max_interfaces=enis,
        blocks_per_interface=ipv4_per_eni - 1,
        block_size=16,
        max_pods=max_pods(enis, ipv4_per_eni, prefix_delegation=True, vcpus=vcpus),
    )


T3_SMALL = ip_mode(3, 4)
P3DN_24XLARGE = ip_mode(15, 50)
M5_LARGE = ip_mode(3, 10)
T3_SMALL_PD = prefix_mode(3, 4, vcpus=2)
P3DN_24XLARGE_PD = prefix_mode(15, 50, vcpus=96)
M5_LARGE_PD = prefix_mode(3, 10, vcpus=2)

WARM_ENI_1 = Targets(warm_interface_target=1)


def ip_targets(warm: int, minimum: int) -> Targets:
    # WARM_ENI_TARGET keeps its default of 1: IP targets must take precedence over it.
    return Targets(warm_interface_target=1, warm_ip_target=warm, minimum_ip_target=minimum)


SECONDARY_IP_ROWS = [
    # limits, targets, pods, ENIs, secondary IPs, unused IPs, IPs per ENI
    (T3_SMALL, WARM_ENI_1, 0, 1, 3, 3, [3]),
    (T3_SMALL, WARM_ENI_1, 5, 3, 9, 4, [3, 3, 3]),
    (T3_SMALL, WARM_ENI_1, 9, 3, 9, 0, [3, 3, 3]),
    (T3_SMALL, ip_targets(1, 1), 0, 1, 1, 1, [1]),
    (T3_SMALL, ip_targets(1, 1), 5, 2, 6, 1, [3, 3]),
    (T3_SMALL, ip_targets(1, 1), 9, 3, 9, 0, [3, 3, 3]),
    (T3_SMALL, ip_targets(2, 5), 0, 2, 5, 5, [2, 3]),
    (T3_SMALL, ip_targets(2, 5), 5, 3, 7, 2, [1, 3, 3]),
    (T3_SMALL, ip_targets(2, 5), 9, 3, 9, 0, [3, 3, 3]),
    (P3DN_24XLARGE, WARM_ENI_1, 0, 1, 49, 49, [49]),
    (P3DN_24XLARGE, WARM_ENI_1, 3, 2, 98, 95, [49, 49]),
    (P3DN_24XLARGE, WARM_ENI_1, 95, 3, 147, 52, [49, 49, 49]),
    (P3DN_24XLARGE, ip_targets(5, 10), 0, 1, 10, 10, [10]),
    (P3DN_24XLARGE, ip_targets(5, 10), 7, 1, 12, 5, [12]),
    (P3DN_24XLARGE, ip_targets(5, 10), 15, 1, 20, 5, [20]),
    (P3DN_24XLARGE, ip_targets(5, 10), 45, 2, 50, 5, [1, 49]),
    # The m5.large cases of the EKS user guide (3 ENIs x 10 addresses, 9 secondary each).
    (M5_LARGE, WARM_ENI_1, 0, 1, 9, 9, [9]),
    (M5_LARGE, WARM_ENI_1, 3, 2, 18, 15, [9, 9]),
    (M5_LARGE, ip_targets(5, 10), 0, 2, 10, 10, [1, 9]),
    (M5_LARGE, ip_targets(5, 10), 3, 2, 10, 7, [1, 9]),
    (M5_LARGE, ip_targets(5, 10), 8, 2, 13, 5, [4, 9]),
]


@pytest.mark.parametrize(
    ("limits", "targets", "pods", "enis", "ips", "unused", "per_eni"), SECONDARY_IP_ROWS
)
def test_secondary_ip_mode_settles_where_the_anchor_documents(
    limits, targets, pods, enis, ips, unused, per_eni
):
    node = with_pods(limits, targets, pods)
    assert totals(node) == (enis, ips, unused)
    assert addresses_per_interface(node) == per_eni


PREFIX_ROWS = [
    # limits, targets, pods, attached prefixes, unused IPs, prefixes per ENI
    (T3_SMALL_PD, Targets(warm_block_target=1), 0, 1, 16, [1]),
    (T3_SMALL_PD, Targets(warm_block_target=1), 5, 2, 27, [2]),
    (T3_SMALL_PD, Targets(warm_block_target=1), 16, 2, 16, [2]),
    (T3_SMALL_PD, Targets(warm_block_target=1), 17, 3, 31, [3]),
    (T3_SMALL_PD, Targets(warm_block_target=1), 58, 5, 22, [2, 3]),
    (T3_SMALL_PD, ip_targets(1, 1), 0, 1, 16, [1]),
    (T3_SMALL_PD, ip_targets(1, 1), 5, 1, 11, [1]),
    (T3_SMALL_PD, ip_targets(1, 1), 17, 2, 15, [2]),
    (T3_SMALL_PD, ip_targets(1, 1), 58, 4, 6, [1, 3]),
    # The document's 0-pod row for 7/20 lists "1 prefix, 16 unused" next to "2 prefixes per
    # ENI"; its own note says MINIMUM_IP_TARGET=20 means 32 addresses, i.e. 2 prefixes.
    (T3_SMALL_PD, ip_targets(7, 20), 0, 2, 32, [2]),
    (T3_SMALL_PD, ip_targets(7, 20), 5, 2, 27, [2]),
    (T3_SMALL_PD, ip_targets(7, 20), 17, 2, 15, [2]),
    (T3_SMALL_PD, ip_targets(7, 20), 58, 5, 22, [2, 3]),
    # p3dn rows: the document shows extra empty ENIs left by old releases; prefixes and unused
    # addresses are what the targets define, and they match. We pack onto one interface.
    (P3DN_24XLARGE_PD, Targets(warm_block_target=1), 0, 1, 16, [1]),
    (P3DN_24XLARGE_PD, Targets(warm_block_target=1), 3, 2, 29, [2]),
    (P3DN_24XLARGE_PD, Targets(warm_block_target=1), 95, 7, 17, [7]),
    (P3DN_24XLARGE_PD, ip_targets(5, 10), 0, 1, 16, [1]),
    (P3DN_24XLARGE_PD, ip_targets(5, 10), 7, 1, 9, [1]),
    (P3DN_24XLARGE_PD, ip_targets(5, 10), 15, 2, 17, [2]),
    (P3DN_24XLARGE_PD, ip_targets(5, 10), 45, 4, 19, [4]),
    (M5_LARGE_PD, Targets(warm_block_target=1), 0, 1, 16, [1]),
    (M5_LARGE_PD, Targets(warm_block_target=1), 20, 3, 28, [3]),
]


@pytest.mark.parametrize(
    ("limits", "targets", "pods", "prefixes", "unused", "per_eni"), PREFIX_ROWS
)
def test_prefix_mode_settles_where_the_anchor_documents(
    limits, targets, pods, prefixes, unused, per_eni
):
    node = with_pods(limits, targets, pods)
    _, _, unused_now = totals(node)
    assert sum(len(i.blocks) for i in node.interfaces) == prefixes
    assert unused_now == unused
    assert blocks_per_interface(node) == per_eni


def test_warm_eni_target_is_ignored_in_prefix_mode():
    # With WARM_PREFIX_TARGET unset, aws-node asks for one prefix only when none is free.
    node = with_pods(T3_SMALL_PD, Targets(warm_interface_target=3), 1)
    assert totals(node) == (1, 16, 15)


def test_warm_prefix_target_is_ignored_in_secondary_ip_mode():
    node = with_pods(M5_LARGE, Targets(warm_interface_target=1, warm_block_target=5), 0)
    assert totals(node) == (1, 9, 9)
