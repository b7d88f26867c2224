"""What a sandbox is made of: node count, cloud, addressing modes, the Kubernetes option, and
the daemon settings that follow from them (checked at construction: a combination that
cannot work raises ValueError before anything is created)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network

from sandbox import kubenodes

QUICK = {
    "VPC_IPAM_POOL_INTERVAL": "1",
    "VPC_IPAM_SHRINK_INTERVAL": "2",
    "VPC_IPAM_RECONCILE_INTERVAL": "10",
    "VPC_IPAM_MIN_INTERFACE_LIFETIME": "5",
    "VPC_IPAM_SCALE_DOWN_WINDOW": "5",
    "IP_COOLDOWN_PERIOD": "3",
    "VPC_IPAM_ADD_WAIT": "10",
}
"""Short loop intervals, so pool dynamics show within seconds (demo and tests)."""

POD_RANGE_CIDR = IPv4Network("10.4.0.0/16")
VPC_CIDR = IPv4Network("10.0.0.0/16")
SUBNET_CIDR = IPv4Network("10.0.1.0/24")
POD_SUBNET_CIDR = IPv4Network("10.0.64.0/20")


@dataclass(frozen=True)
class SandboxOptions:
    nodes: int = 2
    instance_type: str = "m5.large"
    prefix_delegation: bool = False
    external_snat: bool = False
    exclude_snat_cidrs: tuple[str, ...] = ()
    vpc_cidr: IPv4Network = VPC_CIDR
    subnet_cidr: IPv4Network = SUBNET_CIDR
    provider: str = "aws"
    """aws (EC2 ENIs) or gce (alias ranges on nic0)."""
    pod_range: IPv4Network = POD_RANGE_CIDR
    """GCE: the secondary range alias ranges are cut from."""
    quick: bool = True
    kube: bool = False
    """Run the Kubernetes API emulator: a Node per sandbox node, pod objects around the CNI
    calls, and each daemon's Kubernetes layer on (``MY_NODE_NAME`` and the API server)."""
    pods_capacity: int | None = None
    """Each Node's ``status.capacity.pods`` (kube); ``None``: 110, the kubelet's default."""
    node_labels: dict[str, str] = field(default_factory=dict)
    """More labels on every Node (kube), over the cloud's well-known ones (zone, region,
    instance type, os)."""
    node_annotations: dict[str, str] = field(default_factory=dict)
    """Annotations on every Node (kube), e.g. ``k8s.amazonaws.com/eniConfig``."""
    custom_networking: bool = False
    """AWS, with kube: pods get their addresses from ENIs in a second subnet of the VPC
    (``pod_subnet_cidr``) with a security group of their own, as the ENIConfig named after
    the zone says; the daemons pick it by the zone label (``ENI_CONFIG_LABEL_DEF``)."""
    pod_subnet_cidr: IPv4Network = POD_SUBNET_CIDR
    """Custom networking: the pod subnet, inside ``vpc_cidr`` and in the same zone."""
    pod_gone_grace: float | None = None
    """Kube: seconds a pod object may be gone before the daemon releases its address
    (``VPC_IPAM_POD_GONE_GRACE``); ``None``: the daemon's default."""
    settings: dict[str, str] = field(default_factory=dict)
    """More daemon settings (env names), applied last."""

    def __post_init__(self) -> None:
        if self.custom_networking and not (self.kube and self.provider == "aws"):
            raise ValueError("custom networking needs kube=True and the aws provider")
        if self.pods_capacity is not None and self.pods_capacity < 1:
            raise ValueError("pods_capacity must be at least 1")
        if self.pod_gone_grace is not None and not self.kube:
            raise ValueError("pod_gone_grace needs kube=True (the daemon watches pods)")
        if self.custom_networking and not (
            self.pod_subnet_cidr.subnet_of(self.vpc_cidr)
            and not self.pod_subnet_cidr.overlaps(self.subnet_cidr)
        ):
            raise ValueError(
                f"pod subnet {self.pod_subnet_cidr}: inside {self.vpc_cidr}, "
                f"apart from {self.subnet_cidr}"
            )

    @property
    def node_pods_capacity(self) -> int:
        """What each Node's ``status.capacity.pods`` says (kube)."""
        if self.pods_capacity is None:
            return kubenodes.DEFAULT_PODS_CAPACITY
        return self.pods_capacity

    def daemon_settings(self) -> dict[str, str]:
        chosen = {
            **(QUICK if self.quick else {}),
            "VPC_IPAM_DATAPLANE": "kernel",
            "AWS_VPC_K8S_CNI_LOGLEVEL": "INFO",
            "AWS_VPC_K8S_CNI_EXTERNALSNAT": str(self.external_snat).lower(),
        }
        if self.provider == "aws":
            chosen["CLUSTER_NAME"] = "sandbox"
            chosen["ENABLE_PREFIX_DELEGATION"] = str(self.prefix_delegation).lower()
        if self.prefix_delegation and self.provider == "aws":
            chosen["WARM_PREFIX_TARGET"] = "1"  # as aws-node's manifest sets it
        if self.exclude_snat_cidrs:
            chosen["AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"] = ",".join(self.exclude_snat_cidrs)
        if self.custom_networking:
            chosen["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = "true"
            chosen["ENI_CONFIG_LABEL_DEF"] = kubenodes.ZONE_LABEL
        if self.pod_gone_grace is not None:
            chosen["VPC_IPAM_POD_GONE_GRACE"] = f"{self.pod_gone_grace:g}"
        return {**chosen, **self.settings}
