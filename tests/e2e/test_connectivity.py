"""The demo's claims on a 2-node sandbox with SNAT on: pods reach each other with their own
source, the outside sees the node's primary address, a pod of a secondary ENI leaves through
it, and the VPC's source/destination check catches a packet sent out of the wrong ENI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from sandbox import checks
from sandbox.cluster import Sandbox
from sandbox.kubelet import Pod
from sandbox.probe import ProbeFailed, whoami
from tests.e2e.conftest import run_pods
from tests.netns.conftest import ip_json

PODS_PER_NODE = 11  # 9 on the primary ENI of an m5.large, the rest on a second ENI


@pytest.fixture(scope="module")
def sandbox(sandbox_with: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_with(nodes=2)


@pytest.fixture(scope="module")
def pods(sandbox: Sandbox) -> dict[str, list[Pod]]:
    return {name: run_pods(sandbox, name, PODS_PER_NODE) for name in ("n1", "n2")}


def on_secondary(sandbox: Sandbox, node: str, pods: list[Pod]) -> Pod:
    found = [p for p in pods if checks.secondary_eni_of(sandbox, node, p.address)]
    assert found, f"no pod of {node} is on a secondary ENI"
    return found[0]


def test_pods_reach_pods_on_the_other_node_with_their_own_source(
    sandbox: Sandbox, pods: dict[str, list[Pod]]
):
    for here, there in (("n1", "n2"), ("n2", "n1")):
        check = checks.pod_to_pod(pods[here][0], pods[there][-1], here, there)
        assert check.ok, check.detail


def test_egress_to_the_internet_leaves_as_the_node_primary_address(
    sandbox: Sandbox, pods: dict[str, list[Pod]]
):
    for node in ("n1", "n2"):
        check = checks.pod_to_internet(sandbox, pods[node][0], node)
        assert check.ok, check.detail
        assert check.detail.startswith(f"source seen {sandbox.primary_ip(node)}")


def test_a_pod_on_a_secondary_eni_leaves_through_that_eni(
    sandbox: Sandbox, pods: dict[str, list[Pod]]
):
    client = on_secondary(sandbox, "n1", pods["n1"])
    check = checks.leaves_through_its_eni(sandbox, client, "n1", pods["n2"][0], "n2")
    assert check.ok, check.detail


def test_the_whole_matrix_passes_and_nothing_was_dropped(
    sandbox: Sandbox, pods: dict[str, list[Pod]]
):
    results = checks.matrix(sandbox, pods)
    assert [c for c in results if not c.ok] == []
    assert len(results) == 7


def test_the_vpc_drops_a_packet_sent_out_of_the_wrong_eni(
    sandbox: Sandbox, pods: dict[str, list[Pod]]
):
    """Without its rules 1536 a secondary-ENI pod's packet leaves through the primary ENI,
    which does not hold its address: EC2's source/destination check drops it."""
    assert sandbox.fabric is not None
    client, target = on_secondary(sandbox, "n1", pods["n1"]), pods["n2"][0]
    node = sandbox.node("n1").netns
    rules = [r for r in ip_json(node, "rule") if r.get("src") == client.address]
    assert rules and all(r["priority"] == 1536 for r in rules)
    drops = sandbox.fabric.src_dst_drops()
    for rule in rules:
        _rule(node, "del", rule)
    try:
        with (
            checks.whoami_server(target.netns, target.address, checks.POD_PORT),
            pytest.raises(ProbeFailed),
        ):
            whoami(client.netns, target.address, checks.POD_PORT, timeout=1.5)
        assert sandbox.fabric.src_dst_drops() > drops
    finally:
        for rule in rules:
            _rule(node, "add", rule)
    assert checks.pod_to_pod(client, target, "n1", "n2").ok


def _rule(netns: str, verb: str, rule: dict[str, object]) -> None:
    selector = ["from", str(rule["src"])]
    if "dst" in rule:
        selector += ["to", f"{rule['dst']}/{rule['dstlen']}"]
    subprocess.run(
        [
            "ip",
            "-n",
            netns,
            "rule",
            verb,
            *selector,
            "lookup",
            str(rule["table"]),
            "priority",
            str(rule["priority"]),
        ],
        check=True,
        capture_output=True,
    )
