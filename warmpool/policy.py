"""decide(snapshot) -> Decision: how the pool should change, with aws-node's target semantics.

Pure: no I/O, no clock, no environment. The daemon's pool loop carries the decision out and
paces it (shrink at most every 30 s, pause after a capacity error); this module only says
what the targets want from the pool as it is now.

Where this differs from aws-node, on purpose:
- Addresses in cooldown are not available (see warmpool.counts).
- A decision is complete: it fills as many interfaces and creates as many as the shortfall
  needs, where aws-node adds to one interface per 5 s tick. The end state is the same.
- A shrink never leaves the pool short: each block or interface given back is checked against
  the growth rule first, so WARM_ENI_TARGET=0 or WARM_PREFIX_TARGET=0 cannot release the last
  free address only to ask for it again on the next tick.
- Blocks of a size the node no longer uses (a mode switch) are given back once empty.
- Growth stops at max pods instead of filling a whole interface past it.
- A shrink keeps what the targets would have wanted at the recent peak of demand
  (``recent_demand``, the scale-down window of VPC_IPAM_SCALE_DOWN_WINDOW), where aws-node
  shrinks to the present: a pod count that wanders across an interface's worth of addresses
  would otherwise make the node delete and create that interface over and over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warmpool.counts import (
    Counts,
    after_pending,
    ceil_div,
    interface_needed,
    over_target,
    serves,
    serving_counts,
    shortfall,
)
from warmpool.model import (
    Block,
    Create,
    Decision,
    Grow,
    Interface,
    Mode,
    PoolSnapshot,
    Release,
    mode_of,
)


def decide(snapshot: PoolSnapshot) -> Decision:
    limits, targets = snapshot.limits, snapshot.targets
    mode = mode_of(targets, limits)
    held = sum((serving_counts(i, limits) for i in snapshot.interfaces), Counts())
    # The targets are met on top of what pending pods are about to take.
    counts, missing = after_pending(held, snapshot.pending_pods, limits.block_size)
    need = shortfall(counts, mode, targets, limits)
    if missing and held.total < limits.max_pods:
        headroom = ceil_div(limits.max_pods - held.total, limits.block_size)
        need = min(need + ceil_div(missing, limits.block_size), headroom)
    state = (
        f"{mode.value}: {held.available} available, {held.assigned} assigned, "
        f"{held.cooling} cooling of {held.total} addresses in {held.blocks} blocks"
    )
    if snapshot.pending_pods:
        state += f", {snapshot.pending_pods} pods pending"
    if snapshot.recent_demand > counts.assigned + counts.cooling:
        state += f", recent peak {snapshot.recent_demand} in use"
    if need > 0:
        return _grow(snapshot, mode, counts, need, state)
    return _shrink(snapshot, mode, counts, state)


def _grow(snapshot: PoolSnapshot, mode: Mode, counts: Counts, need: int, state: str) -> Decision:
    limits = snapshot.limits
    # WARM_ENI_TARGET fills whole interfaces, as aws-node does; the others ask for exactly the
    # shortfall. Either way no more than max pods allows.
    whole = mode is Mode.WARM_INTERFACES
    headroom = -(-(limits.max_pods - counts.total) // limits.block_size)
    remaining = need
    grows: list[Grow] = []
    creates: list[Create] = []
    reasons = [f"{state}; short by {need} blocks of {limits.block_size}"]

    candidates = sorted(
        (i for i in snapshot.interfaces if i.pods_allowed),
        key=lambda i: (not i.primary, i.device_index),
    )
    for iface in candidates:
        room = limits.blocks_per_interface - len(iface.blocks)
        if remaining <= 0 or room <= 0:
            continue
        take = min(room, headroom) if whole else min(room, remaining)
        grows.append(Grow(iface.id, take))
        remaining -= take
        headroom -= take
        reasons.append(f"add {take} blocks to {iface.id}")

    interfaces = len(snapshot.interfaces)
    while remaining > 0 and interfaces + len(creates) < limits.max_interfaces:
        per_new = limits.blocks_per_interface
        take = min(per_new, headroom) if whole else min(per_new, remaining)
        creates.append(Create(take))
        remaining -= take
        headroom -= take
        reasons.append(f"create an interface with {take} blocks")

    unmet = max(remaining, 0)
    if unmet:
        reasons.append(
            f"{unmet} blocks cannot be placed: interface limit reached "
            f"({interfaces + len(creates)} of {limits.max_interfaces}, "
            f"{limits.blocks_per_interface} blocks each)"
        )
    return Decision(
        grow=tuple(grows), create=tuple(creates), unmet_blocks=unmet, reasons=tuple(reasons)
    )


@dataclass
class _Shrink:
    """Working state of a shrink: the pool as it will be once the chosen steps are done."""

    snapshot: PoolSnapshot
    mode: Mode
    counts: Counts
    kept: dict[str, list[Block]]
    released: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def leaves_pool_short(self, after: Counts) -> bool:
        """True when the pool ``after`` a step would be short now, or would have been short
        at the recent peak of demand (the scale-down window)."""
        s = self.snapshot
        if shortfall(after, self.mode, s.targets, s.limits) > 0:
            return True
        extra = s.recent_demand - after.assigned - after.cooling
        if extra <= 0:
            return False
        at_peak, missing = after_pending(after, extra, s.limits.block_size)
        if missing > 0 and after.total < s.limits.max_pods:
            return True
        return shortfall(at_peak, self.mode, s.targets, s.limits) > 0

    def try_remove(self, iface: Interface) -> None:
        s = self.snapshot
        if iface.primary or iface.in_use or iface.id in self.removed:
            return
        if iface.age_seconds < s.targets.min_interface_age_seconds:
            return
        contribution = Counts.of_blocks(
            [b for b in self.kept[iface.id] if serves(iface, b, s.limits)]
        )
        after = self.counts - contribution
        if interface_needed(after, self.counts, self.mode, s.targets, s.limits):
            return
        if self.leaves_pool_short(after):
            return
        self.counts = after
        self.removed.append(iface.id)
        self.released.pop(iface.id, None)
        self.reasons.append(f"remove {iface.id}: no pods, no cooling addresses, not needed")

    def release(self, iface: Interface, block: Block) -> None:
        self.kept[iface.id].remove(block)
        self.released.setdefault(iface.id, []).append(block.cidr)

    def try_release(self, iface: Interface, block: Block) -> bool:
        s = self.snapshot
        if over_target(self.counts, self.mode, s.targets, s.limits) <= 0:
            return False
        after = self.counts - Counts.of_blocks([block])
        if self.leaves_pool_short(after):
            return False
        self.counts = after
        self.release(iface, block)
        return True


def _shrink(snapshot: PoolSnapshot, mode: Mode, counts: Counts, state: str) -> Decision:
    limits = snapshot.limits
    work = _Shrink(snapshot, mode, counts, {i.id: list(i.blocks) for i in snapshot.interfaces})
    # Newest interfaces go first, so pods stay packed on the oldest ones.
    newest_first = sorted(snapshot.interfaces, key=lambda i: -i.device_index)
    for iface in newest_first:
        work.try_remove(iface)

    leftovers = 0
    given_back = 0
    for iface in newest_first:
        if iface.id in work.removed:
            continue
        for block in reversed(list(work.kept[iface.id])):
            if not block.releasable:
                continue
            if not serves(iface, block, limits):
                work.release(iface, block)
                leftovers += 1
            elif work.try_release(iface, block):
                given_back += 1
    if given_back:
        work.reasons.append(f"give back {given_back} free blocks over the target")
    if leftovers:
        work.reasons.append(f"give back {leftovers} empty blocks no longer used for pods")

    # An interface emptied by the releases above goes as a whole (one detach instead of an
    # unassign now and a detach on the next tick).
    for iface in newest_first:
        if not work.kept[iface.id]:
            work.try_remove(iface)

    releases = tuple(
        Release(iface_id, tuple(cidrs)) for iface_id, cidrs in work.released.items() if cidrs
    )
    if releases or work.removed:
        reasons = [state, *work.reasons]
    elif counts.total >= limits.max_pods:
        reasons = [f"{state}; at max pods ({limits.max_pods}), no growth"]
    else:
        reasons = [f"{state}; on target"]
    return Decision(release=releases, remove=tuple(work.removed), reasons=tuple(reasons))
