"""The pool loop: the one thread that changes what the node holds in the cloud.

Each tick asks warmpool for a decision on a snapshot of the datastore and carries it out
through the provider: growth at once (unless a capacity error paused it), shrinking at most
every shrink interval. Reconciliation with the cloud runs in this same thread, never right
after a pool action, so it can never adopt a block that a release is giving back.

Order matters when shrinking: blocks leave the datastore first (refused if a pod took one
meanwhile), then the cloud; if the cloud call fails the next reconcile, which believes only
EC2, puts back whatever is still attached. When growing, the cloud goes first and the
datastore learns of the new blocks only once EC2 has assigned them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Protocol, TypeVar

import warmpool
from ipamd.datastore import Datastore, InUse
from ipamd.decisions import ActionKind, DecisionLog, Outcome, PoolAction, PoolEvent
from ipamd.logs import Fields, fields
from ipamd.loopjobs import JobQueue
from ipamd.pooladapt import PoolAdaptation
from providers.base import Provider
from providers.errors import (
    CapacityExhausted,
    LimitExceeded,
    PermissionDenied,
    ProviderError,
    Throttled,
)
from providers.models import (
    AddressBlock,
    CloudInterface,
    InterfacePlacement,
    PlacementUnknown,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

PENDING_RETRY = 0.5
"""Seconds between ticks while an interface waits for its link to appear in the kernel."""


def _fields(action: PoolAction) -> Fields:
    return fields(action=action.kind.value, interface=action.interface_id, blocks=action.blocks)


class KernelInterfaces(Protocol):
    """The kernel side of the node's interfaces (ipamd.nodenet.NodeInterfaces)."""

    def learn(self, interfaces: Iterable[CloudInterface]) -> None: ...

    def sync(self) -> int:
        """Make the kernel follow the datastore; returns interfaces that began serving."""
        ...

    @property
    def pending(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class PoolHooks:
    """What the loop may ask or tell the rest of the daemon (the Kubernetes layer, when on).
    Each is called from the loop's thread; None means "not known here"."""

    pending_pods: Callable[[], int] | None = None
    """Pods about to ask for an address; the pool grows for them in one step."""
    placement: Callable[[], InterfacePlacement | None] | None = None
    """Subnet and security groups of the next interface (custom networking); may raise
    PlacementUnknown, which holds interface creation back. None from it: the node's own."""
    notify: Callable[[str, str], None] | None = None
    """(reason, message) for what an operator must see: the subnet is full, a permission is
    missing, a limit is reached. Called on every blocked tick; the receiver rate-limits."""
    chores: Callable[[], object] | None = None
    """Run once per tick after the pool's own work (the leak sweep)."""
    decided: Callable[[PoolEvent], None] | None = None
    """Told of each tick's record (metrics count outcomes and actions)."""


@dataclass(frozen=True, slots=True)
class LoopTiming:
    pool_interval: float = 5.0
    shrink_interval: float = 30.0
    reconcile_interval: float = 60.0
    capacity_backoff: float = 120.0
    reconcile_quiet: float = 10.0
    """No reconcile within this many seconds of a pool action (the cloud is settling)."""
    scale_down_window: float = 0.0
    """Seconds of peak demand a shrink keeps room for (warmpool.window); 0: the present."""
    coalesce: float = 0.0
    """Seconds a wake waits for more ADDs while the pool still has a free address; the
    daemon sets a fifth of the pool interval, at most 1 s."""


class PoolLoop:
    def __init__(
        self,
        store: Datastore,
        provider: Provider,
        persist: Callable[[], None],
        limits: warmpool.Limits,
        targets: warmpool.Targets,
        *,
        timing: LoopTiming = LoopTiming(),
        reconcile: Callable[[], object] | None = None,
        interfaces: KernelInterfaces | None = None,
        hooks: PoolHooks = PoolHooks(),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        adaptive: bool = False,
    ) -> None:
        """``adaptive``: WARM_POOL_MODE=adaptive, the warm target and the scale-down window
        from what the loop observes (warmpool.adaptive) instead of ``targets`` alone."""
        self.store = store
        self.provider = provider
        self.persist = persist
        self.limits = limits
        self.targets = targets
        self.timing = timing
        self._reconcile = reconcile
        self.interfaces = interfaces
        self.hooks = hooks
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._grown = threading.Condition()
        self._growth = 0
        self._thread: threading.Thread | None = None
        self._paused_until = -1.0
        self._last_shrink = -float("inf")
        self._demand = warmpool.SlidingMax(timing.scale_down_window)
        self.adaptation = PoolAdaptation(timing.scale_down_window, clock) if adaptive else None
        """WARM_POOL_MODE=adaptive's state (None: static targets)."""
        self._last_action = -float("inf")
        self._last_reconcile = -float("inf")
        self.blocked: str | None = None
        """Why the pool cannot grow right now (max pods, subnet full, throttled, ...)."""
        self.decisions = DecisionLog(wall_clock=wall_clock)
        self.reconciled_at: float | None = None
        """Wall-clock time the last reconciliation with the cloud ended (None: not yet)."""
        self._wall = wall_clock
        self._jobs = JobQueue()
        self._failed = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pool-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._jobs.run()  # nobody waits forever on a job queued as the loop stopped

    def run_in_loop(self, job: Callable[[], T], timeout: float) -> T:
        """Run ``job`` on the loop's thread, between ticks, and return what it returns (or
        raise what it raised). The loop is the only thread that changes what the node holds
        in the cloud, so a job there sees the datastore and the cloud agree: no block is
        half added or half given back. TimeoutError if the loop does not get to it in time."""
        running = not self._stop.is_set() and self._thread is not None
        return self._jobs.submit(job, timeout, wake=self.wake, running=running)

    def set_max_pods(self, max_pods: int) -> None:
        """The kubelet's max pods changed (or became known): the pool follows at once."""
        if max_pods != self.limits.max_pods:
            log.info("max pods %d -> %d", self.limits.max_pods, max_pods)
            self.limits = dataclasses.replace(self.limits, max_pods=max_pods)
            self.wake()

    def wake(self) -> None:
        """Run a tick now (an ADD found the pool low or empty)."""
        self._wake.set()

    def delay_first_reconcile(self, seconds: float) -> None:
        """Hold the first reconciliation back: a restart serves from memory first."""
        self._last_reconcile = self._clock() - self.timing.reconcile_interval + seconds

    def reconcile_soon(self) -> None:
        self._last_reconcile = -float("inf")
        self._last_action = -float("inf")
        self.wake()

    @property
    def last_action_at(self) -> float:
        """Monotonic time of the last growth or shrink (-inf before the first)."""
        return self._last_action

    @property
    def growth(self) -> int:
        """Counts the times the pool gained addresses; read it before trying to assign, then
        pass it to ``wait_for_growth`` so a growth in between is never missed."""
        with self._grown:
            return self._growth

    def wait_for_growth(self, timeout: float, after: int | None = None) -> bool:
        """Block until the pool has grown past generation ``after`` (default: now) or
        ``timeout`` passes; True if it grew."""
        with self._grown:
            seen = self._growth if after is None else after
            return self._grown.wait_for(lambda: self._growth > seen, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad tick must not end the loop
                log.exception("pool loop tick failed")
            self._jobs.run()
            interval = self.timing.pool_interval
            if self.interfaces is not None and self.interfaces.pending:
                interval = min(interval, PENDING_RETRY)
            if self._wake.wait(interval):
                self._wake.clear()
                self._coalesce()

    def _coalesce(self) -> None:
        """After a wake, let the ADDs of a burst gather into one growth: wait
        ``timing.coalesce`` seconds unless the pool has no address left (a pod is waiting)
        or the loop is stopping. A rollout's pods arrive within a second of each other;
        one AssignPrivateIpAddresses for all of them instead of one per pod."""
        end = self._clock() + self.timing.coalesce
        while not self._stop.is_set() and self.store.counts().available > 0:
            remaining = end - self._clock()
            if remaining <= 0 or not self._wake.wait(remaining):
                return
            self._wake.clear()

    # -- one tick ------------------------------------------------------------------------
    def tick(self) -> warmpool.Decision:
        now = self._clock()
        if self._reconcile_due(now):
            self._last_reconcile = now
            if self._reconcile is not None:
                self._reconcile()
                self.reconciled_at = self._wall()
        pending = self.hooks.pending_pods() if self.hooks.pending_pods else 0
        snapshot = self._with_recent_demand(
            self._adaptive(
                self.store.snapshot(self.limits, self.targets, pending_pods=pending), now
            ),
            now,
        )
        decision = warmpool.decide(snapshot)
        if self.adaptation is not None:
            decision = self.adaptation.explain(decision)
        actions: list[PoolAction] = []
        self._failed = False
        if decision.grows:
            self._grow(decision, now, actions)
        elif decision.shrinks:
            self._shrink(decision, now, actions)
        else:
            self._note_blocked(decision)
        self._record(now, actions, decision)
        if self.adaptation is not None:
            self.adaptation.acted(now, actions)
        self._sync_interfaces()
        if self.hooks.chores is not None:
            self.hooks.chores()
        return decision

    def _adaptive(self, snapshot: warmpool.PoolSnapshot, now: float) -> warmpool.PoolSnapshot:
        if self.adaptation is None:
            return snapshot
        self._demand.window = self.adaptation.window.window(now)
        return self.adaptation.targets(snapshot, now, self.store.assignments)

    def _with_recent_demand(
        self, snapshot: warmpool.PoolSnapshot, now: float
    ) -> warmpool.PoolSnapshot:
        """The snapshot with the window's peak demand. Sampled once per tick: demand rises
        only with an ADD, and every ADD wakes the loop, so the peaks are seen."""
        self._demand.record(now, warmpool.demand(snapshot))
        return dataclasses.replace(snapshot, recent_demand=self._demand.peak(now))

    def _notify(self, reason: str, message: str) -> None:
        if self.hooks.notify is not None:
            self.hooks.notify(reason, message)

    def _sync_interfaces(self) -> None:
        if self.interfaces is not None and self.interfaces.sync():
            self._signal_growth()
            self._created_serving()

    def _created_serving(self) -> None:
        if self.adaptation is not None:
            pending = self.interfaces.pending if self.interfaces is not None else ()
            self.adaptation.serving(set(pending))

    def _reconcile_due(self, now: float) -> bool:
        return (
            now - self._last_reconcile >= self.timing.reconcile_interval
            and now - self._last_action >= self.timing.reconcile_quiet
        )

    def _note_blocked(self, decision: warmpool.Decision) -> None:
        if decision.unmet_blocks:
            self.blocked = decision.reasons[-1]
            self._notify("InterfaceLimitReached", self.blocked)
        elif any("at max pods" in r for r in decision.reasons):
            self.blocked = f"max pods reached ({self.limits.max_pods})"
        elif self._clock() >= self._paused_until:
            self.blocked = None

    def _grow(self, decision: warmpool.Decision, now: float, actions: list[PoolAction]) -> None:
        if now < self._paused_until:
            return  # self.blocked still says why
        try:
            for grow in decision.grow:
                started = self._clock()
                blocks = self.provider.grow(grow.interface_id, grow.blocks)
                self.store.add_blocks(grow.interface_id, blocks)
                if self.adaptation is not None:
                    self.adaptation.grew_blocks(self._clock() - started)
                self._grew(PoolAction(ActionKind.GROW, grow.interface_id, len(blocks)), actions)
            placement = self._placement() if decision.create else None
            for create in decision.create:
                started = self._clock()
                if placement is None:
                    iface = self.provider.create_interface(create.blocks)
                else:
                    iface = self.provider.create_interface(
                        create.blocks,
                        subnet_id=placement.subnet_id,
                        security_groups=placement.security_groups,
                    )
                self.store.add_interface(iface)
                if self.adaptation is not None:
                    self.adaptation.creating(iface.id, started)
                if self.interfaces is not None:
                    self.interfaces.learn([iface])
                    self.interfaces.sync()  # serves at once if the link is already there
                self._created_serving()
                created = PoolAction(ActionKind.CREATE_INTERFACE, iface.id, len(iface.blocks))
                self._grew(created, actions)
            self._note_blocked(decision)
        except PlacementUnknown as unknown:
            self.blocked = f"no interface can be created: {unknown}"
            log.warning("%s", self.blocked)
            self._notify("ENIConfigMissing", self.blocked)
        except CapacityExhausted as error:
            self._paused_until = now + self.timing.capacity_backoff
            self.blocked = (
                f"the subnet has no room ({error.code or error.message}); growth paused for "
                f"{self.timing.capacity_backoff:.0f}s"
            )
            log.warning("%s", self.blocked)
            self._notify("SubnetExhausted", self.blocked)
        except LimitExceeded as error:
            self.blocked = f"limit reached: {error}"
            log.warning("%s; reconciling with EC2", self.blocked)
            self._notify("InterfaceLimitReached", self.blocked)
            self.reconcile_soon()
        except Throttled as error:
            self.blocked = f"the cloud API is throttling us: {error}"
            self._failed = True
            log.warning("%s", self.blocked)
        except PermissionDenied as error:
            self.blocked = f"missing cloud permission: {error}"
            log.error("%s", self.blocked)
            self._notify("MissingPermission", self.blocked)
        except ProviderError as error:
            self.blocked = f"cloud error: {error}"
            self._failed = True
            log.error("%s", self.blocked)

    def _placement(self) -> InterfacePlacement | None:
        """Where new interfaces go; raises PlacementUnknown before any cloud call."""
        return self.hooks.placement() if self.hooks.placement is not None else None

    def _grew(self, action: PoolAction, actions: list[PoolAction]) -> None:
        self.persist()
        actions.append(action)
        log.info("pool: %s", action, **_fields(action))
        self._signal_growth()

    def _signal_growth(self) -> None:
        with self._grown:
            self._growth += 1
            self._grown.notify_all()

    def _shrink(self, decision: warmpool.Decision, now: float, actions: list[PoolAction]) -> None:
        if now - self._last_shrink < self.timing.shrink_interval:
            return
        self._last_shrink = now
        held = {i.id: len(i.blocks) for i in self.store.interfaces()}
        done = len(actions)
        for interface_id in decision.remove:
            try:
                self.store.remove_interface(interface_id)
            except InUse:
                continue  # a pod took an address since the snapshot
            self.persist()
            try:
                self.provider.remove_interface(interface_id)
                removed = held.get(interface_id, 0)
                actions.append(PoolAction(ActionKind.REMOVE_INTERFACE, interface_id, removed))
            except ProviderError as error:
                log.error("removing %s failed: %s; reconciling with EC2", interface_id, error)
                self._failed = True
                self.reconcile_soon()
        for release in decision.release:
            blocks = [AddressBlock(IPv4Network(c)) for c in release.cidrs]
            try:
                self.store.remove_blocks(release.interface_id, blocks)
            except InUse:
                continue
            self.persist()
            try:
                self.provider.release(release.interface_id, blocks)
                actions.append(PoolAction(ActionKind.RELEASE, release.interface_id, len(blocks)))
            except ProviderError as error:
                log.error("release on %s failed: %s; reconciling", release.interface_id, error)
                self._failed = True
                self.reconcile_soon()
        for action in actions[done:]:
            log.info("pool: %s", action, **_fields(action))

    def _record(self, now: float, actions: list[PoolAction], decision: warmpool.Decision) -> None:
        if actions:
            self._last_action = now
        reasons = decision.reasons + ((self.blocked,) if self.blocked else ())
        event = self.decisions.record(self._outcome(actions, decision), tuple(actions), reasons)
        if self.hooks.decided is not None:
            try:
                self.hooks.decided(event)
            except Exception:  # counting a tick must never stop the pool
                log.exception("the decision observer failed")

    def _outcome(self, actions: list[PoolAction], decision: warmpool.Decision) -> Outcome:
        if any(a.kind in (ActionKind.GROW, ActionKind.CREATE_INTERFACE) for a in actions):
            return Outcome.GREW
        if actions:
            return Outcome.SHRANK
        if self._failed:
            return Outcome.FAILED
        if self.blocked is not None:
            return Outcome.BLOCKED
        return Outcome.ON_TARGET if decision.is_noop else Outcome.WAITING
