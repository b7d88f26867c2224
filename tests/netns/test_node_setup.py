"""Node wiring in a namespace the test makes: interface tables, rules, sysctls."""

from __future__ import annotations

import json
import subprocess
from ipaddress import IPv4Address, IPv4Network

import pytest

from ipamd.dataplane.node import InterfaceNotFound, NodeDataplane
from providers.models import CloudInterface
from tests.netns.conftest import ip

PRIMARY_MAC = "02:00:00:00:00:10"
ENI_MAC = "02:00:00:00:00:11"
ENI = CloudInterface(
    id="eni-1",
    mac=ENI_MAC,
    device_index=1,
    primary=False,
    subnet_id="subnet-2",
    subnet_cidr=IPv4Network("10.0.2.0/24"),
    primary_ip=IPv4Address("10.0.2.50"),
)


def show(netns: str, *what: str) -> list[dict[str, object]]:
    done = subprocess.run(
        ["ip", "-j", "-n", netns, *what], capture_output=True, text=True, check=True
    )
    found: list[dict[str, object]] = json.loads(done.stdout or "[]")
    return found


def sysctl(netns: str, key: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-n", key],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def node(netns: str) -> str:
    ip(netns, "link", "add", "eth0", "address", PRIMARY_MAC, "type", "veth", "peer", "name", "x0")
    ip(netns, "link", "add", "eth1", "address", ENI_MAC, "type", "veth", "peer", "name", "x1")
    return netns


def test_node_setup_adds_the_fwmark_rule_and_sysctls_once(node: str):
    plane = NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=node)
    assert plane.setup_node(PRIMARY_MAC) == "eth0"
    plane.setup_node(PRIMARY_MAC)
    marks = [r for r in show(node, "rule") if r.get("priority") == 1024]
    assert len(marks) == 1 and marks[0]["fwmark"] == "0x80" and marks[0]["table"] == "main"
    assert sysctl(node, "net.ipv4.ip_forward") == "1"
    assert sysctl(node, "net.ipv4.conf.eth0.rp_filter") == "2"


def test_secondary_interface_gets_its_table_and_rule_idempotently(node: str):
    plane = NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=node)
    assert plane.setup_interface(ENI) == 2
    plane.setup_interface(ENI)
    (link,) = show(node, "link", "show", "eth1")
    assert link["mtu"] == 9001 and "UP" in link["flags"]  # type: ignore[operator]
    routes = {(r["dst"], r.get("gateway")) for r in show(node, "route", "show", "table", "2")}
    assert routes == {("default", "10.0.2.1"), ("10.0.2.0/24", None)}
    rules = [r for r in show(node, "rule") if r.get("priority") == 1536]
    assert rules == [{"priority": 1536, "src": "10.0.2.50", "table": "2"}]


def test_teardown_leaves_no_table_or_rule(node: str):
    plane = NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=node)
    before = show(node, "rule")
    plane.setup_interface(ENI)
    plane.teardown_interface(ENI)
    plane.teardown_interface(ENI)
    assert show(node, "rule") == before
    assert show(node, "route", "show", "table", "2") == []


def test_an_interface_the_kernel_does_not_show_yet_is_a_clear_error(node: str):
    plane = NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=node)
    absent = CloudInterface(
        id="eni-9",
        mac="02:00:00:00:00:99",
        device_index=2,
        primary=False,
        subnet_id="s",
        subnet_cidr=IPv4Network("10.0.3.0/24"),
        primary_ip=IPv4Address("10.0.3.9"),
    )
    with pytest.raises(InterfaceNotFound, match="02:00:00:00:00:99"):
        plane.setup_interface(absent)
