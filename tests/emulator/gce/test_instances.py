"""instances.get, subnetworks.get and instances.updateNetworkInterface through the real
``compute_v1`` clients over HTTP: shapes, the fingerprint compare-and-swap, the alias range
rules (secondary ranges, alignment, overlap, 150 per interface, exhaustion) and requestId.
"""

from __future__ import annotations

import uuid
from ipaddress import IPv4Network

import pytest
from google.api_core import exceptions

from sandbox.gce import ComputeEmulator
from tests.emulator.gce.conftest import DONE, PODS, ZONE, Compute, alias

API = "https://www.googleapis.com/compute/v1/projects/sandbox-project"


def reasons(error: exceptions.GoogleAPICallError) -> list[str]:
    return [item["reason"] for item in error.errors]


def test_instances_get_answers_like_compute_engine(gce: ComputeEmulator, compute: Compute):
    instance = compute.get("node-a")
    assert instance.name == "node-a"
    assert str(instance.id) == gce.instance("node-a").id
    assert instance.zone == f"{API}/zones/{ZONE}"
    assert instance.machine_type == f"{API}/zones/{ZONE}/machineTypes/e2-standard-4"
    assert instance.self_link == f"{API}/zones/{ZONE}/instances/node-a"
    assert instance.status == "RUNNING"
    [nic] = instance.network_interfaces
    assert nic.name == "nic0"
    assert nic.kind == "compute#networkInterface"
    assert nic.network_i_p == "10.0.0.2"  # .0 and .1 (gateway) are reserved
    assert nic.network == f"{API}/global/networks/vpc"
    assert nic.subnetwork == f"{API}/regions/us-central1/subnetworks/nodes"
    assert list(nic.alias_ip_ranges) == []
    assert nic.fingerprint
    assert compute.nic("node-b").network_i_p == "10.0.0.3"
    assert gce.instance("node-a").mac == "42:01:0a:00:00:02"


def test_unknown_instance_is_404(compute: Compute):
    with pytest.raises(exceptions.NotFound) as caught:
        compute.get("node-z")
    assert reasons(caught.value) == ["notFound"]


def test_subnetworks_get_lists_secondary_ranges_and_gateway(compute: Compute):
    subnet = compute.subnetworks.get(
        project="sandbox-project", region="us-central1", subnetwork="nodes"
    )
    assert subnet.ip_cidr_range == "10.0.0.0/24"
    assert subnet.gateway_address == "10.0.0.1"
    assert subnet.network == f"{API}/global/networks/vpc"
    assert {(r.range_name, r.ip_cidr_range) for r in subnet.secondary_ip_ranges} == {
        ("pods", PODS),
        ("services", "10.8.0.0/24"),
    }


def test_update_with_current_fingerprint_replaces_the_list(gce: ComputeEmulator, compute: Compute):
    before = compute.nic().fingerprint
    op = compute.update([alias("10.4.0.16/28"), alias("10.4.0.64/28")])
    assert compute.wait(op).status == DONE
    assert compute.aliases() == ["10.4.0.16/28", "10.4.0.64/28"]
    after = compute.nic()
    assert after.fingerprint != before
    assert [r.subnetwork_range_name for r in after.alias_ip_ranges] == ["pods", "pods"]

    compute.update([alias("10.4.0.64/28")])  # replaces, does not append
    assert compute.aliases() == ["10.4.0.64/28"]
    assert gce.alias_ranges("node-a") == ["10.4.0.64/28"]

    compute.update([])  # the library leaves an empty list out of the body: all removed
    assert compute.aliases() == []


def test_the_operation_looks_like_a_zonal_operation(compute: Compute):
    op = compute.update([alias("/28")])
    assert op.kind == "compute#operation"
    assert op.operation_type == "updateNetworkInterface"
    assert op.target_link == f"{API}/zones/{ZONE}/instances/node-a"
    assert op.zone == f"{API}/zones/{ZONE}"
    assert op.self_link == f"{API}/zones/{ZONE}/operations/{op.name}"
    assert compute.operation(op).name == op.name


def test_a_stale_fingerprint_is_412_condition_not_met(compute: Compute):
    stale = compute.nic().fingerprint
    compute.update([alias("/28")], fingerprint=stale)
    with pytest.raises(exceptions.PreconditionFailed) as caught:
        compute.update([alias("/28"), alias("/28")], fingerprint=stale)
    assert reasons(caught.value) == ["conditionNotMet"]
    assert len(compute.aliases()) == 1


def test_a_missing_fingerprint_is_refused(compute: Compute):
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("/28")], fingerprint="")
    assert reasons(caught.value) == ["required"]


def test_size_only_gets_the_lowest_free_aligned_blocks(compute: Compute):
    compute.update([alias("10.4.0.0/28"), alias("10.4.0.32/27")], name="node-b")
    compute.update([alias("/28"), alias("/27"), alias("/28")])
    got = [IPv4Network(c) for c in compute.aliases()]
    assert got == [
        IPv4Network("10.4.0.16/28"),  # the gap below node-b's /27
        IPv4Network("10.4.0.64/27"),  # /27s are aligned on 32
        IPv4Network("10.4.0.96/28"),
    ]
    assert all(c.subnet_of(IPv4Network(PODS)) for c in got)


def test_size_only_from_the_primary_range_skips_reserved_and_instance_addresses(
    compute: Compute,
):
    compute.update([alias("/30", None)])
    assert compute.aliases() == ["10.0.0.4/30"]  # .0-.1 reserved, .2-.3 the nodes
    assert compute.nic().alias_ip_ranges[0].subnetwork_range_name == ""


def test_an_alias_range_held_by_another_instance_is_refused(compute: Compute):
    compute.update([alias("10.4.0.0/27")], name="node-b")
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("10.4.0.16/28")])
    assert reasons(caught.value) == ["IP_IN_USE_BY_ANOTHER_RESOURCE"]
    assert "node-b" in caught.value.message
    assert compute.aliases() == []


def test_an_alias_range_on_another_instances_address_is_refused(compute: Compute):
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("10.0.0.0/30", None)])  # holds node-b's 10.0.0.3
    assert reasons(caught.value) == ["IP_IN_USE_BY_ANOTHER_RESOURCE"]


@pytest.mark.parametrize(
    ("cidr", "range_name"),
    [
        ("10.5.0.0/28", "pods"),  # outside the secondary range
        ("10.8.0.0/28", "pods"),  # inside another secondary range
        ("10.4.0.8/28", "pods"),  # not aligned
        ("10.4.0.0/28", "nodes-pods"),  # no such secondary range
        ("/23", "pods"),  # larger than the range
        ("10.4.0.0/33", "pods"),
        ("banana", "pods"),
    ],
)
def test_invalid_ranges_are_400_invalid(compute: Compute, cidr: str, range_name: str):
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias(cidr, range_name)])
    assert reasons(caught.value) == ["invalid"]
    assert compute.aliases() == []


def test_ranges_of_one_request_must_not_overlap(compute: Compute):
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("10.4.0.0/27"), alias("10.4.0.16/28")])
    assert reasons(caught.value) == ["invalid"]


def test_a_refused_request_takes_nothing(compute: Compute):
    with pytest.raises(exceptions.BadRequest):
        compute.update([alias("/28"), alias("10.5.0.0/28")])
    compute.update([alias("/28")], name="node-b")
    assert compute.aliases("node-b") == ["10.4.0.0/28"]


def test_at_most_150_alias_ranges_per_interface(gce: ComputeEmulator, compute: Compute):
    gce.create_subnetwork("big", "vpc", "10.1.0.0/24", {"pods": "10.16.0.0/16"})
    gce.create_instance("node-big", ZONE, "big")
    compute.update([alias("/28")] * 150, name="node-big")
    assert len(compute.aliases("node-big")) == 150
    blocks = [IPv4Network(c) for c in compute.aliases("node-big")]
    assert blocks == list(IPv4Network("10.16.0.0/16").subnets(new_prefix=28))[:150]

    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("/28")] * 151, name="node-big")
    assert reasons(caught.value) == ["invalid"]
    assert "limit of 150" in caught.value.message
    assert len(compute.aliases("node-big")) == 150


def test_an_exhausted_range_is_refused_and_freed_blocks_are_reused(compute: Compute):
    compute.update([alias("/28")] * 15, name="node-b")  # 15 of the 16 /28s of the /24
    compute.update([alias("/28")])
    assert compute.aliases() == ["10.4.0.240/28"]
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("10.4.0.240/28"), alias("/28")])
    assert reasons(caught.value) == ["IP_SPACE_EXHAUSTED"]
    assert compute.aliases() == ["10.4.0.240/28"]

    kept = [alias(c) for c in compute.aliases("node-b") if c != "10.4.0.48/28"]
    compute.update(kept, name="node-b")
    compute.update([alias("10.4.0.240/28"), alias("/28")])
    assert compute.aliases() == ["10.4.0.240/28", "10.4.0.48/28"]


def test_the_same_request_id_applies_once(gce: ComputeEmulator, compute: Compute):
    fingerprint = compute.nic().fingerprint
    request_id = str(uuid.uuid4())
    first = compute.update([alias("/28")], fingerprint=fingerprint, request_id=request_id)
    again = compute.update([alias("/28")], fingerprint=fingerprint, request_id=request_id)
    assert again.name == first.name
    assert again.status == DONE
    assert compute.aliases() == ["10.4.0.0/28"]
    assert gce.call_counts()["instances.updateNetworkInterface"] == 2


def test_a_request_id_must_be_a_uuid(compute: Compute):
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("/28")], request_id="retry-1")
    assert reasons(caught.value) == ["invalid"]


def test_an_emulator_serves_its_own_project_only(compute: Compute):
    with pytest.raises(exceptions.NotFound):
        compute.instances.get(project="someone-else", zone=ZONE, instance="node-a")
    with pytest.raises(exceptions.NotFound):
        compute.instances.get(project="sandbox-project", zone="us-central1-b", instance="node-a")
