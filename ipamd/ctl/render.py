"""The look of vpc-ipamctl's output: the console, tables, and how values read.

Owns what every command shares so they read alike: one rich Console on stdout (colour only
on a terminal, which rich decides), tables of one style, times as ``10:02:05Z``, durations
as ``13m32s``, null as ``-``, and errors as one plain line on stderr. Text that comes from
the daemon is always wrapped in ``Text`` so brackets in it are never read as rich markup.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

PIPED_WIDTH = 100
"""Columns used when stdout is not a terminal (a file, a pipe, a test), unless wider."""

OUTCOME_STYLES = {
    "grew": "green",
    "shrank": "cyan",
    "on-target": "dim",
    "blocked": "bold red",
    "waiting": "yellow",
    "failed": "bold red",
}
VERDICT_STYLES = {
    "wired": "bold green",
    "assigned": "green",
    "miswired": "bold red",
    "refused": "bold red",
    "released": "yellow",
    "pending": "yellow",
    "unknown": "yellow",
}


def console() -> Console:
    out = Console(highlight=False, soft_wrap=False)
    if not out.is_terminal and out.width < PIPED_WIDTH:
        out.width = PIPED_WIDTH
    return out


def fail(command: str, message: str) -> None:
    """One line on stderr, prefixed with the command, as the health command has always done."""
    print(f"vpc-ipamctl {command}: {message}", file=sys.stderr)


def print_json(document: object) -> None:
    print(json.dumps(document))


def table(*headers: str, title: str | None = None) -> Table:
    """A borderless table with a header rule; columns are added by the caller when they need
    options (no_wrap, justify), else from ``headers``."""
    out = Table(
        box=box.SIMPLE_HEAD,
        title=title,
        title_justify="left",
        title_style="bold",
        padding=(0, 1, 0, 0),  # with the box's blank divider: two spaces between columns
        show_edge=False,
    )
    for header in headers:
        out.add_column(header)
    return out


def cell(value: object, style: str = "") -> Text:
    """A value as table text: None as ``-``, booleans as yes/no, lists joined by commas,
    objects as ``key=value`` pairs."""
    return Text(plain(value), style=style)


def plain(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) if value else "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) if value else "-"
    return str(value)


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def clock(value: object) -> str:
    """``10:02:05Z`` for an RFC 3339 time; the text unchanged if it does not parse."""
    at = parse_time(value)
    if at is None:
        return plain(value)
    return at.astimezone(UTC).strftime("%H:%M:%SZ")


def duration(seconds: object) -> str:
    """``812.5`` -> ``13m32s``; days and hours for longer spans; ``-`` for null."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return plain(seconds)
    if seconds < 10:
        return f"{seconds:.3g}s" if seconds < 1 else f"{seconds:.1f}s"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def age(value: object, now: datetime | None = None) -> str:
    """How long ago an RFC 3339 time was (``5m02s``), by the local clock unless ``now``."""
    at = parse_time(value)
    if at is None:
        return plain(value)
    seconds = ((now or datetime.now(UTC)) - at).total_seconds()
    return duration(max(seconds, 0.0))


def pod_name(pod: object) -> str:
    """``namespace/name`` of a pod object of the contract, ``-`` without one."""
    if isinstance(pod, Mapping) and pod.get("name"):
        namespace = pod.get("namespace")
        return f"{namespace}/{pod['name']}" if namespace else str(pod["name"])
    return "-"


def items(document: Mapping[str, Any], key: str) -> list[Any]:
    """``document[key]`` as a list; a missing or null key (an older daemon) as empty."""
    value = document.get(key)
    return list(value) if isinstance(value, list) else []


def mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    return value if isinstance(value, Mapping) else {}
