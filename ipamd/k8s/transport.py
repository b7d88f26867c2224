"""HTTP to the Kubernetes API server with urllib3 alone: requests, streams, errors mapped.

One ``PoolManager`` (the CA file for https, no retries: the reflectors own retrying, with
backoff), an ``Authorization: Bearer`` header from the token file read again before every
request (bound service-account tokens rotate hourly; no file, no header), JSON bodies both
ways, and every failure as one ``ipamd.k8s.errors`` type:

    410 Gone, 404 NotFound, 401/403 Forbidden, 429 and 5xx Unavailable, any other status
    outside 2xx Rejected; no answer at all (refused, reset, timed out, TLS) Unavailable.

Streams (watches) are registered while open so that ``close`` can shut their sockets down:
a reader blocked in ``recv`` then sees Unavailable at once, not at its read timeout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError

from ipamd.k8s.errors import Forbidden, Gone, KubeError, NotFound, Rejected, Unavailable

USER_AGENT = "vpc-ipamd"
DETAIL_CHARS = 300
"""How much of an error answer's message goes into the KubeError's."""


def status_error(what: str, status: int, detail: str = "") -> KubeError:
    """The KubeError of an HTTP status outside 2xx (``what`` is e.g. "list pods")."""
    message = f"{what}: {status} {detail}".strip()
    if status == 410:
        return Gone(message, status=status)
    if status == 404:
        return NotFound(message, status=status)
    if status in (401, 403):
        return Forbidden(message, status=status)
    if status == 429 or status >= 500:
        return Unavailable(message, status=status)
    return Rejected(message, status=status)


def transport_error(what: str, error: BaseException) -> Unavailable:
    """No answer (or half of one): refused, reset, timed out, shut down by ``close``."""
    return Unavailable(f"{what}: {type(error).__name__}: {error}")


def read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


class Transport:
    """The API server at ``base_url``; thread-safe (the reflectors and the pool loop share it)."""

    def __init__(
        self, base_url: str, token_file: Path, ca_file: Path, *, connect_timeout: float
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_file = token_file
        self._connect_timeout = connect_timeout
        tls: dict[str, Any] = {}
        if self.base_url.startswith("https:") and ca_file.exists():
            tls["ca_certs"] = str(ca_file)
        # one host; two watches and the odd get or create at once: 4 kept-alive connections
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=4, retries=False, **tls)
        self._streams: set[urllib3.BaseHTTPResponse] = set()
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        read_timeout: float,
    ) -> dict[str, Any]:
        """One request, its answer read to the end (the connection goes back fit for the next
        one) and parsed; an answer that is not a JSON object is Unavailable."""
        response = self._send(
            method, path, what, query=query, body=body, read_timeout=read_timeout, stream=False
        )
        try:
            document = json.loads(response.data)
        except ValueError as error:
            raise Unavailable(f"{what}: unreadable answer: {error}") from error
        if not isinstance(document, dict):
            raise Unavailable(f"{what}: the answer is not a JSON object")
        return document

    def lines(
        self, path: str, what: str, *, query: Mapping[str, str], read_timeout: float
    ) -> Generator[bytes, None, None]:
        """A streamed GET's lines as they arrive (without their newlines, blank ones
        included). It ends when the server ends the stream; ``close`` ends it with
        Unavailable. Close the generator to drop the stream early."""
        response = self._send(
            "GET", path, what, query=query, body=None, read_timeout=read_timeout, stream=True
        )
        with self._lock:
            closed = self._closed
            if not closed:
                self._streams.add(response)
        finished = False
        try:
            if closed:
                raise Unavailable(f"{what}: the client is closed")
            pending = b""
            for chunk in response.stream(None):
                *complete, pending = (pending + chunk).split(b"\n")
                yield from complete
            if pending:
                yield pending
            finished = True
        except (HTTPError, OSError) as error:
            raise transport_error(what, error) from error
        finally:
            with self._lock:
                self._streams.discard(response)
                closed = self._closed
            if not finished:
                response.close()  # unread data: this connection must not be reused
            response.release_conn()
        if closed:  # shut down between two chunks: not an end the server chose
            raise Unavailable(f"{what}: the client is closed")

    def close(self) -> None:
        """End open streams at once (their readers see Unavailable) and drop the pool."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for response in streams:
            response.shutdown()
        self._pool.clear()

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Mapping[str, str] | None,
        body: object,
        read_timeout: float,
        stream: bool,
    ) -> urllib3.BaseHTTPResponse:
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        token = read_token(self._token_file)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=read_timeout),
                preload_content=not stream,
                redirect=False,
            )
            if 200 <= response.status < 300:
                return response
            answer = response.data  # a Status document, small; read so the connection is fit
            response.release_conn()
        except (HTTPError, OSError) as error:
            raise transport_error(what, error) from error
        raise status_error(what, response.status, _detail(answer, response.reason))


def _detail(answer: bytes, reason: str | None) -> str:
    """The message of a ``Status`` answer, else the reason phrase."""
    try:
        message = json.loads(answer).get("message")
    except (ValueError, AttributeError):
        message = None
    text = message if isinstance(message, str) and message else (reason or "")
    return text[:DETAIL_CHARS]
