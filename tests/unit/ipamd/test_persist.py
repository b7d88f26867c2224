"""The persister's group commit: concurrent callers share writes, none returns before a
write that covers its change, and a failed write is retried by the callers it left."""

from __future__ import annotations

import threading
import time
from ipaddress import IPv4Network
from typing import Any

from ipamd.checkpoint import MemoryCheckpoint
from ipamd.model import PodRef
from ipamd.persist import Persister
from providers.fake import FakeNode, FakeProvider
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import cloud_iface, key, new_store


class SlowCheckpoint(MemoryCheckpoint):
    """A real in-memory checkpoint whose writes take a while, like fsync does."""

    def __init__(self, takes: float = 0.02, fail_first: int = 0) -> None:
        super().__init__()
        self.takes = takes
        self.fail_first = fail_first
        self.writes = 0

    def save(self, state: dict[str, Any]) -> None:
        time.sleep(self.takes)
        self.writes += 1
        if self.writes <= self.fail_first:
            raise OSError("disk full")
        super().save(state)


def make(checkpoint: SlowCheckpoint):
    store = new_store(FakeClock(1_700_000_000.0))
    store.add_interface(cloud_iface("eni-1", 0, "10.0.1.16/28", "10.0.1.32/28"))
    node = FakeProvider(FakeNode(subnet_cidr=IPv4Network("10.0.1.0/24"))).discover()
    return store, Persister(checkpoint, store, node)


def saved_keys(checkpoint: MemoryCheckpoint) -> set[str]:
    state = checkpoint.load()
    assert state is not None
    return {a["key"]["container_id"] for a in state["datastore"]["allocations"]}


def test_concurrent_callers_share_writes_and_each_change_is_on_disk_when_it_returns():
    checkpoint = SlowCheckpoint()
    store, persist = make(checkpoint)
    returned: list[bool] = []

    def add(n: int) -> None:
        store.assign(key(n), PodRef("default", f"web-{n}", ""))
        persist()
        returned.append(key(n).container_id in saved_keys(checkpoint))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert returned == [True] * 20
    assert saved_keys(checkpoint) == {key(n).container_id for n in range(20)}
    assert checkpoint.writes < 20  # writes were shared
    assert persist.saves == checkpoint.writes


def test_a_failed_write_raises_in_its_writer_and_the_others_write_again():
    checkpoint = SlowCheckpoint(fail_first=1)
    store, persist = make(checkpoint)
    errors: list[BaseException] = []

    def add(n: int) -> None:
        store.assign(key(n), PodRef())
        try:
            persist()
        except OSError as error:
            errors.append(error)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 1
    assert saved_keys(checkpoint) == {key(n).container_id for n in range(5)}


def test_one_caller_alone_writes_once():
    checkpoint = SlowCheckpoint(takes=0)
    _store, persist = make(checkpoint)
    persist()
    persist()
    assert checkpoint.writes == 2
