"""The fake cloud's account: who the node is and what interfaces and addresses exist.

This is the state half of providers.fake, kept apart from the Provider that fronts it so each
stays readable. It owns the node's description (``FakeNode``), the interfaces of the account
(``Eni``), attached or not, and one ``SubnetAllocator`` per registered subnet, and it applies
the rules that bind that state as EC2 does: addresses unique per subnet and prefixes aligned
(providers.addressing), a bounded number of blocks per interface, create taking the primary
address and the blocks all or nothing, and a metadata view that lags the API and carries no
tags or attachment id (IMDS has neither). Failures raise providers.errors types carrying EC2
error codes (``ec2_error``) and leave the state unchanged.

It is not thread-safe: providers.fake.FakeProvider holds its lock around every call. Nothing
here is logged or subject to scripted faults; that is the Provider's business.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType

from providers.addressing import Shortage, SubnetAllocator, SubnetFull
from providers.errors import (
    CapacityExhausted,
    Conflict,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    ProviderError,
)
from providers.models import EMPTY_TAGS, AddressBlock, CloudInterface, InstanceLimits

_ERRORS: dict[str, type[ProviderError]] = {
    "AttachmentLimitExceeded": LimitExceeded,
    "PrivateIpAddressLimitExceeded": LimitExceeded,
    "InsufficientFreeAddressesInSubnet": CapacityExhausted,
    "InsufficientCidrBlocks": CapacityExhausted,
    "InvalidNetworkInterfaceID.NotFound": NotFound,
    "InvalidSubnetID.NotFound": NotFound,
    "IncorrectState": Conflict,
    "OperationNotPermitted": Conflict,
    "InvalidParameterValue": InvalidRequest,
}
_SHORTAGE_CODES = {
    Shortage.ADDRESSES: "InsufficientFreeAddressesInSubnet",
    Shortage.PREFIXES: "InsufficientCidrBlocks",
}

DEFAULT_LIMITS = InstanceLimits("m5.large", 3, 10, 2, True)
DEFAULT_VPC = IPv4Network("10.0.0.0/16")
DEFAULT_SUBNET = IPv4Network("10.0.1.0/24")


def ec2_error(code: str, operation: str, message: str) -> ProviderError:
    """The providers.errors exception EC2's ``code`` maps to."""
    return _ERRORS[code](message, code=code, operation=operation)


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeNode:
    """Who the fake node is. ``block_prefixlen``: 32 secondary IPs, 28 prefixes, or any
    length for GCE-like alias ranges."""

    instance_id: str = "i-0fake0000000000001"
    limits: InstanceLimits = DEFAULT_LIMITS
    region: str = "us-west-2"
    zone: str = "us-west-2a"
    vpc_id: str = "vpc-0fake"
    vpc_cidrs: tuple[IPv4Network, ...] = (DEFAULT_VPC,)
    subnet_id: str = "subnet-0node"
    subnet_cidr: IPv4Network = DEFAULT_SUBNET
    security_groups: tuple[str, ...] = ("sg-0node",)
    block_prefixlen: int = 32


@dataclass(slots=True)
class Eni:
    """An interface as the account holds it; tests get copies from ``account_interfaces``."""

    id: str
    mac: str
    subnet_id: str
    primary_ip: IPv4Address
    security_groups: tuple[str, ...]
    tags: dict[str, str]
    blocks: dict[IPv4Network, float] = field(default_factory=dict)
    """Block -> when it was assigned (the metadata view hides it until ``metadata_lag``)."""
    primary: bool = False
    device_index: int | None = None
    """None while detached."""
    attachment_id: str | None = None
    attached_at: float = -math.inf
    delete_on_termination: bool = False


class FakeAccount:
    """The account's interfaces and subnets around one node, which starts with its primary
    interface attached at device index 0. Callers hold the Provider's lock."""

    def __init__(self, node: FakeNode, clock: Callable[[], float]) -> None:
        self.node = node
        self._clock = clock
        self._serial = itertools.count(1)
        self._enis: dict[str, Eni] = {}
        self._subnets: dict[str, SubnetAllocator] = {}
        self.add_subnet(node.subnet_id, node.subnet_cidr)
        primary = self.create(node.subnet_id, 0, node.security_groups, {}, "init")
        primary.primary = True
        self._attach(primary, 0, -math.inf)
        self._primary_id = primary.id

    # -- subnets -------------------------------------------------------------------------------

    def add_subnet(self, subnet_id: str, cidr: IPv4Network) -> None:
        """Register a subnet of the VPC; it may not overlap one already registered."""
        if not any(cidr.subnet_of(vpc) for vpc in self.node.vpc_cidrs):
            raise ValueError(f"{cidr} is outside the VPC {self.node.vpc_cidrs}")
        if subnet_id in self._subnets or any(
            cidr.overlaps(a.subnet) for a in self._subnets.values()
        ):
            raise ValueError(f"{subnet_id} ({cidr}) overlaps a registered subnet")
        self._subnets[subnet_id] = SubnetAllocator.aws(cidr)

    def has_subnet(self, subnet_id: str) -> bool:
        return subnet_id in self._subnets

    def free_addresses(self, subnet_id: str) -> int:
        return self._subnets[subnet_id].free_addresses()

    # -- interfaces ----------------------------------------------------------------------------

    def interfaces(self) -> list[Eni]:
        """Every interface in the account, attached or not, by id (the records themselves)."""
        return sorted(self._enis.values(), key=lambda e: e.id)

    def primary(self) -> Eni:
        """The node's primary interface (never detached or deleted)."""
        return self._enis[self._primary_id]

    def get(self, interface_id: str) -> Eni | None:
        return self._enis.get(interface_id)

    def attached(self) -> list[Eni]:
        """The node's interfaces, by device index."""
        enis = [e for e in self._enis.values() if e.device_index is not None]
        return sorted(enis, key=lambda e: e.device_index or 0)

    def mine(self, interface_id: str, op: str) -> Eni:
        """The interface, which must exist and be attached to this node (else Conflict)."""
        eni = self._enis.get(interface_id)
        if eni is None:
            raise ec2_error(
                "InvalidNetworkInterfaceID.NotFound", op, f"no interface {interface_id}"
            )
        if eni.device_index is None:
            msg = f"{interface_id} is not attached to {self.node.instance_id}"
            raise ec2_error("IncorrectState", op, msg)
        return eni

    def check_slots(self, wanted: int, op: str) -> None:
        """An interface of this instance type holds at most so many blocks."""
        if wanted > (limit := self.node.limits.blocks_per_interface):
            msg = f"an interface holds at most {limit} blocks, {wanted} asked"
            raise ec2_error("PrivateIpAddressLimitExceeded", op, msg)

    def create(
        self, subnet_id: str, blocks: int, groups: tuple[str, ...], tags: dict[str, str], op: str
    ) -> Eni:
        """A detached interface. Takes the primary address and the blocks together, all or
        nothing."""
        (primary_net,) = self._allocate(subnet_id, 1, op, prefixlen=32)
        try:
            new = self._allocate(subnet_id, blocks, op)
        except ProviderError:
            self._free(subnet_id, primary_net)
            raise
        n = next(self._serial)
        eni = Eni(
            id=f"eni-{n:017x}",
            mac=f"02:00:00:00:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}",
            subnet_id=subnet_id,
            primary_ip=primary_net.network_address,
            security_groups=groups,
            tags=tags,
            blocks=dict.fromkeys(new, self._clock()),
        )
        self._enis[eni.id] = eni
        return eni

    def attach(self, eni: Eni) -> None:
        """Attach at the lowest free device index above the primary's, as of now."""
        used = {e.device_index for e in self.attached()}
        self._attach(eni, next(i for i in itertools.count(1) if i not in used), self._clock())

    def assign(self, eni: Eni, count: int, op: str) -> list[IPv4Network]:
        """Give ``count`` more blocks to the interface, stamped now; returns them."""
        new = self._allocate(eni.subnet_id, count, op)
        eni.blocks.update(dict.fromkeys(new, self._clock()))
        return new

    def unassign(self, eni: Eni, blocks: Iterable[IPv4Network]) -> None:
        """Take blocks back from the interface; those it does not hold are skipped."""
        for block in blocks:
            if eni.blocks.pop(block, None) is not None:
                self._free(eni.subnet_id, block)

    def delete(self, interface_id: str) -> None:
        """Delete the interface, giving back its blocks and primary address."""
        eni = self._enis[interface_id]
        for block in (*eni.blocks, IPv4Network(eni.primary_ip)):
            self._free(eni.subnet_id, block)
        del self._enis[eni.id]

    # -- views ---------------------------------------------------------------------------------

    def view(self, eni: Eni, metadata_until: float | None = None) -> CloudInterface:
        """The API's view, or with ``metadata_until`` the metadata service's: blocks assigned
        by then, and no tags or attachment id (IMDS has neither)."""
        local = metadata_until is not None
        until = math.inf if metadata_until is None else metadata_until
        return CloudInterface(
            id=eni.id,
            mac=eni.mac,
            device_index=eni.device_index or 0,
            primary=eni.primary,
            subnet_id=eni.subnet_id,
            subnet_cidr=self._subnets[eni.subnet_id].subnet,
            primary_ip=eni.primary_ip,
            blocks=tuple(sorted(AddressBlock(b) for b, at in eni.blocks.items() if at <= until)),
            security_groups=eni.security_groups,
            tags=EMPTY_TAGS if local else MappingProxyType(dict(eni.tags)),
            attachment_id=None if local else eni.attachment_id,
        )

    def metadata_view(self, lag: float) -> tuple[CloudInterface, ...]:
        """The node's interfaces as the metadata service shows them, ``lag`` seconds behind:
        attachments and blocks newer than that are missing."""
        until = self._clock() - lag
        return tuple(self.view(e, until) for e in self.attached() if e.attached_at <= until)

    # -- internals -----------------------------------------------------------------------------

    def _allocate(
        self, subnet_id: str, count: int, op: str, prefixlen: int | None = None
    ) -> list[IPv4Network]:
        alloc, prefixlen = self._subnets[subnet_id], prefixlen or self.node.block_prefixlen
        try:
            if prefixlen == 32:
                return [IPv4Network(a) for a in alloc.allocate(count)]
            return list(alloc.allocate_prefixes(count, prefixlen))
        except SubnetFull as full:
            raise ec2_error(_SHORTAGE_CODES[full.shortage], op, str(full)) from full

    def _free(self, subnet_id: str, block: IPv4Network) -> None:
        if block.prefixlen == 32:
            self._subnets[subnet_id].release(block.network_address)
        else:
            self._subnets[subnet_id].release_prefix(block)

    @staticmethod
    def _attach(eni: Eni, index: int, at: float) -> None:
        eni.device_index = index
        eni.attachment_id = f"eni-attach-{eni.id.removeprefix('eni-')}"
        eni.attached_at = at
        eni.delete_on_termination = True
