"""A threaded HTTP/1.1 server on 127.0.0.1 that can be stopped cleanly, shared by the Compute
API server and the metadata servers.

``http.server.ThreadingHTTPServer`` serves each connection in a daemon thread; a client that
keeps its connection alive (``requests`` does) would leave that thread blocked on the socket
after ``shutdown()``. This server remembers its open connections and shuts them down on
``stop()``, which then joins the serving thread.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__((HOST, 0), handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up mid-answer (a watch it closes, a daemon killed) is normal
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_now, self._connections = list(self._connections), set()
        for connection in open_now:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)


class LoopbackServer:
    """Serves ``handler`` on 127.0.0.1 (a free port) in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._handler = handler
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server = _Server(self._handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self._name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])


class Handler(BaseHTTPRequestHandler):
    """Keep-alive request handler: every verb goes to ``serve_request`` (``self.command``
    says which); helpers read the body and send an answer."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a kept-alive connection may sit idle
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def log_message(self, format: str, *args: Any) -> None:
        return

    def serve_request(self) -> None:
        self.read_body()
        self.send(405, b"", "text/plain")

    def do_GET(self) -> None:
        self.serve_request()

    def do_POST(self) -> None:
        self.serve_request()

    def do_PATCH(self) -> None:
        self.serve_request()

    def do_PUT(self) -> None:
        self.serve_request()

    def do_DELETE(self) -> None:
        self.serve_request()

    def read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document, indent=1).encode()
        self.send(status, body, "application/json; charset=UTF-8", headers)
