"""The one retry policy around every cloud call: rate-limit each attempt, retry only what the
cloud may answer differently next time, with full-jitter exponential backoff.

``CallPolicy.call(action, fn)`` is the single entry point a provider wraps each SDK call in.
Each attempt first takes a token of the action's class from the shared RateLimiter, then
calls ``fn``, which already maps SDK errors to providers.errors at the provider's edge. Only
errors whose ``retryable`` is True (Throttled, CloudUnavailable) are retried; anything else
(CapacityExhausted, PermissionDenied, NotFound, ...) is final at once. Retries stop at
``attempts`` tries or when the next try could not start before ``deadline`` seconds from the
first, whichever comes first, and the last ProviderError is re-raised unchanged; the token
wait counts against the same deadline.

Backoff is "full jitter" (AWS architecture blog): before retry n, sleep a uniform random time
in [0, min(max_backoff, initial_backoff * 2**(n-1))]. Many nodes throttled at the same moment
then spread out instead of retrying in lockstep.

That backoff lives for one call; what outlives it is the limiter's: every attempt's answer is
told to the RateLimiter (``throttled`` when the cloud throttled it, ``answered`` for any other
answer of the cloud, error or not), whose adaptive rate per class then holds back this
retry, and the next call of the class, until the class has won its rate back. A retry whose
token would come after the deadline fails at once with RateLimitTimeout (a Throttled), EC2
never asked: what the pool loop then sees is a throttled call, as before.

The provider must turn off its SDK's own retries (botocore:
``Config(retries={"total_max_attempts": 1})``; google-api-core: ``retry=None``), so that
retries never stack: 5 of ours times 5 of botocore's would be 25 calls into a throttled API.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from providers.errors import ProviderError, Throttled
from providers.ratelimit import RateLimiter, RateLimitTimeout

T = TypeVar("T")

log = logging.getLogger(__name__)

INITIAL_BACKOFF = 0.2
MAX_BACKOFF = 10.0


class RetrySettings(Protocol):
    """The fields of config's RateLimitSettings the retry policy reads."""

    @property
    def cloud_retry_attempts(self) -> int: ...
    @property
    def cloud_retry_deadline(self) -> float: ...


def is_retryable(exc: BaseException) -> bool:
    """Cloud errors that may succeed on a later try. A local RateLimitTimeout is not: the
    deadline it was measured against is already spent."""
    return (
        isinstance(exc, ProviderError) and exc.retryable and not isinstance(exc, RateLimitTimeout)
    )


class FullJitter(wait_base):
    """Uniform in [0, min(cap, initial * 2**(attempt-1))]."""

    def __init__(self, initial: float, cap: float, uniform: Callable[[float, float], float]):
        self.initial = initial
        self.cap = cap
        self.uniform = uniform

    def ceiling(self, attempt: int) -> float:
        if attempt > 64:  # a huge 2**n times a float overflows; the cap is long reached by then
            return self.cap
        return min(self.cap, self.initial * 2.0 ** (attempt - 1))

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.uniform(0.0, self.ceiling(retry_state.attempt_number))


class _StopAt(stop_base):
    """Stop after ``attempts`` tries, or when sleeping first would pass the deadline.

    Uses the injected clock (tenacity's own elapsed time reads time.monotonic)."""

    def __init__(self, attempts: int, deadline_at: float, clock: Callable[[], float]):
        self.attempts = attempts
        self.deadline_at = deadline_at
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= self.attempts:
            return True
        return self.clock() + retry_state.upcoming_sleep >= self.deadline_at


@dataclass(frozen=True, slots=True)
class ActionStats:
    """Counters of one cloud action since start."""

    calls: int = 0
    """Calls through ``CallPolicy.call``."""
    attempts: int = 0
    """Tries, first ones included."""
    retries: int = 0
    throttles: int = 0
    """Tries the cloud throttled (not counting waits on our own limiter)."""
    errors: int = 0
    """Calls that failed in the end."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One finished ``CallPolicy.call``, for whoever watches the cloud (metrics, status)."""

    action: str
    """The cloud action, e.g. ``AssignPrivateIpAddresses`` or ``instances.get``."""
    seconds: float
    """The whole call: limiter waits, every attempt and the backoff between them."""
    attempts: int
    throttles: int
    """Attempts the cloud throttled."""
    error: BaseException | None = None
    """What the call raised in the end (a ProviderError for anything the cloud said)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_code(self) -> str:
        """The cloud's error code (``RequestLimitExceeded``), else the error's type; "" if ok."""
        if self.error is None:
            return ""
        code = self.error.code if isinstance(self.error, ProviderError) else ""
        return code or type(self.error).__name__


CallObserver = Callable[[CallOutcome], None]
"""Told of every finished call, on the calling thread; it must be quick and never raise."""


@dataclass(frozen=True, slots=True)
class CallStats:
    by_action: Mapping[str, ActionStats]

    def total(self) -> ActionStats:
        rows = self.by_action.values()
        return ActionStats(
            calls=sum(r.calls for r in rows),
            attempts=sum(r.attempts for r in rows),
            retries=sum(r.retries for r in rows),
            throttles=sum(r.throttles for r in rows),
            errors=sum(r.errors for r in rows),
        )


class CallPolicy:
    """Rate limit + retry around one cloud call; shared by every call of a provider."""

    def __init__(
        self,
        limiter: RateLimiter,
        attempts: int,
        deadline: float,
        *,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
        observe: CallObserver | None = None,
    ) -> None:
        if attempts < 1 or deadline <= 0:
            raise ValueError(f"need attempts >= 1 and deadline > 0 (got {attempts}, {deadline})")
        self.limiter = limiter
        self.attempts = attempts
        self.deadline = deadline
        self.wait = FullJitter(initial_backoff, max_backoff, uniform)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._stats: dict[str, ActionStats] = {}
        self.observe = observe

    @classmethod
    def from_settings(
        cls,
        limiter: RateLimiter,
        settings: RetrySettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        observe: CallObserver | None = None,
    ) -> CallPolicy:
        return cls(
            limiter,
            settings.cloud_retry_attempts,
            settings.cloud_retry_deadline,
            clock=clock,
            sleep=sleep,
            observe=observe,
        )

    def call(
        self,
        action: str,
        fn: Callable[[], T],
        *,
        mapper: Callable[[Exception, str], ProviderError] | None = None,
    ) -> T:
        """Run ``fn`` (one cloud call named ``action``) under the limiter and retry policy.
        ``mapper`` turns whatever the cloud's SDK raised into our error tree (the provider's
        edge), before retrying decides on it."""
        started = self._clock()
        deadline_at = started + self.deadline
        self._count(action, calls=1)
        tries = {"attempts": 0, "throttles": 0}

        def mapped_call() -> T:
            try:
                return fn()
            except Exception as error:
                if mapper is None:
                    raise
                ours = mapper(error, action)
                if ours is error:
                    raise
                raise ours from error

        def attempt() -> T:
            self._count(action, attempts=1)
            tries["attempts"] += 1
            self.limiter.acquire(action, timeout=max(0.0, deadline_at - self._clock()))
            try:
                result = mapped_call()
            except Throttled:
                self._count(action, throttles=1)
                tries["throttles"] += 1
                self.limiter.throttled(action)
                raise
            except ProviderError:
                self.limiter.answered(action)
                raise
            self.limiter.answered(action)
            return result

        def before_sleep(state: RetryCallState) -> None:
            self._count(action, retries=1)
            exc = state.outcome.exception() if state.outcome else None
            code = (exc.code if isinstance(exc, ProviderError) else "") or type(exc).__name__
            log.warning(
                "%s: attempt %d of %d failed [%s], retrying in %.2fs",
                action,
                state.attempt_number,
                self.attempts,
                code,
                state.upcoming_sleep,
            )

        retrying = Retrying(
            stop=_StopAt(self.attempts, deadline_at, self._clock),
            wait=self.wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            result = retrying(attempt)
        except BaseException as error:
            self._count(action, errors=1)
            self._tell(action, started, tries, error)
            raise
        self._tell(action, started, tries, None)
        return result

    def _tell(
        self, action: str, started: float, tries: dict[str, int], error: BaseException | None
    ) -> None:
        if self.observe is None:
            return
        outcome = CallOutcome(
            action,
            self._clock() - started,
            tries["attempts"],
            tries["throttles"],
            error,
        )
        try:
            self.observe(outcome)
        except Exception:  # watching the cloud must never break a call to it
            log.exception("the cloud-call observer failed on %s", action)

    def _count(self, action: str, **deltas: int) -> None:
        with self._lock:
            old = self._stats.get(action, ActionStats())
            self._stats[action] = ActionStats(
                calls=old.calls + deltas.get("calls", 0),
                attempts=old.attempts + deltas.get("attempts", 0),
                retries=old.retries + deltas.get("retries", 0),
                throttles=old.throttles + deltas.get("throttles", 0),
                errors=old.errors + deltas.get("errors", 0),
            )

    def stats(self) -> CallStats:
        with self._lock:
            return CallStats(MappingProxyType(dict(self._stats)))
