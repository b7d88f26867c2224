"""The edge to the Kubernetes API server: every call the daemon makes, and its errors mapped.

Each method is one request, made through ``_call(verb, resource, ...)`` with the RBAC verb
and resource spelled out as literals: ``tests/unit/deploy`` reads them from this file and
holds deploy/rbac.yaml to exactly that set, so a new call without a new grant (or a grant
nothing uses) fails the tests, not a production node.

Objects are plain JSON dicts (``_preload_content=False``): the layer reads a handful of
fields, and the client's model classes cost more to build than the whole reading.

Watches are read line by line here rather than through ``kubernetes.watch.Watch``, whose
retry after a 410 reuses the expired resourceVersion and whose raw mode cannot report an
ERROR event; a 410 (as an HTTP status or as an ERROR event inside the stream) is ``Gone``.

The service-account token is read again before every request: bound tokens rotate hourly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kubernetes.client
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import watch as kube_watch

from config import KubernetesSettings
from ipamd.k8s.errors import Forbidden, Gone, KubeError, NotFound, Rejected, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Obj = dict[str, Any]
WatchEvent = tuple[str, Obj]
"""(type, object): ADDED, MODIFIED, DELETED or BOOKMARK, and the object as JSON."""

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
WATCH_SECONDS = 240
"""Server-side length of one watch; the client's read timeout is a little longer, so a
connection that silently died is noticed within WATCH_SECONDS + READ_TIMEOUT."""

ENICONFIG_GROUP = "crd.k8s.amazonaws.com"
ENICONFIG_VERSION = "v1alpha1"
ENICONFIG_PLURAL = "eniconfigs"


def _configuration(settings: KubernetesSettings) -> Any:
    configuration: Any = kubernetes.client.Configuration(host=settings.api_url)
    configuration.retries = 0  # the reflectors own retrying, with backoff
    if settings.api_url.startswith("https:") and settings.ca_file.exists():
        configuration.ssl_ca_cert = str(settings.ca_file)
    token = _read_token(settings.token_file)
    if token:
        configuration.api_key["authorization"] = token
        configuration.api_key_prefix["authorization"] = "Bearer"

        def refresh(conf: Any) -> None:
            fresh = _read_token(settings.token_file)
            if fresh:
                conf.api_key["authorization"] = fresh

        configuration.refresh_api_key_hook = refresh
    return configuration


def _read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def map_error(error: BaseException, what: str) -> KubeError:
    """One exception of the client, urllib3 or the socket layer as a KubeError."""
    if isinstance(error, ApiException):
        status = error.status or 0
        message = f"{what}: {status} {error.reason or ''}".strip()
        if status == 410:
            return Gone(message, status=status)
        if status == 404:
            return NotFound(message, status=status)
        if status in (401, 403):
            return Forbidden(message, status=status)
        if status == 429 or status >= 500 or status == 0:
            return Unavailable(message, status=status or None)
        return Rejected(message, status=status)
    return Unavailable(f"{what}: {type(error).__name__}: {error}")


class KubeApi:
    """The calls of the Kubernetes layer, each one RBAC verb on one resource."""

    def __init__(self, settings: KubernetesSettings) -> None:
        # Any: the raw (_preload_content=False) answers are urllib3 responses, which the
        # client's annotations do not describe
        self._client: Any = kubernetes.client.ApiClient(_configuration(settings))
        self._core: Any = kubernetes.client.CoreV1Api(self._client)
        self._custom: Any = kubernetes.client.CustomObjectsApi(self._client)
        self.url = settings.api_url
        self._streams: set[Any] = set()
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """End open watches at once (their readers see Unavailable) and the connection pool."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for response in streams:
            response.shutdown()
        self._client.close()

    # -- nodes ---------------------------------------------------------------------------
    def list_nodes(self, name: str) -> tuple[list[Obj], str]:
        """This one node as a list (a watch needs the list's resourceVersion)."""
        return self._list(
            self._call(
                "list",
                "nodes",
                lambda: self._core.list_node(
                    field_selector=f"metadata.name={name}", **self._plain()
                ),
            )
        )

    def watch_nodes(self, name: str, resource_version: str) -> Iterator[WatchEvent]:
        return self._watch(
            "nodes",
            lambda: self._core.list_node(
                field_selector=f"metadata.name={name}", **self._watching(resource_version)
            ),
        )

    # -- pods ----------------------------------------------------------------------------
    def list_pods(self, node: str) -> tuple[list[Obj], str]:
        return self._list(
            self._call(
                "list",
                "pods",
                lambda: self._core.list_pod_for_all_namespaces(
                    field_selector=f"spec.nodeName={node}", **self._plain()
                ),
            )
        )

    def watch_pods(self, node: str, resource_version: str) -> Iterator[WatchEvent]:
        return self._watch(
            "pods",
            lambda: self._core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={node}", **self._watching(resource_version)
            ),
        )

    # -- ENIConfigs and events -----------------------------------------------------------
    def get_eniconfig(self, name: str) -> Obj:
        answer = self._call(
            "get",
            "eniconfigs",
            lambda: self._custom.get_cluster_custom_object(
                ENICONFIG_GROUP,
                ENICONFIG_VERSION,
                ENICONFIG_PLURAL,
                name,
                _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            ),
        )
        if not isinstance(answer, dict):
            raise Unavailable(f"get eniconfigs {name}: not a JSON object")
        return answer

    def create_event(self, namespace: str, event: Obj) -> None:
        response = self._call(
            "create",
            "events",
            lambda: self._core.create_namespaced_event(namespace, event, **self._plain()),
        )
        self._json(response)  # read to the end: a connection given back unread is poisoned

    # -- plumbing ------------------------------------------------------------------------
    @staticmethod
    def _plain() -> dict[str, Any]:
        return {"_preload_content": False, "_request_timeout": (CONNECT_TIMEOUT, READ_TIMEOUT)}

    @staticmethod
    def _watching(resource_version: str) -> dict[str, Any]:
        return {
            "watch": True,
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": WATCH_SECONDS,
            "_preload_content": False,
            "_request_timeout": (CONNECT_TIMEOUT, WATCH_SECONDS + READ_TIMEOUT),
        }

    @staticmethod
    def _call(verb: str, resource: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            raise map_error(error, f"{verb} {resource}") from error

    @staticmethod
    def _json(response: Any) -> Obj:
        try:
            document = json.loads(response.data)
        except (ValueError, urllib3.exceptions.HTTPError, OSError) as error:
            raise Unavailable(f"unreadable answer: {error}") from error
        finally:
            response.release_conn()
        if not isinstance(document, dict):
            raise Unavailable("the answer is not a JSON object")
        return document

    def _list(self, response: Any) -> tuple[list[Obj], str]:
        document = self._json(response)
        items = document.get("items")
        version = (document.get("metadata") or {}).get("resourceVersion")
        if not isinstance(items, list) or not isinstance(version, str):
            raise Unavailable("a list without items or resourceVersion")
        return [item for item in items if isinstance(item, dict)], version

    def _watch(self, resource: str, request: Callable[[], Any]) -> Iterator[WatchEvent]:
        response = self._call("watch", resource, request)
        with self._lock:
            if self._closed:
                response.shutdown()
            self._streams.add(response)
        try:
            lines: Iterator[str] = kube_watch.iter_resp_lines(response)  # type: ignore[no-untyped-call]
            for line in lines:
                if not line:
                    continue
                try:
                    event = json.loads(line)
                    kind, obj = str(event["type"]), event["object"]
                except (ValueError, KeyError, TypeError) as error:
                    raise Unavailable(f"watch {resource}: unreadable event: {error}") from error
                if kind == "ERROR":
                    code = obj.get("code") if isinstance(obj, dict) else None
                    message = f"watch {resource}: {obj.get('message', '') if code else obj}"
                    if code == 410:
                        raise Gone(message, status=410)
                    raise Unavailable(message, status=code if isinstance(code, int) else None)
                if isinstance(obj, dict):
                    yield kind, obj
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise map_error(error, f"watch {resource}") from error
        finally:
            with self._lock:
                self._streams.discard(response)
            response.close()
            response.release_conn()
