"""The datastore's JSON form: what a checkpoint holds, and the shape checks on loading it.

Kept apart from ipamd.datastore so the rules for handing out addresses read on their own.
This module only converts between plain records and JSON-ready dicts; it checks that every
field is there with the right type, and raises ValueError naming the first one that is not.
Whether the records agree with each other (one address, one owner; every address inside a
block) is the datastore's to judge when it rebuilds itself from them.

Schema (all addresses and blocks as strings, times as epoch seconds)::

    {"interfaces": [{"id", "device_index", "primary", "primary_ip", "pods_allowed",
                     "created_at", "blocks": ["10.0.0.16/28", ...]}],
     "allocations": [{"key": {"network", "container_id", "ifname"},
                      "pod": {"namespace", "name", "uid"}, "address", "interface_id",
                      "block", "assigned_at", "recovered"}],
     "cooling": [{"address", "released_at"}]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any, TypeVar

from ipamd.model import Allocation, AllocationKey, PodRef

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InterfaceRecord:
    id: str
    device_index: int
    primary: bool
    primary_ip: IPv4Address
    pods_allowed: bool
    created_at: float
    blocks: tuple[IPv4Network, ...]


@dataclass(frozen=True, slots=True)
class StateRecords:
    interfaces: tuple[InterfaceRecord, ...]
    allocations: tuple[Allocation, ...]
    cooling: tuple[tuple[IPv4Address, float], ...]
    """(address, released_at) of addresses still in cooldown."""


def encode(records: StateRecords) -> dict[str, Any]:
    return {
        "interfaces": [
            {
                "id": i.id,
                "device_index": i.device_index,
                "primary": i.primary,
                "primary_ip": str(i.primary_ip),
                "pods_allowed": i.pods_allowed,
                "created_at": i.created_at,
                "blocks": [str(b) for b in i.blocks],
            }
            for i in records.interfaces
        ],
        "allocations": [
            {
                "key": {
                    "network": a.key.network,
                    "container_id": a.key.container_id,
                    "ifname": a.key.ifname,
                },
                "pod": {"namespace": a.pod.namespace, "name": a.pod.name, "uid": a.pod.uid},
                "address": str(a.address),
                "interface_id": a.interface_id,
                "block": str(a.block),
                "assigned_at": a.assigned_at,
                "recovered": a.recovered,
            }
            for a in records.allocations
        ],
        "cooling": [
            {"address": str(address), "released_at": released_at}
            for address, released_at in records.cooling
        ],
    }


def decode(state: Mapping[str, Any]) -> StateRecords:
    """Records from a state dict; ValueError (with the path of the bad field) if malformed."""
    top = _mapping(state, "state")
    return StateRecords(
        interfaces=tuple(
            _interface(item, f"interfaces[{n}]")
            for n, item in enumerate(_get(top, "interfaces", list, "state"))
        ),
        allocations=tuple(
            _allocation(item, f"allocations[{n}]")
            for n, item in enumerate(_get(top, "allocations", list, "state"))
        ),
        cooling=tuple(
            _cooling(item, f"cooling[{n}]")
            for n, item in enumerate(_get(top, "cooling", list, "state"))
        ),
    )


def _interface(item: object, where: str) -> InterfaceRecord:
    obj = _mapping(item, where)
    blocks = _get(obj, "blocks", list, where)
    return InterfaceRecord(
        id=_get(obj, "id", str, where),
        device_index=_get(obj, "device_index", int, where),
        primary=_get(obj, "primary", bool, where),
        primary_ip=_address(_get(obj, "primary_ip", str, where), f"{where}.primary_ip"),
        pods_allowed=_get(obj, "pods_allowed", bool, where),
        created_at=_time(obj, "created_at", where),
        blocks=tuple(_network(b, f"{where}.blocks[{n}]") for n, b in enumerate(blocks)),
    )


def _allocation(item: object, where: str) -> Allocation:
    obj = _mapping(item, where)
    key = _mapping(obj.get("key"), f"{where}.key")
    pod = _mapping(obj.get("pod"), f"{where}.pod")
    return Allocation(
        key=AllocationKey(
            network=_get(key, "network", str, f"{where}.key"),
            container_id=_get(key, "container_id", str, f"{where}.key"),
            ifname=_get(key, "ifname", str, f"{where}.key"),
        ),
        pod=PodRef(
            namespace=_get(pod, "namespace", str, f"{where}.pod"),
            name=_get(pod, "name", str, f"{where}.pod"),
            uid=_get(pod, "uid", str, f"{where}.pod"),
        ),
        address=_address(_get(obj, "address", str, where), f"{where}.address"),
        interface_id=_get(obj, "interface_id", str, where),
        block=_network(obj.get("block"), f"{where}.block"),
        assigned_at=_time(obj, "assigned_at", where),
        recovered=_get(obj, "recovered", bool, where),
    )


def _cooling(item: object, where: str) -> tuple[IPv4Address, float]:
    obj = _mapping(item, where)
    address = _address(_get(obj, "address", str, where), f"{where}.address")
    return address, _time(obj, "released_at", where)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _get(obj: Mapping[str, Any], name: str, kind: type[T], where: str) -> T:
    if name not in obj:
        raise ValueError(f"{where}.{name}: missing")
    value = obj[name]
    # bool is an int to Python; a device index of `true` is a corrupt file, not 1
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}.{name}: expected {kind.__name__}, got {value!r}")
    return value


def _time(obj: Mapping[str, Any], name: str, where: str) -> float:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}.{name}: expected epoch seconds, got {value!r}")
    return float(value)


def _address(text: str, where: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _network(text: object, where: str) -> IPv4Network:
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a CIDR string, got {text!r}")
    try:
        return IPv4Network(text)  # strict: host bits set is corruption, not a block
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
