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
from collections import Counter, deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from warmpool.sim.buckets import EPSILON, Bucket, Shape
from warmpool.sim.cloud import ASSIGN, CREATE, Account, Outcome, bucket_key, is_mutating
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
class Adaptive:
    """providers.ratelimit.AdaptiveRate's constants (ADAPTIVE_*), one rate per class."""

    beta: float = 0.25
    """A throttle cuts the class's rate to ``beta`` x min(its rate, its measured rate)."""
    min_rate: float = 0.02
    """Calls per second the cut never goes below."""
    window: float = 2.0
    """Seconds over which a class's attempts are counted to measure its rate."""
    jitter: float = 1.0
    """After a throttle the next token is due between 1/rate and (1 + jitter)/rate."""
    scale: float = 0.001
    """CUBIC's C: the rate on a success ``t`` s after the last throttle is
    ``scale * (t - K)**3 + rate_at_throttle``."""


@dataclass(frozen=True, slots=True)
class ClientModel:
    name: str
    limiter: Mapping[str, Shape] | None
    """Per-node bucket shapes by class (mutating, allocate, describe); None: no limiter."""
    attempts: int
    deadline: float | None
    """Seconds from the first attempt after which no retry starts; None: no deadline."""
    backoff: Backoff
    adaptive: Adaptive | None = None
    """The per-class rate learnt from throttling (needs a limiter); None: none."""


LIMITER_MUTATING = Shape(50, 5)
LIMITER_ALLOCATE = Shape(100, 5)
LIMITER_DESCRIBE = Shape(100, 20)
"""The per-node limiter's default shapes (config's VPC_IPAM_EC2_* defaults)."""


ADAPTIVE = Adaptive()
"""providers.ratelimit's ADAPTIVE_* constants."""


def our_client(
    *,
    mutating: Shape = LIMITER_MUTATING,
    allocate: Shape = LIMITER_ALLOCATE,
    describe: Shape = LIMITER_DESCRIBE,
    attempts: int = 5,
    deadline: float = 30.0,
    adaptive: Adaptive | None = ADAPTIVE,
) -> ClientModel:
    """Our client, with the limiter and retry settings given (defaults: config's)."""
    shapes = MappingProxyType({MUTATING: mutating, ALLOCATE: allocate, DESCRIBE: describe})
    return ClientModel(
        "ours", shapes, attempts, deadline, Backoff("full-jitter", 0.2, 10.0), adaptive
    )


OURS = our_client()
NAIVE = ClientModel("naive", None, 10, None, Backoff("fixed", 0.0, 0.0))
AWS_SDK = ClientModel("aws-sdk", None, 10, None, Backoff("sdk", 1.0, 20.0))
CLIENTS = MappingProxyType({c.name: c for c in (OURS, NAIVE, AWS_SDK)})


class AdaptiveRate:
    """providers.ratelimit.AdaptiveRate on virtual time: one class's rate learnt from throttling.

    Off until the class is first throttled, so a node never throttled calls exactly as
    without it. A throttle cuts the rate to ``beta`` x min(rate, measured rate), never below
    ``min_rate``, and empties a one-token bucket refilled at that rate, with jitter: the next
    attempt waits between 1/rate and (1 + jitter)/rate. Each answer that is not a throttle
    sets the rate to CUBIC's ``scale * (t - K)**3 + rate_at_throttle`` (``t`` seconds since
    the last throttle, ``K`` the time to win back the rate at the throttle); once that reaches
    the class's own rate (``ceiling``) the adaptive bucket is off again.
    """

    __slots__ = (
        "attempts",
        "ceiling",
        "limited",
        "max_rate",
        "params",
        "rate",
        "throttled_at",
        "tokens",
        "updated",
    )

    def __init__(self, params: Adaptive, ceiling: float, now: float) -> None:
        self.params = params
        self.ceiling = ceiling
        self.limited = False
        self.rate = ceiling
        self.max_rate = ceiling
        self.throttled_at = now
        self.tokens = 1.0
        self.updated = now
        self.attempts: deque[float] = deque()

    def _refill(self, now: float) -> None:
        if now > self.updated:
            if self.limited:
                self.tokens = min(1.0, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, now: float) -> float:
        """Seconds until the next attempt may start (0 while off)."""
        if not self.limited:
            return 0.0
        self._refill(now)
        short = 1.0 - self.tokens
        return short / self.rate if short > EPSILON else 0.0

    def reserve(self, now: float) -> None:
        """An attempt starts (or is due once its wait is over): counted, its token taken."""
        self.attempts.append(now)
        if self.limited:
            self._refill(now)
            self.tokens -= 1.0

    def measured(self, now: float) -> float:
        """Attempts per second over the last ``window`` seconds (at least one)."""
        window = self.params.window
        while self.attempts and self.attempts[0] <= now - window:
            self.attempts.popleft()
        return max(1, len(self.attempts)) / window

    def throttled(self, now: float, u: float) -> None:
        """EC2 throttled an attempt; ``u`` uniform in [0, 1) draws the jitter."""
        params = self.params
        self._refill(now)
        current = min(self.rate if self.limited else self.ceiling, self.measured(now))
        self.max_rate = current
        self.rate = min(self.ceiling, max(params.min_rate, current * params.beta))
        self.limited = True
        self.throttled_at = now
        self.tokens = min(self.tokens, 0.0) - params.jitter * u

    def answered(self, now: float) -> None:
        """EC2 answered an attempt without throttling it."""
        if not self.limited:
            return
        params = self.params
        self._refill(now)
        k = (self.max_rate * (1.0 - params.beta) / params.scale) ** (1.0 / 3.0)
        cubic = params.scale * (now - self.throttled_at - k) ** 3 + self.max_rate
        if cubic >= self.ceiling:
            self.limited = False
            self.rate = self.ceiling
            self.tokens = 1.0
        else:
            self.rate = max(params.min_rate, cubic)


@dataclass
class CallStats:
    """What one node asked of EC2: every request that reached it, by action."""

    requests: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    limiter_timeouts: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    """Calls the policy made (each one or more requests, or none when refused)."""
    gave_up: Counter[str] = field(default_factory=Counter)
    """Calls that ended throttled: EC2 throttled their last attempt (retries spent), or our
    limiter refused to wait past the deadline (``limiter_timeouts``, by action here)."""
    first_request: dict[str, float] = field(default_factory=dict)
    """When the node's first request reached each of EC2's buckets, by bucket key."""

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
        adaptive = model.adaptive
        self.adaptive = (
            {
                name: AdaptiveRate(adaptive, shape.rate, start)
                for name, shape in model.limiter.items()
            }
            if model.limiter is not None and adaptive is not None
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
        engine, model, stats = self.engine, self.model, self.stats
        deadline_at = engine.now + model.deadline if model.deadline is not None else None
        cls = limiter_class(action)
        adaptive = self.adaptive[cls] if self.adaptive is not None else None
        stats.calls[action] += 1
        attempt = 0
        while True:
            attempt += 1
            if self._buckets is not None:
                bucket = self._buckets[cls]
                wait = bucket.wait_for(engine.now)
                if adaptive is not None:
                    wait = max(wait, adaptive.wait_for(engine.now))
                if deadline_at is not None and wait > max(0.0, deadline_at - engine.now):
                    stats.limiter_timeouts += 1
                    stats.gave_up[action] += 1
                    return Outcome.CLIENT_TIMEOUT
                bucket.reserve(engine.now)
                if adaptive is not None:
                    adaptive.reserve(engine.now)
                if wait > 0:
                    yield wait
            outcome = self.account.request(
                engine.now, action, filtered=filtered, addresses=addresses
            )
            stats.requests[action] += 1
            stats.first_request.setdefault(bucket_key(action, filtered), engine.now)
            if self.log is not None:
                self.log.append((engine.now, action, outcome))
            if outcome is Outcome.THROTTLED:
                stats.throttled[action] += 1
            yield self.account.model.call_latency(action, outcome)
            if adaptive is not None:
                if outcome is Outcome.THROTTLED:
                    adaptive.throttled(engine.now, self.rng.random())
                else:
                    adaptive.answered(engine.now)
            if outcome is not Outcome.THROTTLED:
                return outcome
            if attempt >= model.attempts:
                stats.gave_up[action] += 1
                return outcome
            delay = model.backoff.delay(attempt, self.rng)
            if deadline_at is not None and engine.now + delay >= deadline_at:
                stats.gave_up[action] += 1
                return outcome
            yield delay
