"""The doctor's view of the host and its edits, against a real (throwaway) network namespace."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from ipamd.dataplane.rtnl import FromRule, WiringFailed
from ipamd.hostaudit import HostAudit, HostRepairs, HostRoute, HostRule, HostVeth, scan
from ipamd.hostview import alias_for
from ipamd.model import Allocation, AllocationKey, PodRef
from tests.netns.conftest import ip, ip_json

pytestmark = pytest.mark.netns

KEY = AllocationKey("net", "cid", "eth0")
VPC = IPv4Network("10.0.0.0/16")
MAIN = 254


def veth(netns: str, name: str, *, alias: str | None = None, up: bool = True) -> int:
    """A veth pair ``name``/``p<name>``; ``name`` is up when ``up``, its peer stays down
    unless ``up`` (so an up end reads LOWERLAYERDOWN without its peer). Returns its index."""
    ip(netns, "link", "add", name, "type", "veth", "peer", "name", f"p{name}")
    if alias:
        ip(netns, "link", "set", name, "alias", alias)
    if up:
        ip(netns, "link", "set", name, "up")
    index: int = ip_json(netns, "link", "show", name)[0]["ifindex"]
    return index


def rules(netns: str) -> list[HostRule]:
    return list(scan("eni", netns=netns).rules)


def a(text: str) -> IPv4Address:
    return IPv4Address(text)


def test_scan_reads_our_veths_routes_and_rules_exactly(netns: str):
    first = veth(netns, "eni1a", alias=alias_for(KEY))
    ip(netns, "link", "set", "peni1a", "up")
    second = veth(netns, "eni2b", alias="some other tool")
    third = veth(netns, "eni3c", up=False)
    veth(netns, "other0")
    ip(netns, "route", "add", "10.0.1.5/32", "dev", "eni1a")
    ip(netns, "route", "add", "10.0.1.5/32", "dev", "eni2b", "metric", "10")
    ip(netns, "route", "add", "10.0.1.9/32", "dev", "eni2b")
    ip(netns, "route", "add", "10.0.1.9/32", "dev", "eni2b", "metric", "20")
    ip(netns, "route", "add", "10.0.1.7/32", "dev", "other0")  # not our veth
    ip(netns, "route", "add", "10.0.2.0/24", "dev", "eni1a")  # not a pod route
    ip(netns, "route", "add", "10.0.3.3/32", "dev", "eni1a", "table", "7")  # not main
    ip(netns, "rule", "add", "to", "10.0.1.5/32", "lookup", "main", "pref", "512")
    ip(
        netns,
        "rule",
        "add",
        "from",
        "10.0.1.5/32",
        "to",
        "10.0.0.0/16",
        "lookup",
        "3",
        "pref",
        "1536",
    )
    ip(netns, "rule", "add", "from", "10.0.1.9/32", "lookup", "4", "pref", "1536")
    ip(netns, "rule", "add", "from", "10.0.1.5/32", "lookup", "3", "pref", "1000")  # not ours
    ip(netns, "rule", "add", "to", "10.0.4.0/24", "lookup", "main", "pref", "512")  # not a /32

    audit = scan("eni", netns=netns)

    assert audit.veths == (
        HostVeth("eni1a", first, KEY, "UP"),
        HostVeth("eni2b", second, None, "LOWERLAYERDOWN"),
        HostVeth("eni3c", third, None, "DOWN"),
    )
    assert audit.routes == (
        HostRoute(a("10.0.1.5"), "eni1a", 0),
        HostRoute(a("10.0.1.5"), "eni2b", 10),
        HostRoute(a("10.0.1.9"), "eni2b", 0),
        HostRoute(a("10.0.1.9"), "eni2b", 20),
    )
    assert audit.rules == (
        HostRule(a("10.0.1.5"), 512, MAIN),
        HostRule(a("10.0.1.5"), 1536, 3, VPC),
        HostRule(a("10.0.1.9"), 1536, 4),
    )
    assert audit.routed() == {a("10.0.1.5"): ["eni1a", "eni2b"], a("10.0.1.9"): ["eni2b"]}
    assert [v.name for v in audit.ours()] == ["eni1a", "eni2b"]  # eni3c: no alias, no route


def test_an_empty_namespace_shows_nothing(netns: str):
    assert scan("eni", netns=netns) == HostAudit()


def test_deleting_a_veth_takes_its_routes_and_leaves_the_rest(netns: str):
    veth(netns, "eni1a", alias=alias_for(KEY))
    veth(netns, "eni2b")
    ip(netns, "route", "add", "10.0.1.5/32", "dev", "eni1a")
    ip(netns, "route", "add", "10.0.1.6/32", "dev", "eni2b")
    repairs = HostRepairs(netns=netns)
    repairs.delete_veth("eni1a")
    repairs.delete_veth("eni1a")  # gone is fine
    audit = scan("eni", netns=netns)
    assert [v.name for v in audit.veths] == ["eni2b"]
    assert audit.routes == (HostRoute(a("10.0.1.6"), "eni2b", 0),)
    assert [link["ifname"] for link in ip_json(netns, "link", "show")] == ["lo", "peni2b", "eni2b"]


def test_deleting_a_rule_deletes_exactly_that_rule(netns: str):
    # a catch-all first, then one with a destination: the kernel lists them in that order
    ip(netns, "rule", "add", "from", "10.0.1.9/32", "lookup", "4", "pref", "1536")
    ip(
        netns,
        "rule",
        "add",
        "from",
        "10.0.1.9/32",
        "to",
        "10.0.0.0/16",
        "lookup",
        "4",
        "pref",
        "1536",
    )
    ip(netns, "rule", "add", "to", "10.0.1.9/32", "lookup", "main", "pref", "512")
    repairs = HostRepairs(netns=netns)
    repairs.delete_rule(HostRule(a("10.0.1.9"), 1536, 4))
    assert rules(netns) == [
        HostRule(a("10.0.1.9"), 512, MAIN),
        HostRule(a("10.0.1.9"), 1536, 4, VPC),
    ]
    repairs.delete_rule(HostRule(a("10.0.1.9"), 1536, 4, VPC))
    repairs.delete_rule(HostRule(a("10.0.1.9"), 1536, 4, VPC))  # gone is fine
    assert rules(netns) == [HostRule(a("10.0.1.9"), 512, MAIN)]


def test_adding_rules_adds_only_the_missing_ones(netns: str):
    allocation = Allocation(KEY, PodRef(), a("10.0.1.7"), "eni-2", IPv4Network("10.0.1.0/28"), 0.0)
    ip(netns, "rule", "add", "to", "10.0.1.7/32", "lookup", "main", "pref", "512")
    repairs = HostRepairs(netns=netns)
    wanted = [FromRule(VPC, 3), FromRule(IPv4Network("172.16.0.0/12"), 3)]
    repairs.add_rules(allocation, wanted)
    repairs.add_rules(allocation, wanted)  # all present: nothing to add, nothing refused
    assert rules(netns) == [
        HostRule(a("10.0.1.7"), 512, MAIN),
        HostRule(a("10.0.1.7"), 1536, 3, VPC),
        HostRule(a("10.0.1.7"), 1536, 3, IPv4Network("172.16.0.0/12")),
    ]


def test_a_rule_the_kernel_refuses_is_named_in_the_error(netns: str):
    allocation = Allocation(KEY, PodRef(), a("10.0.1.7"), "eni-2", IPv4Network("10.0.1.0/28"), 0.0)
    repairs = HostRepairs(netns=netns)
    repairs.add_rules(allocation, [FromRule(VPC, 3)])
    # the kernel takes no catch-all after a rule of the same source and table with a "to"
    with pytest.raises(WiringFailed, match=r"adding rule 1536 'from 10.0.1.7 lookup 3'"):
        repairs.add_rules(allocation, [FromRule(None, 3)])
