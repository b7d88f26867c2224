"""Where every address the node holds lives: interfaces, their blocks, and per-address state.

The datastore's lower half, kept apart so each half reads on its own. ``BlockTable`` keeps
the interfaces and blocks, refuses a block that overlaps another or contains an interface's
primary address (an address must have exactly one block), finds an address's block in a few
dict lookups, and counts. Which key holds which address, and which address a new pod gets,
is ipamd.datastore's business; it holds the lock around every call here.

This module also owns the datastore's exceptions and the read-only views it hands out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from ipamd.datastore_state import InterfaceRecord
from ipamd.model import Allocation, AllocationKey


class DatastoreError(Exception):
    """Base of what the datastore refuses."""


class UnknownInterface(DatastoreError):
    """The interface is not one the datastore holds."""


class Conflict(DatastoreError):
    """The change would give an address two owners or contradict what the datastore holds."""


class InconsistentState(DatastoreError):
    """A saved state is malformed or contradicts itself; nothing of it was loaded."""


class InUse(DatastoreError):
    """Blocks or an interface still hold assigned or cooling addresses; nothing was removed."""

    def __init__(
        self, what: str, allocations: tuple[Allocation, ...], cooling: tuple[IPv4Address, ...]
    ) -> None:
        self.allocations = allocations
        self.cooling = cooling
        super().__init__(
            f"{what} is in use: {len(allocations)} addresses assigned, {len(cooling)} cooling down"
        )


@dataclass(frozen=True, slots=True)
class PoolCounts:
    """Addresses over the serving blocks."""

    total: int
    assigned: int
    cooling: int

    @property
    def available(self) -> int:
        return self.total - self.assigned - self.cooling


@dataclass(frozen=True, slots=True)
class BlockView:
    cidr: IPv4Network
    size: int
    assigned: int
    cooling: int
    serving: bool
    """True when new pods may take addresses from this block."""


@dataclass(frozen=True, slots=True)
class InterfaceView:
    id: str
    device_index: int
    primary: bool
    primary_ip: IPv4Address
    pods_allowed: bool
    created_at: float
    blocks: tuple[BlockView, ...]
    wired: bool = True
    """The kernel is ready for pods on it (its link, table and rule exist)."""


@dataclass(slots=True, eq=False)
class HeldBlock:
    cidr: IPv4Network
    interface_id: str
    assigned: dict[IPv4Address, AllocationKey] = field(default_factory=dict)
    cooling: dict[IPv4Address, float] = field(default_factory=dict)
    """address -> released_at; entries past the cooldown are dropped by ``expire``."""

    @property
    def used(self) -> int:
        return len(self.assigned) + len(self.cooling)

    @property
    def free(self) -> int:
        return self.cidr.num_addresses - self.used

    def addresses(self) -> Iterator[IPv4Address]:
        """Every address of the block, lowest first: a prefix is wholly usable by pods,
        network and broadcast addresses included (AWS /28 prefixes and GCE alias ranges
        route each of their addresses to the interface)."""
        first = int(self.cidr.network_address)
        return (IPv4Address(first + n) for n in range(self.cidr.num_addresses))


@dataclass(slots=True, eq=False)
class HeldInterface:
    id: str
    device_index: int
    primary: bool
    primary_ip: IPv4Address
    pods_allowed: bool
    created_at: float
    blocks: dict[IPv4Network, HeldBlock] = field(default_factory=dict)
    wired: bool = True
    """Not persisted: a restart sets the node's interfaces up again before serving."""

    def sorted_blocks(self) -> list[HeldBlock]:
        return sorted(self.blocks.values(), key=lambda b: b.cidr)

    def record(self) -> InterfaceRecord:
        return InterfaceRecord(
            id=self.id,
            device_index=self.device_index,
            primary=self.primary,
            primary_ip=self.primary_ip,
            pods_allowed=self.pods_allowed,
            created_at=self.created_at,
            blocks=tuple(b.cidr for b in self.sorted_blocks()),
        )


class BlockTable:
    def __init__(self, serving_prefixlen: int, *, wire_interfaces: bool = False) -> None:
        self.serving_prefixlen = serving_prefixlen
        self.wire_interfaces = wire_interfaces
        """Secondary interfaces start unwired and serve no pod until ``wired`` is set."""
        self.interfaces: dict[str, HeldInterface] = {}
        self.blocks: dict[IPv4Network, HeldBlock] = {}
        self._prefixlens: Counter[int] = Counter()

    def interface(self, interface_id: str) -> HeldInterface:
        iface = self.interfaces.get(interface_id)
        if iface is None:
            raise UnknownInterface(f"interface {interface_id} is not held by this node")
        return iface

    def ordered(self) -> list[HeldInterface]:
        """Primary first, then by device index: the order pods are packed in."""
        return sorted(self.interfaces.values(), key=lambda i: (not i.primary, i.device_index, i.id))

    def add_interface(self, record: InterfaceRecord) -> None:
        if record.id in self.interfaces:
            raise Conflict(f"interface {record.id} is already held")
        for block in self.blocks.values():
            if record.primary_ip in block.cidr:
                raise Conflict(
                    f"{record.id}'s primary address {record.primary_ip} is inside "
                    f"{block.cidr} of {block.interface_id}"
                )
        iface = HeldInterface(
            id=record.id,
            device_index=record.device_index,
            primary=record.primary,
            primary_ip=record.primary_ip,
            pods_allowed=record.pods_allowed,
            created_at=record.created_at,
            wired=record.primary or not self.wire_interfaces,
        )
        self.add_blocks(iface, record.blocks)  # checks all before changing anything
        self.interfaces[iface.id] = iface

    def add_blocks(self, iface: HeldInterface, cidrs: Iterable[IPv4Network]) -> None:
        """Add the blocks the interface does not hold yet, or none if one would clash."""
        new: list[IPv4Network] = []
        for cidr in dict.fromkeys(cidrs):
            held = self.blocks.get(cidr)
            if held is not None and held.interface_id == iface.id:
                continue
            clash = next((b for b in (*self.blocks, *new) if b.overlaps(cidr)), None)
            if clash is not None:
                owner = self.blocks[clash].interface_id if clash in self.blocks else iface.id
                raise Conflict(f"{cidr} for {iface.id} overlaps {clash} of {owner}")
            for other in (iface, *self.interfaces.values()):
                if other.primary_ip in cidr:
                    raise Conflict(
                        f"{cidr} contains {other.id}'s primary address {other.primary_ip}"
                    )
            new.append(cidr)
        for cidr in new:
            block = HeldBlock(cidr, iface.id)
            iface.blocks[cidr] = block
            self.blocks[cidr] = block
            self._prefixlens[cidr.prefixlen] += 1

    def yield_unused(self, interface_id: str, cidrs: Iterable[IPv4Network]) -> list[HeldBlock]:
        """Forget the blocks other interfaces hold that overlap ``cidrs`` and hold no pod;
        returns them. The cloud just said ``cidrs`` are on ``interface_id``, and it puts an
        address on one interface at a time: a copy held elsewhere is stale (a release the
        cloud finished after the daemon died, say), its cooling addresses included (they
        cool on an interface that no longer has them). A copy a pod holds stays, and
        add_blocks refuses the clash."""
        wanted = list(cidrs)
        stale = [
            b
            for b in self.blocks.values()
            if b.interface_id != interface_id
            and not b.assigned
            and any(b.cidr.overlaps(cidr) for cidr in wanted)
        ]
        for block in stale:
            self.drop(self.interfaces[block.interface_id], [block])
        return stale

    def drop(self, iface: HeldInterface, blocks: Iterable[HeldBlock]) -> None:
        """Forget blocks with whatever state their addresses had."""
        for block in blocks:
            del iface.blocks[block.cidr]
            del self.blocks[block.cidr]
            self._prefixlens[block.cidr.prefixlen] -= 1
            if not self._prefixlens[block.cidr.prefixlen]:
                del self._prefixlens[block.cidr.prefixlen]

    def block_of(self, address: IPv4Address) -> HeldBlock | None:
        # blocks never overlap, so at most one prefix length finds one
        value = int(address)
        for prefixlen in self._prefixlens:
            mask = (0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF
            block = self.blocks.get(IPv4Network((value & mask, prefixlen)))
            if block is not None:
                return block
        return None

    def expire(self, now: float, cooldown: float) -> None:
        """Forget cooling entries whose cooldown has ended: those addresses are free."""
        for block in self.blocks.values():
            if block.cooling:
                ended = [a for a, t in block.cooling.items() if now >= t + cooldown]
                for address in ended:
                    del block.cooling[address]

    def serves(self, iface: HeldInterface, block: HeldBlock) -> bool:
        """New pods may take addresses here: warmpool.counts.serves, and the interface is
        wired. (warmpool counts an unwired interface's addresses as available: they are
        coming, and asking the cloud for more meanwhile would overshoot.)"""
        return iface.pods_allowed and iface.wired and block.cidr.prefixlen == self.serving_prefixlen

    def counts(self) -> PoolCounts:
        serving = [
            b for i in self.interfaces.values() for b in i.blocks.values() if self.serves(i, b)
        ]
        return PoolCounts(
            total=sum(b.cidr.num_addresses for b in serving),
            assigned=sum(len(b.assigned) for b in serving),
            cooling=sum(len(b.cooling) for b in serving),
        )

    def views(self) -> tuple[InterfaceView, ...]:
        return tuple(
            InterfaceView(
                id=i.id,
                device_index=i.device_index,
                primary=i.primary,
                primary_ip=i.primary_ip,
                pods_allowed=i.pods_allowed,
                created_at=i.created_at,
                wired=i.wired,
                blocks=tuple(
                    BlockView(
                        cidr=b.cidr,
                        size=b.cidr.num_addresses,
                        assigned=len(b.assigned),
                        cooling=len(b.cooling),
                        serving=self.serves(i, b),
                    )
                    for b in i.sorted_blocks()
                ),
            )
            for i in self.ordered()
        )
