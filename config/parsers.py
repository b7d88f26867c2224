"""Parsers from environment text to typed values, each saying what it accepts.

A :class:`Parser` turns the raw string into a value or raises :class:`BadValueError`; its
``expected`` text ("an integer >= 0") ends every error message, and its ``render`` gives the
value back in the form the environment takes, so printed settings can be pasted back.
Parsers are strict: no stray whitespace, no silent clamping, no fallback to a default.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)

GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
"""Spellings of true accepted by Go's strconv.ParseBool, which aws-node uses."""
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
"""Spellings of false accepted by Go's strconv.ParseBool."""

INT_PATTERN = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_VETH_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,4}")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_K8S_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_RFC1035 = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")

RESERVED_VETH_PREFIXES = ("eth", "vlan", "lo")
"""Values aws-node refuses for AWS_VPC_K8S_CNI_VETHPREFIX (an exact match, as there)."""
UNIX_PATH_MAX = 107
"""Bytes of a unix socket path, without the final NUL (sun_path is 108 bytes)."""


class BadValueError(ValueError):
    """A raw value a parser refuses; the message, if any, says what in it is wrong."""


@dataclass(frozen=True, slots=True)
class Parser(Generic[T]):
    """Raw environment text -> value, with the text of what is accepted."""

    expected: str
    """What is accepted, e.g. ``an integer >= 0``; ends every error message."""
    parse: Callable[[str], T]
    """Converts raw text, or raises :class:`BadValueError`."""
    render: Callable[[T], str] = str
    """Converts a value back to environment text."""


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser[int]:
    """A decimal integer (optional sign), within the given bounds."""
    if minimum is not None and maximum is not None:
        expected = f"an integer from {minimum} to {maximum}"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    else:
        expected = "an integer"

    def parse(raw: str) -> int:
        if not INT_PATTERN.fullmatch(raw):
            raise BadValueError()
        value = int(raw)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise BadValueError()
        return value

    return Parser(expected, parse)


def optional_cap() -> Parser[int | None]:
    """MAX_ENI: an integer; 0 or less means no cap (None), as aws-node documents."""

    def parse(raw: str) -> int | None:
        if not INT_PATTERN.fullmatch(raw):
            raise BadValueError()
        value = int(raw)
        return value if value >= 1 else None

    return Parser("an integer (0 or less: no cap)", parse, lambda v: "" if v is None else str(v))


def boolean() -> Parser[bool]:
    """Exactly the spellings Go's strconv.ParseBool accepts."""

    def parse(raw: str) -> bool:
        if raw in GO_TRUE:
            return True
        if raw in GO_FALSE:
            return False
        raise BadValueError()

    expected = "a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)"
    return Parser(expected, parse, lambda v: "true" if v else "false")


def choice(enum_type: type[E], *, ignore_case: bool = False) -> Parser[E]:
    """One of an enumeration's values, optionally ignoring case."""
    members = {(m.value.casefold() if ignore_case else m.value): m for m in enum_type}
    names = ", ".join(m.value for m in enum_type)
    expected = f"one of {names}" + (" (any case)" if ignore_case else "")

    def parse(raw: str) -> E:
        member = members.get(raw.casefold() if ignore_case else raw)
        if member is None:
            raise BadValueError()
        return member

    return Parser(expected, parse)


def connmark() -> Parser[int]:
    """A 32-bit mark other than 0, decimal or 0x-prefixed hexadecimal.

    A decimal with a leading zero is refused: aws-node (Go's ParseInt base 0) reads ``0200``
    as octal 128, so taking it as 200 would silently change the mark.
    """

    def parse(raw: str) -> int:
        if _HEX.fullmatch(raw):
            value = int(raw, 16)
        elif INT_PATTERN.fullmatch(raw) and not raw.startswith(("+", "-")):
            if len(raw) > 1 and raw.startswith("0"):
                raise BadValueError("leading zero (aws-node reads it as octal)")
            value = int(raw)
        else:
            raise BadValueError()
        if not 1 <= value <= 0xFFFFFFFF:
            raise BadValueError()
        return value

    return Parser("an integer from 1 to 0xFFFFFFFF, decimal or 0x hex", parse, hex)


def positive_number(unit: str) -> Parser[float]:
    """A finite decimal number > 0, e.g. seconds or calls per second."""

    def parse(raw: str) -> float:
        if not _NUMBER.fullmatch(raw):
            raise BadValueError()
        value = float(raw)
        if not math.isfinite(value) or value <= 0:
            raise BadValueError()
        return value

    def render(value: float) -> str:
        text = repr(value)
        return text.removesuffix(".0")

    return Parser(f"a number > 0 ({unit})", parse, render)


def veth_prefix() -> Parser[str]:
    """1 to 4 of ``A-Z a-z 0-9 _ . -``, and not a name aws-node reserves."""

    def parse(raw: str) -> str:
        if not _VETH_PREFIX.fullmatch(raw):
            raise BadValueError()
        if raw in RESERVED_VETH_PREFIXES:
            raise BadValueError("reserved name")
        return raw

    return Parser("1 to 4 characters of A-Z a-z 0-9 _ . -, other than eth, vlan and lo", parse)


def text(expected: str, pattern: re.Pattern[str] | None = None, max_length: int = 0) -> Parser[str]:
    """Free text, optionally matching a pattern and bounded in length."""

    def parse(raw: str) -> str:
        if max_length and len(raw) > max_length:
            raise BadValueError(f"longer than {max_length} characters")
        if pattern is not None and not pattern.fullmatch(raw):
            raise BadValueError()
        return raw

    return Parser(expected, parse)


def dns_subdomain() -> Parser[str]:
    """A Kubernetes object name such as a node name (RFC 1123 subdomain)."""
    return text("a lowercase DNS subdomain of up to 253 characters", _DNS_SUBDOMAIN, 253)


def gce_name() -> Parser[str]:
    """A Compute Engine resource name (RFC 1035 label), e.g. a secondary range name."""
    return text("a lowercase RFC 1035 name: a-z first, then a-z 0-9 -, 63 at most", _RFC1035, 63)


def k8s_key() -> Parser[str]:
    """A Kubernetes label or annotation key: optional ``dns.prefix/`` then a name."""

    def parse(raw: str) -> str:
        prefix, slash, name = raw.rpartition("/")
        if slash and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)):
            raise BadValueError(f"prefix {prefix!r} is not a DNS subdomain")
        if not _K8S_NAME.fullmatch(name):
            raise BadValueError(f"name {name!r} is not 1..63 of A-Z a-z 0-9 - _ . (alnum at ends)")
        return raw

    return Parser("a label key such as k8s.amazonaws.com/eniConfig", parse)


def absolute_path(max_bytes: int = 4095) -> Parser[Path]:
    """An absolute file system path (for sockets, short enough for sun_path)."""

    def parse(raw: str) -> Path:
        if not raw.startswith("/") or "\0" in raw:
            raise BadValueError()
        if len(raw.encode()) > max_bytes:
            raise BadValueError(f"longer than {max_bytes} bytes")
        return Path(raw)

    return Parser(f"an absolute path of at most {max_bytes} bytes", parse)


def log_destination() -> Parser[str]:
    """``stderr``, ``stdout`` or an absolute path."""

    def parse(raw: str) -> str:
        if raw in {"stderr", "stdout"} or (raw.startswith("/") and "\0" not in raw):
            return raw
        raise BadValueError("")

    return Parser("stderr, stdout or an absolute file path", parse)
