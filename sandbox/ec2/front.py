"""The HTTP front of the EC2 emulator: WSGI middleware in front of moto's server app.

Per call (an EC2 query request with an ``Action``), in this order:

1. count it (``call_counts``; the benchmarks read these);
2. apply injected latency for that action (``clock.sleep``, so a fake clock just moves);
3. throttle it: an empty token bucket answers 503 ``RequestLimitExceeded`` in EC2's XML shape;
4. answer a queued one-shot fault (``fail_next``) instead of calling moto;
5. otherwise hand it to moto (one call at a time: moto's models are not thread-safe).

Requests carrying the ``INTERNAL_HEADER`` (the emulator's own setup calls) skip all of this.
"""

from __future__ import annotations

import io
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from sandbox.clock import Clock
from sandbox.ec2.errors import error_document
from sandbox.ec2.state import LOCK
from sandbox.ec2.throttle import Throttle

INTERNAL_HEADER = "X-Vpc-Ipam-Sandbox-Internal"
_INTERNAL_ENVIRON = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Fault:
    code: str
    message: str
    status: int = 400


THROTTLED = Fault("RequestLimitExceeded", "Request limit exceeded.", 503)


class Front:
    """WSGI middleware: counts, latency, throttling and one-shot faults per EC2 action."""

    def __init__(self, app: WsgiApp, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.throttle = Throttle(clock)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._latency: dict[str, float] = {}
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)

    # -- configuration (thread-safe) --

    def set_latency(self, action: str, seconds: float) -> None:
        with self._lock:
            if seconds > 0:
                self._latency[action] = seconds
            else:
                self._latency.pop(action, None)

    def fail_next(self, action: str, code: str, message: str, status: int = 400) -> None:
        with self._lock:
            self._faults[action].append(Fault(code, message, status))

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def throttled_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._throttled)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._throttled.clear()

    # -- WSGI --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        action = None if environ.get(_INTERNAL_ENVIRON) else _action_of(environ)
        if action is None:
            return self._moto(environ, start_response)
        with self._lock:
            self._counts[action] += 1
            latency = self._latency.get(action, 0.0)
        if latency:
            self.clock.sleep(latency)
        if not self.throttle.admit(action):
            with self._lock:
                self._throttled[action] += 1
            return _error(start_response, THROTTLED)
        with self._lock:
            queue = self._faults.get(action)
            fault = queue.popleft() if queue else None
        if fault is not None:
            return _error(start_response, fault)
        return self._moto(environ, start_response)

    def _moto(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # moto is not thread-safe; the server is. Calls into moto take turns (latency and
        # throttling above still overlap).
        with LOCK:
            result = self.app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def _action_of(environ: dict[str, Any]) -> str | None:
    """The query-protocol ``Action``, from the query string or the form body (which is read
    and put back for moto)."""
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return str(query["Action"][0])
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", "replace"))
    return str(form["Action"][0]) if "Action" in form else None


def _error(start_response: StartResponse, fault: Fault) -> list[bytes]:
    body = error_document(fault.code, fault.message)
    reason = _REASONS.get(fault.status, "Error")
    start_response(
        f"{fault.status} {reason}",
        [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
