"""Parsers of structured values: IPv4 CIDR lists, JSON ENI tags, listen addresses.

Same contract as :mod:`config.parsers`: strict, and every refusal says which part is wrong.
"""

from __future__ import annotations

import json
import re
from ipaddress import (
    AddressValueError,
    IPv4Address,
    IPv4Network,
    IPv6Address,
    NetmaskValueError,
)
from urllib.parse import urlsplit

from config.parsers import INT_PATTERN, UNIX_PATH_MAX, BadValueError, Parser
from config.values import BindAddress

_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?")

RESERVED_TAG_SUBSTRING = "k8s.amazonaws.com"
"""Tag keys containing this are reserved for the plugin's own tags."""


def ipv4_cidrs() -> Parser[tuple[IPv4Network, ...]]:
    """Comma-separated IPv4 networks such as ``10.0.0.0/8``; spaces around items are allowed."""

    def parse(raw: str) -> tuple[IPv4Network, ...]:
        networks = []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                raise BadValueError("empty item (a stray comma?)")
            if "/" not in item:
                raise BadValueError(f"item {item!r} is not an IPv4 CIDR (address/prefix length)")
            try:
                networks.append(IPv4Network(item))
            except ValueError:
                try:
                    loose = IPv4Network(item, strict=False)
                except (AddressValueError, NetmaskValueError):
                    raise BadValueError(f"item {item!r} is not an IPv4 CIDR") from None
                raise BadValueError(
                    f"item {item!r} has host bits set (did you mean {loose}?)"
                ) from None
        return tuple(networks)

    return Parser(
        "comma-separated IPv4 CIDRs, e.g. 10.0.0.0/8,192.168.0.0/16",
        parse,
        lambda v: ",".join(str(n) for n in v),
    )


def eni_tags() -> Parser[tuple[tuple[str, str], ...]]:
    """A JSON object of string to string: EC2 tag limits, no key reserved by AWS or us."""

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise BadValueError(f"key {key!r} appears twice")
        return dict(pairs)

    def parse(raw: str) -> tuple[tuple[str, str], ...]:
        try:
            data = json.loads(raw, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as exc:
            raise BadValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(data, dict):
            raise BadValueError("not a JSON object")
        for key, value in data.items():
            if not isinstance(value, str):
                raise BadValueError(f"value of {key!r} is not a string")
            if not key:
                raise BadValueError("empty key")
            if len(key) > 128:
                raise BadValueError(f"key {key[:20]!r}... is longer than 128 characters")
            if len(value) > 256:
                raise BadValueError(f"value of {key!r} is longer than 256 characters")
            if RESERVED_TAG_SUBSTRING in key:
                raise BadValueError(f"key {key!r} contains the reserved {RESERVED_TAG_SUBSTRING!r}")
            if key.lower().startswith("aws:"):
                raise BadValueError(f"key {key!r} uses the prefix 'aws:', reserved by AWS")
        return tuple(sorted(data.items()))

    return Parser(
        "a JSON object of strings, keys of 1..128 and values of 0..256 characters, "
        f"no key containing {RESERVED_TAG_SUBSTRING!r} or starting with 'aws:'",
        parse,
        lambda v: json.dumps(dict(v), sort_keys=True),
    )


def bind_address(*, allow_unix: bool) -> Parser[BindAddress]:
    """``host:port`` (host may be empty, a name, IPv4 or ``[IPv6]``), or ``unix:/path``."""

    def parse(raw: str) -> BindAddress:
        if raw.startswith("unix:"):
            path = raw.removeprefix("unix:")
            if not allow_unix:
                raise BadValueError("unix sockets are not supported here")
            if not path.startswith("/") or "\0" in path or len(path.encode()) > UNIX_PATH_MAX:
                raise BadValueError(
                    f"unix socket path must be absolute, {UNIX_PATH_MAX} bytes at most"
                )
            return BindAddress(unix_path=path)
        host, colon, port = raw.rpartition(":")
        if not colon or not INT_PATTERN.fullmatch(port) or port.startswith(("+", "-")):
            raise BadValueError()
        if not 1 <= int(port) <= 65535:
            raise BadValueError("port out of range")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
            try:
                IPv6Address(host)
            except AddressValueError:
                raise BadValueError(f"{host!r} in brackets is not an IPv6 address") from None
        elif host and not _valid_host(host):
            raise BadValueError(f"host {host!r} is not an IPv4 address or host name")
        return BindAddress(host=host, port=int(port))

    unix = " or unix:/absolute/path" if allow_unix else ""
    return Parser(f"host:port (e.g. 127.0.0.1:61679, :61678, [::1]:61679){unix}", parse)


def _valid_host(host: str) -> bool:
    if host.replace(".", "").isdigit():
        try:
            IPv4Address(host)
        except AddressValueError:
            return False
        return True
    return len(host) <= 253 and _HOSTNAME.fullmatch(host) is not None


def url() -> Parser[str]:
    """An http(s) URL with a host, optional port and path, such as ``http://127.0.0.1:5000``."""

    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in {"http", "https"}:
            raise BadValueError("the scheme must be http or https")
        if not parts.hostname or (parts.query or parts.fragment):
            raise BadValueError("needs a host, and no query or fragment")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise BadValueError("bad port") from exc
        return raw

    return Parser("an http:// or https:// URL such as http://127.0.0.1:5000", parse)
