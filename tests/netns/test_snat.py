"""The egress table, in namespaces the test makes: read back as asked, and doing its job."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest

from config import RandomizeSnat
from ipamd.dataplane.snat import EgressSpec, apply, canonical, read_back, ruleset
from tests.netns.conftest import ip

SPEC = EgressSpec(
    primary_ip=IPv4Address("10.0.1.10"),
    primary_ifname="eth0",
    vpc_cidrs=(IPv4Network("10.0.0.0/16"),),
    exclude_cidrs=(IPv4Network("192.168.0.0/16"),),
)
OUTSIDE = "203.0.113.5"
POD = "10.0.1.20"


def test_the_loaded_table_reads_back_as_the_settings_ask(netns: str):
    apply(SPEC, netns=netns)
    assert read_back(netns=netns) == canonical(ruleset(SPEC))
    found = read_back(netns=netns)
    assert found is not None
    assert found["sets"]["no_snat"] == ["10.0.0.0/16", "192.168.0.0/16"]
    assert "fully-random" in found["rules"]["snat"][0]


@pytest.mark.parametrize(
    ("randomize", "flags"),
    [
        (RandomizeSnat.PRNG, ["fully-random"]),
        (RandomizeSnat.HASHRANDOM, ["random"]),
        (RandomizeSnat.NONE, None),
    ],
)
def test_randomize_snat_picks_the_nat_flags(
    netns: str, randomize: RandomizeSnat, flags: list[str] | None
):
    spec = replace(SPEC, randomize=randomize)
    apply(spec, netns=netns)
    found = read_back(netns=netns)
    assert found is not None and found == canonical(ruleset(spec))
    snat = json.loads(found["rules"]["snat"][0])[-1]["snat"]
    assert snat.get("flags") == flags


def test_reloading_replaces_the_table_in_one_piece(netns: str):
    apply(SPEC, netns=netns)
    grown = replace(SPEC, vpc_cidrs=(*SPEC.vpc_cidrs, IPv4Network("100.64.0.0/16")))
    apply(grown, netns=netns)
    apply(grown, netns=netns)
    found = read_back(netns=netns)
    assert found is not None and found == canonical(ruleset(grown))
    assert len(found["rules"]["snat"]) == 1


def test_external_snat_removes_the_table(netns: str):
    apply(SPEC, netns=netns)
    apply(replace(SPEC, external_snat=True), netns=netns)
    assert read_back(netns=netns) is None
    apply(replace(SPEC, external_snat=True), netns=netns)  # and removing twice is fine
    assert read_back(netns=netns) is None


def test_connmark_follows_the_setting(netns: str):
    apply(replace(SPEC, connmark=0x4000), netns=netns)
    found = read_back(netns=netns)
    assert found is not None
    rules = found["rules"]["connmark"]
    assert all("16384" in rule for rule in rules)


# -- a pod, a node and the internet, to see the SNAT happen ------------------------------


def _ns(tag: str) -> str:
    name = f"vpcipam-{tag}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


@pytest.fixture
def world(netns: str) -> Iterator[tuple[str, str, str]]:
    """(pod, node, internet) namespaces wired as a VPC node's pod sees them."""
    node, pod, net = netns, _ns("pod"), _ns("net")
    try:
        ip(node, "link", "add", "eni0test", "type", "veth", "peer", "name", "eth0", "netns", pod)
        ip(node, "link", "add", "eth0", "type", "veth", "peer", "name", "up0", "netns", net)
        for ns, dev in (
            (node, "eni0test"),
            (node, "eth0"),
            (pod, "eth0"),
            (net, "up0"),
            (pod, "lo"),
            (net, "lo"),
        ):
            ip(ns, "link", "set", dev, "up")
        ip(pod, "addr", "add", f"{POD}/32", "dev", "eth0")
        ip(pod, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
        ip(pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        mac = subprocess.run(
            ["ip", "-n", node, "-br", "link", "show", "eni0test"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[2]
        ip(pod, "neigh", "add", "169.254.1.1", "lladdr", mac, "dev", "eth0", "nud", "permanent")
        ip(node, "addr", "add", "10.0.1.10/24", "dev", "eth0")
        ip(node, "route", "add", f"{POD}/32", "dev", "eni0test", "scope", "link")
        ip(node, "route", "add", "default", "via", "10.0.1.1")
        ip(net, "addr", "add", "10.0.1.1/24", "dev", "up0")
        ip(net, "addr", "add", f"{OUTSIDE}/32", "dev", "lo")
        subprocess.run(
            ["ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True
        )
        yield pod, node, net
    finally:
        for ns in (pod, net):
            subprocess.run(["ip", "netns", "del", ns], check=False)


RECEIVE = (
    "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    f"s.bind(('{OUTSIDE}',9999)); s.settimeout(5); print('ready',flush=True);"
    "d,a=s.recvfrom(100); print(a[0],flush=True)"
)


def source_seen_outside(pod: str, net: str) -> str:
    listener = subprocess.Popen(
        ["ip", "netns", "exec", net, sys.executable, "-c", RECEIVE],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        send = f"import socket; socket.socket(2,2).sendto(b'hi',('{OUTSIDE}',9999))"
        subprocess.run(["ip", "netns", "exec", pod, sys.executable, "-c", send], check=True)
        return listener.stdout.readline().strip()
    finally:
        listener.kill()
        listener.wait()


def test_pod_traffic_leaving_the_vpc_is_seen_from_the_primary_address(world):
    pod, node, net = world
    apply(SPEC, netns=node)
    assert source_seen_outside(pod, net) == "10.0.1.10"


def test_excluded_destinations_and_external_snat_keep_the_pod_address(world):
    pod, node, net = world
    apply(replace(SPEC, exclude_cidrs=(IPv4Network("203.0.113.0/24"),)), netns=node)
    assert source_seen_outside(pod, net) == POD
    apply(replace(SPEC, external_snat=True), netns=node)
    assert source_seen_outside(pod, net) == POD
