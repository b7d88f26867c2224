"""KernelDataplane when things are wrong: bad namespaces, conflicts half way, drift.

Every namespace is made for the test and deleted after it; the host's own is never touched.
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Network

import pytest

from ipamd.dataplane.nsfd import NotANetworkNamespace
from ipamd.dataplane.pod import KernelDataplane, add_from_rule
from ipamd.dataplane.rawnl import Channel, NetlinkError
from ipamd.dataplane.rtnl import FromRule, WiringFailed
from ipamd.hostview import alias_for
from ipamd.model import AllocationKey
from tests.netns.conftest import ip, ip_json
from tests.netns.pods import (
    MTU,
    SECONDARY,
    VPC_CIDRS,
    Destinations,
    allocation,
    kernel_dataplane,
    link_named,
    path,
    snapshot,
)

pytestmark = pytest.mark.netns


@pytest.fixture
def dp(netns: str) -> KernelDataplane:
    """SNAT on, over the two VPC_CIDRS."""
    return kernel_dataplane(netns)


def test_host_veth_names_are_short_stable_and_distinct():
    dp = kernel_dataplane(None)
    key = AllocationKey("vpc", "c0ffee", "eth0")
    name = dp.host_veth_name(key)
    assert name == dp.host_veth_name(AllocationKey("vpc", "c0ffee", "eth0"))
    assert name.startswith("eni")
    assert len(name) == 15
    assert name != dp.host_veth_name(AllocationKey("vpc", "c0ffee", "net1"))
    assert name != dp.host_veth_name(AllocationKey("vpc", "c0ffef", "eth0"))
    assert len(kernel_dataplane(None, "a").host_veth_name(key)) == 15
    for bad in ("", "toolong"):
        with pytest.raises(ValueError, match="1 to 4"):
            kernel_dataplane(None, bad)


def test_only_network_namespaces_are_accepted(netns, dp, tmp_path):
    regular = tmp_path / "file"
    regular.write_text("not a namespace")
    before = snapshot(netns)
    refused = {
        str(regular): "not a namespace file",
        str(tmp_path): "not a namespace file",
        "/proc/self/ns/mnt": "not a network namespace",
        str(tmp_path / "missing"): "cannot be opened",
        "": "no network namespace",
        path(netns): "the node's own network namespace",
    }
    for where, why in refused.items():
        with pytest.raises(NotANetworkNamespace, match=why):
            dp.wire(allocation("10.0.1.5"), where, "eth0")
    assert issubclass(NotANetworkNamespace, ValueError)
    assert snapshot(netns) == before


def test_an_address_already_in_the_pod_leaves_nothing_behind(netns, make_netns, dp):
    pod = make_netns("pod")
    ip(pod, "link", "add", "other", "type", "veth", "peer", "name", "otherpeer")
    ip(pod, "addr", "add", "10.0.1.5/32", "dev", "other")
    before, pod_before = snapshot(netns), snapshot(pod)
    with pytest.raises(WiringFailed, match=r"10\.0\.1\.5 is already configured"):
        dp.wire(allocation("10.0.1.5"), path(pod), "eth0")
    assert snapshot(netns) == before
    assert snapshot(pod) == pod_before


def test_a_taken_interface_name_leaves_nothing_behind(netns, make_netns, dp):
    pod = make_netns("pod")
    ip(pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
    before = snapshot(netns)
    with pytest.raises(WiringFailed, match="creating the veth"):
        dp.wire(allocation("10.0.1.5"), path(pod), "eth0")
    assert snapshot(netns) == before


def test_an_existing_default_route_in_the_pod_leaves_nothing_behind(netns, make_netns, dp):
    pod = make_netns("pod")
    ip(pod, "link", "add", "other", "type", "veth", "peer", "name", "otherpeer")
    ip(pod, "link", "set", "other", "up")
    ip(pod, "addr", "add", "192.168.7.2/24", "dev", "other")
    ip(pod, "route", "add", "default", "via", "192.168.7.1")
    before = snapshot(netns)
    with pytest.raises(WiringFailed, match="configuring eth0"):
        dp.wire(allocation("10.0.2.7", interface=SECONDARY), path(pod), "eth0")
    assert snapshot(netns) == before
    assert link_named(pod, "eth0") is None


def test_a_failure_after_the_host_route_leaves_nothing_behind(netns, make_netns):
    def unknown_interface(interface_id: str) -> int | None:
        raise LookupError(f"no table for {interface_id}")

    dp = KernelDataplane(
        "eni",
        MTU,
        host_netns=netns,
        table_for=unknown_interface,
        secondary_destinations=Destinations(),
    )
    pod = make_netns("pod")
    before = snapshot(netns)
    with pytest.raises(LookupError, match="no table"):
        dp.wire(allocation("10.0.2.7", interface=SECONDARY), path(pod), "eth0")
    assert snapshot(netns) == before


def test_unknown_destinations_leave_nothing_behind(netns, make_netns):
    def unknown() -> tuple[IPv4Network, ...] | None:
        raise LookupError("the VPC's CIDRs are not known yet")

    pod, other = make_netns("pod"), make_netns("pod")
    before = snapshot(netns)
    dp = kernel_dataplane(netns, destinations=Destinations(()))
    with pytest.raises(WiringFailed, match="no VPC CIDR is known"):
        dp.wire(allocation("10.0.2.7", interface=SECONDARY), path(pod), "eth0")
    assert snapshot(netns) == before
    dp.secondary_destinations = unknown
    with pytest.raises(LookupError, match="not known yet"):
        dp.wire(allocation("10.0.2.7", interface=SECONDARY), path(pod), "eth0")
    assert snapshot(netns) == before
    primary = allocation("10.0.1.5", "aaa")  # a primary interface's pod does not ask
    dp.wire(primary, path(other), "eth0")
    assert dp.check(primary, path(other), "eth0") == []


def test_a_failed_second_from_rule_leaves_nothing_behind(netns, make_netns, dp, monkeypatch):
    added: list[FromRule] = []

    def second_fails(host: Channel, address: str, rule: FromRule) -> None:
        if added:
            raise NetlinkError(errno.ENOBUFS, "NEWRULE")
        add_from_rule(host, address, rule)
        added.append(rule)

    monkeypatch.setattr("ipamd.dataplane.pod.add_from_rule", second_fails)
    pod = make_netns("pod")
    before = snapshot(netns)
    with pytest.raises(WiringFailed, match=r"adding the policy rules of 10\.0\.2\.7"):
        dp.wire(allocation("10.0.2.7", interface=SECONDARY), path(pod), "eth0")
    assert added == [FromRule(VPC_CIDRS[0], 3)]  # added, then removed with the rest
    assert snapshot(netns) == before
    assert link_named(pod, "eth0") is None


def test_a_foreign_link_with_our_name_is_left_alone(netns, make_netns, dp):
    pod = make_netns("pod")
    alloc = allocation("10.0.1.5")
    name = dp.host_veth_name(alloc.key)
    ip(netns, "link", "add", name, "type", "veth", "peer", "name", "somepeer")
    ip(netns, "link", "set", name, "alias", alias_for(AllocationKey("vpc", "other", "eth0")))
    with pytest.raises(WiringFailed, match="not a veth of"):
        dp.wire(alloc, path(pod), "eth0")
    assert link_named(netns, name) is not None


DRIFTS = {
    "host route": (
        "node",
        ["route", "del", "10.0.2.7/32"],
        "the host route 10.0.2.7/32 dev",
    ),
    "rule 512": (
        "node",
        ["rule", "del", "priority", "512", "to", "10.0.2.7", "lookup", "main"],
        "rule 512 'to 10.0.2.7 lookup main' is missing",
    ),
    "rule 1536": (
        "node",
        [
            "rule",
            "del",
            "priority",
            "1536",
            "from",
            "10.0.2.7",
            "to",
            "100.64.0.0/16",
            "lookup",
            "3",
        ],
        "rule 1536 'from 10.0.2.7 to 100.64.0.0/16 lookup 3' is missing",
    ),
    "neighbor": (
        "pod",
        ["neigh", "replace", "169.254.1.1", "lladdr", "02:00:00:00:00:01", "dev", "eth0"],
        "points at 02:00:00:00:00:01, not the host veth's",
    ),
    "default route": (
        "pod",
        ["route", "del", "default"],
        "'default via 169.254.1.1 dev eth0' is missing",
    ),
    "pod address": (
        "pod",
        ["addr", "del", "10.0.2.7/32", "dev", "eth0"],
        "eth0 does not hold 10.0.2.7/32",
    ),
}


@pytest.mark.parametrize("drift", DRIFTS, ids=list(DRIFTS))
def test_check_names_what_drifted(netns, make_netns, dp, drift):
    where, change, sentence = DRIFTS[drift]
    pod = make_netns("pod")
    alloc = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(alloc, path(pod), "eth0")
    assert dp.check(alloc, path(pod), "eth0") == []
    ip(netns if where == "node" else pod, *change)
    found = dp.check(alloc, path(pod), "eth0")
    assert sentence in found[0], found
    # with its last address, the kernel also flushes the device's routes and neighbors
    assert len(found) == (4 if drift == "pod address" else 1), found


def test_check_of_a_missing_veth_and_a_vanished_namespace(netns, make_netns, dp):
    pod = make_netns("pod")
    alloc = allocation("10.0.1.5")
    dp.wire(alloc, path(pod), "eth0")
    ip(netns, "link", "del", dp.host_veth_name(alloc.key))
    found = dp.check(alloc, path(pod), "eth0")
    assert f"the host veth {dp.host_veth_name(alloc.key)} is missing" in found
    assert "eth0 is missing from the pod namespace" in found
    ip(netns, "rule", "add", "priority", "1536", "from", "10.0.1.5", "lookup", "3")
    gone = dp.check(alloc, "/var/run/netns/vpcipam-gone-long-ago", "eth0")
    assert any("but the address is on the primary interface" in s for s in gone)
    assert any("the pod namespace cannot be checked" in s for s in gone)
    assert ip_json(netns, "route", "show", "10.0.1.5/32") == []


def test_check_names_the_from_rules_that_differ(netns, make_netns):
    destinations = Destinations(None)
    dp = kernel_dataplane(netns, destinations=destinations)
    pod = make_netns("pod")
    alloc = allocation("10.0.2.7", interface=SECONDARY)
    dp.wire(alloc, path(pod), "eth0")
    ip(netns, "rule", "del", "priority", "1536", "from", "10.0.2.7", "lookup", "3")
    assert dp.check(alloc, path(pod), "eth0") == ["rule 1536 'from 10.0.2.7 lookup 3' is missing"]

    destinations.answer = VPC_CIDRS
    dp.wire(alloc, path(pod), "eth0")
    destinations.answer = None  # SNAT went external: the two rules of SNAT are extra
    expected = "is unexpected (expected: 'from 10.0.2.7 lookup 3')"
    assert dp.check(alloc, path(pod), "eth0") == [
        "rule 1536 'from 10.0.2.7 lookup 3' is missing",
        f"rule 1536 'from 10.0.2.7 to 10.0.0.0/16 lookup 3' {expected}",
        f"rule 1536 'from 10.0.2.7 to 100.64.0.0/16 lookup 3' {expected}",
    ]

    destinations.answer = VPC_CIDRS[:1]  # the VPC lost a CIDR
    assert dp.check(alloc, path(pod), "eth0") == [
        "rule 1536 'from 10.0.2.7 to 100.64.0.0/16 lookup 3' is unexpected "
        "(expected: 'from 10.0.2.7 to 10.0.0.0/16 lookup 3')"
    ]

    destinations.answer = ()
    found = dp.check(alloc, path(pod), "eth0")
    assert len(found) == 1
    assert "the rules of 10.0.2.7 cannot be checked: SNAT is on but no VPC CIDR" in found[0]
