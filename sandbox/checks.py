"""The sandbox's connectivity matrix: what the datapath promises, checked with real traffic.

- pod to pod across nodes, with the source address preserved (no NAT inside the VPC);
- pod to the internet namespace, seen there as the node's primary address (SNAT), or as the
  pod's own address with external SNAT or when the destination is in EXCLUDE_SNAT_CIDRS;
- a pod on a secondary ENI leaves through that ENI (the router counts what it received on
  that ENI's link, and its source/destination check would drop anything else);
- the source/destination check has dropped nothing while the checks ran.

Each check returns a ``Check`` with what was expected and what was seen; nothing raises, so
the demo can print the whole matrix and the tests can assert on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address

from sandbox.cluster import Sandbox
from sandbox.kubelet import Pod
from sandbox.probe import ProbeFailed, WhoAmI, whoami

POD_PORT = 8080
INTERNET_PORT = 80


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@contextmanager
def whoami_server(netns: str, address: str, port: int) -> Iterator[WhoAmI]:
    server = WhoAmI(netns, address, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _ask(client: Pod, address: str, port: int) -> str:
    try:
        return whoami(client.netns, address, port)
    except ProbeFailed as failed:
        return f"no answer ({failed})"


def pod_to_pod(client: Pod, server: Pod, client_node: str, server_node: str) -> Check:
    with whoami_server(server.netns, server.address, POD_PORT):
        seen = _ask(client, server.address, POD_PORT)
    return Check(
        f"pod {client.address} ({client_node}) -> pod {server.address} ({server_node})",
        seen == client.address,
        f"source seen {seen}, expected {client.address} (no NAT inside the VPC)",
    )


def pod_to_internet(sandbox: Sandbox, client: Pod, node: str) -> Check:
    assert sandbox.fabric is not None
    internet = str(sandbox.fabric.internet_address)
    expected = str(expected_internet_source(sandbox, client, node))
    with whoami_server(sandbox.fabric.inet_ns, internet, INTERNET_PORT):
        seen = _ask(client, internet, INTERNET_PORT)
    why = "node's primary address (SNAT)" if expected != client.address else "pod's own address"
    return Check(
        f"pod {client.address} ({node}) -> internet {internet}",
        seen == expected,
        f"source seen {seen}, expected {expected}, the {why}",
    )


def expected_internet_source(sandbox: Sandbox, client: Pod, node: str) -> IPv4Address:
    assert sandbox.fabric is not None
    opts = sandbox.options
    internet = sandbox.fabric.internet_address
    excluded = any(internet in IPv4Network(c) for c in opts.exclude_snat_cidrs)
    if opts.external_snat or excluded:
        return IPv4Address(client.address)
    return sandbox.primary_ip(node)


def secondary_eni_of(sandbox: Sandbox, node: str, address: str) -> str | None:
    """The id of the secondary interface whose addresses or prefixes hold ``address``."""
    wanted = ip_address(address)
    for eni in sandbox.interfaces(node)[1:]:
        if any(wanted in block for block in eni.blocks):
            return eni.id
    return None


def leaves_through_its_eni(
    sandbox: Sandbox, client: Pod, node: str, server: Pod, server_node: str
) -> Check:
    assert sandbox.fabric is not None
    eni = secondary_eni_of(sandbox, node, client.address)
    if eni is None:
        return Check(f"pod {client.address} ({node}) on a secondary ENI", False, "not on one")
    before = sandbox.fabric.eni_rx_packets(eni)
    with whoami_server(server.netns, server.address, POD_PORT):
        seen = _ask(client, server.address, POD_PORT)
    received = sandbox.fabric.eni_rx_packets(eni) - before
    return Check(
        f"pod {client.address} ({node}, {eni}) -> pod {server.address} ({server_node})",
        seen == client.address and received > 0,
        f"source seen {seen}; the router received {received} packets from {eni}",
    )


def matrix(sandbox: Sandbox, pods: dict[str, list[Pod]]) -> list[Check]:
    """Every check over the pods each node runs (``pods``: node name -> its pods)."""
    assert sandbox.fabric is not None
    drops_before = sandbox.fabric.src_dst_drops()
    names = sorted(pods)
    checks: list[Check] = []
    for here, there in zip(names, names[1:] + names[:1], strict=True):
        if here != there and pods[here] and pods[there]:
            checks.append(pod_to_pod(pods[here][0], pods[there][0], here, there))
    for name in names:
        if pods[name]:
            checks.append(pod_to_internet(sandbox, pods[name][0], name))
    for name in names:
        others = [n for n in names if n != name and pods[n]]
        on_secondary = [p for p in pods[name] if secondary_eni_of(sandbox, name, p.address)]
        if on_secondary and others:
            target = pods[others[0]][0]
            checks.append(leaves_through_its_eni(sandbox, on_secondary[0], name, target, others[0]))
    dropped = sandbox.fabric.src_dst_drops() - drops_before
    checks.append(
        Check(
            "the VPC's source/destination check dropped nothing",
            dropped == 0,
            f"{dropped} packets dropped",
        )
    )
    return checks
