"""CHECK for a wired pod: every piece ``KernelDataplane.wire`` creates, read back.

Each difference is one plain sentence naming the piece and what was found instead, so
CNI CHECK (and an operator) can say exactly what drifted. Nothing is changed.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ipamd.dataplane.nsfd import NotANetworkNamespace, netlink, pod_netns
from ipamd.dataplane.rtnl import (
    GATEWAY,
    NUD_PERMANENT,
    SCOPE_LINK,
    TO_POD_PRIORITY,
    FromRule,
    Msg,
    WiringFailed,
    from_rule,
    is_to_rule,
    is_up,
    link,
    pod_rules,
    rule_table,
)
from ipamd.hostview import MAIN_TABLE, alias_for
from ipamd.model import Allocation

if TYPE_CHECKING:
    from ipamd.dataplane.pod import KernelDataplane


def drift(dp: KernelDataplane, allocation: Allocation, netns: str, ifname: str) -> list[str]:
    found: list[str] = []
    veth = dp.host_veth_name(allocation.key)
    address = str(allocation.address)
    with netlink(dp.host_netns) as host:
        host_end = link(host, veth)
        if host_end is None:
            found.append(f"the host veth {veth} is missing")
        else:
            found += _host_end(dp, host_end, allocation)
        found += _host_route(host, address, veth, host_end)
        try:
            wanted = dp.from_rules(allocation.interface_id)
        except WiringFailed as error:
            found.append(f"the rules of {address} cannot be checked: {error}")
        else:
            found += _rules(host, address, wanted)
    try:
        with pod_netns(netns, dp.host_netns) as fd, netlink(fd) as pod:
            found += _pod(dp, pod, address, ifname, host_end)
    except NotANetworkNamespace as error:
        found.append(f"the pod namespace cannot be checked: {error}")
    return found


def _host_end(dp: KernelDataplane, veth: Msg, allocation: Allocation) -> list[str]:
    name, found = veth.get("ifname"), []
    if not is_up(veth):
        found.append(f"the host veth {name} is down")
    if veth.get("ifalias") != alias_for(allocation.key):
        found.append(
            f"the host veth {name} has alias {veth.get('ifalias')!r}, "
            f"expected {alias_for(allocation.key)!r}"
        )
    if veth.get("mtu") != dp.pod_mtu:
        found.append(f"the host veth {name} has MTU {veth.get('mtu')}, expected {dp.pod_mtu}")
    return found


def _host_route(host: Any, address: str, veth: str, host_end: Msg | None) -> list[str]:
    routes = [
        r
        for r in host.get_routes(family=socket.AF_INET, table=MAIN_TABLE)
        if r["dst_len"] == 32 and r.get("dst") == address
    ]
    if not routes:
        return [f"the host route {address}/32 dev {veth} is missing from the main table"]
    route = routes[0]
    if host_end is not None and route.get("oif") != host_end["index"]:
        return [
            f"the host route to {address}/32 leaves by interface {route.get('oif')}, not {veth}"
        ]
    if route["scope"] != SCOPE_LINK:
        return [f"the host route to {address}/32 has scope {route['scope']}, not link"]
    return []


def _rules(host: Any, address: str, wanted: list[FromRule]) -> list[str]:
    found = []
    rules = pod_rules(host, address)
    to_tables = sorted(rule_table(r) for r in rules if is_to_rule(r))
    to_rule = f"rule {TO_POD_PRIORITY} 'to {address} lookup main'"
    if not to_tables:
        found.append(f"{to_rule} is missing")
    elif to_tables != [MAIN_TABLE]:
        found.append(f"{to_rule} is wrong: found lookups of tables {to_tables}")
    present = [from_rule(r) for r in rules if not is_to_rule(r)]
    found += [f"{rule.describe(address)} is missing" for rule in wanted if rule not in present]
    expected = ", ".join(f"'{r.selector(address)}'" for r in wanted)
    for rule in dict.fromkeys(present):
        if not wanted:
            found.append(
                f"{rule.describe(address)} exists, but the address is on the primary interface"
            )
        elif rule not in wanted:
            found.append(f"{rule.describe(address)} is unexpected (expected: {expected})")
        elif (times := present.count(rule)) > 1:
            found.append(f"{rule.describe(address)} exists {times} times")
    return found


def _pod(
    dp: KernelDataplane, pod: Any, address: str, ifname: str, host_end: Msg | None
) -> list[str]:
    found = []
    lo = link(pod, "lo")
    if lo is not None and not is_up(lo):
        found.append("lo is down in the pod namespace")
    dev = link(pod, ifname)
    if dev is None:
        return [*found, f"{ifname} is missing from the pod namespace"]
    index = dev["index"]
    if not is_up(dev):
        found.append(f"{ifname} is down in the pod namespace")
    if dev.get("mtu") != dp.pod_mtu:
        found.append(f"{ifname} has MTU {dev.get('mtu')}, expected {dp.pod_mtu}")
    if host_end is not None and (
        dev.get("link") != host_end["index"] or host_end.get("link") != index
    ):
        found.append(f"{ifname} in the pod is not the peer of {host_end.get('ifname')}")
    held = [
        (a.get("address"), a["prefixlen"])
        for a in pod.get_addr(family=socket.AF_INET)
        if a["index"] == index
    ]
    if (address, 32) not in held:
        found.append(f"{ifname} does not hold {address}/32 (it holds {held})")
    routes = [r for r in pod.get_routes(family=socket.AF_INET, table=MAIN_TABLE)]
    link_route = [
        r
        for r in routes
        if r.get("dst") == GATEWAY and r["dst_len"] == 32 and r.get("oif") == index
    ]
    if not link_route or link_route[0]["scope"] != SCOPE_LINK:
        found.append(f"the pod route '{GATEWAY} dev {ifname} scope link' is missing")
    default = [r for r in routes if r["dst_len"] == 0]
    if not any(r.get("gateway") == GATEWAY and r.get("oif") == index for r in default):
        found.append(f"the pod route 'default via {GATEWAY} dev {ifname}' is missing")
    found += _neighbor(pod, index, ifname, host_end)
    return found


def _neighbor(pod: Any, index: int, ifname: str, host_end: Msg | None) -> list[str]:
    entries = [
        n
        for n in pod.get_neighbours(family=socket.AF_INET, ifindex=index)
        if n.get("dst") == GATEWAY
    ]
    if not entries:
        return [f"the pod's neighbor entry for {GATEWAY} on {ifname} is missing"]
    entry, found = entries[0], []
    if not entry["state"] & NUD_PERMANENT:
        found.append(f"the pod's neighbor entry for {GATEWAY} is not permanent")
    if host_end is not None and entry.get("lladdr") != host_end.get("address"):
        found.append(
            f"the pod's neighbor entry for {GATEWAY} points at {entry.get('lladdr')}, "
            f"not the host veth's {host_end.get('address')}"
        )
    return found
