"""A few common EC2 instance types' interface limits, so the simulator runs offline.

Numbers as EC2 publishes them (DescribeInstanceTypes: MaximumNetworkInterfaces,
Ipv4AddressesPerInterface, DefaultVCpus), the same as amazon-vpc-cni-k8s's
pkg/vpc/vpc_ip_resource_limit.go; ``nitro`` instances can hold /28 prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    max_interfaces: int
    ipv4_per_interface: int
    """IPv4 addresses per interface, the interface's own primary address included."""
    vcpus: int
    nitro: bool = True


INSTANCE_TYPES = MappingProxyType(
    {
        t.name: t
        for t in (
            InstanceType("t2.medium", 3, 6, 2, nitro=False),
            InstanceType("t3.medium", 3, 6, 2),
            InstanceType("t3.large", 3, 12, 2),
            InstanceType("m5.large", 3, 10, 2),
            InstanceType("m5.xlarge", 4, 15, 4),
            InstanceType("m5.2xlarge", 4, 15, 8),
            InstanceType("m5.4xlarge", 8, 30, 16),
            InstanceType("m5.24xlarge", 15, 50, 96),
            InstanceType("m6i.large", 3, 10, 2),
            InstanceType("m7g.large", 3, 10, 2),
            InstanceType("c5.large", 3, 10, 2),
            InstanceType("c5.xlarge", 4, 15, 4),
            InstanceType("c5.4xlarge", 8, 30, 16),
            InstanceType("c5.18xlarge", 15, 50, 72),
            InstanceType("r5.large", 3, 10, 2),
        )
    }
)
DEFAULT_INSTANCE_TYPE = "m5.large"


def instance_type(name: str) -> InstanceType:
    """The limits of ``name``; KeyError naming the types known."""
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(INSTANCE_TYPES))
        raise KeyError(
            f"instance type {name!r} is not in the simulator's table ({known})"
        ) from None
