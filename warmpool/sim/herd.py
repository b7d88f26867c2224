"""The herd: many nodes joining one account at once, each warming its pool from nothing.

``herd(nodes=1000, window=60)`` starts the nodes at uniformly random moments of the
window (seeded), with no pods: each runs its policy's pool loop from the start, and every
node spends from the same EC2 buckets. It runs until every node holds a usable address,
then ``settle`` seconds more, and reports the requests EC2 throttled, the calls that failed
for throttling after the client's retries (what the pool loop sees), each node's time from
joining to its first usable address, and the floor of throttles for that run.

The floor (``throttle_floor``): a node that has never been throttled cannot know that an
account bucket is empty, and a client that holds such a node's first call back would slow
every lone node too. So each node's first request to each bucket reaches EC2 when the node
makes it. Of those first requests, at most as many are served as a bucket that starts full
would serve taking them in order of arrival (serving each one that finds a token is
optimal: a token taken earlier never serves more requests later), and every other
request, a retry or a later call, only spends tokens. The rest are throttled at least once,
whatever the clients do afterwards: a lower bound on raw throttles for clients that do not
coordinate. With EC2's documented AssignPrivateIpAddresses bucket (100, 5/s) and 1,000
nodes joining within 60 s, about 400 first requests can be served and 600 cannot.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from warmpool.sim.buckets import Bucket
from warmpool.sim.client import ClientModel
from warmpool.sim.cloud import CloudModel, documented_shape
from warmpool.sim.metrics import Spread
from warmpool.sim.node import NodeConfig
from warmpool.sim.protocol import Policy
from warmpool.sim.run import Cluster, merged_calls

STEP = 10.0
"""Seconds between checks whether every node has its first address."""


@dataclass(frozen=True, slots=True)
class HerdReport:
    policy: str
    client: str
    nodes: int
    window: float
    horizon: float
    """Seconds simulated: until the last node got an address, plus the settling time."""
    throttled: int
    mutating: int
    describe: int
    first_address: Spread
    """Seconds from joining to the first usable address, over the nodes that got one."""
    without_address: int
    requests: Mapping[str, int]
    throttled_by_action: Mapping[str, int]
    floor: int = 0
    """The fewest throttled requests possible for uncoordinated clients, given when this
    run's nodes first reached each bucket (``throttle_floor``)."""
    gave_up: int = 0
    """Calls that failed for throttling after the client's retries: the last attempt was
    throttled, or the client's limiter would not wait past the call's deadline."""
    refused: int = 0
    """Of those, the calls our limiter refused without asking EC2."""
    calls: int = 0
    """Calls the pool loops made (each one or more requests, or none when refused)."""

    def to_json(self) -> dict[str, Any]:
        spread = self.first_address
        return {
            "policy": self.policy,
            "client": self.client,
            "nodes": self.nodes,
            "window_seconds": self.window,
            "horizon_seconds": self.horizon,
            "throttled_calls": self.throttled,
            "throttle_floor": self.floor,
            "calls": self.calls,
            "calls_failed_throttled": self.gave_up,
            "calls_refused_by_limiter": self.refused,
            "mutating_calls": self.mutating,
            "describe_calls": self.describe,
            "first_address_seconds": {"p50": spread.p50, "p99": spread.p99, "max": spread.max},
            "without_address": self.without_address,
            "requests": dict(sorted(self.requests.items())),
            "throttled_by_action": dict(sorted(self.throttled_by_action.items())),
        }


def herd(
    policy: Policy,
    config: NodeConfig,
    *,
    nodes: int = 1000,
    window: float = 60.0,
    cloud: CloudModel | None = None,
    client: ClientModel | None = None,
    seed: int = 0,
    settle: float = 60.0,
    max_horizon: float = 3600.0,
) -> HerdReport:
    cluster = Cluster(policy, config, cloud=cloud, client=client, seed=seed)
    joining = random.Random(f"{seed}/joins")
    joins = sorted(joining.uniform(0.0, window) for _ in range(nodes))
    members = [cluster.join(f"node-{k}", at) for k, at in enumerate(joins)]
    engine = cluster.engine
    until = window
    while until < max_horizon and any(n.metrics.first_address_at is None for n in members):
        until += STEP
        engine.run(until)
    horizon = min(until + settle, max_horizon)
    engine.run(horizon)
    firsts = [
        n.metrics.first_address_at - n.metrics.started_at
        for n in members
        if n.metrics.first_address_at is not None
    ]
    calls = merged_calls(members)
    first_requests: defaultdict[str, list[float]] = defaultdict(list)
    gave_up: Counter[str] = Counter()
    for member in members:
        stats = member.client.stats
        gave_up.update(stats.gave_up)
        for key, at in stats.first_request.items():
            first_requests[key].append(at)
    return HerdReport(
        policy=policy.name,
        client=cluster.client.name,
        nodes=nodes,
        window=window,
        horizon=horizon,
        throttled=calls.throttled_total,
        mutating=calls.mutating,
        describe=calls.describe,
        first_address=Spread.of(firsts),
        without_address=nodes - len(firsts),
        requests=MappingProxyType(dict(calls.requests)),
        throttled_by_action=MappingProxyType(dict(calls.throttled)),
        floor=throttle_floor(first_requests, cluster.cloud),
        gave_up=sum(gave_up.values()),
        refused=calls.limiter_timeouts,
        calls=sum(sum(m.client.stats.calls.values()) for m in members),
    )


def throttle_floor(firsts: Mapping[str, Iterable[float]], cloud: CloudModel) -> int:
    """The fewest throttles uncoordinated clients can get (see the module's docstring):
    ``firsts`` holds, by bucket key, when each node first reached that bucket."""
    floor = 0
    for key, times in firsts.items():
        bucket = Bucket(cloud.buckets.get(key) or documented_shape(key), 0.0)
        floor += sum(1 for at in sorted(times) if not bucket.try_take(at))
    return floor
