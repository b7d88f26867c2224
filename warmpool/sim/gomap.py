"""Go's iteration order over a map, as the anchor's replay needs it: random, but not uniform.

aws-node ranges over Go maps (its ENIs, an ENI's blocks) and takes the first that fits, so
the order decides which ENI a pod lands on and which ENI or block is given back first.
aws-node v1.23 is built with Go 1.26, whose maps are Swiss tables; a map of at most 8
entries is one group of 8 slots (internal/runtime/maps): a new key takes the first empty
slot (putSlotSmall), a deleted key empties its slot (deleteSmall), and an iteration starts
at a random slot and walks the 8 slots round, skipping empty ones. With 3 ENIs in slots 0-2,
a range starts at the primary 6 times in 8. Go's maps before 1.24 iterate a one-bucket map
the same way.

``SmallMap`` models that exactly up to 8 keys. A bigger map is a table whose order follows
the keys' hashes; it is modelled as a random rotation of insertion order (``rotated``).
``DatastoreMaps`` keeps one for aws-node's ENIs and one per ENI for its blocks, in step with
the simulated node.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from warmpool.sim.node import SimBlock, SimInterface, SimNode

T = TypeVar("T")
GROUP_SLOTS = 8


def rotated(items: Sequence[T], rng: random.Random) -> list[T]:
    """``items`` from a random starting point, round."""
    if len(items) < 2:
        return list(items)
    k = rng.randrange(len(items))
    return [*items[k:], *items[:k]]


class SmallMap:
    """The slots of a Go map's keys, for its iteration order."""

    def __init__(self) -> None:
        self.slots: list[str | None] = [None] * GROUP_SLOTS
        self.grown: list[str] = []
        """Keys in insertion order once the map outgrew one group (then: rotations)."""

    def insert(self, key: str) -> None:
        if key in self.slots or key in self.grown:
            return
        if not self.grown and None not in self.slots:
            self.grown = [k for k in self.slots if k is not None]
        if self.grown:
            self.grown.append(key)
            return
        self.slots[self.slots.index(None)] = key

    def delete(self, key: str) -> None:
        if key in self.grown:
            self.grown.remove(key)
        elif key in self.slots:
            self.slots[self.slots.index(key)] = None

    def order(self, rng: random.Random) -> list[str]:
        if self.grown:
            return rotated(self.grown, rng)
        offset = rng.randrange(GROUP_SLOTS)
        turn = self.slots[offset:] + self.slots[:offset]
        return [k for k in turn if k is not None]


class DatastoreMaps:
    """aws-node's datastore maps (eniPool; each ENI's AvailableIPv4Cidrs) over a node."""

    def __init__(self, node: SimNode, rng: random.Random) -> None:
        self.node = node
        self.rng = rng
        self._enis = SmallMap()
        self._blocks: dict[str, SmallMap] = {}

    @staticmethod
    def _sync(keys: SmallMap, present: Sequence[str]) -> None:
        """New keys enter in the node's order; keys gone leave their slots."""
        held = set(present)
        for key in [k for k in keys.slots if k is not None] + keys.grown:
            if key not in held:
                keys.delete(key)
        for key in present:
            keys.insert(key)

    def enis(self) -> list[SimInterface]:
        interfaces = self.node.interfaces
        self._sync(self._enis, [i.id for i in interfaces])
        by_id = {i.id: i for i in interfaces}
        return [by_id[k] for k in self._enis.order(self.rng)]

    def blocks(self, iface: SimInterface) -> list[SimBlock]:
        keys = self._blocks.setdefault(iface.id, SmallMap())
        self._sync(keys, [b.cidr for b in iface.blocks])
        by_cidr = {b.cidr: b for b in iface.blocks}
        return [by_cidr[k] for k in keys.order(self.rng)]

    def pick(self) -> SimBlock:
        """AssignPodIPv4Address: the first usable address in map order."""
        for iface in self.enis():
            if iface.ready:
                for block in self.blocks(iface):
                    if block.free > 0:
                        return block
        raise AssertionError("no free address although the count says there is one")
