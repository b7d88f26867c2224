"""``json.loads`` and ``json.dumps`` for the plugin binary, without ``import json``.

The binary is exec'd once per pod. ``import json`` pulls in ``re`` (its decoder and encoder
compile regular expressions at import), and ``re`` pulls in ``enum``: about 8 ms of a start
budget of 20 ms, for regular expressions the binary never runs. ``json`` itself does the real
work in its C accelerator, ``_json``; this module drives that accelerator directly, the way
``json`` does on its fast path (no indent, no hooks), so what it returns is what ``json``
returns.

Anything off that path goes to ``json`` itself, imported then: every error (so the exception,
its type and its message are ``json``'s own; ``_json`` cannot even raise ``JSONDecodeError``
while ``json.decoder`` is not imported), input that is not plain UTF-8 (BOMs, UTF-16/32), and
an interpreter without ``_json`` or whose ``_json`` takes other arguments.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    import _json
except ImportError:  # not CPython: ``json`` alone
    _json = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"
"""What JSON allows around a value (RFC 8259), as ``json.decoder.WHITESPACE`` matches it."""
_NOT_PLAIN_UTF8 = (b"\x00", b"\xef", b"\xfe", b"\xff")
"""First bytes of a BOM or of UTF-16/32 text: ``json.detect_encoding`` decides those."""


def _constant(name: str) -> float:
    # json.decoder's default for NaN, Infinity and -Infinity
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _Context:
    """The attributes ``_json.make_scanner`` reads, as a default ``json.JSONDecoder`` has."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    def __init__(self, parse_constant: Callable[[str], Any]) -> None:
        self.parse_constant = parse_constant
        self.memo: dict[str, str] = {}


def loads(data: str | bytes, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(data, parse_constant=parse_constant)``."""
    try:
        return _fast_loads(data, parse_constant or _constant)
    except Exception:  # json raises its own error for it (or gives the same value)
        pass
    import json  # noqa: PLC0415 (the slow path only)

    return json.loads(data, parse_constant=parse_constant)


def _fast_loads(data: str | bytes, parse_constant: Callable[[str], Any]) -> Any:
    if isinstance(data, bytes):
        if data[:1] in _NOT_PLAIN_UTF8 or data[1:2] == b"\x00":
            raise ValueError("not plain UTF-8")
        text = data.decode("utf-8", "surrogatepass")
    elif isinstance(data, str) and not data.startswith("\ufeff"):
        text = data
    else:
        raise ValueError("not str or bytes, or a BOM")
    scan = _json.make_scanner(_Context(parse_constant))  # type: ignore[arg-type]
    value, end = scan(text, _skip_whitespace(text, 0))
    if _skip_whitespace(text, end) != len(text):
        raise ValueError("extra data")
    return value


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(
    value: object, *, separators: tuple[str, str] | None = None, allow_nan: bool = True
) -> str:
    """``json.dumps(value, separators=separators, allow_nan=allow_nan)``."""
    item, key = separators or (", ", ": ")
    try:
        encode = _json.make_encoder(
            {},
            _not_serializable,
            _json.encode_basestring_ascii,
            None,
            key,
            item,
            False,
            False,
            allow_nan,
        )
        return "".join(encode(value, 0))
    except Exception:  # json raises its own error for it (or gives the same text)
        pass
    import json  # noqa: PLC0415 (the slow path only)

    return json.dumps(value, separators=separators, allow_nan=allow_nan)
