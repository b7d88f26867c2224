"""The daemon's answers to the CNI binary: add, del, check, gc, status, health.

ADD is idempotent on (network, container id, ifname). An ADD that finds the pool empty wakes
the pool loop and waits, never longer than its budget (the daemon's own add wait, and well
inside the client's deadline), then answers "try again later" (11) with the concrete reason
the pool cannot grow. Every change is persisted before the answer goes out, so an address a
pod was told about is never forgotten by a crash. The write (an fsync or two: milliseconds)
runs beside the pod's wiring rather than before or after it; the answer waits for both, and
an ADD whose write fails is unwired and gives its address back, as one that never wired.

A release known only by address (a DEL whose key we do not know, with a prevResult) frees the
address only if the same attachment, or a keyless placeholder rebuilt from the host, holds it:
a late DEL must never free an address that has since gone to another pod.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from ipaddress import IPv4Address, IPv4Interface

from cni.errors import (
    INTERNAL,
    INVALID_ENVIRONMENT_VARIABLES,
    PLUGIN_NOT_AVAILABLE,
    TRY_AGAIN_LATER,
    UNKNOWN_CONTAINER,
    CniError,
)
from cni.wire import GcArgs, PodArgs, RepairArgs, Request
from ipamd.dataplane import Dataplane
from ipamd.dataplane.nsfd import NotANetworkNamespace
from ipamd.dataplane.rtnl import WiringFailed
from ipamd.datastore import Datastore, PoolEmpty
from ipamd.model import Allocation, AllocationKey, PodRef
from ipamd.poolloop import PoolLoop

log = logging.getLogger(__name__)

CLIENT_SHARE = 0.8
"""Fraction of the client's deadline the daemon may use, so its answer arrives in time."""
RETRY_SLICE = 0.1
"""An ADD waiting on an empty pool looks again this often: besides growth (which wakes it at
once), an address also becomes free when its cooldown ends."""


class _Beside:
    """``work()`` running in a thread of its own while the caller does something else."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name="ipamd-persist")
        self._thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # handed to the caller by result()
            self._error = error

    def result(self) -> None:
        """Wait for it; raise what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def wait(self) -> None:
        """Wait for it, whatever it did."""
        self._thread.join()


def key_of(args: PodArgs) -> AllocationKey:
    return AllocationKey(args.network, args.container_id, args.ifname)


def addresses_in(result: object) -> list[IPv4Address]:
    """IPv4 addresses a CNI result (prevResult) names; anything unreadable is skipped."""
    found = []
    ips = result.get("ips") if isinstance(result, dict) else None
    for entry in ips if isinstance(ips, list) else []:
        text = entry.get("address") if isinstance(entry, dict) else None
        try:
            address = IPv4Interface(str(text)).ip
        except ValueError:
            continue
        found.append(address)
    return found


def release_by_address(
    store: Datastore, key: AllocationKey, addresses: Iterable[IPv4Address]
) -> list[Allocation]:
    """Release each address still held by ``key`` or by a keyless host placeholder."""
    released = []
    for address in addresses:
        held = store.allocation_for(address)
        if held is None or not (held.key == key or held.recovered):
            continue
        if (freed := store.release(held.key)) is not None:
            released.append(freed)
    return released


class IpamService:
    def __init__(
        self,
        store: Datastore,
        persist: Callable[[], None],
        pool: PoolLoop,
        dataplane: Dataplane,
        *,
        add_wait: float,
        health_extras: Callable[[], dict[str, object]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.health_extras = health_extras
        self.repairs: Callable[[tuple[str, ...]], dict[str, object]] | None = None
        """The doctor's repair (set by the daemon once it has one)."""
        self.reclaimed: Callable[[str, int], None] | None = None
        """Told (source, count) when reclaim releases allocations nobody DELed (metrics)."""
        self._busy: Counter[AllocationKey] = Counter()
        self._busy_lock = threading.Lock()
        self.store = store
        self.persist = persist
        self.pool = pool
        self.dataplane = dataplane
        self.add_wait = add_wait
        self._clock = clock

    def handle(self, request: Request) -> dict[str, object]:
        args = request.args
        if request.op == "add" and isinstance(args, PodArgs):
            budget = min(self.add_wait, request.deadline_ms / 1000 * CLIENT_SHARE)
            return self.add(args, budget)
        if request.op == "del" and isinstance(args, PodArgs):
            return self.delete(args)
        if request.op == "check" and isinstance(args, PodArgs):
            return self.check(args)
        if request.op == "gc" and isinstance(args, GcArgs):
            return self.gc(args)
        if request.op == "status":
            return self.status()
        if request.op == "health":
            return self.health()
        if request.op == "repair" and isinstance(args, RepairArgs):
            if self.repairs is None:
                raise CniError(PLUGIN_NOT_AVAILABLE, "this vpc-ipamd has no doctor to repair with")
            return self.repairs(args.findings)
        raise CniError(INTERNAL, f"op {request.op!r} with arguments it does not take")

    def in_flight(self) -> set[AllocationKey]:
        """Attachments an ADD or DEL is working on right now: their allocation and their
        wiring may disagree for a moment (the doctor leaves them alone)."""
        with self._busy_lock:
            return set(self._busy)

    @contextlib.contextmanager
    def _working_on(self, key: AllocationKey) -> Iterator[None]:
        with self._busy_lock:
            self._busy[key] += 1
        try:
            yield
        finally:
            with self._busy_lock:
                self._busy[key] -= 1
                if not self._busy[key]:
                    del self._busy[key]

    def add(self, args: PodArgs, budget: float) -> dict[str, object]:
        with self._working_on(key_of(args)):
            return self._add(args, budget)

    def _add(self, args: PodArgs, budget: float) -> dict[str, object]:
        key = key_of(args)
        held = self.store.allocation(key)
        allocation = self._assign(
            key, PodRef(args.pod_namespace, args.pod_name, args.pod_uid), budget
        )
        # a repeated ADD changes nothing to persist; and a failed write must never take back
        # the address of a pod that has had it all along
        saving = _Beside(self.persist) if held is None else None
        self.pool.wake()  # let the loop top the pool up behind this pod
        try:
            result = self.dataplane.wire(allocation, args.netns, args.ifname)
        except NotANetworkNamespace as error:
            self._undo(key, saving)
            raise CniError(
                INVALID_ENVIRONMENT_VARIABLES,
                f"CNI_NETNS {args.netns!r} is not usable",
                str(error),
            ) from error
        except WiringFailed as error:
            self._undo(key, saving)
            raise CniError(INTERNAL, "wiring the pod failed", str(error)) from error
        except Exception:
            self._undo(key, saving)
            raise
        if saving is not None:
            self._saved_or_undo(allocation, args.netns, saving)
        return result

    def _undo(self, key: AllocationKey, saving: _Beside | None) -> None:
        """An ADD that could not wire its pod gives its address back."""
        if saving is not None:
            saving.wait()  # whatever it did, the write below covers the release
        self.store.release(key)
        self.persist()

    def _assign(self, key: AllocationKey, pod: PodRef, budget: float) -> Allocation:
        end = self._clock() + budget
        while True:
            generation = self.pool.growth
            try:
                return self.store.assign(key, pod)
            except PoolEmpty as empty:
                self.pool.wake()
                remaining = end - self._clock()
                if remaining <= 0:
                    why = self.pool.blocked or "the pool is still growing"
                    raise CniError(
                        TRY_AGAIN_LATER, f"no free address on this node: {why}", str(empty)
                    ) from empty
                self.pool.wait_for_growth(min(remaining, RETRY_SLICE), after=generation)

    def _saved_or_undo(self, allocation: Allocation, netns: str, saving: _Beside) -> None:
        """Wait for the ADD's write; if it failed, the pod is unwired and the address given
        back (nothing of it is in the checkpoint)."""
        try:
            saving.result()
        except OSError as error:
            try:
                self.dataplane.unwire(allocation.key, netns, address=allocation.address)
            except Exception:  # the address goes back either way; the wiring is only litter
                log.exception("unwiring %s after its checkpoint write failed", allocation.key)
            self.store.release(allocation.key)
            raise CniError(
                INTERNAL,
                "vpc-ipamd cannot write its checkpoint; the address was not given out",
                str(error),
            ) from error

    def delete(self, args: PodArgs) -> dict[str, object]:
        with self._working_on(key_of(args)):
            return self._delete(args)

    def _delete(self, args: PodArgs) -> dict[str, object]:
        key = key_of(args)
        released = self.store.release(key)
        freed = [released] if released else []
        if not freed and args.prev_result is not None:
            freed = release_by_address(self.store, key, addresses_in(args.prev_result))
        saving = _Beside(self.persist) if freed else None
        try:
            if not freed:
                self.dataplane.unwire(key, args.netns)
            for allocation in freed:
                self.dataplane.unwire(allocation.key, args.netns, address=allocation.address)
        except BaseException:
            if saving is not None:
                saving.wait()
            raise
        if saving is not None:
            saving.result()
            log.info("released %s from %s", ", ".join(str(a.address) for a in freed), key)
        return {}

    def check(self, args: PodArgs) -> dict[str, object]:
        held = self.store.allocation(key_of(args))
        if held is None:
            raise CniError(UNKNOWN_CONTAINER, f"no address is allocated to {key_of(args)}")
        expected = addresses_in(args.prev_result) if args.prev_result is not None else []
        if expected and held.address not in expected:
            raise CniError(
                INTERNAL,
                f"{key_of(args)} holds {held.address}, prevResult names {expected}",
            )
        return {}

    def gc(self, args: GcArgs) -> dict[str, object]:
        if args.valid_attachments is None:
            return {}  # "not given" is not "nothing is valid"
        valid = {(a.container_id, a.ifname) for a in args.valid_attachments}
        stale = [
            a
            for a in self.store.allocations()
            if a.key.network == args.network
            and not a.recovered
            and (a.key.container_id, a.key.ifname) not in valid
        ]
        if freed := self.reclaim(stale, source="gc"):
            log.info("gc released %d stale allocations of %s", len(freed), args.network)
        return {}

    def reclaim(self, allocations: Iterable[Allocation], *, source: str) -> list[Allocation]:
        """Release allocations nobody will DEL (GC's stale attachments, pods gone from the
        API, the doctor's finds) and remove their host wiring; returns those that were still
        held. ``source`` names who found them (``gc``, ``kubernetes``, ``doctor``)."""
        freed = []
        for allocation in allocations:
            held = self.store.allocation(allocation.key)
            if held is None or held.address != allocation.address:
                continue  # a DEL or a new ADD got there first
            self.store.release(allocation.key)
            freed.append(allocation)
            try:
                self.dataplane.unwire(allocation.key, "", address=allocation.address)
            except Exception:  # the address is free either way; the wiring is only litter
                log.exception("removing the host wiring of %s failed", allocation.key)
        if freed:
            self.persist()
            if self.reclaimed is not None:
                self.reclaimed(source, len(freed))
        return freed

    def status(self) -> dict[str, object]:
        if self.store.counts().available == 0 and self.pool.blocked:
            raise CniError(
                PLUGIN_NOT_AVAILABLE, "vpc-ipamd cannot give out addresses", self.pool.blocked
            )
        return {}

    def health(self) -> dict[str, object]:
        """Counts, and the pool per interface and block (what ``status`` tables show)."""
        counts = self.store.counts()
        interfaces = self.store.interfaces()
        extras = self.health_extras() if self.health_extras is not None else {}
        return {
            **extras,
            "ok": True,
            "addresses": {
                "total": counts.total,
                "assigned": counts.assigned,
                "cooling": counts.cooling,
                "available": counts.available,
            },
            "interfaces": len(interfaces),
            "blocked": self.pool.blocked,
            "pool": [
                {
                    "id": i.id,
                    "device_index": i.device_index,
                    "primary": i.primary,
                    "pods_allowed": i.pods_allowed,
                    "wired": i.wired,
                    "blocks": [
                        {
                            "cidr": str(b.cidr),
                            "size": b.size,
                            "assigned": b.assigned,
                            "cooling": b.cooling,
                        }
                        for b in i.blocks
                    ],
                }
                for i in interfaces
            ],
        }
