"""``vpc-ipamctl status``: what this node holds, read from /v1/status.

A header (node, pool counts, limits, targets, why growth is blocked), the interfaces and
their blocks, the pool loop's last decisions, the cloud API's health and the Kubernetes
layer's. Secondary IPv4 addresses (/32 blocks) are summed into one row per interface: an
m5.24xlarge holds 735 of them, and ``allocations`` lists them one by one.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ipamd.ctl import render
from ipamd.ctl.endpoint import show_endpoint
from ipamd.ctl.render import cell, clock, duration, items, mapping, plain


def run(args: argparse.Namespace) -> int:
    return show_endpoint(args, "status", "/v1/status", show)


def show(out: Console, status: Mapping[str, Any]) -> None:
    out.print(header(status))
    out.print(interfaces(items(status, "interfaces")))
    decisions = items(status, "decisions")
    if decisions:
        out.print(decision_table(decisions[-10:]))
    cloud = mapping(status, "cloud")
    if cloud:
        out.print(cloud_table(cloud))
        last_error = mapping(cloud, "last_error")
        if last_error:
            out.print(Text("last cloud error: ", style="red") + _cloud_error(last_error))
    kubernetes = status.get("kubernetes")
    out.print(kubernetes_line(kubernetes if isinstance(kubernetes, Mapping) else None))


def header(status: Mapping[str, Any]) -> Panel:
    node = mapping(status, "node")
    addresses = mapping(status, "addresses")
    limits = mapping(status, "limits")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    identity = ", ".join(
        plain(node.get(k)) for k in ("instance_id", "primary_ip") if node.get(k) is not None
    )
    name = node.get("kubernetes_node")
    grid.add_row("node", cell(f"{name} ({identity})" if name else identity))
    grid.add_row(
        "instance",
        cell(f"{plain(node.get('instance_type'))} on {plain(node.get('provider'))}"),
    )
    started = render.parse_time(status.get("started_at"))
    since = f" (since {clock(status.get('started_at'))})" if started else ""
    grid.add_row(
        "daemon",
        cell(
            f"vpc-ipamd {plain(status.get('version'))}, "
            f"up {duration(status.get('uptime_seconds'))}{since}"
        ),
    )
    grid.add_row(
        "addresses",
        cell(
            ", ".join(
                f"{plain(addresses.get(k))} {k}"
                for k in ("total", "assigned", "cooling", "available")
            )
        ),
    )
    grid.add_row("max pods", cell(_limits(limits)))
    targets = mapping(status, "targets")
    chosen = [f"{name}={value}" for name, value in targets.items() if value not in (None, 0)]
    grid.add_row("targets", cell(" ".join(chosen) or "none set"))
    blocked = status.get("blocked")
    if blocked:
        grid.add_row(Text("blocked", style="bold red"), cell(blocked, "red"))
    endpoints = mapping(status, "endpoints")
    if endpoints.get("metrics"):
        grid.add_row("metrics", cell(endpoints["metrics"]))
    title = f"vpc-ipamd on {plain(node.get('kubernetes_node') or node.get('instance_id'))}"
    return Panel(grid, title=Text(title, style="bold"), title_align="left", expand=False)


def _limits(limits: Mapping[str, Any]) -> str:
    size = limits.get("block_size")
    if isinstance(size, int) and size > 1:
        unit = f"/{32 - (size - 1).bit_length()} prefixes"
    else:
        unit = "addresses" if size == 1 else f"blocks of {plain(size)}"
    return (
        f"{plain(limits.get('max_pods'))} ({plain(limits.get('max_interfaces'))} interfaces "
        f"x {plain(limits.get('blocks_per_interface'))} {unit})"
    )


def interfaces(listed: list[Any]) -> Table:
    out = render.table(title="interfaces")
    out.add_column("INTERFACE", no_wrap=True)
    out.add_column("DEVICE", no_wrap=True, justify="right")
    out.add_column("BLOCK", no_wrap=True)
    for header in ("USED", "FREE", "COOLING"):
        out.add_column(header, justify="right", no_wrap=True)
    out.add_column("SERVES PODS", no_wrap=True)
    out.add_column("WIRED", no_wrap=True)
    for interface in sorted(
        (i for i in listed if isinstance(i, Mapping)), key=lambda i: i.get("device_index") or 0
    ):
        name = cell(interface.get("id"), "bold")
        device = plain(interface.get("device_index"))
        if interface.get("primary"):
            device += " primary"
        allowed = bool(interface.get("pods_allowed"))
        wired = cell(interface.get("wired"), "" if interface.get("wired") else "red")
        rows = _block_rows(items(interface, "blocks"))
        if not rows:
            rows = [(cell(None), cell(0), cell(0), cell(0), True)]
        for block, used, free, cooling, serving in rows:
            if not allowed:
                serves = cell("no", "yellow")
            elif not serving:
                serves = cell("no (draining)", "yellow")
            else:
                serves = cell("yes")
            out.add_row(name, device, block, used, free, cooling, serves, wired)
            name, device, wired = Text(""), "", Text("")
    return out


def _block_rows(blocks: list[Any]) -> list[tuple[Text, Text, Text, Text, bool]]:
    """One row per block, but one row for all the /32s (secondary addresses) together."""
    singles = [b for b in blocks if isinstance(b, Mapping) and b.get("size") == 1]
    rows = [
        (
            cell(b.get("cidr")),
            cell(b.get("assigned")),
            cell(b.get("free")),
            cell(b.get("cooling")),
            bool(b.get("serving", True)),
        )
        for b in blocks
        if isinstance(b, Mapping) and b.get("size") != 1
    ]
    if singles:
        rows.insert(
            0,
            (
                cell(f"{len(singles)} x /32"),
                cell(sum(int(b.get("assigned") or 0) for b in singles)),
                cell(sum(int(b.get("free") or 0) for b in singles)),
                cell(sum(int(b.get("cooling") or 0) for b in singles)),
                any(b.get("serving", True) for b in singles),
            ),
        )
    return rows


def decision_table(decisions: list[Any]) -> Table:
    out = render.table(title="last decisions of the pool loop")
    out.add_column("TIME", no_wrap=True)
    out.add_column("OUTCOME", no_wrap=True)
    out.add_column("ACTIONS / REASONS", overflow="fold")
    for decision in decisions:
        if not isinstance(decision, Mapping):
            continue
        when = clock(decision.get("at"))
        repeats = decision.get("repeats")
        if isinstance(repeats, int) and repeats > 1:
            when += f" x{repeats} to {clock(decision.get('last_at'))}"
        outcome = str(decision.get("outcome") or "-")
        said = items(decision, "actions") + items(decision, "reasons")
        out.add_row(
            when,
            cell(outcome, render.OUTCOME_STYLES.get(outcome, "")),
            Text("\n".join(plain(s) for s in said) or "-"),
        )
    return out


def cloud_table(cloud: Mapping[str, Any]) -> Table:
    title = (
        f"cloud API ({plain(cloud.get('provider'))}; "
        f"last success {clock(cloud.get('last_success_at'))})"
    )
    out = render.table(title=title)
    out.add_column("ACTION", no_wrap=True)
    for header in ("CALLS", "ERRORS", "THROTTLES", "MEAN"):
        out.add_column(header, justify="right", no_wrap=True)
    for action in items(cloud, "actions"):
        if not isinstance(action, Mapping):
            continue
        mean = action.get("mean_seconds")
        errors = action.get("errors")
        throttles = action.get("throttles")
        out.add_row(
            cell(action.get("action")),
            cell(action.get("calls")),
            cell(errors, "red" if errors else ""),
            cell(throttles, "yellow" if throttles else ""),
            cell(f"{mean * 1000:.0f} ms" if isinstance(mean, int | float) else None),
        )
    return out


def _cloud_error(error: Mapping[str, Any]) -> Text:
    code = f" {error['code']}" if error.get("code") else ""
    return Text(
        f"{clock(error.get('at'))} {plain(error.get('action'))}{code}: "
        f"{plain(error.get('message'))}"
    )


def kubernetes_line(kubernetes: Mapping[str, Any] | None) -> Text:
    line = Text("kubernetes: ", style="bold")
    if kubernetes is None:
        return line + Text("off", style="dim")
    if kubernetes.get("connected"):
        line += Text("connected", style="green")
    else:
        away = kubernetes.get("unreachable_for")
        line += Text(
            "unreachable" + (f" for {duration(away)}" if away is not None else ""), style="red"
        )
    shown = {"connected", "unreachable_for", "last_error"}
    parts = [
        f"{key.replace('_', ' ')} {_brief(value)}"
        for key, value in kubernetes.items()
        if key not in shown and value is not None
    ]
    if parts:
        line += Text("; " + "; ".join(parts))
    if kubernetes.get("last_error"):
        line += Text(f"; last error: {plain(kubernetes['last_error'])}", style="red")
    return line


def _brief(value: object) -> str:
    """A count for lists (pods, leak candidates), ``k=v`` for objects, the value otherwise."""
    if isinstance(value, list):
        return str(len(value))
    return plain(value)
