"""The HTTP front of the EC2 emulator: WSGI middleware in front of moto's server app.

Per call (an EC2 query request with an ``Action``), in this order:

1. count it (``call_counts``; the benchmarks read these);
2. apply injected latency for that action (``clock.sleep``, so a fake clock just moves);
3. throttle it: an empty token bucket answers 503 ``RequestLimitExceeded`` in EC2's XML shape;
4. answer a queued one-shot fault (``fail_next``), or a standing one (``fail_matching``: every
   call of an action or action class, or a seeded random share of them, until cleared),
   instead of calling moto;
5. a stale action (``serve_stale``) answers what moto answered the first time the same
   request was made after the switch (a describe that returns old data), until switched off;
6. otherwise hand it to moto (one call at a time: moto's models are not thread-safe).

Every call that reaches step 4 is journaled with its parameters (``journal``), so a test
can tell what a client asked EC2 to do, e.g. that it never unassigned an address a pod holds.
Requests carrying the ``INTERNAL_HEADER`` (the emulator's own setup calls) skip all of this.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from providers.ratelimit import classify_ec2
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


@dataclass(frozen=True)
class Call:
    """One call a client made (journaled before any fault or moto answers it)."""

    at: float
    """``time.time()`` when it arrived."""
    action: str
    params: dict[str, list[str]]
    """The query parameters, as ``parse_qs`` gives them."""
    answered: str = ""
    """``moto``, ``stale``, ``throttled`` or the injected fault's code."""


@dataclass
class _Standing:
    fault: Fault
    share: float
    rng: random.Random


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
        self._standing: dict[str, _Standing] = {}
        self._stale: dict[str, dict[bytes, tuple[str, list[tuple[str, str]], list[bytes]]]] = {}
        self._journal: list[Call] = []
        self.injected = 0
        """Calls answered by an injected fault (one-shot or standing) so far."""

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

    def fail_matching(
        self,
        target: str,
        code: str,
        message: str,
        status: int = 400,
        *,
        share: float = 1.0,
        seed: int = 0,
    ) -> None:
        """Answer ``share`` of the calls of ``target`` (an action name, or a class:
        ``describe``, ``allocate``, ``mutating``) with this error, until ``clear_faults``;
        which calls is drawn from a generator seeded with ``seed``."""
        with self._lock:
            self._standing[target] = _Standing(
                Fault(code, message, status), share, random.Random(seed)
            )

    def clear_faults(self, target: str | None = None) -> None:
        """Stop the standing faults of ``target`` (all of them when None)."""
        with self._lock:
            if target is None:
                self._standing.clear()
            else:
                self._standing.pop(target, None)

    def serve_stale(self, action: str, stale: bool = True) -> None:
        """While on, each distinct request of ``action`` is answered with what moto answered
        the first time it was made after the switch; off forgets those answers."""
        with self._lock:
            if stale:
                self._stale.setdefault(action, {})
            else:
                self._stale.pop(action, None)

    def journal(self, *actions: str) -> list[Call]:
        """The calls so far, oldest first (only those of ``actions`` when given)."""
        with self._lock:
            return [c for c in self._journal if not actions or c.action in actions]

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
        form = None if environ.get(_INTERNAL_ENVIRON) else _form_of(environ)
        action = str(form["Action"][0]) if form and "Action" in form else None
        if form is None or action is None:
            return self._moto(environ, start_response)
        with self._lock:
            self._counts[action] += 1
            latency = self._latency.get(action, 0.0)
        if latency:
            self.clock.sleep(latency)
        call = Call(time.time(), action, form)
        if not self.throttle.admit(action):
            with self._lock:
                self._throttled[action] += 1
                self._journal.append(_answered(call, "throttled"))
            return _error(start_response, THROTTLED)
        with self._lock:
            queue = self._faults.get(action)
            fault = queue.popleft() if queue else None
            standing = self._standing.get(action) or self._standing.get(classify_ec2(action))
            if fault is None and standing is not None and standing.rng.random() < standing.share:
                fault = standing.fault
            if fault is not None:
                self.injected += 1
            stale = self._stale.get(action)
            key = _request_key(form)
            remembered = stale.get(key) if stale is not None else None
            how = fault.code if fault else "stale" if remembered else "moto"
            self._journal.append(_answered(call, how))
        if fault is not None:
            return _error(start_response, fault)
        if remembered is not None:
            status, headers, body = remembered
            start_response(status, headers)
            return body
        if stale is None:
            return self._moto(environ, start_response)
        return self._remember(action, key, environ, start_response)

    def _remember(
        self, action: str, key: bytes, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        seen: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            seen.append((status, list(headers)))
            return start_response(status, headers, *rest)

        body = list(self._moto(environ, capture))
        with self._lock:
            stale = self._stale.get(action)
            if stale is not None and seen and seen[0][0].startswith("2"):
                stale.setdefault(key, (seen[0][0], seen[0][1], body))
        return body

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


def _form_of(environ: dict[str, Any]) -> dict[str, list[str]] | None:
    """The query-protocol parameters, from the query string or the form body (which is read
    and put back for moto); None when the request carries no ``Action``."""
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", "replace"))
    return form if "Action" in form else None


def _request_key(form: dict[str, list[str]]) -> bytes:
    return repr(sorted(form.items())).encode()


def _answered(call: Call, how: str) -> Call:
    return Call(call.at, call.action, call.params, how)


def _error(start_response: StartResponse, fault: Fault) -> list[bytes]:
    body = error_document(fault.code, fault.message)
    reason = _REASONS.get(fault.status, "Error")
    start_response(
        f"{fault.status} {reason}",
        [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
