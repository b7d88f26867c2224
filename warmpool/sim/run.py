"""Replay a trace under a policy: every node of the trace on one account, one report.

``simulate(trace, policy, config)`` builds a ``Cluster`` (the engine, the account, and one
node per node named in the trace, each starting with an empty primary interface at time 0,
its pool loop started at once), schedules the pod events, runs to the trace's horizon and
reports:
pod waits for an address (p50/p99/max, how many waited at all, how many never got one),
idle addresses (time-weighted mean, and a sampled series for plots), and the EC2 requests
made: mutating, describe, throttled, mutating per 1,000 churn events.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from warmpool.sim.client import CallStats, ClientModel, CloudClient
from warmpool.sim.cloud import Account, CloudModel
from warmpool.sim.engine import Engine
from warmpool.sim.metrics import IdleTracker, Spread
from warmpool.sim.node import NodeConfig, SimNode
from warmpool.sim.protocol import Policy
from warmpool.sim.trace import ADD, Trace

SERIES_POINTS = 720
"""Samples of the idle-address series (one every 2 minutes over a day)."""


@dataclass(frozen=True, slots=True)
class Report:
    policy: str
    client: str
    nodes: int
    horizon: float
    churn_events: int
    pods: int
    waits: Spread
    """Seconds from ADD to an address over every pod (those never served: until their DEL
    or the end)."""
    waited: int
    """Pods that waited at all."""
    unserved: int
    """Pods that never got an address."""
    idle_mean: float
    idle_series: tuple[tuple[float, int], ...]
    mutating: int
    describe: int
    throttled: int
    requests: Mapping[str, int]
    """EC2 requests by action (throttled ones included)."""

    @property
    def mutating_per_1k(self) -> float:
        return self.mutating * 1000.0 / self.churn_events if self.churn_events else 0.0

    def to_json(self, *, series: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "client": self.client,
            "nodes": self.nodes,
            "horizon_seconds": self.horizon,
            "churn_events": self.churn_events,
            "pods": self.pods,
            "waited": self.waited,
            "unserved": self.unserved,
            "wait_seconds": {"p50": self.waits.p50, "p99": self.waits.p99, "max": self.waits.max},
            "idle_mean": self.idle_mean,
            "mutating_calls": self.mutating,
            "describe_calls": self.describe,
            "throttled_calls": self.throttled,
            "mutating_per_1k_events": self.mutating_per_1k,
            "requests": dict(sorted(self.requests.items())),
        }
        if series:
            out["idle_series"] = [[t, v] for t, v in self.idle_series]
        return out


class Cluster:
    """Nodes of one account on one engine: join them, replay pod events, run."""

    def __init__(
        self,
        policy: Policy,
        config: NodeConfig,
        *,
        cloud: CloudModel | None = None,
        client: ClientModel | None = None,
        seed: int = 0,
        record_calls: bool = False,
    ) -> None:
        self.policy = policy
        self.config = config
        self.cloud = cloud or CloudModel()
        self.client = client or policy.default_client
        self.seed = seed
        self.record_calls = record_calls
        self.engine = Engine()
        self.account = Account(self.cloud)
        self.idle = IdleTracker(0.0)
        self.nodes: dict[str, SimNode] = {}

    def join(self, name: str, at: float = 0.0) -> SimNode:
        """A node with an empty primary interface, its pool loop starting at ``at``."""
        rng = random.Random(f"{self.seed}/{name}")
        client = CloudClient(self.engine, self.account, self.client, rng, record=self.record_calls)
        node = SimNode(name, self.config, self.engine, client, idle=self.idle, started_at=at)
        self.nodes[name] = node
        self.engine.spawn(self.policy.attach(node, self.cloud), at=at)
        return node

    def replay(self, trace: Trace) -> None:
        """Schedule the trace's pod events; nodes not joined yet join at time 0."""
        for name in trace.nodes or ("node-0",):
            if name not in self.nodes:
                self.join(name)
        for event in trace.events:
            node = self.nodes[event.node]
            action = node.pod_add if event.event == ADD else node.pod_del
            self.engine.at(event.time, partial(action, event.pod))

    def run(self, until: float) -> None:
        self.engine.run(until)


def simulate(
    trace: Trace,
    policy: Policy,
    config: NodeConfig,
    *,
    cloud: CloudModel | None = None,
    client: ClientModel | None = None,
    seed: int = 0,
    series_points: int = SERIES_POINTS,
) -> Report:
    cluster = Cluster(policy, config, cloud=cloud, client=client, seed=seed)
    cluster.replay(trace)
    cluster.run(trace.horizon)
    nodes = list(cluster.nodes.values())
    for node in nodes:
        node.finish()
    return report(
        policy.name, cluster.client.name, nodes, trace, cluster.idle, series_points=series_points
    )


def report(
    policy: str,
    client: str,
    nodes: list[SimNode],
    trace: Trace,
    idle: IdleTracker,
    *,
    series_points: int = SERIES_POINTS,
) -> Report:
    waits = [w for n in nodes for w in (*n.metrics.waits, *n.metrics.unserved_waits)]
    calls = merged_calls(nodes)
    return Report(
        policy=policy,
        client=client,
        nodes=len(nodes),
        horizon=trace.horizon,
        churn_events=trace.churn_events,
        pods=sum(n.metrics.pods for n in nodes),
        waits=Spread.of(waits),
        waited=sum(1 for w in waits if w > 0),
        unserved=sum(len(n.metrics.unserved_waits) for n in nodes),
        idle_mean=idle.mean(trace.horizon),
        idle_series=idle.series(trace.horizon, series_points),
        mutating=calls.mutating,
        describe=calls.describe,
        throttled=calls.throttled_total,
        requests=MappingProxyType(dict(calls.requests)),
    )


def merged_calls(nodes: list[SimNode]) -> CallStats:
    requests: Counter[str] = Counter()
    throttled: Counter[str] = Counter()
    for node in nodes:
        requests.update(node.client.stats.requests)
        throttled.update(node.client.stats.throttled)
    return CallStats(requests, throttled, sum(n.client.stats.limiter_timeouts for n in nodes))
