"""KernelDataplane against real namespaces: a "node" (the host side) and pods.

Every namespace is made for the test and deleted after it; the host's own is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network

import pytest

from ipamd.dataplane.nlmsg import NAMES, NLM_F_DUMP
from ipamd.dataplane.pod import KernelDataplane
from ipamd.dataplane.rawnl import Channel
from ipamd.hostview import alias_for, scan_host
from tests.netns.conftest import in_netns, ip, ip_json
from tests.netns.pods import (
    GATEWAY,
    MTU,
    SECONDARY,
    VPC_CIDRS,
    Destinations,
    allocation,
    from_rules,
    kernel_dataplane,
    link_named,
    path,
    ping,
    rules_of,
    snapshot,
)

pytestmark = pytest.mark.netns


TO_RULE = {"priority": 512, "src": "all", "dst": "10.0.2.7", "table": "main"}
"""Rule 512 of the secondary interface's pod address 10.0.2.7, as ``ip -j rule`` lists it."""


@pytest.fixture
def dp(netns: str) -> KernelDataplane:
    """SNAT on, over the two VPC_CIDRS."""
    return kernel_dataplane(netns)


def add_stray_rules(netns: str) -> None:
    """Two 1536 rules for 10.0.2.7 that its wiring never asks for: another table's
    catch-all and a per-CIDR rule to a CIDR outside the VPC."""
    ip(netns, "rule", "add", "priority", "1536", "from", "10.0.2.7", "lookup", "9")
    ip(
        netns,
        "rule",
        "add",
        "priority",
        "1536",
        "from",
        "10.0.2.7",
        "to",
        "10.9.0.0/16",
        "lookup",
        "3",
    )


def test_wire_creates_every_piece(netns: str, make_netns: Callable[[str], str], dp):
    pod = make_netns("pod")
    pod_a = allocation("10.0.1.5")
    result = dp.wire(pod_a, path(pod), "eth0")
    veth = dp.host_veth_name(pod_a.key)

    host_end = link_named(netns, veth)
    assert host_end is not None
    assert host_end["ifalias"] == alias_for(pod_a.key)
    assert host_end["mtu"] == MTU
    assert "UP" in host_end["flags"]
    assert not any(x.get("addr_info") for x in ip_json(netns, "-4", "addr", "show", "dev", veth))
    assert ip_json(netns, "route", "show", "10.0.1.5/32") == [
        {"dst": "10.0.1.5", "dev": veth, "protocol": "static", "scope": "link", "flags": []}
    ]
    assert rules_of(netns, "10.0.1.5") == [
        {"priority": 512, "src": "all", "dst": "10.0.1.5", "table": "main"}
    ]  # the primary interface: no 1536 rule

    eth0 = link_named(pod, "eth0")
    assert eth0 is not None
    assert eth0["mtu"] == MTU
    assert "UP" in eth0["flags"]
    assert eth0["link_index"] == host_end["ifindex"]
    assert host_end["link_index"] == eth0["ifindex"]
    assert "UP" in (link_named(pod, "lo") or {})["flags"]
    addrs = ip_json(pod, "-4", "addr", "show", "dev", "eth0")[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in addrs] == [("10.0.1.5", 32)]
    routes = {(r["dst"], r.get("gateway"), r["dev"], r.get("scope")) for r in ip_json(pod, "route")}
    assert routes == {(GATEWAY, None, "eth0", "link"), ("default", GATEWAY, "eth0", None)}
    assert ip_json(pod, "neigh") == [
        {"dst": GATEWAY, "dev": "eth0", "lladdr": host_end["address"], "state": ["PERMANENT"]}
    ]

    assert result == {
        "cniVersion": "1.1.0",
        "interfaces": [
            {"name": veth, "mac": host_end["address"]},
            {"name": "eth0", "mac": eth0["address"], "sandbox": path(pod)},
        ],
        "ips": [{"address": "10.0.1.5/32", "gateway": GATEWAY, "interface": 1}],
        "routes": [{"dst": "0.0.0.0/0", "gw": GATEWAY}],
        "dns": {},
    }
    assert dp.check(pod_a, path(pod), "eth0") == []
    assert [(str(p.address), p.veth, p.key) for p in scan_host("eni", netns=netns)] == [
        ("10.0.1.5", veth, pod_a.key)
    ]


def test_with_snat_a_secondary_interface_address_gets_a_from_rule_per_vpc_cidr(
    netns, make_netns, dp
):
    pod = make_netns("pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(pod_b, path(pod), "eth0")
    assert rules_of(netns, "10.0.2.7") == [TO_RULE, *from_rules("10.0.2.7", "3", *VPC_CIDRS)]
    assert dp.check(pod_b, path(pod), "eth0") == []


def test_with_external_snat_a_secondary_interface_address_gets_one_from_rule(netns, make_netns):
    dp = kernel_dataplane(netns, destinations=Destinations(None))
    pod = make_netns("pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(pod_b, path(pod), "eth0")
    assert rules_of(netns, "10.0.2.7") == [TO_RULE, *from_rules("10.0.2.7", "3")]
    assert dp.check(pod_b, path(pod), "eth0") == []


@pytest.mark.parametrize("answer", [VPC_CIDRS, None], ids=["snat", "external-snat"])
def test_a_primary_interface_address_gets_no_from_rule(netns, make_netns, answer):
    dp = kernel_dataplane(netns, destinations=Destinations(answer))
    pod = make_netns("pod")
    pod_a = allocation("10.0.1.5")
    dp.wire(pod_a, path(pod), "eth0")
    assert rules_of(netns, "10.0.1.5") == [
        {"priority": 512, "src": "all", "dst": "10.0.1.5", "table": "main"}
    ]
    assert dp.check(pod_a, path(pod), "eth0") == []


def test_wiring_again_after_the_answer_changed_converges(netns, make_netns):
    destinations = Destinations()
    dp = kernel_dataplane(netns, destinations=destinations)
    pod = make_netns("pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(pod_b, path(pod), "eth0")
    more = (*VPC_CIDRS, IPv4Network("172.31.0.0/16"))
    answers: list[tuple[IPv4Network, ...] | None] = [more, VPC_CIDRS[1:], None, VPC_CIDRS]
    for answer in answers:  # the VPC gains a CIDR, loses two, SNAT goes external and back
        destinations.answer = answer
        assert dp.check(pod_b, path(pod), "eth0") != []
        dp.wire(pod_b, path(pod), "eth0")
        assert rules_of(netns, "10.0.2.7") == [TO_RULE, *from_rules("10.0.2.7", "3", *answer or ())]
        assert dp.check(pod_b, path(pod), "eth0") == []


def test_add_twice_gives_the_same_result_and_one_of_each(netns, make_netns, dp):
    pod = make_netns("pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    first = dp.wire(pod_b, path(pod), "eth0")
    after_first = (snapshot(netns), snapshot(pod))
    assert dp.wire(pod_b, path(pod), "eth0") == first
    assert (snapshot(netns), snapshot(pod)) == after_first
    assert len(rules_of(netns, "10.0.2.7")) == 1 + len(VPC_CIDRS)
    assert len(ip_json(netns, "route", "show", "10.0.2.7/32")) == 1


def test_a_retry_over_a_broken_wiring_rebuilds_it(netns, make_netns, dp):
    pod = make_netns("pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(pod_b, path(pod), "eth0")
    ip(pod, "route", "del", "default")
    add_stray_rules(netns)
    assert dp.check(pod_b, path(pod), "eth0") != []
    dp.wire(pod_b, path(pod), "eth0")
    assert dp.check(pod_b, path(pod), "eth0") == []
    assert [x["ifname"] for x in ip_json(netns, "link")] == ["lo", dp.host_veth_name(pod_b.key)]
    assert rules_of(netns, "10.0.2.7") == [TO_RULE, *from_rules("10.0.2.7", "3", *VPC_CIDRS)]


def test_unwire_removes_exactly_what_wire_made(netns, make_netns, dp):
    pods = [make_netns("pod"), make_netns("pod")]
    before = snapshot(netns)
    wired = [allocation("10.0.1.5", "aaa"), allocation("10.0.2.7", "bbb", SECONDARY)]
    for alloc, pod in zip(wired, pods, strict=True):
        dp.wire(alloc, path(pod), "eth0")
    assert snapshot(netns) != before
    dp.unwire(wired[0].key, path(pods[0]))
    dp.unwire(wired[1].key, "")  # GC passes no namespace
    assert snapshot(netns) == before
    for pod in pods:
        assert link_named(pod, "eth0") is None
    dp.unwire(wired[0].key, path(pods[0]))  # again: nothing left, still fine
    dp.unwire(wired[1].key, "/var/run/netns/vpcipam-gone-long-ago")
    assert snapshot(netns) == before


@pytest.mark.parametrize("answer", [VPC_CIDRS, None], ids=["snat", "external-snat"])
def test_unwire_removes_every_from_rule_of_the_address(netns, make_netns, answer):
    destinations = Destinations(answer)
    dp = kernel_dataplane(netns, destinations=destinations)
    pod = make_netns("pod")
    before = snapshot(netns)
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(pod_b, path(pod), "eth0")
    add_stray_rules(netns)
    destinations.answer = VPC_CIDRS if answer is None else None  # whatever it says now
    dp.unwire(pod_b.key, path(pod))
    assert rules_of(netns, "10.0.2.7") == []
    assert snapshot(netns) == before


def test_unwire_finds_the_veth_by_alias(netns, make_netns):
    pod = make_netns("pod")
    before = snapshot(netns)
    old = kernel_dataplane(netns, "pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    old.wire(pod_b, path(pod), "eth0")
    kernel_dataplane(netns, "eni").unwire(pod_b.key, "")
    assert snapshot(netns) == before


def test_unwire_finds_veths_of_another_prefix_after_the_first_miss(netns, make_netns):
    pods = [make_netns("pod"), make_netns("pod")]
    before = snapshot(netns)
    old = kernel_dataplane(netns, "pod")
    wired = [allocation("10.0.1.5", "aaa"), allocation("10.0.2.7", "bbb", SECONDARY)]
    for alloc, pod in zip(wired, pods, strict=True):
        old.wire(alloc, path(pod), "eth0")
    new = kernel_dataplane(netns, "eni")
    new.unwire(wired[0].key, "")  # the first miss reads every link once
    assert link_named(netns, old.host_veth_name(wired[1].key)) is not None
    new.unwire(wired[1].key, "")
    assert snapshot(netns) == before


def test_adds_and_dels_list_nothing_that_grows_with_the_pods_on_the_node(
    netns, make_netns, dp, monkeypatch
):
    """Per pod, the kernel is asked about that pod's pieces only: the dumps are the pod's
    own addresses (ADD) and the routes through its veth (DEL); a DEL of a veth already
    gone lists the links once for the daemon's life, to find veths named under another
    prefix, and never again."""
    dumps: list[str] = []
    exchange = Channel._exchange

    def spy(self: Channel, msg_type: int, flags: int, body: bytes) -> list[bytes]:
        if flags & NLM_F_DUMP == NLM_F_DUMP:
            dumps.append(NAMES[msg_type])
        return exchange(self, msg_type, flags, body)

    monkeypatch.setattr(Channel, "_exchange", spy)
    pod = make_netns("pod")
    pod_b = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(pod_b, path(pod), "eth0")
    assert dumps == ["GETADDR"]
    del dumps[:]
    dp.unwire(pod_b.key, path(pod), address=pod_b.address)
    assert dumps == ["GETROUTE"]
    del dumps[:]
    dp.unwire(pod_b.key, path(pod))
    assert dumps == ["GETLINK"]
    del dumps[:]
    dp.unwire(pod_b.key, path(pod), address=pod_b.address)
    dp.unwire(pod_b.key, path(pod))
    assert dumps == []
    assert rules_of(netns, "10.0.2.7") == []


def test_unwire_with_the_address_removes_rules_left_without_a_veth(netns, make_netns, dp):
    pods = [make_netns("pod"), make_netns("pod")]
    gone = allocation("10.0.2.7", "aaa", SECONDARY)
    dp.wire(gone, path(pods[0]), "eth0")
    ip(netns, "link", "del", dp.host_veth_name(gone.key))
    assert len(rules_of(netns, "10.0.2.7")) == 3
    dp.unwire(gone.key, "")
    assert len(rules_of(netns, "10.0.2.7")) == 3  # no veth, no address: nothing to go by
    dp.unwire(gone.key, "", address=gone.address)
    assert rules_of(netns, "10.0.2.7") == []

    # the address already serves another pod: its rules are that pod's and stay
    again = allocation("10.0.2.7", "bbb", SECONDARY)
    dp.wire(again, path(pods[1]), "eth0")
    dp.unwire(gone.key, "", address=gone.address)
    assert len(rules_of(netns, "10.0.2.7")) == 3
    assert dp.check(again, path(pods[1]), "eth0") == []


def test_two_pods_on_the_node_reach_each_other(netns, make_netns, dp):
    # the node needs IPv4 forwarding (set in its own namespace only) and an address of its
    # own somewhere (the primary ENI's, here on a stand-in link): without one, the ARP
    # requests it sends on the host veths carry sender 0.0.0.0 and go unanswered
    assert in_netns(netns, "sysctl", "-w", "net.ipv4.ip_forward=1").returncode == 0
    ip(netns, "link", "add", "eth0", "type", "veth", "peer", "name", "uplink")
    ip(netns, "link", "set", "eth0", "up")
    ip(netns, "addr", "add", "10.0.0.10/24", "dev", "eth0")
    pod_a, pod_b = make_netns("pod"), make_netns("pod")
    dp.wire(allocation("10.0.1.5", "aaa"), path(pod_a), "eth0")
    dp.wire(allocation("10.0.2.7", "bbb", SECONDARY), path(pod_b), "eth0")
    assert ping(pod_a, "10.0.2.7")
    assert ping(pod_b, "10.0.1.5")
