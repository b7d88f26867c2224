"""The in-memory provider keeps the cloud's rules, so daemon tests built on it mean something."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.aws import tags as t
from providers.base import Provider
from providers.errors import (
    CapacityExhausted,
    Conflict,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    ProviderError,
    Throttled,
)
from providers.fake import FakeNode, FakeProvider
from providers.models import AddressBlock, InstanceLimits
from sandbox.clock import FakeClock

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SUBNET = IPv4Network("10.0.1.0/24")


def limits(interfaces: int = 3, per_interface: int = 10) -> InstanceLimits:
    return InstanceLimits("t.test", interfaces, per_interface, 2, True)


def make(
    *,
    prefixlen: int = 32,
    subnet: str = "10.0.1.0/24",
    interfaces: int = 3,
    per_interface: int = 10,
    clock: FakeClock | None = None,
    **kwargs,
) -> FakeProvider:
    node = FakeNode(
        limits=limits(interfaces, per_interface),
        subnet_cidr=IPv4Network(subnet),
        block_prefixlen=prefixlen,
    )
    return FakeProvider(node, clock=clock or FakeClock(T0), **kwargs)


def primary_id(fake: FakeProvider) -> str:
    return fake.discover().primary_interface_id


def nets(*cidrs: str) -> tuple[AddressBlock, ...]:
    return tuple(AddressBlock(IPv4Network(c)) for c in cidrs)


def test_satisfies_the_provider_protocol():
    fake: Provider = make()
    assert isinstance(fake, Provider)
    assert fake.block_prefixlen == 32


def test_discover_describes_the_node_and_its_primary_interface():
    fake = make()
    info = fake.discover()
    assert (info.instance_type, info.subnet_cidr) == ("t.test", SUBNET)
    assert info.primary_ip == IPv4Address("10.0.1.4")  # .0-.3 are AWS-reserved
    (primary,) = fake.cloud_interfaces()
    assert (primary.id, primary.mac, primary.primary_ip) == (
        info.primary_interface_id,
        info.primary_mac,
        info.primary_ip,
    )
    assert (primary.device_index, primary.primary, primary.blocks) == (0, True, ())


def test_grow_hands_out_unique_addresses_sorted():
    fake = make()
    pid = primary_id(fake)
    assert fake.grow(pid, 3) == nets("10.0.1.5/32", "10.0.1.6/32", "10.0.1.7/32")
    assert fake.grow(pid, 1) == nets("10.0.1.8/32")
    assert fake.cloud_interfaces()[0].blocks == nets(*(f"10.0.1.{i}/32" for i in range(5, 9)))


def test_grow_in_prefix_mode_hands_out_aligned_prefixes():
    fake = make(prefixlen=28)
    assert fake.block_prefixlen == 28
    # The first /28 holds the reserved addresses and the primary address.
    assert fake.grow(primary_id(fake), 2) == nets("10.0.1.16/28", "10.0.1.32/28")


def test_grow_with_gce_like_ranges_of_any_length():
    fake = make(prefixlen=26)
    assert fake.grow(primary_id(fake), 2) == nets("10.0.1.64/26", "10.0.1.128/26")


def test_grow_past_the_interface_limit_fails_and_takes_nothing():
    fake = make(per_interface=4)
    pid = primary_id(fake)
    fake.grow(pid, 2)
    free = fake.free_addresses()
    with pytest.raises(LimitExceeded) as raised:
        fake.grow(pid, 2)
    assert raised.value.code == "PrivateIpAddressLimitExceeded"
    assert fake.free_addresses() == free
    assert len(fake.cloud_interfaces()[0].blocks) == 2
    assert len(fake.grow(pid, 1)) == 1


def test_a_prefix_takes_one_slot_like_an_address():
    fake = make(prefixlen=28, per_interface=4)
    pid = primary_id(fake)
    assert len(fake.grow(pid, 3)) == 3
    with pytest.raises(LimitExceeded):
        fake.grow(pid, 1)


def test_full_subnet_fails_with_insufficient_addresses_and_takes_nothing():
    fake = make(subnet="10.0.1.0/28", per_interface=50)  # 16 - 5 reserved - 1 primary = 10
    pid = primary_id(fake)
    with pytest.raises(CapacityExhausted) as raised:
        fake.grow(pid, 11)
    assert raised.value.code == "InsufficientFreeAddressesInSubnet"
    assert fake.free_addresses() == 10
    assert len(fake.grow(pid, 10)) == 10


def test_subnet_without_an_aligned_free_prefix_fails_with_insufficient_cidr_blocks():
    fake = make(prefixlen=28, subnet="10.0.1.0/26")
    pid = primary_id(fake)
    assert fake.grow(pid, 2) == nets("10.0.1.16/28", "10.0.1.32/28")
    with pytest.raises(CapacityExhausted) as raised:
        fake.grow(pid, 1)
    assert raised.value.code == "InsufficientCidrBlocks"
    assert fake.free_addresses() > 16  # addresses remain, just no whole aligned block


def test_grow_on_an_unknown_interface_is_not_found_and_zero_blocks_is_invalid():
    fake = make()
    with pytest.raises(NotFound) as raised:
        fake.grow("eni-nope", 1)
    assert raised.value.code == "InvalidNetworkInterfaceID.NotFound"
    with pytest.raises(InvalidRequest):
        fake.grow(primary_id(fake), 0)


def test_create_interface_attaches_at_the_next_free_index_tagged_as_ours():
    fake = make(cluster_name="prod", additional_tags=(("team", "net"),))
    first = fake.create_interface(2)
    second = fake.create_interface(0)
    assert (first.device_index, second.device_index) == (1, 2)
    assert len(first.blocks) == 2
    assert not first.primary
    assert first.attachment_id is not None
    assert dict(first.tags) == {
        t.NODE_TAG: "i-0fake0000000000001",
        t.CREATED_AT_TAG: "2023-11-14T22:13:20Z",
        t.CLUSTER_TAG: "prod",
        t.OWNER_TAG: t.OWNER,
        "team": "net",
    }
    assert t.is_ours(first.tags)
    records = {e.id: e for e in fake.account_interfaces()}
    assert records[first.id].delete_on_termination
    fake.remove_interface(first.id)
    assert fake.create_interface(1).device_index == 1


def test_create_interface_past_the_instance_limit_fails_and_takes_nothing():
    fake = make(interfaces=2)
    fake.create_interface(1)
    free = fake.free_addresses()
    with pytest.raises(LimitExceeded) as raised:
        fake.create_interface(1)
    assert raised.value.code == "AttachmentLimitExceeded"
    assert fake.free_addresses() == free
    assert len(fake.cloud_interfaces()) == 2


def test_create_interface_with_more_blocks_than_an_interface_holds_fails():
    fake = make(per_interface=4)
    with pytest.raises(LimitExceeded):
        fake.create_interface(4)
    assert len(fake.cloud_interfaces()) == 1


def test_create_interface_in_a_full_subnet_gives_its_primary_address_back():
    fake = make(subnet="10.0.1.0/28", per_interface=50)
    with pytest.raises(CapacityExhausted):
        fake.create_interface(10)  # needs 11 addresses with its own primary one
    assert fake.free_addresses() == 10
    assert len(fake.account_interfaces()) == 1


def test_create_interface_in_another_subnet_for_custom_networking():
    fake = make()
    fake.add_subnet("subnet-pods", IPv4Network("10.0.64.0/20"))
    iface = fake.create_interface(2, subnet_id="subnet-pods", security_groups=["sg-pods"])
    assert (iface.subnet_id, iface.subnet_cidr) == ("subnet-pods", IPv4Network("10.0.64.0/20"))
    assert iface.primary_ip == IPv4Address("10.0.64.4")
    assert iface.gateway == IPv4Address("10.0.64.1")
    assert all(b.cidr.subnet_of(IPv4Network("10.0.64.0/20")) for b in iface.blocks)
    assert iface.security_groups == ("sg-pods",)
    with pytest.raises(NotFound) as raised:
        fake.create_interface(1, subnet_id="subnet-missing")
    assert raised.value.code == "InvalidSubnetID.NotFound"


def test_subnets_must_lie_in_the_vpc_and_not_overlap():
    fake = make()
    with pytest.raises(ValueError, match="outside"):
        fake.add_subnet("subnet-x", IPv4Network("192.168.0.0/24"))
    with pytest.raises(ValueError, match="overlaps"):
        fake.add_subnet("subnet-y", IPv4Network("10.0.1.128/25"))


def test_release_frees_blocks_and_skips_those_not_on_the_interface():
    fake = make()
    pid = primary_id(fake)
    first, *rest = fake.grow(pid, 3)
    free = fake.free_addresses()
    fake.release(pid, [first, *nets("10.0.1.200/32"), first])
    assert fake.cloud_interfaces()[0].blocks == tuple(rest)
    assert fake.free_addresses() == free + 1
    assert fake.grow(pid, 1) == (first,)


def test_released_prefix_goes_back_to_the_subnet():
    fake = make(prefixlen=28, subnet="10.0.1.0/26")
    pid = primary_id(fake)
    blocks = fake.grow(pid, 2)
    fake.release(pid, blocks[:1])
    assert fake.grow(pid, 1) == blocks[:1]


def test_the_primary_interface_cannot_be_removed():
    fake = make()
    with pytest.raises(Conflict) as raised:
        fake.remove_interface(primary_id(fake))
    assert raised.value.code == "OperationNotPermitted"
    assert len(fake.cloud_interfaces()) == 1


def test_an_interface_we_did_not_create_is_not_removed():
    fake = make()
    iface = fake.create_interface(1)
    fake.tag_interface(iface.id, {t.OWNER_TAG: "someone-else"})
    with pytest.raises(Conflict):
        fake.remove_interface(iface.id)
    assert len(fake.cloud_interfaces()) == 2


def test_remove_interface_detaches_deletes_and_frees_its_addresses():
    fake = make()
    free = fake.free_addresses()
    iface = fake.create_interface(3)
    fake.remove_interface(iface.id)
    assert [i.id for i in fake.cloud_interfaces()] == [primary_id(fake)]
    assert iface.id not in {e.id for e in fake.account_interfaces()}
    assert fake.free_addresses() == free
    with pytest.raises(NotFound):
        fake.remove_interface(iface.id)


def test_tag_interface_adds_and_overwrites_but_refuses_reserved_keys():
    fake = make()
    iface = fake.create_interface(0)
    fake.tag_interface(iface.id, {"team": "net", t.NODE_TAG: "i-other"})
    tags = fake.cloud_interfaces()[1].tags
    assert (tags["team"], tags[t.NODE_TAG], tags[t.CREATED_AT_TAG]) == (
        "net",
        "i-other",
        "2023-11-14T22:13:20Z",
    )
    with pytest.raises(InvalidRequest):
        fake.tag_interface(iface.id, {"aws:cloudformation:stack": "x"})
    with pytest.raises(NotFound):
        fake.tag_interface("eni-nope", {"a": "b"})


def test_sweep_deletes_our_detached_interfaces_once_the_grace_period_is_over():
    clock = FakeClock(T0)
    fake = make(clock=clock, leak_grace=600)
    free = fake.free_addresses()
    ours = fake.leak_detached_interface(2)
    clock.advance(1)
    other_node = fake.leak_detached_interface(tags=t.interface_tags("i-gone", clock()))
    foreign = fake.leak_detached_interface(
        tags={t.NODE_TAG: "i-x", t.CREATED_AT_TAG: "2020-01-01T00:00:00Z"}
    )
    attached = fake.create_interface(1)

    clock.advance(598)
    assert fake.sweep_leaks() == ()
    clock.advance(1)
    assert fake.sweep_leaks() == (ours,)
    clock.advance(1)
    assert fake.sweep_leaks() == (other_node,)

    left = {e.id for e in fake.account_interfaces()}
    assert {foreign, attached.id} <= left
    assert {ours, other_node}.isdisjoint(left)
    fake.remove_interface(attached.id)
    assert fake.free_addresses() == free - 1  # only the foreign interface's primary address


def test_sweep_with_a_cluster_name_keeps_to_that_cluster():
    clock = FakeClock(T0)
    fake = make(clock=clock, cluster_name="prod", leak_grace=60)
    same = fake.leak_detached_interface(tags=t.interface_tags("i-gone", T0, "prod"))
    other = fake.leak_detached_interface(tags=t.interface_tags("i-gone", T0, "staging"))
    untagged = fake.leak_detached_interface(tags=t.interface_tags("i-gone", T0))
    clock.advance(60)
    assert fake.sweep_leaks() == (same,)
    assert {other, untagged} <= {e.id for e in fake.account_interfaces()}


def test_sweep_deletes_at_most_the_configured_number_per_call():
    clock = FakeClock(T0)
    fake = make(clock=clock, leak_grace=60, leak_sweep_max=2)
    leaked = [fake.leak_detached_interface() for _ in range(5)]
    clock.advance(60)
    swept = [fake.sweep_leaks() for _ in range(4)]
    assert [len(s) for s in swept] == [2, 2, 1, 0]
    assert sorted(i for s in swept for i in s) == sorted(leaked)


def test_sweep_dates_an_undated_leak_and_deletes_it_a_grace_period_later():
    clock = FakeClock(T0)
    fake = make(clock=clock, leak_grace=60)
    undated = fake.leak_detached_interface(
        tags={t.OWNER_TAG: t.OWNER, t.NODE_TAG: "i-0fake0000000000001"}
    )
    clock.advance(10_000)
    assert fake.sweep_leaks() == ()
    (record,) = [e for e in fake.account_interfaces() if e.id == undated]
    assert t.parse_created_at(record.tags[t.CREATED_AT_TAG]) == clock()
    clock.advance(60)
    assert fake.sweep_leaks() == (undated,)


def test_node_scoped_calls_refuse_an_interface_not_attached_here():
    fake = make()
    leaked = fake.leak_detached_interface(1)
    assert leaked not in {i.id for i in fake.cloud_interfaces()}
    for call in (
        lambda: fake.grow(leaked, 1),
        lambda: fake.release(leaked, ()),
        lambda: fake.remove_interface(leaked),
    ):
        with pytest.raises(Conflict):
            call()


def test_metadata_view_lags_new_attachments_and_blocks_but_the_api_does_not():
    clock = FakeClock(T0)
    fake = make(clock=clock, metadata_lag=5.0)
    pid = primary_id(fake)
    old = fake.grow(pid, 1)
    clock.advance(5)
    new = fake.grow(pid, 2)
    iface = fake.create_interface(1)

    local, cloud = fake.local_interfaces(), fake.cloud_interfaces()
    assert [i.id for i in cloud] == [pid, iface.id]
    assert [i.id for i in local] == [pid]
    assert cloud[0].blocks == old + new
    assert local[0].blocks == old
    clock.advance(5)
    assert [i.blocks for i in fake.local_interfaces()] == [i.blocks for i in cloud]


def test_metadata_view_has_no_tags_or_attachment_id_like_imds():
    fake = make()
    iface = fake.create_interface(1)
    local = fake.local_interfaces()[1]
    assert (local.id, local.blocks, local.primary_ip) == (iface.id, iface.blocks, iface.primary_ip)
    assert (dict(local.tags), local.attachment_id) == ({}, None)
    assert iface.attachment_id is not None


def test_without_lag_both_views_hold_the_same_blocks():
    fake = make()
    fake.grow(primary_id(fake), 2)
    fake.create_interface(1)
    local, cloud = fake.local_interfaces(), fake.cloud_interfaces()
    assert [(i.id, i.blocks) for i in local] == [(i.id, i.blocks) for i in cloud]


def test_scripted_fault_raises_the_given_times_and_changes_nothing():
    fake = make()
    pid = primary_id(fake)
    error = Throttled("slow down", code="RequestLimitExceeded")
    fake.fail("grow", error, times=2)
    free = fake.free_addresses()
    for _ in range(2):
        with pytest.raises(Throttled) as raised:
            fake.grow(pid, 1)
        assert raised.value is error
    assert fake.free_addresses() == free
    assert fake.cloud_interfaces()[0].blocks == ()
    assert len(fake.grow(pid, 1)) == 1
    assert [name for name, _ in fake.calls].count("grow") == 3
    with pytest.raises(ValueError):
        fake.fail("no_such_method", error)


def test_faults_apply_to_reads_too():
    fake = make()
    fake.fail("cloud_interfaces", ProviderError("down"))
    with pytest.raises(ProviderError):
        fake.cloud_interfaces()
    assert len(fake.cloud_interfaces()) == 1


def test_call_log_holds_every_call_with_all_arguments_frozen():
    fake = make()
    pid = primary_id(fake)
    blocks = list(fake.grow(pid, 1))
    fake.create_interface(2, security_groups=["sg-1"])
    fake.release(pid, blocks)
    blocks.clear()
    assert fake.calls == [
        ("discover", ()),
        ("grow", (pid, 1)),
        ("create_interface", (2, None, ("sg-1",))),
        ("release", (pid, nets("10.0.1.5/32"))),
    ]


def test_mutating_calls_count_only_state_changing_methods():
    fake = make()
    pid = primary_id(fake)
    fake.cloud_interfaces()
    fake.local_interfaces()
    fake.grow(pid, 1)
    fake.tag_interface(pid, {"a": "b"})
    with pytest.raises(InvalidRequest):
        fake.grow(pid, 0)
    fake.sweep_leaks()
    assert fake.mutating_calls() == 4


def test_returned_values_are_frozen_and_detached_from_state():
    fake = make()
    iface = fake.create_interface(1)
    with pytest.raises(FrozenInstanceError):
        iface.blocks = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        iface.tags["x"] = "y"  # type: ignore[index]
    fake.tag_interface(iface.id, {"x": "y"})
    assert "x" not in iface.tags


def test_concurrent_growth_never_hands_out_an_address_twice():
    fake = make(interfaces=1, per_interface=60)
    pid = primary_id(fake)
    got: list[AddressBlock] = []
    lock = threading.Lock()

    def grow() -> None:
        for _ in range(6):
            blocks = fake.grow(pid, 1)
            with lock:
                got.extend(blocks)

    workers = [threading.Thread(target=grow) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(got) == len(set(got)) == 48
    assert set(fake.cloud_interfaces()[0].blocks) == set(got)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("grow"), st.integers(0, 3), st.integers(1, 5)),
        st.tuples(st.just("create"), st.integers(0, 3), st.integers(0, 5)),
        st.tuples(st.just("release"), st.integers(0, 3), st.integers(0, 255)),
        st.tuples(st.just("remove"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("leak"), st.just(0), st.integers(0, 2)),
    ),
    max_size=30,
)
EXPECTED = (LimitExceeded, CapacityExhausted, Conflict)


def check_invariants(fake: FakeProvider, subnet: IPv4Network) -> None:
    attached = fake.cloud_interfaces()
    per_interface = fake.node.limits.blocks_per_interface
    assert len(attached) <= fake.node.limits.max_interfaces
    assert (attached[0].primary, attached[0].device_index) == (True, 0)
    assert len({i.device_index for i in attached}) == len(attached)
    assert all(len(i.blocks) <= per_interface for i in attached)
    held = [IPv4Network(e.primary_ip) for e in fake.account_interfaces()]
    held += [b for e in fake.account_interfaces() for b in e.blocks]
    for n, a in enumerate(held):
        assert a.subnet_of(subnet)
        assert all(not a.overlaps(b) for b in held[n + 1 :]), f"{a} is held twice"
    assert fake.free_addresses() == subnet.num_addresses - 5 - sum(h.num_addresses for h in held)


@settings(max_examples=150, deadline=None)
@given(prefixlen=st.sampled_from([32, 28]), ops=OPS)
def test_no_block_is_ever_held_twice_and_every_limit_holds(prefixlen, ops):
    subnet = IPv4Network("10.0.1.0/25")
    fake = make(prefixlen=prefixlen, subnet=str(subnet), interfaces=3, per_interface=5)
    for op, which, n in ops:
        ifaces = fake.cloud_interfaces()
        target = ifaces[which % len(ifaces)]
        try:
            if op == "grow":
                fake.grow(target.id, n)
            elif op == "create":
                fake.create_interface(n)
            elif op == "release":
                chosen = [b for k, b in enumerate(target.blocks) if n >> k & 1]
                fake.release(target.id, chosen)
            elif op == "remove":
                fake.remove_interface(target.id)
            else:
                fake.leak_detached_interface(n)
        except EXPECTED:
            pass
        check_invariants(fake, subnet)
