"""Plain-text tables of a node's pool and of the connectivity checks, for the demo and CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.checks import Check


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(indent + line.rstrip() for line in lines)


def pool_table(health: dict[str, Any]) -> str:
    """One row per interface: blocks, addresses used / free / cooling, whether it serves."""
    rows = []
    for iface in health["pool"]:
        blocks = iface["blocks"]
        size = sum(b["size"] for b in blocks)
        used = sum(b["assigned"] for b in blocks)
        cooling = sum(b["cooling"] for b in blocks)
        kinds = sorted({f"/{b['cidr'].split('/')[1]}" for b in blocks})
        serving = "yes" if iface["wired"] and iface["pods_allowed"] else "no"
        rows.append(
            [
                iface["id"] + (" (primary)" if iface["primary"] else ""),
                iface["device_index"],
                f"{len(blocks)} x {','.join(kinds) or '-'}",
                used,
                size - used - cooling,
                cooling,
                serving,
            ]
        )
    counts = health["addresses"]
    summary = (
        f"  addresses: {counts['total']} total, {counts['assigned']} assigned, "
        f"{counts['available']} available, {counts['cooling']} cooling"
    )
    if health.get("blocked"):
        summary += f"; growth blocked: {health['blocked']}"
    headers = ["INTERFACE", "DEVICE", "BLOCKS", "USED", "FREE", "COOLING", "SERVES PODS"]
    return table(headers, rows) + "\n" + summary


def checks_table(checks: Sequence[Check]) -> str:
    return "\n".join(
        f"  {'PASS' if c.ok else 'FAIL'}  {c.name}\n        {c.detail}" for c in checks
    )
