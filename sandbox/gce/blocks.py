"""Who holds what inside one address range (a subnetwork's primary range or one of its
secondary ranges): disjoint blocks, each with an owner, kept sorted for bisection.

Compute Engine picks the range of a size-only alias request (``/28``) itself; the emulator
picks the lowest free aligned block, deterministically. A pods range may hold tens of
thousands of blocks, so nothing here scans every block per request: overlap checks bisect
(O(log n)), and a low-water mark (everything below it is taken) lets the search for a free
block start where the first gap is. ``providers.addressing.SubnetAllocator`` checks each
candidate against every holding, which is fine for EC2's /28s in a small subnet but not here.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network


@dataclass(frozen=True, slots=True)
class Held:
    block: IPv4Network
    owner: str


class RangeAllocator:
    """Disjoint holdings of one range. Not thread-safe: the model's lock covers it."""

    def __init__(self, network: IPv4Network) -> None:
        self.network = network
        self._first = int(network.network_address)
        self._end = self._first + network.num_addresses  # exclusive
        self._starts: list[int] = []
        self._ends: list[int] = []  # exclusive; sorted too, as the blocks are disjoint
        self._owners: dict[int, str] = {}  # start -> owner
        self._low_water = self._first  # no gap below this address

    def __len__(self) -> int:
        return len(self._starts)

    def held(self) -> list[Held]:
        return [
            Held(_network(start, end), self._owners[start])
            for start, end in zip(self._starts, self._ends, strict=True)
        ]

    def overlapping(self, block: IPv4Network) -> list[Held]:
        """Holdings that share at least one address with ``block``."""
        start, end = _bounds(block)
        found = []
        i = bisect_right(self._ends, start)
        while i < len(self._starts) and self._starts[i] < end:
            start_i = self._starts[i]
            found.append(Held(_network(start_i, self._ends[i]), self._owners[start_i]))
            i += 1
        return found

    def holds(self, block: IPv4Network) -> bool:
        start, end = _bounds(block)
        i = bisect_left(self._starts, start)
        return i < len(self._starts) and self._starts[i] == start and self._ends[i] == end

    def take(self, block: IPv4Network, owner: str) -> None:
        if not block.subnet_of(self.network):
            raise ValueError(f"{block} is not inside {self.network}")
        if self.overlapping(block):
            raise ValueError(f"{block} overlaps a holding in {self.network}")
        start, end = _bounds(block)
        i = bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
        self._owners[start] = owner

    def take_address(self, address: IPv4Address, owner: str) -> None:
        self.take(IPv4Network(address), owner)

    def release(self, block: IPv4Network) -> None:
        """Give ``block`` back; a block not held exactly so is ignored."""
        if not self.holds(block):
            return
        start, _ = _bounds(block)
        i = bisect_left(self._starts, start)
        del self._starts[i]
        del self._ends[i]
        del self._owners[start]
        self._low_water = min(self._low_water, start)

    def find_free(self, prefixlen: int, count: int) -> list[IPv4Network]:
        """The ``count`` lowest free aligned blocks of ``prefixlen``, without taking them;
        fewer if the range has no more."""
        size = 1 << (32 - prefixlen)
        if prefixlen < self.network.prefixlen or prefixlen > 32 or count <= 0:
            return []
        found: list[IPv4Network] = []
        i = bisect_right(self._ends, self._low_water)
        cursor = self._low_water
        first_gap: int | None = None
        while len(found) < count and cursor < self._end:
            gap_end = self._starts[i] if i < len(self._starts) else self._end
            if cursor < gap_end and first_gap is None:
                first_gap = cursor
            candidate = -(-cursor // size) * size  # aligned upwards
            while len(found) < count and candidate + size <= gap_end:
                found.append(_network(candidate, candidate + size))
                candidate += size
            if i >= len(self._starts):
                break
            cursor = max(cursor, self._ends[i])
            i += 1
        self._low_water = self._end if first_gap is None else first_gap
        return found

    def allocate(self, prefixlen: int, count: int, owner: str) -> list[IPv4Network]:
        """Take the ``count`` lowest free aligned blocks; all or nothing (empty if short)."""
        found = self.find_free(prefixlen, count)
        if len(found) < count:
            return []
        for block in found:
            self.take(block, owner)
        return found


def _bounds(block: IPv4Network) -> tuple[int, int]:
    start = int(block.network_address)
    return start, start + block.num_addresses


def _network(start: int, end: int) -> IPv4Network:
    size = end - start
    return IPv4Network((start, 32 - (size.bit_length() - 1)))
