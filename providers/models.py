"""What a cloud tells us about this node, in cloud-neutral frozen values.

A *block* is an address range the cloud has given one interface: an AWS secondary IP (/32),
an AWS /28 prefix, a GCE alias range. The daemon's datastore and the warm pool reason about
blocks; the provider knows how its cloud names and hands them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType

EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, order=True)
class AddressBlock:
    """One range given to an interface: a /32 secondary address or a larger prefix/range."""

    cidr: IPv4Network

    @property
    def size(self) -> int:
        return self.cidr.num_addresses

    @property
    def is_single_address(self) -> bool:
        return self.cidr.prefixlen == self.cidr.max_prefixlen

    def __str__(self) -> str:
        return str(self.cidr)


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    """Interface and address limits of the node's instance type."""

    instance_type: str
    max_interfaces: int
    """Network interfaces the instance may have attached, primary included."""
    ipv4_per_interface: int
    """IPv4 addresses per interface, the interface's own primary address included."""
    vcpus: int
    prefix_delegation: bool
    """True when the instance can hold /28 prefixes (Nitro)."""

    @property
    def blocks_per_interface(self) -> int:
        """Secondary addresses (or /28 prefixes: the same slots) one interface can take."""
        return self.ipv4_per_interface - 1


@dataclass(frozen=True, slots=True)
class CloudInterface:
    """An interface attached to this node, as the cloud (or its metadata service) shows it."""

    id: str
    mac: str
    device_index: int
    primary: bool
    subnet_id: str
    subnet_cidr: IPv4Network
    primary_ip: IPv4Address
    blocks: tuple[AddressBlock, ...] = ()
    """Secondary addresses and prefixes, sorted; never the primary address."""
    security_groups: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=lambda: EMPTY_TAGS)
    attachment_id: str | None = None

    @property
    def gateway(self) -> IPv4Address:
        """The subnet's router: its first usable address (VPC rule on AWS and GCE)."""
        return self.subnet_cidr.network_address + 1


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Who and where this node is."""

    instance_id: str
    instance_type: str
    region: str
    zone: str
    vpc_id: str
    vpc_cidrs: tuple[IPv4Network, ...]
    subnet_id: str
    subnet_cidr: IPv4Network
    security_groups: tuple[str, ...]
    primary_interface_id: str
    primary_mac: str
    primary_ip: IPv4Address
    limits: InstanceLimits


@dataclass(frozen=True, slots=True)
class InterfacePlacement:
    """Where a new interface goes when it is not the node's own subnet and groups (custom
    networking: the node's ENIConfig)."""

    subnet_id: str
    security_groups: tuple[str, ...] | None = None
    """None: the primary interface's security groups."""
    source: str = ""
    """What chose it, for logs and health (e.g. ``ENIConfig us-east-1a``)."""


class PlacementUnknown(Exception):
    """No interface may be created now (custom networking without a usable ENIConfig); the
    message says what is missing."""
