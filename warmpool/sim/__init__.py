"""A discrete-event simulator of the warm pool on virtual time, pure like the rest of warmpool.

It replays pod churn (a CSV trace, or a seeded generator) on simulated nodes under a policy
(``OurPolicy``: warmpool.decide() with our daemon's loop; ``AnchorPolicy``: aws-node's
algorithm replayed), against one AWS account modelled by EC2's documented API token
buckets, call latencies, IMDS lag and a subnet of finite size, and reports what the pods
waited, how many addresses sat idle, and what the cloud was asked. ``herd`` starts many
nodes at once on one account. No I/O, no clock, no environment: every number comes from
the arguments and the seeds, so a run is repeatable to the last digit.
"""

from warmpool.sim.anchor import AnchorPolicy
from warmpool.sim.buckets import Bucket, Shape
from warmpool.sim.churn import GENERATORS, diurnal, generate, rollout, steady
from warmpool.sim.client import AWS_SDK, CLIENTS, NAIVE, OURS, ClientModel, our_client
from warmpool.sim.cloud import Account, CloudModel, Outcome
from warmpool.sim.engine import Engine, Signal, Wait
from warmpool.sim.herd import HerdReport, herd
from warmpool.sim.instances import (
    DEFAULT_INSTANCE_TYPE,
    INSTANCE_TYPES,
    InstanceType,
    instance_type,
)
from warmpool.sim.metrics import Spread
from warmpool.sim.node import NodeConfig, SimNode
from warmpool.sim.ours import OurPolicy, OurTiming
from warmpool.sim.protocol import Policy
from warmpool.sim.run import Cluster, Report, simulate
from warmpool.sim.trace import Trace, TraceError, TraceEvent, format_trace, make_trace, parse_trace

__all__ = [
    "AWS_SDK",
    "CLIENTS",
    "DEFAULT_INSTANCE_TYPE",
    "GENERATORS",
    "INSTANCE_TYPES",
    "NAIVE",
    "OURS",
    "Account",
    "AnchorPolicy",
    "Bucket",
    "ClientModel",
    "CloudModel",
    "Cluster",
    "Engine",
    "HerdReport",
    "InstanceType",
    "NodeConfig",
    "OurPolicy",
    "OurTiming",
    "Outcome",
    "Policy",
    "Report",
    "Shape",
    "Signal",
    "SimNode",
    "Spread",
    "Trace",
    "TraceError",
    "TraceEvent",
    "Wait",
    "diurnal",
    "format_trace",
    "generate",
    "herd",
    "instance_type",
    "make_trace",
    "our_client",
    "parse_trace",
    "rollout",
    "simulate",
    "steady",
]
