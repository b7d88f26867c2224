"""The cloud side of the simulation: one AWS account's EC2 API buckets, latencies and subnet.

Throttling follows "Request throttling for the Amazon EC2 API"
(https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html, section "Request
token bucket sizes and refill rates"): each API action has a bucket of its own, per account
and region, shared by every node of the account; the bucket's shape is its category's:

===========================================================  ======  ===========
category (the actions this simulation calls)                  burst   refill / s
===========================================================  ======  ===========
non-mutating: DescribeSubnets, DescribeInstanceTypes,          100     20
  DescribeNetworkInterfaces *with* a filter
unfiltered and unpaginated non-mutating: DescribeInstances,     50     10
  DescribeNetworkInterfaces by id only (no filter, no paging)
mutating: AttachNetworkInterface, DetachNetworkInterface,       50      5
  UnassignPrivateIpAddresses
uncategorized (own bucket): AssignPrivateIpAddresses,          100      5
  CreateNetworkInterface, DeleteNetworkInterface,
  ModifyNetworkInterfaceAttribute
===========================================================  ======  ===========

A refused request takes no token and answers ``RequestLimitExceeded`` quickly. Latencies
are one number per action (configurable); the subnet is a count of free addresses, and a
request that needs more than are left fails with ``InsufficientFreeAddressesInSubnet``
(not retryable). A /28 prefix takes 16 addresses of the count; fragmentation of the subnet
(no aligned /28 left while addresses are) is not modelled.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from warmpool.sim.buckets import Bucket, Shape

ASSIGN = "AssignPrivateIpAddresses"
UNASSIGN = "UnassignPrivateIpAddresses"
CREATE = "CreateNetworkInterface"
ATTACH = "AttachNetworkInterface"
MODIFY = "ModifyNetworkInterfaceAttribute"
DETACH = "DetachNetworkInterface"
DELETE = "DeleteNetworkInterface"
DESCRIBE_ENIS = "DescribeNetworkInterfaces"
DESCRIBE_INSTANCES = "DescribeInstances"
DESCRIBE_SUBNETS = "DescribeSubnets"
DESCRIBE_TYPES = "DescribeInstanceTypes"

NON_MUTATING = Shape(100, 20)
UNFILTERED = Shape(50, 10)
MUTATING = Shape(50, 5)
UNCATEGORIZED = MappingProxyType(
    {
        ASSIGN: Shape(100, 5),
        CREATE: Shape(100, 5),
        DELETE: Shape(100, 5),
        MODIFY: Shape(100, 5),
    }
)
UNFILTERED_ACTIONS = frozenset({DESCRIBE_INSTANCES, DESCRIBE_ENIS})
"""Actions that spend from the smaller bucket when called with neither filter nor paging."""

DEFAULT_LATENCY = MappingProxyType(
    {
        ATTACH: 0.75,
        DETACH: 0.75,
        ASSIGN: 0.5,
        UNASSIGN: 0.5,
        CREATE: 0.3,
        DELETE: 0.3,
        MODIFY: 0.3,
    }
)
DESCRIBE_LATENCY = 0.1


def is_mutating(action: str) -> bool:
    return not action.startswith("Describe")


def bucket_key(action: str, filtered: bool) -> str:
    """The bucket a request spends from: unfiltered describes have buckets of their own."""
    if not filtered and action in UNFILTERED_ACTIONS:
        return f"{action} (unfiltered)"
    return action


def documented_shape(key: str) -> Shape:
    """EC2's documented bucket for a bucket key (see the module's table)."""
    if key.endswith(" (unfiltered)"):
        return UNFILTERED
    if key in UNCATEGORIZED:
        return UNCATEGORIZED[key]
    return MUTATING if is_mutating(key) else NON_MUTATING


class Outcome(enum.Enum):
    OK = "ok"
    THROTTLED = "RequestLimitExceeded"
    NO_ADDRESSES = "InsufficientFreeAddressesInSubnet"
    CLIENT_TIMEOUT = "ClientRateLimitTimeout"
    """Our own limiter would have waited past the call's deadline; EC2 was never asked."""


@dataclass(frozen=True, slots=True)
class CloudModel:
    """How the cloud behaves; every number is a default to change, not a measurement."""

    latency: Mapping[str, float] = field(default_factory=lambda: DEFAULT_LATENCY)
    """Seconds a successful call takes, by action; describes take ``describe_latency``."""
    describe_latency: float = DESCRIBE_LATENCY
    throttle_latency: float = 0.05
    """Seconds until a throttled (or refused) request is answered."""
    imds_lag: float = 2.0
    """Seconds after an attach before the node sees the new interface (its link, IMDS), and
    after any change before IMDS shows it. Addresses assigned to an interface the node
    already uses serve at once: both daemons take them from the API's answer."""
    detach_time: float = 2.0
    """Seconds after DetachNetworkInterface returns until the interface is ``available``."""
    subnet_addresses: int = 65531
    """Free addresses in the nodes' subnet at start (a /16 less EC2's five reserved)."""
    buckets: Mapping[str, Shape] = field(default_factory=dict)
    """Bucket shapes that differ from EC2's documented ones, by bucket key."""

    def call_latency(self, action: str, outcome: Outcome) -> float:
        if outcome is not Outcome.OK:
            return self.throttle_latency
        if not is_mutating(action):
            return self.describe_latency
        return self.latency.get(action, 0.3)


class Account:
    """One account's API buckets and subnet, shared by every node of a simulation."""

    def __init__(self, model: CloudModel) -> None:
        self.model = model
        self.subnet_free = model.subnet_addresses
        self._buckets: dict[str, Bucket] = {}
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def bucket(self, key: str, now: float) -> Bucket:
        found = self._buckets.get(key)
        if found is None:
            shape = self.model.buckets.get(key) or documented_shape(key)
            found = self._buckets[key] = Bucket(shape, now)
        return found

    def request(self, now: float, action: str, *, filtered: bool, addresses: int) -> Outcome:
        """One request arriving at EC2 at ``now``; ``addresses`` it would take from the
        subnet (a new interface's own primary address included)."""
        self.requests[action] += 1
        if not self.bucket(bucket_key(action, filtered), now).try_take(now):
            self.throttled[action] += 1
            return Outcome.THROTTLED
        if addresses > self.subnet_free:
            return Outcome.NO_ADDRESSES
        self.subnet_free -= addresses
        return Outcome.OK

    def give_back(self, addresses: int) -> None:
        self.subnet_free += addresses
