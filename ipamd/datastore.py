"""The node's address book: which blocks it holds, which pod has which address, what cools down.

The datastore is the single owner of the rule "one address, one pod": every address of every
block is at any moment exactly one of free, assigned to one allocation key, or cooling down
after a release. It does no I/O and reads time only from the injected clock; the service
persists ``to_state()`` through a checkpoint after each change, and the pool loop feeds it
what the cloud gave (``add_interface``/``add_blocks``) and takes back what it may give up
(``remove_blocks``/``remove_interface``, refused while any address in them is in use, so a
caller that removes here before asking the cloud cannot take an address from under a pod).

Only *serving* blocks (prefix length ``serving_prefixlen``, on an interface that allows pods)
hand out addresses to new pods, with the same meaning as warmpool.counts.serves; blocks left
from another mode keep the pods they have. New pods are packed onto the fewest interfaces and
blocks, so that empty ones can be given back.

This module owns the allocations and the packing; ipamd.datastore_table keeps the blocks and
per-address state, ipamd.datastore_state the JSON form. One RLock guards everything: the
socket server and the pool loop call in from their own threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import warmpool
from ipamd.datastore_state import InterfaceRecord, StateRecords, decode, encode
from ipamd.datastore_table import (
    BlockTable,
    BlockView,
    Conflict,
    DatastoreError,
    HeldBlock,
    HeldInterface,
    InconsistentState,
    InterfaceView,
    InUse,
    PoolCounts,
    UnknownInterface,
)
from ipamd.model import Allocation, AllocationKey, PodRef
from providers.models import AddressBlock, CloudInterface

log = logging.getLogger(__name__)

__all__ = [
    "BlockView",
    "Conflict",
    "Datastore",
    "DatastoreError",
    "InUse",
    "InconsistentState",
    "InterfaceView",
    "PoolCounts",
    "PoolEmpty",
    "UnknownInterface",
]


class PoolEmpty(DatastoreError):
    """No serving block has a free address for a new pod."""

    def __init__(self, counts: PoolCounts, serving_prefixlen: int) -> None:
        self.counts = counts
        super().__init__(
            f"no free address: {counts.assigned} assigned, {counts.cooling} cooling down, "
            f"{counts.total} in all in serving /{serving_prefixlen} blocks"
        )


class Datastore:
    def __init__(
        self,
        *,
        cooldown: float,
        serving_prefixlen: int,
        clock: Callable[[], float] = time.time,
        wire_interfaces: bool = False,
    ) -> None:
        """``wire_interfaces``: a dataplane sets secondary interfaces up in the kernel, so
        they serve no pod until ``set_wired`` says it has (IPAM-only: all serve at once)."""
        if cooldown < 0:
            raise ValueError(f"cooldown must be >= 0, got {cooldown}")
        if not 0 <= serving_prefixlen <= 32:
            raise ValueError(f"serving_prefixlen must be 0..32, got {serving_prefixlen}")
        self.cooldown = cooldown
        self.serving_prefixlen = serving_prefixlen
        self._clock = clock
        self._lock = threading.RLock()
        self._table = BlockTable(serving_prefixlen, wire_interfaces=wire_interfaces)
        self._by_key: dict[AllocationKey, Allocation] = {}
        self.assignments = 0
        """Addresses handed to new pods since start, a monotonic counter (the adaptive warm
        pool's arrival rate, warmpool.adaptive)."""

    # -- the cloud side ------------------------------------------------------------------
    def add_interface(
        self, iface: CloudInterface, *, pods_allowed: bool = True, created_at: float | None = None
    ) -> None:
        """Hold an interface and its blocks. An interface already held keeps its
        pods_allowed and created_at and gains the blocks it did not have."""
        with self._lock:
            self._yield_moved(iface.id, [b.cidr for b in iface.blocks])
            known = self._table.interfaces.get(iface.id)
            if known is None:
                self._table.add_interface(
                    InterfaceRecord(
                        id=iface.id,
                        device_index=iface.device_index,
                        primary=iface.primary,
                        primary_ip=iface.primary_ip,
                        pods_allowed=pods_allowed,
                        created_at=float(self._clock() if created_at is None else created_at),
                        blocks=tuple(b.cidr for b in iface.blocks),
                    )
                )
                return
            held = (known.device_index, known.primary, known.primary_ip)
            if held != (iface.device_index, iface.primary, iface.primary_ip):
                raise Conflict(
                    f"{iface.id} is held as device {known.device_index} "
                    f"(primary={known.primary}, {known.primary_ip}), not device "
                    f"{iface.device_index} (primary={iface.primary}, {iface.primary_ip})"
                )
            self._table.add_blocks(known, [b.cidr for b in iface.blocks])

    def add_blocks(self, interface_id: str, blocks: Iterable[AddressBlock]) -> None:
        """Hold more blocks on an interface; blocks it already holds are skipped."""
        with self._lock:
            cidrs = [b.cidr for b in blocks]
            self._yield_moved(interface_id, cidrs)
            self._table.add_blocks(self._table.interface(interface_id), cidrs)

    def _yield_moved(self, interface_id: str, cidrs: list[IPv4Network]) -> None:
        for block in self._table.yield_unused(interface_id, cidrs):
            log.warning(
                "%s is now on %s: the unused copy held for %s is dropped",
                block.cidr,
                interface_id,
                block.interface_id,
            )

    def remove_blocks(
        self, interface_id: str, blocks: Iterable[AddressBlock], *, force: bool = False
    ) -> list[Allocation]:
        """Stop holding blocks. Without ``force``, raise InUse and change nothing if any
        address in them is assigned or cooling; with it (the cloud took them), drop them and
        return the allocations lost. Blocks not held are skipped."""
        with self._lock:
            iface = self._table.interfaces.get(interface_id)
            if iface is None:
                return []
            gone: list[HeldBlock] = []
            for block in blocks:
                held = self._table.blocks.get(block.cidr)
                if held is None:
                    continue
                if held.interface_id != interface_id:
                    raise Conflict(f"{block} belongs to {held.interface_id}, not {interface_id}")
                gone.append(held)
            what = f"{interface_id} {', '.join(str(b.cidr) for b in gone)}"
            return self._drop(iface, gone, what, force)

    def remove_interface(self, interface_id: str, *, force: bool = False) -> list[Allocation]:
        """Stop holding an interface and its blocks, with remove_blocks' rules on ``force``.
        An interface not held is already gone: nothing to do."""
        with self._lock:
            iface = self._table.interfaces.get(interface_id)
            if iface is None:
                return []
            lost = self._drop(iface, list(iface.blocks.values()), interface_id, force)
            del self._table.interfaces[interface_id]
            return lost

    def set_pods_allowed(self, interface_id: str, allowed: bool) -> None:
        with self._lock:
            self._table.interface(interface_id).pods_allowed = allowed

    def set_wired(self, interface_id: str, wired: bool) -> None:
        with self._lock:
            self._table.interface(interface_id).wired = wired

    def interfaces(self) -> tuple[InterfaceView, ...]:
        """The interfaces held, primary first then by device index, with per-block counts."""
        with self._lock:
            self._expire()
            return self._table.views()

    # -- pods ----------------------------------------------------------------------------
    def assign(self, key: AllocationKey, pod: PodRef) -> Allocation:
        """The key's address, choosing one if it has none yet (a key keeps its first pod ref).

        Packing: the first interface in order (primary, then lowest device index) with a free
        address in a serving block; on it the block with most addresses assigned or cooling
        (ties: lowest block), so partly used blocks fill before empty ones are touched; in it
        the lowest free address.
        """
        with self._lock:
            existing = self._by_key.get(key)
            if existing is not None:
                return existing
            now = self._clock()
            self._table.expire(now, self.cooldown)
            block = self._choose_block()
            if block is None:
                raise PoolEmpty(self._table.counts(), self.serving_prefixlen)
            address = next(
                a for a in block.addresses() if a not in block.assigned and a not in block.cooling
            )
            allocation = Allocation(key, pod, address, block.interface_id, block.cidr, now)
            block.assigned[address] = key
            self._by_key[key] = allocation
            self.assignments += 1
            return allocation

    def release(self, key: AllocationKey) -> Allocation | None:
        """Free the key's address into cooldown; None if the key holds nothing."""
        with self._lock:
            allocation = self._by_key.pop(key, None)
            if allocation is None:
                return None
            block = self._table.blocks[allocation.block]
            del block.assigned[allocation.address]
            block.cooling[allocation.address] = self._clock()
            return allocation

    def release_address(self, address: IPv4Address) -> Allocation | None:
        """Release whichever key holds the address (for DELs that know only the address)."""
        with self._lock:
            allocation = self.allocation_for(address)
            return None if allocation is None else self.release(allocation.key)

    def allocation(self, key: AllocationKey) -> Allocation | None:
        with self._lock:
            return self._by_key.get(key)

    def allocation_for(self, address: IPv4Address) -> Allocation | None:
        with self._lock:
            block = self._table.block_of(address)
            key = None if block is None else block.assigned.get(address)
            return None if key is None else self._by_key[key]

    def allocations(self) -> list[Allocation]:
        """Every allocation, by address."""
        with self._lock:
            return sorted(self._by_key.values(), key=lambda a: a.address)

    def is_cooling(self, address: IPv4Address) -> bool:
        with self._lock:
            block = self._table.block_of(address)
            released_at = None if block is None else block.cooling.get(address)
            return released_at is not None and self._clock() < released_at + self.cooldown

    def block_of(self, address: IPv4Address) -> tuple[str, IPv4Network] | None:
        """(interface id, block) holding the address, or None: what recovery needs to build
        an Allocation for an address found on the host."""
        with self._lock:
            block = self._table.block_of(address)
            return None if block is None else (block.interface_id, block.cidr)

    def restore_allocation(self, allocation: Allocation) -> None:
        """Put an allocation back exactly as given (recovery). Refused with Conflict if the
        address is in no held block, in another block or interface than the allocation says,
        held by another key, or the key already holds another address. A cooling address is
        taken out of cooldown: the pod that has it is alive."""
        with self._lock:
            address, key = allocation.address, allocation.key
            block = self._table.block_of(address)
            if block is None:
                raise Conflict(f"{address} ({key}) is in no block this node holds")
            if (block.interface_id, block.cidr) != (allocation.interface_id, allocation.block):
                raise Conflict(
                    f"{address} ({key}) is in {block.cidr} of {block.interface_id}, not "
                    f"{allocation.block} of {allocation.interface_id}"
                )
            holder = block.assigned.get(address)
            if holder is not None and holder != key:
                raise Conflict(f"{address} is held by {holder}, cannot restore it for {key}")
            existing = self._by_key.get(key)
            if existing is not None and existing.address != address:
                raise Conflict(f"{key} already holds {existing.address}, not {address}")
            block.cooling.pop(address, None)
            block.assigned[address] = key
            self._by_key[key] = allocation

    # -- what the pool loop and operators see --------------------------------------------
    def counts(self) -> PoolCounts:
        """Total/assigned/cooling/available addresses over the serving blocks."""
        with self._lock:
            self._expire()
            return self._table.counts()

    def snapshot(
        self, limits: warmpool.Limits, targets: warmpool.Targets, *, pending_pods: int = 0
    ) -> warmpool.PoolSnapshot:
        serving_size = 1 << (32 - self.serving_prefixlen)
        if limits.block_size != serving_size:
            # warmpool would count other blocks as serving than the ones the datastore fills
            raise ValueError(
                f"limits.block_size {limits.block_size} does not match the serving "
                f"/{self.serving_prefixlen} blocks ({serving_size} addresses)"
            )
        with self._lock:
            now = self._clock()
            self._table.expire(now, self.cooldown)
            interfaces = tuple(
                warmpool.Interface(
                    id=i.id,
                    device_index=i.device_index,
                    primary=i.primary,
                    blocks=tuple(
                        warmpool.Block(
                            str(b.cidr), b.cidr.num_addresses, len(b.assigned), len(b.cooling)
                        )
                        for b in i.sorted_blocks()
                    ),
                    age_seconds=max(now - i.created_at, 0.0),
                    pods_allowed=i.pods_allowed,
                )
                for i in self._table.ordered()
            )
        return warmpool.PoolSnapshot(interfaces, limits, targets, pending_pods)

    def cooling(self) -> list[tuple[IPv4Address, float]]:
        """(address, released at) of every address still cooling down, by address."""
        with self._lock:
            self._expire()
            return self._cooling()

    def _cooling(self) -> list[tuple[IPv4Address, float]]:
        return sorted(
            (address, released_at)
            for i in self._table.ordered()
            for b in i.blocks.values()
            for address, released_at in b.cooling.items()
        )

    # -- persistence ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A JSON-ready copy of everything held (addresses past their cooldown are free)."""
        with self._lock:
            self._expire()
            interfaces = self._table.ordered()
            cooling = self._cooling()
            return encode(
                StateRecords(
                    interfaces=tuple(i.record() for i in interfaces),
                    allocations=tuple(self.allocations()),
                    cooling=tuple(cooling),
                )
            )

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        cooldown: float,
        serving_prefixlen: int,
        clock: Callable[[], float] = time.time,
        wire_interfaces: bool = False,
    ) -> Datastore:
        """A datastore holding exactly what ``state`` says, or InconsistentState."""
        try:
            records = decode(state)
        except ValueError as error:
            raise InconsistentState(f"malformed state: {error}") from error
        store = cls(
            cooldown=cooldown,
            serving_prefixlen=serving_prefixlen,
            clock=clock,
            wire_interfaces=wire_interfaces,
        )
        try:
            for record in records.interfaces:
                store._table.add_interface(record)
            for allocation in records.allocations:
                if allocation.key in store._by_key:
                    raise Conflict(f"{allocation.key} has two allocations")
                store.restore_allocation(allocation)
            for address, released_at in records.cooling:
                block = store._table.block_of(address)
                if block is None:
                    raise Conflict(f"cooling {address} is in no block")
                if address in block.assigned or address in block.cooling:
                    raise Conflict(f"cooling {address} is also assigned, or listed twice")
                block.cooling[address] = released_at
        except Conflict as error:
            raise InconsistentState(f"inconsistent state: {error}") from error
        return store

    # -- internals (lock held) -----------------------------------------------------------
    def _expire(self) -> None:
        self._table.expire(self._clock(), self.cooldown)

    def _choose_block(self) -> HeldBlock | None:
        for iface in self._table.ordered():
            candidates = [
                b for b in iface.blocks.values() if self._table.serves(iface, b) and b.free
            ]
            if candidates:
                return min(candidates, key=lambda b: (-b.used, b.cidr))
        return None

    def _drop(
        self, iface: HeldInterface, blocks: list[HeldBlock], what: str, force: bool
    ) -> list[Allocation]:
        self._expire()
        lost = sorted(
            (self._by_key[key] for b in blocks for key in b.assigned.values()),
            key=lambda a: a.address,
        )
        if not force and any(b.used for b in blocks):
            cooling = sorted(a for b in blocks for a in b.cooling)
            raise InUse(what, tuple(lost), tuple(cooling))
        self._table.drop(iface, blocks)
        for allocation in lost:
            del self._by_key[allocation.key]
        return lost
