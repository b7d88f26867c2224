"""The introspection endpoint: read-only JSON over HTTP, on TCP or a unix socket.

The transport only: which paths exist, their answers as JSON, and the rules every answer
follows (docs/introspection.md): GET and HEAD only (405 otherwise), 404 naming the known
paths, 400 for a bad query, 500 when building an answer failed; the daemon never stops
for a request. What each path answers is the route's business (``ipamd.views``,
``ipamd.why``, the doctor). A unix socket is created mode 0600 in a private directory (only
root may ask); a TCP address is whatever the setting says, loopback by default.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn, UnixStreamServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cni.spool import ensure_private_dir
from config import BindAddress

log = logging.getLogger(__name__)

Route = Callable[[Mapping[str, str]], Mapping[str, Any]]
"""Query parameters (first value of each) -> the JSON answer."""

READ_TIMEOUT = 10.0
"""Seconds a client has to send its request; a stalled one cannot hold a thread longer."""


class BadQuery(Exception):
    """The query cannot be answered as asked (400); ``extra`` joins the error's JSON."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


class _Handler(BaseHTTPRequestHandler):
    routes: Mapping[str, Route] = {}
    server_version = "vpc-ipamd"
    timeout = READ_TIMEOUT

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "introspection is read-only"}, True)

    def do_POST(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def do_DELETE(self) -> None:
        self._refuse()

    def do_PATCH(self) -> None:
        self._refuse()

    def _answer(self, *, body: bool) -> None:
        url = urlsplit(self.path)
        route = self.routes.get(url.path.rstrip("/") or "/")
        if route is None:
            known = sorted(self.routes)
            error = {"error": f"no such endpoint: {url.path}", "endpoints": known}
            self._send(HTTPStatus.NOT_FOUND, error, body)
            return
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:  # encoding too: an answer that is not JSON is a failed answer (500), not silence
            data, status = _json(route(query)), HTTPStatus.OK
        except BadQuery as bad:
            data, status = _json({"error": str(bad), **bad.extra}), HTTPStatus.BAD_REQUEST
        except Exception as error:  # one failed answer must never stop the daemon
            log.exception("introspection %s failed", url.path)
            data = _json({"error": f"{type(error).__name__}: {error}"})
            status = HTTPStatus.INTERNAL_SERVER_ERROR
        self._send_data(status, data, body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's own answers (a malformed request, a method without ``do_``) as
        JSON too; its only 501 is for an unknown method, which is read-only's 405."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            self._refuse()
            return
        status = HTTPStatus(code)
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self._send(status, {"error": message or status.phrase}, self.command != "HEAD")

    def _send(self, status: HTTPStatus, answer: Mapping[str, Any], body: bool) -> None:
        self._send_data(status, _json(answer), body)

    def _send_data(self, status: HTTPStatus, data: bytes, body: bool) -> None:
        self.send_response(status)
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def address_string(self) -> str:
        # a unix socket's peer has no address (client_address is ""), which the base breaks on
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("introspection %s: " + format, self.address_string(), *args)


def _json(answer: Mapping[str, Any]) -> bytes:
    return (json.dumps(answer, indent=1, sort_keys=False) + "\n").encode()


BACKLOG = 64
"""Connections waiting to be accepted (socketserver's 5 refuses a burst on a unix socket)."""


class _UnixHTTPServer(ThreadingMixIn, UnixStreamServer):
    daemon_threads = True
    request_queue_size = BACKLOG


class IntrospectionServer:
    """Serves ``routes`` at ``address`` in a daemon thread until ``stop``."""

    def __init__(self, address: BindAddress, routes: Mapping[str, Route]) -> None:
        handler = type("IntrospectionHandler", (_Handler,), {"routes": dict(routes)})
        self._unix = address.unix_path
        self._server: ThreadingHTTPServer | _UnixHTTPServer
        if address.unix_path is not None:
            self._server = self._bind_unix(Path(address.unix_path), handler)
            self.address = str(address)
        else:
            host = address.host or "0.0.0.0"  # the setting asked for every address
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            server_class = type(
                "Server",
                (ThreadingHTTPServer,),
                {"address_family": family, "request_queue_size": BACKLOG},
            )
            tcp = server_class((host, address.port), handler)
            self._server = tcp
            self.address = str(BindAddress(host=address.host, port=tcp.server_port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="introspection", daemon=True
        )
        self._stopped = False

    @staticmethod
    def _bind_unix(path: Path, handler: type[_Handler]) -> _UnixHTTPServer:
        ensure_private_dir(path.parent)
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise FileExistsError(f"{path} exists and is not a socket; not replacing it")
            path.unlink()  # a socket left by an earlier daemon
        old_mask = os.umask(0o177)  # the socket is born 0600: no window where others connect
        try:
            return _UnixHTTPServer(str(path), handler)
        finally:
            os.umask(old_mask)

    def start(self) -> IntrospectionServer:
        self._thread.start()
        log.info("introspection on %s", self.address)
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        if self._thread.is_alive():
            self._thread.join(5)
        if self._unix is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._unix)
