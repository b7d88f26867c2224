"""Probes across a veth between two namespaces the test makes: whoami, its server, ping.

``client`` has 10.9.0.1/24 (and 10.9.0.3/24), ``server`` has 10.9.0.2/24; nothing else.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from sandbox.portal import NetnsNotFound
from sandbox.probe import ProbeFailed, WhoAmI, ping, whoami
from tests.netns.conftest import ip

pytestmark = pytest.mark.netns

NOBODY = "10.9.0.99"
CLOSED_PORT = 9


@dataclass
class Pair:
    client: str
    server: str


@pytest.fixture
def pair(make_netns: Callable[[str], str]) -> Pair:
    client, server = make_netns("pc"), make_netns("ps")
    ip(client, "link", "add", "veth-c", "type", "veth", "peer", "name", "veth-s", "netns", server)
    ip(client, "addr", "add", "10.9.0.1/24", "dev", "veth-c")
    ip(client, "addr", "add", "10.9.0.3/24", "dev", "veth-c")
    ip(server, "addr", "add", "10.9.0.2/24", "dev", "veth-s")
    for netns, dev in ((client, "veth-c"), (server, "veth-s")):
        ip(netns, "link", "set", dev, "up")
        ip(netns, "link", "set", "lo", "up")
    return Pair(client, server)


def whoami_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("whoami[")]


def test_whoami_answers_with_the_source_address_and_records_it(pair: Pair):
    with WhoAmI(pair.server, "10.9.0.2") as server:
        first = whoami(pair.client, "10.9.0.2", server.port)
        second = whoami(pair.client, "10.9.0.2", server.port, source="10.9.0.3")

        assert (first, second) == ("10.9.0.1", "10.9.0.3")
        assert server.seen == ["10.9.0.1", "10.9.0.3"]


def test_whoami_serves_many_clients_at_once(pair: Pair):
    with WhoAmI(pair.server, "0.0.0.0") as server, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: whoami(pair.client, "10.9.0.2", server.port), range(32)))

        assert answers == ["10.9.0.1"] * 32
        assert server.seen == ["10.9.0.1"] * 32


def test_ping_across_the_veth_and_to_nobody(pair: Pair):
    assert ping(pair.client, "10.9.0.2")
    assert ping(pair.server, "10.9.0.1")

    started = time.monotonic()
    assert not ping(pair.client, NOBODY, timeout=1.0)
    assert time.monotonic() - started < 1.8


def test_ping_without_a_route_is_false_and_a_missing_namespace_raises(pair: Pair):
    started = time.monotonic()
    assert not ping(pair.client, "192.0.2.1", timeout=1.0)  # ENETUNREACH on send
    assert time.monotonic() - started < 1.0
    with pytest.raises(NetnsNotFound):
        ping("vpcipam-no-such-ns", "10.9.0.2")


def test_refused_connection_names_the_namespace_and_the_destination(pair: Pair):
    with pytest.raises(ProbeFailed) as failed:
        whoami(pair.client, "10.9.0.2", CLOSED_PORT)

    assert failed.value.errno == errno.ECONNREFUSED
    assert failed.value.netns == pair.client
    assert failed.value.destination == f"10.9.0.2:{CLOSED_PORT}"
    text = str(failed.value)
    assert pair.client in text
    assert f"10.9.0.2:{CLOSED_PORT}" in text
    assert "Connection refused" in text


def test_timeout_is_a_probe_failure_within_the_timeout(pair: Pair):
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match="timed out") as failed:
        whoami(pair.client, NOBODY, 80, timeout=0.5)

    assert time.monotonic() - started < 1.5
    assert failed.value.errno is None
    assert f"{NOBODY}:80" in str(failed.value)


def test_stop_leaves_no_thread_and_closes_the_listener(pair: Pair):
    before = whoami_threads()
    server = WhoAmI(pair.server, "10.9.0.2").start()
    port = server.port
    assert whoami(pair.client, "10.9.0.2", port) == "10.9.0.1"
    thread = server.thread
    assert thread is not None and thread.is_alive()

    server.stop(timeout=2.0)
    server.stop()  # idempotent

    assert not thread.is_alive()
    assert whoami_threads() == before
    with pytest.raises(ProbeFailed) as failed:
        whoami(pair.client, "10.9.0.2", port)
    assert failed.value.errno == errno.ECONNREFUSED
    with pytest.raises(RuntimeError):
        server.start()
