"""The checks a Kubernetes sandbox adds to the connectivity matrix (``sandbox/checks.py``):
what the API server and the daemons say agrees with what the kubelets ran.

- every pod a kubelet ran is, in the API server, Running on its node with the address the
  plugin gave it;
- every node's vpc-ipamd reports its Kubernetes layer connected, with the Node's pod
  capacity as its max pods;
- with custom networking, every pod address is in the pod subnet, on a secondary ENI of that
  subnet with the ENIConfig's security group, and the primary ENI holds none.

Like ``sandbox.checks``, each returns ``Check`` objects and never raises.

An ENI's security groups are read from moto's backend (``eni_groups``), not from
DescribeNetworkInterfaces: moto answers an attached ENI's groups as the union of its own and
its instance's, where EC2 answers the ENI's own.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from sandbox.checks import Check
from sandbox.clouds import AwsCloud
from sandbox.cluster import Sandbox
from sandbox.kubelet import Pod
from sandbox.kubenodes import health_line


def eni_groups(cloud: AwsCloud, eni_id: str) -> list[str]:
    """The ENI's security group ids, sorted, as EC2 describes them."""
    found = cloud.emulator.client().describe_network_interfaces(NetworkInterfaceIds=[eni_id])
    return sorted(g["GroupId"] for g in found["NetworkInterfaces"][0]["Groups"])


def pod_objects(sandbox: Sandbox, pods: dict[str, list[Pod]]) -> list[Check]:
    """Per node: the API server shows each of its pods Running with the pod's address."""
    if sandbox.kube is None:
        return []
    found: list[Check] = []
    for node, running in sorted(pods.items()):
        objects = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o for o in sandbox.kube.pods(node)
        }
        wrong = []
        for pod in running:
            obj = objects.get((pod.namespace, pod.name))
            status = (obj or {}).get("status", {})
            if (
                obj is None
                or status.get("phase") != "Running"
                or status.get("podIP") != pod.address
                or obj["metadata"]["uid"] != pod.uid
            ):
                shown = (
                    "no object" if obj is None else f"{status.get('phase')} {status.get('podIP')}"
                )
                wrong.append(f"{pod.namespace}/{pod.name}: {shown}, expected {pod.address}")
        found.append(
            Check(
                f"the API server shows the {len(running)} pods of {node} with their addresses",
                not wrong,
                "; ".join(wrong[:3]) or "every pod Running with its address and uid",
            )
        )
    return found


def daemons_connected(sandbox: Sandbox) -> list[Check]:
    """Per node: its daemon's health says connected, with the Node's capacity as max pods."""
    if sandbox.kube is None:
        return []
    found: list[Check] = []
    capacity = sandbox.options.node_pods_capacity
    for node in sandbox.nodes:
        try:
            health = node.daemon.health()
        except Exception as error:
            kube, detail = None, f"health failed: {error}"
        else:
            kube = health.get("kubernetes")
            detail = (health_line(health) or "  health has no kubernetes").strip()
        ok = (
            isinstance(kube, dict)
            and kube.get("connected") is True
            and kube.get("node") == node.name
            and kube.get("max_pods") == capacity
        )
        found.append(
            Check(
                f"vpc-ipamd on {node.name} follows its Node (max pods {capacity})",
                ok,
                detail,
            )
        )
    return found


def custom_networking(sandbox: Sandbox, pods: dict[str, list[Pod]]) -> list[Check]:
    """Per node (custom networking): pods in the pod subnet on its ENIs, none on the
    primary ENI, those ENIs with the pods' security group."""
    cloud = sandbox.cloud
    if not sandbox.options.custom_networking or not isinstance(cloud, AwsCloud):
        return []
    subnet = sandbox.options.pod_subnet_cidr
    found: list[Check] = []
    for node, running in sorted(pods.items()):
        enis = sandbox.enis(node)
        primary = {a["PrivateIpAddress"] for a in enis[0]["PrivateIpAddresses"]} if enis else set()
        problems = [
            f"pod {p.address} outside {subnet}"
            for p in running
            if IPv4Address(p.address) not in subnet
        ]
        problems += [f"pod {p.address} on the primary ENI" for p in running if p.address in primary]
        for eni in enis[1:]:
            groups = eni_groups(cloud, eni["NetworkInterfaceId"])
            if eni["SubnetId"] != cloud.pod_subnet_id or groups != [cloud.pod_group]:
                problems.append(
                    f"{eni['NetworkInterfaceId']} in {eni['SubnetId']} with {groups}, expected "
                    f"{cloud.pod_subnet_id} with [{cloud.pod_group}]"
                )
        found.append(
            Check(
                f"pods of {node} are in the pod subnet {subnet}, on its ENIs only",
                not problems and (len(enis) > 1 or not running),
                "; ".join(problems[:3])
                or (
                    f"{len(running)} pods on {len(enis) - 1} ENIs of {cloud.pod_subnet_id}"
                    if len(enis) > 1
                    else "no secondary ENI"
                ),
            )
        )
    return found


def all_checks(sandbox: Sandbox, pods: dict[str, list[Pod]]) -> list[Check]:
    """Every check above that applies to ``sandbox`` (none without kube)."""
    return [
        *pod_objects(sandbox, pods),
        *daemons_connected(sandbox),
        *custom_networking(sandbox, pods),
    ]
