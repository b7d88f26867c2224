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

Clock and sleep are injected so tests never really wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
        if wait > 0:
            self._sleep(wait)
        return wait


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
    ) -> None:
        if default_class not in buckets:
            raise ValueError(f"default class {default_class!r} has no bucket")
        self._buckets = dict(buckets)
        self._classify = classify
        self._default = default_class
        self._lock = threading.Lock()
        self._stats = {name: ClassStats() for name in self._buckets}

    @classmethod
    def for_ec2(
        cls,
        settings: Ec2RateSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        shapes = {
            MUTATING: (settings.ec2_mutating_rate, settings.ec2_mutating_burst),
            ALLOCATE: (settings.ec2_allocate_rate, settings.ec2_allocate_burst),
            DESCRIBE: (settings.ec2_describe_rate, settings.ec2_describe_burst),
        }
        buckets = {
            name: TokenBucket(rate, burst, name=name, clock=clock, sleep=sleep)
            for name, (rate, burst) in shapes.items()
        }
        return cls(buckets, classify_ec2, default_class=MUTATING)

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

    def acquire(self, action: str, *, timeout: float | None = None) -> float:
        """Take one token for ``action``, waiting if needed; returns the seconds waited."""
        name = self.classify(action)
        try:
            waited = self._buckets[name].acquire(timeout=timeout)
        except RateLimitTimeout as exc:
            exc.operation = action
            self._count(name, timeouts=1)
            raise
        self._count(name, acquired=1, waits=int(waited > 0), waited_seconds=waited)
        return waited

    def _count(
        self,
        name: str,
        *,
        acquired: int = 0,
        waits: int = 0,
        waited_seconds: float = 0.0,
        timeouts: int = 0,
    ) -> None:
        with self._lock:
            old = self._stats[name]
            self._stats[name] = ClassStats(
                acquired=old.acquired + acquired,
                waits=old.waits + waits,
                waited_seconds=old.waited_seconds + waited_seconds,
                timeouts=old.timeouts + timeouts,
            )

    def stats(self) -> RateLimiterStats:
        with self._lock:
            return RateLimiterStats(MappingProxyType(dict(self._stats)))
