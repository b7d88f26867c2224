"""aws-node's pool loop, replayed on a simulated node (pkg/ipamd/ipamd.go, v1.23).

- Start (nodeInit): DescribeNetworkInterfaces (DescribeAllENIs; aws-node exits if it fails
  and is started again), then one increase if the pool is low (handlePreScaling).
- The loop (StartNodeIPPoolManager): sleep 2.5 s, updateIPPoolIfRequired, sleep 2.5 s,
  nodeIPPoolReconcile; cloud calls block the loop, so a period is 5 s plus their time.
  ADDs do not wake it.
- updateIPPoolIfRequired: if the pool is low, *one* increase: assign to the first ENI with
  room (all it can take, or the IP target's shortfall; on failure one address), else create
  one ENI (DescribeSubnets for subnet discovery, CreateNetworkInterface, DescribeInstances
  for a free device index, Attach, Modify), then poll IMDS (0.1 s doubling, +0-15 %
  jitter) until it shows the ENI, which is then usable. Else, if the pool is too high and
  the last decrease is more than 30 s ago, unassign the free blocks over the target, ENI by
  ENI (cooling ones too). Then, when the stats taken before the increase say so, free one
  deletable ENI (DescribeNetworkInterfaces by id, Detach, sleep 2 s, Delete): no 30 s
  throttle on this path.
- An InsufficientFreeAddressesInSubnet pauses increases for 120 s.
- nodeIPPoolReconcile runs when more than 60 s passed since the last pool action (or
  reconcile). It reads IMDS (no EC2 call) and asks EC2 only where IMDS and the datastore
  differ: DescribeNetworkInterfaces by id for an ENI whose addresses changed within the
  IMDS lag, a filtered one when IMDS still shows an ENI the datastore gave up.
- Go ranges over maps (the ENIs, an ENI's blocks) in random order, and takes the first that
  fits: the ENI a pod's address comes from, the ENI grown, the blocks and the ENI given back.
  The order is Go's own for maps of up to 8 entries (see ``gomap``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

from warmpool.sim import anchor_rules as rules
from warmpool.sim import cloud as ec2
from warmpool.sim.client import AWS_SDK, ClientModel
from warmpool.sim.cloud import CloudModel, Outcome
from warmpool.sim.engine import Proc, Wait
from warmpool.sim.gomap import DatastoreMaps
from warmpool.sim.node import SimInterface, SimNode

Steps = Generator["float | Wait", "bool | None", bool]
HALF_PERIOD = 2.5
DECREASE_INTERVAL = 30.0
RECONCILE_INTERVAL = 60.0
INSUFFICIENT_CIDR_COOLDOWN = 120.0
DETACH_SLEEP = 2.0
IMDS_POLL_ATTEMPTS = 12


@dataclass(frozen=True, slots=True)
class AnchorPolicy:
    subnet_discovery: bool = True
    """ENABLE_SUBNET_DISCOVERY (aws-node's default: true): a DescribeSubnets per new ENI."""
    client: ClientModel = AWS_SDK
    name: str = "anchor"

    @property
    def default_client(self) -> ClientModel:
        return self.client

    def attach(self, node: SimNode, cloud: CloudModel) -> Proc:
        return _Loop(self, node, cloud).run()


class _Loop:
    def __init__(self, policy: AnchorPolicy, node: SimNode, cloud: CloudModel) -> None:
        self.policy = policy
        self.node = node
        self.cloud = cloud
        self.engine = node.engine
        self.config = rules.AnchorConfig.of(node.config.limits, node.config.targets)
        self.last_action = -math.inf
        self.last_decrease = -math.inf
        self.insufficient_at = -math.inf
        self.rng = node.client.rng
        self.maps = DatastoreMaps(node, self.rng)
        node.choose = self.maps.pick

    def run(self) -> Proc:
        yield from self.node.client.must(ec2.DESCRIBE_ENIS)
        if rules.pool_too_low(self.stats(), self.config):
            yield from self.increase()
        while True:
            yield HALF_PERIOD
            yield from self.update_pool()
            yield HALF_PERIOD
            yield from self.reconcile()

    def stats(self) -> rules.Stats:
        blocks = [b for i in self.node.interfaces for b in i.blocks]
        return rules.Stats(
            total=sum(b.size for b in blocks),
            assigned=sum(b.assigned for b in blocks),
            cooling=sum(len(b.cooling) for b in blocks),
            blocks=len(blocks),
            free_blocks=sum(1 for b in blocks if not b.assigned),
        )

    def update_pool(self) -> Steps:
        stats, c = self.stats(), self.config
        scaled_down = False
        if rules.pool_too_low(stats, c):
            yield from self.increase()
        elif rules.pool_too_high(stats, c) and self.engine.now - self.last_decrease > (
            DECREASE_INTERVAL
        ):
            scaled_down = True
            yield from self.decrease()
        freeable = any(
            not i.primary and not any(b.assigned for b in i.blocks) for i in self.node.interfaces
        )
        if rules.should_remove_extra_enis(stats, c, freeable):
            yield from self.free_eni()
        if scaled_down:
            self.last_decrease = self.last_action = self.engine.now
        return scaled_down

    # -- growing ---------------------------------------------------------------------------
    def increase(self) -> Steps:
        now = self.engine.now
        if now - self.insufficient_at < INSUFFICIENT_CIDR_COOLDOWN:
            return False
        increased, failed = yield from self.assign()
        if failed:
            return False
        if increased:
            self.last_action = self.engine.now
            return True
        if len(self.node.interfaces) >= self.config.max_eni:
            return False
        created = yield from self.create_eni()
        if created:
            self.last_action = self.engine.now
        return created

    def assign(self) -> Generator[float | Wait, bool | None, tuple[bool, bool]]:
        """tryAssignIPs / tryAssignPrefixes: (increased, failed)."""
        node, c = self.node, self.config
        stats = self.stats()
        if c.prefix_mode:
            wanted = rules.prefixes_needed(stats, c)
        else:
            _, _, defined = rules.target_state(stats, c)
            wanted = rules.ips_to_assign(stats, c)
            if defined and wanted == 0:
                return False, False
        for iface in self.maps.enis():
            room = c.max_prefixes_per_eni - len(iface.blocks)
            if room <= 0:
                continue
            blocks = min(room, wanted)
            outcome = yield from node.client.call(ec2.ASSIGN, addresses=blocks * c.block_size)
            if outcome is not Outcome.OK:
                blocks = 1  # "Try to just get one more IP"
                outcome = yield from node.client.call(ec2.ASSIGN, addresses=c.block_size)
                if outcome is not Outcome.OK:
                    self._note_failure(outcome)
                    return False, True
            node.add_blocks(iface, blocks)
            return True, False
        return False, False

    def _note_failure(self, outcome: Outcome) -> None:
        if outcome is Outcome.NO_ADDRESSES:
            self.insufficient_at = self.engine.now

    def create_eni(self) -> Steps:
        """tryAllocateENI: AllocENI, then WaitForENIAndIPsAttached on IMDS."""
        node, c = self.node, self.config
        call, account = node.client.call, node.client.account
        blocks = rules.eni_resources(self.stats(), c)
        if blocks <= 0:
            return False
        addresses = 1 + blocks * c.block_size
        if self.policy.subnet_discovery:
            yield from call(ec2.DESCRIBE_SUBNETS)
        outcome = yield from call(ec2.CREATE, addresses=addresses)
        if outcome is not Outcome.OK:
            self._note_failure(outcome)
            return False
        yield from call(ec2.DESCRIBE_INSTANCES, filtered=False)
        outcome = yield from call(ec2.ATTACH)
        if outcome is not Outcome.OK:
            yield from call(ec2.DELETE)
            account.give_back(addresses)
            return False
        outcome = yield from call(ec2.MODIFY)
        if outcome is not Outcome.OK:
            yield from self._free_in_cloud()
            account.give_back(addresses)
            return False
        yield self._imds_wait(self.engine.now + self.cloud.imds_lag)
        node.add_interface(blocks, ready_at=self.engine.now)
        return True

    def _imds_wait(self, visible_at: float) -> float:
        """Seconds retry.NWithBackoff(100 ms, x2, 15 % jitter) polls IMDS until it shows the
        ENI (the first poll is immediate)."""
        now = elapsed = self.engine.now
        delay = 0.1
        for _ in range(IMDS_POLL_ATTEMPTS - 1):
            if elapsed >= visible_at:
                break
            elapsed += delay * (1 + 0.15 * self.rng.random())
            delay = min(delay * 2, 60.0)
        return elapsed - now

    # -- shrinking ------------------------------------------------------------------------
    def decrease(self) -> Steps:
        """tryUnassignCidrsFromAll."""
        node = self.node
        over = rules.over_to_free(self.stats(), self.config)
        freed = False
        for iface in self.maps.enis():
            if over <= 0:
                break
            take = [b.cidr for b in self.maps.blocks(iface) if not b.assigned][:over]
            given = node.remove_blocks(iface, take, cooling_ok=True) if take else 0
            if not given:
                continue
            yield from node.client.call(ec2.UNASSIGN)
            node.client.account.give_back(given)
            iface.changed_at = self.engine.now
            over -= len(take)
            freed = True
        return freed

    def free_eni(self) -> Steps:
        """tryFreeENI: at most one ENI per tick."""
        node, now = self.node, self.engine.now
        views = {i.id: self._view(i, now) for i in node.interfaces}
        for iface in self.maps.enis():
            others = [v for k, v in views.items() if k != iface.id]
            if rules.deletable(views[iface.id], others, self.config):
                break
        else:
            return False
        given = node.remove_interface(iface)
        if not given:
            return False
        yield from self._free_in_cloud()
        node.client.account.give_back(given)
        return True

    def _view(self, iface: SimInterface, now: float) -> rules.EniView:
        blocks = iface.blocks
        return rules.EniView(
            primary=iface.primary,
            age=now - iface.created_at,
            assigned=sum(b.assigned for b in blocks),
            cooling=sum(len(b.cooling) for b in blocks),
            warm=sum(b.size - b.assigned for b in blocks),
            total=sum(b.size for b in blocks),
            free_blocks=sum(1 for b in blocks if not b.assigned),
        )

    def _free_in_cloud(self) -> Steps:
        """FreeENI: the attachment id (describe by id), detach, sleep 2 s, delete."""
        call = self.node.client.call
        yield from call(ec2.DESCRIBE_ENIS, filtered=False)
        yield from call(ec2.DETACH)
        yield DETACH_SLEEP
        yield from call(ec2.DELETE)
        return True

    # -- reconciling -----------------------------------------------------------------------
    def reconcile(self) -> Steps:
        """nodeIPPoolReconcile: EC2 is asked only where IMDS lags the datastore."""
        node, now = self.node, self.engine.now
        if now - self.last_action <= RECONCILE_INTERVAL:
            return False
        lag = self.cloud.imds_lag
        if any(now - at < lag for _, at in node.removed[-node.config.limits.max_interfaces :]):
            yield from node.client.call(ec2.DESCRIBE_ENIS)
        for iface in list(node.interfaces):
            if now - iface.changed_at < lag:
                yield from node.client.call(ec2.DESCRIBE_ENIS, filtered=False)
        self.last_action = self.engine.now
        return True
