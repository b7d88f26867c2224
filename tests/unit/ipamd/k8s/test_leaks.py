"""Leak judgement: an allocation's pod gone (absent, finished, replaced) for the whole grace
period, counted only while the pod list is in sync."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from ipamd.k8s.leaks import LeakTracker, pod_gone
from ipamd.k8s.podinfo import PodInfo
from ipamd.model import Allocation, AllocationKey, PodRef
from sandbox.clock import FakeClock

GRACE = 30.0


def allocation(n: int, pod: PodRef, *, recovered: bool = False) -> Allocation:
    return Allocation(
        key=AllocationKey("pod-net", f"container-{n}", "eth0"),
        pod=pod,
        address=IPv4Address(f"10.0.1.{n}"),
        interface_id="eni-0",
        block=IPv4Network("10.0.1.0/28"),
        assigned_at=0.0,
        recovered=recovered,
    )


def running(name: str, uid: str = "", phase: str = "Running") -> PodInfo:
    return PodInfo("default", name, uid, phase, "10.0.1.9", False, False)


def pods(*infos: PodInfo) -> dict[tuple[str, str], PodInfo]:
    return {info.key: info for info in infos}


WEB = allocation(1, PodRef("default", "web-1", "uid-1"))
API = allocation(2, PodRef("default", "api-1", "uid-2"))


@pytest.fixture
def tracker(clock: FakeClock) -> LeakTracker:
    return LeakTracker(GRACE, clock)


def test_an_allocation_whose_pod_is_gone_is_due_only_after_the_grace(
    tracker: LeakTracker, clock: FakeClock
):
    assert tracker.due([WEB], {}, synced=True) == []
    assert tracker.watching == 1
    clock.advance(GRACE - 0.5)
    assert tracker.due([WEB], {}, synced=True) == []
    clock.advance(0.5)
    assert tracker.due([WEB], {}, synced=True) == [WEB]


def test_an_allocation_whose_pod_is_there_is_never_due(tracker: LeakTracker, clock: FakeClock):
    present = pods(running("web-1", "uid-1"))
    for _ in range(3):
        assert tracker.due([WEB], present, synced=True) == []
        clock.advance(GRACE)
    assert tracker.watching == 0


def test_a_due_allocation_stays_due_until_it_is_released(tracker: LeakTracker, clock: FakeClock):
    tracker.due([WEB], {}, synced=True)
    clock.advance(GRACE)
    assert tracker.due([WEB], {}, synced=True) == [WEB]
    assert tracker.due([WEB], {}, synced=True) == [WEB]  # the reclaim failed: try again
    assert tracker.due([], {}, synced=True) == []  # released: forgotten
    assert tracker.watching == 0


def test_any_loss_of_sync_restarts_the_grace(tracker: LeakTracker, clock: FakeClock):
    tracker.due([WEB], {}, synced=True)
    clock.advance(GRACE - 1)
    assert tracker.due([WEB], {}, synced=False) == []
    assert tracker.watching == 0
    clock.advance(2)  # the grace has passed since the pod went, but sync was lost meanwhile
    assert tracker.due([WEB], {}, synced=True) == []
    clock.advance(GRACE - 1)
    assert tracker.due([WEB], {}, synced=True) == []
    clock.advance(1)
    assert tracker.due([WEB], {}, synced=True) == [WEB]


def test_nothing_is_due_while_out_of_sync_however_long(tracker: LeakTracker, clock: FakeClock):
    tracker.due([WEB], {}, synced=True)
    for _ in range(5):
        clock.advance(GRACE)
        assert tracker.due([WEB], {}, synced=False) == []


def test_a_pod_that_comes_back_is_forgotten(tracker: LeakTracker, clock: FakeClock):
    tracker.due([WEB], {}, synced=True)
    clock.advance(GRACE - 1)
    assert tracker.due([WEB], pods(running("web-1", "uid-1")), synced=True) == []
    assert tracker.watching == 0
    clock.advance(2)
    assert tracker.due([WEB], {}, synced=True) == []  # gone again: a new grace
    clock.advance(GRACE)
    assert tracker.due([WEB], {}, synced=True) == [WEB]


def test_each_allocation_has_its_own_grace(tracker: LeakTracker, clock: FakeClock):
    tracker.due([WEB, API], pods(running("api-1", "uid-2")), synced=True)
    clock.advance(10)
    tracker.due([WEB, API], {}, synced=True)
    assert tracker.watching == 2
    clock.advance(GRACE - 10)
    assert tracker.due([WEB, API], {}, synced=True) == [WEB]
    clock.advance(10)
    assert tracker.due([WEB, API], {}, synced=True) == [WEB, API]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_is_gone(tracker: LeakTracker, clock: FakeClock, phase: str):
    finished = pods(running("web-1", "uid-1", phase=phase))
    tracker.due([WEB], finished, synced=True)
    clock.advance(GRACE)
    assert tracker.due([WEB], finished, synced=True) == [WEB]


@pytest.mark.parametrize("phase", ["Pending", "Running", "Unknown"])
def test_a_pod_not_finished_is_not_gone(phase: str):
    assert not pod_gone(WEB, running("web-1", "uid-1", phase=phase))


def test_a_pod_replaced_under_the_same_name_is_gone(tracker: LeakTracker, clock: FakeClock):
    replaced = pods(running("web-1", "uid-other"))
    tracker.due([WEB], replaced, synced=True)
    clock.advance(GRACE)
    assert tracker.due([WEB], replaced, synced=True) == [WEB]


def test_a_uid_missing_on_either_side_is_no_replacement():
    assert not pod_gone(allocation(3, PodRef("default", "web-1", "")), running("web-1", "uid-9"))
    assert not pod_gone(WEB, running("web-1", ""))
    assert pod_gone(WEB, None)


def test_allocations_without_a_pod_name_are_never_judged(tracker: LeakTracker, clock: FakeClock):
    anonymous = allocation(4, PodRef())
    namespace_only = allocation(5, PodRef("default", "", "uid-5"))
    for _ in range(3):
        assert tracker.due([anonymous, namespace_only], {}, synced=True) == []
        clock.advance(GRACE)
    assert tracker.watching == 0


def test_recovered_allocations_are_never_judged(tracker: LeakTracker, clock: FakeClock):
    recovered = allocation(6, PodRef("default", "gone-1", "uid-6"), recovered=True)
    for _ in range(3):
        assert tracker.due([recovered], {}, synced=True) == []
        clock.advance(GRACE)
    assert tracker.watching == 0


def test_a_zero_grace_judges_at_once(clock: FakeClock):
    assert LeakTracker(0.0, clock).due([WEB], {}, synced=True) == [WEB]


def test_pods_are_matched_by_namespace_and_name():
    elsewhere = PodInfo("other", "web-1", "uid-1", "Running", "10.0.1.9", False, False)
    tracker = LeakTracker(0.0, FakeClock())
    assert tracker.due([WEB], pods(elsewhere), synced=True) == [WEB]
