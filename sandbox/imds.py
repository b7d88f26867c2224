"""IMDSv2 emulator: one small threaded HTTP server on 127.0.0.1 per instance, reading the same
moto EC2 backend the EC2 emulator serves, so what IMDS says matches DescribeNetworkInterfaces.

Token rules as IMDSv2: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
in 1..21600 (else 400) returns a token; every GET needs a valid, unexpired token in
``X-aws-ec2-metadata-token`` (else 401). Unknown paths are 404, and so is ``ipv4-prefix`` of an
interface without prefixes, as on EC2.

Lag: with ``lag`` > 0, an interface attached or an address/prefix assigned less than ``lag``
seconds ago (by the clock) is not shown yet, as real IMDS trails the EC2 API. Removals show at
once.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.clock import Clock
from sandbox.ec2.state import ATTACH, LOCK, addresses_of, appeared_at, prefixes_of

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21600
_MACS = "/latest/meta-data/network/interfaces/macs/"


class NotFound(Exception):
    pass


class ImdsServer:
    """IMDSv2 for one instance at ``url`` (a client appends ``/latest/...``)."""

    def __init__(
        self,
        backend: Callable[[], Any],
        instance_id: str,
        clock: Clock,
        lag: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._backend = backend
        self.instance_id = instance_id
        self.clock = clock
        self._lag = lag
        self._tokens: dict[str, float] = {}
        self._tokens_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> ImdsServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"imds-{self.instance_id}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ImdsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- tokens --

    def issue_token(self, ttl_header: str | None) -> str | None:
        try:
            ttl = int(ttl_header or "")
        except ValueError:
            return None
        if not 1 <= ttl <= MAX_TTL:
            return None
        token = secrets.token_urlsafe(32)
        with self._tokens_lock:
            self._tokens[token] = self.clock.now() + ttl
        return token

    def token_valid(self, token: str | None) -> bool:
        with self._tokens_lock:
            expiry = self._tokens.get(token or "")
        return expiry is not None and self.clock.now() < expiry

    # -- data --

    def answer(self, path: str) -> tuple[str, str]:
        """(content type, body) for a GET path; raises NotFound."""
        with LOCK:
            backend = self._backend()
            instance = backend.get_instance(self.instance_id)
            if path == "/latest/dynamic/instance-identity/document":
                return "application/json", json.dumps(self._identity(backend, instance), indent=2)
            if path.startswith(_MACS) and len(path) > len(_MACS):
                return "text/plain", self._interface_item(backend, instance, path[len(_MACS) :])
            return "text/plain", self._meta_item(backend, instance, path)

    def _visible(self, backend: Any, eni: Any, item: str | None) -> bool:
        lag = self._lag()
        if lag <= 0:
            return True
        times = [appeared_at(backend, eni.id, ATTACH)]
        if item is not None:
            times.append(appeared_at(backend, eni.id, item))
        known = [t for t in times if t is not None]
        return not known or max(known) + lag <= self.clock.now()

    def _interfaces(self, backend: Any, instance: Any) -> dict[str, Any]:
        return {
            eni.mac_address: eni
            for _, eni in sorted(instance.nics.items())
            if eni.id in backend.enis and self._visible(backend, eni, None)
        }

    def _meta_item(self, backend: Any, instance: Any, path: str) -> str:
        primary = instance.nics.get(0)
        items: dict[str, Callable[[], str]] = {
            "instance-id": lambda: instance.id,
            "instance-type": lambda: instance.instance_type,
            "local-ipv4": lambda: primary.private_ip_address,
            "mac": lambda: primary.mac_address,
            "placement/availability-zone": lambda: instance.availability_zone,
            "placement/region": lambda: backend.region_name,
            "security-groups": lambda: "\n".join(g.name for g in instance.security_groups),
            "network/interfaces/macs": lambda: "".join(
                f"{mac}/\n" for mac in self._interfaces(backend, instance)
            ),
        }
        key = path.removeprefix("/latest/meta-data/").rstrip("/")
        if not path.startswith("/latest/meta-data/") or key not in items:
            raise NotFound(path)
        return items[key]()

    def _interface_item(self, backend: Any, instance: Any, rest: str) -> str:
        mac, _, key = rest.partition("/")
        eni = self._interfaces(backend, instance).get(mac)
        if eni is None:
            raise NotFound(rest)
        vpc = backend.get_vpc(eni.subnet.vpc_id)
        cidrs = [
            a["cidr_block"]
            for a in vpc.cidr_block_association_set
            if a.get("cidr_block_state", {}).get("state") == "associated"
        ] or [vpc.cidr_block]
        addresses = [a for a in addresses_of(eni) if self._visible(backend, eni, a)]
        prefixes = [p for p in prefixes_of(eni) if self._visible(backend, eni, p)]
        items: dict[str, Callable[[], str]] = {
            "device-number": lambda: str(eni.device_index),
            "interface-id": lambda: eni.id,
            "mac": lambda: eni.mac_address,
            "subnet-id": lambda: eni.subnet.id,
            "subnet-ipv4-cidr-block": lambda: eni.subnet.cidr_block,
            "vpc-id": lambda: eni.subnet.vpc_id,
            "vpc-ipv4-cidr-block": lambda: vpc.cidr_block,
            "vpc-ipv4-cidr-blocks": lambda: "\n".join(cidrs),
            "local-ipv4s": lambda: "\n".join(addresses),
            "security-group-ids": lambda: "\n".join(g.id for g in eni.group_set),
            "security-groups": lambda: "\n".join(g.name for g in eni.group_set),
            "owner-id": lambda: backend.account_id,
        }
        key = key.rstrip("/")
        if key == "ipv4-prefix" and prefixes:
            return "\n".join(prefixes)
        if key not in items:
            raise NotFound(rest)
        return items[key]()

    def _identity(self, backend: Any, instance: Any) -> dict[str, Any]:
        return {
            "accountId": backend.account_id,
            "architecture": getattr(instance, "architecture", "x86_64"),
            "availabilityZone": instance.availability_zone,
            "imageId": instance.image_id,
            "instanceId": instance.id,
            "instanceType": instance.instance_type,
            "privateIp": instance.private_ip,
            "region": backend.region_name,
            "version": "2017-09-30",
        }


def _handler_for(imds: ImdsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "EC2ws"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path != TOKEN_PATH:
                self._send(404 if self.path.startswith("/latest/") else 403, "")
                return
            token = imds.issue_token(self.headers.get(TTL_HEADER))
            if token is None:
                self._send(400, "Bad Request")
                return
            self._send(200, token)

        def do_GET(self) -> None:
            if self.path == TOKEN_PATH:
                self._send(405, "Method Not Allowed")
                return
            if not imds.token_valid(self.headers.get(TOKEN_HEADER)):
                self._send(401, "Unauthorized")
                return
            try:
                content_type, body = imds.answer(self.path.split("?", 1)[0])
            except NotFound:
                self._send(404, "Not Found")
                return
            self._send(200, body, content_type)

    return Handler
