"""The doctor: what the datastore, its checkpoint, the host's wiring and the cloud disagree on.

``diagnose`` is pure: it compares values the caller gathered (docs/introspection.md,
"/v1/doctor", has the kinds) and never judges what may be in flight. An allocation younger
than ``grace``, or an address released less than ``grace`` ago, is an ADD or a DEL still
wiring or unwiring: nothing about its address is reported. The caller scans the host
*before* reading the datastore, so every veth an ADD made has its allocation in the
snapshot; and its cloud view must be no older than the pool's last change.

Against false positives:

- a recovered allocation (rebuilt from the host) may carry a placeholder key: it is never
  reported without a veth, and its veth's alias is never held against it;
- a veth is ours when its alias names an attachment, or (alias unreadable) it carries a
  /32 route; a veth routing an address some allocation holds is never "without allocation";
- an allocation whose own veth exists but has no route is miswired, not gone: releasing
  its address would hand out one a live pod still holds, so it is not reported;
- two veths routing one address, or an allocation routed to another attachment's veth, is a
  duplicate (not safe), and the veths involved are not offered for deletion;
- a cooldown only the disk still lists has merely ended: not a checkpoint difference.

Repairs live in ``ipamd.doctor_repair``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ipamd.dataplane.rtnl import TO_POD_PRIORITY, FromRule, WiringFailed
from ipamd.datastore import DatastoreError, InterfaceView
from ipamd.datastore_state import StateRecords, decode
from ipamd.hostaudit import HostAudit, HostRule, HostVeth
from ipamd.hostview import MAIN_TABLE
from ipamd.model import Allocation
from ipamd.reconcile import plan
from providers.models import CloudInterface

ALLOCATION_WITHOUT_VETH = "allocation-without-veth"
VETH_WITHOUT_ALLOCATION = "veth-without-allocation"
RULE_WITHOUT_ALLOCATION = "rule-without-allocation"
MISSING_RULE = "missing-rule"
ADDRESS_NOT_IN_CLOUD = "address-not-in-cloud"
BLOCK_NOT_IN_CLOUD = "block-not-in-cloud"
BLOCK_NOT_IN_POOL = "block-not-in-pool"
DUPLICATE_ADDRESS = "duplicate-address"
CHECKPOINT_DIFFERS = "checkpoint-differs"
UNSAFE = frozenset({ADDRESS_NOT_IN_CLOUD, DUPLICATE_ADDRESS})
FIXED_REPAIR = {
    ADDRESS_NOT_IN_CLOUD: "delete the pod; its address may belong to another node now",
    BLOCK_NOT_IN_CLOUD: "drop it from the pool (reconcile)",
    BLOCK_NOT_IN_POOL: "adopt it (reconcile)",
    DUPLICATE_ADDRESS: "delete one of the pods",
    CHECKPOINT_DIFFERS: "write the checkpoint",
}
HOST_FIRST = (VETH_WITHOUT_ALLOCATION, RULE_WITHOUT_ALLOCATION, MISSING_RULE)
RECONCILED = (BLOCK_NOT_IN_CLOUD, BLOCK_NOT_IN_POOL)
MAX_DIFFERENCES = 5
"""Differences a checkpoint-differs detail names before it counts the rest."""
JSON_KEYS = ("id", "kind", "safe", "address", "subject", "detail", "repair")


def finding_id(kind: str, subject: str) -> str:
    return hashlib.sha256((kind + subject).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    kind: str
    safe: bool
    address: str | None
    subject: str
    detail: str
    repair: str
    # what a repair acts on; not part of the JSON
    allocation: Allocation | None = field(default=None, compare=False, repr=False)
    veth: str | None = field(default=None, compare=False, repr=False)
    rules: tuple[HostRule, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, object]:
        return {key: getattr(self, key) for key in JSON_KEYS}


def _finding(
    kind: str, subject: str, address: object, detail: str, repair: str = "", **on: Any
) -> Finding:
    where = None if address is None else str(address)
    repair = repair or FIXED_REPAIR[kind]
    return Finding(
        finding_id(kind, subject), kind, kind not in UNSAFE, where, subject, detail, repair, **on
    )


@dataclass(frozen=True)
class DoctorInputs:
    allocations: Sequence[Allocation]
    interfaces: Sequence[InterfaceView]
    cloud: Sequence[CloudInterface] | None
    """The cloud API's view of this node; None when unreachable (cloud kinds skipped)."""
    host: HostAudit | None
    """None with the ``none`` dataplane (host kinds skipped)."""
    checkpoint: Mapping[str, Any] | None
    """The state on disk (``{"node", "datastore", ...}``); None when there is none."""
    memory: Mapping[str, Any]
    """What the daemon would write now; only ``"datastore"`` is compared."""
    from_rules: Callable[[str], Sequence[FromRule]] | None
    """The rules 1536 an address of an interface needs (None: only rule 512 is checked)."""
    now: float
    """Wall clock, as Allocation.assigned_at and cooldowns are (the datastore's clock)."""
    grace: float = 30.0


@dataclass(frozen=True)
class DoctorReport:
    findings: tuple[Finding, ...]
    checked: Mapping[str, int | None]
    """What was looked at; None for a part not checked."""
    dataplane: str
    not_checked: tuple[str, ...] = ()

    def finding(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def to_json(self) -> dict[str, object]:
        """The /v1/doctor answer but ``checked_at`` and ``cloud_checked_at``."""
        findings = [f.to_json() for f in self.findings]
        return {
            "dataplane": self.dataplane,
            "checked": dict(self.checked),
            "findings": findings,
            "not_checked": list(self.not_checked),
        }


def diagnose(inputs: DoctorInputs) -> DoctorReport:
    memory = decode(inputs.memory["datastore"])
    now, grace, host, cloud = inputs.now, inputs.grace, inputs.host, inputs.cloud
    settling = {a.address for a in inputs.allocations if now - a.assigned_at < grace}
    settling |= {address for address, at in memory.cooling if now - at < grace}
    judged = [a for a in inputs.allocations if a.address not in settling]
    by_address: dict[IPv4Address, list[Allocation]] = {}
    for allocation in judged:
        by_address.setdefault(allocation.address, []).append(allocation)
    found = [
        _duplicate(address, [_who(a) for a in held], f"{len(held)} allocations hold {address}")
        for address, held in by_address.items()
        if len(held) > 1
    ]
    judged = [a for a in judged if len(by_address[a.address]) == 1]
    not_checked = []
    if host is None:
        not_checked.append("host wiring: the dataplane is none")
    else:
        found += _host(inputs, host, judged, settling)
    if cloud is None:
        not_checked.append("cloud: the cloud view is unavailable")
    else:
        found += _cloud(inputs, cloud, judged)
    found += _checkpoint(inputs.checkpoint, memory, settling)
    checked = {
        "allocations": len(inputs.allocations),
        "veths": None if host is None else len(host.ours()),
        "rules": None if host is None else len(host.rules),
        "cloud_interfaces": None if cloud is None else len(cloud),
        "cloud_blocks": None if cloud is None else sum(len(i.blocks) for i in cloud),
    }
    found.sort(key=lambda f: (f.kind, _address_order(f.address), f.subject))
    dataplane = "none" if host is None else "kernel"
    return DoctorReport(tuple(found), checked, dataplane, tuple(not_checked))


def _address_order(address: str | None) -> tuple[int, int]:
    if address is None:
        return (-1, 0)
    network = IPv4Network(address, strict=False)
    return (int(network.network_address), network.prefixlen)


def _who(allocation: Allocation) -> str:
    return f"{allocation.key} ({allocation.pod})" if allocation.pod.name else str(allocation.key)


def _veth(veth: HostVeth) -> str:
    return f"veth {veth.name} ({veth.key or 'no alias of ours'})"


def _duplicate(address: IPv4Address, claims: list[str], detail: str) -> Finding:
    return _finding(DUPLICATE_ADDRESS, f"{address}: {', '.join(sorted(claims))}", address, detail)


def _about(kind: str, allocation: Allocation, detail: str, repair: str = "") -> Finding:
    who, address = _who(allocation), allocation.address
    return _finding(kind, who, address, detail, repair, allocation=allocation)


def _host(
    inputs: DoctorInputs, host: HostAudit, judged: list[Allocation], settling: set[IPv4Address]
) -> list[Finding]:
    routed, rules_of = host.routed(), host.rules_of()
    held = {a.address: a for a in inputs.allocations}
    unjudged = settling | (held.keys() - {a.address for a in judged})
    found = _misrouted(host, routed, held, unjudged)
    duplicates = {IPv4Address(f.address) for f in found if f.address}
    veth_keys = {v.key for v in host.veths}
    for allocation in judged:
        address, who = allocation.address, _who(allocation)
        names = [] if address in duplicates else routed.get(address)
        if names is None and not allocation.recovered and allocation.key not in veth_keys:
            detail = f"the checkpoint gives {address} to {who} but no veth of ours carries it"
            repair = f"release {address} (it cools down before reuse)"
            found.append(_about(ALLOCATION_WITHOUT_VETH, allocation, detail, repair))
        elif names:
            lacks = ", ".join(
                _missing_rules(allocation, rules_of.get(address, []), inputs.from_rules)
            )
            if lacks:
                detail = f"{who} is wired on {names[0]} but lacks {lacks}"
                found.append(_about(MISSING_RULE, allocation, detail, f"add {lacks}"))
    # each secondary interface's own address has a rule 1536 of the node (its table): not a pod's
    own = {i.primary_ip for i in inputs.interfaces}
    untouchable = settling | duplicates | own
    return found + _leftovers(host, routed, rules_of, inputs.allocations, untouchable)


def _misrouted(
    host: HostAudit,
    routed: dict[IPv4Address, list[str]],
    held: dict[IPv4Address, Allocation],
    unjudged: set[IPv4Address],
) -> list[Finding]:
    """Addresses routed to two veths, or to another attachment's veth than their holder's."""
    veths, found = {v.name: v for v in host.veths}, []
    for address, names in routed.items():
        allocation, to = held.get(address), veths[names[0]]
        if address in unjudged:
            continue
        if len(names) > 1:
            detail = f"{address} is routed to {len(names)} veths: {', '.join(names)}"
        elif allocation and not allocation.recovered and to.key not in (None, allocation.key):
            who = _who(allocation)
            detail = f"the checkpoint gives {address} to {who}, but it is routed to {_veth(to)}"
        else:
            continue
        claims = [_veth(veths[n]) for n in names] + ([_who(allocation)] if allocation else [])
        found.append(_duplicate(address, claims, detail))
    return found


def _leftovers(
    host: HostAudit,
    routed: dict[IPv4Address, list[str]],
    rules_of: dict[IPv4Address, list[HostRule]],
    allocations: Sequence[Allocation],
    untouchable: set[IPv4Address],
) -> list[Finding]:
    """Veths and rules no allocation holds (none for an address held, in flight or duplicate)."""
    held_keys, held = {a.key for a in allocations}, {a.address for a in allocations}
    found = []
    for veth in host.ours():
        carried = [a for a, names in routed.items() if veth.name in names]
        if veth.key in held_keys or any(a in held or a in untouchable for a in carried):
            continue
        rules = tuple(r for a in carried if routed[a] == [veth.name] for r in rules_of.get(a, []))
        names = veth.key or "no attachment"
        carries = ", ".join(map(str, carried)) or "no address"
        detail = f"{veth.name} ({veth.state}) names {names} and carries {carries}; nothing holds it"
        of = ", ".join(str(a) for a in dict.fromkeys(r.address for r in rules))
        repair = f"delete the veth {veth.name}" + (f" and the rules of {of}" if rules else "")
        first = min(carried, default=None)
        on = {"veth": veth.name, "rules": rules}
        found.append(_finding(VETH_WITHOUT_ALLOCATION, _veth(veth), first, detail, repair, **on))
    for rule in host.rules:
        if rule.address not in held | routed.keys() | untouchable:
            detail = f"{rule} is for {rule.address}, which no allocation holds and no veth routes"
            repair, on = f"delete {rule}", {"rules": (rule,)}
            found.append(
                _finding(RULE_WITHOUT_ALLOCATION, str(rule), rule.address, detail, repair, **on)
            )
    return found


def _missing_rules(
    allocation: Allocation,
    rules: list[HostRule],
    from_rules: Callable[[str], Sequence[FromRule]] | None,
) -> list[str]:
    to_rule = HostRule(allocation.address, TO_POD_PRIORITY, MAIN_TABLE)
    missing = [] if to_rule in rules else [str(to_rule)]
    try:
        wanted = [] if from_rules is None else from_rules(allocation.interface_id)
    except (WiringFailed, DatastoreError):
        wanted = []  # unknown for now; CHECK and /v1/why say why
    have = {r.from_rule for r in rules}
    return missing + [w.describe(str(allocation.address)) for w in wanted if w not in have]


def _cloud(
    inputs: DoctorInputs, cloud: Sequence[CloudInterface], judged: list[Allocation]
) -> list[Finding]:
    assigned = {b.cidr for i in cloud for b in i.blocks}
    found = [
        _finding(
            ADDRESS_NOT_IN_CLOUD,
            _who(a),
            a.address,
            f"{_who(a)} holds {a.address} from {a.block} of {a.interface_id}, but the cloud "
            f"assigns {a.block} to none of this node's interfaces",
        )
        for a in judged
        if a.block not in assigned
    ]
    views, the_plan = {i.id: i for i in inputs.interfaces}, plan(inputs.interfaces, cloud)
    vanished = [(i, b.cidr) for i, blocks in the_plan.vanished_blocks.items() for b in blocks]
    vanished += [(i, b.cidr) for i in the_plan.vanished_interfaces for b in views[i].blocks]
    for iface_id, cidr in vanished:
        view = views[iface_id]
        # a block with a pod is that pod's address-not-in-cloud; a young interface's blocks
        # may be newer than the cloud view
        young = inputs.now - view.created_at < inputs.grace
        if young or any(b.cidr == cidr and b.assigned for b in view.blocks):
            continue
        gone = " (the interface is gone)" if iface_id in the_plan.vanished_interfaces else ""
        detail = (
            f"the pool holds {cidr} on {iface_id}, with no pod; the cloud no longer has it{gone}"
        )
        found.append(_finding(BLOCK_NOT_IN_CLOUD, f"{cidr} of {iface_id}", cidr, detail))
    primaries = {i.primary_ip for i in cloud} | {i.primary_ip for i in inputs.interfaces}
    new = [(i, b) for i, blocks in the_plan.new_blocks.items() for b in blocks]
    new += [(i.id, b) for i in the_plan.new_interfaces for b in i.blocks]
    for iface_id, block in new:
        if not any(p in block.cidr for p in primaries):  # an interface's own address is no pod's
            detail = f"the cloud assigns {block} to {iface_id}, but the pool does not hold it"
            found.append(_finding(BLOCK_NOT_IN_POOL, f"{block} of {iface_id}", block, detail))
    return found


def _checkpoint(
    checkpoint: Mapping[str, Any] | None, memory: StateRecords, settling: set[IPv4Address]
) -> list[Finding]:
    differences = ["there is no checkpoint on disk"]
    if checkpoint is not None:
        try:
            differences = _differences(decode(checkpoint["datastore"]), memory, settling)
        except (KeyError, TypeError, ValueError) as error:
            differences = [f"the checkpoint on disk cannot be read ({error})"]
    if not differences:
        return []
    more = len(differences) - MAX_DIFFERENCES
    shown = "; ".join(differences[:MAX_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")
    detail = f"the checkpoint on disk is not what the daemon holds: {shown}"
    return [_finding(CHECKPOINT_DIFFERS, "the checkpoint", None, detail)]


def _differences(disk: StateRecords, memory: StateRecords, settling: set[IPv4Address]) -> list[str]:
    out = []
    mine, saved = {i.id: i for i in memory.interfaces}, {i.id: i for i in disk.interfaces}
    for iface_id in sorted(mine.keys() | saved.keys()):
        if mine.get(iface_id) != saved.get(iface_id):
            out.append(f"interface {iface_id} differs on disk")
    held = {a.address: a for a in memory.allocations}
    kept = {a.address: a for a in disk.allocations}
    for address in sorted(held.keys() | kept.keys()):
        if address in settling or held.get(address) == kept.get(address):
            continue
        if address not in kept:
            out.append(f"{address} of {held[address].key} is missing on disk")
        else:
            how = "still" if address not in held else "differently"
            out.append(f"{address} is {how} given to {kept[address].key} on disk")
    cooling_on_disk = dict(disk.cooling)
    for address, released_at in memory.cooling:
        if address not in settling and cooling_on_disk.get(address) != released_at:
            out.append(f"the cooldown of {address} is missing on disk")
    return out
