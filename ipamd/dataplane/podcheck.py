"""CHECK for a wired pod: every piece ``KernelDataplane.wire`` creates, read back.

Each difference is one plain sentence naming the piece and what was found instead, so
CNI CHECK (and an operator) can say exactly what drifted. Nothing is changed.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from ipamd.dataplane.nlmsg import Link, Rule
from ipamd.dataplane.nsfd import NotANetworkNamespace, channel, pod_netns
from ipamd.dataplane.rawnl import Channel
from ipamd.dataplane.rtnl import (
    FROM_POD_PRIORITY,
    GATEWAY,
    NUD_PERMANENT,
    SCOPE_LINK,
    TO_POD_PRIORITY,
    FromRule,
    WiringFailed,
)
from ipamd.hostview import MAIN_TABLE, alias_for
from ipamd.model import Allocation

if TYPE_CHECKING:
    from ipamd.dataplane.pod import KernelDataplane


def drift(dp: KernelDataplane, allocation: Allocation, netns: str, ifname: str) -> list[str]:
    found: list[str] = []
    veth = dp.host_veth_name(allocation.key)
    address = str(allocation.address)
    with channel(dp.host_netns) as host:
        host_end = host.link(veth)
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
        with pod_netns(netns, dp.host_netns) as fd, channel(fd) as pod:
            found += _pod(dp, pod, address, ifname, host_end)
    except NotANetworkNamespace as error:
        found.append(f"the pod namespace cannot be checked: {error}")
    return found


def _host_end(dp: KernelDataplane, veth: Link, allocation: Allocation) -> list[str]:
    name, found = veth.name, []
    if not veth.up:
        found.append(f"the host veth {name} is down")
    if veth.alias != alias_for(allocation.key):
        found.append(
            f"the host veth {name} has alias {veth.alias!r}, expected {alias_for(allocation.key)!r}"
        )
    if veth.mtu != dp.pod_mtu:
        found.append(f"the host veth {name} has MTU {veth.mtu}, expected {dp.pod_mtu}")
    return found


def _host_route(host: Channel, address: str, veth: str, host_end: Link | None) -> list[str]:
    """The /32 route of ``address`` in main: looked for through the veth first, then
    wherever the kernel's lookup of the address ends (another device, or nowhere)."""
    route = None
    if host_end is not None:
        through = host.routes(MAIN_TABLE, oif=host_end.index)
        route = next((r for r in through if r.dst == address and r.dst_len == 32), None)
    if route is None:
        found = host.route_to(address)
        if found and found.table == MAIN_TABLE and found.dst == address and found.dst_len == 32:
            route = found
    if route is None:
        return [f"the host route {address}/32 dev {veth} is missing from the main table"]
    if host_end is not None and route.oif != host_end.index:
        return [f"the host route to {address}/32 leaves by interface {route.oif}, not {veth}"]
    if route.scope != SCOPE_LINK:
        return [f"the host route to {address}/32 has scope {route.scope}, not link"]
    return []


def pod_rules(host: Channel, address: str) -> list[Rule]:
    """Rules of ours for ``address``: priority 512 ``to`` it (and no ``from``), priority
    1536 ``from`` it (to any destination)."""
    return [
        rule
        for rule in host.rules_of(address)
        if (rule.priority == TO_POD_PRIORITY and rule.dst == address and not rule.src)
        or (rule.priority == FROM_POD_PRIORITY and rule.src == address and rule.src_len == 32)
    ]


def _from_rule(rule: Rule) -> FromRule:
    if rule.dst and rule.dst_len:
        return FromRule(IPv4Network(f"{rule.dst}/{rule.dst_len}", strict=False), rule.table)
    return FromRule(None, rule.table)


def _rules(host: Channel, address: str, wanted: list[FromRule]) -> list[str]:
    found = []
    rules = pod_rules(host, address)
    to_tables = sorted(r.table for r in rules if r.priority == TO_POD_PRIORITY)
    to_rule = f"rule {TO_POD_PRIORITY} 'to {address} lookup main'"
    if not to_tables:
        found.append(f"{to_rule} is missing")
    elif to_tables != [MAIN_TABLE]:
        found.append(f"{to_rule} is wrong: found lookups of tables {to_tables}")
    present = [_from_rule(r) for r in rules if r.priority == FROM_POD_PRIORITY]
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
    dp: KernelDataplane, pod: Channel, address: str, ifname: str, host_end: Link | None
) -> list[str]:
    found = []
    lo = pod.link("lo")
    if lo is not None and not lo.up:
        found.append("lo is down in the pod namespace")
    dev = pod.link(ifname)
    if dev is None:
        return [*found, f"{ifname} is missing from the pod namespace"]
    index = dev.index
    if not dev.up:
        found.append(f"{ifname} is down in the pod namespace")
    if dev.mtu != dp.pod_mtu:
        found.append(f"{ifname} has MTU {dev.mtu}, expected {dp.pod_mtu}")
    if host_end is not None and (dev.peer != host_end.index or host_end.peer != index):
        found.append(f"{ifname} in the pod is not the peer of {host_end.name}")
    held = [(a.address, a.prefixlen) for a in pod.addresses() if a.index == index]
    if (address, 32) not in held:
        found.append(f"{ifname} does not hold {address}/32 (it holds {held})")
    routes = pod.routes(MAIN_TABLE)
    link_route = [r for r in routes if r.dst == GATEWAY and r.dst_len == 32 and r.oif == index]
    if not link_route or link_route[0].scope != SCOPE_LINK:
        found.append(f"the pod route '{GATEWAY} dev {ifname} scope link' is missing")
    default = [r for r in routes if r.dst_len == 0]
    if not any(r.gateway == GATEWAY and r.oif == index for r in default):
        found.append(f"the pod route 'default via {GATEWAY} dev {ifname}' is missing")
    found += _neighbor(pod, index, ifname, host_end)
    return found


def _neighbor(pod: Channel, index: int, ifname: str, host_end: Link | None) -> list[str]:
    entries = [n for n in pod.neighbours(index) if n.dst == GATEWAY]
    if not entries:
        return [f"the pod's neighbor entry for {GATEWAY} on {ifname} is missing"]
    entry, found = entries[0], []
    if not entry.state & NUD_PERMANENT:
        found.append(f"the pod's neighbor entry for {GATEWAY} is not permanent")
    if host_end is not None and entry.mac != host_end.mac:
        found.append(
            f"the pod's neighbor entry for {GATEWAY} points at {entry.mac}, "
            f"not the host veth's {host_end.mac}"
        )
    return found
