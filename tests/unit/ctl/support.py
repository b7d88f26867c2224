"""Honest stand-ins for the daemon's two faces, as vpc-ipamctl meets them.

``FakeDaemon`` speaks the wire protocol on a unix socket (one request, one reply per
connection) and records what it received. ``IntrospectionServer`` is a real
``http.server`` answering GETs from a table of routes, over TCP on 127.0.0.1 or over a unix
socket, and records the paths it was asked for.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cni.errors import CniError
from cni.framing import read_message
from cni.messages import Request
from cni.wire import decode_request, encode_reply

Answer = Callable[[Request], Mapping[str, object] | CniError | None]
"""What the fake daemon sends for a request; None sends nothing and closes."""


class FakeDaemon:
    """One thread accepting connections on a unix socket; one request, one reply each."""

    def __init__(self, path: Path, answer: Answer) -> None:
        self.path = path
        self.answer = answer
        self.requests: list[Request] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                request = decode_request(read_message(conn, deadline=time.monotonic() + 5))
                self.requests.append(request)
                outcome = self.answer(request)
                if outcome is not None:
                    conn.sendall(encode_reply(outcome))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@contextmanager
def short_tmpdir() -> Iterator[Path]:
    """A fresh directory under /tmp: unix socket paths must stay under 108 bytes, which
    pytest's tmp_path often is not."""
    directory = Path(tempfile.mkdtemp(prefix="vc-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


Route = tuple[int, object]
"""(HTTP status, body): a dict or list is sent as JSON, bytes as they are."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Served

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.paths.append(self.path)
        route = owner.routes.get(self.path) or owner.routes.get(self.path.split("?")[0])
        status, body = route or (
            404,
            {"error": f"no such endpoint: {self.path}", "endpoints": sorted(owner.routes)},
        )
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Served(socketserver.BaseServer):
    owner: IntrospectionServer


class _TcpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: IntrospectionServer


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: IntrospectionServer


class IntrospectionServer:
    """The introspection endpoint's HTTP face: GET ``path`` answers ``routes[path]`` (the
    full path with its query first, then the path alone), else the contract's 404."""

    def __init__(self, transport: str, socket_dir: Path) -> None:
        self.routes: dict[str, Route] = {}
        self.paths: list[str] = []
        self.server: socketserver.BaseServer
        if transport == "tcp":
            tcp = _TcpServer(("127.0.0.1", 0), _Handler)
            tcp.owner = self
            self.server = tcp
            self.address = f"127.0.0.1:{tcp.server_address[1]}"
        else:
            path = socket_dir / "introspect.sock"
            unix = _UnixServer(str(path), _Handler)
            unix.owner = self
            self.server = unix
            self.address = f"unix:{path}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def serve(self, path: str, document: object, status: int = 200) -> None:
        self.routes[path] = (status, document)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
