"""What the sandbox's VPC router should hold for a set of attached ENIs, and the ``ip``
commands that take it there from what it holds now.

Owned here: the views (``EniView``, ``NodeView``: what EC2 says is attached), their checks,
the router state derived from them (``Programmed``), the diff between two states as
``ip -batch`` lines (``plan``), and reading that state back from the kernel (``read_back``)
after a batch failed half way. Pure functions of their inputs except ``read_back``; the
fabric (``sandbox/fabric.py``) runs what they return.

How an ENI looks on the router (see fabric.py for why each piece is there): a veth whose
router end is ``link_name(node, device_index)``, with an alias recording the ENI; a permanent
neighbor entry for the ENI's primary address with the ENI's MAC; one route
``<block> via <primary> dev <link> onlink`` for the primary address and each block; the
subnet's gateway address as /32 on the router's ``lo``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from sandbox.fabric_ns import Netns

ALIAS = "vpcsbx/v1"
"""First word of the alias on each ENI's router end; the rest records the ENI."""

_NODE = re.compile(r"[a-z0-9][a-z0-9-]{0,11}")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
MAX_DEVICE_INDEX = 99


@dataclass(frozen=True)
class EniView:
    """What EC2 says one attached ENI is."""

    id: str
    mac: str
    device_index: int
    subnet_cidr: IPv4Network
    primary_ip: IPv4Address
    blocks: tuple[IPv4Network, ...] = ()
    """Secondary /32 addresses and /28 prefixes assigned to it."""


@dataclass(frozen=True)
class NodeView:
    name: str
    enis: tuple[EniView, ...] = ()


def check_node_name(node: str) -> str:
    if not _NODE.fullmatch(node) or node in ("vpc", "inet"):
        raise ValueError(
            f"node name {node!r}: 1-12 of a-z, 0-9, '-' (and not 'vpc' or 'inet'), "
            "so that its router links fit the kernel's 15 characters"
        )
    return node


def link_name(node: str, device_index: int) -> str:
    """The router end of a node's ENI: ``n1d0`` for node n1, device index 0 (<= 15 chars)."""
    return f"{node}d{device_index}"


@dataclass(frozen=True)
class Attachment:
    """One ENI as the router knows it. Any change to these fields means a new veth."""

    node: str
    device_index: int
    eni_id: str
    mac: str
    primary_ip: IPv4Address
    subnet: IPv4Network

    @property
    def link(self) -> str:
        return link_name(self.node, self.device_index)

    @property
    def gateway(self) -> IPv4Address:
        """The subnet's gateway, like the VPC router's: the subnet's first address."""
        return self.subnet.network_address + 1

    def alias(self) -> str:
        words = (self.node, self.device_index, self.eni_id, self.mac, self.primary_ip, self.subnet)
        return " ".join([ALIAS, *map(str, words)])

    @classmethod
    def from_alias(cls, alias: str) -> Attachment | None:
        words = alias.split()
        if len(words) != 7 or words[0] != ALIAS:
            return None
        _, node, index, eni_id, mac, primary, subnet = words
        return cls(node, int(index), eni_id, mac, IPv4Address(primary), IPv4Network(subnet))


@dataclass
class Programmed:
    """The router's ENI state: what the fabric programmed (or read back)."""

    attachments: dict[str, Attachment] = field(default_factory=dict)
    """By router link name."""
    routes: dict[IPv4Network, str] = field(default_factory=dict)
    """Destination (an ENI's primary address or block) -> router link it is routed to."""
    gateways: set[IPv4Address] = field(default_factory=set)
    """Subnet gateway addresses on the router's lo."""
    unconfigured: set[str] = field(default_factory=set)
    """Primary ENIs (router link names) whose node side may not be configured yet."""


def desired(nodes: Sequence[NodeView], known_nodes: Sequence[str]) -> Programmed:
    """The router state for ``nodes`` (the whole picture: an ENI of no view is detached).
    ``ValueError`` for a view EC2 could never give."""
    wanted = Programmed()
    seen_nodes: set[str] = set()
    seen_ids: dict[str, str] = {}
    seen_macs: dict[str, str] = {}
    for view in nodes:
        if view.name not in known_nodes:
            raise ValueError(f"node {view.name!r} was never added (add_node first)")
        if view.name in seen_nodes:
            raise ValueError(f"node {view.name!r} appears twice in the views")
        seen_nodes.add(view.name)
        for eni in view.enis:
            _check_eni(eni)
            mac = eni.mac.lower()
            for seen, key, what in ((seen_ids, eni.id, "id"), (seen_macs, mac, "MAC")):
                if key in seen:
                    raise ValueError(f"ENI {what} {key} is attached twice ({seen[key]})")
                seen[key] = f"{view.name} device {eni.device_index}"
            att = Attachment(
                view.name, eni.device_index, eni.id, mac, eni.primary_ip, eni.subnet_cidr
            )
            if att.link in wanted.attachments:
                raise ValueError(f"node {view.name!r} has two ENIs at device {eni.device_index}")
            wanted.attachments[att.link] = att
            wanted.gateways.add(att.gateway)
            for block in (IPv4Network(eni.primary_ip), *eni.blocks):
                held = wanted.routes.get(block)
                if held is not None and held != att.link:
                    raise ValueError(f"{block} is assigned to two ENIs ({held}, {att.link})")
                wanted.routes[block] = att.link
    return wanted


def _check_eni(eni: EniView) -> None:
    where = f"ENI {eni.id}"
    if not eni.id or any(c.isspace() for c in eni.id):
        raise ValueError(f"{where}: an ENI id is one word")
    if not _MAC.fullmatch(eni.mac.lower()):
        raise ValueError(f"{where}: MAC {eni.mac!r} is not aa:bb:cc:dd:ee:ff")
    if not 0 <= eni.device_index <= MAX_DEVICE_INDEX:
        raise ValueError(f"{where}: device index {eni.device_index} out of 0..99")
    if eni.primary_ip not in eni.subnet_cidr:
        raise ValueError(f"{where}: primary {eni.primary_ip} is outside {eni.subnet_cidr}")
    if eni.subnet_cidr.prefixlen > 28:
        raise ValueError(f"{where}: subnet {eni.subnet_cidr} is smaller than a VPC allows")


@dataclass(frozen=True)
class Plan:
    router: list[str]
    """``ip -batch`` lines for the router's namespace."""
    nodes: dict[str, list[str]]
    """``ip -batch`` lines per node name, for the node's namespace, run after ``router``."""

    @property
    def empty(self) -> bool:
        return not self.router and not any(self.nodes.values())


def plan(old: Programmed, new: Programmed, node_ns: Callable[[str], str]) -> Plan:
    """The commands that take the router (and the node ends of new primary ENIs) from
    ``old`` to ``new``; none when they are equal."""
    gone = {link for link, att in old.attachments.items() if new.attachments.get(link) != att}
    made = [att for link, att in new.attachments.items() if old.attachments.get(link) != att]
    router: list[str] = [f"link del {link}" for link in sorted(gone)]
    # Routes of a deleted link went with it; only the survivors' stale routes need deleting.
    for dst, link in sorted(old.routes.items()):
        if link not in gone and new.routes.get(dst) != link:
            router.append(f"route del {dst} dev {link}")
    for att in made:
        router += [
            # Both ends made in their final namespaces at once; the node end gets the ENI's
            # name and MAC as the ENA driver would show them.
            f"link add {att.link} type veth peer name eth{att.device_index}"
            f" address {att.mac} netns {node_ns(att.node)}",
            f'link set {att.link} alias "{att.alias()}" up',
            # Broadcast ARP requests for proxied addresses are answered after a random
            # delay of up to proxy_delay (0.8 s by default); the VPC answers at once.
            f"ntable change name arp_cache dev {att.link} proxy_delay 0",
            # The VPC knows each ENI's MAC; it never ARPs for what it delivers to an ENI.
            f"neigh replace {att.primary_ip} lladdr {att.mac} dev {att.link} nud permanent",
        ]
    router += [f"address del {gw}/32 dev lo" for gw in sorted(old.gateways - new.gateways)]
    router += [f"address add {gw}/32 dev lo" for gw in sorted(new.gateways - old.gateways)]
    fresh = {att.link for att in made}
    for dst, link in sorted(new.routes.items()):
        if link in fresh or old.routes.get(dst) != link:
            primary = new.attachments[link].primary_ip
            router.append(f"route replace {dst} via {primary} dev {link} onlink")

    nodes: dict[str, list[str]] = {}
    for link, att in sorted(new.attachments.items()):
        if att.device_index == 0 and (link in fresh or link in old.unconfigured):
            # What DHCP gives an EC2 instance on its primary ENI.
            nodes.setdefault(att.node, []).extend(
                [
                    f"address replace {att.primary_ip}/{att.subnet.prefixlen} brd + dev eth0",
                    "link set eth0 up",
                    f"route replace default via {att.gateway} dev eth0",
                ]
            )
    return Plan(router, nodes)


def read_back(vpc: Netns) -> Programmed:
    """The router's ENI state as the kernel holds it (after a batch failed half way, the
    fabric's own record is no longer trusted). Every primary ENI found is marked for its
    node side to be configured again (those commands are idempotent)."""
    state = Programmed()
    for link in vpc.ip_json("-d", "link", "show", "type", "veth"):
        att = Attachment.from_alias(str(link.get("ifalias", "")))
        if att is not None and att.link == link["ifname"]:
            state.attachments[att.link] = att
            if att.device_index == 0:
                state.unconfigured.add(att.link)
    routes: list[dict[str, Any]] = vpc.ip_json("-4", "route", "show", "table", "main")
    for route in routes:
        if route.get("dev") in state.attachments and "gateway" in route:
            state.routes[IPv4Network(route["dst"])] = route["dev"]
    for entry in vpc.ip_json("-4", "address", "show", "dev", "lo"):
        for addr in entry.get("addr_info", []):
            if addr.get("prefixlen") == 32 and not IPv4Address(addr["local"]).is_loopback:
                state.gateways.add(IPv4Address(addr["local"]))
    return state
