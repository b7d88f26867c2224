"""The HTTP endpoint Prometheus scrapes: ``GET /metrics`` on a TCP address, 404 elsewhere.

Our own small ``ThreadingHTTPServer`` rather than prometheus_client's ``start_http_server``,
which answers metrics on every path and cannot be stopped without reaching into it. The
server runs in one daemon thread; each request gets its own short-lived thread, so a slow
scraper never holds up the next one. ``stop()`` ends the loop, closes the listening socket
and joins the thread, so the port is free as soon as it returns.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from config import BindAddress

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a scraper that stalls mid-request does not keep its thread forever

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        if self.path.split("?", 1)[0] != METRICS_PATH:
            self.send_error(404, f"only {METRICS_PATH} is served here")
            return
        try:
            body = self.server.render()
        except Exception:
            log.exception("rendering the metrics failed")
            self.send_error(500, "rendering the metrics failed")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics %s: " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        family: socket.AddressFamily,
        address: tuple[Any, ...],
        render: Callable[[], bytes],
    ) -> None:
        self.address_family = family
        self.render = render
        super().__init__(address, _Handler)


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """The socket family and address to bind ``host:port``; an empty host means every IPv4
    address. IP literals are used as given; a host name takes its first address."""
    infos = socket.getaddrinfo(
        host or "0.0.0.0",
        port,
        type=socket.SOCK_STREAM,
        flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV,
    )
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


class MetricsServer:
    """A running metrics endpoint; ``address`` is the ``host:port`` actually bound."""

    def __init__(self, address: BindAddress, render: Callable[[], bytes]) -> None:
        if address.is_unix:
            raise ValueError(f"metrics are served over TCP only, not {address}")
        family, sockaddr = _resolve(address.host, address.port)
        self._server = _Server(family, sockaddr, render)
        host, port = self._server.socket.getsockname()[:2]
        self.address = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"metrics-{self.address}",
            daemon=True,
        )
        self._thread.start()
        log.info("serving metrics on http://%s%s", self.address, METRICS_PATH)

    def stop(self) -> None:
        """Stop serving and free the port; a second call does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._server.shutdown()  # returns once serve_forever has left its loop
            self._server.server_close()
            self._thread.join()
