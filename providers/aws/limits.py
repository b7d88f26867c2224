"""Instance-type limits from DescribeInstanceTypes, looked up once per type per process.

Interfaces per instance and IPv4 addresses per interface bound the pool; a /28 prefix takes
one address slot, so the prefix count per interface equals the secondary-address count.
Prefixes need the Nitro hypervisor (or bare metal, which is Nitro too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from providers.errors import InvalidRequest
from providers.models import InstanceLimits

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeInfoTypeDef

_cache: dict[str, InstanceLimits] = {}
_lock = threading.Lock()


def limits_from_info(info: InstanceTypeInfoTypeDef) -> InstanceLimits:
    name = str(info.get("InstanceType", "?"))
    network = info.get("NetworkInfo", {})
    try:
        max_interfaces = int(network["MaximumNetworkInterfaces"])
        per_interface = int(network["Ipv4AddressesPerInterface"])
    except KeyError as missing:
        raise InvalidRequest(f"instance type {name} has no network limit {missing}") from None
    vcpus = int(info.get("VCpuInfo", {}).get("DefaultVCpus", 1))
    nitro = info.get("Hypervisor") == "nitro" or bool(info.get("BareMetal"))
    return InstanceLimits(
        instance_type=name,
        max_interfaces=max_interfaces,
        ipv4_per_interface=per_interface,
        vcpus=vcpus,
        prefix_delegation=nitro,
    )


def instance_limits(
    instance_type: str, describe: Callable[[str], InstanceTypeInfoTypeDef]
) -> InstanceLimits:
    """The limits of ``instance_type``; ``describe`` is called only on the first lookup."""
    with _lock:
        cached = _cache.get(instance_type)
    if cached is not None:
        return cached
    limits = limits_from_info(describe(instance_type))
    with _lock:
        _cache[instance_type] = limits
    return limits


def clear_cache() -> None:
    """Forget every looked-up type (tests; or to pick up a new type after a resize)."""
    with _lock:
        _cache.clear()
