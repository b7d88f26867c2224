"""The whole node: the real vpc-ipamd inside a node namespace wires pods the real vpc-cni asks
for, and DEL leaves the node exactly as it was.

The node namespace has a primary interface with the emulator's MAC and address (its peer
goes nowhere: this node has no VPC behind it, which the sandbox adds); the EC2 and IMDS
emulators run in the test process and are reached from inside through portals. MAX_ENI=1
keeps every pod on the primary interface, whose addresses need no link to appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from ipamd.dataplane import snat
from sandbox.portal import Portal
from tests.cni.runtime import Runtime, network_conf
from tests.daemon.conftest import live_emulator, make_daemon, node
from tests.daemon.harness import Daemon, Node, wait_until
from tests.netns.conftest import in_netns, ip, ip_json
from tests.netns.pods import ping, snapshot

__all__ = ["live_emulator", "make_daemon", "node"]
VERSION = "1.1.0"


@dataclass
class NodeNs:
    name: str
    primary_ip: str
    daemon: Daemon

    def state(self) -> dict[str, Any]:
        """Everything DEL must give back: links, addresses, routes, rules, neighbors, nft."""
        return {**snapshot(self.name), "nft": snat.read_back(netns=self.name)}


def link_up(netns: str, name: str) -> bool:
    (found,) = ip_json(netns, "link", "show", name)
    return bool(found["operstate"] == "UP")


def _port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture
def node_ns(
    make_netns: Callable[[str], str], node: Node, make_daemon: Callable[..., Daemon]
) -> Iterator[NodeNs]:
    name = make_netns("node")
    eni = node.interfaces()[0]
    address = str(eni["PrivateIpAddress"])
    ip(name, "link", "set", "lo", "up")
    # an IPv4 node, settled before the daemon starts: no IPv6 link-local addresses and
    # routes, and no "linkdown" flags, appearing while the test compares states
    for scope in ("all", "default"):
        in_netns(name, "sysctl", "-qw", f"net.ipv6.conf.{scope}.disable_ipv6=1")
    ip(
        name,
        "link",
        "add",
        "eth0",
        "address",
        eni["MacAddress"],
        "type",
        "veth",
        "peer",
        "name",
        "vpc0",
    )
    ip(name, "addr", "add", f"{address}/24", "dev", "eth0")
    ip(name, "link", "set", "eth0", "up")
    ip(name, "link", "set", "vpc0", "up")
    wait_until("eth0 to have carrier", lambda: link_up(name, "eth0"))
    imds = node.emulator.imds_url(node.instance_id)
    with (
        Portal(name, _port(node.emulator.endpoint_url)) as ec2_portal,
        Portal(name, _port(imds)) as imds_portal,
    ):
        daemon = make_daemon(VPC_IPAM_DATAPLANE="kernel", MAX_ENI="1")
        daemon.netns = name
        daemon.ec2_url = ec2_portal.url
        daemon.imds_url = imds_portal.url
        daemon.start()
        try:
            yield NodeNs(name, address, daemon)
        finally:
            daemon.kill()


def test_pods_get_wired_addresses_reach_each_other_and_del_leaves_the_node_as_it_was(
    node_ns: NodeNs, make_netns: Callable[[str], str]
):
    runtime = Runtime(prefix=("ip", "netns", "exec", node_ns.name))
    conf = network_conf(VERSION, node_ns.daemon.socket, node_ns.daemon.spool)
    before = node_ns.state()
    assert before["nft"] is not None  # the daemon set the node up before serving
    assert any(r.get("priority") == 1024 for r in before["rule"])
    pods = {cid: make_netns("pod") for cid in ("c-one", "c-two")}

    addresses = {}
    for cid, pod in pods.items():
        added = runtime.pod("ADD", conf, cid, netns=f"/var/run/netns/{pod}")
        assert added.code == 0, added.stderr + added.stdout
        (assigned,) = added.out["ips"]
        addresses[cid] = assigned["address"].split("/")[0]
        assert assigned["gateway"] == "169.254.1.1"
        (pod_link,) = [x for x in ip_json(pod, "-4", "addr") if x["ifname"] == "eth0"]
        assert pod_link["addr_info"][0]["local"] == addresses[cid]
    assert len(set(addresses.values())) == 2

    assert ping(pods["c-one"], node_ns.primary_ip)  # the node, through the host end
    assert ping(pods["c-one"], addresses["c-two"])  # the other pod, through the node
    assert ping(pods["c-two"], addresses["c-one"])
    checked = runtime.pod(
        "CHECK",
        {**conf, "prevResult": added.out},
        "c-two",
        netns=f"/var/run/netns/{pods['c-two']}",
    )
    assert checked.code == 0, checked.stdout

    for cid, pod in pods.items():
        deleted = runtime.pod("DEL", conf, cid, netns=f"/var/run/netns/{pod}")
        assert deleted.code == 0, deleted.stdout
    assert node_ns.state() == before
    for pod in pods.values():
        assert [x["ifname"] for x in ip_json(pod, "link")] == ["lo"]


def test_a_node_without_its_primary_interface_stops_the_daemon_with_exit_3(
    make_netns: Callable[[str], str], node: Node, make_daemon: Callable[..., Daemon]
):
    name = make_netns("node")
    ip(name, "link", "set", "lo", "up")  # and no interface with the primary ENI's MAC
    imds = node.emulator.imds_url(node.instance_id)
    with (
        Portal(name, _port(node.emulator.endpoint_url)) as ec2_portal,
        Portal(name, _port(imds)) as imds_portal,
    ):
        daemon = make_daemon(VPC_IPAM_DATAPLANE="kernel")
        daemon.netns, daemon.ec2_url, daemon.imds_url = name, ec2_portal.url, imds_portal.url
        daemon.start(wait=False)
        assert daemon.process is not None
        assert daemon.process.wait(60) == 3
    assert "is not in this network namespace" in daemon.tail()
    assert snat.read_back(netns=name) is None  # nothing half set up


def test_a_vpc_cidr_added_while_running_is_exempted_from_snat(node_ns: NodeNs, node: Node):
    vpc = node.interfaces()[0]["VpcId"]
    node.emulator.client().associate_vpc_cidr_block(VpcId=vpc, CidrBlock="100.64.0.0/16")

    def exempt() -> list[str]:
        table = snat.read_back(netns=node_ns.name)
        return table["sets"]["no_snat"] if table else []

    wait_until("the SNAT table to follow the VPC", lambda: "100.64.0.0/16" in exempt())
    assert exempt() == ["10.0.0.0/16", "100.64.0.0/16"]
