"""Framing of the wire protocol: one newline-terminated message each way, under a deadline.

Kept apart from the codec (cni.wire) because it owns the socket side: reading never holds
more than MAX_MESSAGE bytes, so a peer that never sends a newline cannot make either side
buffer without bound, and every read and write runs against one overall deadline.
"""

from __future__ import annotations

import time

from cni.wire import MAX_MESSAGE, too_large

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket  # socket.socket's base: the binary uses it bare (cni.client)

_CHUNK = 16 * 1024


class ConnectionClosed(ConnectionError):
    """The peer closed the connection before a whole message arrived."""

    def __init__(self, received: int) -> None:
        super().__init__(f"connection closed after {received} bytes, before the end of line")
        self.received = received


def send_message(sock: socket, data: bytes, *, deadline: float) -> None:
    """Send one encoded message before ``deadline`` (a ``time.monotonic()`` value)."""
    sock.settimeout(_remaining(deadline))
    sock.sendall(data)


def read_message(sock: socket, *, deadline: float) -> bytes:
    """Read one line (returned without its newline) before ``deadline``.

    Never holds more than MAX_MESSAGE bytes: a peer that sends that much without a newline
    gets CniError code 6 and the rest stays unread. TimeoutError when the deadline passes,
    ConnectionClosed when the peer closes first, OSError for other socket failures. Bytes
    after the newline are ignored (there is one message per connection).
    """
    buf = bytearray()
    while True:
        if len(buf) >= MAX_MESSAGE:
            raise too_large("the message")
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(min(_CHUNK, MAX_MESSAGE - len(buf)))
        if not chunk:
            raise ConnectionClosed(len(buf))
        end = chunk.find(b"\n")
        if end >= 0:
            buf += chunk[:end]
            return bytes(buf)
        buf += chunk


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    return remaining
