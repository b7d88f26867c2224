"""The cloud API's health as introspection shows it: ``CloudHealth`` fed real
``CallOutcome`` values, as ``providers.retry.CallPolicy`` reports each finished call."""

from __future__ import annotations

import threading

import pytest

from ipamd.cloudhealth import KEEP_ERRORS, MESSAGE_CAP, CloudError, CloudHealth
from providers.errors import CapacityExhausted, CloudUnavailable, Throttled
from providers.ratelimit import ClassStats, RateLimiterStats
from providers.retry import CallOutcome
from sandbox.clock import FakeClock

WALL = 1_700_000_000.0
DESCRIBE = "DescribeNetworkInterfaces"
ASSIGN = "AssignPrivateIpAddresses"


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(WALL)


@pytest.fixture
def health(wall: FakeClock) -> CloudHealth:
    return CloudHealth("aws", wall_clock=wall)


def call(
    action: str = DESCRIBE,
    *,
    seconds: float = 0.5,
    attempts: int = 1,
    throttles: int = 0,
    error: BaseException | None = None,
) -> CallOutcome:
    return CallOutcome(action, seconds, attempts, throttles, error)


def test_a_new_health_has_no_calls_no_success_and_no_error(health: CloudHealth):
    assert health.provider == "aws"
    assert health.actions() == {}
    assert health.last_success_at is None
    assert health.last_error is None
    assert health.errors() == []
    assert health.limiter is None


def test_calls_and_errors_are_counted_per_action_in_name_order(health: CloudHealth):
    health(call(DESCRIBE))
    health(call(DESCRIBE))
    health(call(ASSIGN, error=CapacityExhausted("subnet full", code="InsufficientCidrBlocks")))
    health(call(ASSIGN))
    actions = health.actions()
    assert list(actions) == [ASSIGN, DESCRIBE]
    assert actions[ASSIGN][:2] == (2, 1)
    assert actions[DESCRIBE][:2] == (2, 0)


def test_retries_are_attempts_beyond_the_first_summed_over_calls(health: CloudHealth):
    health(call(attempts=1))
    health(call(attempts=3))
    health(call(attempts=4, error=CloudUnavailable("503")))
    health(call(attempts=0, error=RuntimeError("the limiter refused before any attempt")))
    calls, _errors, _throttles, retries, _mean = health.actions()[DESCRIBE]
    assert (calls, retries) == (4, 2 + 3)


def test_throttles_are_summed_whether_the_call_ended_well_or_not(health: CloudHealth):
    health(call(attempts=3, throttles=2))
    health(call(attempts=5, throttles=5, error=Throttled("slow down", code="RequestLimitExceeded")))
    _calls, errors, throttles, retries, _mean = health.actions()[DESCRIBE]
    assert (errors, throttles, retries) == (1, 7, 6)


def test_mean_seconds_is_the_whole_calls_time_over_the_calls(health: CloudHealth):
    for seconds in (0.5, 1.0, 3.0):
        health(call(ASSIGN, seconds=seconds))
    health(call(DESCRIBE, seconds=0.25))
    assert health.actions()[ASSIGN][4] == pytest.approx(1.5)
    assert health.actions()[DESCRIBE][4] == pytest.approx(0.25)


def test_last_success_is_the_wall_time_of_the_latest_call_that_ended_well(
    health: CloudHealth, wall: FakeClock
):
    health(call())
    wall.advance(10)
    health(call(ASSIGN))
    wall.advance(10)
    health(call(error=CloudUnavailable("timed out")))  # an error does not move it
    assert health.last_success_at == WALL + 10


def test_last_error_says_when_which_action_the_clouds_code_and_its_message(
    health: CloudHealth, wall: FakeClock
):
    health(call(ASSIGN, error=CapacityExhausted("subnet full", code="InsufficientCidrBlocks")))
    wall.advance(5)
    error = CapacityExhausted(
        "no free address", code="InsufficientFreeAddressesInSubnet", operation=ASSIGN
    )
    health(call(ASSIGN, error=error))
    wall.advance(5)
    health(call(ASSIGN))  # a later success leaves the last error as it was
    assert health.last_error == CloudError(
        at=WALL + 5, action=ASSIGN, code="InsufficientFreeAddressesInSubnet", message=str(error)
    )
    assert health.errors()[0].code == "InsufficientCidrBlocks"


def test_an_error_without_a_cloud_code_is_named_by_its_type(health: CloudHealth):
    health(call(error=CloudUnavailable("connection refused")))
    health(call(error=TimeoutError("read timed out")))
    assert [(e.code, e.message) for e in health.errors()] == [
        ("CloudUnavailable", "connection refused"),
        ("TimeoutError", "read timed out"),
    ]


def test_the_last_20_errors_are_kept_oldest_first(health: CloudHealth, wall: FakeClock):
    assert KEEP_ERRORS == 20
    for n in range(KEEP_ERRORS + 5):
        health(call(error=CloudUnavailable(f"failure {n}")))
        wall.advance(1)
    errors = health.errors()
    assert [e.message for e in errors] == [f"failure {n}" for n in range(5, KEEP_ERRORS + 5)]
    assert errors[0].at == WALL + 5
    assert health.last_error == errors[-1]
    assert health.actions()[DESCRIBE][1] == KEEP_ERRORS + 5  # counts are not bounded


def test_an_error_message_is_cut_to_300_characters(health: CloudHealth):
    assert MESSAGE_CAP == 300
    health(call(error=CloudUnavailable("x" * 5000)))
    health(call(error=CloudUnavailable("short")))
    long, short = health.errors()
    assert long.message == "x" * MESSAGE_CAP
    assert short.message == "short"


def test_a_limiter_given_is_kept_for_whoever_reads_the_health(wall: FakeClock):
    stats = RateLimiterStats({"describe": ClassStats(acquired=3)})
    health = CloudHealth("gce", limiter=lambda: stats, wall_clock=wall)
    assert health.provider == "gce"
    assert health.limiter is not None and health.limiter() is stats


def test_calls_reported_from_many_threads_are_all_counted(health: CloudHealth):
    def report() -> None:
        for n in range(250):
            health(call(attempts=2, error=CloudUnavailable("x") if n % 10 == 0 else None))

    threads = [threading.Thread(target=report) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls, errors, _throttles, retries, _mean = health.actions()[DESCRIBE]
    assert (calls, errors, retries) == (2000, 200, 2000)
    assert len(health.errors()) == KEEP_ERRORS
