"""The call policy: which errors are retried, how long, how far apart, and what is spent."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from config import RateLimitSettings, load_settings
from providers.errors import (
    CapacityExhausted,
    CloudUnavailable,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    ProviderError,
    Throttled,
)
from providers.ratelimit import (
    ADAPTIVE,
    ALLOCATE,
    DESCRIBE,
    MUTATING,
    AdaptiveParams,
    RateLimiter,
    RateLimitTimeout,
)
from providers.retry import CallOutcome, CallPolicy
from sandbox.clock import FakeClock

RATES = load_settings({}).rate_limits
"""The real settings type with its documented defaults; tests change fields with replace."""


def upper(low: float, high: float) -> float:
    """A 'random' choice that always takes the top of the jitter window."""
    return high


class Script:
    """A cloud call that fails with the given errors, in order, then returns 'ok'."""

    def __init__(self, errors: Sequence[BaseException], *, takes: float = 0.0, clock=None):
        self.errors = list(errors)
        self.calls = 0
        self.takes = takes
        self.clock = clock

    def __call__(self) -> str:
        self.calls += 1
        if self.clock is not None:
            self.clock.advance(self.takes)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def make(
    clock: FakeClock,
    *,
    attempts: int = 5,
    deadline: float = 30.0,
    uniform: Callable[[float, float], float] = upper,
    shapes: RateLimitSettings | None = None,
    adaptive: AdaptiveParams | None = None,
    rng: Callable[[], float] = lambda: 0.0,
) -> CallPolicy:
    """A policy on the fake clock. The limiter's adaptive rate is off unless asked for: most
    tests here are about one call's retries, and the adaptive rate has tests of its own
    (below, and in test_ratelimit)."""
    limiter = RateLimiter.for_ec2(
        shapes or RATES, clock=clock, sleep=clock.sleep, adaptive=adaptive, rng=rng
    )
    return CallPolicy(limiter, attempts, deadline, clock=clock, sleep=clock.sleep, uniform=uniform)


@pytest.mark.parametrize("error", [Throttled("slow down"), CloudUnavailable("503")])
def test_retryable_errors_are_retried_until_success(error: ProviderError):
    clock = FakeClock()
    fn = Script([error, error])
    assert make(clock).call("AssignPrivateIpAddresses", fn) == "ok"
    assert fn.calls == 3
    assert clock.slept == [pytest.approx(0.2), pytest.approx(0.4)]


@pytest.mark.parametrize(
    "error",
    [
        PermissionDenied("no", code="UnauthorizedOperation"),
        CapacityExhausted("full", code="InsufficientFreeAddressesInSubnet"),
        NotFound("gone", code="InvalidNetworkInterfaceID.NotFound"),
        LimitExceeded("max", code="PrivateIpAddressLimitExceeded"),
        InvalidRequest("bad", code="InvalidParameterValue"),
    ],
)
def test_final_errors_are_raised_at_once_unchanged(error: ProviderError):
    clock = FakeClock()
    fn = Script([error])
    with pytest.raises(ProviderError) as raised:
        make(clock).call("AssignPrivateIpAddresses", fn)
    assert raised.value is error
    assert fn.calls == 1
    assert clock.slept == []


def test_errors_outside_the_provider_tree_are_not_retried():
    clock = FakeClock()
    fn = Script([KeyError("bug")])
    with pytest.raises(KeyError):
        make(clock).call("CreateTags", fn)
    assert fn.calls == 1


def test_retries_stop_at_the_attempt_limit_with_the_last_error_unchanged():
    clock = FakeClock()
    errors = [Throttled(f"try {i}", code="RequestLimitExceeded") for i in range(5)]
    fn = Script(errors)
    with pytest.raises(Throttled) as raised:
        make(clock, attempts=3).call("CreateTags", fn)
    assert fn.calls == 3
    assert raised.value.message == "try 2"
    assert type(raised.value) is Throttled
    assert len(clock.slept) == 2


def test_retries_stop_before_a_sleep_would_pass_the_deadline():
    clock = FakeClock()
    fn = Script([CloudUnavailable("503")] * 50)
    with pytest.raises(CloudUnavailable):
        make(clock, attempts=100, deadline=2.0).call("DescribeInstances", fn)
    # Tries at 0, 0.2, 0.6, 1.4; a 1.6 s sleep would end past 2.0, so none is taken.
    assert fn.calls == 4
    assert clock.slept == [pytest.approx(s) for s in (0.2, 0.4, 0.8)]
    assert clock.now() - 1000.0 < 2.0


def test_time_spent_in_the_call_itself_counts_against_the_deadline():
    clock = FakeClock()
    fn = Script([CloudUnavailable("timeout")] * 50, takes=1.0, clock=clock)
    with pytest.raises(CloudUnavailable):
        make(clock, attempts=100, deadline=2.5).call("DescribeInstances", fn)
    assert fn.calls == 2


def test_backoff_windows_double_from_the_initial_and_stop_at_the_cap():
    clock = FakeClock()
    windows: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        windows.append((low, high))
        return high

    fn = Script([Throttled("slow")] * 9)
    assert make(clock, attempts=10, deadline=1000, uniform=record).call("CreateTags", fn) == "ok"
    assert [low for low, _ in windows] == [0.0] * 9
    assert [high for _, high in windows] == [
        pytest.approx(h) for h in (0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0)
    ]


def test_backoff_is_jittered_within_its_window():
    clock = FakeClock()
    fn = Script([Throttled("slow")] * 9)
    policy = make(clock, attempts=10, deadline=1000, uniform=random.Random(7).uniform)
    policy.call("CreateTags", fn)
    ceilings = (0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0)
    assert all(0 <= s <= c for s, c in zip(clock.slept, ceilings, strict=True))
    assert len(set(clock.slept)) == 9
    assert clock.slept != [pytest.approx(c) for c in ceilings]


def test_every_attempt_takes_a_token_of_its_class():
    clock = FakeClock()
    policy = make(clock)
    policy.call("AssignPrivateIpAddresses", Script([Throttled("slow")] * 2))
    classes = policy.limiter.stats().classes
    assert classes[ALLOCATE].acquired == 3
    assert classes[MUTATING].acquired == 0


def test_token_waits_and_backoff_share_one_clock():
    clock = FakeClock()
    policy = make(clock, shapes=replace(RATES, ec2_mutating_burst=1, ec2_mutating_rate=1.0))
    assert policy.call("DeleteNetworkInterface", Script([Throttled("slow")])) == "ok"
    # Backoff 0.2 s, then the token for the second try still needs 0.8 s more.
    assert clock.slept == [pytest.approx(0.2), pytest.approx(0.8)]


def test_a_token_wait_past_the_deadline_fails_without_calling_the_cloud():
    clock = FakeClock()
    policy = make(clock, shapes=replace(RATES, ec2_mutating_burst=1, ec2_mutating_rate=0.01))
    policy.limiter.acquire("CreateTags")
    fn = Script([])
    with pytest.raises(RateLimitTimeout) as raised:
        policy.call("CreateTags", fn)
    assert fn.calls == 0
    assert clock.slept == []
    assert raised.value.operation == "CreateTags"


def test_each_retry_is_logged_at_warning_with_action_attempt_and_code(caplog):
    clock = FakeClock()
    fn = Script([Throttled("slow", code="RequestLimitExceeded"), CloudUnavailable("503")])
    with caplog.at_level(logging.WARNING, logger="providers.retry"):
        make(clock).call("AttachNetworkInterface", fn)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert "AttachNetworkInterface" in messages[0]
    assert "attempt 1 of 5" in messages[0]
    assert "RequestLimitExceeded" in messages[0]
    assert "CloudUnavailable" in messages[1]


def test_counters_by_action():
    clock = FakeClock()
    policy = make(clock, attempts=3)
    policy.call("CreateTags", Script([Throttled("slow"), CloudUnavailable("503")]))
    with pytest.raises(Throttled):
        policy.call("DescribeInstances", Script([Throttled("slow")] * 3))
    with pytest.raises(NotFound):
        policy.call("DescribeInstances", Script([NotFound("gone")]))

    stats = policy.stats()
    tags, describe = stats.by_action["CreateTags"], stats.by_action["DescribeInstances"]
    assert (tags.calls, tags.attempts, tags.retries, tags.throttles, tags.errors) == (1, 3, 2, 1, 0)
    assert (describe.calls, describe.attempts, describe.retries) == (2, 4, 2)
    assert (describe.throttles, describe.errors) == (3, 2)
    assert stats.total().attempts == 7


def test_policy_reads_attempts_and_deadline_from_settings():
    clock = FakeClock()
    limiter = RateLimiter.for_ec2(RATES, clock=clock, sleep=clock.sleep)
    policy = CallPolicy.from_settings(
        limiter, replace(RATES, cloud_retry_attempts=2, cloud_retry_deadline=9.0), clock=clock
    )
    assert (policy.attempts, policy.deadline) == (2, 9.0)
    with pytest.raises(ValueError):
        CallPolicy(limiter, 0, 9.0)


def test_the_observer_hears_each_call_once_with_its_time_tries_and_throttles():
    clock = FakeClock()
    heard: list[CallOutcome] = []
    policy = make(clock)
    policy.observe = heard.append
    slow = Throttled("slow down", code="RequestLimitExceeded")
    assert policy.call("AssignPrivateIpAddresses", Script([slow], takes=0.5, clock=clock)) == "ok"
    with pytest.raises(PermissionDenied):
        policy.call("CreateNetworkInterface", Script([PermissionDenied("no", code="Denied")]))
    ok, failed = heard
    assert (ok.action, ok.ok, ok.attempts, ok.throttles, ok.error_code) == (
        "AssignPrivateIpAddresses",
        True,
        2,
        1,
        "",
    )
    assert ok.seconds == pytest.approx(0.5 + 0.2 + 0.5)  # two tries and one backoff
    assert (failed.action, failed.ok, failed.attempts, failed.error_code) == (
        "CreateNetworkInterface",
        False,
        1,
        "Denied",
    )


def test_a_failing_observer_never_breaks_the_cloud_call(caplog):
    def broken(_outcome: object) -> None:
        raise RuntimeError("observer bug")

    policy = make(FakeClock())
    policy.observe = broken
    with caplog.at_level(logging.ERROR):
        assert policy.call("DescribeInstances", Script([])) == "ok"
    assert "observer failed on DescribeInstances" in caplog.text


# -- the adaptive rate: what a throttle teaches the calls after it ------------------------


def test_without_throttles_the_adaptive_rate_changes_nothing():
    plain, learning = FakeClock(), FakeClock()
    errors = [CloudUnavailable("503"), CloudUnavailable("503")]
    for clock, adaptive in ((plain, None), (learning, ADAPTIVE)):
        policy = make(clock, adaptive=adaptive)
        for _ in range(20):
            policy.call("AssignPrivateIpAddresses", Script([]))
        policy.call("AssignPrivateIpAddresses", Script(list(errors)))
    assert learning.slept == plain.slept == [pytest.approx(0.2), pytest.approx(0.4)]
    assert learning.now() == plain.now()


def test_a_throttled_retry_waits_for_the_classs_cut_rate_then_succeeds():
    clock = FakeClock()
    policy = make(clock, adaptive=ADAPTIVE)
    assert policy.call("AssignPrivateIpAddresses", Script([Throttled("slow")])) == "ok"
    # one attempt in the 2 s window: 0.5/s measured, cut to 0.25 x 0.5 = 0.125/s: the retry
    # comes 8 s after the throttle (no jitter drawn): the 0.2 s backoff, then 7.8 s more
    assert clock.slept == [pytest.approx(0.2), pytest.approx(7.8)]
    assert policy.limiter.stats().classes[ALLOCATE].throttles == 1


def test_the_lesson_outlives_the_call_but_only_for_its_class():
    clock = FakeClock()
    policy = make(clock, adaptive=ADAPTIVE, attempts=1)
    with pytest.raises(Throttled):
        policy.call("AssignPrivateIpAddresses", Script([Throttled("slow")]))
    assert clock.slept == []
    policy.call("DescribeNetworkInterfaces", Script([]))  # another class: at once
    policy.call("AttachNetworkInterface", Script([]))
    assert clock.slept == []
    policy.call("CreateNetworkInterface", Script([]))  # same class: waits its token
    assert clock.slept == [pytest.approx(8.0)]
    assert policy.limiter.stats().classes[DESCRIBE].throttles == 0


def test_a_retry_whose_token_comes_after_the_deadline_fails_without_asking_again():
    clock = FakeClock()
    policy = make(clock, adaptive=ADAPTIVE, deadline=5.0)
    fn = Script([Throttled("slow", code="RequestLimitExceeded")] * 5)
    with pytest.raises(RateLimitTimeout) as raised:
        policy.call("AssignPrivateIpAddresses", fn)
    assert fn.calls == 1  # the 8 s wait is past the 5 s deadline: EC2 is not asked again
    assert raised.value.operation == "AssignPrivateIpAddresses"
    assert isinstance(raised.value, Throttled)  # the pool loop sees a throttled call
    stats = policy.limiter.stats().classes[ALLOCATE]
    assert (stats.throttles, stats.timeouts) == (1, 1)


def test_repeated_throttles_slow_the_class_down_further():
    clock = FakeClock()
    policy = make(clock, adaptive=ADAPTIVE, attempts=3, deadline=600.0)
    fn = Script([Throttled("slow")] * 2)
    assert policy.call("AssignPrivateIpAddresses", fn) == "ok"
    # 0.125/s after the first throttle (8 s), then 0.25 x 0.125 = 0.03125/s (32 s)
    assert clock.slept == [
        pytest.approx(0.2),
        pytest.approx(7.8),
        pytest.approx(0.4),
        pytest.approx(31.6),
    ]


def test_answers_that_are_not_throttles_never_cut_the_rate():
    clock = FakeClock()
    policy = make(clock, adaptive=ADAPTIVE)
    policy.call("AssignPrivateIpAddresses", Script([CloudUnavailable("503")] * 3))
    with pytest.raises(CapacityExhausted):
        policy.call("AssignPrivateIpAddresses", Script([CapacityExhausted("full")]))
    adaptive = policy.limiter.adaptive(ALLOCATE)
    assert adaptive is not None and not adaptive.limited
