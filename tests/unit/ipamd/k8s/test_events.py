"""Events on the Node: at most one post per reason per interval, the next one counting those
held back; posted from a thread of its own, which drops instead of blocking or dying."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ipamd.k8s.errors import Unavailable
from ipamd.k8s.events import COMPONENT, EVENT_NAMESPACE, QUEUE_SIZE, EventRecorder
from sandbox.clock import FakeClock
from tests.unit.ipamd.k8s.support import NODE, WAIT, wait_until

INTERVAL = 600.0


class Posts:
    """The API server as the recorder sees it: stores what it is given; can be told to fail
    or to hang (as a slow API server does)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.fail = False
        self.entered = threading.Event()
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()

    def __call__(self, namespace: str, event: dict[str, Any]) -> None:
        self.entered.set()
        self.hold.wait(WAIT)
        if self.fail:
            raise Unavailable("create events: 503 Service Unavailable", status=503)
        with self._lock:
            self.received.append((namespace, event))

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for _, event in self.received]


@pytest.fixture
def posts() -> Posts:
    return Posts()


@pytest.fixture
def recorder(posts: Posts, clock: FakeClock) -> Iterator[EventRecorder]:
    recorder = EventRecorder(posts, NODE, lambda: "uid-node-a", interval=INTERVAL, clock=clock)
    recorder.start()
    yield recorder
    posts.hold.set()
    recorder.stop()


def settled(recorder: EventRecorder, handled: int) -> Callable[[], bool]:
    return lambda: recorder.posted + recorder.dropped >= handled


def test_a_reason_is_posted_at_most_once_per_interval(
    recorder: EventRecorder, posts: Posts, clock: FakeClock
):
    assert recorder.record("SubnetExhausted", "the subnet has no room")
    assert not recorder.record("SubnetExhausted", "the subnet has no room")
    clock.advance(INTERVAL - 1)
    assert not recorder.record("SubnetExhausted", "the subnet has no room")
    wait_until("one post", settled(recorder, 1))
    assert len(posts.events()) == 1
    assert posts.events()[0]["count"] == 1


def test_the_next_post_counts_the_ones_held_back(
    recorder: EventRecorder, posts: Posts, clock: FakeClock
):
    recorder.record("SubnetExhausted", "first")
    for _ in range(4):
        clock.advance(10)
        recorder.record("SubnetExhausted", "held back")
    clock.advance(INTERVAL)
    assert recorder.record("SubnetExhausted", "after the interval")
    clock.advance(INTERVAL)
    assert recorder.record("SubnetExhausted", "nothing held back since")
    wait_until("three posts", settled(recorder, 3))
    sent = posts.events()
    assert [(e["message"], e["count"]) for e in sent] == [
        ("first", 1),
        ("after the interval", 5),
        ("nothing held back since", 1),
    ]


def test_the_interval_counts_from_the_last_post(
    recorder: EventRecorder, posts: Posts, clock: FakeClock
):
    recorder.record("SubnetExhausted", "first")
    clock.advance(INTERVAL / 2)
    recorder.record("SubnetExhausted", "held back")
    clock.advance(INTERVAL / 2)  # an interval after the first post, not the held-back one
    assert recorder.record("SubnetExhausted", "second")
    wait_until("two posts", settled(recorder, 2))


def test_different_reasons_are_limited_independently(
    recorder: EventRecorder, posts: Posts, clock: FakeClock
):
    assert recorder.record("SubnetExhausted", "no room")
    assert recorder.record("MissingPermission", "ec2:AssignPrivateIpAddresses")
    assert not recorder.record("SubnetExhausted", "no room")
    assert recorder.record("ENIConfigMissing", "zone-a")
    clock.advance(INTERVAL)
    assert recorder.record("MissingPermission", "ec2:AssignPrivateIpAddresses")
    wait_until("four posts", settled(recorder, 4))
    reasons = [(e["reason"], e["count"]) for e in posts.events()]
    assert sorted(reasons) == [
        ("ENIConfigMissing", 1),
        ("MissingPermission", 1),
        ("MissingPermission", 1),
        ("SubnetExhausted", 1),
    ]


def test_the_event_is_about_the_node_in_the_default_namespace(
    recorder: EventRecorder, posts: Posts
):
    recorder.record("SubnetExhausted", "the subnet has no room")
    recorder.record("LeakedAddressesReleased", "released 2 addresses", warning=False)
    wait_until("two posts", settled(recorder, 2))
    assert [namespace for namespace, _ in posts.received] == [EVENT_NAMESPACE] * 2
    assert EVENT_NAMESPACE == "default"
    warning, normal = posts.events()
    assert warning["apiVersion"] == "v1"
    assert warning["kind"] == "Event"
    assert warning["metadata"] == {"generateName": "node-a.", "namespace": "default"}
    assert warning["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Node",
        "name": NODE,
        "uid": "uid-node-a",
    }
    assert (warning["reason"], warning["message"], warning["type"]) == (
        "SubnetExhausted",
        "the subnet has no room",
        "Warning",
    )
    assert (normal["reason"], normal["type"]) == ("LeakedAddressesReleased", "Normal")
    assert warning["source"] == {"component": COMPONENT, "host": NODE}
    assert warning["reportingComponent"] == COMPONENT == "vpc-ipamd"
    assert warning["reportingInstance"] == NODE
    assert warning["firstTimestamp"] == warning["lastTimestamp"]
    assert warning["firstTimestamp"].endswith("Z")


def test_the_node_name_stands_in_for_an_unknown_uid(posts: Posts, clock: FakeClock):
    recorder = EventRecorder(posts, NODE, lambda: "", interval=INTERVAL, clock=clock)
    recorder.start()
    try:
        recorder.record("SubnetExhausted", "no room")
        wait_until("a post", settled(recorder, 1))
    finally:
        recorder.stop()
    assert posts.events()[0]["involvedObject"]["uid"] == NODE


def test_a_failed_post_is_dropped_and_the_thread_goes_on(
    recorder: EventRecorder, posts: Posts, clock: FakeClock
):
    posts.fail = True
    recorder.record("SubnetExhausted", "no room")
    recorder.record("MissingPermission", "denied")
    wait_until("two failed posts", settled(recorder, 2))
    assert (recorder.posted, recorder.dropped) == (0, 2)
    posts.fail = False
    recorder.record("ENIConfigMissing", "zone-a")
    wait_until("a post after the failures", lambda: recorder.posted == 1)
    assert [e["reason"] for e in posts.events()] == ["ENIConfigMissing"]
    # a dropped post still counts as the reason's post for the interval
    assert not recorder.record("SubnetExhausted", "no room")


def test_a_full_queue_drops_instead_of_blocking(recorder: EventRecorder, posts: Posts):
    posts.hold.clear()  # the API server hangs
    recorder.record("Reason-0", "taken by the thread")
    assert posts.entered.wait(WAIT)
    for n in range(1, QUEUE_SIZE + 1):
        assert recorder.record(f"Reason-{n}", "queued")
    started = time.monotonic()
    assert not recorder.record("Reason-overflow", "no room in the queue")
    assert time.monotonic() - started < 0.5
    assert recorder.dropped == 1
    posts.hold.set()
    wait_until("the queue drained", lambda: recorder.posted == QUEUE_SIZE + 1)
    assert "Reason-overflow" not in {e["reason"] for e in posts.events()}


def test_stop_ends_the_thread(posts: Posts, clock: FakeClock):
    recorder = EventRecorder(posts, NODE, lambda: "", interval=INTERVAL, clock=clock)
    recorder.start()
    recorder.record("SubnetExhausted", "no room")
    started = time.monotonic()
    recorder.stop()
    assert time.monotonic() - started < 2.0
    assert recorder.posted == 1  # what was queued before stop went out first
    assert not any(t.name == "k8s-events" and t.is_alive() for t in threading.enumerate())
