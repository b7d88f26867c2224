"""The sandbox's VPC in a box (sandbox/fabric.py), with real namespaces and real traffic.

Two nodes in 10.0.1.0/24 of VPC 10.0.0.0/16: n1 with its primary ENI (10.0.1.10), n2 with
its primary ENI (10.0.1.20) and a secondary one (10.0.1.30) holding 10.0.1.40/32,
10.0.1.41/32 and 10.0.1.64/28. What the daemon would do on n2 (bring eth1 up, route its
addresses) the tests do by hand, with addresses on n2's lo standing in for pods.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from sandbox.fabric import EniView, Fabric, FabricError, NodeView
from sandbox.portal import listen_in_netns, socket_in_netns
from tests.netns.conftest import in_netns, ip, ip_json
from tests.netns.pods import ping

pytestmark = pytest.mark.netns

VPC = IPv4Network("10.0.0.0/16")
SUBNET = IPv4Network("10.0.1.0/24")
N1_PRIMARY = EniView("eni-n1-0", "02:00:00:01:00:00", 0, SUBNET, IPv4Address("10.0.1.10"))
N2_PRIMARY = EniView("eni-n2-0", "02:00:00:02:00:00", 0, SUBNET, IPv4Address("10.0.1.20"))
N2_SECONDARY = EniView(
    "eni-n2-1",
    "02:00:00:02:01:00",
    1,
    SUBNET,
    IPv4Address("10.0.1.30"),
    (IPv4Network("10.0.1.40/32"), IPv4Network("10.0.1.41/32"), IPv4Network("10.0.1.64/28")),
)
INTERNET = "198.51.100.10"


def views(*n2_secondaries: EniView) -> list[NodeView]:
    return [
        NodeView("n1", (N1_PRIMARY,)),
        NodeView("n2", (N2_PRIMARY, *n2_secondaries)),
    ]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [tool for tool in ("ip", "nft", "sysctl") if shutil.which(tool) is None]
    return f"needs {', '.join(missing)}" if missing else None


@pytest.fixture
def make_fabric() -> Iterator[Callable[[], Fabric]]:
    """Makes created fabrics with nodes n1 and n2 (not synced); every one destroyed after."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    made: list[Fabric] = []

    def make() -> Fabric:
        fabric = Fabric(f"vpcsbx-t{uuid.uuid4().hex[:6]}", [VPC])
        made.append(fabric)
        fabric.create()
        fabric.add_node("n1")
        fabric.add_node("n2")
        return fabric

    try:
        yield make
    finally:
        for fabric in made:
            fabric.destroy()


@pytest.fixture
def fabric(make_fabric: Callable[[], Fabric]) -> Fabric:
    """Both nodes attached: n1 its primary ENI, n2 its primary and secondary ENIs."""
    made = make_fabric()
    made.sync(views(N2_SECONDARY))
    return made


class Echo:
    """A TCP server inside a namespace that answers each connection with the peer address
    it saw, and records them."""

    def __init__(self, netns: str, host: str) -> None:
        self.listener = listen_in_netns(netns, host, 0)
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, (peer, _) = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                self.peers.append(peer)
                conn.sendall(peer.encode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.listener.close()


@pytest.fixture
def echo() -> Iterator[Callable[[str, str], Echo]]:
    servers: list[Echo] = []

    def serve(netns: str, host: str) -> Echo:
        servers.append(Echo(netns, host))
        return servers[-1]

    try:
        yield serve
    finally:
        for server in servers:
            server.close()


def ask(
    netns: str, server: Echo, host: str, source: str | None = None, timeout: float = 5.0
) -> str | None:
    """Connects from ``netns`` (from ``source`` if given) to ``server`` at ``host``: the
    address the server saw, or None if no answer came within ``timeout`` seconds (long
    enough for ARP and a SYN retransmission on a loaded machine)."""
    with socket_in_netns(netns) as sock:
        sock.settimeout(timeout)
        try:
            if source:
                sock.bind((source, 0))
            sock.connect((host, server.port))
            return sock.recv(64).decode()
        except OSError:
            return None


def route_blocks_on_n2(fabric: Fabric) -> str:
    """What the daemon would do on n2, with addresses on lo for pods: eth1 up, its blocks
    routed out through eth1 (table 101), except 10.0.1.41, which is sent out of eth0 (the
    wrong ENI, table 100)."""
    n2 = fabric.node_ns("n2")
    ip(n2, "link", "set", "eth1", "up")
    for address in ("10.0.1.40/32", "10.0.1.41/32", "10.0.1.70/32"):
        ip(n2, "address", "add", address, "dev", "lo")
    ip(n2, "route", "add", "default", "via", "10.0.1.1", "dev", "eth1", "onlink", "table", "101")
    ip(n2, "route", "add", "default", "via", "10.0.1.1", "dev", "eth0", "table", "100")
    ip(n2, "rule", "add", "from", "10.0.1.41", "lookup", "100", "priority", "100")
    ip(n2, "rule", "add", "from", "10.0.1.40", "lookup", "101", "priority", "101")
    ip(n2, "rule", "add", "from", "10.0.1.64/28", "lookup", "101", "priority", "101")
    return n2


def sysctl(netns: str, key: str) -> str:
    return in_netns(netns, "sysctl", "-n", key).stdout.strip()


def router_state(fabric: Fabric) -> dict[str, Any]:
    return {
        "link": ip_json(fabric.vpc_ns, "-d", "link"),
        "route": ip_json(fabric.vpc_ns, "route"),
        "neigh": [n for n in ip_json(fabric.vpc_ns, "neigh") if "PERMANENT" in n["state"]],
        "lo": ip_json(fabric.vpc_ns, "-4", "address", "show", "dev", "lo"),
    }


def routes_via(fabric: Fabric, link: str) -> dict[str, str]:
    return {r["dst"]: r["gateway"] for r in ip_json(fabric.vpc_ns, "route") if r.get("dev") == link}


def link(netns: str, name: str) -> dict[str, Any] | None:
    return next((x for x in ip_json(netns, "link") if x["ifname"] == name), None)


def test_a_node_boots_like_an_ec2_instance(fabric: Fabric):
    n2 = fabric.node_ns("n2")
    eth0 = ip_json(n2, "-4", "address", "show", "dev", "eth0")[0]
    assert "UP" in eth0["flags"]
    assert link(n2, "eth0") is not None
    assert link(n2, "eth0")["address"] == N2_PRIMARY.mac  # type: ignore[index]
    assert [(a["local"], a["prefixlen"]) for a in eth0["addr_info"]] == [("10.0.1.20", 24)]
    assert {"dst": "default", "gateway": "10.0.1.1", "dev": "eth0", "flags": []} in ip_json(
        n2, "route"
    )
    eth1 = link(n2, "eth1")
    assert eth1 is not None
    assert eth1["address"] == N2_SECONDARY.mac
    assert "UP" not in eth1["flags"]
    assert ip_json(n2, "-4", "address", "show", "dev", "eth1") == []
    assert sysctl(n2, "net.ipv4.ip_forward") == "0"
    assert sysctl(n2, "net.ipv4.conf.all.rp_filter") == "1"
    assert sysctl(n2, "net.ipv4.conf.eth1.rp_filter") == "1"
    assert ip_json(n2, "-6", "address") == []  # IPv4 only
    assert ip_json(fabric.vpc_ns, "neigh", "show", "dev", "n2d1") == [
        {"dst": "10.0.1.30", "lladdr": N2_SECONDARY.mac, "state": ["PERMANENT"]}
    ]


def test_nodes_reach_each_other_and_the_internet_sees_their_primary_address(
    fabric: Fabric, echo: Callable[[str, str], Echo]
):
    n1 = fabric.node_ns("n1")
    assert ping(n1, "10.0.1.20")
    assert ping(fabric.node_ns("n2"), "10.0.1.10")
    assert str(fabric.internet_address) == INTERNET
    outside = echo(fabric.inet_ns, INTERNET)
    assert ask(n1, outside, INTERNET) == "10.0.1.10"
    assert ask(fabric.node_ns("n2"), outside, INTERNET) == "10.0.1.20"
    assert outside.peers == ["10.0.1.10", "10.0.1.20"]
    assert fabric.src_dst_drops() == 0


def test_an_unassigned_vpc_address_goes_nowhere(fabric: Fabric):
    n1 = fabric.node_ns("n1")
    inet_rx = rx_packets(fabric.inet_ns, "eth0")
    with socket_in_netns(n1, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # 10.0.1.99 is in n1's subnet: n1 ARPs for it and the router does not answer.
        # 10.0.7.7 is not: sent to the gateway, the router drops it (not to the internet).
        sock.sendto(b"x", ("10.0.1.99", 9))
        sock.sendto(b"x", ("10.0.7.7", 9))
        time.sleep(0.3)
    asked = ip_json(n1, "neigh", "show", "to", "10.0.1.99")
    assert [n["state"] for n in asked] in ([["INCOMPLETE"]], [["FAILED"]])
    assert rx_packets(fabric.inet_ns, "eth0") == inet_rx
    assert ping(n1, INTERNET)  # the path out itself works
    assert rx_packets(fabric.inet_ns, "eth0") > inet_rx


def rx_packets(netns: str, name: str) -> int:
    return int(ip_json(netns, "-s", "link", "show", "dev", name)[0]["stats64"]["rx"]["packets"])


def test_a_block_is_reachable_through_its_eni_both_ways(
    fabric: Fabric, echo: Callable[[str, str], Echo]
):
    n2 = route_blocks_on_n2(fabric)
    n1 = fabric.node_ns("n1")
    at_n1 = echo(n1, "10.0.1.10")
    before = fabric.eni_rx_packets(N2_SECONDARY.id)
    assert ask(n2, at_n1, "10.0.1.10", source="10.0.1.40") == "10.0.1.40"
    at_n2 = echo(n2, "10.0.1.70")  # inside the /28 prefix
    assert ask(n1, at_n2, "10.0.1.70") == "10.0.1.10"
    assert fabric.eni_rx_packets(N2_SECONDARY.id) >= before + 4  # SYN, ACK, ... both ways
    assert fabric.src_dst_drops() == 0


def test_the_source_destination_check_drops_a_block_sent_from_another_eni(
    fabric: Fabric, echo: Callable[[str, str], Echo]
):
    n2 = route_blocks_on_n2(fabric)
    at_n1 = echo(fabric.node_ns("n1"), "10.0.1.10")
    drops = fabric.src_dst_drops()
    primary_rx = fabric.eni_rx_packets(N2_PRIMARY.id)
    n1_rx = rx_packets(fabric.node_ns("n1"), "eth0")
    assert ask(n2, at_n1, "10.0.1.10", source="10.0.1.41", timeout=1.5) is None  # out of eth0
    assert fabric.src_dst_drops() > drops
    assert fabric.eni_rx_packets(N2_PRIMARY.id) > primary_rx  # it did reach the router
    assert rx_packets(fabric.node_ns("n1"), "eth0") == n1_rx  # and went no further
    assert at_n1.peers == []
    # The same address through its own ENI passes.
    ip(n2, "rule", "del", "priority", "100")
    ip(n2, "rule", "add", "from", "10.0.1.41", "lookup", "101", "priority", "100")
    assert ask(n2, at_n1, "10.0.1.10", source="10.0.1.41") == "10.0.1.41"


def test_a_pod_behind_a_secondary_eni_is_answered_thanks_to_the_routers_loose_rp_filter(
    fabric: Fabric, make_netns: Callable[[str], str]
):
    # A pod's packet forwarded out of eth1: eth1 has no address, so n2 ARPs there for the
    # gateway with its primary address (10.0.1.20) as sender, which the router routes to
    # n2d0, not to n2d1. Strict reverse-path filtering on the router drops that request.
    n2 = fabric.node_ns("n2")
    pod = make_netns("pod")
    wire_pod(n2, pod, "10.0.1.72")  # in the secondary ENI's /28
    assert (
        in_netns(fabric.vpc_ns, "sysctl", "-qw", "net.ipv4.conf.n2d1.rp_filter=1").returncode == 0
    )
    assert not ping(pod, "10.0.1.10")
    assert gateway_seen_from_eth1(n2) in ("INCOMPLETE", "FAILED")

    assert (
        in_netns(fabric.vpc_ns, "sysctl", "-qw", "net.ipv4.conf.n2d1.rp_filter=0").returncode == 0
    )
    ip(n2, "neigh", "flush", "dev", "eth1")
    assert ping(pod, "10.0.1.10")
    assert gateway_seen_from_eth1(n2) in ("REACHABLE", "STALE", "DELAY", "PROBE")
    assert fabric.src_dst_drops() == 0


def wire_pod(n2: str, pod: str, address: str) -> None:
    """A pod on n2 as the plugin wires one (DESIGN.md §5), its traffic out of eth1."""
    ip(n2, "link", "add", "vethpod", "type", "veth", "peer", "name", "eth0", "netns", pod)
    host_end = link(n2, "vethpod")
    assert host_end is not None
    ip(pod, "link", "set", "lo", "up")
    ip(pod, "link", "set", "eth0", "up")
    ip(pod, "address", "add", f"{address}/32", "dev", "eth0")
    ip(pod, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
    ip(pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
    ip(
        pod,
        "neigh",
        "add",
        "169.254.1.1",
        "lladdr",
        host_end["address"],
        "dev",
        "eth0",
        "nud",
        "permanent",
    )
    ip(n2, "link", "set", "vethpod", "up")
    ip(n2, "link", "set", "eth1", "up")
    ip(n2, "route", "add", f"{address}/32", "dev", "vethpod")
    ip(n2, "route", "add", "default", "via", "10.0.1.1", "dev", "eth1", "onlink", "table", "101")
    ip(n2, "rule", "add", "from", address, "lookup", "101", "priority", "1536")
    assert in_netns(n2, "sysctl", "-qw", "net.ipv4.ip_forward=1").returncode == 0


def gateway_seen_from_eth1(n2: str) -> str:
    found = ip_json(n2, "neigh", "show", "dev", "eth1", "to", "10.0.1.1")
    return str(found[0]["state"][0]) if found else "NONE"


def test_sync_is_idempotent_and_runs_nothing_when_nothing_changed(fabric: Fabric):
    state = router_state(fabric)
    commands = fabric.commands
    fabric.sync(views(N2_SECONDARY))
    fabric.sync([replace(v) for v in views(replace(N2_SECONDARY))])  # equal, new objects
    fabric.sync(views(N2_SECONDARY)[::-1])  # other views, same router state: compared
    fabric.sync(views(N2_SECONDARY))
    assert fabric.commands == commands
    assert router_state(fabric) == state
    started = time.perf_counter()
    for _ in range(100):
        fabric.sync(views(N2_SECONDARY))
    assert time.perf_counter() - started < 0.5


def test_sync_follows_releases_detaches_and_reattaches(fabric: Fabric):
    n2 = fabric.node_ns("n2")
    first = link(fabric.vpc_ns, "n2d1")
    assert first is not None
    assert routes_via(fabric, "n2d1") == {
        "10.0.1.30": "10.0.1.30",
        "10.0.1.40": "10.0.1.30",
        "10.0.1.41": "10.0.1.30",
        "10.0.1.64/28": "10.0.1.30",
    }

    released = replace(N2_SECONDARY, blocks=N2_SECONDARY.blocks[1:])  # 10.0.1.40 goes back
    commands = fabric.commands
    fabric.sync(views(released))
    assert fabric.commands == commands + 1  # one batch
    assert "10.0.1.40" not in routes_via(fabric, "n2d1")
    assert len(routes_via(fabric, "n2d1")) == 3
    assert link(fabric.vpc_ns, "n2d1") == first  # the ENI's veth stays

    fabric.sync(views())  # detached
    assert link(fabric.vpc_ns, "n2d1") is None
    assert link(n2, "eth1") is None
    assert routes_via(fabric, "n2d1") == {}
    assert "10.0.1.1" in str(ip_json(fabric.vpc_ns, "-4", "address", "show", "dev", "lo"))
    with pytest.raises(KeyError):
        fabric.eni_rx_packets(N2_SECONDARY.id)

    other = replace(released, id="eni-n2-1b", mac="02:00:00:02:01:0b")
    fabric.sync(views(other))  # another ENI at device index 1
    again = link(fabric.vpc_ns, "n2d1")
    eth1 = link(n2, "eth1")
    assert again is not None
    assert eth1 is not None
    assert eth1["address"] == "02:00:00:02:01:0b"
    assert len(routes_via(fabric, "n2d1")) == 3
    assert ip_json(fabric.vpc_ns, "neigh", "show", "dev", "n2d1") == [
        {"dst": "10.0.1.30", "lladdr": "02:00:00:02:01:0b", "state": ["PERMANENT"]}
    ]

    third = replace(other, mac="02:00:00:02:01:0c")
    fabric.sync(views(third))  # replaced without a detach in between: a new veth
    replaced = link(fabric.vpc_ns, "n2d1")
    assert replaced is not None
    assert replaced["ifindex"] != again["ifindex"]
    assert link(n2, "eth1") is not None
    assert link(n2, "eth1")["address"] == "02:00:00:02:01:0c"  # type: ignore[index]
    assert len(routes_via(fabric, "n2d1")) == 3


def test_eni_rx_packets_counts_what_left_through_that_eni(fabric: Fabric):
    n1 = fabric.node_ns("n1")
    primary = fabric.eni_rx_packets(N1_PRIMARY.id)
    secondary = fabric.eni_rx_packets(N2_SECONDARY.id)
    for _ in range(3):
        assert ping(n1, INTERNET)
    assert fabric.eni_rx_packets(N1_PRIMARY.id) >= primary + 3
    assert fabric.eni_rx_packets(N2_SECONDARY.id) == secondary  # its node end is down


def test_views_ec2_could_never_give_are_refused_before_any_command(fabric: Fabric):
    commands = fabric.commands
    twice = replace(N2_SECONDARY, id="eni-other", mac="02:00:00:02:01:99", device_index=2)
    bad = [
        [*views(N2_SECONDARY), NodeView("n9", ())],  # never added
        views(N2_SECONDARY, replace(N2_SECONDARY, mac="02:00:00:02:01:99")),  # same index
        views(N2_SECONDARY, twice),  # same blocks on two ENIs
        views(replace(N2_SECONDARY, primary_ip=IPv4Address("10.0.2.5"))),  # off-subnet
    ]
    for nodes in bad:
        with pytest.raises(ValueError):
            fabric.sync(nodes)
    assert fabric.commands == commands


def test_destroy_removes_every_namespace_and_can_be_repeated(make_fabric: Callable[[], Fabric]):
    fabric = make_fabric()
    fabric.sync(views(N2_SECONDARY))
    names = {fabric.vpc_ns, fabric.inet_ns, fabric.node_ns("n1"), fabric.node_ns("n2")}
    assert names <= _namespaces()
    fabric.destroy()
    assert not any(n.startswith(fabric.prefix) for n in _namespaces())
    fabric.destroy()


def test_cleanup_leftovers_removes_a_crashed_runs_namespaces_only(
    make_fabric: Callable[[], Fabric],
):
    crashed = make_fabric()  # never destroyed by the "run"
    crashed.sync(views(N2_SECONDARY))
    alive = make_fabric()
    removed = Fabric.cleanup_leftovers(f"{crashed.prefix}-")
    assert sorted(removed) == sorted(
        [crashed.vpc_ns, crashed.inet_ns, crashed.node_ns("n1"), crashed.node_ns("n2")]
    )
    left = _namespaces()
    assert not any(n.startswith(crashed.prefix) for n in left)
    assert {alive.vpc_ns, alive.inet_ns, alive.node_ns("n1"), alive.node_ns("n2")} <= left
    assert Fabric.cleanup_leftovers(f"{crashed.prefix}-") == []
    with pytest.raises(ValueError):
        Fabric.cleanup_leftovers("")
    crashed.destroy()  # nothing left to do, and no error for it


def _namespaces() -> set[str]:
    done = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True)
    return {n["name"] for n in json.loads(done.stdout or "[]")}


def test_a_sync_that_failed_half_way_is_finished_by_the_next(fabric: Fabric):
    released = replace(N2_SECONDARY, blocks=N2_SECONDARY.blocks[1:])
    third = EniView(
        "eni-n2-2",
        "02:00:00:02:02:00",
        2,
        SUBNET,
        IPv4Address("10.0.1.50"),
        (IPv4Network("10.0.1.51/32"),),
    )
    # A link in the way of the new ENI's router end makes the batch fail half way.
    ip(fabric.vpc_ns, "link", "add", "n2d2", "type", "veth", "peer", "name", "blocker")
    with pytest.raises(FabricError, match="n2d2"):
        fabric.sync(views(released, third))
    assert "10.0.1.40" not in routes_via(fabric, "n2d1")  # what came before did happen
    ip(fabric.vpc_ns, "link", "del", "n2d2")

    fabric.sync(views(released, third))  # reads the router back, then finishes
    assert routes_via(fabric, "n2d2") == {"10.0.1.50": "10.0.1.50", "10.0.1.51": "10.0.1.50"}
    assert len(routes_via(fabric, "n2d1")) == 3
    eth2 = link(fabric.node_ns("n2"), "eth2")
    assert eth2 is not None
    assert eth2["address"] == third.mac
    assert ping(fabric.node_ns("n1"), "10.0.1.20")
    commands = fabric.commands
    fabric.sync(views(released, third))
    assert fabric.commands == commands
