"""The Kubernetes API over HTTP/1.1 on 127.0.0.1: routing, verbs, lists and watches.

Paths served (``{r}`` is nodes, pods or events; eniconfigs live under their CRD group):

    /api/v1/{r}                          list, watch (all namespaces); create (cluster-scoped)
    /api/v1/{r}/{name}[/status]          get, update (PUT), patch, delete (cluster-scoped)
    /api/v1/namespaces/{ns}/{r}          list, watch, create (namespaced)
    /api/v1/namespaces/{ns}/{r}/{name}[/status]   get, update, patch, delete (namespaced)
    /apis/crd.k8s.amazonaws.com/v1alpha1/eniconfigs[/{name}]   the same verbs
    /version, /healthz

A watch (``?watch=true``) answers 200 with a chunked stream of newline-delimited
``{"type": ..., "object": ...}`` events. A ``resourceVersion`` older than the retained change
log yields one ``ERROR`` event carrying a 410 ``Status`` (``reason: Expired``), then the stream
ends, as the real API server does; the ``kubernetes`` client's ``Watch`` turns that into
``ApiException(status=410)``. A list with ``resourceVersionMatch=Exact`` and an old
resourceVersion answers HTTP 410. Every request is counted as ``"{verb} {resource}"`` (with
``/status`` appended for the subresource) before the unavailable switch answers 503.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.gce.loopback import Handler, LoopbackServer
from sandbox.kube import patches
from sandbox.kube.objects import (
    CORE,
    ENICONFIG_API_VERSION,
    KINDS,
    ApiError,
    Kind,
    Obj,
    status,
)
from sandbox.kube.selectors import Matcher, matcher
from sandbox.kube.store import Change, Store

DEFAULT_WATCH_SECONDS = 1800  # the real server picks 30-60 minutes

_PREFIXES = (("api", CORE), ("apis", *ENICONFIG_API_VERSION.split("/")))


class Route:
    """A parsed resource path."""

    def __init__(
        self, kind: Kind, namespace: str | None, name: str | None, subresource: str | None
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


def route(path: str) -> Route:
    parts = [part for part in path.split("/") if part]
    rest: list[str] = []
    api_version = ""
    for prefix in _PREFIXES:
        if tuple(parts[: len(prefix)]) == prefix:
            rest, api_version = parts[len(prefix) :], "/".join(prefix[1:])
            break
    if not rest:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    kind = KINDS.get(rest[0])
    if (
        kind is None
        or kind.api_version != api_version
        or len(rest) > 3
        or (len(rest) == 3 and (rest[2] != "status" or not kind.has_status))
        or (namespace is not None and not kind.namespaced)
        or (namespace is None and kind.namespaced and len(rest) > 1)
    ):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return Route(
        kind, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    )


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or [""])[0].lower() in ("true", "1")


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _version(value: str | None) -> int | None:
    """A resourceVersion parameter: ``None`` for unset or "0" (any/most recent)."""
    if value in (None, "", "0"):
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "BadRequest", f"invalid resource version: {value!r}") from None


def _event(change: Change, match: Matcher) -> Obj | None:
    """The watch event a change is to a watcher, with the selector's view of it: an object
    leaving the selection reads as DELETED, one entering it as ADDED."""
    now_in = match(change.object)
    was_in = change.previous is not None and match(change.previous)
    if change.type == "MODIFIED" and now_in != was_in:
        return {"type": "ADDED" if now_in else "DELETED", "object": change.object}
    if now_in or (change.type == "DELETED" and was_in):
        return {"type": change.type, "object": change.object}
    return None


class KubeApi:
    """Serves a ``Store`` over HTTP on 127.0.0.1."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._server = LoopbackServer(_handler_for(self), "kube-api")

    def start(self) -> None:
        self.store.reopen()
        self._server.start()

    def stop(self) -> None:
        self.store.close()
        self._server.stop()

    @property
    def port(self) -> int:
        return self._server.port

    def serve(self, handler: Handler) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = handler.read_body()
        if url.path in ("/version", "/healthz", "/livez", "/readyz"):
            if self.store.unavailable:
                handler.send(503, b"unavailable", "text/plain")
            elif url.path == "/version":
                handler.send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
            else:
                handler.send(200, b"ok", "text/plain")
            return
        try:
            target = route(url.path)
            verb = self._verb(handler.command, target, query)
            resource = target.kind.resource + (
                f"/{target.subresource}" if target.subresource else ""
            )
            self.store.count(f"{verb} {resource}")
            if self.store.unavailable:
                raise ApiError(
                    503,
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request",
                )
            if verb == "watch":
                self._watch(handler, target, query)
                return
            code, document = self._call(verb, target, query, handler, body)
        except ApiError as error:
            handler.send_json(error.code, error.status())
            return
        handler.send_json(code, document)

    @staticmethod
    def _verb(method: str, target: Route, query: dict[str, list[str]]) -> str:
        if target.name is None:
            if method == "GET":
                return "watch" if _flag(query, "watch") else "list"
            if method == "POST" and target.subresource is None:
                return "create"
        else:
            verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
            if method in verbs and (target.subresource is None or method != "DELETE"):
                return verbs[method]
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    def _call(
        self, verb: str, target: Route, query: dict[str, list[str]], handler: Handler, body: bytes
    ) -> tuple[int, Obj]:
        store, kind, name = self.store, target.kind, target.name or ""
        if verb == "get":
            return 200, store.get(kind, target.namespace, name)
        if verb == "list":
            match = matcher(
                kind,
                target.namespace,
                _param(query, "fieldSelector"),
                _param(query, "labelSelector"),
            )
            wanted = _version(_param(query, "resourceVersion"))
            if _param(query, "resourceVersionMatch") == "Exact" and wanted is not None:
                if wanted < store.floor:
                    raise ApiError(
                        410, "Expired", f"too old resource version: {wanted} ({store.floor})"
                    )
                if wanted != store.rv:
                    raise ApiError(
                        500,
                        "InternalError",
                        "the emulator serves Exact lists only at the current resourceVersion",
                    )
            items, rv = store.select(kind, match)
            return 200, {
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        if verb == "delete":
            return 200, store.delete(kind, target.namespace, name)
        document = _json(body)
        if verb == "create":
            if not isinstance(document, dict):
                raise ApiError(400, "BadRequest", "the object must be a JSON object")
            return 201, store.create(kind, target.namespace, document)
        if verb == "update":
            if not isinstance(document, dict):
                raise ApiError(400, "BadRequest", "the object must be a JSON object")
            if (document.get("metadata") or {}).get("name") not in (None, name):
                raise ApiError(400, "BadRequest", "the name of the object does not match the URL")
            return 200, store.update(
                kind, target.namespace, name, lambda _: document, target.subresource
            )
        content_type = handler.headers.get("Content-Type") or ""
        return 200, store.update(
            kind,
            target.namespace,
            name,
            lambda current: patches.apply(content_type, current, document),
            target.subresource,
        )

    def _watch(self, handler: Handler, target: Route, query: dict[str, list[str]]) -> None:
        kind = target.kind
        match = matcher(
            kind, target.namespace, _param(query, "fieldSelector"), _param(query, "labelSelector")
        )
        since = _version(_param(query, "resourceVersion"))
        seconds = _param(query, "timeoutSeconds")
        try:
            timeout = float(seconds) if seconds else DEFAULT_WATCH_SECONDS
        except ValueError:
            raise ApiError(400, "BadRequest", f"invalid timeoutSeconds: {seconds!r}") from None
        deadline = time.monotonic() + timeout
        try:
            initial, cursor, epoch = self.store.start_watch(kind, match, since)
        except ApiError as gone:  # too old: 200, then one ERROR event, as the real server
            stream = _Stream(handler)
            stream.send({"type": "ERROR", "object": gone.status()})
            stream.finish()
            return
        stream = _Stream(handler)
        ok = all(stream.send({"type": "ADDED", "object": c.object}) for c in initial)
        while ok:
            changes, cursor, state = self.store.next_changes(cursor, deadline, epoch)
            for change in changes:
                if change.resource != kind.resource:
                    continue
                event = _event(change, match)
                if event is not None and not stream.send(event):
                    ok = False
                    break
            if state == "expired":
                floor = self.store.floor
                stream.send(
                    {
                        "type": "ERROR",
                        "object": status(
                            410, "Expired", f"too old resource version: {cursor} ({floor})"
                        ),
                    }
                )
                break
            if state == "end":
                break
        stream.finish()


class _Stream:
    """A chunked HTTP response of newline-delimited JSON; ``send`` is False once the
    client has gone."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._open = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    def _write(self, data: bytes) -> bool:
        if not self._open:
            return False
        try:
            self._handler.wfile.write(data)
            self._handler.wfile.flush()
        except OSError:
            self._open = False
            self._handler.close_connection = True
        return self._open

    def send(self, event: Obj) -> bool:
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        return self._write(b"%x\r\n%s\r\n" % (len(line), line))

    def finish(self) -> None:
        self._write(b"0\r\n\r\n")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "BadRequest", "the request body is not JSON") from None


def _handler_for(api: KubeApi) -> type[Handler]:
    class KubeHandler(Handler):
        def serve_request(self) -> None:
            api.serve(self)

    return KubeHandler
