"""A sandbox that is also a Kubernetes cluster (issue 8): the API emulator holds a Node per
sandbox node and a pod object per pod, and each node's vpc-ipamd follows them.

- pods made through the API get VPC addresses, the API server shows them, the connectivity
  matrix passes, and every daemon says it is connected, with its Node's pod capacity;
- a node never holds more addresses than its Node's ``status.capacity.pods``;
- a pod lost without a DEL (object and netns gone) has its address released and its host
  wiring removed after the grace period; a pod that still exists keeps its address;
- custom networking: secondary ENIs in the ENIConfig's subnet with its security group, pods
  addressed from that subnet, nothing on the primary ENI, pods reach each other across nodes;
- Pending pods bound to a node are demand: its pool grows for them before any ADD;
- teardown leaves no namespace, process or thread behind.

One sandbox at a time (``sandbox_with``); the tests of one sandbox are next to each other.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from sandbox import checks, kubechecks
from sandbox.clouds import AwsCloud
from sandbox.cluster import Sandbox
from sandbox.kube.objects import KINDS
from sandbox.kubelet import Pod
from tests.daemon.harness import wait_until
from tests.e2e.conftest import SandboxMaker, run_pods
from tests.netns.conftest import ip_json

GRACE = 1.0
"""VPC_IPAM_POD_GONE_GRACE of the leak tests, seconds."""
SETTLE = 10.0
"""Seconds beyond the grace (or a few pool rounds) any waited-for change may take."""
PODS_PER_NODE = 11  # 9 on the primary ENI of an m5.large, the rest on a second ENI


def kube_health(sandbox: Sandbox, node: str) -> dict[str, Any]:
    found = sandbox.node(node).daemon.health().get("kubernetes")
    assert isinstance(found, dict), f"vpc-ipamd on {node} reports no kubernetes health"
    return found


def wait_for_kube(sandbox: Sandbox, node: str, key: str, value: object) -> None:
    """Until the daemon's kubernetes health says ``key`` is ``value`` (bounded)."""
    wait_until(
        f"vpc-ipamd on {node} to report kubernetes {key} = {value!r}",
        lambda: kube_health(sandbox, node).get(key) == value,
        SETTLE,
    )


def addresses(sandbox: Sandbox, node: str) -> dict[str, int]:
    counts: dict[str, int] = sandbox.node(node).daemon.health()["addresses"]
    return counts


def held_in_cloud(sandbox: Sandbox, node: str) -> int:
    """Addresses the cloud has assigned to the node's interfaces beyond their primaries."""
    return sum(block.num_addresses for eni in sandbox.interfaces(node) for block in eni.blocks)


def wiring(netns: str, address: str) -> list[str]:
    """What of a pod's host wiring is left on the node: its rules and its route."""
    left = [
        f"rule {r['priority']} {r}"
        for r in ip_json(netns, "rule")
        if address in (r.get("src"), r.get("dst"))
    ]
    left += [f"route {r}" for r in ip_json(netns, "route", "show", "table", "main", address)]
    return left


def host_veth(pod: Pod) -> str:
    name = pod.result["interfaces"][0]["name"]
    assert isinstance(name, str)
    return name


def links(netns: str) -> set[str]:
    return {link["ifname"] for link in ip_json(netns, "link")}


def netns_list() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


# --- teardown --------------------------------------------------------------------------------


def test_teardown_leaves_no_namespace_process_or_thread(sandbox_with: Callable[..., Sandbox]):
    threads = set(threading.enumerate())
    sandbox = sandbox_with(nodes=1, kube=True)
    run_pods(sandbox, "n1", 2, name="web")
    sandbox.node("n1").kubelet.schedule_pod("waiting")
    kube = sandbox.kube
    assert kube is not None
    port = kube.port
    assert any(ns.startswith(sandbox.prefix) for ns in netns_list())

    sandbox.down()

    assert sandbox.leftovers() == []
    # (other sandboxes may run on this machine meanwhile: only this one's names count)
    assert [ns for ns in netns_list() if ns.startswith(sandbox.prefix)] == []
    assert kube.pods() == []  # the kubelet deleted every pod object, scheduled ones too
    with pytest.raises(OSError):  # the API server no longer answers
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    wait_until(
        "the sandbox's threads to end",
        lambda: {t for t in threading.enumerate() if t.is_alive()} <= threads,
        SETTLE,
    )


# --- pods through the API, on a 2-node cluster with a short grace ----------------------------


@pytest.fixture(scope="module")
def cluster(sandbox_with: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_with(nodes=2, kube=True, pod_gone_grace=GRACE)


@pytest.fixture(scope="module")
def pods(cluster: Sandbox) -> dict[str, list[Pod]]:
    return {n: run_pods(cluster, n, PODS_PER_NODE, name=f"web-{n}") for n in ("n1", "n2")}


def test_each_sandbox_node_is_a_node_object_of_its_instance(cluster: Sandbox):
    kube = cluster.kube
    assert kube is not None
    for node in cluster.nodes:
        found = kube.node(node.name)
        labels = found["metadata"]["labels"]
        assert labels["topology.kubernetes.io/zone"] == "us-east-1a"
        assert labels["node.kubernetes.io/instance-type"] == "m5.large"
        assert found["spec"]["providerID"] == f"aws:///us-east-1a/{node.instance_id}"
        assert found["status"]["capacity"]["pods"] == "110"
        assert {"type": "InternalIP", "address": str(cluster.primary_ip(node.name))} in found[
            "status"
        ]["addresses"]
        settings = node.daemon.env()
        assert settings["MY_NODE_NAME"] == node.name
        assert settings["VPC_IPAM_KUBE_API_SERVER"].startswith("http://127.0.0.1:")
        assert not Path(settings["VPC_IPAM_KUBE_TOKEN_FILE"]).exists()
        assert settings["VPC_IPAM_POD_GONE_GRACE"] == "1"


def test_pods_made_through_the_api_get_vpc_addresses_the_api_server_shows(
    cluster: Sandbox, pods: dict[str, list[Pod]]
):
    kube = cluster.kube
    assert kube is not None
    for node, running in pods.items():
        assert len({p.address for p in running}) == PODS_PER_NODE
        for pod in running:
            assert IPv4Address(pod.address) in cluster.options.subnet_cidr
            shown = kube.pod(pod.namespace, pod.name)
            assert shown["spec"]["nodeName"] == node
            assert shown["metadata"]["uid"] == pod.uid
            assert (shown["status"]["phase"], shown["status"]["podIP"]) == (
                "Running",
                pod.address,
            )
    assert [c for c in kubechecks.pod_objects(cluster, pods) if not c.ok] == []


def test_the_connectivity_matrix_passes_with_kubernetes(
    cluster: Sandbox, pods: dict[str, list[Pod]]
):
    results = checks.matrix(cluster, pods)
    assert [c for c in results if not c.ok] == []
    assert len(results) == 7


def test_every_daemon_is_connected_with_its_node_capacity_as_max_pods(
    cluster: Sandbox, pods: dict[str, list[Pod]]
):
    for node in ("n1", "n2"):
        wait_for_kube(cluster, node, "pending_pods", 0)
        health = kube_health(cluster, node)
        assert health["node"] == node
        assert health["connected"] is True
        assert health["max_pods"] == cluster.options.node_pods_capacity == 110
        assert health["eniconfig"] is None
        assert health["last_error"] is None
    assert [c for c in kubechecks.daemons_connected(cluster) if not c.ok] == []


def test_a_pod_lost_without_del_is_released_after_the_grace_and_its_wiring_removed(
    cluster: Sandbox, pods: dict[str, list[Pod]]
):
    node = cluster.node("n1")
    lost, kept = pods["n1"][-1], pods["n1"][0]
    assert wiring(node.netns, lost.address) and wiring(node.netns, kept.address)
    assigned = addresses(cluster, "n1")["assigned"]
    veth = host_veth(lost)
    assert veth in links(node.netns)

    node.kubelet.lose_pod(lost)
    pods["n1"].remove(lost)

    wait_until(
        f"the address of the lost pod {lost.address} to be released",
        lambda: addresses(cluster, "n1")["assigned"] == assigned - 1,
        GRACE + SETTLE,
    )
    wait_until(
        f"the host wiring of {lost.address} to go",
        lambda: not wiring(node.netns, lost.address) and veth not in links(node.netns),
        SETTLE,
    )
    # The pods that still exist keep their addresses, well past the grace.
    time.sleep(3 * GRACE)
    assert addresses(cluster, "n1")["assigned"] == assigned - 1 == len(pods["n1"])
    assert wiring(node.netns, kept.address)
    assert host_veth(kept) in links(node.netns)
    check = checks.pod_to_pod(kept, pods["n2"][0], "n1", "n2")
    assert check.ok, check.detail


def test_a_pod_that_succeeded_without_del_is_released_like_a_lost_one(
    cluster: Sandbox, pods: dict[str, list[Pod]]
):
    """A pod in phase Succeeded whose DEL never came is, after the grace, released too."""
    kube, node = cluster.kube, cluster.node("n2")
    assert kube is not None
    done = pods["n2"].pop()
    assigned = addresses(cluster, "n2")["assigned"]

    kube.update_pod(done.namespace, done.name, phase="Succeeded")

    wait_until(
        f"the address of the finished pod {done.address} to be released",
        lambda: addresses(cluster, "n2")["assigned"] == assigned - 1,
        GRACE + SETTLE,
    )
    wait_until(
        f"the host wiring of {done.address} to go",
        lambda: not wiring(node.netns, done.address),
        SETTLE,
    )
    assert all(wiring(node.netns, p.address) for p in pods["n2"])
    # the pod's sandbox is still there (nobody called DEL): the kubelet cleans it up
    node.kubelet.lose_pod(done)


# --- max pods --------------------------------------------------------------------------------


def test_a_node_never_holds_more_addresses_than_its_pod_capacity(
    sandbox_with: Callable[..., Sandbox],
):
    capacity = 6
    sandbox = sandbox_with(
        nodes=1, kube=True, pods_capacity=capacity, settings={"WARM_IP_TARGET": "20"}
    )
    seen: list[tuple[int, int]] = []

    def sample() -> tuple[int, int]:
        now = (addresses(sandbox, "n1")["total"], held_in_cloud(sandbox, "n1"))
        seen.append(now)
        return now

    wait_for_kube(sandbox, "n1", "max_pods", capacity)
    wait_until("the pool to fill up to the capacity", lambda: sample()[0] == capacity, SETTLE)
    end = time.monotonic() + 5  # a few pool rounds (VPC_IPAM_POOL_INTERVAL=1)
    while time.monotonic() < end:
        sample()
        time.sleep(0.2)
    pods = run_pods(sandbox, "n1", capacity, name="web")
    for _ in range(10):
        sample()
        time.sleep(0.2)

    assert len({p.address for p in pods}) == capacity
    assert max(total for total, _ in seen) == capacity, seen
    assert max(cloud for _, cloud in seen) <= capacity, seen


# --- Pending pods are demand -----------------------------------------------------------------


def test_pending_pods_grow_the_pool_before_any_add(sandbox_with: Callable[..., Sandbox]):
    wanted = 5
    sandbox = sandbox_with(nodes=1, kube=True, settings={"WARM_IP_TARGET": "1"})
    node = sandbox.node("n1")
    wait_for_kube(sandbox, "n1", "connected", True)
    wait_until("a warm pool of one", lambda: addresses(sandbox, "n1")["available"] >= 1, SETTLE)
    assert addresses(sandbox, "n1")["available"] < wanted

    for n in range(wanted):
        node.kubelet.schedule_pod(f"web-{n}")

    wait_for_kube(sandbox, "n1", "pending_pods", wanted)
    wait_until(
        f"the pool to hold {wanted} free addresses",
        lambda: addresses(sandbox, "n1")["available"] >= wanted,
        SETTLE,
    )
    assert addresses(sandbox, "n1")["assigned"] == 0  # no ADD yet
    started = [node.kubelet.run_pod(f"web-{n}") for n in range(wanted)]
    assert len({p.address for p in started}) == wanted
    assert node.kubelet.scheduled() == []
    wait_for_kube(sandbox, "n1", "pending_pods", 0)


# --- custom networking -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def custom(sandbox_with: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_with(nodes=2, kube=True, custom_networking=True)


@pytest.fixture(scope="module")
def custom_pods(custom: Sandbox) -> dict[str, list[Pod]]:
    return {n: run_pods(custom, n, 3, name=f"web-{n}") for n in ("n1", "n2")}


def test_custom_networking_puts_pods_on_enis_of_the_eniconfig_subnet_and_groups(
    custom: Sandbox, custom_pods: dict[str, list[Pod]]
):
    cloud = custom.cloud
    assert isinstance(cloud, AwsCloud) and custom.kube is not None
    eniconfig = custom.kube.store.get(KINDS["eniconfigs"], None, cloud.zone)
    assert eniconfig["spec"] == {
        "subnet": cloud.pod_subnet_id,
        "securityGroups": [cloud.pod_group],
    }
    for node, running in custom_pods.items():
        assert kube_health(custom, node)["eniconfig"] == cloud.zone
        primary, *secondary = custom.enis(node)
        assert secondary, f"{node} has no secondary ENI"
        for eni in secondary:
            assert eni["SubnetId"] == cloud.pod_subnet_id
            assert kubechecks.eni_groups(cloud, eni["NetworkInterfaceId"]) == [cloud.pod_group]
        assert [a["PrivateIpAddress"] for a in primary["PrivateIpAddresses"]] == [
            primary["PrivateIpAddress"]
        ], "the primary ENI holds addresses beyond its own"
        for pod in running:
            assert IPv4Address(pod.address) in custom.options.pod_subnet_cidr
            assert checks.secondary_eni_of(custom, node, pod.address) is not None
    assert [c for c in kubechecks.custom_networking(custom, custom_pods) if not c.ok] == []


def test_custom_networking_pods_reach_each_other_across_nodes(
    custom: Sandbox, custom_pods: dict[str, list[Pod]]
):
    for here, there in (("n1", "n2"), ("n2", "n1")):
        check = checks.pod_to_pod(custom_pods[here][0], custom_pods[there][-1], here, there)
        assert check.ok, check.detail
    results = checks.matrix(custom, custom_pods)
    assert [c for c in results if not c.ok] == []


# --- the command line ------------------------------------------------------------------------

CLI = [sys.executable, "-m", "sandbox.cli"]
ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_with_kube_passes_and_shows_each_node_following_its_node_object(
    sandbox_with: SandboxMaker,
):
    sandbox_with.clear()  # one sandbox at a time: the demo brings up its own
    done = subprocess.run(
        [*CLI, "demo", "--kube", "--nodes", "2", "--pods", "3", "--pods-capacity", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "+ Kubernetes API emulator" in out
    for node in ("n1", "n2"):
        assert f"kubernetes: node {node} connected, max pods 20" in out
        assert f"PASS  the API server shows the 3 pods of {node} with their addresses" in out
    assert "FAIL" not in out
    assert "done: no namespace, link or process of the sandbox is left" in out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--pods-capacity", "6"], "--pods-capacity needs --kube"),
        (["--kube", "--pods-capacity", "0"], "--pods-capacity needs --kube and >= 1"),
        (["--custom-networking", "--provider", "gce"], "--custom-networking is for"),
    ],
)
def test_the_cli_refuses_kube_flags_that_do_not_fit(
    sandbox_with: SandboxMaker, args: list[str], complaint: str
):
    """(Root is checked first; ``sandbox_with`` skips without it.)"""
    done = subprocess.run(
        [*CLI, "demo", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert complaint in done.stderr
