"""Subnet arithmetic: unique addresses, aligned disjoint prefixes, AWS's reserved five."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.addressing import AddressInUse, Shortage, SubnetAllocator, SubnetFull

SUBNET = IPv4Network("10.0.1.0/26")


def test_aws_reserves_first_four_and_last_address():
    alloc = SubnetAllocator.aws(SUBNET)
    assert alloc.free_addresses() == 64 - 5
    assert alloc.allocate(1) == (IPv4Address("10.0.1.4"),)
    assert not alloc.is_free(IPv4Address("10.0.1.63"))


def test_first_and_last_prefix_blocks_are_never_handed_out():
    alloc = SubnetAllocator.aws(SUBNET)
    assert alloc.allocate_prefixes(2) == (
        IPv4Network("10.0.1.16/28"),
        IPv4Network("10.0.1.32/28"),
    )
    with pytest.raises(SubnetFull) as failed:
        alloc.allocate_prefixes(1)
    assert failed.value.shortage is Shortage.PREFIXES


def test_fragmented_subnet_has_addresses_but_no_prefix():
    alloc = SubnetAllocator.aws(SUBNET)
    for block in (16, 32):
        alloc.take(IPv4Address(f"10.0.1.{block + 1}"))
    assert alloc.free_addresses() > 16
    with pytest.raises(SubnetFull) as failed:
        alloc.allocate_prefixes(1)
    assert failed.value.shortage is Shortage.PREFIXES


def test_exhausted_subnet_fails_without_taking_anything():
    alloc = SubnetAllocator.aws(SUBNET)
    alloc.allocate(50)
    with pytest.raises(SubnetFull) as failed:
        alloc.allocate(10)
    assert failed.value.shortage is Shortage.ADDRESSES
    assert alloc.free_addresses() == 9
    assert len(alloc.allocate(9)) == 9


def test_specific_address_inside_a_prefix_is_refused():
    alloc = SubnetAllocator.aws(SUBNET)
    (prefix,) = alloc.allocate_prefixes(1)
    with pytest.raises(AddressInUse):
        alloc.take(prefix.network_address + 3)


def test_released_prefix_can_be_handed_out_again():
    alloc = SubnetAllocator.aws(SUBNET)
    (prefix,) = alloc.allocate_prefixes(1)
    alloc.release_prefix(prefix)
    assert alloc.allocate_prefixes(1) == (prefix,)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 4)), max_size=12))
def test_holdings_never_overlap(requests):
    alloc = SubnetAllocator.aws(IPv4Network("10.0.0.0/25"))
    held: list[IPv4Network] = []
    for as_prefix, count in requests:
        try:
            if as_prefix:
                held += alloc.allocate_prefixes(count)
            else:
                held += [IPv4Network(a) for a in alloc.allocate(count)]
        except SubnetFull:
            continue
    for i, a in enumerate(held):
        assert all(not a.overlaps(b) for b in held[i + 1 :])
        assert a.subnet_of(IPv4Network("10.0.0.0/25"))
