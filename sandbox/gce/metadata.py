"""The GCE metadata server, one per instance on 127.0.0.1 (``host`` suits
``GCE_METADATA_HOST``), answering from the live model as the real one answers a VM.

Rules kept: every request needs ``Metadata-Flavor: Google`` (else 403) and is refused when it
carries ``X-Forwarded-For`` (403); every answer carries ``Metadata-Flavor: Google``.
Paths under ``/computeMetadata/v1/``: a directory without its trailing slash is redirected
(301) to it; a directory lists its entries one a line (sub-directories with ``/``; a list of
values such as ``ip-aliases/`` lists the values); ``?recursive=true`` answers a directory
as JSON with camelCase keys; ``?alt=json`` answers anything as JSON. Unknown paths are 404.

    instance/ id name hostname zone machine-type cpu-platform
              network-interfaces/0/ ip mac network subnetmask gateway ip-aliases/ mtu
                                    dns-servers/ forwarded-ips/ target-instance-ips/
    project/  project-id numeric-project-id

``zone`` is ``projects/NUMBER/zones/ZONE``, ``network`` ``projects/NUMBER/networks/NAME``.
With a lag > 0 an alias range that landed less than ``lag`` seconds ago (by the clock) is
not listed yet (the real server trails the API); removals show at once. ``wait_for_change``
is not supported: it answers at once.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.gce.loopback import HOST, Handler, LoopbackServer
from sandbox.gce.model import Model

FLAVOR = "Metadata-Flavor"
GOOGLE = "Google"
ROOT = "/computeMetadata/v1/"

Tree = dict[str, Any]


class NotFound(Exception):
    pass


class MetadataServer:
    """The metadata server of one instance."""

    def __init__(self, model: Model, instance: str) -> None:
        self.model = model
        self.instance = instance
        self._server = LoopbackServer(_handler_for(self), f"gce-metadata-{instance}")

    def start(self) -> MetadataServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def host(self) -> str:
        return f"{HOST}:{self._server.port}"

    def tree(self) -> Tree:
        """Everything the server knows, as nested dicts and lists (hyphenated keys)."""
        model = self.model
        with model.lock:
            model.settle()
            instance = model.instances[self.instance]
            subnet = model.subnetworks[instance.subnetwork]
            shown_after = model.clock.now() - model.metadata_lag
            aliases = [
                str(a.cidr)
                for a in instance.aliases
                if model.metadata_lag <= 0 or instance.appeared.get(a, 0.0) <= shown_after
            ]
            nic = {
                "ip": str(instance.network_ip),
                "mac": instance.mac,
                "network": f"projects/{model.number}/networks/{instance.network}",
                "subnetmask": str(subnet.primary.netmask),
                "gateway": str(subnet.gateway),
                "ip-aliases": aliases,
                "mtu": 1460,
                "dns-servers": ["169.254.169.254"],
                "forwarded-ips": [],
                "target-instance-ips": [],
            }
            return {
                "instance": {
                    "id": instance.id,
                    "name": instance.name,
                    "hostname": f"{instance.name}.{instance.zone}.c.{model.project}.internal",
                    "zone": f"projects/{model.number}/zones/{instance.zone}",
                    "machine-type": f"projects/{model.number}/machineTypes/{instance.machine_type}",
                    "cpu-platform": "Intel Broadwell",
                    "network-interfaces": [nic],
                    "attributes": {},
                    "tags": [],
                },
                "project": {
                    "project-id": model.project,
                    "numeric-project-id": model.number,
                    "attributes": {},
                },
            }

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, str, str]:
        """(status, content type, body, redirect location) for a GET of ``path``."""
        if not path.startswith(ROOT):
            if path.rstrip("/") == ROOT.rstrip("/"):
                return 301, "text/html", "", ROOT
            raise NotFound(path)
        rest = path[len(ROOT) :]
        parts = [p for p in rest.split("/") if p]
        node = _walk(self.tree(), parts)
        recursive = _flag(query, "recursive")
        as_json = _first(query, "alt") == "json"
        if isinstance(node, dict | list):
            if rest and not rest.endswith("/"):
                return 301, "text/html", "", path + "/"
            if recursive:
                return 200, "application/json", json.dumps(_camel(node)), ""
            entries = _entries(node)
            if as_json:
                return 200, "application/json", json.dumps(entries), ""
            return 200, "application/text", "".join(f"{e}\n" for e in entries), ""
        if as_json:
            return 200, "application/json", json.dumps(node), ""
        return 200, "application/text", str(node), ""


def _walk(node: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise NotFound(part)
    return node


def _entries(node: Tree | list[Any]) -> list[str]:
    if isinstance(node, dict):
        return [f"{k}/" if isinstance(v, dict | list) else k for k, v in node.items()]
    if all(isinstance(v, dict | list) for v in node) and node:
        return [f"{i}/" for i in range(len(node))]
    return [str(v) for v in node]


def _camel(node: Any) -> Any:
    if isinstance(node, dict):
        return {_camel_key(k): _camel(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_camel(v) for v in node]
    return node


def _camel_key(key: str) -> str:
    head, *rest = key.split("-")
    return head + "".join(w.capitalize() for w in rest)


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (_first(query, name) or "").lower() in {"true", "1"}


def _handler_for(server: MetadataServer) -> type[Handler]:
    class MetadataHandler(Handler):
        server_version = "Metadata Server for VM"

        def _reply(
            self, status: int, body: str, content_type: str = "text/html", location: str = ""
        ) -> None:
            headers = {FLAVOR: GOOGLE}
            if location:
                headers["Location"] = location
            self.send(status, body.encode(), content_type, headers)

        def serve_request(self) -> None:
            self.read_body()
            if self.command != "GET":
                self._reply(405, "Method Not Allowed")
                return
            if self.headers.get("X-Forwarded-For") is not None:
                self._reply(403, "Request had X-Forwarded-For header and was refused.")
                return
            if self.headers.get(FLAVOR) != GOOGLE:
                self._reply(403, "Missing Metadata-Flavor:Google header.")
                return
            url = urlsplit(self.path)
            try:
                status, content_type, body, location = server.answer(
                    url.path, parse_qs(url.query, keep_blank_values=True)
                )
            except NotFound:
                self._reply(404, "Not Found")
                return
            if location and url.query:
                location += f"?{url.query}"
            self._reply(status, body, content_type, location)

    return MetadataHandler
