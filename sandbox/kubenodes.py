"""The sandbox's Kubernetes side: what a sandbox that runs the Kubernetes API emulator puts in
it and hands its daemons.

Owned here: the Node object of each sandbox node (its name, ``status.capacity.pods``, the
well-known labels a cloud's kubelet and node controller set, the InternalIP address and the
``spec.providerID``), the ENIConfig of custom networking (named after the zone, so that
``ENI_CONFIG_LABEL_DEF=topology.kubernetes.io/zone`` picks it), the settings that switch a
node's vpc-ipamd's Kubernetes layer on and point it at the API server through a portal, and
the one-line summary of the ``kubernetes`` object of a daemon's health.

Not owned: the emulator itself (``sandbox/kube/``), its lifecycle and the portals
(``sandbox/cluster.py``), pod objects (``sandbox/kubelet.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.kube import KubeEmulator

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
OS_LABEL = "kubernetes.io/os"
ENI_CONFIG_KEY = "k8s.amazonaws.com/eniConfig"
"""The default label and annotation that name a node's ENIConfig."""
DEFAULT_PODS_CAPACITY = 110
"""The kubelet's default ``--max-pods``."""
TOKEN_FILE = "kube-token"
"""Under a node's run directory, never created: the daemon then sends no token."""


@dataclass(frozen=True)
class NodeSpec:
    """One sandbox node as a Node object."""

    name: str
    pods_capacity: int
    internal_ip: str
    provider_id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def node_labels(
    *, zone: str, region: str, machine_type: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels a node of the cloud carries (``extra`` last, so it may override)."""
    return {
        OS_LABEL: "linux",
        ZONE_LABEL: zone,
        REGION_LABEL: region,
        INSTANCE_TYPE_LABEL: machine_type,
        **(extra or {}),
    }


def register(kube: KubeEmulator, spec: NodeSpec) -> dict[str, Any]:
    """Creates the Node object of ``spec``; returns it."""
    return kube.add_node(
        spec.name,
        pods_capacity=spec.pods_capacity,
        labels=dict(spec.labels),
        annotations=dict(spec.annotations),
        internal_ip=spec.internal_ip,
        provider_id=spec.provider_id,
    )


def daemon_settings(node: str, api_url: str, workdir: Path) -> dict[str, str]:
    """What switches a node's daemon's Kubernetes layer on: its Node's name, the API server
    as the daemon reaches it (``api_url``, a portal inside the node) and a token file that
    does not exist (the emulator wants no token)."""
    return {
        "MY_NODE_NAME": node,
        "VPC_IPAM_KUBE_API_SERVER": api_url,
        "VPC_IPAM_KUBE_TOKEN_FILE": str(workdir / TOKEN_FILE),
    }


def health_line(health: Mapping[str, Any]) -> str | None:
    """The ``kubernetes`` object of a daemon's health in one line; ``None`` when the daemon
    reports none (its Kubernetes layer is off, or predates it)."""
    kube = health.get("kubernetes")
    if not isinstance(kube, Mapping):
        return None
    state = "connected" if kube.get("connected") else "NOT connected"
    max_pods = kube.get("max_pods")
    parts = [
        f"kubernetes: node {kube.get('node')} {state}",
        f"max pods {max_pods if max_pods is not None else '-'}",
        f"ENIConfig {kube.get('eniconfig') or '-'}",
        f"{kube.get('pending_pods', 0)} pending pods",
    ]
    line = "  " + ", ".join(parts)
    if kube.get("last_error"):
        line += f"; last error: {kube['last_error']}"
    return line
