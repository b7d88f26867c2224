"""Watches through the real client's ``Watch().stream``: ordered events for one node's pods,
resuming from a resourceVersion, 410 after compaction, and watches that end on time, when
the emulator stops, and when it becomes unavailable. Every watch is bounded (<= 5 s)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiException

from sandbox.kube import KubeEmulator

Watch: Any = watch.Watch  # untyped in the client


def _collect(stream: Any, count: int) -> list[tuple[str, str]]:
    seen = []
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == count:
            break
    return seen


def test_watch_sees_one_nodes_pods_in_order(kube: KubeEmulator, core: Any) -> None:
    kube.add_pod("default", "before", "node-a", ip="10.0.1.4")
    listed = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")
    since = listed.metadata.resource_version

    def churn() -> None:
        kube.add_pod("default", "other-node", "node-b")
        kube.add_pod("default", "p1", "node-a")
        kube.update_pod("default", "other-node", phase="Failed")
        kube.update_pod("default", "p1", ip="10.0.1.5")
        kube.delete_pod("default", "other-node")
        kube.delete_pod("default", "p1")

    watcher = Watch()
    stream = watcher.stream(
        core.list_pod_for_all_namespaces,
        field_selector="spec.nodeName=node-a",
        resource_version=since,
        timeout_seconds=5,
    )
    threading.Timer(0.1, churn).start()
    events = []
    for event in stream:
        events.append(event)
        if len(events) == 3:
            watcher.stop()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "p1"),
        ("MODIFIED", "p1"),
        ("DELETED", "p1"),
    ]
    assert events[1]["object"].status.pod_ip == "10.0.1.5"
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and versions[0] > int(since)
    assert watcher.resource_version == str(versions[-1])
    assert kube.call_count("watch", "pods") == 1


def test_watch_without_resource_version_starts_with_what_exists(
    kube: KubeEmulator, core: Any
) -> None:
    kube.add_node("node-a")
    kube.add_node("node-b")
    stream = Watch().stream(
        core.list_node, field_selector="metadata.name=node-b", timeout_seconds=1
    )
    assert _collect(stream, 1) == [("ADDED", "node-b")]


def test_watch_replays_retained_changes(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-z")
    start = str(kube.resource_version)  # ("0" would mean "any": the current state as ADDED)
    kube.add_node("node-a")
    core.patch_node("node-a", {"metadata": {"labels": {"x": "1"}}})
    stream = Watch().stream(core.list_node, resource_version=start, timeout_seconds=2)
    assert _collect(stream, 2) == [("ADDED", "node-a"), ("MODIFIED", "node-a")]


def test_selector_transitions_read_as_added_and_deleted(kube: KubeEmulator, core: Any) -> None:
    kube.add_pod("default", "moving", "")
    since = str(kube.resource_version)
    kube.update_pod("default", "moving", node="node-a")  # scheduled onto node-a
    kube.update_pod("default", "moving", node="node-b")  # (not a real move; a selector test)
    stream = Watch().stream(
        core.list_namespaced_pod,
        "default",
        field_selector="spec.nodeName=node-a",
        resource_version=since,
        timeout_seconds=2,
    )
    assert _collect(stream, 2) == [("ADDED", "moving"), ("DELETED", "moving")]


def test_watch_from_compacted_version_raises_410(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a")
    old = str(kube.resource_version)
    core.patch_node("node-a", {"metadata": {"labels": {"x": "1"}}})
    kube.compact()
    # With timeout_seconds the client does not retry: the ERROR event (a 410 Status) becomes
    # ApiException(status=410).
    with pytest.raises(ApiException) as caught:
        list(Watch().stream(core.list_node, resource_version=old, timeout_seconds=2))
    assert caught.value.status == 410
    assert "Expired" in caught.value.reason
    # Without it the client retries once from the same version, then raises the same.
    kube.reset_calls()
    with pytest.raises(ApiException) as again:
        list(Watch().stream(core.list_node, resource_version=old))
    assert again.value.status == 410
    assert kube.call_count("watch", "nodes") == 2
    # The raw stream is one ERROR event with the Status object.
    raw = core.list_node(watch=True, resource_version=old, _preload_content=False)
    assert raw.status == 200
    assert b'"type":"ERROR"' in raw.data and b'"code":410' in raw.data
    # The current version is fine.
    current = str(kube.resource_version)
    assert list(Watch().stream(core.list_node, resource_version=current, timeout_seconds=1)) == []


def test_exact_list_of_a_compacted_version_is_http_410(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a")
    old = str(kube.resource_version)
    kube.add_node("node-b")
    kube.compact()
    with pytest.raises(ApiException) as caught:
        core.list_node(resource_version=old, resource_version_match="Exact")
    assert caught.value.status == 410
    assert len(core.list_node(resource_version=old).items) == 2  # NotOlderThan: served


def test_watch_ends_at_its_timeout(kube: KubeEmulator, core: Any) -> None:
    started = time.monotonic()
    events = list(Watch().stream(core.list_node, resource_version="1", timeout_seconds=1))
    assert events == []
    assert 0.9 <= time.monotonic() - started < 3


def _watch_in_thread(
    core: Any,
) -> tuple[threading.Thread, list[Any], list[BaseException]]:
    events: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for event in Watch().stream(core.list_node, timeout_seconds=5):
                events.append(event)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, events, errors


def test_stop_ends_open_watches() -> None:
    kube = KubeEmulator().start()
    api = kube.api_client()
    try:
        kube.add_node("node-a")
        thread, events, _ = _watch_in_thread(client.CoreV1Api(api))
        deadline = time.monotonic() + 3
        while not events and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        kube.stop()
        thread.join(timeout=3)
        assert not thread.is_alive()
        assert time.monotonic() - started < 2
        assert [e["type"] for e in events] == ["ADDED"]
    finally:
        kube.stop()
        api.close()


def test_unavailable_ends_open_watches_and_answers_503(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a")
    thread, events, errors = _watch_in_thread(core)
    deadline = time.monotonic() + 3
    while not events and time.monotonic() < deadline:
        time.sleep(0.02)
    kube.set_unavailable(True)
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert [e["type"] for e in events] == ["ADDED"]
    # timeout_seconds disables the client's re-watch, so the stream just ends.
    assert errors == []
    with pytest.raises(ApiException) as caught:
        core.read_node("node-a")
    assert caught.value.status == 503
    with pytest.raises(ApiException) as watch_caught:
        list(Watch().stream(core.list_node, timeout_seconds=1))
    assert watch_caught.value.status == 503
    kube.set_unavailable(False)
    assert core.read_node("node-a").metadata.name == "node-a"
    assert kube.call_count("get", "nodes") == 2
