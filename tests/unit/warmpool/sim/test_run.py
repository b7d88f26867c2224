"""Whole runs: deterministic by seed, one account for every node, the subnet running out."""

from __future__ import annotations

import itertools
import json

from tests.unit.warmpool.sim.support import burst, calls, held, node, replay, trace
from warmpool.sim import (
    AnchorPolicy,
    CloudModel,
    OurPolicy,
    make_trace,
    rollout,
    simulate,
    steady,
)
from warmpool.sim import cloud as ec2


def test_a_run_is_a_function_of_its_trace_and_seed():
    trace_ = steady(hours=3, seed=2)
    for policy in (OurPolicy(), AnchorPolicy()):
        assert simulate(trace_, policy, node(), seed=4) == simulate(trace_, policy, node(), seed=4)
    other = simulate(steady(hours=3, seed=3), OurPolicy(), node(), seed=4)
    assert other != simulate(trace_, OurPolicy(), node(), seed=4)


def test_the_report_counts_pods_events_and_calls():
    trace_ = rollout(hours=2, seed=1)
    report = simulate(trace_, OurPolicy(), node())
    assert report.churn_events == trace_.churn_events
    assert report.pods == sum(1 for e in trace_.events if e.event == "add")
    assert report.mutating == sum(n for a, n in report.requests.items() if ec2.is_mutating(a))
    assert report.mutating_per_1k == report.mutating * 1000 / report.churn_events
    assert report.waits.count == report.pods and report.throttled == 0
    document = json.loads(json.dumps(report.to_json()))
    assert document["policy"] == "ours" and len(document["idle_series"]) == 720


def test_when_the_subnet_runs_out_the_pool_stops_growing_and_pauses_its_attempts():
    cloud = CloudModel(subnet_addresses=12)
    ours, log = replay(OurPolicy(), node(), burst(10.0, 12), until=400.0, cloud=cloud)
    assert held(ours) == 9 and ours.waiting == 3
    refused = [t for t, a, o in log if a == ec2.CREATE and o.name == "NO_ADDRESSES"]
    assert len(refused) >= 2 and all(b - a >= 120.0 for a, b in itertools.pairwise(refused))
    assert calls(log, ec2.CREATE) == []
    anchor, log = replay(AnchorPolicy(), node(), burst(10.0, 12), until=400.0, cloud=cloud)
    assert held(anchor) == 9 and anchor.waiting == 3
    refused = [t for t, a, o in log if a == ec2.CREATE and o.name == "NO_ADDRESSES"]
    assert len(refused) >= 2 and all(b - a >= 120.0 for a, b in itertools.pairwise(refused))


def test_every_node_of_a_trace_runs_on_the_same_account():
    events = [(1.0, "a", "add"), (1.0, "b", "add")]
    two = trace(*events, horizon=60.0)
    other = trace(*events, horizon=60.0, node_name="node-1")
    both = make_trace([*two.events, *other.events], 60.0)
    # a subnet of 12: the first node's first grow takes 9; the second node gets 3 at most
    report = simulate(both, OurPolicy(), node(), cloud=CloudModel(subnet_addresses=12))
    assert report.nodes == 2 and report.unserved == 2
