"""The edge to the Kubernetes API server: every call the daemon makes, and its errors mapped.

Each method is one request, made through ``_call(verb, resource, path, ...)`` or
``_watch(resource, path, ...)`` with the RBAC verb and resource spelled out as literals:
``tests/unit/deploy`` reads them from this file and holds deploy/rbac.yaml to exactly that
set, so a new call without a new grant (or a grant nothing uses) fails the tests, not a
production node. The verb also chooses the HTTP method (``METHODS``).

Why not the official ``kubernetes`` client: memory. Its import loads hundreds of model
classes the daemon never builds (27 MiB on top of the daemon's own modules), and with it the
daemon with 250 pods held 127.2 MiB resident with this layer on, 76.8 MiB without (budget
80 MiB, DESIGN.md section 8; ``python -m bench daemon_rss``). The daemon makes five kinds of
request and reads a handful of fields of plain JSON, so ``transport`` speaks HTTP with
urllib3 (loaded anyway, by botocore): the same run now holds 78.1 MiB with the layer on.

Watches are read line by line: an ``ERROR`` event inside the stream is an error like an HTTP
status, and a 410 (either way) is ``Gone``, so the reflector lists again instead of
retrying an expired resourceVersion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from config import KubernetesSettings
from ipamd.k8s.errors import Gone, Unavailable
from ipamd.k8s.transport import Transport

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

METHODS = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST"}


def _segment(name: str) -> str:
    return quote(name, safe="")


class KubeApi:
    """The calls of the Kubernetes layer, each one RBAC verb on one resource."""

    def __init__(self, settings: KubernetesSettings) -> None:
        self.url = settings.api_url
        self._http = Transport(
            settings.api_url, settings.token_file, settings.ca_file, connect_timeout=CONNECT_TIMEOUT
        )

    def close(self) -> None:
        """End open watches at once (their readers see Unavailable) and the connection pool."""
        self._http.close()

    # -- nodes ---------------------------------------------------------------------------
    def list_nodes(self, name: str) -> tuple[list[Obj], str]:
        """This one node as a list (a watch needs the list's resourceVersion)."""
        selector = {"fieldSelector": f"metadata.name={name}"}
        return self._list(self._call("list", "nodes", "/api/v1/nodes", selector))

    def watch_nodes(self, name: str, resource_version: str) -> Iterator[WatchEvent]:
        return self._watch("nodes", "/api/v1/nodes", f"metadata.name={name}", resource_version)

    # -- pods ----------------------------------------------------------------------------
    def list_pods(self, node: str) -> tuple[list[Obj], str]:
        selector = {"fieldSelector": f"spec.nodeName={node}"}
        return self._list(self._call("list", "pods", "/api/v1/pods", selector))

    def watch_pods(self, node: str, resource_version: str) -> Iterator[WatchEvent]:
        return self._watch("pods", "/api/v1/pods", f"spec.nodeName={node}", resource_version)

    # -- ENIConfigs and events -----------------------------------------------------------
    def get_eniconfig(self, name: str) -> Obj:
        path = f"/apis/{ENICONFIG_GROUP}/{ENICONFIG_VERSION}/{ENICONFIG_PLURAL}/{_segment(name)}"
        return self._call("get", "eniconfigs", path)

    def create_event(self, namespace: str, event: Obj) -> None:
        path = f"/api/v1/namespaces/{_segment(namespace)}/events"
        self._call("create", "events", path, body=event)

    # -- plumbing ------------------------------------------------------------------------
    def _call(
        self,
        verb: str,
        resource: str,
        path: str,
        query: dict[str, str] | None = None,
        *,
        body: Obj | None = None,
    ) -> Obj:
        return self._http.request(
            METHODS[verb],
            path,
            f"{verb} {resource}",
            query=query,
            body=body,
            read_timeout=READ_TIMEOUT,
        )

    @staticmethod
    def _list(document: Obj) -> tuple[list[Obj], str]:
        items = document.get("items")
        version = (document.get("metadata") or {}).get("resourceVersion")
        if not isinstance(items, list) or not isinstance(version, str):
            raise Unavailable("a list without items or resourceVersion")
        return [item for item in items if isinstance(item, dict)], version

    def _watch(
        self, resource: str, path: str, selector: str, resource_version: str
    ) -> Iterator[WatchEvent]:
        query = {
            "fieldSelector": selector,
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        lines = self._http.lines(
            path, f"watch {resource}", query=query, read_timeout=WATCH_SECONDS + READ_TIMEOUT
        )
        try:
            for line in lines:
                if not line.strip():
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
        finally:
            lines.close()  # an error event or a reader that stopped early: drop the stream
