"""Max pods per node, by the EKS rule: what the kubelet should be told it may run.

  secondary IPs:  interfaces x (IPv4 addresses per interface - 1) + 2
  prefix mode:    interfaces x (IPv4 addresses per interface - 1) x 16 + 2, capped at 110
                  (250 on instances with more than 30 vCPUs), as Kubernetes' scaling guidance
  custom networking: the primary interface carries no pods, so it is not counted.

The "- 1" is each interface's own primary address; the "+ 2" are the host-network pods
(aws-node and kube-proxy) that need no address of the pool.
"""

from __future__ import annotations

PREFIX_ADDRESSES = 16
HOST_NETWORK_PODS = 2
PREFIX_MODE_CAP = 110
PREFIX_MODE_CAP_LARGE = 250
LARGE_INSTANCE_VCPUS = 30


def max_pods(
    interfaces: int,
    ipv4_per_interface: int,
    *,
    prefix_delegation: bool = False,
    vcpus: int | None = None,
    custom_networking: bool = False,
) -> int:
    """Max pods for an instance with these limits. ``vcpus`` is required in prefix mode."""
    if interfaces < 1 or ipv4_per_interface < 1:
        raise ValueError("interfaces and ipv4_per_interface must be >= 1")
    usable = interfaces - 1 if custom_networking else interfaces
    per_interface = ipv4_per_interface - 1
    if not prefix_delegation:
        return usable * per_interface + HOST_NETWORK_PODS
    if vcpus is None or vcpus < 1:
        raise ValueError("prefix mode caps max pods by vCPU count: give vcpus >= 1")
    cap = PREFIX_MODE_CAP_LARGE if vcpus > LARGE_INSTANCE_VCPUS else PREFIX_MODE_CAP
    return min(usable * per_interface * PREFIX_ADDRESSES + HOST_NETWORK_PODS, cap)
