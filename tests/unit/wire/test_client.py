"""cni.client.call against real unix sockets: every failure is the CNI error a runtime needs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cni.client import call, new_request
from cni.errors import DECODING_FAILURE, TRY_AGAIN_LATER, CniError
from cni.framing import read_message
from cni.wire import HealthArgs, PodArgs, Request, encode_request

REQUEST = Request(
    op="add",
    args=PodArgs(network="vpc", container_id="abc", ifname="eth0", netns="/proc/1/ns/net"),
    request_id="req-1",
    deadline_ms=2000,
)


@contextmanager
def one_shot_daemon(path: Path, reply: bytes | None, *, read: bool = True) -> Iterator[list[bytes]]:
    """A daemon that accepts one connection, reads the request (kept in the yielded list),
    sends ``reply`` verbatim (None: nothing) and closes."""
    received: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            if read:
                received.append(read_message(conn, deadline=time.monotonic() + 10))
            if reply is not None:
                conn.sendall(reply)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield received
    finally:
        thread.join(10)
        listener.close()


def call_error(path: Path, timeout: float = 5.0) -> CniError:
    with pytest.raises(CniError) as info:
        call(str(path), REQUEST, timeout=timeout)
    return info.value


def test_the_result_of_an_ok_reply_is_returned(sock_path):
    with one_shot_daemon(sock_path, b'{"v":1,"ok":true,"result":{"ips":["10.0.1.5"]}}\n') as seen:
        result = call(str(sock_path), REQUEST, timeout=5)

    assert result == {"ips": ["10.0.1.5"]}
    assert seen == [encode_request(REQUEST).rstrip(b"\n")]


def test_a_daemon_error_is_raised_with_its_code_msg_and_details_unchanged(sock_path):
    reply = b'{"v":1,"ok":false,"error":{"code":7,"msg":"bad subnet","details":"10.0.0.0/31"}}\n'
    with one_shot_daemon(sock_path, reply):
        error = call_error(sock_path)

    assert error == CniError(7, "bad subnet", "10.0.0.0/31")


def test_a_missing_socket_is_try_again_later_naming_the_path(sock_path):
    error = call_error(sock_path)

    assert error.code == TRY_AGAIN_LATER
    assert error.msg == f"vpc-ipamd is not reachable at {sock_path}"
    assert "No such file or directory" in error.details


def test_a_socket_nobody_listens_on_is_try_again_later(sock_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays; connecting to it is refused

    error = call_error(sock_path)

    assert error.code == TRY_AGAIN_LATER
    assert error.msg == f"vpc-ipamd is not reachable at {sock_path}"
    assert "Connection refused" in error.details


def test_a_daemon_that_never_answers_is_try_again_later_naming_the_timeout(sock_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)  # connections queue in the backlog; nobody accepts them
    with listener:
        error = call_error(sock_path, timeout=0.2)

    assert error.code == TRY_AGAIN_LATER
    assert error.msg == "vpc-ipamd did not answer within 0.2 s"
    assert "add req-1" in error.details


def test_a_daemon_closing_without_a_reply_is_try_again_later(sock_path):
    with one_shot_daemon(sock_path, None):
        error = call_error(sock_path)

    assert error.code == TRY_AGAIN_LATER
    assert error.msg == "vpc-ipamd closed the connection without replying"


def test_a_reply_the_binary_cannot_read_is_code_6(sock_path):
    with one_shot_daemon(sock_path, b"<html>oops</html>\n"):
        error = call_error(sock_path)

    assert error.code == DECODING_FAILURE


def test_a_reply_sent_before_the_daemon_read_the_request_is_still_read(sock_path):
    busy = b'{"v":1,"ok":false,"error":{"code":11,"msg":"vpc-ipamd is busy","details":""}}\n'
    with one_shot_daemon(sock_path, busy, read=False):
        error = call_error(sock_path)

    assert error == CniError(11, "vpc-ipamd is busy")


def test_new_request_has_a_fresh_id_and_the_timeout_as_deadline():
    first = new_request("health", HealthArgs(), timeout=2.5)
    second = new_request("health", HealthArgs(), timeout=2.5)

    assert first.deadline_ms == 2500
    assert first.request_id != second.request_id
    assert len(first.request_id) == 16


def test_a_non_positive_timeout_is_refused(sock_path):
    with pytest.raises(ValueError):
        call(str(sock_path), REQUEST, timeout=0)
