"""The EKS max-pods rule, checked against aws-node's eni-max-pods.txt and the EKS calculator."""

from __future__ import annotations

import pytest

from warmpool import max_pods


@pytest.mark.parametrize(
    ("instance", "enis", "ipv4", "expected"),
    [
        ("t3.small", 3, 4, 11),
        ("m5.large", 3, 10, 29),
        ("m5.xlarge", 4, 15, 58),
        ("c5.18xlarge", 15, 50, 737),
        ("p3dn.24xlarge", 15, 50, 737),
    ],
)
def test_secondary_ip_mode_matches_eni_max_pods_table(instance, enis, ipv4, expected):
    assert max_pods(enis, ipv4) == expected, instance


def test_custom_networking_does_not_count_the_primary_interface():
    assert max_pods(3, 4, custom_networking=True) == 8  # t2.small: 2 x 3 + 2
    assert max_pods(3, 10, custom_networking=True) == 20  # m5.large


def test_prefix_mode_is_capped_at_110_up_to_30_vcpus():
    assert max_pods(3, 10, prefix_delegation=True, vcpus=2) == 110  # 3 x 9 x 16 + 2 = 434
    assert max_pods(2, 2, prefix_delegation=True, vcpus=30) == 34  # under the cap


def test_prefix_mode_is_capped_at_250_above_30_vcpus():
    assert max_pods(15, 50, prefix_delegation=True, vcpus=96) == 250
    assert max_pods(15, 50, prefix_delegation=True, vcpus=31) == 250


def test_prefix_mode_with_custom_networking():
    assert max_pods(2, 2, prefix_delegation=True, vcpus=2, custom_networking=True) == 18


def test_prefix_mode_needs_the_vcpu_count():
    with pytest.raises(ValueError, match="vcpus"):
        max_pods(3, 10, prefix_delegation=True)


@pytest.mark.parametrize(("enis", "ipv4"), [(0, 10), (3, 0)])
def test_rejects_impossible_limits(enis, ipv4):
    with pytest.raises(ValueError, match=">= 1"):
        max_pods(enis, ipv4)
