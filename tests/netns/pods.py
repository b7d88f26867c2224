"""Shared pieces of the pod wiring tests: allocations, namespace snapshots, a ping."""

from __future__ import annotations

import sys
import time
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ipamd.dataplane.pod import KernelDataplane
from ipamd.model import Allocation, AllocationKey, PodRef
from tests.netns.conftest import in_netns, ip_json

PRIMARY = "eni-primary"
SECONDARY = "eni-second"
TABLES = {SECONDARY: 3}
"""table_for: the secondary interface (device index 2) has table 3; the primary has none."""
MTU = 1400
GATEWAY = "169.254.1.1"
VPC_CIDRS = (IPv4Network("10.0.0.0/16"), IPv4Network("100.64.0.0/16"))
"""The VPC's CIDRs; the pods' addresses are in the first."""


class Destinations:
    """``secondary_destinations`` whose answer a test can change: the VPC's CIDRs (SNAT
    on, the default) or None (external SNAT)."""

    def __init__(self, answer: tuple[IPv4Network, ...] | None = VPC_CIDRS) -> None:
        self.answer = answer

    def __call__(self) -> tuple[IPv4Network, ...] | None:
        return self.answer


def kernel_dataplane(
    host_netns: str | None,
    prefix: str = "eni",
    *,
    destinations: Destinations | None = None,
) -> KernelDataplane:
    """A KernelDataplane with TABLES and (unless given) SNAT on over VPC_CIDRS."""
    return KernelDataplane(
        prefix,
        MTU,
        host_netns=host_netns,
        table_for=TABLES.get,
        secondary_destinations=destinations or Destinations(),
    )


def from_rules(address: str, table: str, *cidrs: IPv4Network) -> list[dict[str, Any]]:
    """How ``ip -j rule`` lists the rules 1536 of ``address``: one per CIDR, or without
    CIDRs the one for every destination."""
    if not cidrs:
        return [{"priority": 1536, "src": address, "table": table}]
    return [
        {
            "priority": 1536,
            "src": address,
            "dst": str(cidr.network_address),
            "dstlen": cidr.prefixlen,
            "table": table,
        }
        for cidr in cidrs
    ]


def allocation(address: str, container: str = "c0ffee", interface: str = PRIMARY) -> Allocation:
    return Allocation(
        key=AllocationKey("vpc", container, "eth0"),
        pod=PodRef("default", f"pod-{container}"),
        address=IPv4Address(address),
        interface_id=interface,
        block=IPv4Network(f"{address}/32"),
        assigned_at=time.time(),
    )


def path(netns: str) -> str:
    return f"/var/run/netns/{netns}"


def snapshot(netns: str) -> dict[str, Any]:
    """Links, IPv4 addresses, routes of every table, rules and neighbors of a namespace.

    Without what the kernel changes by itself a moment later: a new link's operstate
    (UNKNOWN, then UP), its carrier (NO-CARRIER, and its routes ``linkdown``, until the veth
    peer is up) and IPv6 duplicate address detection."""
    return {
        "link": _without_operstate(ip_json(netns, "link")),
        "addr": _without_operstate(ip_json(netns, "-4", "addr")),
        "route": _without_linkdown(ip_json(netns, "-4", "route", "show", "table", "all")),
        "route6": [
            r  # the kernel's own IPv6 routes come with the carrier: fe80::/64, ff00::/8
            for r in ip_json(netns, "-6", "route", "show", "table", "all")
            if r.get("protocol") != "kernel"
        ],
        "rule": ip_json(netns, "rule"),
        "neigh": ip_json(netns, "neigh"),
    }


def _without_operstate(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            k: [f for f in v if f != "NO-CARRIER"] if k == "flags" else v
            for k, v in x.items()
            if k != "operstate"
        }
        for x in links
    ]


def _without_linkdown(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: [f for f in v if f != "linkdown"] if k == "flags" else v for k, v in x.items()}
        for x in routes
    ]


def rules_of(netns: str, address: str) -> list[dict[str, Any]]:
    return [r for r in ip_json(netns, "rule") if address in (r.get("dst"), r.get("src"))]


def link_named(netns: str, name: str) -> dict[str, Any] | None:
    return next((x for x in ip_json(netns, "link") if x["ifname"] == name), None)


_PING = """
import os, socket, struct, sys
dst = sys.argv[1]
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"vpc-ipam"
packet = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
s.sendto(packet, (dst, 0))
while True:
    data, (src, _) = s.recvfrom(2048)
    start = (data[0] & 15) * 4
    kind, _, _, got, _ = struct.unpack("!BBHHH", data[start : start + 8])
    if src == dst and kind == 0 and got == ident:
        print("reply from", src)
        break
"""


def ping(netns: str, address: str) -> bool:
    """One ICMP echo from inside ``netns`` (raw socket; this image has no ping binary)."""
    done = in_netns(netns, sys.executable, "-c", _PING, address)
    return done.returncode == 0 and "reply from" in done.stdout
