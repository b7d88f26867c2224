"""What the fidelity layer knows beside moto's own objects, kept per moto EC2 backend.

* one ``SubnetAllocator`` per subnet (seeded from the interfaces moto already holds the first
  time a subnet is touched), so addresses and /28 prefixes are unique across the subnet;
* when each attachment, address and prefix appeared (for the IMDS lag);
* the instance-type limits, read from moto's DescribeInstanceTypes data;
* the clock appearance times are read from (the installer sets it).

The state lives in the backend object itself, so moto's reset (which clears the backend) clears
it too. One re-entrant lock serialises every fidelity operation: moto's server is threaded.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from providers.addressing import AddressInUse, SubnetAllocator
from sandbox.clock import Clock, SystemClock

LOCK = threading.RLock()
_clock: list[Clock] = [SystemClock()]

_STATE_ATTR = "_vpc_ipam_fidelity_state"
ATTACH = "attach"


@dataclass(frozen=True)
class Limits:
    max_interfaces: int
    addresses_per_interface: int


@dataclass
class BackendState:
    allocators: dict[str, SubnetAllocator] = field(default_factory=dict)
    # (interface id, ATTACH | address | prefix) -> when it appeared
    appeared: dict[tuple[str, str], float] = field(default_factory=dict)


def use_clock(clock: Clock) -> None:
    _clock[0] = clock


def clock() -> Clock:
    return _clock[0]


def now() -> float:
    return _clock[0].now()


def state_of(backend: Any) -> BackendState:
    found = backend.__dict__.get(_STATE_ATTR)
    if found is None:
        found = BackendState()
        backend.__dict__[_STATE_ATTR] = found
    assert isinstance(found, BackendState)
    return found


def addresses_of(eni: Any) -> list[str]:
    """Private IPv4 addresses of an interface, primary first."""
    primary = eni.private_ip_address
    others = [
        str(item["PrivateIpAddress"])
        for item in eni.private_ip_addresses
        if item.get("PrivateIpAddress") and item["PrivateIpAddress"] != primary
    ]
    return ([str(primary)] if primary else []) + others


def prefixes_of(eni: Any) -> list[str]:
    return [str(item["Ipv4Prefix"]) for item in getattr(eni, "ipv4_prefixes", None) or []]


def slots_used(eni: Any) -> int:
    """Addresses (primary included) plus prefixes: each prefix takes one address slot."""
    return len(addresses_of(eni)) + len(prefixes_of(eni))


def allocator_for(backend: Any, subnet: Any) -> SubnetAllocator:
    state = state_of(backend)
    allocator = state.allocators.get(subnet.id)
    if allocator is None:
        allocator = SubnetAllocator.aws(IPv4Network(subnet.cidr_block))
        for eni in list(backend.enis.values()):
            if eni.subnet is not None and eni.subnet.id == subnet.id:
                _seed(allocator, eni)
        state.allocators[subnet.id] = allocator
    return allocator


def _seed(allocator: SubnetAllocator, eni: Any) -> None:
    # What moto held before the layer was installed may already overlap; keep what fits.
    for address in addresses_of(eni):
        with contextlib.suppress(AddressInUse, ValueError):
            allocator.take(IPv4Address(address))
    for prefix in prefixes_of(eni):
        with contextlib.suppress(AddressInUse, ValueError):
            allocator.take_prefix(IPv4Network(prefix))


def release_all(backend: Any, eni: Any) -> None:
    """Give every address and prefix of ``eni`` back to its subnet and forget their times."""
    allocator = allocator_for(backend, eni.subnet)
    for address in addresses_of(eni):
        allocator.release(IPv4Address(address))
    for prefix in prefixes_of(eni):
        allocator.release_prefix(IPv4Network(prefix))
    appeared = state_of(backend).appeared
    for key in [k for k in appeared if k[0] == eni.id]:
        del appeared[key]


def mark_appeared(backend: Any, eni_id: str, items: list[str], now: float) -> None:
    appeared = state_of(backend).appeared
    for item in items:
        appeared[(eni_id, item)] = now


def forget(backend: Any, eni_id: str, items: list[str]) -> None:
    appeared = state_of(backend).appeared
    for item in items:
        appeared.pop((eni_id, item), None)


def appeared_at(backend: Any, eni_id: str, item: str) -> float | None:
    return state_of(backend).appeared.get((eni_id, item))


def limits_for(backend: Any, instance_type: str) -> Limits | None:
    """The instance type's ENI limits from moto's DescribeInstanceTypes data; None for a type
    moto does not know (then nothing is enforced)."""
    try:
        info = backend.describe_instance_types([instance_type])[0]["NetworkInfo"]
    except Exception:
        return None
    return Limits(
        max_interfaces=int(info["MaximumNetworkInterfaces"]),
        addresses_per_interface=int(info["Ipv4AddressesPerInterface"]),
    )
