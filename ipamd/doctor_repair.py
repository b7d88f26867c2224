"""The doctor's repairs: the safe findings an operator names, carried out in a safe order.

Host edits first (veths and rules of nobody), then releases, then one reconcile with the
cloud and one checkpoint write; a failure skips that finding, not the rest. Findings not
safe to repair (a duplicate address, an address the cloud gave to someone else) are
skipped with the reason: they need a person to delete a pod.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from ipamd.doctor import (
    ALLOCATION_WITHOUT_VETH,
    CHECKPOINT_DIFFERS,
    HOST_FIRST,
    MISSING_RULE,
    RECONCILED,
    DoctorReport,
    Finding,
)
from ipamd.hostaudit import HostRule
from ipamd.model import Allocation


class RepairActions(Protocol):
    """The changes repairs make, as the daemon carries them out (``release`` as a GC
    does: free the address, remove what is left of its wiring; ``add_rules``: rule 512 and
    the rules 1536 the allocation's interface needs)."""

    def release(self, allocation: Allocation) -> None: ...
    def reconcile(self) -> None: ...
    def persist(self) -> None: ...
    def delete_veth(self, name: str) -> None: ...
    def delete_rule(self, rule: HostRule) -> None: ...
    def add_rules(self, allocation: Allocation) -> None: ...


@dataclass(frozen=True, slots=True)
class Repaired:
    id: str
    kind: str
    action: str


@dataclass(frozen=True, slots=True)
class Skipped:
    id: str
    reason: str
    kind: str | None = None


@dataclass(frozen=True)
class RepairResult:
    repaired: tuple[Repaired, ...]
    skipped: tuple[Skipped, ...]
    findings_left: int
    """Findings of the report not repaired (a caller that diagnoses again may replace it)."""
    errors: tuple[str, ...] = ()
    """Failures tied to no finding named: writing the checkpoint after releases."""

    def to_json(self) -> dict[str, object]:
        return {
            "repaired": [{"id": r.id, "kind": r.kind, "action": r.action} for r in self.repaired],
            "skipped": [{"id": s.id, "kind": s.kind, "reason": s.reason} for s in self.skipped],
            "findings_left": self.findings_left,
            "errors": list(self.errors),
        }


def repair(report: DoctorReport, ids: Collection[str], actions: RepairActions) -> RepairResult:
    chosen: list[Finding] = []
    skipped: list[Skipped] = []
    for finding_id in dict.fromkeys(ids):
        finding = report.finding(finding_id)
        if finding is None:
            skipped.append(Skipped(finding_id, "no such finding now (gone, or repaired already)"))
        elif not finding.safe:
            skipped.append(Skipped(finding_id, "not safe to repair automatically", finding.kind))
        else:
            chosen.append(finding)
    repaired: list[Repaired] = []

    def attempt(kinds: Sequence[str], act: Callable[[Finding], str]) -> None:
        for finding in sorted(
            (f for f in chosen if f.kind in kinds), key=lambda f: kinds.index(f.kind)
        ):
            try:
                repaired.append(Repaired(finding.id, finding.kind, act(finding)))
            except Exception as error:
                skipped.append(Skipped(finding.id, str(error) or repr(error), finding.kind))

    attempt(HOST_FIRST, lambda f: _host_repair(f, actions))
    attempt([ALLOCATION_WITHOUT_VETH], lambda f: _release(f, actions))
    changed = any(r.kind == ALLOCATION_WITHOUT_VETH for r in repaired)
    if any(f.kind in RECONCILED for f in chosen):
        failed = _run(actions.reconcile)
        changed |= failed is None
        attempt(RECONCILED, lambda f: _done(failed, f"reconciled with the cloud ({f.subject})"))
    errors = []
    if changed or any(f.kind == CHECKPOINT_DIFFERS for f in chosen):
        failed = _run(actions.persist)
        attempt([CHECKPOINT_DIFFERS], lambda f: _done(failed, "wrote the checkpoint"))
        if failed is not None and changed:
            errors.append(f"writing the checkpoint failed: {failed}")
    left = len(report.findings) - len({r.id for r in repaired})
    return RepairResult(tuple(repaired), tuple(skipped), left, tuple(errors))


def _run(action: Callable[[], None]) -> Exception | None:
    try:
        action()
    except Exception as error:
        return error
    return None


def _done(failed: Exception | None, action: str) -> str:
    if failed is not None:
        raise failed
    return action


def _release(finding: Finding, actions: RepairActions) -> str:
    assert finding.allocation is not None
    actions.release(finding.allocation)
    return f"released {finding.allocation.address}"


def _host_repair(finding: Finding, actions: RepairActions) -> str:
    if finding.kind == MISSING_RULE:
        assert finding.allocation is not None
        actions.add_rules(finding.allocation)
        return f"added the rules of {finding.allocation.address}"
    done = []
    if finding.veth is not None:
        actions.delete_veth(finding.veth)
        done.append(f"deleted the veth {finding.veth}")
    for rule in finding.rules:
        try:
            actions.delete_rule(rule)
        except Exception as error:
            raise RuntimeError("; ".join([*done, f"deleting {rule} failed: {error}"])) from error
        done.append(f"deleted {rule}")
    return "; ".join(done)
