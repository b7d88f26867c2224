"""The SNAT and address modes end to end: external SNAT and EXCLUDE_SNAT_CIDRS leave the
pod's own address on egress; prefix delegation hands pods addresses out of /28 prefixes
that the VPC routes to the right ENI."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network, ip_address

from ipamd.dataplane import snat
from sandbox import checks
from sandbox.cluster import Sandbox
from tests.e2e.conftest import run_pods


def test_external_snat_leaves_egress_with_the_pod_address(sandbox_with: Callable[..., Sandbox]):
    sandbox = sandbox_with(nodes=1, external_snat=True)
    (pod,) = run_pods(sandbox, "n1", 1)
    check = checks.pod_to_internet(sandbox, pod, "n1")
    assert check.ok, check.detail
    assert check.detail.startswith(f"source seen {pod.address}")
    assert snat.read_back(netns=sandbox.node("n1").netns) is None


def test_excluded_cidrs_are_not_snated_and_the_rest_is(sandbox_with: Callable[..., Sandbox]):
    sandbox = sandbox_with(nodes=1, exclude_snat_cidrs=("198.51.100.0/24",))
    (pod,) = run_pods(sandbox, "n1", 1)
    check = checks.pod_to_internet(sandbox, pod, "n1")
    assert check.ok, check.detail
    assert check.detail.startswith(f"source seen {pod.address}")
    table = snat.read_back(netns=sandbox.node("n1").netns)
    assert table is not None and "198.51.100.0/24" in table["sets"]["no_snat"]


def test_prefix_delegation_works_across_nodes(sandbox_with: Callable[..., Sandbox]):
    sandbox = sandbox_with(nodes=2, prefix_delegation=True)
    pods = {node: run_pods(sandbox, node, 3) for node in ("n1", "n2")}
    for node, running in pods.items():
        prefixes = [
            IPv4Network(p["Ipv4Prefix"])
            for eni in sandbox.enis(node)
            for p in eni.get("Ipv4Prefixes", [])
        ]
        assert prefixes and all(p.prefixlen == 28 for p in prefixes)
        for pod in running:
            assert any(ip_address(pod.address) in p for p in prefixes), pod.address
    results = checks.matrix(sandbox, pods)
    assert [c for c in results if not c.ok] == []
