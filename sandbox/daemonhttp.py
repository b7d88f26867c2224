"""HTTP GETs to a daemon's metrics and introspection endpoints, wherever it runs.

A daemon in a node namespace listens on that namespace's loopback, which the host cannot
reach; the socket for the request is made inside the namespace (``sandbox.portal``), so
nothing is forwarded and nothing changes in any namespace. Introspection on a unix socket is
a file on the shared filesystem and is reached from anywhere. Plain HTTP/1.0 by hand: one
request, read to the end, for tests and the sandbox CLI only.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from sandbox.portal import socket_in_netns


class HttpFailed(RuntimeError):
    """No answer, or not a 200."""


def get(address: str, path: str, *, netns: str | None = None, timeout: float = 10.0) -> bytes:
    """GET ``path`` from ``address`` (``host:port`` or ``unix:/path``); the body of a 200."""
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: Any = address.removeprefix("unix:")
    else:
        host, _, port = address.rpartition(":")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket_in_netns(netns, family) if netns else socket.socket(family)
        target = (host.strip("[]") or "127.0.0.1", int(port))
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(target)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: vpc-ipamd\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError as error:
            raise HttpFailed(f"GET {path} from {address}: {error}") from error
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 200 " not in f"{status} ":
        raise HttpFailed(f"GET {path} from {address}: {status}: {body[:300]!r}")
    return body


def get_json(address: str, path: str, *, netns: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(get(address, path, netns=netns))
    return answer
