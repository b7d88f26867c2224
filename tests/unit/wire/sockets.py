"""Raw unix socket clients for tests that must send what vpc-cni never would."""

from __future__ import annotations

import socket
from pathlib import Path


def connect(path: Path, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes.

    A unix socket whose peer closed with our bytes still unread reports ECONNRESET once
    the queued data has been read: that is a close too.
    """
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def exchange(path: Path, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes as one client and return all the server sent back."""
    with connect(path, timeout) as sock:
        sock.sendall(data)
        return read_all(sock)
