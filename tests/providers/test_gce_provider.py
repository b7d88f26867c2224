"""GceProvider against the Compute Engine and metadata emulators over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest
from google.api_core.exceptions import PreconditionFailed
from google.cloud import compute_v1

from config import load_settings
from providers.errors import (
    CapacityExhausted,
    Conflict,
    LimitExceeded,
    Throttled,
)
from providers.gce.factory import gce_clients
from providers.gce.metadata import MetadataClient
from providers.gce.provider import NIC, GceOptions, GceProvider
from providers.models import AddressBlock
from providers.ratelimit import RateLimiter
from providers.retry import CallPolicy
from sandbox.clock import SystemClock
from sandbox.gce import ComputeEmulator

ZONE = "us-central1-a"
PODS = IPv4Network("10.64.0.0/20")
NODES = IPv4Network("10.128.0.0/24")


@pytest.fixture
def gce() -> Iterator[ComputeEmulator]:
    with ComputeEmulator(clock=SystemClock()) as emulator:
        emulator.create_network("vpc")
        emulator.create_subnetwork(
            "nodes", "vpc", str(NODES), {"pods": str(PODS), "small": "10.96.0.0/26"}
        )
        emulator.create_instance("node-a", ZONE, "nodes")
        emulator.create_instance("node-b", ZONE, "nodes")
        yield emulator


def provider_for(gce: ComputeEmulator, instance: str = "node-a", **options: object) -> GceProvider:
    rates = load_settings({"VPC_IPAM_GCE_RATE": "1000", "VPC_IPAM_GCE_BURST": "1000"}).rate_limits
    policy = CallPolicy(RateLimiter.for_gce(rates), attempts=5, deadline=20, max_backoff=0.2)
    return GceProvider(
        gce_clients(gce.endpoint, anonymous=True),
        MetadataClient(gce.metadata_host(instance)),
        policy,
        GceOptions(pod_range_name=str(options.pop("pod_range_name", "pods")), **options),  # type: ignore[arg-type]
    )


@pytest.fixture
def provider(gce: ComputeEmulator) -> GceProvider:
    return provider_for(gce)


def test_discover_describes_the_node_from_metadata_and_its_subnetwork(
    gce: ComputeEmulator, provider: GceProvider
):
    node = provider.discover()
    instance = gce.instance("node-a")
    assert (node.instance_id, node.zone, node.region) == (instance.id, ZONE, "us-central1")
    assert node.primary_ip == IPv4Address(instance.network_ip)
    assert node.primary_mac == instance.mac
    assert node.subnet_cidr == NODES
    assert node.vpc_cidrs == tuple(sorted([NODES, PODS, IPv4Network("10.96.0.0/26")]))
    assert node.limits.max_interfaces == 1 and node.limits.blocks_per_interface == 150
    assert provider.block_prefixlen == 28


def test_grow_adds_aligned_ranges_of_the_pod_range_seen_by_both_views(provider: GceProvider):
    given = provider.grow(NIC, 3)
    assert len(given) == 3
    assert all(b.cidr.prefixlen == 28 and b.cidr.subnet_of(PODS) for b in given)
    (cloud,) = provider.cloud_interfaces()
    (local,) = provider.local_interfaces()
    assert cloud.blocks == local.blocks == tuple(sorted(given))
    assert cloud.primary and cloud.id == NIC


def test_release_gives_back_only_the_named_ranges(gce: ComputeEmulator, provider: GceProvider):
    first, second = provider.grow(NIC, 2)
    provider.release(NIC, [first])
    (cloud,) = provider.cloud_interfaces()
    assert cloud.blocks == (second,)
    updates = gce.call_counts().get("instances.updateNetworkInterface", 0)
    provider.release(NIC, [first])  # no longer there: nothing to send
    assert gce.call_counts().get("instances.updateNetworkInterface", 0) == updates


def test_ranges_of_other_secondary_ranges_are_kept_and_never_counted(
    gce: ComputeEmulator, provider: GceProvider
):
    other = provider_for(gce, pod_range_name="small")
    (foreign,) = other.grow(NIC, 1)
    mine = provider.grow(NIC, 2)
    provider.release(NIC, list(mine))
    (cloud,) = provider.cloud_interfaces()
    assert cloud.blocks == ()
    assert gce.alias_ranges("node-a") == [str(foreign.cidr)]


def test_concurrent_writers_racing_on_the_fingerprint_both_survive(
    gce: ComputeEmulator, provider: GceProvider
):
    gce.set_operation_delay(0.2)
    rival = provider_for(gce)
    results: list[tuple[AddressBlock, ...]] = []
    errors: list[BaseException] = []

    def grow(who: GceProvider) -> None:
        try:
            results.append(who.grow(NIC, 2))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=grow, args=(p,)) for p in (provider, rival)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(gce.alias_ranges("node-a")) == 4
    assert len({b for r in results for b in r}) == 4


def test_a_failed_operation_is_an_error_and_changes_nothing(
    gce: ComputeEmulator, provider: GceProvider
):
    provider.grow(NIC, 1)
    before = gce.alias_ranges("node-a")
    gce.fail_next_operation("IP_SPACE_EXHAUSTED", "no room left in range pods")
    with pytest.raises(CapacityExhausted):
        provider.grow(NIC, 1)
    assert gce.alias_ranges("node-a") == before


def test_an_exhausted_range_is_capacity_exhausted(gce: ComputeEmulator):
    small = provider_for(gce, pod_range_name="small")
    assert len(small.grow(NIC, 4)) == 4  # a /26 holds four /28s
    with pytest.raises(CapacityExhausted):
        small.grow(NIC, 1)


def test_throttling_is_retried_then_reported(gce: ComputeEmulator, provider: GceProvider):
    provider.discover()
    gce.throttle(burst=1, rate=0)  # one call (the read), then nothing
    with pytest.raises(Throttled):
        provider.grow(NIC, 1)
    assert gce.throttled_counts()
    gce.unthrottle()
    assert len(provider.grow(NIC, 1)) == 1


def test_the_150_range_limit_is_refused_before_any_call(
    gce: ComputeEmulator, provider: GceProvider
):
    assert len(provider.grow(NIC, 150)) == 150
    updates = gce.call_counts()["instances.updateNetworkInterface"]
    with pytest.raises(LimitExceeded, match="150"):
        provider.grow(NIC, 1)
    assert gce.call_counts()["instances.updateNetworkInterface"] == updates


def test_the_one_nic_can_be_neither_added_to_nor_removed(provider: GceProvider):
    with pytest.raises(LimitExceeded):
        provider.create_interface(1)
    with pytest.raises(Conflict):
        provider.remove_interface(NIC)
    assert provider.sweep_leaks() == ()


def test_a_stale_fingerprint_written_by_hand_is_refused_by_the_emulator(gce: ComputeEmulator):
    """The compare-and-swap the provider relies on: a write with an old fingerprint loses."""
    client = compute_v1.InstancesClient(**gce.client_kwargs())
    nic = client.get(project=gce.project, zone=ZONE, instance="node-a").network_interfaces[0]
    provider_for(gce).grow(NIC, 1)
    stale = compute_v1.NetworkInterface(fingerprint=nic.fingerprint, alias_ip_ranges=[])
    with pytest.raises(PreconditionFailed):
        client.update_network_interface_unary(
            project=gce.project,
            zone=ZONE,
            instance="node-a",
            network_interface=NIC,
            network_interface_resource=stale,
        )
    assert len(gce.alias_ranges("node-a")) == 1
