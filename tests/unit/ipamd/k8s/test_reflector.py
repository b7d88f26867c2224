"""The list+watch loop against the emulator: a local copy that follows the API server, lists
again when its watch is too old, and says when it is out of sync."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ipamd.k8s.api import KubeApi
from ipamd.k8s.reflector import Backoff, Reflector, key_of
from sandbox.clock import FakeClock
from sandbox.kube import KubeEmulator
from tests.unit.ipamd.k8s.support import NODE, kube_settings, wait_until

FAST = Backoff(first=0.01, cap=0.05)


@pytest.fixture
def api(kube: KubeEmulator, tmp_path: Path) -> Iterator[KubeApi]:
    client = KubeApi(kube_settings(kube.url, tmp_path / "no-token"))
    yield client
    client.close()


class Changes:
    """on_change: counts the calls; ``fail`` makes the next calls raise (a bug in the
    callback)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise RuntimeError("a bug in the callback")


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def pods(api: KubeApi, changes: Changes, clock: FakeClock) -> Iterator[Reflector]:
    """A started reflector of NODE's pods; stopped as the layer stops it."""
    reflector = Reflector(
        "test-pods",
        lambda: api.list_pods(NODE),
        lambda version: api.watch_pods(NODE, version),
        changes,
        backoff=FAST,
        clock=clock,
    )
    yield reflector
    reflector.cancel()
    api.close()
    reflector.stop()


def names(reflector: Reflector) -> list[str]:
    return sorted(obj["metadata"]["name"] for obj in reflector.objects())


def watching(kube: KubeEmulator, count: int = 1) -> Callable[[], bool]:
    return lambda: kube.call_count("watch", "pods") >= count


def test_the_first_list_fills_the_copy_and_makes_it_synced(
    kube: KubeEmulator, pods: Reflector, changes: Changes
):
    kube.add_pod("default", "web-1", NODE)
    kube.add_pod("kube-system", "dns-1", NODE)
    kube.add_pod("default", "elsewhere", "node-b")
    assert not pods.synced
    pods.start()
    wait_until("synced", lambda: pods.synced)
    assert names(pods) == ["dns-1", "web-1"]
    assert (pods.lists, pods.failures, pods.last_error, pods.failing_since) == (1, 0, None, None)
    assert changes.calls >= 1
    assert kube.call_count("list", "pods") == 1


def test_watch_events_keep_the_copy(kube: KubeEmulator, pods: Reflector, changes: Changes):
    kube.add_pod("default", "web-1", NODE, phase="Pending")
    pods.start()
    wait_until("synced and watching", lambda: pods.synced and watching(kube)())
    kube.add_pod("default", "web-2", NODE, phase="Pending")
    kube.update_pod("default", "web-1", phase="Running", ip="10.0.1.5")
    kube.delete_pod("default", "web-2")
    kube.add_pod("default", "elsewhere", "node-b")
    kube.add_pod("default", "web-3", NODE)

    def running() -> bool:
        by_name = {o["metadata"]["name"]: o for o in pods.objects()}
        return (
            sorted(by_name) == ["web-1", "web-3"]
            and by_name["web-1"]["status"].get("podIP") == "10.0.1.5"
        )

    wait_until("the copy to follow", running)
    assert pods.lists == 1  # followed, not listed again
    assert kube.call_count("list", "pods") == 1
    assert changes.calls >= 5  # the list, then each event on this node


def test_a_compacted_watch_lists_again_and_the_copy_is_right(kube: KubeEmulator, pods: Reflector):
    kube.add_pod("default", "web-1", NODE)
    pods.start()
    wait_until("synced and watching", lambda: pods.synced and watching(kube)())
    # Changes the open watch cannot see before the log that would replay them is gone: the
    # store's lock keeps the watch from waking in between (as a real etcd compaction racing
    # a slow watcher).
    with kube.store.cond:
        kube.add_pod("default", "missed", NODE)
        kube.delete_pod("default", "web-1")
        kube.compact()
    wait_until("a second list", lambda: pods.lists == 2)
    wait_until("synced", lambda: pods.synced)
    assert names(pods) == ["missed"]
    assert kube.call_count("list", "pods") == 2
    # too old is not an outage: no backoff, nothing failing
    assert (pods.failures, pods.failing_since, pods.last_error) == (0, None, None)
    kube.add_pod("default", "after", NODE)  # and it watches again from the new list
    wait_until("the copy to follow", lambda: names(pods) == ["after", "missed"])


def test_an_outage_marks_the_copy_out_of_sync_and_keeps_what_it_knew(
    kube: KubeEmulator, pods: Reflector, clock: FakeClock
):
    kube.add_pod("default", "web-1", NODE)
    pods.start()
    wait_until("synced and watching", lambda: pods.synced and watching(kube)())
    went_down = clock()
    kube.set_unavailable()
    wait_until("out of sync", lambda: not pods.synced)
    wait_until("an error", lambda: pods.last_error is not None)
    assert "503" in str(pods.last_error)
    assert pods.failing_since == went_down
    assert names(pods) == ["web-1"]  # served from what is known
    clock.advance(30)
    wait_until("retries", lambda: pods.failures >= 3)
    assert pods.failing_since == went_down  # the first failure of this outage


def test_back_from_an_outage_the_copy_is_synced_and_caught_up(
    kube: KubeEmulator, pods: Reflector, clock: FakeClock
):
    kube.add_pod("default", "web-1", NODE)
    pods.start()
    wait_until("synced and watching", lambda: pods.synced and watching(kube)())
    kube.set_unavailable()
    wait_until("out of sync", lambda: pods.failing_since is not None)
    kube.add_pod("default", "during", NODE)  # written by others while we cannot read
    kube.delete_pod("default", "web-1")
    clock.advance(12)
    kube.set_unavailable(False)
    wait_until("synced again", lambda: pods.synced)
    assert (pods.failing_since, pods.last_error) == (None, None)
    assert names(pods) == ["during"]
    assert pods.lists >= 2
    kube.add_pod("default", "after", NODE)
    wait_until("the copy to follow", lambda: names(pods) == ["after", "during"])


def test_a_bug_in_the_callback_does_not_end_the_loop(
    kube: KubeEmulator, pods: Reflector, changes: Changes
):
    changes.fail = 1
    kube.add_pod("default", "web-1", NODE)
    pods.start()
    wait_until("synced after the failure", lambda: pods.synced and pods.lists >= 2)
    assert pods.failures == 1
    kube.add_pod("default", "web-2", NODE)
    wait_until("the copy to follow", lambda: names(pods) == ["web-1", "web-2"])


def test_a_reflector_of_the_node_keys_it_by_name(kube: KubeEmulator, api: KubeApi):
    kube.add_node(NODE, pods_capacity=17)
    node = Reflector(
        "test-node",
        lambda: api.list_nodes(NODE),
        lambda version: api.watch_nodes(NODE, version),
        lambda: None,
        backoff=FAST,
    )
    node.start()
    try:
        wait_until("synced", lambda: node.synced)
        (obj,) = node.objects()
        assert key_of(obj) == ("", NODE)
        kube.delete_node(NODE)
        wait_until("the node gone", lambda: node.objects() == [])
    finally:
        node.cancel()
        api.close()
        node.stop()


def test_stop_with_the_client_closed_ends_the_thread_at_once(
    kube: KubeEmulator, api: KubeApi, clock: FakeClock
):
    reflector = Reflector(
        "stopping-pods",
        lambda: api.list_pods(NODE),
        lambda version: api.watch_pods(NODE, version),
        lambda: None,
        backoff=FAST,
        clock=clock,
    )
    reflector.start()
    wait_until("synced and watching", lambda: reflector.synced and watching(kube)())
    started = time.monotonic()
    reflector.cancel()
    api.close()  # ends the blocked watch read, as the layer's stop does
    reflector.stop()
    assert time.monotonic() - started < 2.0
    assert not any(t.name == "k8s-stopping-pods" and t.is_alive() for t in threading.enumerate())
    assert reflector.failing_since is None  # stopping is not an outage


def test_backoff_doubles_from_the_first_delay_up_to_the_cap_with_jitter():
    backoff = Backoff(first=0.5, cap=30.0)
    for failures, full in [
        (0, 0.5),
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (6, 16.0),
        (7, 30.0),
        (50, 30.0),
    ]:
        for _ in range(50):
            assert full * 0.5 <= backoff.delay(failures) <= full
