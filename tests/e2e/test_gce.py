"""A GCE sandbox end to end: two nodes whose daemons grow alias ranges on nic0 through the
Compute Engine emulator; pods get alias-range addresses, reach each other with their own
source, leave SNATed to the node's address, and the pool grows a block under load and gives
it back when the load is gone."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address

from sandbox import checks
from sandbox.cluster import Sandbox
from sandbox.options import POD_RANGE_CIDR
from tests.daemon.harness import wait_until
from tests.e2e.conftest import run_pods


def blocks_of(sandbox: Sandbox, node: str) -> int:
    (nic0,) = sandbox.interfaces(node)
    return len(nic0.blocks)


def test_gce_nodes_serve_pods_from_alias_ranges(sandbox_with: Callable[..., Sandbox]):
    sandbox = sandbox_with(nodes=2, provider="gce")
    pods = {node: run_pods(sandbox, node, 3) for node in ("n1", "n2")}
    for node, running in pods.items():
        (nic0,) = sandbox.interfaces(node)
        assert nic0.blocks and all(b.prefixlen == 28 for b in nic0.blocks)
        for pod in running:
            assert ip_address(pod.address) in POD_RANGE_CIDR
            assert any(ip_address(pod.address) in b for b in nic0.blocks), pod.address
    results = checks.matrix(sandbox, pods)
    assert [c for c in results if not c.ok] == []
    egress = checks.pod_to_internet(sandbox, pods["n1"][0], "n1")
    assert egress.detail.startswith(f"source seen {sandbox.primary_ip('n1')}")


def test_the_gce_pool_grows_a_block_under_load_and_gives_it_back(
    sandbox_with: Callable[..., Sandbox],
):
    sandbox = sandbox_with(nodes=1, provider="gce")
    wait_until("the first block", lambda: blocks_of(sandbox, "n1") >= 1)
    idle = blocks_of(sandbox, "n1")
    node = sandbox.node("n1")
    pods = run_pods(sandbox, "n1", 20)
    assert blocks_of(sandbox, "n1") > idle
    for pod in pods:
        node.kubelet.delete_pod(pod)
    wait_until("the pool to give blocks back", lambda: blocks_of(sandbox, "n1") == idle, 60)
    assert node.daemon.health()["addresses"]["assigned"] == 0
