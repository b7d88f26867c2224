"""``vpc-ipamctl allocations``: which pod holds which address, read from /v1/allocations.

One row per allocation, sorted by interface then address, then the addresses cooling down.
SINCE is an age by this host's clock (ctl runs on the daemon's node). The contract does not
fix the shape of a cooling entry beyond its address; this shows the documented allocation
keys it shares (interface_id, block) and the times it carries, whatever their names.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ipamd.ctl import render
from ipamd.ctl.endpoint import show_endpoint
from ipamd.ctl.render import age, cell, items, pod_name

CONTAINER_CHARS = 12


def run(args: argparse.Namespace) -> int:
    return show_endpoint(args, "allocations", "/v1/allocations", show)


def show(out: Console, document: Mapping[str, Any]) -> None:
    allocations = [a for a in items(document, "allocations") if isinstance(a, Mapping)]
    out.print(allocation_table(allocations))
    cooling = items(document, "cooling")
    if cooling:
        out.print(cooling_table(cooling))
    else:
        out.print(Text("no address is cooling down", style="dim"))


def _address_key(address: object) -> tuple[int, int | str]:
    try:
        return (0, int(ipaddress.ip_address(str(address))))
    except ValueError:
        return (1, str(address))


def allocation_table(allocations: list[Mapping[str, Any]]) -> Table:
    out = render.table(title=f"allocations ({len(allocations)})")
    out.add_column("ADDRESS", no_wrap=True)
    out.add_column("POD", overflow="fold")
    out.add_column("CONTAINER", no_wrap=True)
    out.add_column("IFNAME", no_wrap=True)
    out.add_column("INTERFACE", no_wrap=True)
    out.add_column("BLOCK", no_wrap=True)
    out.add_column("SINCE", no_wrap=True, justify="right")
    ordered = sorted(
        allocations,
        key=lambda a: (str(a.get("interface_id") or ""), _address_key(a.get("address"))),
    )
    for allocation in ordered:
        pod = Text(pod_name(allocation.get("pod")))
        if allocation.get("recovered"):
            pod.append(" (recovered)", style="yellow")
        container = str(allocation.get("container_id") or "")
        out.add_row(
            cell(allocation.get("address"), "bold"),
            pod,
            cell(container[:CONTAINER_CHARS]),
            cell(allocation.get("ifname")),
            cell(allocation.get("interface_id")),
            cell(allocation.get("block")),
            cell(age(allocation.get("assigned_at"))),
        )
    return out


_RELEASED_KEYS = ("released_at", "since")
_UNTIL_KEYS = ("until", "cooling_until", "ready_at", "available_at")


def cooling_table(cooling: list[Any]) -> Table:
    """ADDRESS and REUSABLE AT, plus INTERFACE, BLOCK and RELEASED when the daemon gives them."""
    entries = [c if isinstance(c, Mapping) else {"address": c} for c in cooling]
    columns: list[tuple[str, Callable[[Mapping[str, Any]], Text]]] = [
        ("ADDRESS", lambda c: cell(c.get("address"), "bold")),
        ("INTERFACE", lambda c: cell(c.get("interface_id"))),
        ("BLOCK", lambda c: cell(c.get("block"))),
        ("RELEASED", lambda c: cell(_first(c, _RELEASED_KEYS, lambda t: f"{age(t)} ago"))),
        ("REUSABLE AT", lambda c: cell(_first(c, _UNTIL_KEYS, render.clock))),
    ]
    shown = [
        (header, value)
        for header, value in columns
        if header in {"ADDRESS", "REUSABLE AT"} or any(value(c).plain != "-" for c in entries)
    ]
    out = render.table(title=f"cooling down ({len(cooling)})")
    for header, _ in shown:
        out.add_column(header, no_wrap=True)
    for entry in sorted(entries, key=lambda c: _address_key(c.get("address"))):
        out.add_row(*(value(entry) for _, value in shown))
    return out


def _first(
    entry: Mapping[str, Any], keys: tuple[str, ...], show: Callable[[object], str]
) -> str | None:
    value = next((entry[k] for k in keys if entry.get(k)), None)
    return show(value) if value is not None else None
