"""A tiny node for policy tests: pods arrive and leave, the pool loop settles after each event.

Pods take the first free address, primary interface first, then by attachment order (the
packing the daemon's datastore does). Settling applies decide() until it asks for nothing.
"""

from __future__ import annotations

from dataclasses import replace

from warmpool import Block, Interface, Limits, PoolSnapshot, Targets, apply, decide

SETTLE_LIMIT = 8


def ips(prefix: str, count: int, assigned: int = 0, cooling: int = 0) -> tuple[Block, ...]:
    """``count`` secondary IPs; the first ``assigned`` hold pods, the next ``cooling`` cool."""
    blocks = []
    for n in range(count):
        state = (1, 0) if n < assigned else (0, 1) if n < assigned + cooling else (0, 0)
        blocks.append(Block(f"{prefix}.{n}/32", 1, *state))
    return tuple(blocks)


def fresh_node(limits: Limits, targets: Targets) -> PoolSnapshot:
    return PoolSnapshot((Interface("eni-0", 0, primary=True),), limits, targets)


def settle(snapshot: PoolSnapshot, *, new_interface_age: float = 0.0) -> PoolSnapshot:
    for _ in range(SETTLE_LIMIT):
        decision = decide(snapshot)
        if decision.is_noop:
            return snapshot
        snapshot = apply(snapshot, decision, new_interface_age=new_interface_age)
    raise AssertionError(f"pool did not settle in {SETTLE_LIMIT} steps: {decide(snapshot)}")


def _change_first(snapshot: PoolSnapshot, want, change) -> PoolSnapshot:
    order = sorted(snapshot.interfaces, key=lambda i: (not i.primary, i.device_index))
    for iface in order:
        for index, block in enumerate(iface.blocks):
            if iface.pods_allowed and block.size == snapshot.limits.block_size and want(block):
                blocks = list(iface.blocks)
                blocks[index] = change(block)
                new_iface = replace(iface, blocks=tuple(blocks))
                interfaces = tuple(
                    new_iface if i.id == iface.id else i for i in snapshot.interfaces
                )
                return replace(snapshot, interfaces=interfaces)
    raise LookupError("no block matched")


def add_pod(snapshot: PoolSnapshot) -> PoolSnapshot:
    """A pod arrives: settle first if the pool is empty, take an address, settle again."""
    try:
        snapshot = _take(snapshot)
    except LookupError:
        snapshot = _take(settle(snapshot))
    return settle(snapshot)


def _take(snapshot: PoolSnapshot) -> PoolSnapshot:
    return _change_first(
        snapshot, lambda b: b.free > 0, lambda b: replace(b, assigned=b.assigned + 1)
    )


def delete_pod(snapshot: PoolSnapshot) -> PoolSnapshot:
    """A pod leaves: its address cools down (no settling: the caller decides when)."""
    return _change_first(
        snapshot,
        lambda b: b.assigned > 0,
        lambda b: replace(b, assigned=b.assigned - 1, cooling=b.cooling + 1),
    )


def cool_down(snapshot: PoolSnapshot) -> PoolSnapshot:
    """IP_COOLDOWN_PERIOD passes: every cooling address becomes free."""
    return replace(
        snapshot,
        interfaces=tuple(
            replace(i, blocks=tuple(replace(b, cooling=0) for b in i.blocks))
            for i in snapshot.interfaces
        ),
    )


def age(snapshot: PoolSnapshot, seconds: float) -> PoolSnapshot:
    return replace(
        snapshot,
        interfaces=tuple(
            replace(i, age_seconds=i.age_seconds + seconds) for i in snapshot.interfaces
        ),
    )


def with_pods(limits: Limits, targets: Targets, pods: int) -> PoolSnapshot:
    snapshot = settle(fresh_node(limits, targets))
    for _ in range(pods):
        snapshot = add_pod(snapshot)
    return snapshot


def addresses_per_interface(snapshot: PoolSnapshot) -> list[int]:
    return sorted(sum(b.size for b in i.blocks) for i in snapshot.interfaces)


def blocks_per_interface(snapshot: PoolSnapshot) -> list[int]:
    return sorted(len(i.blocks) for i in snapshot.interfaces)


def totals(snapshot: PoolSnapshot) -> tuple[int, int, int]:
    """(interfaces, addresses, unused addresses)."""
    blocks: list[Block] = [b for i in snapshot.interfaces for b in i.blocks]
    total = sum(b.size for b in blocks)
    return len(snapshot.interfaces), total, total - sum(b.assigned for b in blocks)
