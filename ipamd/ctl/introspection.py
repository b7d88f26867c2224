"""The client of the daemon's introspection endpoint: one GET, one JSON object back.

Owns the two transports of INTROSPECTION_BIND_ADDRESS (TCP ``host:port`` and
``unix:/path``) and turns every way a GET can fail into one of two exceptions whose message
an operator can act on: :class:`Unreachable` (nothing answered) and :class:`BadAnswer`
(something answered, but not a JSON object with status 200). Commands print ``str(error)``
and choose their exit code; none of them sees an OSError or an http.client type.

Standard library only (http.client, socket, json): the CLI must start fast.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any

from config.compound import bind_address
from config.parsers import BadValueError

MAX_BODY = 32 * 1024 * 1024
"""Bytes of an answer we read at most; the largest real answer (allocations) is far smaller."""

_RUNNING_HINT = "is vpc-ipamd running? is DISABLE_INTROSPECTION set?"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the endpoint listens, as ``--introspection`` gave it."""

    text: str
    host: str = ""
    port: int = 0
    unix_path: str | None = None

    def __str__(self) -> str:
        return self.text


def parse_endpoint(text: str) -> Endpoint:
    """``host:port``, ``[v6]:port`` or ``unix:/path`` (the setting's own forms); ValueError
    otherwise. An empty host (``:61679``, a daemon bound to every address) means loopback."""
    parser = bind_address(allow_unix=True)
    try:
        address = parser.parse(text)
    except BadValueError as error:
        why = f"{error}; " if str(error) else ""
        raise ValueError(f"{text!r}: {why}expected {parser.expected}") from None
    if address.unix_path is not None:
        return Endpoint(text, unix_path=address.unix_path)
    return Endpoint(text, host=address.host or "127.0.0.1", port=address.port)


class IntrospectionError(Exception):
    """A GET that gave no usable answer; ``str()`` is one line naming the address."""

    def __init__(self, message: str, *, endpoint: Endpoint) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class Unreachable(IntrospectionError):
    """No HTTP answer: refused, no such socket, no permission, timed out, closed early."""


class BadAnswer(IntrospectionError):
    """An HTTP answer we cannot use: a status other than 200, or a body that is not a JSON
    object. ``status`` and ``document`` (the daemon's JSON, when it sent one) let a command
    show more, such as the candidates of an ambiguous ``why``."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: Endpoint,
        status: int,
        document: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.document = document


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix stream socket; ``timeout`` bounds connect and each read."""

    def __init__(self, path: str, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def get(endpoint: Endpoint, path: str, *, timeout: float) -> dict[str, Any]:
    """GET ``path`` (with its query, already encoded) and return the JSON object answered.

    ``timeout`` (seconds) bounds the connect and each read. Raises :class:`Unreachable` or
    :class:`BadAnswer`.
    """
    connection: http.client.HTTPConnection
    if endpoint.unix_path is not None:
        connection = _UnixHTTPConnection(endpoint.unix_path, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        try:
            connection.connect()
        except OSError as error:
            raise Unreachable(
                f"cannot reach the introspection endpoint at {endpoint}: "
                f"{_connect_failure(error, endpoint, timeout)}",
                endpoint=endpoint,
            ) from None
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read(MAX_BODY + 1)
        except TimeoutError:
            raise Unreachable(
                f"the introspection endpoint at {endpoint} did not answer GET {path} "
                f"within {timeout:g} s (is vpc-ipamd stuck?)",
                endpoint=endpoint,
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise Unreachable(
                f"the introspection endpoint at {endpoint} gave no HTTP answer to GET {path}: "
                f"{_describe(error)}",
                endpoint=endpoint,
            ) from None
    finally:
        connection.close()
    return _document(endpoint, path, response.status, body)


def _document(endpoint: Endpoint, path: str, status: int, body: bytes) -> dict[str, Any]:
    where = f"the introspection endpoint at {endpoint}"
    if len(body) > MAX_BODY:
        raise BadAnswer(
            f"{where} answered GET {path} with more than {MAX_BODY} bytes",
            endpoint=endpoint,
            status=status,
        )
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise BadAnswer(
            f"{where} answered GET {path} with HTTP {status} and a body that is not a JSON "
            f"object: {_excerpt(body)}",
            endpoint=endpoint,
            status=status,
        )
    if status == 200:
        return document
    error = document.get("error")
    said = f": {error}" if isinstance(error, str) and error else ""
    hint = " (is vpc-ipamd older than vpc-ipamctl?)" if status == 404 else ""
    raise BadAnswer(
        f"{where} answered GET {path} with HTTP {status}{said}{hint}",
        endpoint=endpoint,
        status=status,
        document=document,
    )


def _connect_failure(error: OSError, endpoint: Endpoint, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no connection within {timeout:g} s ({_RUNNING_HINT})"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve {endpoint.host!r}: {error.strerror}"
    if error.errno in {errno.ECONNREFUSED, errno.ENOENT}:
        what = "connection refused" if error.errno == errno.ECONNREFUSED else "no such socket"
        return f"{what} ({_RUNNING_HINT})"
    if error.errno in {errno.EACCES, errno.EPERM}:
        return "permission denied (the socket is root-only: run vpc-ipamctl as root)"
    return _describe(error)


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    if isinstance(error, http.client.RemoteDisconnected):
        return "the connection closed before an answer"
    return str(error) or type(error).__name__


def _excerpt(body: bytes, limit: int = 80) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    if not text:
        return "(empty)"
    return repr(text + ("..." if len(body) > limit else ""))
