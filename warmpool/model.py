"""The warm pool's vocabulary: what the node holds (snapshot in) and what to do (decision out).

Everything here is a frozen value. A *block* is one range the cloud gave the node: an AWS
secondary IP (1 address), an AWS /28 prefix (16), a GCE alias range (16 .. 256). A block
belongs to an *interface* (ENI / NIC). Pods take single addresses out of blocks; the policy
only ever reasons in blocks and addresses, so both clouds share it.

The snapshot carries no clock: ages are computed by the caller, which owns time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Block:
    """A range the cloud has given one interface of this node."""

    cidr: str
    """Opaque identity of the block, e.g. ``10.0.1.7/32`` or ``10.0.2.16/28``."""
    size: int
    """Addresses in the block that pods may use (1 for a secondary IP, 16 for a /28)."""
    assigned: int = 0
    """Addresses held by pods."""
    cooling: int = 0
    """Addresses freed less than IP_COOLDOWN_PERIOD ago; not reusable yet."""

    def __post_init__(self) -> None:
        if self.size < 1 or self.assigned < 0 or self.cooling < 0:
            raise ValueError(f"block {self.cidr}: size, assigned and cooling must be >= 0")
        if self.assigned + self.cooling > self.size:
            raise ValueError(
                f"block {self.cidr}: {self.assigned} assigned + {self.cooling} cooling "
                f"exceed its {self.size} addresses"
            )

    @property
    def free(self) -> int:
        """Addresses a new pod could take right now."""
        return self.size - self.assigned - self.cooling

    @property
    def releasable(self) -> bool:
        """True when giving the block back can hurt no pod, present or just gone."""
        return self.assigned == 0 and self.cooling == 0


@dataclass(frozen=True, slots=True)
class Interface:
    """An ENI or NIC attached to this node, with the blocks it holds."""

    id: str
    device_index: int
    """Attachment order; the primary interface is 0. Used to order choices deterministically."""
    primary: bool = False
    """The node's own interface: never removed."""
    blocks: tuple[Block, ...] = ()
    age_seconds: float = float("inf")
    """Time since the interface was created (the caller's clock)."""
    pods_allowed: bool = True
    """False for an interface whose addresses must not go to pods (the primary ENI under
    custom networking): it is neither counted nor grown."""

    @property
    def in_use(self) -> bool:
        """True when any block holds a pod or a cooling address."""
        return any(not b.releasable for b in self.blocks)


@dataclass(frozen=True, slots=True)
class Limits:
    """What the node can hold, from the instance type and the kubelet."""

    max_interfaces: int
    """Interfaces the node may have in all, primary included: min(instance limit, MAX_ENI)."""
    blocks_per_interface: int
    """Blocks one interface can hold (AWS: IPv4 addresses per ENI minus its primary address,
    the same number for secondary IPs and for /28 prefixes; GCE: alias ranges per NIC)."""
    block_size: int
    """Addresses in a block this node asks for: 1 (secondary IPs), 16 (/28 prefixes), or the
    size of a GCE alias range. Blocks of another size are left over from an earlier mode."""
    max_pods: int
    """Pods the kubelet will run here; the pool never grows past it."""

    def __post_init__(self) -> None:
        if min(self.max_interfaces, self.blocks_per_interface, self.block_size) < 1:
            raise ValueError("max_interfaces, blocks_per_interface and block_size must be >= 1")
        if self.max_pods < 0:
            raise ValueError("max_pods must be >= 0")

    @property
    def prefix_mode(self) -> bool:
        """True when blocks hold more than one address (AWS prefixes, GCE alias ranges)."""
        return self.block_size > 1


@dataclass(frozen=True, slots=True)
class Targets:
    """The warm-pool targets, with aws-node's names and meaning (0 means "not set")."""

    warm_interface_target: int = 1
    """WARM_ENI_TARGET: keep this many interfaces' worth of free addresses (secondary-IP mode)."""
    warm_ip_target: int = 0
    """WARM_IP_TARGET: keep this many free addresses."""
    minimum_ip_target: int = 0
    """MINIMUM_IP_TARGET: hold at least this many addresses in all."""
    warm_block_target: int = 0
    """WARM_PREFIX_TARGET: keep this many wholly free blocks (prefix mode)."""
    min_interface_age_seconds: float = 60.0
    """A younger interface is never removed (aws-node's minENILifeTime)."""

    def __post_init__(self) -> None:
        counts = (
            self.warm_interface_target,
            self.warm_ip_target,
            self.minimum_ip_target,
            self.warm_block_target,
        )
        if min(counts) < 0 or self.min_interface_age_seconds < 0:
            raise ValueError("targets must be >= 0")

    @property
    def ip_targets_set(self) -> bool:
        """WARM_IP_TARGET / MINIMUM_IP_TARGET take precedence over the other targets when set."""
        return self.warm_ip_target > 0 or self.minimum_ip_target > 0


class Mode(enum.Enum):
    """Which target drives the pool, by aws-node's precedence rules."""

    IP_TARGETS = "WARM_IP_TARGET/MINIMUM_IP_TARGET"
    WARM_BLOCKS = "WARM_PREFIX_TARGET"
    WARM_INTERFACES = "WARM_ENI_TARGET"


def mode_of(targets: Targets, limits: Limits) -> Mode:
    """IP targets win; otherwise prefix mode follows WARM_PREFIX_TARGET, IP mode WARM_ENI_TARGET."""
    if targets.ip_targets_set:
        return Mode.IP_TARGETS
    return Mode.WARM_BLOCKS if limits.prefix_mode else Mode.WARM_INTERFACES


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """Everything the policy needs to decide, and nothing else."""

    interfaces: tuple[Interface, ...]
    limits: Limits
    targets: Targets
    pending_pods: int = 0
    """Pods scheduled on the node that will ask for an address soon (the Kubernetes layer
    sees them Pending): the pool grows for them on top of the targets, in one step."""
    recent_demand: int = 0
    """The most addresses pods needed at once (assigned + cooling + pending) within the
    caller's scale-down window (warmpool.window): a shrink gives back only what the targets
    would not have wanted at that peak, so what was needed minutes ago is not given back to
    be asked for again minutes later. 0: no window, shrink to the present."""

    def __post_init__(self) -> None:
        if self.pending_pods < 0 or self.recent_demand < 0:
            raise ValueError("pending_pods and recent_demand must be >= 0")
        ids = [i.id for i in self.interfaces]
        if len(set(ids)) != len(ids):
            raise ValueError(f"interface ids must be unique: {ids}")

    def interface(self, interface_id: str) -> Interface:
        for iface in self.interfaces:
            if iface.id == interface_id:
                return iface
        raise KeyError(interface_id)


@dataclass(frozen=True, slots=True)
class Grow:
    """Ask the cloud for ``blocks`` more blocks on an existing interface."""

    interface_id: str
    blocks: int


@dataclass(frozen=True, slots=True)
class Create:
    """Create and attach a new interface holding ``blocks`` blocks from the start."""

    blocks: int


@dataclass(frozen=True, slots=True)
class Release:
    """Give these blocks of one interface back to the cloud (one call per interface)."""

    interface_id: str
    cidrs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to change, and why. Empty when the pool is where the targets want it."""

    grow: tuple[Grow, ...] = ()
    create: tuple[Create, ...] = ()
    release: tuple[Release, ...] = ()
    remove: tuple[str, ...] = ()
    """Interfaces to detach and delete, with every block they hold."""
    unmet_blocks: int = 0
    """Blocks the targets want that no interface can take (interface or pod limit reached)."""
    reasons: tuple[str, ...] = field(default=())
    """Plain sentences for logs and introspection: why it grew, why it did not."""

    @property
    def is_noop(self) -> bool:
        return not (self.grow or self.create or self.release or self.remove)

    @property
    def grows(self) -> bool:
        return bool(self.grow or self.create)

    @property
    def shrinks(self) -> bool:
        return bool(self.release or self.remove)

    @property
    def blocks_added(self) -> int:
        return sum(g.blocks for g in self.grow) + sum(c.blocks for c in self.create)
