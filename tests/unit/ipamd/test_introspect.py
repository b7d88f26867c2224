"""The introspection transport over real HTTP: on 127.0.0.1 (port 0) and on a unix socket
under the test's tmp_path. Methods, paths, queries, the error answers of the contract
(docs/introspection.md), the socket file's rules, and that no client can stop it serving."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from config import BindAddress
from ipamd import introspect
from ipamd.introspect import BadQuery, IntrospectionServer, Route

LOOPBACK = BindAddress(host="127.0.0.1", port=0)


class Routes:
    """A few routes, and what they were asked."""

    def __init__(self) -> None:
        self.asked: list[Mapping[str, str]] = []
        self.fail = True

    def status(self, query: Mapping[str, str]) -> Mapping[str, Any]:
        self.asked.append(dict(query))
        return {"addresses": {"total": 27, "assigned": 12}, "blocked": None}

    def echo(self, query: Mapping[str, str]) -> Mapping[str, Any]:
        return {"query": dict(query)}

    def why(self, query: Mapping[str, str]) -> Mapping[str, Any]:
        if not query.get("q"):
            raise BadQuery("say which pod", candidates=["default/web-1", "prod/web-1"])
        return {"verdict": "wired"}

    def boom(self, query: Mapping[str, str]) -> Mapping[str, Any]:
        if self.fail:
            raise RuntimeError("the datastore went away")
        return {"ok": True}

    def not_json(self, query: Mapping[str, str]) -> Mapping[str, Any]:
        return {"address": IPv4Address("10.0.1.5")}

    def table(self) -> dict[str, Route]:
        return {
            "/": lambda _q: {"endpoints": ["/v1/status"]},
            "/v1/status": self.status,
            "/v1/echo": self.echo,
            "/v1/why": self.why,
            "/v1/boom": self.boom,
            "/v1/not-json": self.not_json,
        }


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


def connect_raw(address: str) -> socket.socket:
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(address.removeprefix("unix:"))
        return sock
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def ask(
    server: IntrospectionServer, path: str, method: str = "GET", body: bytes | None = None
) -> Answer:
    address = server.address
    connection: http.client.HTTPConnection
    if address.startswith("unix:"):
        connection = UnixConnection(address.removeprefix("unix:"), timeout=10)
    else:
        host, port = address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def raw_exchange(server: IntrospectionServer, data: bytes) -> bytes:
    with connect_raw(server.address) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def routes() -> Routes:
    return Routes()


@pytest.fixture(scope="module")
def server(routes: Routes) -> Iterator[IntrospectionServer]:
    """One server on loopback for the tests that only ask (a stop takes up to 0.5 s)."""
    shared = IntrospectionServer(LOOPBACK, routes.table()).start()
    yield shared
    shared.stop()


@pytest.fixture
def serve() -> Iterator[Callable[..., IntrospectionServer]]:
    """Start servers of the test's own; every one started is stopped at the end."""
    started: list[IntrospectionServer] = []

    def start(
        address: BindAddress = LOOPBACK, table: Mapping[str, Route] | None = None
    ) -> IntrospectionServer:
        server = IntrospectionServer(address, Routes().table() if table is None else table)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def unix_address(tmp_path: Path, name: str = "introspect.sock") -> BindAddress:
    return BindAddress(unix_path=str(tmp_path / "run" / name))


# -- answers -----------------------------------------------------------------------------


def test_get_answers_the_routes_json_with_content_type_and_length(server: IntrospectionServer):
    answer = ask(server, "/v1/status")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json() == {"addresses": {"total": 27, "assigned": 12}, "blocked": None}


def test_the_tcp_address_names_the_port_really_bound(server: IntrospectionServer):
    host, port = server.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert ask(server, "/").json() == {"endpoints": ["/v1/status"]}


def test_head_sends_gets_headers_without_a_body(server: IntrospectionServer):
    get = ask(server, "/v1/status")
    head = ask(server, "/v1/status", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    raw = raw_exchange(server, b"HEAD /v1/status HTTP/1.0\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n")  # nothing after the headers, on the wire itself


def test_head_of_an_unknown_path_is_404_without_a_body(server: IntrospectionServer):
    head = ask(server, "/v1/nothing", method="HEAD")
    assert head.status == 404 and head.body == b""
    assert int(head.headers["Content-Length"]) > 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_method_that_would_change_something_is_405_with_an_allow_header(
    server: IntrospectionServer, routes: Routes, method: str
):
    asked = len(routes.asked)
    answer = ask(server, "/v1/status", method=method, body=b'{"findings": ["3f9a"]}')
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"error": "introspection is read-only"}
    assert len(routes.asked) == asked  # the route was never called


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PROPFIND"])
def test_any_other_method_is_405_as_json_too(server: IntrospectionServer, method: str):
    answer = ask(server, "/v1/status", method=method)
    assert answer.status == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert answer.json() == {"error": "introspection is read-only"}


def test_a_malformed_request_is_400_as_json(server: IntrospectionServer):
    raw = raw_exchange(server, b"GET /v1 status HTTP/1.0\r\n\r\n")  # a space in the path
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400")
    assert b"Content-Type: application/json" in head
    assert "error" in json.loads(body)
    assert ask(server, "/v1/status").status == 200


def test_an_unknown_path_is_404_naming_every_endpoint(server: IntrospectionServer):
    answer = ask(server, "/v1/nothing?q=1")
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "error": "no such endpoint: /v1/nothing",
        "endpoints": ["/", "/v1/boom", "/v1/echo", "/v1/not-json", "/v1/status", "/v1/why"],
    }


@pytest.mark.parametrize("path", ["/v1/status/", "/v1/status//", "/v1/status/?x=1"])
def test_a_trailing_slash_reaches_the_same_route(server: IntrospectionServer, path: str):
    answer = ask(server, path)
    assert answer.status == 200
    assert answer.json()["addresses"]["total"] == 27


def test_a_path_is_not_matched_by_prefix(server: IntrospectionServer):
    assert ask(server, "/v1/status/extra").status == 404
    assert ask(server, "/v1/statusx").status == 404


def test_the_query_is_decoded_and_the_first_value_of_each_name_wins(
    server: IntrospectionServer,
):
    answer = ask(server, "/v1/echo?q=default%2Fweb-1&x=1&x=2&empty=&plus=a+b&bare")
    assert answer.json() == {
        "query": {"q": "default/web-1", "x": "1", "empty": "", "plus": "a b", "bare": ""}
    }
    assert ask(server, "/v1/echo").json() == {"query": {}}


def test_a_bad_query_is_400_with_the_error_and_its_extra_keys(server: IntrospectionServer):
    answer = ask(server, "/v1/why")
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "error": "say which pod",
        "candidates": ["default/web-1", "prod/web-1"],
    }
    assert ask(server, "/v1/why?q=web-1").json() == {"verdict": "wired"}


def test_a_route_that_raises_is_500_and_the_server_keeps_serving(
    serve: Callable[..., IntrospectionServer], caplog: pytest.LogCaptureFixture
):
    routes = Routes()
    server = serve(table=routes.table())
    with caplog.at_level(logging.ERROR, logger="ipamd.introspect"):
        for _ in range(3):
            answer = ask(server, "/v1/boom")
            assert answer.status == 500
            assert answer.json() == {"error": "RuntimeError: the datastore went away"}
    assert any("/v1/boom" in r.getMessage() for r in caplog.records)
    assert ask(server, "/v1/status").status == 200
    routes.fail = False
    assert ask(server, "/v1/boom").json() == {"ok": True}


def test_an_answer_that_is_not_json_is_500_not_a_dropped_connection(
    server: IntrospectionServer,
):
    answer = ask(server, "/v1/not-json")
    assert answer.status == 500
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"].startswith("TypeError:")
    assert ask(server, "/v1/status").status == 200


def test_the_routes_table_is_copied_when_the_server_is_made(
    serve: Callable[..., IntrospectionServer],
):
    table: dict[str, Route] = {"/a": lambda _q: {"a": 1}}
    server = serve(table=table)
    table["/b"] = lambda _q: {"b": 2}
    assert ask(server, "/b").status == 404


# -- the unix socket ---------------------------------------------------------------------


def test_a_unix_socket_is_mode_0600_in_a_private_directory_and_serves(
    serve: Callable[..., IntrospectionServer], tmp_path: Path
):
    address = unix_address(tmp_path)
    server = serve(address)
    assert server.address == f"unix:{address.unix_path}"
    path = Path(str(address.unix_path))
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    answer = ask(server, "/v1/status")
    assert answer.status == 200 and answer.json()["addresses"]["total"] == 27
    assert ask(server, "/v1/why").status == 400
    assert ask(server, "/v1/status", method="POST").status == 405


def test_the_socket_is_born_0600_whatever_the_umask_and_the_umask_is_restored(
    serve: Callable[..., IntrospectionServer], tmp_path: Path
):
    before = os.umask(0o000)
    try:
        server = serve(unix_address(tmp_path))
        assert os.umask(0o000) == 0o000  # put back as it was
    finally:
        os.umask(before)
    path = server.address.removeprefix("unix:")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_existing_file_at_the_socket_path_is_refused_and_left_untouched(tmp_path: Path):
    address = unix_address(tmp_path)
    path = Path(str(address.unix_path))
    path.parent.mkdir(mode=0o700)
    path.write_text("someone's data\n")
    path.chmod(0o644)
    with pytest.raises(FileExistsError, match="not a socket"):
        IntrospectionServer(address, {})
    assert path.read_text() == "someone's data\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_directory_or_a_symlink_at_the_socket_path_is_refused_too(tmp_path: Path):
    address = unix_address(tmp_path)
    path = Path(str(address.unix_path))
    path.mkdir(parents=True)
    with pytest.raises(FileExistsError):
        IntrospectionServer(address, {})
    assert path.is_dir()
    path.rmdir()
    elsewhere = tmp_path / "elsewhere.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(elsewhere))
    listener.close()
    path.symlink_to(elsewhere)
    with pytest.raises(FileExistsError):
        IntrospectionServer(address, {})
    assert path.is_symlink() and elsewhere.exists()


def test_a_stale_socket_left_by_an_earlier_daemon_is_replaced(
    serve: Callable[..., IntrospectionServer], tmp_path: Path
):
    address = unix_address(tmp_path)
    path = Path(str(address.unix_path))
    path.parent.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays; nobody listens on it
    with pytest.raises(ConnectionRefusedError):
        connect_raw(f"unix:{path}")
    server = serve(address)
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ask(server, "/v1/status").status == 200


def test_stop_removes_the_unix_socket_and_a_second_stop_does_nothing(tmp_path: Path):
    address = unix_address(tmp_path)
    server = IntrospectionServer(address, {"/": lambda _q: {}}).start()
    path = Path(str(address.unix_path))
    assert path.exists()
    server.stop()
    assert not path.exists()
    server.stop()
    assert not path.exists()
    with pytest.raises(OSError):
        connect_raw(server.address)


def test_stop_of_a_tcp_server_closes_its_port_and_may_be_repeated(
    serve: Callable[..., IntrospectionServer],
):
    server = serve()
    assert ask(server, "/").status == 200
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        connect_raw(server.address)


def test_a_server_never_started_stops_at_once_and_removes_its_socket(tmp_path: Path):
    address = unix_address(tmp_path)
    server = IntrospectionServer(address, {})
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 2
    assert not Path(str(address.unix_path)).exists()


def test_stop_leaves_a_socket_file_that_is_already_gone_alone(tmp_path: Path):
    address = unix_address(tmp_path)
    server = IntrospectionServer(address, {}).start()
    os.unlink(str(address.unix_path))
    server.stop()  # no FileNotFoundError


# -- slow clients ------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [b"", b"GET /v1/status HTTP/1.0\r\nHost: x\r\n"])
@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_clients_that_never_finish_a_request_block_no_one_and_are_dropped_after_the_timeout(
    serve: Callable[..., IntrospectionServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sent: bytes,
    where: str,
):
    monkeypatch.setattr(introspect._Handler, "timeout", 1.0)
    server = serve(LOOPBACK if where == "tcp" else unix_address(tmp_path))
    slow = [connect_raw(server.address) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(sent)
        answers: list[int] = []

        def get() -> None:
            answers.append(ask(server, "/v1/status").status)

        threads = [threading.Thread(target=get) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert answers == [200] * 5
        for sock in slow:  # answered while the slow ones are still waiting
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1024)
        began = time.monotonic()
        for sock in slow:
            sock.settimeout(5)
            assert sock.recv(1024) == b""  # the server gave up on it and closed
        assert time.monotonic() - began < 3
    finally:
        for sock in slow:
            sock.close()
    assert ask(server, "/v1/status").status == 200


def test_the_read_timeout_is_ten_seconds_by_default():
    assert introspect.READ_TIMEOUT == 10.0
    assert introspect._Handler.timeout == introspect.READ_TIMEOUT
