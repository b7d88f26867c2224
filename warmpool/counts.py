"""Pool arithmetic: the counts the targets are compared against, and the growth the targets want.

Only *serving* blocks count: blocks of the current size on interfaces that may carry pods.
Blocks left from another mode (prefixes after ENABLE_PREFIX_DELEGATION was turned off, say)
keep serving the pods they hold but are neither counted nor handed to new pods.

The one deliberate departure from aws-node lives here: an address in cooldown is not
available, because a pod cannot get it. aws-node counts it as available, so a node whose free
addresses are all cooling sits on an empty pool while believing it is warm.
"""

from __future__ import annotations

from dataclasses import dataclass

from warmpool.model import Block, Interface, Limits, Mode, PoolSnapshot, Targets


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def round_up(value: int, multiple: int) -> int:
    return ceil_div(value, multiple) * multiple


def serves(iface: Interface, block: Block, limits: Limits) -> bool:
    """True when new pods may take addresses from this block."""
    return iface.pods_allowed and block.size == limits.block_size


@dataclass(frozen=True, slots=True)
class Counts:
    """Address and block counts over the serving blocks of a pool."""

    total: int = 0
    assigned: int = 0
    cooling: int = 0
    blocks: int = 0
    free_blocks: int = 0
    """Blocks with no pod and no cooling address."""

    @property
    def available(self) -> int:
        return self.total - self.assigned - self.cooling

    @staticmethod
    def of_blocks(blocks: list[Block] | tuple[Block, ...]) -> Counts:
        return Counts(
            total=sum(b.size for b in blocks),
            assigned=sum(b.assigned for b in blocks),
            cooling=sum(b.cooling for b in blocks),
            blocks=len(blocks),
            free_blocks=sum(1 for b in blocks if b.releasable),
        )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.total + other.total,
            self.assigned + other.assigned,
            self.cooling + other.cooling,
            self.blocks + other.blocks,
            self.free_blocks + other.free_blocks,
        )

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.total - other.total,
            self.assigned - other.assigned,
            self.cooling - other.cooling,
            self.blocks - other.blocks,
            self.free_blocks - other.free_blocks,
        )


def serving_counts(iface: Interface, limits: Limits) -> Counts:
    return Counts.of_blocks([b for b in iface.blocks if serves(iface, b, limits)])


def demand(snapshot: PoolSnapshot) -> int:
    """Addresses pods need right now: held or cooling in serving blocks, plus pods pending."""
    held = sum((serving_counts(i, snapshot.limits) for i in snapshot.interfaces), Counts())
    return held.assigned + held.cooling + snapshot.pending_pods


def after_pending(counts: Counts, pending: int, size: int) -> tuple[Counts, int]:
    """The pool once ``pending`` pods have taken addresses, and the addresses still missing.

    Pods fill partly used blocks first (as the datastore hands addresses out), then whole
    free blocks; the pool that results is what the targets must be met on top of.
    """
    take = min(pending, counts.available)
    partly_free = counts.available - counts.free_blocks * size
    whole = ceil_div(max(take - partly_free, 0), size)
    after = Counts(
        total=counts.total,
        assigned=counts.assigned + take,
        cooling=counts.cooling,
        blocks=counts.blocks,
        free_blocks=counts.free_blocks - whole,
    )
    return after, pending - take


def shortfall(counts: Counts, mode: Mode, targets: Targets, limits: Limits) -> int:
    """Blocks the targets ask for beyond what the pool holds, capped so the pool never grows
    past max pods (by more than the one block that crosses it, in prefix mode).

    aws-node's rules, with cooling addresses not available:
    - IP targets: short = max(WARM_IP_TARGET - available, MINIMUM_IP_TARGET - total, 0)
      addresses, rounded up to whole blocks.
    - WARM_PREFIX_TARGET: the pool is low when available < block_size x target (or, with
      target 0, when nothing is available); it then asks for max(1, target - free blocks).
    - WARM_ENI_TARGET: the pool is low when available < addresses-per-interface x target (or,
      with target 0, when nothing is available); it asks for what is missing, and the growth
      plan fills whole interfaces.
    """
    if counts.total >= limits.max_pods:
        return 0
    size = limits.block_size
    if mode is Mode.IP_TARGETS:
        short = max(
            targets.warm_ip_target - counts.available,
            targets.minimum_ip_target - counts.total,
            0,
        )
        need = ceil_div(short, size)
    elif mode is Mode.WARM_BLOCKS:
        target = targets.warm_block_target
        low = counts.available < size * target or (target == 0 and counts.available == 0)
        need = max(1, target - counts.free_blocks) if low else 0
    else:
        per_interface = limits.blocks_per_interface * size
        target = targets.warm_interface_target
        low = counts.available < per_interface * target or (target == 0 and counts.available == 0)
        need = max(per_interface * target - counts.available, 1) if low else 0
    headroom = ceil_div(limits.max_pods - counts.total, size)
    return min(need, headroom)


def over_target(counts: Counts, mode: Mode, targets: Targets, limits: Limits) -> int:
    """Free blocks beyond the targets, which may be given back one by one.

    - IP targets, one address per block: max(min(available - WARM_IP_TARGET,
      total - MINIMUM_IP_TARGET), 0).
    - IP targets in prefix mode: free blocks not needed to keep ceil((assigned + cooling +
      WARM_IP_TARGET) / size) and ceil(MINIMUM_IP_TARGET / size) blocks (aws-node counts
      assigned only; counting cooling too is what keeps release and regrowth from chasing
      each other while addresses cool down).
    - WARM_PREFIX_TARGET: free blocks - target.
    - WARM_ENI_TARGET: never; that mode gives back whole interfaces only.
    - In every mode, free blocks that hold the pool above max pods (the kubelet's number
      fell, or became known after the pool grew): addresses no pod can ever use.
    """
    above_max_pods = min(counts.free_blocks, (counts.total - limits.max_pods) // limits.block_size)
    return max(_over_targets(counts, mode, targets, limits), above_max_pods, 0)


def _over_targets(counts: Counts, mode: Mode, targets: Targets, limits: Limits) -> int:
    if mode is Mode.WARM_INTERFACES:
        return 0
    if mode is Mode.WARM_BLOCKS:
        return max(counts.free_blocks - targets.warm_block_target, 0)
    if not limits.prefix_mode:
        over = min(
            counts.available - targets.warm_ip_target,
            counts.total - targets.minimum_ip_target,
        )
        return max(over, 0)
    size = limits.block_size
    needed_for_warm = ceil_div(counts.assigned + counts.cooling + targets.warm_ip_target, size)
    needed_for_minimum = ceil_div(targets.minimum_ip_target, size)
    over = min(
        counts.free_blocks,
        counts.blocks - needed_for_warm,
        counts.blocks - needed_for_minimum,
    )
    return max(over, 0)


def interface_needed(
    remaining: Counts, before: Counts, mode: Mode, targets: Targets, limits: Limits
) -> str | None:
    """Why an empty interface must stay, given the pool ``before`` and ``remaining`` without it.

    Returns None when it may go. aws-node's rules: with IP targets an interface stays when the
    others hold fewer free addresses than WARM_IP_TARGET or fewer addresses than
    MINIMUM_IP_TARGET (both rounded up to whole blocks in prefix mode); with WARM_PREFIX_TARGET
    when the others hold fewer free blocks than the target; with WARM_ENI_TARGET it goes only
    while the pool holds target + 1 interfaces' worth of free addresses.
    """
    size = limits.block_size
    if mode is Mode.IP_TARGETS:
        warm = round_up(targets.warm_ip_target, size)
        minimum = round_up(targets.minimum_ip_target, size)
        if targets.warm_ip_target and remaining.available < warm:
            return (
                f"the others hold {remaining.available} free addresses, WARM_IP_TARGET wants {warm}"
            )
        if targets.minimum_ip_target and remaining.total < minimum:
            return f"the others hold {remaining.total} addresses, MINIMUM_IP_TARGET wants {minimum}"
        return None
    if mode is Mode.WARM_BLOCKS:
        target = targets.warm_block_target
        if target and remaining.free_blocks < target:
            free = remaining.free_blocks
            return f"the others hold {free} free blocks, WARM_PREFIX_TARGET wants {target}"
        return None
    wanted = (targets.warm_interface_target + 1) * limits.blocks_per_interface * size
    if before.available < wanted:
        return (
            f"{before.available} addresses are free, fewer than "
            f"(WARM_ENI_TARGET + 1) interfaces' worth ({wanted})"
        )
    return None
