"""The doctor in the running daemon: gathers its inputs, answers ``/v1/doctor`` and the
``repair`` op, and checks one pod's wiring for ``why``.

Everything runs on the pool loop's thread (``PoolLoop.run_in_loop``): the loop is the only
thread that changes what the node holds in the cloud, so between two of its ticks the
datastore and the cloud agree and no block is half added or half given back. The host is
scanned before the datastore is read, so every veth an ADD made already has its allocation
in the snapshot (``ipamd.doctor`` explains the rest of its guards). The cloud view is
shared for ``CLOUD_MAX_AGE`` seconds and never older than the pool's last change, so an
operator (or anyone who can reach introspection) asking again and again costs at most one
describe call per 10 s.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ipamd.checkpoint import FileCheckpoint
from ipamd.dataplane.pod import KernelDataplane
from ipamd.dataplane.rtnl import FromRule
from ipamd.datastore import Datastore
from ipamd.doctor import DoctorInputs, DoctorReport, diagnose
from ipamd.doctor_repair import repair
from ipamd.hostaudit import HostAudit, HostRepairs, HostRule, scan
from ipamd.hostview import MAIN_TABLE
from ipamd.model import Allocation, AllocationKey
from ipamd.poolloop import PoolLoop
from ipamd.service import IpamService
from ipamd.views import stamp
from ipamd.why import Wiring
from providers.base import Provider
from providers.errors import ProviderError
from providers.models import CloudInterface

log = logging.getLogger(__name__)

CLOUD_MAX_AGE = 10.0
GRACE = 5.0
"""Seconds an allocation or a release is left alone after it happened, besides the ADDs and
DELs in flight (an ADD wires its pod within a second or so of taking the address)."""
LOOP_TIMEOUT = 75.0
"""Seconds a doctor request waits for the pool loop (a tick may be in a slow cloud call)."""
TO_POD, FROM_POD = 512, 1536


class NodeDoctor:
    def __init__(
        self,
        *,
        store: Datastore,
        pool: PoolLoop,
        provider: Provider,
        checkpoint: FileCheckpoint,
        persist: Callable[[], None],
        service: IpamService,
        reconcile: Callable[[], None],
        dataplane: KernelDataplane | None,
        veth_prefix: str,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._pool, self._provider = store, pool, provider
        self._checkpoint, self._persist, self._service = checkpoint, persist, service
        self._reconcile, self._dataplane, self._prefix = reconcile, dataplane, veth_prefix
        self._clock, self._wall = clock, wall_clock
        self._cloud: tuple[float, float, tuple[CloudInterface, ...]] | None = None
        self._host = HostRepairs()
        self._lock = threading.Lock()

    @property
    def kernel(self) -> bool:
        """The daemon wires pods itself (the host checks apply)."""
        return self._dataplane is not None

    # -- answers -------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The ``/v1/doctor`` answer."""
        return self._pool.run_in_loop(lambda: self._json(self._diagnose()), LOOP_TIMEOUT)

    def repair(self, ids: tuple[str, ...]) -> dict[str, object]:
        """The ``repair`` op: diagnose again, repair the named safe findings, say what is left."""

        def job() -> dict[str, object]:
            result = repair(self._diagnose(), ids, _Actions(self))
            after = self._diagnose()
            answer = result.to_json()
            answer["findings_left"] = len(after.findings)
            for done in result.repaired:
                log.warning("doctor repaired %s: %s", done.kind, done.action)
            return answer

        return self._pool.run_in_loop(job, LOOP_TIMEOUT)

    def wiring(self, allocation: Allocation) -> Wiring:
        """The host side of one pod as netlink shows it now (for ``why``)."""
        host = scan(self._prefix)
        veth = next((v.name for v in host.veths if v.key == allocation.key), None)
        routed = host.routed().get(allocation.address, [])
        rules = host.rules_of().get(allocation.address, [])
        rule_to = any(r.priority == TO_POD and r.table == MAIN_TABLE for r in rules)
        wanted = self._wanted_from(allocation)
        have = {(r.dst, r.table) for r in rules if r.priority == FROM_POD}
        rule_from = None if not wanted else all((w.dst, w.table) in have for w in wanted)
        problems = []
        if veth is None:
            problems.append(f"no veth of ours names {allocation.key}")
        if not routed:
            problems.append(f"no route sends {allocation.address} to a veth")
        elif veth is not None and veth not in routed:
            problems.append(f"{allocation.address} is routed to {', '.join(routed)}, not {veth}")
        if not rule_to:
            problems.append(f"rule {TO_POD} 'to {allocation.address} lookup main' is missing")
        for w in wanted:
            if (w.dst, w.table) not in have:
                problems.append(f"{w.describe(str(allocation.address))} is missing")
        table = wanted[0].table if wanted else None
        return Wiring(veth, bool(routed), rule_to, rule_from, table, tuple(problems))

    # -- on the loop's thread ------------------------------------------------------------
    def _diagnose(self) -> DoctorReport:
        busy = self._service.in_flight()
        host: HostAudit | None = scan(self._prefix) if self._dataplane is not None else None
        cloud = self._cloud_view()
        try:
            on_disk = self._checkpoint.peek()
        except (OSError, ValueError) as error:
            log.warning("doctor: the checkpoint cannot be read: %s", error)
            on_disk = None
        report = diagnose(
            DoctorInputs(
                allocations=self._store.allocations(),
                interfaces=self._store.interfaces(),
                cloud=cloud,
                host=host,
                checkpoint=on_disk,
                memory={"datastore": self._store.to_state()},
                from_rules=self._wanted_from if self._dataplane is not None else None,
                now=self._wall(),
                grace=GRACE,
            )
        )
        return self._without(report, busy | self._service.in_flight(), host)

    @staticmethod
    def _without(
        report: DoctorReport, busy: set[AllocationKey], host: HostAudit | None
    ) -> DoctorReport:
        """The report without findings about attachments an ADD or DEL is working on."""
        if not busy:
            return report
        veth_keys = {v.name: v.key for v in host.veths} if host is not None else {}
        kept = tuple(
            f
            for f in report.findings
            if not (f.allocation is not None and f.allocation.key in busy)
            and not (f.veth is not None and veth_keys.get(f.veth) in busy)
        )
        return dataclasses.replace(report, findings=kept)

    def _wanted_from(self, allocation_or_interface: Allocation | str) -> Sequence[FromRule]:
        if self._dataplane is None:
            return ()
        interface_id = (
            allocation_or_interface.interface_id
            if isinstance(allocation_or_interface, Allocation)
            else allocation_or_interface
        )
        try:
            return self._dataplane.from_rules(interface_id)
        except Exception:  # an interface not set up yet needs no rule we could check
            return ()

    def _cloud_view(self) -> tuple[CloudInterface, ...] | None:
        now = self._clock()
        cached = self._cloud
        if (
            cached is not None
            and now - cached[0] < CLOUD_MAX_AGE
            and cached[0] >= self._pool.last_action_at
        ):
            return cached[2]
        try:
            view = self._provider.cloud_interfaces()
        except ProviderError as error:
            log.warning("doctor: no cloud view: %s", error)
            return None
        self._cloud = (now, self._wall(), view)
        return view

    def _json(self, report: DoctorReport) -> dict[str, Any]:
        cloud_at = self._cloud[1] if self._cloud is not None else None
        return {
            "checked_at": stamp(self._wall()),
            "cloud_checked_at": stamp(cloud_at) if cloud_at is not None else None,
            **report.to_json(),
        }


class _Actions:
    """``doctor_repair.RepairActions`` on the running daemon."""

    def __init__(self, doctor: NodeDoctor) -> None:
        self._doctor = doctor

    def release(self, allocation: Allocation) -> None:
        self._doctor._service.reclaim([allocation], source="doctor")

    def reconcile(self) -> None:
        self._doctor._reconcile()
        self._doctor._cloud = None  # the pool follows the cloud now; look again

    def persist(self) -> None:
        self._doctor._persist()

    def delete_veth(self, name: str) -> None:
        self._doctor._host.delete_veth(name)

    def delete_rule(self, rule: HostRule) -> None:
        self._doctor._host.delete_rule(rule)

    def add_rules(self, allocation: Allocation) -> None:
        self._doctor._host.add_rules(allocation, self._doctor._wanted_from(allocation))
