"""The pool loop's decision record: one entry per distinct tick, its outcome, and jobs that
run on the loop's own thread."""

from __future__ import annotations

import threading

import pytest

from ipamd.decisions import ActionKind, DecisionLog, Outcome, PoolAction, PoolEvent
from providers.errors import CapacityExhausted, CloudUnavailable
from sandbox.clock import FakeClock
from tests.unit.ipamd.test_poolloop import make_node


def outcomes(node) -> list[tuple[str, int]]:
    return [(e.outcome.value, e.repeats) for e in node.loop.decisions.events()]


def test_equal_ticks_in_a_row_fold_into_one_entry_that_counts_them():
    clock = FakeClock(1000.0)
    log = DecisionLog(wall_clock=clock)
    log.record(Outcome.ON_TARGET, (), ("on target",))
    clock.advance(5)
    log.record(Outcome.ON_TARGET, (), ("on target",))
    clock.advance(5)
    folded = log.record(Outcome.ON_TARGET, (), ("on target",))
    assert (folded.at, folded.last_at, folded.repeats) == (1000.0, 1010.0, 3)
    log.record(Outcome.BLOCKED, (), ("at max pods",))
    assert [(e.outcome, e.repeats) for e in log.events()] == [
        (Outcome.ON_TARGET, 3),
        (Outcome.BLOCKED, 1),
    ]


def test_quiet_ticks_with_moving_counts_fold_and_keep_the_latest_reasons():
    log = DecisionLog(wall_clock=FakeClock(0.0))
    log.record(Outcome.ON_TARGET, (), ("5 available; on target",))
    folded = log.record(Outcome.ON_TARGET, (), ("4 available; on target",))
    assert (folded.repeats, folded.reasons) == (2, ("4 available; on target",))
    assert len(log.events()) == 1


def test_ticks_that_did_something_never_fold_and_old_entries_fall_off():
    log = DecisionLog(keep=3, wall_clock=FakeClock(0.0))
    grow = (PoolAction(ActionKind.GROW, "eni-1", 1),)
    for _ in range(4):
        log.record(Outcome.GREW, grow, ("short by 1",))
    assert [e.repeats for e in log.events()] == [1, 1, 1]
    assert len(log.events(last=2)) == 2


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (PoolAction(ActionKind.GROW, "eni-1", 3), "added 3 blocks to eni-1"),
        (PoolAction(ActionKind.CREATE_INTERFACE, "eni-2", 9), "created eni-2 with 9 blocks"),
        (PoolAction(ActionKind.RELEASE, "eni-1", 2), "released 2 blocks of eni-1"),
        (PoolAction(ActionKind.REMOVE_INTERFACE, "eni-2", 9), "removed eni-2 (9 blocks)"),
    ],
)
def test_actions_read_as_sentences(action: PoolAction, text: str):
    assert str(action) == text


def test_the_loop_records_growth_then_rest_then_shrinking():
    node = make_node()
    node.loop.tick()
    node.loop.tick()
    node.loop.tick()
    node.add_pods(3)
    node.loop.tick()
    node.delete_pods(3)
    node.clock.advance(31)
    node.loop.tick()  # the new interface is too young to go: warmpool wants nothing yet
    node.clock.advance(60)
    node.loop.tick()
    assert outcomes(node) == [
        ("grew", 1),
        ("on-target", 2),
        ("grew", 1),
        ("on-target", 1),
        ("shrank", 1),
    ]
    shrank = node.loop.decisions.events()[-1]
    assert shrank.actions[0].kind is ActionKind.REMOVE_INTERFACE
    assert shrank.actions[0].blocks == 9


def test_a_shrink_held_back_by_the_shrink_interval_is_waiting():
    node = make_node({"WARM_IP_TARGET": "2", "MINIMUM_IP_TARGET": "2"}, cooldown=5)
    node.loop.tick()
    node.add_pods(2)
    node.loop.tick()
    node.delete_pods(2)
    node.clock.advance(6)
    node.loop.tick()
    node.add_pods(2, start=10)
    node.loop.tick()
    node.delete_pods(2, start=10)
    node.clock.advance(6)
    node.loop.tick()  # over target, but the last shrink was 6 s ago
    assert outcomes(node)[-1] == ("waiting", 1)
    assert node.store.counts().total == 4


def test_blocked_and_failed_ticks_say_why():
    node = make_node()
    node.provider.fail("grow", CloudUnavailable("503", code="Unavailable"))
    node.loop.tick()
    node.provider.fail("grow", CapacityExhausted("full", code="InsufficientFreeAddressesInSubnet"))
    node.loop.tick()
    node.loop.tick()
    failed, blocked = node.loop.decisions.events()
    assert failed.outcome is Outcome.FAILED and "cloud error" in failed.reasons[-1]
    assert blocked.outcome is Outcome.BLOCKED and blocked.repeats == 2
    assert "InsufficientFreeAddressesInSubnet" in blocked.reasons[-1]


def test_the_decided_hook_hears_every_tick_and_cannot_break_the_loop():
    heard: list[PoolEvent] = []
    node = make_node()
    node.loop.hooks = type(node.loop.hooks)(decided=heard.append)
    node.loop.tick()
    node.loop.tick()
    assert [e.repeats for e in heard] == [1, 1]  # the second is the folded on-target record

    def broken(_event: object) -> None:
        raise RuntimeError("observer bug")

    node.loop.hooks = type(node.loop.hooks)(decided=broken)
    node.loop.tick()
    assert node.loop.decisions.events()[-1].repeats == 2


def test_a_job_runs_on_the_loops_thread_and_returns_or_raises():
    node = make_node()
    node.loop.timing = type(node.loop.timing)(pool_interval=60)
    node.loop.start()
    try:
        assert node.loop.run_in_loop(threading.current_thread, timeout=10).name == "pool-loop"

        def broken() -> None:
            raise ValueError("job failed")

        with pytest.raises(ValueError, match="job failed"):
            node.loop.run_in_loop(broken, timeout=10)
    finally:
        node.loop.stop()


def test_a_job_on_a_stopped_loop_still_runs_at_once():
    node = make_node()
    assert node.loop.run_in_loop(lambda: 42, timeout=1) == 42
