"""Zonal operations: a change lands when its operation completes (after the injected delay,
on the fake clock), ``wait`` is bounded, a failed operation leaves the list as it was, and
blocks asked for are reserved while the operation runs.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from sandbox.clock import FakeClock
from sandbox.gce import ComputeEmulator
from tests.emulator.gce.conftest import DONE, RUNNING, Compute, alias


def test_without_delay_the_operation_is_done_when_the_call_answers(compute: Compute):
    op = compute.update([alias("/28")])
    assert op.status == DONE
    assert compute.aliases() == ["10.4.0.0/28"]


def test_instances_get_shows_the_old_list_until_the_operation_is_done(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    compute.update([alias("10.4.0.0/28")])
    fingerprint = compute.nic().fingerprint
    gce.set_operation_delay(5.0)
    op = compute.update([alias("10.4.0.0/28"), alias("/28")])
    assert op.status == RUNNING
    clock.advance(4.9)
    assert compute.operation(op).status == RUNNING
    assert compute.aliases() == ["10.4.0.0/28"]
    assert compute.nic().fingerprint == fingerprint
    assert gce.alias_ranges("node-a") == ["10.4.0.0/28"]
    clock.advance(0.1)
    assert compute.operation(op).status == DONE
    assert compute.aliases() == ["10.4.0.0/28", "10.4.0.16/28"]
    assert compute.nic().fingerprint != fingerprint


def test_wait_returns_when_done_and_never_waits_past_its_limit(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    gce.set_operation_delay(1.5)
    op = compute.update([alias("/28")])
    start = clock.now()
    assert compute.wait(op).status == DONE  # the fake clock moved to the completion
    assert clock.now() - start == pytest.approx(1.5)
    assert compute.aliases() == ["10.4.0.0/28"]

    gce.set_operation_delay(5.0)
    op = compute.update([alias("/28"), alias("/28")])
    start = clock.now()
    assert compute.wait(op).status == RUNNING  # the 2 s limit, then the operation as is
    assert clock.now() - start == pytest.approx(2.0)
    assert compute.wait(op).status == RUNNING
    assert compute.wait(op).status == DONE
    assert clock.now() - start == pytest.approx(5.0)
    assert len(compute.aliases()) == 2


def test_wait_on_a_done_operation_answers_at_once(compute: Compute, clock: FakeClock):
    op = compute.update([alias("/28")])
    start = clock.now()
    assert compute.wait(op).status == DONE
    assert clock.now() == start


def test_a_second_update_while_one_runs_is_not_ready(gce: ComputeEmulator, compute: Compute):
    gce.set_operation_delay(5.0)
    fingerprint = compute.nic().fingerprint
    compute.update([alias("/28")], fingerprint=fingerprint)
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("/27")], fingerprint=fingerprint)
    assert [e["reason"] for e in caught.value.errors] == ["resourceNotReady"]


def test_blocks_of_a_running_operation_are_reserved(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    gce.set_operation_delay(5.0)
    compute.update([alias("/28")])
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.update([alias("10.4.0.0/28")], name="node-b")
    assert [e["reason"] for e in caught.value.errors] == ["IP_IN_USE_BY_ANOTHER_RESOURCE"]
    other = compute.update([alias("/28")], name="node-b")
    clock.advance(5.0)
    assert compute.operation(other).status == DONE
    assert compute.aliases("node-b") == ["10.4.0.16/28"]


def test_a_removed_block_stays_held_until_the_operation_is_done(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    compute.update([alias("10.4.0.0/28")])
    gce.set_operation_delay(5.0)
    compute.update([])
    with pytest.raises(exceptions.BadRequest):
        compute.update([alias("10.4.0.0/28")], name="node-b")
    clock.advance(5.0)
    compute.update([alias("10.4.0.0/28")], name="node-b")
    clock.advance(5.0)
    assert compute.aliases("node-b") == ["10.4.0.0/28"]
    assert compute.aliases() == []


def test_a_failed_operation_carries_the_error_and_changes_nothing(
    gce: ComputeEmulator, compute: Compute
):
    compute.update([alias("10.4.0.32/28")])
    fingerprint = compute.nic().fingerprint
    gce.fail_next_operation("INTERNAL_ERROR", "the control plane had a bad day")
    op = compute.update([alias("10.4.0.32/28"), alias("/28")])
    assert op.status == DONE
    [error] = op.error.errors
    assert (error.code, error.message) == ("INTERNAL_ERROR", "the control plane had a bad day")
    assert op.http_error_status_code == 400
    assert compute.aliases() == ["10.4.0.32/28"]
    assert compute.nic().fingerprint == fingerprint
    assert compute.operation(op).error.errors[0].code == "INTERNAL_ERROR"

    retried = compute.update([alias("10.4.0.32/28"), alias("/28")], fingerprint=fingerprint)
    assert not retried.error.errors  # one-shot; the reserved block was given back
    assert compute.aliases() == ["10.4.0.32/28", "10.4.0.0/28"]


def test_a_delayed_failure_ends_done_with_the_error(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    gce.set_operation_delay(3.0)
    gce.fail_next_operation("RESOURCE_OPERATION_RATE_EXCEEDED", "slow down", http_status=403)
    op = compute.update([alias("/28")])
    assert op.status == RUNNING
    assert not op.error.errors
    done = compute.wait(compute.wait(op))
    assert done.status == DONE
    assert done.error.errors[0].code == "RESOURCE_OPERATION_RATE_EXCEEDED"
    assert done.http_error_status_code == 403
    assert compute.aliases() == []


def test_an_unknown_operation_is_404(compute: Compute):
    with pytest.raises(exceptions.NotFound):
        compute.operations.get(
            project="sandbox-project", zone="us-central1-a", operation="operation-nope"
        )
