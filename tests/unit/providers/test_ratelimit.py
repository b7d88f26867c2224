"""Token buckets and the per-class limiter: shape, waits computed not slept, thread safety."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError, replace

import pytest

from config import load_settings
from providers.errors import Throttled
from providers.ratelimit import (
    ADAPTIVE,
    ADAPTIVE_BETA,
    ADAPTIVE_MIN_RATE,
    ALLOCATE,
    DESCRIBE,
    GCE,
    MUTATING,
    AdaptiveParams,
    AdaptiveRate,
    RateLimiter,
    RateLimitTimeout,
    TokenBucket,
    classify_ec2,
)
from sandbox.clock import FakeClock

RATES = load_settings({}).rate_limits
"""The real settings type with its documented defaults; tests change fields with replace."""


def bucket(rate: float, burst: int, clock: FakeClock) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


def drain(b: TokenBucket) -> None:
    while b.try_acquire():
        pass


def test_bucket_starts_full():
    clock = FakeClock()
    b = bucket(1.0, 5, clock)
    assert b.available() == 5
    assert [b.try_acquire() for _ in range(6)] == [True] * 5 + [False]


def test_bucket_refills_at_its_rate():
    clock = FakeClock()
    b = bucket(4.0, 10, clock)
    drain(b)
    clock.advance(0.5)
    assert b.available() == pytest.approx(2.0)
    assert [b.try_acquire() for _ in range(3)] == [True, True, False]


def test_bucket_never_holds_more_than_its_burst():
    clock = FakeClock()
    b = bucket(4.0, 10, clock)
    b.acquire()
    clock.advance(1000)
    assert b.available() == 10


def test_acquire_sleeps_exactly_the_computed_wait():
    clock = FakeClock()
    b = bucket(2.0, 4, clock)
    drain(b)
    assert b.acquire(3) == pytest.approx(1.5)
    assert clock.slept == [pytest.approx(1.5)]
    assert clock.now() == pytest.approx(1001.5)
    assert b.available() == pytest.approx(0.0)


def test_acquire_with_tokens_at_hand_does_not_sleep():
    clock = FakeClock()
    b = bucket(2.0, 4, clock)
    assert b.acquire(4) == 0.0
    assert clock.slept == []


def test_successive_waiters_each_wait_one_refill_interval():
    clock = FakeClock()
    b = bucket(2.0, 1, clock)
    waits = [b.acquire() for _ in range(4)]
    assert waits == [0.0, pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5)]


def test_timeout_is_raised_before_any_sleep_and_reserves_nothing():
    clock = FakeClock()
    b = bucket(2.0, 4, clock)
    drain(b)
    with pytest.raises(RateLimitTimeout) as raised:
        b.acquire(timeout=0.1)
    assert clock.slept == []
    assert raised.value.needed == pytest.approx(0.5)
    assert isinstance(raised.value, Throttled)
    clock.advance(0.5)
    assert b.try_acquire()


def test_wait_within_the_timeout_is_taken():
    clock = FakeClock()
    b = bucket(2.0, 4, clock)
    drain(b)
    assert b.acquire(timeout=0.5) == pytest.approx(0.5)


def test_asking_for_more_than_the_burst_is_a_programming_error():
    b = bucket(2.0, 4, FakeClock())
    with pytest.raises(ValueError, match="cannot take 5"):
        b.acquire(5)
    with pytest.raises(ValueError):
        TokenBucket(-1.0, 4)


def test_a_bucket_with_rate_zero_never_refills_and_never_waits_in_vain():
    clock = FakeClock()
    b = bucket(0.0, 2, clock)
    assert b.acquire() == 0.0 and b.try_acquire()
    clock.advance(1e6)
    assert not b.try_acquire()
    with pytest.raises(RateLimitTimeout):
        b.acquire()  # no timeout given, yet it must not sleep forever
    assert clock.slept == []


def test_concurrent_takers_never_get_more_than_burst_plus_refill():
    clock = FakeClock()
    rate, burst, threads, each = 5.0, 10, 8, 25
    b = bucket(rate, burst, clock)
    start = clock()
    granted = 0
    excess: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        nonlocal granted
        for _ in range(each):
            b.acquire()
            with lock:
                granted += 1
                allowed = burst + rate * (clock() - start)
                if granted > allowed + 1e-9:
                    excess.append(granted - allowed)

    workers = [threading.Thread(target=take) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert granted == threads * each
    assert excess == []
    assert clock() - start >= (threads * each - burst) / rate - 1e-9


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("DescribeNetworkInterfaces", DESCRIBE),
        ("DescribeInstances", DESCRIBE),
        ("DescribeInstanceTypes", DESCRIBE),
        ("DescribeSubnets", DESCRIBE),
        ("AssignPrivateIpAddresses", ALLOCATE),
        ("CreateNetworkInterface", ALLOCATE),
        ("AttachNetworkInterface", MUTATING),
        ("DetachNetworkInterface", MUTATING),
        ("DeleteNetworkInterface", MUTATING),
        ("UnassignPrivateIpAddresses", MUTATING),
        ("ModifyNetworkInterfaceAttribute", MUTATING),
        ("CreateTags", MUTATING),
        ("DeleteTags", MUTATING),
    ],
)
def test_ec2_actions_spend_from_their_documented_class(action: str, expected: str):
    assert classify_ec2(action) == expected
    assert RateLimiter.for_ec2(RATES).classify(action) == expected


@pytest.mark.parametrize("action", ["RebootInstances", "SomethingNew", "", "describeLowercase"])
def test_unknown_ec2_actions_spend_from_the_mutating_bucket(action: str):
    assert RateLimiter.for_ec2(RATES).classify(action) == MUTATING


def test_ec2_buckets_take_their_shapes_from_settings():
    limiter = RateLimiter.for_ec2(replace(RATES, ec2_mutating_rate=1.5, ec2_mutating_burst=7))
    shapes = {
        name: (limiter.bucket(name).rate, limiter.bucket(name).burst)
        for name in (MUTATING, ALLOCATE, DESCRIBE)
    }
    assert shapes == {MUTATING: (1.5, 7), ALLOCATE: (5.0, 100), DESCRIBE: (20.0, 100)}


def test_an_action_spends_only_from_its_own_bucket():
    clock = FakeClock()
    limiter = RateLimiter.for_ec2(RATES, clock=clock, sleep=clock.sleep)
    limiter.acquire("DescribeNetworkInterfaces")
    limiter.acquire("CreateTags")
    assert limiter.bucket(DESCRIBE).available() == 99
    assert limiter.bucket(MUTATING).available() == 49
    assert limiter.bucket(ALLOCATE).available() == 100


def test_every_gce_call_spends_from_one_bucket():
    clock = FakeClock()
    limiter = RateLimiter.for_gce(RATES, clock=clock, sleep=clock.sleep)
    for action in ("instances.get", "instances.updateNetworkInterface", "zoneOperations.get"):
        assert limiter.classify(action) == GCE
        limiter.acquire(action)
    assert limiter.bucket(GCE).available() == 2


def test_stats_count_waits_per_class_and_are_a_frozen_snapshot():
    clock = FakeClock()
    limiter = RateLimiter.for_ec2(
        replace(RATES, ec2_mutating_burst=1, ec2_mutating_rate=2.0), clock=clock, sleep=clock.sleep
    )
    for _ in range(3):
        limiter.acquire("DeleteNetworkInterface")
    limiter.acquire("DescribeInstances")
    snapshot = limiter.stats()
    limiter.acquire("DeleteNetworkInterface")

    mutating = snapshot.classes[MUTATING]
    assert (mutating.acquired, mutating.waits) == (3, 2)
    assert mutating.waited_seconds == pytest.approx(1.0)
    assert (snapshot.classes[DESCRIBE].acquired, snapshot.classes[DESCRIBE].waits) == (1, 0)
    assert limiter.stats().classes[MUTATING].acquired == 4
    with pytest.raises(FrozenInstanceError):
        mutating.waits = 0  # type: ignore[misc]


def test_limiter_timeout_names_the_action_and_is_counted():
    clock = FakeClock()
    limiter = RateLimiter.for_ec2(
        replace(RATES, ec2_allocate_burst=1, ec2_allocate_rate=0.1), clock=clock, sleep=clock.sleep
    )
    limiter.acquire("AssignPrivateIpAddresses")
    with pytest.raises(RateLimitTimeout) as raised:
        limiter.acquire("AssignPrivateIpAddresses", timeout=1.0)
    assert raised.value.operation == "AssignPrivateIpAddresses"
    assert raised.value.code == "ClientRateLimitTimeout"
    assert limiter.stats().classes[ALLOCATE].timeouts == 1
    assert clock.slept == []


# -- the adaptive rate ------------------------------------------------------------------


def adaptive(clock: FakeClock, ceiling: float = 5.0, u: float = 0.0, **params) -> AdaptiveRate:
    return AdaptiveRate(ceiling, AdaptiveParams(**params), clock=clock, rng=lambda: u)


def test_an_adaptive_rate_is_off_until_the_first_throttle():
    clock = FakeClock()
    rate = adaptive(clock)
    for _ in range(500):
        rate.reserve()
        rate.answered()
        assert rate.wait_for() == 0.0
    assert (rate.limited, rate.rate, rate.throttles) == (False, None, 0)


def test_a_throttle_cuts_the_measured_rate_by_beta():
    clock = FakeClock()
    rate = adaptive(clock)
    for _ in range(4):  # four attempts within the 2 s window: 2/s measured
        rate.reserve()
        clock.advance(0.25)
    rate.throttled()
    assert rate.rate == pytest.approx(ADAPTIVE_BETA * 2.0)
    assert rate.wait_for() == pytest.approx(1 / (ADAPTIVE_BETA * 2.0))


def test_a_throttle_never_cuts_from_more_than_the_classs_own_rate():
    clock = FakeClock()
    rate = adaptive(clock, ceiling=1.0)
    for _ in range(20):  # 10/s measured: more than the class's bucket allows (1/s)
        rate.reserve()
    rate.throttled()
    assert rate.rate == pytest.approx(ADAPTIVE_BETA * 1.0)


def test_throttles_in_a_row_never_cut_below_the_floor():
    clock = FakeClock()
    rate = adaptive(clock)
    for _ in range(50):
        clock.advance(rate.wait_for())
        rate.reserve()
        rate.throttled()
        assert rate.rate is not None and rate.rate >= ADAPTIVE_MIN_RATE
    assert rate.rate == pytest.approx(ADAPTIVE_MIN_RATE)
    assert rate.wait_for() == pytest.approx(1 / ADAPTIVE_MIN_RATE)
    assert rate.throttles == 50


def test_the_jitter_spreads_the_next_attempt_over_one_to_two_intervals():
    waits = []
    for u in (0.0, 0.5, 0.999):
        clock = FakeClock()
        rate = adaptive(clock, u=u)
        rate.reserve()
        rate.throttled()
        waits.append(rate.wait_for())
    interval = 1 / (ADAPTIVE_BETA * 0.5)  # one attempt in the 2 s window
    assert waits == [pytest.approx(interval * (1 + u)) for u in (0.0, 0.5, 0.999)]


def test_successes_win_the_rate_back_along_cubic_then_the_class_is_off_again():
    clock = FakeClock()
    rate = adaptive(clock)
    rate.reserve()
    rate.throttled()  # from 0.5/s measured to 0.125/s
    w, beta, c = 0.5, ADAPTIVE.beta, ADAPTIVE.scale
    k = (w * (1 - beta) / c) ** (1 / 3)
    seen: list[tuple[float, float | None]] = []
    for t in (1.0, 5.0, k, 15.0, 25.0):
        clock.advance(t - (seen[-1][0] if seen else 0.0))
        rate.answered()
        seen.append((t, rate.rate))
    rates = [r for _, r in seen[:-1] if r is not None]
    assert len(rates) == 4
    for (t, _), r in zip(seen, rates, strict=False):
        assert r == pytest.approx(max(ADAPTIVE_MIN_RATE, c * (t - k) ** 3 + w))
    assert rates == sorted(rates) and rates[2] == pytest.approx(w)  # back to W after K s
    assert seen[-1][1] is None  # c * (25 - k)^3 + w > 5/s: off, as if never throttled
    assert rate.wait_for() == 0.0


def test_time_alone_restores_nothing_but_a_later_answer_restores_all():
    clock = FakeClock()
    rate = adaptive(clock)
    rate.reserve()
    rate.throttled()
    clock.advance(3600)
    assert rate.limited and rate.wait_for() == 0.0  # the one token has long been there
    rate.reserve()
    rate.answered()
    assert not rate.limited


def test_bad_adaptive_shapes_are_refused():
    with pytest.raises(ValueError):
        AdaptiveParams(beta=1.0)
    with pytest.raises(ValueError):
        AdaptiveParams(min_rate=0.0)
    with pytest.raises(ValueError):
        AdaptiveRate(0.0)


def test_concurrent_throttles_answers_and_takers_keep_the_rate_within_its_bounds():
    clock = FakeClock()
    rate = AdaptiveRate(5.0, clock=clock, rng=lambda: 0.5)
    rounds, threads = 300, 8
    seen: list[float] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(rounds):
                rate.wait_for()
                rate.reserve()
                if (i + n) % 3 == 0:
                    rate.throttled()
                else:
                    rate.answered()
                clock.advance(0.01)
                current = rate.rate
                if current is not None:
                    seen.append(current)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    expected = sum(1 for n in range(threads) for i in range(rounds) if (i + n) % 3 == 0)
    assert rate.throttles == expected
    assert seen and all(ADAPTIVE_MIN_RATE <= r <= 5.0 for r in seen)


def test_the_ec2_limiter_waits_for_the_longer_of_its_bucket_and_its_adaptive_rate():
    clock = FakeClock()
    limiter = RateLimiter.for_ec2(RATES, clock=clock, sleep=clock.sleep, rng=lambda: 0.0)
    assert limiter.acquire("AssignPrivateIpAddresses") == 0.0
    limiter.throttled("AssignPrivateIpAddresses")
    stats = limiter.stats().classes
    assert stats[ALLOCATE].throttles == 1
    assert stats[ALLOCATE].adaptive_rate == pytest.approx(0.125)
    assert stats[MUTATING].adaptive_rate is None
    before = limiter.bucket(ALLOCATE).available()
    with pytest.raises(RateLimitTimeout) as raised:
        limiter.acquire("CreateNetworkInterface", timeout=5.0)
    assert raised.value.needed == pytest.approx(8.0)
    assert limiter.bucket(ALLOCATE).available() == before  # nothing reserved
    assert clock.slept == []
    assert limiter.acquire("CreateNetworkInterface", timeout=10.0) == pytest.approx(8.0)
    assert clock.slept == [pytest.approx(8.0)]
    assert limiter.acquire("AttachNetworkInterface") == 0.0  # another class: not cut


def test_the_gce_limiter_is_not_adaptive():
    limiter = RateLimiter.for_gce(RATES)
    limiter.throttled("instances.get")
    assert limiter.adaptive(GCE) is None
    assert limiter.stats().classes[GCE].throttles == 1
