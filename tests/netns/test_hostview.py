"""Reading pod routes and veth aliases back from a real network namespace."""

from __future__ import annotations

from ipaddress import IPv4Address

from ipamd.hostview import alias_for, key_from_alias, scan_host
from ipamd.model import AllocationKey
from tests.netns.conftest import ip

KEY = AllocationKey("vpc", "c0ffee", "eth0")


def veth(netns: str, name: str, alias: str | None = None) -> None:
    ip(netns, "link", "add", name, "type", "veth", "peer", "name", f"p{name}")
    ip(netns, "link", "set", name, "up")
    if alias:
        ip(netns, "link", "set", name, "alias", alias)


def test_pod_routes_on_our_veths_are_found_with_their_keys(netns: str):
    veth(netns, "eni1a2b3c", alias_for(KEY))
    veth(netns, "eni4d5e6f")  # no alias: found, key unknown
    veth(netns, "other0")  # not ours
    ip(netns, "route", "add", "10.0.1.5/32", "dev", "eni1a2b3c")
    ip(netns, "route", "add", "10.0.1.9/32", "dev", "eni4d5e6f")
    ip(netns, "route", "add", "10.0.1.7/32", "dev", "other0")
    ip(netns, "route", "add", "10.0.2.0/24", "dev", "eni1a2b3c")  # not a pod route
    pods = scan_host("eni", netns=netns)
    assert [(p.address, p.veth, p.key) for p in pods] == [
        (IPv4Address("10.0.1.5"), "eni1a2b3c", KEY),
        (IPv4Address("10.0.1.9"), "eni4d5e6f", None),
    ]


def test_an_empty_namespace_shows_no_pods(netns: str):
    assert scan_host("eni", netns=netns) == ()


def test_alias_round_trips_and_foreign_aliases_are_ignored():
    assert key_from_alias(alias_for(KEY)) == KEY
    for foreign in (None, "", "some other tool", "vpc-ipam/v2 a b c", "vpc-ipam/v1 a b"):
        assert key_from_alias(foreign) is None
