"""Shared helpers of the simulator's tests: node configurations and hand-written traces."""

from __future__ import annotations

from typing import Any

from warmpool import Limits, Targets
from warmpool.sim import (
    Cluster,
    NodeConfig,
    Outcome,
    Policy,
    SimNode,
    Trace,
    TraceEvent,
    make_trace,
)

M5_LARGE = Limits(max_interfaces=3, blocks_per_interface=9, block_size=1, max_pods=29)
M5_LARGE_PREFIXES = Limits(max_interfaces=3, blocks_per_interface=9, block_size=16, max_pods=110)


def node(limits: Limits = M5_LARGE, cooldown: float = 30.0, **targets: int) -> NodeConfig:
    """A node config with these targets (Targets' field names), defaults otherwise."""
    return NodeConfig(limits, Targets(**targets), cooldown=cooldown)


def trace(*events: tuple[float, str, str], horizon: float, node_name: str = "node-0") -> Trace:
    """A one-node trace from (time, pod, add|del) triples."""
    return make_trace([TraceEvent(t, node_name, pod, kind) for t, pod, kind in events], horizon)


def burst(at: float, count: int, *, prefix: str = "p") -> list[tuple[float, str, str]]:
    """``count`` ADDs at the same moment."""
    return [(at, f"{prefix}{k}", "add") for k in range(count)]


def replay(
    policy: Policy,
    config: NodeConfig,
    events: list[tuple[float, str, str]],
    until: float,
    **options: Any,
) -> tuple[SimNode, list[tuple[float, str, Outcome]]]:
    """One node under ``policy`` replaying ``events`` up to ``until``: the node, and every
    request it made as (time, action, outcome)."""
    cluster = Cluster(policy, config, record_calls=True, **options)
    cluster.replay(trace(*events, horizon=until))
    cluster.run(until)
    node = cluster.nodes["node-0"]
    assert node.client.log is not None
    return node, node.client.log


def held(node: SimNode) -> int:
    """Addresses the node holds."""
    return sum(b.size for i in node.interfaces for b in i.blocks)


def calls(log: list[tuple[float, str, Outcome]], action: str) -> list[float]:
    """When ``action`` was requested (successfully)."""
    return [t for t, a, o in log if a == action and o is Outcome.OK]
