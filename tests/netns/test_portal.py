"""The portal: a host-loopback service reached from inside a namespace the test makes.

Clients run inside the namespace, either as a program (``ip netns exec``) or as a socket made
there (``socket_in_netns``); the servers run in this process on the host's 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbox.portal import (
    NETNS_DIR,
    LoopbackDown,
    NetnsNotFound,
    Portal,
    listen_in_netns,
    socket_in_netns,
)
from tests.netns.conftest import in_netns, ip, ip_json

pytestmark = pytest.mark.netns

HELLO = b"hello from the host's loopback"
TOGETHER = 8
SIOCGSKNS = 0x894C  # the network namespace a socket belongs to, as a new descriptor


class Host(ThreadingHTTPServer):
    """GET /hello, POST /echo (records what it received), GET /together (answers only when
    TOGETHER requests are in at the same time)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.peers: list[str] = []
        self.received: list[str] = []
        self.barrier = threading.Barrier(TOGETHER, timeout=20)


class Handler(BaseHTTPRequestHandler):
    server: Host

    def do_GET(self) -> None:
        self.server.peers.append(self.client_address[0])
        if self.path == "/hello":
            self._answer(200, HELLO)
        elif self.path.startswith("/together"):
            try:
                self.server.barrier.wait()
            except threading.BrokenBarrierError:
                self._answer(500, b"not together")
            else:
                self._answer(200, self.path.encode())
        else:
            self._answer(404, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(hashlib.sha256(body).hexdigest())
        self._answer(200, body)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def host() -> Iterator[Host]:
    server = Host()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def node(netns: str) -> str:
    """A namespace with its loopback up, as the sandbox's node namespaces have."""
    ip(netns, "link", "set", "lo", "up")
    return netns


@pytest.fixture
def portal(node: str, host: Host) -> Iterator[Portal]:
    with Portal(node, ("127.0.0.1", host.server_address[1])) as opened:
        yield opened


def run_inside(netns: str, script: str, *args: str) -> str:
    done = in_netns(netns, sys.executable, "-c", script, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def portal_threads(netns: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"portal[{netns}:")]


def connect_inside(netns: str, port: int) -> socket.socket:
    client = socket_in_netns(netns)
    client.settimeout(10)
    client.connect(("127.0.0.1", port))
    return client


def closed_by_peer(sock: socket.socket) -> bool:
    """The other end closed: EOF or a reset, within the socket's timeout."""
    try:
        return sock.recv(16) == b""
    except ConnectionResetError:
        return True


def test_a_host_service_answers_a_client_inside_the_namespace(
    node: str, portal: Portal, host: Host
):
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"
    assert run_inside(node, fetch, portal.url + "/hello").strip() == HELLO.decode()
    assert portal.url == f"http://127.0.0.1:{portal.port}"
    assert host.peers == ["127.0.0.1"]  # it came in over the host's loopback


def test_a_large_body_goes_both_ways_intact(node: str, portal: Portal, host: Host):
    script = """if True:
        import hashlib, os, sys, urllib.request
        body = os.urandom(3 * 1024 * 1024 + 17)
        back = urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=body)).read()
        print(hashlib.sha256(body).hexdigest(), len(back), back == body)
    """
    sent, length, same = run_inside(node, script, portal.url + "/echo").split()
    assert host.received == [sent]
    assert (int(length), same) == (3 * 1024 * 1024 + 17, "True")


def test_clients_are_carried_at_the_same_time(node: str, portal: Portal):
    script = """if True:
        import sys, urllib.request
        from concurrent.futures import ThreadPoolExecutor
        def get(i):
            return urllib.request.urlopen(f"{sys.argv[1]}/together/{i}", timeout=30).read().decode()
        with ThreadPoolExecutor(int(sys.argv[2])) as pool:
            print(" ".join(pool.map(get, range(int(sys.argv[2])))))
    """
    answers = run_inside(node, script, portal.url, str(TOGETHER)).split()
    assert answers == [f"/together/{i}" for i in range(TOGETHER)]


def test_connections_beyond_the_bound_are_closed_at_once(node: str, echo: tuple[str, int]):
    with Portal(node, echo, max_connections=1) as portal:
        held = connect_inside(node, portal.port)
        try:
            held.sendall(b"first")
            assert held.recv(16) == b"first"
            extra = connect_inside(node, portal.port)
            try:
                assert closed_by_peer(extra)
            finally:
                extra.close()
            held.sendall(b"still")
            assert held.recv(16) == b"still"
            assert portal.connections == 1
        finally:
            held.close()
        deadline = time.monotonic() + 5
        while portal.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        again = connect_inside(node, portal.port)
        try:
            again.sendall(b"freed")
            assert again.recv(16) == b"freed"
        finally:
            again.close()


def test_half_close_reaches_the_other_side(node: str, echo: tuple[str, int]):
    with Portal(node, echo) as portal:
        client = connect_inside(node, portal.port)
        try:
            client.sendall(b"last words")
            client.shutdown(socket.SHUT_WR)
            got = b""
            while data := client.recv(64):
                got += data
            assert got == b"last words"  # echoed, then the server's EOF came through too
        finally:
            client.close()


def test_stop_closes_the_listener_and_live_connections_and_ends_its_threads(
    node: str, echo: tuple[str, int]
):
    portal = Portal(node, echo).start()
    try:
        held = connect_inside(node, portal.port)
        held.sendall(b"ping")
        assert held.recv(16) == b"ping"
        assert f"portal[{node}:{portal.port}]-accept" in portal_threads(node)
        assert len(portal_threads(node)) == 3  # accept, and the connection's two directions
    finally:
        portal.stop()
    try:
        assert closed_by_peer(held)
    finally:
        held.close()
    assert portal_threads(node) == []
    assert portal.connections == 0
    probe = """if True:
        import socket, sys
        try:
            socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        except ConnectionRefusedError:
            print("refused")
    """
    assert run_inside(node, probe, str(portal.port)).strip() == "refused"
    portal.stop()  # again: nothing left to do


def test_the_listener_is_inside_the_namespace_and_not_on_the_host(portal: Portal, node: str):
    inside = in_netns(node, "ss", "-Hltn")
    assert f"127.0.0.1:{portal.port} " in inside.stdout
    on_host = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{portal.port}"], capture_output=True, text=True, check=True
    )
    assert f"pid={os.getpid()}," not in on_host.stdout

    sock = listen_in_netns(node, "127.0.0.1", 0)
    try:
        ns_fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
        try:
            ns = os.fstat(ns_fd)
        finally:
            os.close(ns_fd)
    finally:
        sock.close()
    named = os.stat(NETNS_DIR / node)
    own = os.stat("/proc/self/ns/net")
    assert (ns.st_dev, ns.st_ino) == (named.st_dev, named.st_ino)
    assert ns.st_ino != own.st_ino
    assert os.stat("/proc/thread-self/ns/net").st_ino == own.st_ino  # this thread never moved


@pytest.mark.parametrize(
    "target", ["10.0.0.1", "0.0.0.0", "169.254.169.254", "192.0.2.1", "localhost", "fd00::1"]
)
def test_a_target_off_the_host_loopback_is_refused(node: str, target: str):
    with pytest.raises(ValueError, match="not a loopback"):
        Portal(node, (target, 80))
    assert portal_threads(node) == []


def test_a_missing_namespace_is_a_clear_error_and_is_not_made():
    name = f"vpcipam-missing-{uuid.uuid4().hex[:10]}"
    with pytest.raises(NetnsNotFound, match=f"{name}.*not found"):
        Portal(name, ("127.0.0.1", 80))
    with pytest.raises(NetnsNotFound, match=name):
        listen_in_netns(name, "127.0.0.1", 0)
    with pytest.raises(NetnsNotFound):
        socket_in_netns(f"/tmp/{name}")
    assert not (NETNS_DIR / name).exists()


@pytest.mark.parametrize("netns", ["/proc/self/ns/net", "/proc/thread-self/ns/net"])
def test_the_host_namespace_itself_is_refused(netns: str):
    with pytest.raises(ValueError, match="host's own"):
        Portal(netns, ("127.0.0.1", 80))
    with pytest.raises(ValueError, match="host's own"):
        listen_in_netns(netns, "127.0.0.1", 0)


def test_something_that_is_not_a_namespace_is_refused(tmp_path: Path):
    plain = tmp_path / "not-a-namespace"
    plain.write_text("")
    with pytest.raises(OSError, match="not a network namespace"):
        socket_in_netns(str(plain))


def test_a_loopback_left_down_is_reported_and_left_down(netns: str):
    with pytest.raises(LoopbackDown, match=f"ip -n {netns} link set lo up"):
        listen_in_netns(netns, "127.0.0.1", 0)
    with pytest.raises(LoopbackDown):
        Portal(netns, ("127.0.0.1", 80)).start()
    [lo] = ip_json(netns, "link", "show", "lo")
    assert "UP" not in lo["flags"]
    assert portal_threads(netns) == []
