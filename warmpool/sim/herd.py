"""The herd: many nodes joining one account at once, each warming its pool from nothing.

``herd(nodes=1000, window=60)`` starts the nodes at uniformly random moments of the
window (seeded), with no pods: each runs its policy's pool loop from the start, and every
node spends from the same EC2 buckets. It runs until every node holds a usable address,
then ``settle`` seconds more, and reports the requests EC2 throttled and each node's time
from joining to its first usable address.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from warmpool.sim.client import ClientModel
from warmpool.sim.cloud import CloudModel
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

    def to_json(self) -> dict[str, Any]:
        spread = self.first_address
        return {
            "policy": self.policy,
            "client": self.client,
            "nodes": self.nodes,
            "window_seconds": self.window,
            "horizon_seconds": self.horizon,
            "throttled_calls": self.throttled,
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
    )
