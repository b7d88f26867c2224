"""The Compute Engine REST API of the emulator: routes (the paths ``compute_v1``'s REST
transport builds), and a front that counts, delays, throttles and fails calls on demand.

Served (``{p}`` project, ``{z}`` zone, ``{r}`` region), as ``compute_v1``'s REST transport
builds them (``rest_base.py``: note that updateNetworkInterface is a PATCH):

- ``GET /compute/v1/projects/{p}/zones/{z}/instances/{i}``: instances.get
- ``PATCH /compute/v1/projects/{p}/zones/{z}/instances/{i}/updateNetworkInterface``
  ``?networkInterface=nic0[&requestId=UUID]``, body a NetworkInterface:
  instances.updateNetworkInterface
- ``GET /compute/v1/projects/{p}/zones/{z}/operations/{o}``: zoneOperations.get
- ``POST /compute/v1/projects/{p}/zones/{z}/operations/{o}/wait``: zoneOperations.wait
- ``GET /compute/v1/projects/{p}/regions/{r}/subnetworks/{s}``: subnetworks.get

Per call, in this order: count it; sleep the injected latency of its method (on the clock);
take a token from the project's bucket if throttling is on (else 403 ``rateLimitExceeded``);
answer a queued one-shot fault of its method; otherwise serve it from the model. Anything
else is 404 ``notFound`` (not counted).

``zoneOperations.wait`` returns once the operation is DONE or after ``wait_limit`` seconds
(Compute Engine: up to 2 minutes; the REST client sends no deadline to honour), sleeping on
the clock: a fake clock moves forward instead.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter, defaultdict, deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from providers.ratelimit import TokenBucket
from sandbox.gce import errors, updates
from sandbox.gce.loopback import Handler, LoopbackServer
from sandbox.gce.model import Model
from sandbox.gce.resources import instance_json, operation_json, subnetwork_json

GET_INSTANCE = "instances.get"
UPDATE_NIC = "instances.updateNetworkInterface"
GET_OPERATION = "zoneOperations.get"
WAIT_OPERATION = "zoneOperations.wait"
GET_SUBNETWORK = "subnetworks.get"
METHODS = (GET_INSTANCE, UPDATE_NIC, GET_OPERATION, WAIT_OPERATION, GET_SUBNETWORK)

_PROJECT = r"/compute/v1/projects/(?P<project>[^/]+)"
_ZONE = _PROJECT + r"/zones/(?P<zone>[^/]+)"
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(_ZONE + r"/instances/(?P<name>[^/]+)"), GET_INSTANCE),
    (
        "PATCH",
        re.compile(_ZONE + r"/instances/(?P<name>[^/]+)/updateNetworkInterface"),
        UPDATE_NIC,
    ),
    ("GET", re.compile(_ZONE + r"/operations/(?P<name>[^/]+)"), GET_OPERATION),
    ("POST", re.compile(_ZONE + r"/operations/(?P<name>[^/]+)/wait"), WAIT_OPERATION),
    (
        "GET",
        re.compile(_PROJECT + r"/regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)"),
        GET_SUBNETWORK,
    ),
)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


class Front:
    """Counts, latency, the project's token bucket and one-shot faults. Thread-safe."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._latency: dict[str, float] = {}
        self._faults: defaultdict[str, deque[errors.ApiError]] = defaultdict(deque)
        self._bucket: TokenBucket | None = None

    def throttle(self, burst: int, rate: float) -> None:
        bucket = TokenBucket(rate, burst, name=self.model.project, clock=self.model.clock.now)
        with self._lock:
            self._bucket = bucket

    def unthrottle(self) -> None:
        with self._lock:
            self._bucket = None

    def set_latency(self, method: str, seconds: float) -> None:
        check_method(method)
        with self._lock:
            if seconds > 0:
                self._latency[method] = seconds
            else:
                self._latency.pop(method, None)

    def fail_next(self, method: str, status: int, reason: str, message: str) -> None:
        check_method(method)
        with self._lock:
            self._faults[method].append(errors.ApiError(status, reason, message))

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

    def admit(self, method: str) -> None:
        """Steps 1-4 of a call; raises the ApiError to answer instead of serving it."""
        with self._lock:
            self._counts[method] += 1
            latency = self._latency.get(method, 0.0)
        if latency:
            self.model.clock.sleep(latency)
        with self._lock:
            bucket = self._bucket
        if bucket is not None and not bucket.try_acquire():
            with self._lock:
                self._throttled[method] += 1
            raise errors.rate_limited(self.model.project)
        with self._lock:
            queue = self._faults.get(method)
            fault = queue.popleft() if queue else None
        if fault is not None:
            raise fault


class ComputeApi:
    """The API server: ``front`` and the model behind it."""

    def __init__(self, model: Model, wait_limit: float = 2.0) -> None:
        self.model = model
        self.front = Front(model)
        self.wait_limit = wait_limit
        self._server = LoopbackServer(_handler_for(self), "gce-api")

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    @property
    def port(self) -> int:
        return self._server.port

    def serve(
        self, verb: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        for route_verb, pattern, method in ROUTES:
            match = pattern.fullmatch(path)
            if match is None or route_verb != verb:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                self.front.admit(method)
                return 200, self._call(method, params, query, body)
            except errors.ApiError as error:
                return error.status, error.body()
        return 404, errors.not_found(path.removeprefix("/compute/v1/")).body()

    def _call(
        self, method: str, params: dict[str, str], query: dict[str, list[str]], body: bytes
    ) -> Any:
        model = self.model
        if method == WAIT_OPERATION:
            self._wait(params)
        with model.lock:
            model.settle()
            if method == GET_SUBNETWORK:
                subnet = model.subnetwork(params["project"], params["region"], params["name"])
                return subnetwork_json(model, subnet)
            if method in (GET_OPERATION, WAIT_OPERATION):
                op = model.operation(params["project"], params["zone"], params["name"])
                return operation_json(model, op)
            instance = model.instance(params["project"], params["zone"], params["name"])
            if method == GET_INSTANCE:
                return instance_json(model, instance)
            interface = _first(query, "networkInterface")
            if interface is None:
                raise errors.required("networkInterface")
            try:
                document = json.loads(body or b"{}")
            except ValueError:
                raise errors.invalid("Invalid JSON payload received.") from None
            op = updates.submit(model, instance, interface, document, _first(query, "requestId"))
            return operation_json(model, op)

    def _wait(self, params: dict[str, str]) -> None:
        """Sleep (on the clock) until the operation is due or ``wait_limit`` has passed."""
        clock = self.model.clock
        deadline = clock.now() + self.wait_limit
        while True:
            with self.model.lock:
                self.model.settle()
                op = self.model.operation(params["project"], params["zone"], params["name"])
                if op.status == "DONE":
                    return
                due = op.due
            now = clock.now()
            if now >= deadline:
                return
            clock.sleep(max(0.0, min(due, deadline) - now))


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _handler_for(api: ComputeApi) -> type[Handler]:
    class ApiHandler(Handler):
        server_version = "ESF"

        def serve_request(self) -> None:
            url = urlsplit(self.path)
            body = self.read_body()
            status, document = api.serve(
                self.command, url.path, parse_qs(url.query, keep_blank_values=True), body
            )
            self.send_json(status, document)

    return ApiHandler
