"""Small rtnetlink queries and edits shared by wiring, unwiring and checking a pod.

pyroute2 messages are dict-like: header fields by key (``msg["dst_len"]``), attributes by
``msg.get("dst")``. A rule's priority is absent (None) when it is 0. Everything here takes
an open ``IPRoute`` so the caller decides which namespace it talks to.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyroute2 import NetlinkError

from ipamd.hostview import MAIN_TABLE

Msg = Any
"""A pyroute2 netlink message (untyped)."""

GATEWAY = "169.254.1.1"
"""The pod's next hop: link-local, answered by the permanent neighbor entry."""
TO_POD_PRIORITY = 512
FROM_POD_PRIORITY = 1536
SCOPE_LINK = 253
NUD_PERMANENT = 0x80
IFF_UP = 0x1
GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV)
"""What the kernel answers when the thing to delete or read is already gone."""


class WiringFailed(RuntimeError):
    """A step of wiring a pod failed; the message names the step and the kernel's reason."""


@contextmanager
def step(what: str) -> Iterator[None]:
    """Turn a netlink or OS error into WiringFailed naming ``what`` was being done."""
    try:
        yield
    except NetlinkError as error:
        raise WiringFailed(f"{what}: {error.args[-1]} (errno {error.code})") from error
    except OSError as error:
        raise WiringFailed(f"{what}: {error.strerror or error}") from error


def link(ipr: Any, name: str) -> Msg | None:
    """The link named ``name``, or None."""
    try:
        found = ipr.get_links(ifname=name)
    except NetlinkError as error:
        if error.code in GONE:
            return None
        raise
    return found[0] if found else None


def links_with_alias(ipr: Any, alias: str) -> list[Msg]:
    return [msg for msg in ipr.get_links() if msg.get("ifalias") == alias]


def is_up(msg: Msg) -> bool:
    return bool(msg["flags"] & IFF_UP)


def host_routes(ipr: Any, index: int | None) -> list[str]:
    """Destinations of /32 routes of the main table through link ``index`` (None: any)."""
    return [
        str(route.get("dst"))
        for route in ipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE)
        if route["dst_len"] == 32
        and route.get("dst")
        and (index is None or route.get("oif") == index)
    ]


def rule_table(rule: Msg) -> int:
    return int(rule.get("table") or rule["table"])


def pod_rules(ipr: Any, address: str) -> list[Msg]:
    """Rules of ours for ``address``: priority 512 ``to`` it, priority 1536 ``from`` it."""
    found = []
    for rule in ipr.get_rules(family=socket.AF_INET):
        priority = rule.get("priority") or 0
        to_pod = rule.get("dst") == address and rule["dst_len"] == 32 and not rule.get("src")
        from_pod = rule.get("src") == address and rule["src_len"] == 32 and not rule.get("dst")
        if (priority == TO_POD_PRIORITY and to_pod) or (priority == FROM_POD_PRIORITY and from_pod):
            found.append(rule)
    return found


def is_to_rule(rule: Msg) -> bool:
    return (rule.get("priority") or 0) == TO_POD_PRIORITY


def add_rule(ipr: Any, address: str, *, to_pod: bool, table: int) -> None:
    if to_pod:
        where = {"dst": address, "dst_len": 32}
        priority = TO_POD_PRIORITY
    else:
        where = {"src": address, "src_len": 32}
        priority = FROM_POD_PRIORITY
    ipr.rule("add", family=socket.AF_INET, priority=priority, table=table, **where)


def delete_rule(ipr: Any, rule: Msg) -> None:
    """Delete exactly this rule (matched on priority, selector and table); gone is fine."""
    where: dict[str, object] = {}
    if rule.get("dst"):
        where.update(dst=rule.get("dst"), dst_len=rule["dst_len"])
    if rule.get("src"):
        where.update(src=rule.get("src"), src_len=rule["src_len"])
    try:
        ipr.rule(
            "del",
            family=socket.AF_INET,
            priority=rule.get("priority") or 0,
            table=rule_table(rule),
            **where,
        )
    except NetlinkError as error:
        if error.code not in GONE:
            raise


def delete_link(ipr: Any, name: str) -> None:
    """Delete the link named ``name``; gone is fine."""
    found = link(ipr, name)
    if found is None:
        return
    try:
        ipr.link("del", index=found["index"])
    except NetlinkError as error:
        if error.code not in GONE:
            raise
