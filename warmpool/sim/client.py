"""How a node calls the cloud: its own rate limiter (or none), retries and backoff.

Three behaviours, each a ``ClientModel``:

- ``our_client(...)`` (``OURS``): what ``providers.retry.CallPolicy`` does. Before each
  attempt a token is taken from the node's own bucket of the action's class
  (``providers.ratelimit``: mutating 50 / 5 per s, AssignPrivateIpAddresses and
  CreateNetworkInterface 100 / 5, Describe* 100 / 20 by default, VPC_IPAM_EC2_*), waiting
  for it; a wait past the call's deadline fails the call at once without asking EC2. A
  throttled attempt is retried after a full-jitter sleep, uniform in
  [0, min(10 s, 0.2 s x 2^(n-1))], at most 5 attempts within 30 s
  (VPC_IPAM_CLOUD_RETRY_ATTEMPTS / _DEADLINE).
- ``NAIVE``: no limiter, immediate retries (a fixed backoff of 0 s), 10 attempts: the
  client the limiter exists to avoid.
- ``AWS_SDK``: aws-node's client, the AWS SDK for Go v2 standard retryer as aws-node sets it
  up (pkg/awsutils/awssession: ``RetryMaxAttempts`` 10, ``retry.NewStandard()``): no
  client-side limiter, backoff uniform in [0, 2^n) s, 20 s from the fifth retry on. The
  SDK's retry quota (a client-side bucket of 500 retry tokens) is not modelled: it only
  matters once hundreds of calls of one client fail.

Only throttling is retried; ``InsufficientFreeAddressesInSubnet`` is final at once.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from warmpool.sim.buckets import Bucket, Shape
from warmpool.sim.cloud import ASSIGN, CREATE, Account, Outcome, is_mutating
from warmpool.sim.engine import Engine, Wait

MUTATING = "mutating"
ALLOCATE = "allocate"
DESCRIBE = "describe"


def limiter_class(action: str) -> str:
    """providers.ratelimit.classify_ec2: the bucket class an action spends from."""
    if action.startswith("Describe"):
        return DESCRIBE
    return ALLOCATE if action in (ASSIGN, CREATE) else MUTATING


@dataclass(frozen=True, slots=True)
class Backoff:
    """Sleep before retry ``n`` (1 for the first retry)."""

    kind: str
    """``full-jitter`` (ours), ``fixed`` (naive) or ``sdk`` (AWS SDK's exponential jitter)."""
    initial: float = 0.2
    cap: float = 10.0

    def delay(self, retry: int, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.initial
        if self.kind == "sdk":
            # aws-sdk-go-v2 retry.ExponentialJitterBackoff: past log2(cap) attempts, the cap
            # itself, without jitter
            if retry > math.log2(self.cap):
                return self.cap
            return rng.random() * 2.0**retry
        return rng.uniform(0.0, min(self.cap, self.initial * 2.0 ** min(retry - 1, 64)))


@dataclass(frozen=True, slots=True)
class ClientModel:
    name: str
    limiter: Mapping[str, Shape] | None
    """Per-node bucket shapes by class (mutating, allocate, describe); None: no limiter."""
    attempts: int
    deadline: float | None
    """Seconds from the first attempt after which no retry starts; None: no deadline."""
    backoff: Backoff


LIMITER_MUTATING = Shape(50, 5)
LIMITER_ALLOCATE = Shape(100, 5)
LIMITER_DESCRIBE = Shape(100, 20)
"""The per-node limiter's default shapes (config's VPC_IPAM_EC2_* defaults)."""


def our_client(
    *,
    mutating: Shape = LIMITER_MUTATING,
    allocate: Shape = LIMITER_ALLOCATE,
    describe: Shape = LIMITER_DESCRIBE,
    attempts: int = 5,
    deadline: float = 30.0,
) -> ClientModel:
    """Our client, with the limiter and retry settings given (defaults: config's)."""
    shapes = MappingProxyType({MUTATING: mutating, ALLOCATE: allocate, DESCRIBE: describe})
    return ClientModel("ours", shapes, attempts, deadline, Backoff("full-jitter", 0.2, 10.0))


OURS = our_client()
NAIVE = ClientModel("naive", None, 10, None, Backoff("fixed", 0.0, 0.0))
AWS_SDK = ClientModel("aws-sdk", None, 10, None, Backoff("sdk", 1.0, 20.0))
CLIENTS = MappingProxyType({c.name: c for c in (OURS, NAIVE, AWS_SDK)})


@dataclass
class CallStats:
    """What one node asked of EC2: every request that reached it, by action."""

    requests: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    limiter_timeouts: int = 0

    @property
    def mutating(self) -> int:
        return sum(n for a, n in self.requests.items() if is_mutating(a))

    @property
    def describe(self) -> int:
        return sum(n for a, n in self.requests.items() if not is_mutating(a))

    @property
    def throttled_total(self) -> int:
        return sum(self.throttled.values())


CallSteps = Generator["float | Wait", "bool | None", Outcome]
RESTART = 10.0
"""Seconds before the kubelet starts a daemon again that exited (CrashLoopBackOff's first)."""


class CloudClient:
    """One node's way to the account: its limiter buckets, its random stream, its counts."""

    def __init__(
        self,
        engine: Engine,
        account: Account,
        model: ClientModel,
        rng: random.Random,
        *,
        record: bool = False,
    ) -> None:
        self.engine = engine
        self.account = account
        self.model = model
        self.rng = rng
        self.stats = CallStats()
        self.log: list[tuple[float, str, Outcome]] | None = [] if record else None
        """(time, action, outcome) of every request, when recording (tests, debugging)."""
        start = engine.now
        self._buckets = (
            {name: Bucket(shape, start) for name, shape in model.limiter.items()}
            if model.limiter is not None
            else None
        )

    def must(self, action: str, *, filtered: bool = True) -> CallSteps:
        """A call the daemon cannot start without (its limits, its interfaces): when it fails
        the daemon exits and is started again ``RESTART`` s later, until it succeeds."""
        while True:
            outcome = yield from self.call(action, filtered=filtered)
            if outcome is Outcome.OK:
                return outcome
            yield RESTART

    def call(self, action: str, *, filtered: bool = True, addresses: int = 0) -> CallSteps:
        """One call as the policy's code makes it: ``outcome = yield from client.call(...)``.
        The outcome is that of the last attempt (THROTTLED when retries ran out)."""
        engine, model = self.engine, self.model
        deadline_at = engine.now + model.deadline if model.deadline is not None else None
        attempt = 0
        while True:
            attempt += 1
            if self._buckets is not None:
                bucket = self._buckets[limiter_class(action)]
                wait = bucket.wait_for(engine.now)
                if deadline_at is not None and wait > max(0.0, deadline_at - engine.now):
                    self.stats.limiter_timeouts += 1
                    return Outcome.CLIENT_TIMEOUT
                bucket.reserve(engine.now)
                if wait > 0:
                    yield wait
            outcome = self.account.request(
                engine.now, action, filtered=filtered, addresses=addresses
            )
            self.stats.requests[action] += 1
            if self.log is not None:
                self.log.append((engine.now, action, outcome))
            if outcome is Outcome.THROTTLED:
                self.stats.throttled[action] += 1
            yield self.account.model.call_latency(action, outcome)
            if outcome is not Outcome.THROTTLED or attempt >= model.attempts:
                return outcome
            delay = model.backoff.delay(attempt, self.rng)
            if deadline_at is not None and engine.now + delay >= deadline_at:
                return outcome
            yield delay
