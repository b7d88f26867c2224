"""The control socket of a running sandbox, so other shells can act on it.

The process that runs a kept sandbox (``vpc-ipam-sandbox up``) owns its emulators, portals,
pods and kubelets; ``vpc-ipam-sandbox pods|check`` are separate processes, so they ask it
over a unix socket in the run directory (0600: root only). One request per connection, one
line of JSON each way. A handler error becomes ``{"ok": false, "error": ...}``; nothing a
client sends can stop the server.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(RuntimeError):
    """The sandbox did not answer, or answered with an error."""


class ControlServer:
    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = path
        self.handle = handle
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> ControlServer:
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="sandbox-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            line = _read_line(conn)
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            reply = {"ok": True, **self.handle(request)}
        except Exception as error:  # a bad request or a failing action: say so, keep serving
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        try:
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            log.warning("a control client left before its answer")


def request(path: Path, message: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Send one request to a sandbox's control socket; its reply, or ControlError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            reply = json.loads(_read_line(sock))
        except (OSError, ValueError) as error:
            raise ControlError(f"the sandbox at {path} did not answer: {error}") from error
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error")))
    return dict(reply)


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_LINE:
            raise ValueError(f"request longer than {MAX_LINE} bytes")
    return data.decode()
