"""The GCE metadata server: the Metadata-Flavor rules, the recursive instance document, the
plain paths, live alias ranges after an update, and lag.
"""

from __future__ import annotations

import json

import pytest

from sandbox.clock import FakeClock
from sandbox.gce import ComputeEmulator
from tests.emulator.gce.conftest import ZONE, Compute, Reply, alias, http_get

FLAVOR = {"Metadata-Flavor": "Google"}


def get(gce: ComputeEmulator, path: str, instance: str = "node-a") -> Reply:
    return http_get(f"http://{gce.metadata_host(instance)}/computeMetadata/v1/{path}", FLAVOR)


def text(gce: ComputeEmulator, path: str, instance: str = "node-a") -> str:
    reply = get(gce, path, instance)
    assert reply.status == 200, (path, reply)
    assert reply.headers["Metadata-Flavor"] == "Google"
    return reply.body


def test_the_flavor_header_is_required(gce: ComputeEmulator):
    url = f"http://{gce.metadata_host('node-a')}/computeMetadata/v1/project/project-id"
    refused = http_get(url)
    assert refused.status == 403
    assert refused.headers["Metadata-Flavor"] == "Google"
    assert http_get(url, {"Metadata-Flavor": "Amazon"}).status == 403
    assert http_get(url, {**FLAVOR, "X-Forwarded-For": "10.0.0.9"}).status == 403
    assert http_get(url, FLAVOR).status == 200


def test_host_is_loopback_and_one_per_instance(gce: ComputeEmulator):
    host = gce.metadata_host("node-a")
    assert host.startswith("127.0.0.1:")
    assert gce.metadata_host("node-a") == host
    assert gce.metadata_host("node-b") != host
    with pytest.raises(KeyError):
        gce.metadata_host("node-z")


def test_project_id_and_number(gce: ComputeEmulator):
    assert text(gce, "project/project-id") == "sandbox-project"
    assert text(gce, "project/numeric-project-id") == str(gce.project_number)


def test_recursive_instance_document(gce: ComputeEmulator):
    node = gce.instance("node-a")
    found = json.loads(text(gce, "instance/?recursive=true"))
    number = gce.project_number
    assert found["id"] == int(node.id)
    assert found["name"] == "node-a"
    assert found["zone"] == f"projects/{number}/zones/{ZONE}"
    assert found["machineType"] == f"projects/{number}/machineTypes/e2-standard-4"
    [nic] = found["networkInterfaces"]
    assert nic["ip"] == "10.0.0.2"
    assert nic["mac"] == node.mac == "42:01:0a:00:00:02"
    assert nic["network"] == f"projects/{number}/networks/vpc"
    assert nic["subnetmask"] == "255.255.255.0"
    assert nic["gateway"] == "10.0.0.1"
    assert nic["ipAliases"] == []


def test_alias_ranges_show_live_after_an_update(gce: ComputeEmulator, compute: Compute):
    compute.update([alias("/28"), alias("/28")])
    nic = json.loads(text(gce, "instance/?recursive=true"))["networkInterfaces"][0]
    assert nic["ipAliases"] == ["10.4.0.0/28", "10.4.0.16/28"]
    assert text(gce, "instance/network-interfaces/0/ip-aliases/") == ("10.4.0.0/28\n10.4.0.16/28\n")
    assert text(gce, "instance/network-interfaces/0/ip-aliases/1") == "10.4.0.16/28"
    compute.update([alias("10.4.0.16/28")])
    assert text(gce, "instance/network-interfaces/0/ip-aliases/") == "10.4.0.16/28\n"
    assert text(gce, "instance/network-interfaces/0/ip-aliases/", "node-b") == ""


def test_alias_ranges_show_when_the_operation_is_done(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    gce.set_operation_delay(2.0)
    compute.update([alias("/28")])
    assert text(gce, "instance/network-interfaces/0/ip-aliases/") == ""
    clock.advance(2.0)
    assert text(gce, "instance/network-interfaces/0/ip-aliases/") == "10.4.0.0/28\n"


def test_plain_paths_and_listings(gce: ComputeEmulator):
    assert text(gce, "instance/name") == "node-a"
    assert text(gce, "instance/id") == gce.instance("node-a").id
    assert text(gce, "instance/zone") == f"projects/{gce.project_number}/zones/{ZONE}"
    assert text(gce, "instance/network-interfaces/") == "0/\n"
    assert text(gce, "instance/network-interfaces/0/ip") == "10.0.0.2"
    assert text(gce, "instance/network-interfaces/0/mac") == "42:01:0a:00:00:02"
    listing = text(gce, "instance/network-interfaces/0/").splitlines()
    assert {"ip", "mac", "gateway", "subnetmask", "network", "ip-aliases/"} <= set(listing)
    assert json.loads(text(gce, "instance/network-interfaces/0/ip?alt=json")) == "10.0.0.2"
    nic = json.loads(text(gce, "instance/network-interfaces/0/?recursive=true"))
    assert nic["ip"] == "10.0.0.2"


def test_directories_redirect_to_their_slash_and_unknown_paths_are_404(gce: ComputeEmulator):
    moved = get(gce, "instance/network-interfaces?recursive=true")
    assert moved.status == 301
    assert moved.headers["Location"] == (
        "/computeMetadata/v1/instance/network-interfaces/?recursive=true"
    )
    assert get(gce, "instance/no-such-thing").status == 404
    assert get(gce, "instance/network-interfaces/1/ip").status == 404


def test_lag_hides_new_alias_ranges_for_a_while(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    gce.set_metadata_lag(3.0)
    compute.update([alias("/28")])
    path = "instance/network-interfaces/0/ip-aliases/"
    assert text(gce, path) == ""
    clock.advance(2.9)
    assert text(gce, path) == ""
    clock.advance(0.1)
    assert text(gce, path) == "10.4.0.0/28\n"
    compute.update([])  # removals show at once
    assert text(gce, path) == ""
