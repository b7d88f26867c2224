"""What the host shows: pod addresses routed to our veths, and whose they are.

The dataplane gives every host-side veth an alias naming the attachment it serves
(``vpc-ipam/v1 <network> <container id> <ifname>``) and routes the pod's /32 to it. That
makes the host self-describing: when the checkpoint is lost, allocations are rebuilt from
here with their real keys, and on every start an allocation whose veth is gone is known to
be stale. Read with netlink in the daemon's own network namespace (or a named one).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address

from ipamd.dataplane.nsfd import netlink
from ipamd.model import AllocationKey

ALIAS_PREFIX = "vpc-ipam/v1"
MAIN_TABLE = 254


@dataclass(frozen=True, slots=True)
class HostPod:
    address: IPv4Address
    veth: str
    key: AllocationKey | None
    """None when the veth carries no (readable) alias of ours."""


def alias_for(key: AllocationKey) -> str:
    """The veth alias for an attachment; CNI names never contain spaces."""
    return f"{ALIAS_PREFIX} {key.network} {key.container_id} {key.ifname}"


def key_from_alias(alias: str | None) -> AllocationKey | None:
    parts = (alias or "").split(" ")
    if len(parts) != 4 or parts[0] != ALIAS_PREFIX or not all(parts[1:]):
        return None
    return AllocationKey(parts[1], parts[2], parts[3])


def scan_host(veth_prefix: str, *, netns: str | None = None) -> tuple[HostPod, ...]:
    """Pod /32 routes of the main table whose device is a veth named with ``veth_prefix``."""
    # flags=0: never create the namespace (pyroute2 defaults to O_CREAT)
    with netlink(netns) as ipr:
        veths = {
            link["index"]: (str(link.get("ifname")), link.get("ifalias"))
            for link in ipr.get_links()
            if str(link.get("ifname") or "").startswith(veth_prefix)
        }
        pods = []
        for route in ipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE):
            oif = route.get("oif")
            if route["dst_len"] != 32 or oif not in veths or not route.get("dst"):
                continue
            name, alias = veths[oif]
            pods.append(HostPod(IPv4Address(route.get("dst")), name, key_from_alias(alias)))
    return tuple(sorted(pods, key=lambda p: p.address))
