"""Token buckets and the per-class limiter: shape, waits computed not slept, thread safety."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError, replace

import pytest

from config import load_settings
from providers.errors import Throttled
from providers.ratelimit import (
    ALLOCATE,
    DESCRIBE,
    GCE,
    MUTATING,
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
