"""The event engine: time order, ties in scheduling order, processes that sleep and wait."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from warmpool.sim import Engine, Signal, Wait
from warmpool.sim.engine import Proc


def test_events_run_in_time_order_and_ties_in_scheduling_order():
    engine, seen = Engine(), []

    def note(name: str) -> Callable[[], None]:
        return lambda: seen.append((engine.now, name))

    for name, at in (("c", 2.0), ("a", 1.0), ("b1", 1.5), ("b2", 1.5), ("b3", 1.5)):
        engine.at(at, note(name))
    engine.run(10.0)
    assert seen == [(1.0, "a"), (1.5, "b1"), (1.5, "b2"), (1.5, "b3"), (2.0, "c")]
    assert engine.now == 10.0


def test_run_stops_at_the_horizon_and_resumes_later():
    engine, seen = Engine(), []
    engine.at(5.0, lambda: seen.append("early"))
    engine.at(15.0, lambda: seen.append("late"))
    engine.run(10.0)
    assert seen == ["early"] and engine.pending == 1
    engine.run(20.0)
    assert seen == ["early", "late"]


def test_an_event_in_the_past_runs_now():
    engine, seen = Engine(), []
    engine.run(5.0)
    engine.at(1.0, lambda: seen.append(engine.now))
    engine.run(6.0)
    assert seen == [5.0]


def test_a_process_sleeps_in_virtual_time():
    engine, seen = Engine(), []

    def body() -> Proc:
        seen.append(engine.now)
        yield 2.5
        seen.append(engine.now)
        yield 0.0
        seen.append(engine.now)

    process = engine.spawn(body(), at=1.0)
    engine.run(100.0)
    assert seen == [1.0, 3.5, 3.5]
    assert process.done


def test_a_wait_ends_early_when_its_signal_is_set_and_its_timeout_is_then_ignored():
    engine = Engine()
    signal = Signal(engine)
    seen: list[tuple[float, bool | None]] = []

    def body() -> Proc:
        woken = yield Wait(signal, 10.0)
        seen.append((engine.now, woken))
        signal.clear()
        woken = yield Wait(signal, 3.0)
        seen.append((engine.now, woken))

    engine.spawn(body())
    engine.at(4.0, signal.set)
    engine.run(100.0)
    # woken at 4 by the signal; the stale timeout at 10 does not resume the second wait
    assert seen == [(4.0, True), (7.0, False)]


def test_a_wait_on_a_signal_already_set_returns_at_once():
    engine = Engine()
    signal = Signal(engine)
    signal.set()
    seen: list[tuple[float, bool | None]] = []

    def body() -> Proc:
        seen.append((engine.now, (yield Wait(signal, 5.0))))

    engine.spawn(body(), at=2.0)
    engine.run(10.0)
    assert seen == [(2.0, True)]


def test_a_negative_sleep_is_refused():
    engine = Engine()

    def body() -> Proc:
        yield -1.0

    engine.spawn(body())
    with pytest.raises(ValueError, match="negative"):
        engine.run(1.0)
