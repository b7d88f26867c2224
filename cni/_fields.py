"""Typed readers for decoded JSON that collect problems instead of stopping at the first.

Each reader takes the object, the key and a display path, appends ``"path.key: reason"`` to
``problems`` when the value is malformed and returns a neutral default, so a parser can
report every problem of a document in one error. JSON ``null`` counts as absent, as it does
for Go's decoder.
"""

from __future__ import annotations

import ipaddress

from cni._base import type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface


def objects(
    obj: dict[str, object], key: str, problems: list[str]
) -> list[tuple[str, dict[str, object]]]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{key}: must be an array, got {type_name(value)}")
        return []
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            out.append((f"{key}[{i}]", item))
        else:
            problems.append(f"{key}[{i}]: must be an object, got {type_name(item)}")
    return out


def string(obj: dict[str, object], key: str, path: str, problems: list[str]) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(f"{path}.{key}: must be a string, got {type_name(value)}")
        return ""
    return value


def string_list(
    obj: dict[str, object], key: str, path: str, problems: list[str]
) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{path}.{key}: must be an array of strings")
        return ()
    return tuple(value)


def uint(obj: dict[str, object], key: str, path: str, problems: list[str]) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{path}.{key}: must be a non-negative integer, got {value!r}")
        return None
    return value


def ip_address(
    obj: dict[str, object], key: str, path: str, problems: list[str]
) -> IPv4Address | IPv6Address | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and "%" not in value:
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            pass
    problems.append(f"{path}.{key}: must be an IP address, got {value!r}")
    return None


def cidr(
    obj: dict[str, object], key: str, path: str, problems: list[str]
) -> IPv4Interface | IPv6Interface | None:
    """An address with a numeric prefix length, host bits kept ("10.1.0.5/16")."""
    value = obj.get(key)
    if value is None:
        problems.append(f"{path}.{key}: missing")
        return None
    if isinstance(value, str) and "%" not in value:
        _, slash, prefix = value.partition("/")
        if slash and prefix.isdigit() and prefix.isascii():
            try:
                return ipaddress.ip_interface(value)
            except ValueError:
                pass
    problems.append(f"{path}.{key}: must be an address in CIDR notation, got {value!r}")
    return None
