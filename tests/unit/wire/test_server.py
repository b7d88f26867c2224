"""ipamd.server.SocketServer with real sockets: every connection ends in a reply or a close."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from cni.client import call, new_request
from cni.errors import DECODING_FAILURE, INTERNAL, PROTOCOL_MISMATCH, TRY_AGAIN_LATER, CniError
from cni.wire import MAX_MESSAGE, HealthArgs, PodArgs, Request, StatusArgs, encode_request
from ipamd.server import SocketPathError, SocketServer
from tests.unit.wire.sockets import connect, exchange, read_all

POD = PodArgs(network="vpc", container_id="abc", ifname="eth0", netns="/proc/1/ns/net")
Handler = Callable[[Request], Mapping[str, object]]


def echo(request: Request) -> Mapping[str, object]:
    return {"op": request.op, "id": request.request_id}


@contextmanager
def serving(path: Path, handler: Handler = echo, **kw: object) -> Iterator[SocketServer]:
    server = SocketServer(path, handler, **kw)  # type: ignore[arg-type]
    with server:
        yield server


def ask(path: Path, op: str = "add", args: object = POD, timeout: float = 5.0) -> dict[str, object]:
    return call(str(path), new_request(op, args, timeout=timeout), timeout=timeout)  # type: ignore[arg-type]


def ask_error(path: Path, op: str = "add", args: object = POD) -> CniError:
    with pytest.raises(CniError) as info:
        ask(path, op, args)
    return info.value


def reply_of(data: bytes) -> dict[str, object]:
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    obj: dict[str, object] = json.loads(data)
    return obj


def error_of(data: bytes) -> dict[str, object]:
    obj = reply_of(data)
    assert obj["v"] == 1 and obj["ok"] is False
    error = obj["error"]
    assert isinstance(error, dict)
    return error


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# --- the socket file -------------------------------------------------------------------------


def test_a_request_is_answered_with_the_handler_result(sock_path):
    seen: list[Request] = []

    def handler(request: Request) -> Mapping[str, object]:
        seen.append(request)
        return {"ips": ["10.0.1.5"]}

    with serving(sock_path, handler):
        request = new_request("add", POD, timeout=5)
        assert call(str(sock_path), request, timeout=5) == {"ips": ["10.0.1.5"]}

    assert seen == [request]


def test_the_socket_is_0600_in_a_parent_created_0700(sock_dir):
    path = sock_dir / "run" / "vpc-ipam" / "ipamd.sock"

    with serving(path):
        assert stat.S_ISSOCK(path.lstat().st_mode)
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        assert [p.name for p in path.parent.iterdir()] == ["ipamd.sock"]


def test_a_stale_socket_is_replaced(sock_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()

    with serving(sock_path):
        assert ask(sock_path, "health", HealthArgs())["op"] == "health"


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_something_other_than_a_socket_at_the_path_is_refused_and_kept(sock_path, kind):
    if kind == "file":
        sock_path.write_text("precious")
    else:
        sock_path.mkdir()

    with pytest.raises(SocketPathError, match=f"{sock_path} is a .*refusing"):
        SocketServer(sock_path, echo).start()

    assert sock_path.read_text() == "precious" if kind == "file" else sock_path.is_dir()
    assert [p.name for p in sock_path.parent.iterdir()] == [sock_path.name]


def test_a_socket_another_server_listens_on_is_not_taken_over(sock_path):
    with serving(sock_path):
        with pytest.raises(SocketPathError, match="another server is listening"):
            SocketServer(sock_path, echo).start()

        assert ask(sock_path, "health", HealthArgs())["op"] == "health"


def test_a_path_too_long_for_a_unix_socket_is_a_clear_error(sock_dir):
    with pytest.raises(SocketPathError, match="longer than the 107 bytes"):
        SocketServer(sock_dir / ("x" * 120), echo).start()


def test_stop_removes_the_socket_and_later_calls_are_try_again_later(sock_path):
    server = SocketServer(sock_path, echo)
    server.start()
    server.stop()
    server.stop()

    assert not sock_path.exists()
    assert ask_error(sock_path).code == TRY_AGAIN_LATER


def test_stop_leaves_a_socket_that_replaced_ours_alone(sock_path, sock_dir):
    server = SocketServer(sock_path, echo)
    server.start()
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(sock_dir / "other"))
    os.rename(sock_dir / "other", sock_path)
    try:
        server.stop()
        assert stat.S_ISSOCK(sock_path.lstat().st_mode)
    finally:
        other.close()


# --- bad requests ----------------------------------------------------------------------------


def test_malformed_json_gets_a_code_6_reply(sock_path):
    with serving(sock_path):
        error = error_of(exchange(sock_path, b"{nope\n"))

    assert error["code"] == DECODING_FAILURE


def test_a_request_of_another_version_gets_a_code_100_reply(sock_path):
    with serving(sock_path):
        error = error_of(exchange(sock_path, b'{"v":2,"op":"add"}\n'))

    assert error["code"] == PROTOCOL_MISMATCH
    assert "upgrade vpc-ipamd" in str(error["msg"])


def test_an_unknown_op_gets_a_code_100_reply(sock_path):
    with serving(sock_path):
        data = b'{"v":1,"op":"resize","id":"r","deadline_ms":5,"args":{}}\n'
        error = error_of(exchange(sock_path, data))

    assert error["code"] == PROTOCOL_MISMATCH
    assert "'resize'" in str(error["msg"])


def test_a_huge_message_is_rejected_without_being_read_whole(sock_path):
    total, chunk = 16 * 1024 * 1024, b"x" * 65536
    accepted = 0
    with serving(sock_path) as server, connect(sock_path) as sock:
        try:
            while accepted < total:
                accepted += sock.send(chunk)
        except OSError:  # the server stopped reading and closed: EPIPE / ECONNRESET
            pass
        error = error_of(read_all(sock))
        wait_until(lambda: server.in_flight == 0)

    assert accepted < total
    assert error["code"] == DECODING_FAILURE
    assert "too large" in str(error["msg"])


def test_a_half_sent_line_is_cut_off_after_the_read_timeout(sock_path):
    with serving(sock_path, read_timeout=0.3) as server, connect(sock_path) as sock:
        sock.sendall(b'{"v":1,"op":')
        error = error_of(read_all(sock))  # returns once the server gives up and closes
        wait_until(lambda: server.in_flight == 0)

    assert error["code"] == DECODING_FAILURE
    assert "no complete request within 0.3 s" in str(error["msg"])


def test_a_client_that_sends_nothing_is_closed_after_the_read_timeout(sock_path):
    with serving(sock_path, read_timeout=0.3) as server, connect(sock_path) as sock:
        error = error_of(read_all(sock))
        wait_until(lambda: server.in_flight == 0)

    assert error["code"] == DECODING_FAILURE


def test_a_truncated_request_gets_a_code_6_reply(sock_path):
    with serving(sock_path) as server, connect(sock_path) as sock:
        sock.sendall(b'{"v":1')
        sock.shutdown(socket.SHUT_WR)
        error = error_of(read_all(sock))
        wait_until(lambda: server.in_flight == 0)

    assert error["code"] == DECODING_FAILURE
    assert error["msg"] == "truncated request"


def test_a_client_connecting_and_leaving_is_harmless(sock_path):
    with serving(sock_path) as server:
        connect(sock_path).close()
        wait_until(lambda: server.in_flight == 0)
        assert ask(sock_path, "health", HealthArgs())["op"] == "health"


def test_a_client_vanishing_before_the_reply_does_not_hurt_the_server(sock_path, caplog):
    entered, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Mapping[str, object]:
        if request.op == "add":
            entered.set()
            release.wait(10)
        return {}

    caplog.set_level(logging.INFO, logger="ipamd.server")
    with serving(sock_path, slow) as server:
        with connect(sock_path) as sock:
            sock.sendall(encode_request(new_request("add", POD, timeout=5)))
            assert entered.wait(5)
        release.set()
        wait_until(lambda: server.in_flight == 0)
        assert ask(sock_path, "health", HealthArgs()) == {}

    assert "reply not delivered" in caplog.text


# --- the handler -----------------------------------------------------------------------------


def test_a_handler_cni_error_is_passed_to_the_client_unchanged(sock_path):
    def refuse(request: Request) -> Mapping[str, object]:
        raise CniError(3, "unknown container", "abc")

    with serving(sock_path, refuse):
        assert ask_error(sock_path) == CniError(3, "unknown container", "abc")


def test_a_handler_crash_is_code_999_and_the_server_keeps_serving(sock_path, caplog):
    def crash(request: Request) -> Mapping[str, object]:
        if request.op == "add":
            raise RuntimeError("boom")
        return {"alive": True}

    with serving(sock_path, crash):
        error = ask_error(sock_path)
        assert ask(sock_path, "status", StatusArgs(network="vpc")) == {"alive": True}

    assert error.code == INTERNAL
    assert error.details == "RuntimeError: boom"
    assert "Traceback" in caplog.text and "boom" in caplog.text


def test_a_result_that_is_not_json_is_code_999(sock_path):
    with serving(sock_path, lambda request: {"when": object()}):
        assert ask_error(sock_path).code == INTERNAL


def test_each_request_is_logged_with_op_id_and_outcome(sock_path, caplog):
    caplog.set_level(logging.INFO, logger="ipamd.server")
    request = new_request("add", POD, timeout=5)
    with serving(sock_path):
        call(str(sock_path), request, timeout=5)

    [record] = [r for r in caplog.records if request.request_id in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(f"add {request.request_id} vpc/abc/eth0: ok in ")


# --- concurrency -----------------------------------------------------------------------------


def test_fifty_concurrent_clients_are_all_answered(sock_path):
    def slowish(request: Request) -> Mapping[str, object]:
        time.sleep(0.05)
        return {"id": request.request_id}

    requests = [new_request("add", POD, timeout=10) for _ in range(50)]
    with serving(sock_path, slowish), ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda r: call(str(sock_path), r, timeout=10), requests))

    assert [r["id"] for r in results] == [r.request_id for r in requests]


def test_connections_beyond_max_clients_get_an_immediate_busy_reply(sock_path):
    entered, release = threading.Event(), threading.Event()

    def block(request: Request) -> Mapping[str, object]:
        entered.set()
        release.wait(10)
        return {"done": True}

    with serving(sock_path, block, max_clients=1), ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask, sock_path)
        assert entered.wait(5)
        busy = ask_error(sock_path)
        release.set()
        assert first.result(10) == {"done": True}

    assert busy.code == TRY_AGAIN_LATER
    assert busy.msg == "vpc-ipamd is busy"


def test_stop_cuts_off_a_client_still_sending_its_request(sock_path):
    server = SocketServer(sock_path, echo, read_timeout=60)
    server.start()
    try:
        with connect(sock_path) as sock:
            sock.sendall(b'{"v":1')
            wait_until(lambda: server.in_flight == 1)
            server.stop()
            assert read_all(sock) == b""
    finally:
        server.stop()
    assert server.in_flight == 0


def test_stop_waits_for_a_request_being_handled(sock_path):
    entered = threading.Event()

    def slow(request: Request) -> Mapping[str, object]:
        entered.set()
        time.sleep(0.2)
        return {"finished": True}

    server = SocketServer(sock_path, slow)
    server.start()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(ask, sock_path)
        assert entered.wait(5)
        server.stop()
        assert server.in_flight == 0
        assert pending.result(5) == {"finished": True}


def test_a_message_just_under_the_limit_is_served(sock_path):
    big = POD.replace(pod_name="p" * (MAX_MESSAGE - 400))
    with serving(sock_path):
        assert ask(sock_path, "add", big)["op"] == "add"
