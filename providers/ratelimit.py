"""The one client-side rate limiter every cloud call goes through: token buckets per action class.

A cloud meters its API per account (EC2: per account and region) in token buckets; every
node of a cluster spends from the same ones. A node that spends faster than the cloud refills
gets ``RequestLimitExceeded`` and, worse, starves its neighbours. So each node keeps its own,
smaller buckets shaped like the cloud's and waits on them *before* calling, instead of
learning the limit from throttling errors.

EC2's documented buckets (account level, 2024): mutating actions 50 burst / 5 per second,
``AssignPrivateIpAddresses`` and ``CreateNetworkInterface`` 100 / 5, ``Describe*`` 100 / 20.
Compute Engine meters per project and minute; one bucket covers all of its calls here.
An action the classifier does not know spends from the mutating bucket: the conservative
choice, never an unlimited one.

Those buckets are the node's share of nothing: every node of an account starts with them
full, so a thousand nodes joining at once still spend EC2's bucket many times over. So each
EC2 class also learns from throttling (``AdaptiveRate``, in the spirit of the AWS SDKs'
"adaptive" retry mode): off until EC2 first throttles the class, so a node never throttled
calls exactly as fast as without it; then each throttle cuts the class's rate
multiplicatively and the node waits on its own one-token bucket, with jitter, instead of
asking EC2 again; answers that are not throttles win the rate back along CUBIC's curve
until the class is off again. The lesson outlives the call: the next call of the class (the
pool loop's next tick) waits too. ``CallPolicy`` tells the limiter what EC2 answered
(``throttled``/``answered``). Compute Engine meters per minute and is not adaptive.

Clock, sleep and the jitter's random source are injected so tests never really wait.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Protocol

from providers.errors import Throttled

MUTATING = "mutating"
ALLOCATE = "allocate"
DESCRIBE = "describe"
GCE = "gce"

EC2_ALLOCATE_ACTIONS = frozenset({"AssignPrivateIpAddresses", "CreateNetworkInterface"})


class RateLimitTimeout(Throttled):
    """Waiting for a token would take longer than the caller allows; nothing was waited.

    A Throttled (the daemon backs off the same way) raised on our side of the wire: the
    cloud was never called. ``needed`` is the wait that would have been required.
    """

    def __init__(self, needed: float, timeout: float, *, bucket: str = "", operation: str = ""):
        where = f"{bucket!r} bucket: " if bucket else ""
        super().__init__(
            f"{where}a token needs {needed:.3f}s of waiting, over the {timeout:.3f}s allowed",
            code="ClientRateLimitTimeout",
            operation=operation,
        )
        self.needed = needed
        self.timeout = timeout


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second (0: never refilled); starts full.

    Waiters reserve their tokens under the lock (the balance may go negative) and then sleep
    outside it until the reservation is covered, so the lock is never held while sleeping and
    waiters are served in arrival order.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError(f"token bucket needs rate >= 0 and burst >= 1 (got {rate}, {burst})")
        self.rate = float(rate)
        self.burst = burst
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def _check(self, tokens: int) -> None:
        if not 1 <= tokens <= self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")

    def available(self) -> float:
        """Tokens that could be taken right now without waiting (negative while reserved)."""
        with self._lock:
            self._refill()
            return self._tokens

    def try_acquire(self, tokens: int = 1) -> bool:
        """Take ``tokens`` if they are there now; never waits."""
        self._check(tokens)
        with self._lock:
            self._refill()
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            return True

    def acquire(self, tokens: int = 1, *, timeout: float | None = None) -> float:
        """Take ``tokens``, sleeping until they are there; returns the seconds waited.

        Raises RateLimitTimeout, without waiting at all, when the wait would exceed
        ``timeout``.
        """
        wait = self.reserve(tokens, timeout=timeout)
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self, tokens: int = 1, *, timeout: float | None = None) -> float:
        """Take ``tokens`` now (the balance may go negative) without sleeping; returns the
        seconds the caller must wait before using them. Raises RateLimitTimeout, reserving
        nothing, when that wait would exceed ``timeout``."""
        self._check(tokens)
        with self._lock:
            self._refill()
            short = tokens - self._tokens
            # A rate of 0 never refills: a shortfall can never be waited out.
            wait = max(0.0, short / self.rate) if self.rate else (math.inf if short > 0 else 0.0)
            if wait == math.inf or (timeout is not None and wait > timeout):
                raise RateLimitTimeout(
                    wait, math.inf if timeout is None else timeout, bucket=self.name
                )
            self._tokens -= tokens
        return wait


ADAPTIVE_BETA = 0.25
"""A throttle cuts a class's rate to this fraction of min(its rate, its measured rate)."""
ADAPTIVE_MIN_RATE = 0.02
"""Calls per second a class is never cut below (one every 50 s)."""
ADAPTIVE_WINDOW = 2.0
"""Seconds over which a class's attempts are counted to measure its rate (at least one)."""
ADAPTIVE_JITTER = 1.0
"""After a throttle the class's next token is due between 1/rate and (1 + this)/rate."""
ADAPTIVE_SCALE = 0.001
"""CUBIC's C in calls/s per s^3: a class cut from 0.5/s wins it back in 7 s and its full
5/s in 24 s, if EC2 keeps answering; one cut from 5/s wins that back in 68 s."""


@dataclass(frozen=True, slots=True)
class AdaptiveParams:
    """The shape of ``AdaptiveRate``; defaults are the ADAPTIVE_* constants, which the
    simulator's model of this client (warmpool.sim.client.Adaptive) repeats."""

    beta: float = ADAPTIVE_BETA
    min_rate: float = ADAPTIVE_MIN_RATE
    window: float = ADAPTIVE_WINDOW
    jitter: float = ADAPTIVE_JITTER
    scale: float = ADAPTIVE_SCALE

    def __post_init__(self) -> None:
        if not (
            0 < self.beta < 1
            and self.min_rate > 0
            and self.window > 0
            and self.jitter >= 0
            and self.scale > 0
        ):
            raise ValueError(
                f"adaptive rate needs 0 < beta < 1, min_rate, window, scale > 0 "
                f"and jitter >= 0 (got {self})"
            )


class AdaptiveRate:
    """One action class's rate learnt from throttling; thread-safe, clock and random injected.

    Off (no wait, nothing changed) until the class is first throttled. A throttle at a rate
    ``r`` (the class's own ``ceiling`` while off) with ``m`` attempts measured per second over
    the last ``window`` seconds sets ``W = min(r, m)`` and cuts the rate to
    ``max(min_rate, beta * W)``; it empties a one-token bucket refilled at that rate, pushed
    back by ``jitter * U[0, 1)`` tokens, so the next attempt waits between 1/rate and
    (1 + jitter)/rate and nodes throttled together spread out. An answer that is not a
    throttle, ``t`` seconds after the last one, sets the rate to CUBIC's
    ``scale * (t - K)**3 + W`` with ``K = cbrt(W * (1 - beta) / scale)`` (``beta * W`` at once,
    ``W`` after ``K`` seconds, then faster); once that reaches the ceiling the class is off
    again. Waits are reservations, as in TokenBucket: a waiter's place is fixed when it
    reserves, and a cut applies from the next reservation on.
    """

    def __init__(
        self,
        ceiling: float,
        params: AdaptiveParams | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if ceiling <= 0:
            raise ValueError(f"an adaptive rate needs a ceiling > 0 (got {ceiling})")
        self.params = params or AdaptiveParams()
        self.ceiling = float(ceiling)
        self.name = name
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        now = clock()
        self._limited = False
        self._rate = self.ceiling
        self._max_rate = self.ceiling
        self._throttled_at = now
        self._tokens = 1.0
        self._updated = now
        self._attempts: deque[float] = deque()
        self._throttles = 0

    @property
    def limited(self) -> bool:
        """True while cut (the class waits on its own adaptive bucket)."""
        with self._lock:
            return self._limited

    @property
    def rate(self) -> float | None:
        """Calls per second while cut; None while off."""
        with self._lock:
            return self._rate if self._limited else None

    @property
    def throttles(self) -> int:
        """Throttles heard since start."""
        with self._lock:
            return self._throttles

    def _refill(self, now: float) -> None:
        if now > self._updated:
            if self._limited:
                self._tokens = min(1.0, self._tokens + (now - self._updated) * self._rate)
            self._updated = now

    def wait_for(self) -> float:
        """Seconds until the next attempt may start (0 while off); reserves nothing."""
        with self._lock:
            if not self._limited:
                return 0.0
            self._refill(self._clock())
            short = 1.0 - self._tokens
            return short / self._rate if short > _EPSILON else 0.0

    def reserve(self) -> None:
        """An attempt starts (or is due once its wait is over): counted, its token taken."""
        with self._lock:
            now = self._clock()
            self._attempts.append(now)
            if self._limited:
                self._refill(now)
                self._tokens -= 1.0

    def _measured(self, now: float) -> float:
        window = self.params.window
        while self._attempts and self._attempts[0] <= now - window:
            self._attempts.popleft()
        return max(1, len(self._attempts)) / window

    def throttled(self) -> None:
        """The cloud throttled an attempt of this class: cut the rate."""
        u = self._rng()
        with self._lock:
            params = self.params
            now = self._clock()
            self._refill(now)
            current = min(self._rate if self._limited else self.ceiling, self._measured(now))
            self._max_rate = current
            self._rate = min(self.ceiling, max(params.min_rate, current * params.beta))
            self._limited = True
            self._throttled_at = now
            self._tokens = min(self._tokens, 0.0) - params.jitter * u
            self._throttles += 1

    def answered(self) -> None:
        """The cloud answered an attempt of this class without throttling it."""
        with self._lock:
            if not self._limited:
                return
            params = self.params
            now = self._clock()
            self._refill(now)
            k = (self._max_rate * (1.0 - params.beta) / params.scale) ** (1.0 / 3.0)
            cubic = params.scale * (now - self._throttled_at - k) ** 3 + self._max_rate
            if cubic >= self.ceiling:
                self._limited = False
                self._rate = self.ceiling
                self._tokens = 1.0
            else:
                self._rate = max(params.min_rate, cubic)


ADAPTIVE = AdaptiveParams()

_EPSILON = 1e-9
"""Tokens short by less than this count as there (sums of float seconds)."""


class Ec2RateSettings(Protocol):
    """The fields of config's RateLimitSettings the EC2 limiter reads."""

    @property
    def ec2_mutating_rate(self) -> float: ...
    @property
    def ec2_mutating_burst(self) -> int: ...
    @property
    def ec2_allocate_rate(self) -> float: ...
    @property
    def ec2_allocate_burst(self) -> int: ...
    @property
    def ec2_describe_rate(self) -> float: ...
    @property
    def ec2_describe_burst(self) -> int: ...


class GceRateSettings(Protocol):
    """The fields of config's RateLimitSettings the Compute Engine limiter reads."""

    @property
    def gce_rate(self) -> float: ...
    @property
    def gce_burst(self) -> int: ...


def classify_ec2(action: str) -> str:
    """EC2 action name -> bucket class; anything unknown is mutating."""
    if action.startswith("Describe"):
        return DESCRIBE
    if action in EC2_ALLOCATE_ACTIONS:
        return ALLOCATE
    return MUTATING


@dataclass(frozen=True, slots=True)
class ClassStats:
    """What one action class has spent since start."""

    acquired: int = 0
    """Tokens handed out."""
    waits: int = 0
    """Acquisitions that had to wait."""
    waited_seconds: float = 0.0
    timeouts: int = 0
    """Acquisitions refused because the wait would exceed the caller's timeout."""
    throttles: int = 0
    """Attempts of the class the cloud throttled (what the adaptive rate learnt from)."""
    adaptive_rate: float | None = None
    """Calls per second the class is cut to after throttling; None while not cut."""


@dataclass(frozen=True, slots=True)
class RateLimiterStats:
    classes: Mapping[str, ClassStats]


class RateLimiter:
    """Named token buckets per action class, and the classifier from action to class."""

    def __init__(
        self,
        buckets: Mapping[str, TokenBucket],
        classify: Callable[[str], str],
        *,
        default_class: str,
        adaptive: Mapping[str, AdaptiveRate] | None = None,
    ) -> None:
        if default_class not in buckets:
            raise ValueError(f"default class {default_class!r} has no bucket")
        if adaptive and not set(adaptive) <= set(buckets):
            raise ValueError(f"adaptive rates for classes without a bucket: {set(adaptive)}")
        self._buckets = dict(buckets)
        self._adaptive = dict(adaptive or {})
        self._classify = classify
        self._default = default_class
        self._lock = threading.Lock()
        self._class_locks = {name: threading.Lock() for name in self._buckets}
        self._stats = {name: ClassStats() for name in self._buckets}

    @classmethod
    def for_ec2(
        cls,
        settings: Ec2RateSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        adaptive: AdaptiveParams | None = ADAPTIVE,
        rng: Callable[[], float] = random.random,
    ) -> RateLimiter:
        """EC2's three classes, each adaptive unless ``adaptive`` is None."""
        shapes = {
            MUTATING: (settings.ec2_mutating_rate, settings.ec2_mutating_burst),
            ALLOCATE: (settings.ec2_allocate_rate, settings.ec2_allocate_burst),
            DESCRIBE: (settings.ec2_describe_rate, settings.ec2_describe_burst),
        }
        buckets = {
            name: TokenBucket(rate, burst, name=name, clock=clock, sleep=sleep)
            for name, (rate, burst) in shapes.items()
        }
        rates = (
            {
                name: AdaptiveRate(rate, adaptive, name=name, clock=clock, rng=rng)
                for name, (rate, _burst) in shapes.items()
            }
            if adaptive is not None
            else None
        )
        return cls(buckets, classify_ec2, default_class=MUTATING, adaptive=rates)

    @classmethod
    def for_gce(
        cls,
        settings: GceRateSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        bucket = TokenBucket(
            settings.gce_rate, settings.gce_burst, name=GCE, clock=clock, sleep=sleep
        )
        return cls({GCE: bucket}, lambda _action: GCE, default_class=GCE)

    def classify(self, action: str) -> str:
        """The class whose bucket ``action`` spends from."""
        name = self._classify(action)
        return name if name in self._buckets else self._default

    def bucket(self, name: str) -> TokenBucket:
        return self._buckets[name]

    def adaptive(self, name: str) -> AdaptiveRate | None:
        """The class's adaptive rate; None if it has none."""
        return self._adaptive.get(name)

    def acquire(self, action: str, *, timeout: float | None = None) -> float:
        """Take one token for ``action``, waiting if needed; returns the seconds waited.

        The wait is the longer of the class's bucket and its adaptive rate; when that would
        exceed ``timeout``, RateLimitTimeout is raised without waiting or reserving."""
        name = self.classify(action)
        bucket, adaptive = self._buckets[name], self._adaptive.get(name)
        try:
            with self._class_locks[name]:  # both reservations, or neither
                learnt = adaptive.wait_for() if adaptive is not None else 0.0
                if timeout is not None and learnt > timeout:
                    raise RateLimitTimeout(learnt, timeout, bucket=name)
                waited = max(learnt, bucket.reserve(timeout=timeout))
                if adaptive is not None:
                    adaptive.reserve()
        except RateLimitTimeout as exc:
            exc.operation = action
            self._count(name, timeouts=1)
            raise
        if waited > 0:
            bucket._sleep(waited)
        self._count(name, acquired=1, waits=int(waited > 0), waited_seconds=waited)
        return waited

    def throttled(self, action: str) -> None:
        """The cloud throttled an attempt of ``action``: its class learns from it."""
        name = self.classify(action)
        adaptive = self._adaptive.get(name)
        if adaptive is not None:
            adaptive.throttled()
        self._count(name, throttles=1)

    def answered(self, action: str) -> None:
        """The cloud answered an attempt of ``action`` (well or not) without throttling it."""
        adaptive = self._adaptive.get(self.classify(action))
        if adaptive is not None:
            adaptive.answered()

    def _count(
        self,
        name: str,
        *,
        acquired: int = 0,
        waits: int = 0,
        waited_seconds: float = 0.0,
        timeouts: int = 0,
        throttles: int = 0,
    ) -> None:
        with self._lock:
            old = self._stats[name]
            self._stats[name] = ClassStats(
                acquired=old.acquired + acquired,
                waits=old.waits + waits,
                waited_seconds=old.waited_seconds + waited_seconds,
                timeouts=old.timeouts + timeouts,
                throttles=old.throttles + throttles,
            )

    def stats(self) -> RateLimiterStats:
        with self._lock:
            counted = dict(self._stats)
        rates = {name: adaptive.rate for name, adaptive in self._adaptive.items()}
        return RateLimiterStats(
            MappingProxyType(
                {name: replace(s, adaptive_rate=rates.get(name)) for name, s in counted.items()}
            )
        )
