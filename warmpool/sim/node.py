"""One simulated node: its interfaces and blocks, the pods on it, and the pods waiting.

The node is what both policies share; a policy only decides which cloud calls to make and
then tells the node what the cloud gave or took. Modelling choices:

- A pod's ADD is served at once from a free address on an interface the node can use, else
  it waits in FIFO order and is served the moment an address becomes usable (growth, an
  interface becoming ready, a cooldown ending). The kubelet's own retry backoff after a
  failed ADD is not modelled, for either policy: waits are a lower bound.
- Addresses are packed as our datastore packs them (primary interface first, then by device
  index; in a block-of-many mode the fullest block with room). A policy may pick otherwise
  (``choose``): aws-node takes the first free address in Go map order, which is random.
- A freed address cools down for IP_COOLDOWN_PERIOD, unusable by pods; whether the policy
  counts it as available is the policy's business.
- A new interface is usable only from ``ready_at`` (the policy says when: ours once its
  link appears, aws-node once IMDS shows it).
- "Idle" addresses are those the node holds that no pod uses (cooling ones included).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warmpool.model import Limits, Targets
from warmpool.sim.metrics import IdleTracker, NodeMetrics
from warmpool.window import SlidingMax

if TYPE_CHECKING:
    from warmpool.sim.client import CloudClient
    from warmpool.sim.engine import Engine


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """What a node is and wants: its limits, the targets, and the cooldown."""

    limits: Limits
    targets: Targets
    cooldown: float = 30.0
    """IP_COOLDOWN_PERIOD, seconds."""


class SimBlock:
    __slots__ = ("alive", "assigned", "cidr", "cooling", "iface", "size")

    def __init__(self, cidr: str, size: int, iface: SimInterface) -> None:
        self.cidr = cidr
        self.size = size
        self.iface = iface
        self.assigned = 0
        self.cooling: deque[float] = deque()
        """When each cooling address becomes usable again, oldest first."""
        self.alive = True

    @property
    def free(self) -> int:
        return self.size - self.assigned - len(self.cooling)


class SimInterface:
    __slots__ = ("blocks", "changed_at", "created_at", "device_index", "id", "primary", "ready")

    def __init__(self, id: str, device_index: int, created_at: float, *, primary: bool) -> None:
        self.id = id
        self.device_index = device_index
        self.primary = primary
        self.created_at = created_at
        self.ready = primary
        self.blocks: list[SimBlock] = []
        self.changed_at = created_at
        """Last time its blocks changed in the cloud (IMDS shows it imds_lag later)."""


class SimNode:
    """The node's pool and pods; every change goes through here and is counted."""

    def __init__(
        self,
        name: str,
        config: NodeConfig,
        engine: Engine,
        client: CloudClient,
        *,
        idle: IdleTracker,
        started_at: float = 0.0,
    ) -> None:
        self.name = name
        self.config = config
        self.engine = engine
        self.client = client
        self.idle = idle
        self.metrics = NodeMetrics(started_at)
        self.interfaces: list[SimInterface] = [SimInterface("eni-0", 0, started_at, primary=True)]
        self.removed: list[tuple[str, float]] = []
        """(interface id, when) of interfaces given back, for aws-node's IMDS view."""
        self.version = 0
        """Bumped on every change a policy's decision may depend on."""
        self.on_add: Callable[[], None] = lambda: None
        self.choose: Callable[[], SimBlock] = self.pack
        """Which block the next pod's address comes from (one with a usable address)."""
        self.demand: SlidingMax | None = None
        """The policy's window of peak demand, if it keeps one: fed on every ADD."""
        self._serial = 0
        self._free_ready = 0
        self._waiting: deque[str] = deque()
        self._waiting_set: set[str] = set()
        self._holder: dict[str, SimBlock] = {}
        self._added_at: dict[str, float] = {}

    # -- what the policies read --------------------------------------------------------
    @property
    def waiting(self) -> int:
        return len(self._waiting_set)

    def in_use(self) -> int:
        """Addresses pods hold or that cool down, plus pods waiting: the node's demand."""
        used = sum(b.assigned + len(b.cooling) for i in self.interfaces for b in i.blocks)
        return used + self.waiting

    @property
    def free_ready(self) -> int:
        """Addresses a new pod could take right now."""
        return self._free_ready

    @property
    def pending_interfaces(self) -> bool:
        return any(not i.ready for i in self.interfaces)

    def interface(self, interface_id: str) -> SimInterface | None:
        for iface in self.interfaces:
            if iface.id == interface_id:
                return iface
        return None

    def finish(self) -> None:
        """The run ends: pods still waiting count as unserved, having waited until now."""
        now = self.engine.now
        for pod in sorted(self._waiting_set):
            self.metrics.unserved(now - self._added_at[pod])

    # -- pods ------------------------------------------------------------------------------
    def pod_add(self, pod: str) -> None:
        now = self.engine.now
        if pod in self._added_at:
            return  # an ADD is idempotent
        self._added_at[pod] = now
        self.metrics.pods += 1
        self.version += 1
        if not self._waiting_set and self._free_ready > 0:
            self._assign(pod, now)
        else:
            self._waiting.append(pod)
            self._waiting_set.add(pod)
            self._serve()
        if self.demand is not None:
            self.demand.record(now, self.in_use())
        self.on_add()

    def pod_del(self, pod: str) -> None:
        now = self.engine.now
        added = self._added_at.pop(pod, None)
        if added is None:
            return
        self.version += 1
        block = self._holder.pop(pod, None)
        if block is None:
            self._waiting_set.discard(pod)  # left in the deque, skipped when reached
            self.metrics.unserved(now - added)
            return
        block.assigned -= 1
        if self.config.cooldown > 0:
            block.cooling.append(now + self.config.cooldown)
            self.engine.at(now + self.config.cooldown, lambda: self._cooled(block))
        else:
            self._add_free(block, 1)
        self.idle.change(now, 1)

    def _assign(self, pod: str, now: float) -> None:
        block = self.choose()
        block.assigned += 1
        self._free_ready -= 1
        self._holder[pod] = block
        self.metrics.served(now - self._added_at[pod])
        self.idle.change(now, -1)

    def pack(self) -> SimBlock:
        """Our datastore's choice: the first interface with room, its fullest block."""
        for iface in self.interfaces:
            if not iface.ready:
                continue
            best: SimBlock | None = None
            for block in iface.blocks:
                if block.free <= 0:
                    continue
                if block.size == 1:
                    return block
                if best is None or block.size - block.free > best.size - best.free:
                    best = block
            if best is not None:
                return best
        raise AssertionError("no free address although the count says there is one")

    def _serve(self) -> None:
        now = self.engine.now
        while self._waiting and self._free_ready > 0:
            pod = self._waiting.popleft()
            if pod in self._waiting_set:
                self._waiting_set.discard(pod)
                self._assign(pod, now)
        while self._waiting and self._waiting[0] not in self._waiting_set:
            self._waiting.popleft()

    def _cooled(self, block: SimBlock) -> None:
        if not block.alive or not block.cooling or block.cooling[0] > self.engine.now:
            return
        block.cooling.popleft()
        self.version += 1
        self._add_free(block, 1)

    def _add_free(self, block: SimBlock, count: int) -> None:
        if block.iface.ready and count > 0:
            self._free_ready += count
            if self.metrics.first_address_at is None:
                self.metrics.first_address_at = self.engine.now
            self._serve()

    # -- what the cloud gave or took --------------------------------------------------------
    def add_interface(self, blocks: int, ready_at: float) -> SimInterface:
        now = self.engine.now
        used = {i.device_index for i in self.interfaces}
        index = min(set(range(len(used) + 1)) - used)
        self._serial += 1
        iface = SimInterface(f"eni-{self._serial}", index, now, primary=False)
        self.interfaces.append(iface)
        self.interfaces.sort(key=lambda i: (not i.primary, i.device_index))
        self.add_blocks(iface, blocks)
        # even when ready now: after the caller's step, so it can note the new interface first
        self.engine.at(ready_at, lambda: self._ready(iface))
        return iface

    def _ready(self, iface: SimInterface) -> None:
        if iface.ready or iface not in self.interfaces:
            return
        iface.ready = True
        self.version += 1
        for block in iface.blocks:
            self._add_free(block, block.free)

    def add_blocks(self, iface: SimInterface, count: int) -> None:
        now = self.engine.now
        size = self.config.limits.block_size
        for _ in range(count):
            self._serial += 1
            block = SimBlock(f"{iface.id}/{self._serial}", size, iface)
            iface.blocks.append(block)
            self.idle.change(now, size)
            self._add_free(block, size)
        iface.changed_at = now
        self.version += 1

    def remove_blocks(self, iface: SimInterface, cidrs: Iterable[str], *, cooling_ok: bool) -> int:
        """Take blocks out of the node, all or none; refused (0) if a pod holds one (or, unless
        ``cooling_ok``, an address cools in one). Returns the addresses given up."""
        wanted = set(cidrs)
        blocks = [b for b in iface.blocks if b.cidr in wanted]
        if any(b.assigned or (b.cooling and not cooling_ok) for b in blocks):
            return 0
        for block in blocks:
            self._drop(block)
        iface.blocks = [b for b in iface.blocks if b.alive]
        iface.changed_at = self.engine.now
        self.version += 1
        return sum(b.size for b in blocks)

    def remove_interface(self, iface: SimInterface) -> int:
        """Take an interface (no pod, no cooling address) out; returns the addresses it held
        with its own primary address, or 0 if refused."""
        if iface.primary or any(b.assigned or b.cooling for b in iface.blocks):
            return 0
        for block in iface.blocks:
            self._drop(block)
        self.interfaces.remove(iface)
        self.removed.append((iface.id, self.engine.now))
        self.version += 1
        return sum(b.size for b in iface.blocks) + 1

    def _drop(self, block: SimBlock) -> None:
        block.alive = False
        if block.iface.ready:
            self._free_ready -= block.free
        self.idle.change(self.engine.now, -(block.size - block.assigned))
