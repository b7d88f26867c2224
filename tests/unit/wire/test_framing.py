"""Reading and sending one message on a stream socket: line framing, the size cap, deadlines."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cni.errors import DECODING_FAILURE, CniError
from cni.framing import ConnectionClosed, read_message, send_message
from cni.wire import MAX_MESSAGE


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        yield a, b


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def test_a_line_is_returned_without_its_newline(pair):
    a, b = pair
    a.sendall(b'{"v":1}\n')

    assert read_message(b, deadline=soon()) == b'{"v":1}'


def test_a_line_arriving_in_pieces_is_put_together(pair):
    a, b = pair

    def dribble() -> None:
        for piece in (b'{"v"', b":1", b"}", b"\n"):
            a.sendall(piece)
            time.sleep(0.01)

    sender = threading.Thread(target=dribble)
    sender.start()
    try:
        assert read_message(b, deadline=soon()) == b'{"v":1}'
    finally:
        sender.join()


def test_bytes_after_the_newline_are_ignored(pair):
    a, b = pair
    a.sendall(b"first\nsecond\n")

    assert read_message(b, deadline=soon()) == b"first"


def test_a_message_of_exactly_the_limit_is_accepted(pair):
    a, b = pair
    body = b"x" * (MAX_MESSAGE - 1)
    sender = threading.Thread(target=a.sendall, args=(body + b"\n",))
    sender.start()
    try:
        assert read_message(b, deadline=soon()) == body
    finally:
        sender.join()


def test_a_longer_message_is_refused_after_reading_only_the_limit(pair):
    a, b = pair
    extra = 1000
    sender = threading.Thread(target=a.sendall, args=(b"x" * (MAX_MESSAGE + extra),))
    sender.start()
    try:
        with pytest.raises(CniError) as info:
            read_message(b, deadline=soon())
        sender.join()
        a.close()
        assert len(b"".join(iter(lambda: b.recv(65536), b""))) == extra
    finally:
        sender.join()

    assert info.value.code == DECODING_FAILURE
    assert "too large" in info.value.msg


def test_a_peer_closing_mid_line_is_connection_closed_with_the_count(pair):
    a, b = pair
    a.sendall(b'{"v":')
    a.shutdown(socket.SHUT_WR)

    with pytest.raises(ConnectionClosed) as info:
        read_message(b, deadline=soon())

    assert info.value.received == 5


def test_a_silent_peer_times_out(pair):
    _, b = pair

    with pytest.raises(TimeoutError):
        read_message(b, deadline=soon(0.1))


def test_a_slow_peer_cannot_stretch_the_deadline_by_trickling(pair):
    a, b = pair
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            a.send(b"x")
            time.sleep(0.02)

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        with pytest.raises(TimeoutError):
            read_message(b, deadline=soon(0.2))
    finally:
        stop.set()
        sender.join()


def test_send_message_sends_all_bytes(pair):
    a, b = pair
    send_message(a, b"hello\n", deadline=soon())

    assert read_message(b, deadline=soon()) == b"hello"


def test_send_after_the_deadline_times_out(pair):
    a, _ = pair

    with pytest.raises(TimeoutError):
        send_message(a, b"late\n", deadline=time.monotonic() - 1)
