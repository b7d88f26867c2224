"""apply(snapshot, decision) -> snapshot: the pool as it is once the cloud has done a decision.

Pure and deterministic, for the simulator and the policy's own properties (a decision applied
and decided again asks for nothing more in the same direction). New blocks and interfaces get
synthetic names; new interfaces start at age 0 unless told otherwise.
"""

from __future__ import annotations

from dataclasses import replace

from warmpool.model import Block, Decision, Interface, PoolSnapshot


def apply(
    snapshot: PoolSnapshot, decision: Decision, *, new_interface_age: float = 0.0
) -> PoolSnapshot:
    size = snapshot.limits.block_size
    taken = {b.cidr for i in snapshot.interfaces for b in i.blocks}

    def fresh_blocks(owner: str, count: int) -> tuple[Block, ...]:
        made: list[Block] = []
        serial = 0
        while len(made) < count:
            cidr = f"{owner}/{serial}"
            serial += 1
            if cidr not in taken:
                taken.add(cidr)
                made.append(Block(cidr, size))
        return tuple(made)

    removed = set(decision.remove)
    released = {r.interface_id: set(r.cidrs) for r in decision.release}
    grown = {g.interface_id: g.blocks for g in decision.grow}
    interfaces: list[Interface] = []
    for iface in snapshot.interfaces:
        if iface.id in removed:
            continue
        gone = released.get(iface.id, set())
        blocks = tuple(b for b in iface.blocks if b.cidr not in gone)
        blocks += fresh_blocks(iface.id, grown.get(iface.id, 0))
        interfaces.append(replace(iface, blocks=blocks))

    ids = {i.id for i in snapshot.interfaces}
    next_index = max((i.device_index for i in snapshot.interfaces), default=-1) + 1
    for create in decision.create:
        new_id = f"if-{next_index}"
        while new_id in ids:
            new_id += "x"
        ids.add(new_id)
        interfaces.append(
            Interface(
                id=new_id,
                device_index=next_index,
                blocks=fresh_blocks(new_id, create.blocks),
                age_seconds=new_interface_age,
            )
        )
        next_index += 1
    return replace(snapshot, interfaces=tuple(interfaces))
