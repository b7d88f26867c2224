"""The Provider contract, run unchanged against every back end (tests/providers/backends.py)."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network

import pytest

from providers.base import Provider
from providers.errors import CapacityExhausted, Conflict, LimitExceeded, NotFound
from providers.models import AddressBlock, CloudInterface
from tests.providers.backends import CLUSTER, LEAK_GRACE, LEAK_SWEEP_MAX, VPC, Backend


def by_id(provider: Provider) -> dict[str, CloudInterface]:
    return {i.id: i for i in provider.cloud_interfaces()}


def all_blocks(provider: Provider) -> list[IPv4Network]:
    return [b.cidr for i in provider.cloud_interfaces() for b in i.blocks]


def assert_disjoint(nets: list[IPv4Network]) -> None:
    for n, a in enumerate(nets):
        assert not any(a.overlaps(b) for b in nets[n + 1 :]), f"{a} overlaps"


def test_discover_describes_the_node(backend: Backend):
    node = backend.provider.discover()
    assert node.instance_type == "m5.large"
    assert (node.limits.max_interfaces, node.limits.ipv4_per_interface) == (3, 10)
    assert node.limits.blocks_per_interface == 9
    assert node.primary_ip in node.subnet_cidr
    assert any(node.subnet_cidr.subnet_of(v) for v in node.vpc_cidrs)
    assert node.security_groups
    assert backend.provider.discover() == node


def test_vpc_cidrs_are_read_fresh_so_a_new_vpc_cidr_shows(backend: Backend):
    assert backend.provider.vpc_cidrs() == backend.provider.discover().vpc_cidrs
    backend.grow_vpc(IPv4Network("100.64.0.0/16"))
    assert backend.provider.vpc_cidrs() == (VPC, IPv4Network("100.64.0.0/16"))


def test_a_new_node_holds_only_its_primary_interface(backend: Backend):
    node = backend.provider.discover()
    (primary,) = backend.provider.cloud_interfaces()
    assert primary.primary and primary.device_index == 0
    assert primary.id == node.primary_interface_id
    assert primary.primary_ip == node.primary_ip
    assert primary.blocks == ()
    assert primary.gateway == node.subnet_cidr.network_address + 1


def test_grow_assigns_unique_addresses_seen_by_both_views(backend: Backend):
    provider = backend.provider
    primary = provider.discover().primary_interface_id
    given = provider.grow(primary, 3)
    assert len(given) == 3 and all(b.is_single_address for b in given)
    assert all(b.cidr.subnet_of(provider.discover().subnet_cidr) for b in given)
    assert by_id(provider)[primary].blocks == tuple(sorted(given))
    (local,) = provider.local_interfaces()
    assert local.blocks == tuple(sorted(given))
    assert provider.discover().primary_ip not in [b.cidr.network_address for b in given]


def test_grow_past_the_interface_limit_fails_and_assigns_nothing(backend: Backend):
    provider = backend.provider
    primary = provider.discover().primary_interface_id
    provider.grow(primary, 8)
    with pytest.raises(LimitExceeded):
        provider.grow(primary, 2)
    assert len(by_id(provider)[primary].blocks) == 8
    provider.grow(primary, 1)
    assert len(by_id(provider)[primary].blocks) == 9


def test_create_interface_attaches_tagged_interface_with_its_first_blocks(backend: Backend):
    provider = backend.provider
    created = provider.create_interface(4)
    assert created.device_index == 1 and not created.primary
    assert len(created.blocks) == 4
    seen = by_id(provider)[created.id]
    assert seen.blocks == created.blocks
    assert seen.tags.get("node.k8s.amazonaws.com/instance_id") == provider.discover().instance_id
    assert seen.tags.get("cluster.k8s.amazonaws.com/name") == CLUSTER
    assert seen.attachment_id
    assert {i.id for i in provider.local_interfaces()} == set(by_id(provider))
    assert_disjoint(
        all_blocks(provider) + [IPv4Network(i.primary_ip) for i in provider.cloud_interfaces()]
    )


def test_create_past_the_attachment_limit_fails(backend: Backend):
    provider = backend.provider
    provider.create_interface(1)
    provider.create_interface(1)
    with pytest.raises(LimitExceeded):
        provider.create_interface(1)
    assert len(provider.cloud_interfaces()) == 3


def test_release_gives_back_held_blocks_and_skips_others(backend: Backend):
    provider = backend.provider
    primary = provider.discover().primary_interface_id
    given = provider.grow(primary, 4)
    stranger = AddressBlock(IPv4Network("10.99.0.1/32"))
    provider.release(primary, [given[0], given[2], stranger])
    assert by_id(provider)[primary].blocks == (given[1], given[3])
    again = provider.grow(primary, 2)  # the released ones are free again
    assert len(again) == 2


def test_remove_interface_detaches_and_deletes_it(backend: Backend):
    provider = backend.provider
    created = provider.create_interface(2)
    provider.remove_interface(created.id)
    assert created.id not in by_id(provider)
    assert not backend.exists(created.id)
    replacement = provider.create_interface(1)  # its device index is free again
    assert replacement.device_index == 1


def test_the_primary_interface_is_never_removed(backend: Backend):
    provider = backend.provider
    with pytest.raises(Conflict):
        provider.remove_interface(provider.discover().primary_interface_id)
    assert len(provider.cloud_interfaces()) == 1


def test_unknown_interface_is_not_found(backend: Backend):
    provider = backend.provider
    with pytest.raises(NotFound):
        provider.remove_interface("eni-0000000000000dead")
    with pytest.raises(NotFound):
        provider.release("eni-0000000000000dead", [])


def test_an_interface_of_another_owner_is_left_alone(backend: Backend):
    provider = backend.provider
    foreign = backend.leak(False)
    with pytest.raises(Conflict):
        provider.remove_interface(foreign)
    assert backend.exists(foreign)


def test_tags_are_added_and_overwritten(backend: Backend):
    provider = backend.provider
    created = provider.create_interface(1)
    provider.tag_interface(created.id, {"team": "net", "cluster.k8s.amazonaws.com/name": "x"})
    tags = by_id(provider)[created.id].tags
    assert tags["team"] == "net" and tags["cluster.k8s.amazonaws.com/name"] == "x"


def test_prefix_mode_hands_out_aligned_disjoint_prefixes(make_backend: Callable[..., Backend]):
    backend = make_backend(prefix_delegation=True)
    provider = backend.provider
    assert provider.block_prefixlen == 28
    given = provider.grow(provider.discover().primary_interface_id, 3)
    created = provider.create_interface(2)
    prefixes = [b.cidr for b in (*given, *created.blocks)]
    assert all(p.prefixlen == 28 for p in prefixes)
    assert all(int(p.network_address) % 16 == 0 for p in prefixes)
    assert_disjoint(prefixes + [IPv4Network(i.primary_ip) for i in provider.cloud_interfaces()])
    provider.release(created.id, created.blocks[:1])
    assert by_id(provider)[created.id].blocks == created.blocks[1:]


def test_exhausted_subnet_is_capacity_exhausted(make_backend: Callable[..., Backend]):
    # A /27 has 32 addresses, 5 reserved by AWS, 1 the node's own: 26 left. 9 secondaries and
    # a second interface (its own address + 9) leave 7; a third interface needs 10.
    backend = make_backend(subnet=IPv4Network("10.0.1.0/27"))
    provider = backend.provider
    provider.grow(provider.discover().primary_interface_id, 9)
    provider.create_interface(9)
    with pytest.raises(CapacityExhausted) as failed:
        provider.create_interface(9)
    assert failed.value.code == "InsufficientFreeAddressesInSubnet"
    assert len(provider.cloud_interfaces()) == 2  # nothing half-created
    third = provider.create_interface(6)  # what is left still serves
    assert len(third.blocks) == 6
    with pytest.raises(CapacityExhausted):
        provider.grow(third.id, 1)


def test_fragmented_subnet_has_no_prefix_to_give(make_backend: Callable[..., Backend]):
    backend = make_backend(subnet=IPv4Network("10.0.1.0/26"), prefix_delegation=True)
    provider = backend.provider
    primary = provider.discover().primary_interface_id
    # /26 = four /28s: the first holds the reserved addresses and the primary, the last the
    # broadcast address: two prefixes fit, the third does not.
    provider.grow(primary, 2)
    with pytest.raises(CapacityExhausted) as failed:
        provider.grow(primary, 1)
    assert failed.value.code == "InsufficientCidrBlocks"
    assert len(by_id(provider)[primary].blocks) == 2


def test_leak_sweep_deletes_only_old_detached_interfaces_of_ours(backend: Backend):
    provider = backend.provider
    old = [backend.leak(True) for _ in range(3)]
    foreign = backend.leak(False)
    backend.clock.advance(LEAK_GRACE + 1)
    young = backend.leak(True)
    attached = provider.create_interface(1)

    first = provider.sweep_leaks()
    assert len(first) == LEAK_SWEEP_MAX  # bounded per run
    assert set(first) <= set(old)
    second = provider.sweep_leaks()
    assert set(first) | set(second) == set(old)
    assert provider.sweep_leaks() == ()
    for kept in (foreign, young, attached.id):
        assert backend.exists(kept)
    assert not any(backend.exists(i) for i in old)
