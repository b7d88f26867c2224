"""``instances.updateNetworkInterface`` on nic0: the checks Compute Engine makes, the ranges it
picks for size-only requests, and the zonal operation that applies the change.

Order of checks: ``requestId`` seen before (the same operation again, nothing applied twice;
an id must be a UUID), interface name, a running update of the same instance
(``resourceNotReady``), fingerprint present (``required``) and current (412
``conditionNotMet``), then the alias list: at most 150 (``invalid``, "limit"), each naming
an existing range (``subnetworkRangeName``; none means the primary range), explicit CIDRs
aligned and inside that range (``invalid``), not overlapping each other (``invalid``) nor
anything another resource holds (``IP_IN_USE_BY_ANOTHER_RESOURCE``); size-only entries
(``/28``) get the lowest free aligned blocks (``IP_SPACE_EXHAUSTED`` if there are none).

The body's ``aliasIpRanges`` replace the whole list; an absent list means an empty one (the
client library leaves an empty repeated field out of its JSON). Other fields of the body
are ignored. New blocks are reserved at submission, so no later request can take them; the
list changes (and the fingerprint with it) only when the operation completes, after the
injected delay; until then ``instances.get`` shows the old list. An injected failure ends
the operation DONE with ``error`` and gives the reserved blocks back.

An explicit range that equals one the instance already holds is kept; one that overlaps,
but differs from, a range of the same instance is refused like any other overlap.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from sandbox.gce import errors
from sandbox.gce.model import NIC, PRIMARY, Alias, InstanceState, Model, Operation, timestamp

MAX_ALIAS_RANGES = 150


def submit(
    model: Model,
    instance: InstanceState,
    interface: str,
    body: Any,
    request_id: str | None,
) -> Operation:
    """Check the request, reserve its new blocks and start the operation (lock held)."""
    if request_id is not None:
        _check_request_id(request_id)
        seen = model.request_ids.get(request_id)
        if seen is not None:
            return model.operations[seen]
    if interface != NIC:
        raise errors.invalid(
            f"Invalid value for field 'networkInterface': '{interface}'. "
            f"The instance has no network interface named '{interface}'."
        )
    if instance.busy is not None:
        raise errors.ApiError(
            400,
            errors.NOT_READY,
            f"The resource '{model.instance_url(instance)}' is not ready: operation "
            f"{instance.busy} is still changing it.",
        )
    if not isinstance(body, dict):
        raise errors.invalid("Invalid JSON payload: the body must be a NetworkInterface object.")
    supplied = body.get("fingerprint")
    if not supplied:
        raise errors.required("resource.fingerprint")
    if supplied != instance.nic_fingerprint:
        raise errors.ApiError(
            412,
            errors.CONDITION_NOT_MET,
            "Supplied fingerprint does not match current network interface fingerprint.",
        )
    wanted = _parse(body.get("aliasIpRanges") or [])
    new, taken = _reserve(model, instance, wanted)
    op = Operation(
        name=_operation_name(),
        id=model.next_id(),
        zone=instance.zone,
        instance=instance.name,
        request_id=request_id,
        due=model.clock.now() + model.operation_delay,
        inserted=timestamp(),
        new=new,
        taken=taken,
        error=model.failures.popleft() if model.failures else None,
    )
    model.operations[op.name] = op
    if request_id is not None:
        model.request_ids[request_id] = op.name
    instance.busy = op.name
    if model.operation_delay <= 0:
        model.complete(op)
    return op


def _check_request_id(request_id: str) -> None:
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.int == 0:
        raise errors.invalid(
            f"Invalid value for field 'requestId': '{request_id}'. "
            "The request id must be a valid non-zero UUID."
        )


def _operation_name() -> str:
    millis = int(time.time() * 1000)
    return f"operation-{millis}-{secrets.token_hex(7)[:13]}-{secrets.token_hex(4)}"


def _parse(items: Any) -> list[tuple[str, IPv4Network | int]]:
    """(range name, explicit CIDR or the prefix length of a size-only request) per item."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise errors.invalid("Invalid value for field 'resource.aliasIpRanges'.")
    if len(items) > MAX_ALIAS_RANGES:
        raise errors.invalid(
            f"Too many alias IP ranges on network interface '{NIC}': {len(items)} exceeds "
            f"the limit of {MAX_ALIAS_RANGES} alias IP ranges per network interface."
        )
    parsed: list[tuple[str, IPv4Network | int]] = []
    for i, item in enumerate(items):
        field = f"resource.aliasIpRanges[{i}].ipCidrRange"
        text = item.get("ipCidrRange")
        if not isinstance(text, str) or not text:
            raise errors.required(field)
        name = item.get("subnetworkRangeName") or PRIMARY
        if not isinstance(name, str):
            raise errors.invalid(f"Invalid value for field 'resource.aliasIpRanges[{i}]'.")
        parsed.append((name, _cidr(field, text)))
    return parsed


def _cidr(field: str, text: str) -> IPv4Network | int:
    bad = errors.invalid(f"Invalid value for field '{field}': '{text}'. Invalid IPv4 CIDR range.")
    if text.startswith("/"):
        try:
            size = int(text[1:])
        except ValueError:
            raise bad from None
        if not 0 <= size <= 32:
            raise bad
        return size
    try:
        if "/" not in text:
            return IPv4Network(IPv4Address(text))
        return IPv4Network(text)  # strict: host bits set is an error, as in Compute Engine
    except ValueError:
        raise bad from None


def _reserve(
    model: Model, instance: InstanceState, wanted: list[tuple[str, IPv4Network | int]]
) -> tuple[list[Alias], list[Alias]]:
    """The new alias list (request order) and the blocks newly taken for it; all or none."""
    subnet = model.subnetworks[instance.subnetwork]
    current = set(instance.aliases)
    explicit: list[Alias] = []
    for name, cidr in wanted:
        if name != PRIMARY and name not in subnet.secondary:
            raise errors.invalid(
                f"Invalid value for field 'subnetworkRangeName': '{name}'. Secondary range "
                f"'{name}' does not exist in subnetwork '{subnet.name}'."
            )
        within = subnet.network_of(name)
        where = f"secondary range '{name}'" if name else "the primary range"
        if isinstance(cidr, int):
            if cidr < within.prefixlen:
                raise errors.invalid(
                    f"Alias IP range /{cidr} is larger than {where} ({within}) of "
                    f"subnetwork '{subnet.name}'."
                )
        elif not cidr.subnet_of(within):
            raise errors.invalid(
                f"Alias IP range {cidr} is not within {where} ({within}) of subnetwork "
                f"'{subnet.name}'."
            )
        else:
            explicit.append(Alias(name, cidr))
    ordered = sorted(explicit, key=lambda a: (int(a.cidr.network_address), a.cidr.prefixlen))
    for a, b in itertools.pairwise(ordered):
        if a.cidr.overlaps(b.cidr):
            raise errors.invalid(f"Alias IP ranges {a.cidr} and {b.cidr} overlap each other.")
    taken: list[Alias] = []
    owner = instance.owner()
    try:
        for alias in explicit:
            if alias in current:
                continue
            allocator = subnet.ranges[alias.range_name]
            holders = allocator.overlapping(alias.cidr)
            if holders:
                raise errors.ApiError(
                    400,
                    errors.IP_IN_USE,
                    f"IP range {alias.cidr} is already in use by another resource: "
                    f"{holders[0].block} is held by {holders[0].owner}.",
                )
            allocator.take(alias.cidr, owner)
            taken.append(alias)
        picked: list[IPv4Network] = []
        # consecutive size-only asks of one size are served at once, lowest blocks first
        for sized, group in itertools.groupby(wanted, key=_sized):
            if sized is None:
                continue
            name, prefixlen = sized
            count = sum(1 for _ in group)
            blocks = subnet.ranges[name].allocate(prefixlen, count, owner)
            if not blocks:
                where = f"secondary range '{name}'" if name else "the primary range"
                raise errors.ApiError(
                    400,
                    errors.EXHAUSTED,
                    f"IP space of {where} ({subnet.network_of(name)}) of subnetwork "
                    f"'{subnet.name}' is exhausted: no {count} free aligned /{prefixlen} "
                    "block(s) left.",
                )
            picked.extend(blocks)
            taken.extend(Alias(name, b) for b in blocks)
    except errors.ApiError:
        for alias in taken:
            subnet.ranges[alias.range_name].release(alias.cidr)
        raise
    chosen = iter(picked)
    new = [Alias(n, next(chosen) if isinstance(c, int) else c) for n, c in wanted]
    return new, taken


def _sized(wanted: tuple[str, IPv4Network | int]) -> tuple[str, int] | None:
    name, cidr = wanted
    return (name, cidr) if isinstance(cidr, int) else None
