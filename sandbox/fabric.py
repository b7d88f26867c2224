"""The sandbox's network: a VPC in a box, made of network namespaces (DESIGN.md §6).

Owned here: the namespaces of one sandbox run and everything inside them that plays the
cloud's part: ``<prefix>-vpc``, the VPC router; ``<prefix>-inet``, one host outside ("the
internet"); ``<prefix>-<node>`` per node, each of its attached ENIs a veth between the node
(``eth<device index>``, the ENI's MAC) and the router. ``sync`` makes the router match what
EC2 says is attached and assigned, so a daemon in a node namespace is tested against a
network that delivers, and drops, the way a VPC does. Not owned: what is inside a node
beyond what EC2 and its DHCP give an instance (that is the daemon's work, under test).

Nothing here touches the host's own namespace: every command names one of this run's
namespaces (``sandbox/fabric_ns.py``), and ``destroy`` (or, after a crash,
``cleanup_leftovers``) deletes them all, and with them every link, route and rule inside.

How the router stands in for the VPC, and the kernel quirks that shaped it:

- Delivery to an ENI is by MAC, never by ARP: the VPC knows each ENI's MAC and which
  addresses and prefixes are assigned to it. So the router has a permanent neighbor entry
  ``<ENI primary> lladdr <ENI MAC>`` and a route ``<block> via <ENI primary> dev <link>
  onlink`` per assigned address/prefix. The node would not answer ARP for a pod address (it
  is not local there), so routing pod addresses as "on-link" would not work.
- The rest of the VPC is blackholed: an unassigned address in a VPC CIDR goes nowhere (not
  out to the internet, and not back and forth between the router and the internet host).
- Nodes ARP for anything in their subnet (another node, a pod on another node): the router
  has ``proxy_arp`` on every ENI link, and answers for the subnet gateway (on its ``lo`` as
  /32) on every link. The kernel delays proxied answers to broadcast requests by up to
  ``proxy_delay`` (0.8 s); it is 0 here, as the VPC answers at once.
- ``rp_filter`` is 0 on the router: the ARP request a node sends from a secondary ENI
  carries the node's *primary* address as sender (the ENI has no address of its own on the
  node; Linux picks one from another interface), and strict reverse-path filtering finds
  that address routed to another link and drops the request, so the pods of a secondary
  ENI would never get an answer.
- EC2's source/destination check is a table of ours in the router's nftables: a packet that
  arrives on an ENI link from a source not routed back through that same link
  (``fib saddr . iif oif missing``) is counted and dropped. The internet link is not checked.
- Node namespaces start like an EC2 AMI: ``ip_forward=0``, ``rp_filter=1`` (Amazon Linux),
  IPv6 off, only ``lo`` up until ``sync`` attaches ENIs. The primary ENI gets what DHCP
  gives (its address with the subnet's length, the gateway as default route); secondary
  ENIs are left down and unconfigured, as on a real instance.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from sandbox.fabric_ns import (
    ROOT,
    FabricError,
    Netns,
    Runner,
    add_namespace,
    check_name,
    delete_namespace,
    list_namespaces,
)
from sandbox.fabric_router import (
    EniView,
    NodeView,
    Programmed,
    check_node_name,
    desired,
    plan,
    read_back,
)

__all__ = ["ROOT", "EniView", "Fabric", "FabricError", "NodeView"]

INTERNET = IPv4Network("198.51.100.0/24")
"""The outside world's addresses by default (TEST-NET-2, never routed anywhere real)."""
IGW = "igw"
"""The router's link to the internet host."""
NFT_TABLE = "vpc_sandbox"
SRC_DST_COUNTER = "src_dst_check"

_IPV6_OFF = {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1}


class Fabric:
    """The namespaces of one sandbox run and the VPC between them.

    ``create()`` first, then ``add_node`` per node, then ``sync`` whenever what EC2 says is
    attached may have changed; ``destroy()`` at the end, always. One caller at a time
    (calls are serialized by a lock)."""

    def __init__(
        self,
        prefix: str,
        vpc_cidrs: Sequence[IPv4Network],
        *,
        internet: IPv4Network = INTERNET,
    ) -> None:
        """``prefix``: this run's unique name, starting with ``ROOT`` (``vpcsbx-``) so that
        ``cleanup_leftovers`` finds its namespaces after a crash. Nothing is made yet."""
        check_name(prefix)
        if not vpc_cidrs:
            raise ValueError("a VPC has at least one CIDR")
        if internet.num_addresses < 16 or any(internet.overlaps(c) for c in vpc_cidrs):
            raise ValueError(f"internet {internet}: a /28 or larger, outside the VPC")
        self.prefix = prefix
        self.vpc_cidrs = tuple(vpc_cidrs)
        self.internet = internet
        self.vpc_ns = f"{prefix}-vpc"
        self.inet_ns = f"{prefix}-inet"
        self.igw_address: IPv4Address = internet.network_address + 1
        self.internet_address: IPv4Address = internet.network_address + 10
        self._runner = Runner()
        self._lock = threading.Lock()
        self._made: list[str] = []
        self._nodes: dict[str, Netns] = {}
        self._vpc: Netns | None = None
        self._programmed: Programmed | None = Programmed()
        """What the router holds; None after a failed batch (then read back on next sync)."""
        self._synced: tuple[NodeView, ...] | None = None

    @property
    def commands(self) -> int:
        """Subprocesses this fabric has run (``ip``, ``sysctl``, ``nft``)."""
        return self._runner.count

    def node_ns(self, node: str) -> str:
        return f"{self.prefix}-{check_node_name(node)}"

    def create(self) -> None:
        """The router and the internet host, their link, and the source/destination check."""
        with self._lock:
            if self._vpc is not None:
                raise FabricError(f"{self.vpc_ns} already created")
            vpc = self._add(self.vpc_ns)
            inet = self._add(self.inet_ns)
            # Before any link exists: new links take the "default" values.
            vpc.sysctl(
                {
                    **_IPV6_OFF,
                    "net.ipv4.ip_forward": 1,
                    "net.ipv4.conf.all.rp_filter": 0,  # see the module docstring
                    "net.ipv4.conf.default.rp_filter": 0,
                    "net.ipv4.conf.default.proxy_arp": 1,
                    "net.ipv4.conf.all.send_redirects": 0,
                    "net.ipv4.conf.default.send_redirects": 0,
                }
            )
            inet.sysctl(_IPV6_OFF)
            length = self.internet.prefixlen
            vpc.batch(
                [
                    "link set lo up",
                    f"link add {IGW} type veth peer name eth0 netns {inet.name}",
                    f"address add {self.igw_address}/{length} dev {IGW}",
                    f"link set {IGW} up",
                    f"route add default via {self.internet_address} dev {IGW}",
                    *(f"route add blackhole {cidr}" for cidr in self.vpc_cidrs),
                ]
            )
            vpc.sysctl({f"net.ipv4.conf.{IGW}.proxy_arp": 0})  # proxy only for ENIs
            inet.batch(
                [
                    "link set lo up",
                    f"address add {self.internet_address}/{length} dev eth0",
                    "link set eth0 up",
                    *(f"route add {c} via {self.igw_address} dev eth0" for c in self.vpc_cidrs),
                ]
            )
            vpc.nft(self._src_dst_check())
            self._vpc = vpc

    def add_node(self, node: str) -> str:
        """A node namespace as an instance boots: lo up, no ENI yet. Returns its name."""
        with self._lock:
            name = self.node_ns(node)
            if node in self._nodes:
                raise ValueError(f"node {node!r} already added")
            netns = self._add(name)
            netns.sysctl(
                {
                    **_IPV6_OFF,  # an IPv4-only node
                    "net.ipv4.ip_forward": 0,
                    "net.ipv4.conf.all.rp_filter": 1,  # as Amazon Linux sets them
                    "net.ipv4.conf.default.rp_filter": 1,
                }
            )
            netns.ip("link", "set", "lo", "up")
            self._nodes[node] = netns
            return name

    def sync(self, nodes: Sequence[NodeView]) -> None:
        """Makes the router (and the ENIs' veths) match ``nodes``, the whole picture: an
        ENI in no view is detached, a block in no view released. Runs no command when
        nothing changed since the last sync."""
        views = tuple(nodes)
        with self._lock:
            vpc = self._created()
            if views == self._synced:
                return
            wanted = desired(views, list(self._nodes))
            held = self._programmed if self._programmed is not None else read_back(vpc)
            steps = plan(held, wanted, self.node_ns)
            if not steps.empty:
                self._programmed = None  # until every batch went through
                self._synced = None
                vpc.batch(steps.router)
                for node, lines in steps.nodes.items():
                    self._nodes[node].batch(lines)
            wanted.unconfigured.clear()
            self._programmed = wanted
            self._synced = views

    def src_dst_drops(self) -> int:
        """Packets the router dropped by the source/destination check."""
        vpc = self._created()
        for item in vpc.nft_json("list", "counter", "ip", NFT_TABLE, SRC_DST_COUNTER):
            if "counter" in item:
                return int(item["counter"]["packets"])
        raise FabricError(f"no counter {SRC_DST_COUNTER} in {self.vpc_ns}")

    def eni_rx_packets(self, eni_id: str) -> int:
        """Packets the router received from the ENI ``eni_id`` (its link's rx counter)."""
        vpc = self._created()
        held = self._programmed if self._programmed is not None else read_back(vpc)
        link = next((a.link for a in held.attachments.values() if a.eni_id == eni_id), None)
        if link is None:
            raise KeyError(f"ENI {eni_id} is not attached in the sandbox")
        shown = vpc.ip_json("-s", "link", "show", "dev", link)
        return int(shown[0]["stats64"]["rx"]["packets"])

    def destroy(self) -> None:
        """Deletes every namespace this fabric made (with all their links). Idempotent."""
        with self._lock:
            failed: list[str] = []
            kept: list[str] = []
            for name in reversed(self._made):
                try:
                    delete_namespace(self._runner, name)
                except FabricError as e:
                    failed.append(str(e))
                    kept.insert(0, name)
            self._made = kept
            self._nodes.clear()
            self._vpc = None
            self._programmed = Programmed()
            self._synced = None
            if failed:
                raise FabricError("; ".join(failed))

    @staticmethod
    def cleanup_leftovers(root: str = ROOT) -> list[str]:
        """Deletes the namespaces named ``root*`` (left by a crashed run) and returns their
        names. The default root matches every sandbox on this machine: call it so only
        when no other sandbox is running; a run's own prefix is the careful choice."""
        if not root.startswith(ROOT):
            raise ValueError(f"root {root!r} must start with {ROOT!r}")
        runner = Runner()
        return [n for n in list_namespaces(root) if delete_namespace(runner, n)]

    def _add(self, name: str) -> Netns:
        netns = add_namespace(self._runner, name)
        self._made.append(name)
        return netns

    def _created(self) -> Netns:
        if self._vpc is None:
            raise FabricError("the fabric is not created (call create() first)")
        return self._vpc

    def _src_dst_check(self) -> list[dict[str, Any]]:
        """EC2's source/destination check as one nftables JSON batch: in prerouting, before
        conntrack, a packet from an ENI whose source is not routed back through the link
        it came in on is counted and dropped. ``fib saddr . iif oif`` looks the source up
        restricted to the incoming link: "missing" if that link has no route to it (the
        blackholed VPC CIDRs and the default route via the internet do not count)."""
        table = {"family": "ip", "table": NFT_TABLE}
        chain = {**table, "chain": "prerouting"}
        iifname = {"meta": {"key": "iifname"}}
        source_link = {"fib": {"result": "oif", "flags": ["saddr", "iif"]}}
        return [
            {"add": {"table": {"family": "ip", "name": NFT_TABLE}}},
            {"add": {"counter": {**table, "name": SRC_DST_COUNTER}}},
            {
                "add": {
                    "chain": {
                        **table,
                        "name": "prerouting",
                        "type": "filter",
                        "hook": "prerouting",
                        "prio": -300,
                        "policy": "accept",
                    }
                }
            },
            {
                "add": {
                    "rule": {
                        **chain,
                        "expr": [
                            {"match": {"op": "==", "left": iifname, "right": {"set": ["lo", IGW]}}},
                            {"accept": None},
                        ],
                    }
                }
            },
            {
                "add": {
                    "rule": {
                        **chain,
                        "expr": [
                            {"match": {"op": "==", "left": source_link, "right": False}},
                            {"counter": SRC_DST_COUNTER},
                            {"drop": None},
                        ],
                    }
                }
            },
        ]
