"""Our policy: warmpool.decide() with the daemon's pool loop timing (ipamd/poolloop.py).

As the daemon does it:
- The loop ticks every pool interval (5 s; 0.5 s while a new interface waits for its
  link), and when an ADD wakes it (ipamd/service.py wakes it on every ADD; a wake during
  a tick runs the next tick right after it): at once when no address is left, else after
  gathering the burst's other ADDs for ``coalesce`` seconds (a fifth of the interval, 1 s).
- A shrink keeps what the targets would have wanted at the peak demand of the scale-down
  window (VPC_IPAM_SCALE_DOWN_WINDOW), sampled on every ADD.
- Each tick reconciles first when due (60 s since the last, 10 s quiet after a pool action,
  the first 5 s after start): one filtered DescribeNetworkInterfaces.
- One decision completes the shortfall: every Grow and Create of ``decide()`` is carried out
  in the same tick, one call after another; cooling addresses are not available (decide's
  rule); pods waiting for an address count as pending pods (the Kubernetes layer sees them
  Pending; the DaemonSet turns it on with MY_NODE_NAME).
- Growth pauses 120 s after InsufficientFreeAddressesInSubnet; a shrink runs at most every
  30 s; a throttled call (after the client's retries) ends the tick.
- The provider's calls (providers/aws/provider.py): grow = AssignPrivateIpAddresses; a new
  interface = DescribeNetworkInterfaces (free device slots), CreateNetworkInterface,
  AttachNetworkInterface, ModifyNetworkInterfaceAttribute, usable once its link appears
  (imds_lag after the attach); a release = DescribeNetworkInterfaces by id (to confirm),
  UnassignPrivateIpAddresses; a removal = DescribeNetworkInterfaces by id, Detach, the same
  describe every 0.25 s doubling to 4 s until it is detached, DeleteNetworkInterface.
- The daemon starts with DescribeInstanceTypes (its limits; it exits if that fails, and
  starts again). The leak sweep (every 10 minutes, one describe) and the wait of up to 3 s
  for the Node object are left out. A give-back (release, removal) is taken as done even if
  a call of it was throttled: the daemon's next reconcile would adopt the blocks again, a
  case rare enough (shrinks are paced) to leave out.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

from warmpool.adaptive import AdaptiveWarm, AdaptiveWindow, adaptive_targets
from warmpool.model import Block, Decision, Interface, PoolSnapshot, Targets
from warmpool.policy import decide
from warmpool.sim import cloud as ec2
from warmpool.sim.client import OURS, ClientModel
from warmpool.sim.cloud import CloudModel, Outcome
from warmpool.sim.engine import Proc, Signal, Wait
from warmpool.sim.node import SimNode
from warmpool.window import SlidingMax

Steps = Generator["float | Wait", "bool | None", bool]
MEMO_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class OurTiming:
    """The pool loop's intervals (VPC_IPAM_POOL_INTERVAL, _SHRINK_INTERVAL, ...)."""

    pool_interval: float = 5.0
    shrink_interval: float = 30.0
    reconcile_interval: float = 60.0
    capacity_backoff: float = 120.0
    reconcile_quiet: float = 10.0
    first_reconcile: float = 5.0
    pending_retry: float = 0.5
    scale_down_window: float = 0.0
    coalesce: float = 0.0


@dataclass(frozen=True, slots=True)
class OurPolicy:
    timing: OurTiming = OurTiming()
    pending_pods: bool = True
    client: ClientModel = OURS
    name: str = "ours"
    adaptive: bool = False
    """WARM_POOL_MODE=adaptive: the warm target and the scale-down window from what the
    loop observes (warmpool.adaptive), as ipamd/poolloop.py does."""

    @property
    def default_client(self) -> ClientModel:
        return self.client

    def attach(self, node: SimNode, cloud: CloudModel) -> Proc:
        return _Loop(self, node, cloud).run()


class _Loop:
    def __init__(self, policy: OurPolicy, node: SimNode, cloud: CloudModel) -> None:
        self.policy = policy
        self.timing = policy.timing
        self.node = node
        self.cloud = cloud
        self.engine = node.engine
        self.wake = Signal(node.engine)
        node.on_add = self.wake.set
        node.demand = SlidingMax(self.timing.scale_down_window)
        self._peak = 0
        self.warm = AdaptiveWarm() if policy.adaptive else None
        self.window = AdaptiveWindow(self.timing.scale_down_window) if policy.adaptive else None
        self._targets = node.config.targets
        self.paused_until = -math.inf
        self.last_shrink = -math.inf
        self.last_action = -math.inf
        self.last_reconcile = -math.inf
        self._memo: dict[tuple[object, ...], Decision] = {}
        self._seen: tuple[object, ...] = ()
        self._decision = Decision()

    def run(self) -> Proc:
        node, timing = self.node, self.timing
        yield from node.client.must(ec2.DESCRIBE_TYPES)
        self.last_reconcile = self.engine.now - timing.reconcile_interval + timing.first_reconcile
        while True:
            yield from self.tick()
            interval = timing.pool_interval
            if node.pending_interfaces:
                interval = min(interval, timing.pending_retry)
            woken = yield Wait(self.wake, interval)
            self.wake.clear()
            if woken and timing.coalesce > 0 and node.free_ready > 0 and not node.waiting:
                yield timing.coalesce
                self.wake.clear()

    def tick(self) -> Steps:
        now, timing = self.engine.now, self.timing
        if (
            now - self.last_reconcile >= timing.reconcile_interval
            and now - self.last_action >= timing.reconcile_quiet
        ):
            self.last_reconcile = now
            yield from self.node.client.call(ec2.DESCRIBE_ENIS)
        decision = self.decide()
        acted = False
        if decision.grows:
            acted = yield from self.grow(decision, now)
        elif decision.shrinks:
            acted = yield from self.shrink(decision, now)
        if acted:
            self.last_action = now
            if self.window is not None:
                if decision.grows:
                    self.window.grew(now)
                else:
                    self.window.shrank(now)
        return acted

    # -- deciding ------------------------------------------------------------------------
    def decide(self) -> Decision:
        """decide() on the node's snapshot; memoised, since decide() is pure and a churned
        pool keeps coming back to the same states."""
        node, now = self.node, self.engine.now
        assert node.demand is not None
        self._targets = self._adaptive_targets(now)
        self._peak = node.demand.peak(now)
        seen = (node.version, self._age_bucket(now), self._peak, self._targets)
        if self._seen == seen:
            return self._decision
        key = self._key(now)
        decision = self._memo.get(key)
        if decision is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            decision = self._memo[key] = decide(self.snapshot())
        self._seen = seen
        self._decision = decision
        return decision

    def _adaptive_targets(self, now: float) -> Targets:
        """The targets of this tick: the configured ones, or the adaptive estimate's (the
        daemon's PoolLoop._adaptive does the same)."""
        node, config = self.node, self.node.config
        if self.warm is None or self.window is None or node.demand is None:
            return config.targets
        window = node.demand.window = self.window.window(now)
        self.warm.observe_assignments(now, len(node.metrics.waits))
        limits = config.limits
        room = sum(limits.blocks_per_interface - len(i.blocks) for i in node.interfaces)
        estimate = self.warm.estimate(
            now,
            room_blocks=room,
            block_size=limits.block_size,
            can_create=len(node.interfaces) < limits.max_interfaces,
            window=window,
        )
        return adaptive_targets(config.targets, estimate)

    def _age_bucket(self, now: float) -> int:
        """How many interfaces are old enough to be removed: the only way time itself
        changes a decision."""
        min_age = self.node.config.targets.min_interface_age_seconds
        return sum(1 for i in self.node.interfaces if now - i.created_at >= min_age)

    def _key(self, now: float) -> tuple[object, ...]:
        node = self.node
        min_age = node.config.targets.min_interface_age_seconds
        return (
            self._pending(),
            self._peak,
            self._targets,
            tuple(
                (
                    i.id,
                    now - i.created_at >= min_age,
                    tuple((b.cidr, b.assigned, len(b.cooling)) for b in i.blocks),
                )
                for i in node.interfaces
            ),
        )

    def _pending(self) -> int:
        return self.node.waiting if self.policy.pending_pods else 0

    def snapshot(self) -> PoolSnapshot:
        node, now = self.node, self.engine.now
        interfaces = tuple(
            Interface(
                id=i.id,
                device_index=i.device_index,
                primary=i.primary,
                blocks=tuple(Block(b.cidr, b.size, b.assigned, len(b.cooling)) for b in i.blocks),
                age_seconds=max(now - i.created_at, 0.0),
            )
            for i in node.interfaces
        )
        config = node.config
        return PoolSnapshot(interfaces, config.limits, self._targets, self._pending(), self._peak)

    # -- carrying it out ----------------------------------------------------------------
    def grow(self, decision: Decision, now: float) -> Steps:
        if now < self.paused_until:
            return False
        node, call = self.node, self.node.client.call
        size = node.config.limits.block_size
        acted = False
        for grow in decision.grow:
            iface = node.interface(grow.interface_id)
            if iface is None:
                continue
            started = self.engine.now
            outcome = yield from call(ec2.ASSIGN, addresses=grow.blocks * size)
            if not self._went(outcome, now):
                return acted
            node.add_blocks(iface, grow.blocks)
            if self.warm is not None:
                self.warm.grew(self.engine.now - started, new_interface=False)
            acted = True
        for create in decision.create:
            if len(node.interfaces) >= node.config.limits.max_interfaces:
                break  # the provider's AttachmentLimitExceeded, before any call
            addresses = 1 + create.blocks * size
            started = self.engine.now
            outcome = yield from call(ec2.DESCRIBE_ENIS)
            if outcome is Outcome.OK:
                outcome = yield from call(ec2.CREATE, addresses=addresses)
            if not self._went(outcome, now):
                return acted
            outcome = yield from call(ec2.ATTACH)
            if outcome is Outcome.OK:
                outcome = yield from call(ec2.MODIFY)
            if outcome is not Outcome.OK:
                yield from call(ec2.DELETE)  # the provider deletes it quietly and gives up
                node.client.account.give_back(addresses)
                return acted
            ready_at = self.engine.now + self.cloud.imds_lag
            node.add_interface(create.blocks, ready_at=ready_at)
            if self.warm is not None:
                self.warm.grew(ready_at - started, new_interface=True)
            acted = True
        return acted

    def _went(self, outcome: Outcome, now: float) -> bool:
        if outcome is Outcome.NO_ADDRESSES:
            self.paused_until = now + self.timing.capacity_backoff
        return outcome is Outcome.OK

    def shrink(self, decision: Decision, now: float) -> Steps:
        if now - self.last_shrink < self.timing.shrink_interval:
            return False
        self.last_shrink = now
        node, call = self.node, self.node.client.call
        account = node.client.account
        acted = False
        for interface_id in decision.remove:
            iface = node.interface(interface_id)
            given = node.remove_interface(iface) if iface is not None else 0
            if not given:
                continue  # a pod took an address since the decision
            yield from call(ec2.DESCRIBE_ENIS, filtered=False)
            yield from call(ec2.DETACH)
            detached_at, pause = self.engine.now + self.cloud.detach_time, 0.25
            while True:
                yield from call(ec2.DESCRIBE_ENIS, filtered=False)
                if self.engine.now >= detached_at:
                    break
                yield pause
                pause = min(pause * 2, 4.0)
            yield from call(ec2.DELETE)
            account.give_back(given)
            acted = True
        for release in decision.release:
            iface = node.interface(release.interface_id)
            given = node.remove_blocks(iface, release.cidrs, cooling_ok=False) if iface else 0
            if not given:
                continue
            yield from call(ec2.DESCRIBE_ENIS, filtered=False)
            yield from call(ec2.UNASSIGN)
            account.give_back(given)
            acted = True
        return acted
