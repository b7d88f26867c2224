"""How a node calls EC2: our limiter and full-jitter retries, a naive client, the AWS SDK's."""

from __future__ import annotations

import random

import pytest

import providers.ratelimit as real
from sandbox.clock import FakeClock
from warmpool.sim import AWS_SDK, NAIVE, Account, CloudModel, Engine, Outcome, Shape, our_client
from warmpool.sim import cloud as ec2
from warmpool.sim.client import (
    ADAPTIVE,
    ALLOCATE,
    Adaptive,
    AdaptiveRate,
    Backoff,
    CloudClient,
    limiter_class,
)
from warmpool.sim.engine import Proc


def run_call(
    client: CloudClient, action: str, results: list[tuple[float, Outcome]], addresses: int = 0
) -> Proc:
    outcome = yield from client.call(action, addresses=addresses)
    results.append((client.engine.now, outcome))


def one_call(model, cloud: CloudModel, action: str = ec2.ASSIGN, addresses: int = 0):
    engine = Engine()
    client = CloudClient(engine, Account(cloud), model, random.Random(7))
    results: list[tuple[float, Outcome]] = []
    engine.spawn(run_call(client, action, results, addresses))
    engine.run(10_000.0)
    return client, results


THROTTLING = CloudModel(buckets={ec2.ASSIGN: Shape(1, 0.0)})
"""An account whose AssignPrivateIpAddresses bucket is empty after one call, for good."""


def drained(model) -> tuple[CloudClient, list[tuple[float, Outcome]]]:
    engine = Engine()
    client = CloudClient(engine, Account(THROTTLING), model, random.Random(7))
    client.account.request(0.0, ec2.ASSIGN, filtered=True, addresses=0)
    results: list[tuple[float, Outcome]] = []
    engine.spawn(run_call(client, ec2.ASSIGN, results))
    engine.run(10_000.0)
    return client, results


def test_a_successful_call_takes_the_actions_latency():
    client, results = one_call(our_client(), CloudModel())
    assert results == [(0.5, Outcome.OK)]
    assert client.stats.requests[ec2.ASSIGN] == 1 and client.stats.mutating == 1


def test_our_client_retries_a_throttled_call_five_times_within_its_deadline():
    client, results = drained(our_client(adaptive=None))  # one call's retries alone
    assert results[0][1] is Outcome.THROTTLED
    assert client.stats.throttled[ec2.ASSIGN] == 5
    # four full-jitter sleeps of at most 0.2, 0.4, 0.8, 1.6 s, plus five quick refusals
    assert results[0][0] <= 0.2 + 0.4 + 0.8 + 1.6 + 5 * THROTTLING.throttle_latency


def test_our_client_stops_retrying_at_its_deadline():
    client, results = drained(our_client(attempts=100, deadline=5.0, adaptive=None))
    assert results[0][0] < 5.0 + THROTTLING.throttle_latency
    assert 5 < client.stats.throttled[ec2.ASSIGN] < 100


def test_the_naive_client_retries_at_once():
    client, results = drained(NAIVE)
    assert client.stats.throttled[ec2.ASSIGN] == 10
    assert results[0][0] == pytest.approx(10 * THROTTLING.throttle_latency)


def test_the_sdk_client_backs_off_exponentially_then_twenty_seconds():
    rng = random.Random(1)
    assert all(0 <= AWS_SDK.backoff.delay(n, rng) < 2**n for n in range(1, 5) for _ in range(50))
    assert AWS_SDK.backoff.delay(5, rng) == 20.0 and AWS_SDK.backoff.delay(9, rng) == 20.0


def test_full_jitter_stays_under_its_ceiling():
    backoff, rng = Backoff("full-jitter", 0.2, 10.0), random.Random(3)
    for retry in range(1, 12):
        ceiling = min(10.0, 0.2 * 2 ** (retry - 1))
        assert all(0 <= backoff.delay(retry, rng) <= ceiling for _ in range(50))


def test_our_limiter_makes_a_node_wait_for_its_own_token_before_asking_ec2():
    model = our_client(allocate=Shape(1, 0.5))
    engine = Engine()
    client = CloudClient(engine, Account(CloudModel()), model, random.Random(1))
    results: list[tuple[float, Outcome]] = []
    for _ in range(3):
        engine.spawn(run_call(client, ec2.ASSIGN, results))
    engine.run(100.0)
    # one token at once, then one every 2 s, each call then taking 0.5 s
    assert results == [(0.5, Outcome.OK), (2.5, Outcome.OK), (4.5, Outcome.OK)]


def test_a_limiter_wait_past_the_deadline_fails_without_asking_ec2():
    model = our_client(allocate=Shape(1, 0.01), deadline=30.0)
    engine = Engine()
    client = CloudClient(engine, Account(CloudModel()), model, random.Random(1))
    results: list[tuple[float, Outcome]] = []
    engine.spawn(run_call(client, ec2.ASSIGN, results))
    engine.spawn(run_call(client, ec2.CREATE, results))
    engine.run(100.0)
    # the second would wait 100 s for its token: it fails at once, the first goes through
    assert results == [(0.0, Outcome.CLIENT_TIMEOUT), (0.5, Outcome.OK)]
    assert client.stats.limiter_timeouts == 1 and client.stats.requests[ec2.CREATE] == 0


def test_actions_are_classed_as_providers_ratelimit_classes_them():
    assert limiter_class(ec2.ASSIGN) == limiter_class(ec2.CREATE) == ALLOCATE
    assert limiter_class(ec2.DESCRIBE_ENIS) == "describe"
    assert limiter_class(ec2.ATTACH) == limiter_class(ec2.UNASSIGN) == "mutating"


def test_a_subnet_without_room_is_final_at_once():
    client, results = one_call(our_client(), CloudModel(subnet_addresses=8), addresses=9)
    engine_time, outcome = results[0]
    assert outcome is Outcome.NO_ADDRESSES and client.stats.requests[ec2.ASSIGN] == 1
    assert engine_time == CloudModel().throttle_latency


# -- the adaptive rate: the model against providers.ratelimit.AdaptiveRate -------------


def test_the_models_adaptive_constants_are_the_real_clients():
    assert (
        Adaptive(
            beta=real.ADAPTIVE_BETA,
            min_rate=real.ADAPTIVE_MIN_RATE,
            window=real.ADAPTIVE_WINDOW,
            jitter=real.ADAPTIVE_JITTER,
            scale=real.ADAPTIVE_SCALE,
        )
        == ADAPTIVE
    )
    assert real.AdaptiveParams() == real.ADAPTIVE
    assert our_client().adaptive == ADAPTIVE


def test_the_model_and_the_real_adaptive_rate_agree_step_by_step():
    """The same attempts, throttles and answers at the same times, the same jitter draws:
    the same waits and rates, in the model (virtual time) and in the daemon's code."""
    draws = random.Random(5)
    events = []
    t = 0.0
    for _ in range(400):
        t += draws.choice((0.05, 0.3, 1.0, 4.0, 20.0))
        events.append((t, draws.choice(("reserve", "throttled", "answered", "answered"))))
    us = [draws.random() for _ in events]
    clock = FakeClock(0.0)
    draw = [0.0]
    ours = real.AdaptiveRate(5.0, clock=clock, rng=lambda: draw[0])
    model = AdaptiveRate(ADAPTIVE, 5.0, 0.0)
    for (at, event), u in zip(events, us, strict=True):
        clock.advance(at - clock.now())
        draw[0] = u
        if event == "reserve":
            assert ours.wait_for() == pytest.approx(model.wait_for(at), abs=1e-9)
            ours.reserve()
            model.reserve(at)
        elif event == "throttled":
            ours.throttled()
            model.throttled(at, u)
        else:
            ours.answered()
            model.answered(at)
        assert ours.limited == model.limited
        if model.limited:
            assert ours.rate == pytest.approx(model.rate)
        assert ours.wait_for() == pytest.approx(model.wait_for(at), abs=1e-9)
    assert ours.throttles == sum(1 for _, e in events if e == "throttled")


def test_a_throttle_holds_the_classs_next_call_back_not_just_the_retry():
    engine = Engine()
    client = CloudClient(engine, Account(THROTTLING), our_client(attempts=1), random.Random(7))
    client.account.request(0.0, ec2.ASSIGN, filtered=True, addresses=0)
    results: list[tuple[float, Outcome]] = []
    engine.spawn(run_call(client, ec2.ASSIGN, results))
    engine.run(1.0)
    assert results == [(THROTTLING.throttle_latency, Outcome.THROTTLED)]
    adaptive = client.adaptive
    assert adaptive is not None and adaptive[ALLOCATE].limited
    wait = adaptive[ALLOCATE].wait_for(engine.now)
    assert 1 / 0.125 - 0.1 <= wait <= 2 / 0.125  # between one and two 8 s intervals
    engine.spawn(run_call(client, ec2.CREATE, results))  # the same class, another call
    engine.spawn(run_call(client, ec2.ATTACH, results))  # another class: at once
    engine.run(100.0)
    assert results[1][1] is Outcome.OK and results[1][0] == pytest.approx(1.0 + 0.75)
    assert results[2][1] is Outcome.OK and results[2][0] == pytest.approx(1.0 + wait + 0.3)


def test_a_never_throttled_node_calls_exactly_as_without_the_adaptive_rate():
    timings = []
    for model in (our_client(), our_client(adaptive=None)):
        engine = Engine()
        client = CloudClient(engine, Account(CloudModel()), model, random.Random(1))
        results: list[tuple[float, Outcome]] = []
        for action in (ec2.ASSIGN, ec2.CREATE, ec2.ATTACH, ec2.DESCRIBE_ENIS) * 40:
            engine.spawn(run_call(client, action, results))
        engine.run(1000.0)
        timings.append(results)
    assert timings[0] == timings[1]
