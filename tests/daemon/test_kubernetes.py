"""vpc-ipamd's Kubernetes layer, as a real process against the EC2 and Kubernetes emulators.

The node's Node object caps the pool (status.capacity.pods) and names the ENIConfig that
places secondary ENIs under custom networking; the pods scheduled on it are pre-warmed
while Pending, and an allocation whose pod is gone past the grace period is released.
The API server going away changes none of what the daemon serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.ec2 import Ec2Emulator
from sandbox.kube import KubeEmulator
from tests.daemon.harness import Daemon, Node, pod_args, wait_until
from tests.fake_aws import ZONE
from tests.unit.deploy.test_deploy import one

NODE = "node-a"
ZONE_LABEL = "topology.kubernetes.io/zone"
ENICONFIG_KEY = "k8s.amazonaws.com/eniConfig"


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def kube_daemon(make_daemon: Callable[..., Daemon], kube: KubeEmulator) -> Callable[..., Daemon]:
    """A daemon of ``NODE`` following the emulator; the Node object is the test's to add."""

    def make(**env: str) -> Daemon:
        daemon = make_daemon(
            MY_NODE_NAME=NODE,
            VPC_IPAM_KUBE_API_SERVER=kube.url,
            VPC_IPAM_KUBE_TOKEN_FILE="/nonexistent/vpc-ipam-test-token",
            **env,
        )
        daemon.start()
        return daemon

    return make


def k8s(daemon: Daemon) -> dict[str, Any]:
    found: dict[str, Any] = daemon.health()["kubernetes"]
    return found


def add_pod(daemon: Daemon, kube: KubeEmulator, name: str) -> str:
    """A pod through the API as the scheduler and kubelet make it, then its ADD."""
    kube.add_pod("default", f"pod-{name}", NODE, phase="Pending")
    uid = kube.pod("default", f"pod-{name}")["metadata"]["uid"]
    args = pod_args(name, netns="/proc/1/ns/net", pod_uid=uid)
    result: Any = daemon.call("add", args)
    address = str(result["ips"][0]["address"]).split("/")[0]
    kube.update_pod("default", f"pod-{name}", ip=address, phase="Running")
    return address


def held(daemon: Daemon) -> int:
    return int(daemon.health()["addresses"]["total"])


# -- max pods ------------------------------------------------------------------------------


def test_the_nodes_pod_capacity_caps_the_pool_and_follows_changes(
    kube_daemon: Callable[..., Daemon], kube: KubeEmulator, node: Node
):
    kube.add_node(NODE, pods_capacity=5)
    daemon = kube_daemon(WARM_IP_TARGET="20")
    wait_until("max pods 5 from the node", lambda: k8s(daemon)["max_pods"] == 5)
    wait_until("5 addresses", lambda: node.secondary_addresses() == 5)
    assert held(daemon) == 5

    kube.store.update(
        _kind("nodes"),
        None,
        NODE,
        lambda node_doc: _with_capacity(node_doc, 12),
        whole=True,
    )
    wait_until("max pods 12", lambda: k8s(daemon)["max_pods"] == 12)
    wait_until("12 addresses", lambda: node.secondary_addresses() == 12)
    assert k8s(daemon)["connected"] is True


# -- custom networking ---------------------------------------------------------------------


@pytest.fixture
def pod_subnet(live_emulator: Ec2Emulator, node: Node) -> tuple[str, str]:
    """A second subnet in the node's VPC for pods, and a security group for them."""
    ec2 = live_emulator.client()
    vpc = ec2.describe_subnets(SubnetIds=[node.subnet_id])["Subnets"][0]["VpcId"]
    subnet = live_emulator.create_subnet(vpc, "10.0.64.0/20", ZONE)
    group = live_emulator.create_security_group(vpc, "pods")
    return subnet, group


def _secondary_enis(node: Node) -> list[dict[str, Any]]:
    return [e for e in node.interfaces() if e["Attachment"]["DeviceIndex"] > 0]


@pytest.mark.parametrize(
    ("selection", "env"),
    [
        ("label", {}),
        ("zone", {"ENI_CONFIG_LABEL_DEF": ZONE_LABEL}),
        ("annotation", {"ENI_CONFIG_ANNOTATION_DEF": "example.com/eni"}),
    ],
)
def test_custom_networking_places_pod_enis_by_the_nodes_eniconfig(
    kube_daemon: Callable[..., Daemon],
    kube: KubeEmulator,
    node: Node,
    pod_subnet: tuple[str, str],
    selection: str,
    env: dict[str, str],
):
    subnet, group = pod_subnet
    labels = {ENICONFIG_KEY: "wrong", ZONE_LABEL: ZONE}
    annotations = {}
    if selection == "label":
        labels[ENICONFIG_KEY] = "pods-a"
    elif selection == "annotation":
        annotations["example.com/eni"] = "pods-a"  # wins over the label
    name = ZONE if selection == "zone" else "pods-a"
    kube.add_eniconfig(name, subnet, [group])
    kube.add_node(NODE, pods_capacity=29, labels=labels, annotations=annotations)
    daemon = kube_daemon(AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG="true", **env)

    wait_until("a secondary ENI", lambda: len(_secondary_enis(node)) == 1)
    eni = _secondary_enis(node)[0]
    assert eni["SubnetId"] == subnet
    assert [g["GroupId"] for g in eni["Groups"]] == [group]
    primary = node.interfaces()[0]
    assert len(primary["PrivateIpAddresses"]) == 1  # the primary never grows for pods
    address = add_pod(daemon, kube, "c1")
    assert address.startswith("10.0.")
    assert int(address.split(".")[2]) >= 64  # in 10.0.64.0/20, the pod subnet
    assert k8s(daemon)["eniconfig"] == name
    assert_granted_by_rbac(kube)


def test_without_its_eniconfig_the_node_creates_no_interface_and_says_why(
    kube_daemon: Callable[..., Daemon], kube: KubeEmulator, node: Node
):
    kube.add_node(NODE, pods_capacity=29, labels={ENICONFIG_KEY: "missing"})
    daemon = kube_daemon(AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG="true")
    wait_until(
        "the daemon to say the ENIConfig is missing",
        lambda: "ENIConfig missing does not exist" in (daemon.health()["blocked"] or ""),
    )
    assert _secondary_enis(node) == []
    wait_until("an event on the node", lambda: _reasons(kube) >= {"ENIConfigMissing"})
    # the pool loop keeps trying every 0.2 s; the event is not repeated
    time.sleep(2.0)  # ten more pool ticks, each one still blocked
    assert [e["reason"] for e in kube.events()].count("ENIConfigMissing") == 1
    event = kube.events()[0]
    assert event["involvedObject"]["kind"] == "Node"
    assert event["involvedObject"]["name"] == NODE
    assert event["type"] == "Warning"


# -- pods ----------------------------------------------------------------------------------


def test_pending_pods_are_pre_warmed_in_one_step(
    kube_daemon: Callable[..., Daemon], kube: KubeEmulator, node: Node
):
    kube.add_node(NODE, pods_capacity=29)
    daemon = kube_daemon(WARM_IP_TARGET="1")
    wait_until("the warm target", lambda: node.secondary_addresses() == 1)
    for n in range(12):
        kube.add_pod("default", f"burst-{n}", NODE, phase="Pending")
    wait_until("12 pending pods seen", lambda: k8s(daemon)["pending_pods"] == 12)
    # the daemon's own view: EC2 shows a new ENI a moment before the daemon adopts it
    wait_until("12 + 1 addresses", lambda: daemon.health()["addresses"]["available"] >= 13)
    assert node.secondary_addresses() >= 13
    # pods that hold an address no longer count as pending
    for n in range(12):
        uid = kube.pod("default", f"burst-{n}")["metadata"]["uid"]
        args = pod_args(f"b{n}", netns="/proc/1/ns/net", pod_name=f"burst-{n}", pod_uid=uid)
        daemon.call("add", args)
    wait_until("no pod pending", lambda: k8s(daemon)["pending_pods"] == 0)


def test_an_allocation_whose_pod_is_gone_is_released_after_the_grace_period(
    kube_daemon: Callable[..., Daemon], kube: KubeEmulator
):
    kube.add_node(NODE, pods_capacity=29)
    daemon = kube_daemon(VPC_IPAM_POD_GONE_GRACE="1")
    wait_until("pods listed", lambda: k8s(daemon)["connected"])
    kept = add_pod(daemon, kube, "kept")
    lost = add_pod(daemon, kube, "lost")
    done = add_pod(daemon, kube, "done")
    replaced = add_pod(daemon, kube, "replaced")
    kube.delete_pod("default", "pod-lost")  # deleted, and its DEL never came
    kube.update_pod("default", "pod-done", phase="Succeeded")
    kube.delete_pod("default", "pod-replaced")  # same name, another pod
    kube.add_pod("default", "pod-replaced", NODE, ip=None, phase="Pending")

    def still_held() -> set[str]:
        return {
            b["cidr"].split("/")[0]
            for i in daemon.health()["pool"]
            for b in i["blocks"]
            if b["assigned"]
        }

    wait_until("the three leaks released", lambda: still_held() == {kept}, timeout=20)
    assert daemon.checkpoint_allocations() == {"kept": kept}
    assert {lost, done, replaced}.isdisjoint(still_held())
    wait_until("a Normal event", lambda: "LeakedAddressesReleased" in _reasons(kube))
    assert_granted_by_rbac(kube)


def test_allocations_are_not_judged_while_the_api_server_is_away(
    kube_daemon: Callable[..., Daemon], kube: KubeEmulator
):
    kube.add_node(NODE, pods_capacity=29)
    daemon = kube_daemon(VPC_IPAM_POD_GONE_GRACE="1")
    wait_until("pods listed", lambda: k8s(daemon)["connected"])
    kube.set_unavailable(True)
    wait_until("the daemon to notice", lambda: not k8s(daemon)["connected"])
    # a pod scheduled during the outage, which the daemon's copy has never seen
    address = add_pod(daemon, kube, "during-outage")
    time.sleep(3.0)  # three grace periods, fifteen pool ticks
    assert daemon.checkpoint_allocations() == {"during-outage": address}
    health = k8s(daemon)
    assert health["last_error"]
    assert health["unreachable_for"] > 0
    kube.set_unavailable(False)
    wait_until("in sync again", lambda: k8s(daemon)["connected"], timeout=60)
    time.sleep(3.0)
    assert daemon.checkpoint_allocations() == {"during-outage": address}


# -- the API server coming and going -------------------------------------------------------


def test_the_daemon_starts_and_serves_while_the_api_server_is_down(
    kube_daemon: Callable[..., Daemon], kube: KubeEmulator, node: Node
):
    kube.add_node(NODE, pods_capacity=4)
    kube.set_unavailable(True)
    daemon = kube_daemon(WARM_IP_TARGET="10")
    first = daemon.add("c1")
    assert first
    assert k8s(daemon)["connected"] is False
    assert k8s(daemon)["max_pods"] is None
    assert daemon.health()["ok"] is True  # liveness must not restart it for an API outage
    kube.set_unavailable(False)
    wait_until("max pods from the node", lambda: k8s(daemon)["max_pods"] == 4, timeout=60)
    wait_until("the pool capped at 4", lambda: node.secondary_addresses() == 4)


def test_a_restart_while_the_api_server_is_down_keeps_max_pods_and_the_eniconfig(
    kube_daemon: Callable[..., Daemon],
    kube: KubeEmulator,
    node: Node,
    pod_subnet: tuple[str, str],
):
    subnet, group = pod_subnet
    kube.add_eniconfig("pods-a", subnet, [group])
    kube.add_node(NODE, pods_capacity=12, labels={ENICONFIG_KEY: "pods-a"})
    daemon = kube_daemon(AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG="true", WARM_IP_TARGET="3")
    wait_until("a first ENI in the pod subnet", lambda: len(_secondary_enis(node)) == 1)
    add_pod(daemon, kube, "c1")  # a checkpoint written after the node was read
    daemon.stop()

    kube.set_unavailable(True)
    daemon.extra_env["WARM_IP_TARGET"] = "20"  # wants more than the node may run
    daemon.start()
    wait_until("12 addresses (two ENIs)", lambda: node.secondary_addresses() == 12)
    assert [e["SubnetId"] for e in _secondary_enis(node)] == [subnet, subnet]
    health = k8s(daemon)
    assert health["connected"] is False
    assert health["max_pods"] == 12
    assert "remembered" in health["placement"]


def test_a_compacted_watch_is_relisted(kube_daemon: Callable[..., Daemon], kube: KubeEmulator):
    kube.add_node(NODE, pods_capacity=29)
    daemon = kube_daemon()
    wait_until("pods listed", lambda: k8s(daemon)["connected"])
    lists = kube.call_count("list", "pods")
    kube.compact()
    kube.add_pod("default", "after-compaction", NODE, phase="Pending")
    wait_until("a new pod seen after the compaction", lambda: k8s(daemon)["pending_pods"] == 1)
    # the watch may have seen the pod before the compaction reached it, or relisted
    kube.compact()
    for n in range(3):
        kube.add_pod("default", f"late-{n}", NODE, phase="Pending")
    wait_until("every pod seen", lambda: k8s(daemon)["pending_pods"] == 4)
    assert kube.call_count("list", "pods") >= lists


# -- helpers -------------------------------------------------------------------------------


def assert_granted_by_rbac(kube: KubeEmulator) -> None:
    """Every request the daemon made is one deploy/rbac.yaml grants."""
    role = one("rbac.yaml", "ClusterRole")
    granted = {
        f"{v} {r}" for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]
    }
    made = {call for call, count in kube.calls().items() if count}
    assert made, "the daemon made no request at all"
    assert made <= granted, f"not granted: {sorted(made - granted)}"


def _kind(resource: str) -> Any:
    from sandbox.kube.objects import KINDS  # noqa: PLC0415

    return KINDS[resource]


def _with_capacity(node_doc: dict[str, Any], pods: int) -> dict[str, Any]:
    node_doc["status"]["capacity"]["pods"] = str(pods)
    node_doc["status"]["allocatable"]["pods"] = str(pods)
    return node_doc


def _reasons(kube: KubeEmulator) -> set[str]:
    return {str(e["reason"]) for e in kube.events()}
