"""A scripted API server for what the emulator (sandbox/kube) does not do: authentication
and authorization, bookmarks, error statuses and ERROR events on demand, answers that stall
or break off, TLS. Real HTTP/1.1 on loopback, keep-alive, as an API server speaks it."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.unit.ipamd.k8s.support import WAIT

NODE_LIST = {"kind": "NodeList", "metadata": {"resourceVersion": "7"}, "items": []}


def status_document(code: int, message: str) -> dict[str, Any]:
    """A ``Status`` as the API server answers errors with."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "code": code,
    }


def stream(*events: Any) -> bytes:
    """Newline-delimited watch events (bytes as given, anything else as JSON)."""
    return b"".join((e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n" for e in events)


@dataclass
class Answer:
    """One answer: its status and body (a watch's 200 is sent chunked, a chunk per line);
    ``delay`` seconds between the headers and the body (a busy server); ``cut`` sends half
    the body and hangs up (a connection reset)."""

    status: int = 200
    body: bytes | dict[str, Any] = field(default_factory=lambda: dict(NODE_LIST))
    delay: float = 0.0
    cut: bool = False

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    content_type: str | None
    body: bytes


class ScriptedApiServer:
    """Answers every request with ``answer`` (or the next of ``queued``), after checking its
    bearer token when ``tokens`` is set (401 for one not in it, as the authenticator does),
    and records each request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.answer = Answer()
        self.queued: list[Answer] = []
        self.tokens: set[str] | None = None
        self.requests: list[Request] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = WAIT

            def do_GET(self) -> None:
                scripted.serve(self)

            def do_POST(self) -> None:
                scripted.serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def authorizations(self) -> list[str | None]:
        return [request.authorization for request in self.requests]

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        request = Request(
            handler.command,
            url.path,
            {name: values[0] for name, values in parse_qs(url.query).items()},
            handler.headers.get("Authorization"),
            handler.headers.get("Content-Type"),
            body,
        )
        self.requests.append(request)
        answer = self.queued.pop(0) if self.queued else self.answer
        if self.tokens is not None and request.authorization not in {
            f"Bearer {token}" for token in self.tokens
        }:
            answer = Answer(401, status_document(401, "Unauthorized"))
        payload = answer.payload()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json")
        watch = answer.status == 200 and request.query.get("watch") == "true"
        if watch:  # a stream of events: one chunk per line, as the API server sends them
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.flush()
        time.sleep(answer.delay)
        if watch:
            lines = payload.splitlines(keepends=True)
            for line in lines[: len(lines) // 2] if answer.cut else lines:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                handler.wfile.flush()
            if not answer.cut:
                handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.wfile.write(payload[: len(payload) // 2] if answer.cut else payload)
        handler.close_connection = answer.cut

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@dataclass(frozen=True)
class Certificates:
    """A CA and a certificate it signed for 127.0.0.1, as files."""

    ca_file: Path
    server: ssl.SSLContext


def certificates(directory: Path) -> Certificates:
    """A cluster CA and the API server's certificate it signed, for 127.0.0.1."""
    # cryptography comes with moto (the dev extra); only this helper needs it
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, ca: bool) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = builder("cluster-ca", "cluster-ca", ca_key, True).sign(ca_key, hashes.SHA256())
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        builder("kube-apiserver", "cluster-ca", key, False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file = directory / "apiserver.crt"
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "apiserver.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return Certificates(ca_file, context)
