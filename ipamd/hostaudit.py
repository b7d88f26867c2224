"""The host's pod wiring as the doctor reads it, and the few edits its repairs make.

``ipamd.hostview`` answers recovery's one question (which address is routed to which of our
veths); the doctor needs the whole picture to compare with the datastore: every veth named
with our prefix (routed or not, with its alias and state), every main-table /32 route
through one of them (an address may have several, with different metrics, and all are
kept: two veths routing one address is a fault to report), and every rule of ours at
priorities 512 and 1536. Values are small and frozen so a diagnosis is pure.

``HostRepairs`` makes exactly the changes the doctor's safe repairs need and nothing more,
through the same rtnetlink helpers the dataplane wires pods with. Both work in the daemon's
own network namespace or a named one (tests, the sandbox).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from ipamd.dataplane import rtnl
from ipamd.dataplane.nsfd import netlink
from ipamd.hostview import MAIN_TABLE, key_from_alias
from ipamd.model import Allocation, AllocationKey


@dataclass(frozen=True, slots=True)
class HostVeth:
    name: str
    index: int
    key: AllocationKey | None
    """The attachment its alias names; None when it has no (readable) alias of ours."""
    state: str
    """The kernel's operational state (``UP``, ``DOWN``, ``LOWERLAYERDOWN`` ...)."""


@dataclass(frozen=True, slots=True)
class HostRoute:
    """``<address>/32 dev <veth> metric <metric>`` in the main table."""

    address: IPv4Address
    veth: str
    metric: int


@dataclass(frozen=True, slots=True)
class HostRule:
    """A rule of ours: priority 512 ``to <address> lookup <table>`` (dst is None), or
    priority 1536 ``from <address> [to <dst>] lookup <table>``."""

    address: IPv4Address
    priority: int
    table: int
    dst: IPv4Network | None = None

    def sort_key(self) -> tuple[IPv4Address, int, int, int, int]:
        dst = (-1, 0) if self.dst is None else (int(self.dst.network_address), self.dst.prefixlen)
        return (self.address, self.priority, self.table, *dst)

    @property
    def from_rule(self) -> rtnl.FromRule | None:
        """The rule as a FromRule when it is a rule 1536."""
        if self.priority != rtnl.FROM_POD_PRIORITY:
            return None
        return rtnl.FromRule(self.dst, self.table)

    def __str__(self) -> str:
        if self.priority == rtnl.TO_POD_PRIORITY:
            table = "main" if self.table == MAIN_TABLE else str(self.table)
            return f"rule {self.priority} 'to {self.address} lookup {table}'"
        return rtnl.FromRule(self.dst, self.table).describe(str(self.address))


@dataclass(frozen=True, slots=True)
class HostAudit:
    veths: tuple[HostVeth, ...] = ()
    routes: tuple[HostRoute, ...] = ()
    rules: tuple[HostRule, ...] = ()

    def routed(self) -> dict[IPv4Address, list[str]]:
        """Address -> the distinct veths a route sends it to (lowest metric first)."""
        found: dict[IPv4Address, list[str]] = {}
        for route in sorted(self.routes, key=lambda r: (r.address, r.metric)):
            names = found.setdefault(route.address, [])
            if route.veth not in names:
                names.append(route.veth)
        return found

    def rules_of(self) -> dict[IPv4Address, list[HostRule]]:
        found: dict[IPv4Address, list[HostRule]] = {}
        for rule in self.rules:
            found.setdefault(rule.address, []).append(rule)
        return found

    def ours(self) -> list[HostVeth]:
        """The veths that are ours: an alias naming an attachment, or (alias unreadable or
        missing) a pod route; a veth with neither may be anyone's with a similar name."""
        routed = {r.veth for r in self.routes}
        return [v for v in self.veths if v.key is not None or v.name in routed]


def scan(veth_prefix: str, *, netns: str | None = None) -> HostAudit:
    """Our veths, the main-table /32 routes through them and our rules, sorted."""
    with netlink(netns) as ipr:
        links = [
            msg for msg in ipr.get_links() if str(msg.get("ifname") or "").startswith(veth_prefix)
        ]
        routes = ipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE)
        rules = ipr.get_rules(family=socket.AF_INET)
    veths = {
        msg["index"]: HostVeth(
            name=str(msg.get("ifname")),
            index=msg["index"],
            key=key_from_alias(msg.get("ifalias")),
            state=str(msg.get("operstate") or "UNKNOWN"),
        )
        for msg in links
    }
    found_routes = [
        HostRoute(IPv4Address(route.get("dst")), veths[oif].name, int(route.get("priority") or 0))
        for route in routes
        if route["dst_len"] == 32 and route.get("dst") and (oif := route.get("oif")) in veths
    ]
    found_rules = [r for msg in rules if (r := _host_rule(msg)) is not None]
    return HostAudit(
        veths=tuple(sorted(veths.values(), key=lambda v: v.name)),
        routes=tuple(sorted(found_routes, key=lambda r: (r.address, r.metric, r.veth))),
        rules=tuple(sorted(found_rules, key=HostRule.sort_key)),
    )


def _host_rule(msg: rtnl.Msg) -> HostRule | None:
    address = rtnl.pod_rule_address(msg)
    if address is None:
        return None
    priority = msg.get("priority") or 0
    dst = rtnl.from_rule(msg).dst if priority == rtnl.FROM_POD_PRIORITY else None
    return HostRule(IPv4Address(address), priority, rtnl.rule_table(msg), dst)


class HostRepairs:
    """The host edits of the doctor's repairs, in the daemon's namespace or ``netns``.
    Each raises WiringFailed naming what it was doing when the kernel refused."""

    def __init__(self, *, netns: str | None = None) -> None:
        self.netns = netns

    def delete_veth(self, name: str) -> None:
        """Delete the veth (its routes and the pod end go with it); gone is fine."""
        with rtnl.step(f"deleting the veth {name}"), netlink(self.netns) as ipr:
            rtnl.delete_link(ipr, name)

    def delete_rule(self, rule: HostRule) -> None:
        """Delete exactly this rule (the kernel's own message for it); gone is fine."""
        with rtnl.step(f"deleting {rule}"), netlink(self.netns) as ipr:
            for msg in rtnl.pod_rules(ipr, str(rule.address)):
                if _host_rule(msg) == rule:
                    rtnl.delete_rule(ipr, msg)
                    return

    def add_rules(self, allocation: Allocation, wanted: Sequence[rtnl.FromRule]) -> None:
        """Add the allocation's rule 512 and the rules 1536 in ``wanted`` that are missing;
        rules present (of any kind) are left as they are."""
        address = str(allocation.address)
        with netlink(self.netns) as ipr:
            present = [_host_rule(msg) for msg in rtnl.pod_rules(ipr, address)]
            to_rule = HostRule(allocation.address, rtnl.TO_POD_PRIORITY, MAIN_TABLE)
            if to_rule not in present:
                with rtnl.step(f"adding {to_rule}"):
                    rtnl.add_to_rule(ipr, address)
            have = {r.from_rule for r in present if r is not None}
            for each in dict.fromkeys(wanted):
                if each not in have:
                    with rtnl.step(f"adding {each.describe(address)}"):
                        rtnl.add_from_rule(ipr, address, each)
