"""Subnet arithmetic shared by the fake provider and the EC2 emulator: who holds what.

A VPC subnet hands out single addresses and aligned /28 prefixes from one space; nothing may
overlap. AWS reserves five addresses of every subnet (network, router, DNS, future use,
broadcast), so the first and last /28 can never be prefixes. Allocation is lowest-first and
deterministic, which keeps tests readable; EC2's own choice is unspecified.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network


class Shortage(enum.Enum):
    ADDRESSES = "no free addresses left in the subnet"
    PREFIXES = "no free aligned prefix block left in the subnet"


class SubnetFull(Exception):
    """The subnet cannot satisfy the request; nothing was taken."""

    def __init__(self, subnet: IPv4Network, shortage: Shortage, wanted: int, free: int) -> None:
        super().__init__(f"{subnet}: {shortage.value} (wanted {wanted}, {free} free)")
        self.subnet = subnet
        self.shortage = shortage


class AddressInUse(Exception):
    """A specific address or prefix asked for overlaps one already held or reserved."""


def aws_reserved(subnet: IPv4Network) -> tuple[IPv4Address, ...]:
    first = subnet.network_address
    return (first, first + 1, first + 2, first + 3, subnet.broadcast_address)


class SubnetAllocator:
    """Holdings of one subnet: single addresses and prefixes, disjoint from each other."""

    def __init__(self, subnet: IPv4Network, *, reserved: Iterable[IPv4Address] = ()) -> None:
        self.subnet = subnet
        self._reserved = frozenset(reserved)
        self._addresses: set[IPv4Address] = set()
        self._prefixes: set[IPv4Network] = set()

    @classmethod
    def aws(cls, subnet: IPv4Network) -> SubnetAllocator:
        return cls(subnet, reserved=aws_reserved(subnet))

    def _covered_by_prefix(self, address: IPv4Address) -> bool:
        return any(address in prefix for prefix in self._prefixes)

    def is_free(self, address: IPv4Address) -> bool:
        return (
            address in self.subnet
            and address not in self._reserved
            and address not in self._addresses
            and not self._covered_by_prefix(address)
        )

    def prefix_is_free(self, prefix: IPv4Network) -> bool:
        if not prefix.subnet_of(self.subnet):
            return False
        if any(prefix.overlaps(p) for p in self._prefixes):
            return False
        return not any(a in prefix for a in self._addresses | self._reserved)

    def free_addresses(self) -> int:
        taken = len(self._addresses) + sum(p.num_addresses for p in self._prefixes)
        reserved = sum(1 for r in self._reserved if r in self.subnet)
        return self.subnet.num_addresses - taken - reserved

    def take(self, address: IPv4Address) -> None:
        if not self.is_free(address):
            raise AddressInUse(f"{address} is not free in {self.subnet}")
        self._addresses.add(address)

    def take_prefix(self, prefix: IPv4Network) -> None:
        if not self.prefix_is_free(prefix):
            raise AddressInUse(f"{prefix} overlaps addresses held or reserved in {self.subnet}")
        self._prefixes.add(prefix)

    def allocate(self, count: int) -> tuple[IPv4Address, ...]:
        """Take ``count`` free single addresses, lowest first; all or nothing."""
        found: list[IPv4Address] = []
        if count > 0:
            for address in self.subnet:
                if self.is_free(address):
                    found.append(address)
                    if len(found) == count:
                        break
        if len(found) < count:
            raise SubnetFull(self.subnet, Shortage.ADDRESSES, count, self.free_addresses())
        self._addresses.update(found)
        return tuple(found)

    def allocate_prefixes(self, count: int, prefixlen: int = 28) -> tuple[IPv4Network, ...]:
        """Take ``count`` aligned free prefixes, lowest first; all or nothing. A subnet with
        free addresses but no whole aligned block free fails with Shortage.PREFIXES, as EC2
        does (InsufficientCidrBlocks)."""
        found: list[IPv4Network] = []
        if count > 0 and prefixlen >= self.subnet.prefixlen:
            for prefix in self.subnet.subnets(new_prefix=prefixlen):
                if self.prefix_is_free(prefix):
                    found.append(prefix)
                    if len(found) == count:
                        break
        if len(found) < count:
            raise SubnetFull(self.subnet, Shortage.PREFIXES, count, len(found))
        self._prefixes.update(found)
        return tuple(found)

    def release(self, address: IPv4Address) -> None:
        self._addresses.discard(address)

    def release_prefix(self, prefix: IPv4Network) -> None:
        self._prefixes.discard(prefix)
