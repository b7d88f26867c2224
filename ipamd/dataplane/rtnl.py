"""Pod wiring's shared vocabulary (priorities, ``FromRule``, ``WiringFailed``, ``step``) and
the pyroute2 rule and link edits of the doctor's host audit (``ipamd.hostaudit``); wiring,
unwiring and checking a pod talk to the kernel through ``rawnl`` instead.

pyroute2 messages are dict-like: header fields by key (``msg["dst_len"]``), attributes by
``msg.get("dst")``. A rule's priority is absent (None) when it is 0. Everything here takes
an open ``IPRoute`` so the caller decides which namespace it talks to.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Network
from typing import Any, NamedTuple

from pyroute2 import NetlinkError

from ipamd.dataplane import rawnl
from ipamd.hostview import MAIN_TABLE

Msg = Any
"""A pyroute2 netlink message (untyped)."""

GATEWAY = "169.254.1.1"
"""The pod's next hop: link-local, answered by the permanent neighbor entry."""
TO_POD_PRIORITY = 512
FROM_POD_PRIORITY = 1536
SCOPE_LINK = 253
NUD_PERMANENT = 0x80
GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV)
"""What the kernel answers when the thing to delete or read is already gone."""


class FromRule(NamedTuple):
    """A rule 1536 of a pod address: ``from <address> [to <dst>] lookup <table>``."""

    dst: IPv4Network | None
    """The destinations it covers; None for all (no ``to`` selector)."""
    table: int

    def selector(self, address: str) -> str:
        """``from <address> [to <dst>] lookup <table>``, as ``ip rule`` would say it."""
        to = "" if self.dst is None else f" to {self.dst}"
        return f"from {address}{to} lookup {self.table}"

    def describe(self, address: str) -> str:
        return f"rule {FROM_POD_PRIORITY} '{self.selector(address)}'"


class WiringFailed(RuntimeError):
    """A step of wiring a pod failed; the message names the step and the kernel's reason."""


@contextmanager
def step(what: str) -> Iterator[None]:
    """Turn a netlink or OS error into WiringFailed naming ``what`` was being done."""
    try:
        yield
    except NetlinkError as error:
        raise WiringFailed(f"{what}: {error.args[-1]} (errno {error.code})") from error
    except rawnl.NetlinkError as error:
        raise WiringFailed(f"{what}: {error.strerror} (errno {error.errno})") from error
    except OSError as error:
        raise WiringFailed(f"{what}: {error.strerror or error}") from error


IFNAMSIZ = 16
"""The kernel's interface name buffer, NUL included: no link has a longer name."""


def link(ipr: Any, name: str) -> Msg | None:
    """The link named ``name``, or None. One RTM_GETLINK by name: pyroute2's
    ``get_links(ifname=...)`` dumps every link and filters here, which on a node with a
    hundred pods costs tens of milliseconds per lookup, several times per ADD."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        return None
    try:
        found = ipr.link("get", ifname=name)
    except NetlinkError as error:
        if error.code in GONE:
            return None
        raise
    return found[0] if found else None


def rule_table(rule: Msg) -> int:
    return int(rule.get("table") or rule["table"])


def destination(network: IPv4Network) -> IPv4Network | None:
    """``network`` as a rule's ``to`` selector: None for 0.0.0.0/0, which the kernel keeps
    as no selector at all."""
    return network if network.prefixlen else None


def from_rule(rule: Msg) -> FromRule:
    """A priority 1536 rule (see ``pod_rules``) as a FromRule."""
    dst, length = rule.get("dst"), rule["dst_len"]
    network = IPv4Network(f"{dst}/{length}", strict=False) if dst and length else None
    return FromRule(network, rule_table(rule))


def pod_rule_address(rule: Msg) -> str | None:
    """The pod address a rule of ours is for (priority 512 ``to`` a /32, priority 1536
    ``from`` a /32, to any destination), or None for any other rule."""
    priority = rule.get("priority") or 0
    if priority == TO_POD_PRIORITY and rule["dst_len"] == 32 and not rule.get("src"):
        return str(rule.get("dst"))
    if priority == FROM_POD_PRIORITY and rule["src_len"] == 32 and rule.get("src"):
        return str(rule.get("src"))
    return None


def pod_rules(ipr: Any, address: str) -> list[Msg]:
    """Rules of ours for ``address`` (see ``pod_rule_address``)."""
    return [r for r in ipr.get_rules(family=socket.AF_INET) if pod_rule_address(r) == address]


def is_to_rule(rule: Msg) -> bool:
    return (rule.get("priority") or 0) == TO_POD_PRIORITY


def add_to_rule(ipr: Any, address: str) -> None:
    """Rule 512 ``to <address> lookup main``."""
    ipr.rule(
        "add",
        family=socket.AF_INET,
        priority=TO_POD_PRIORITY,
        table=MAIN_TABLE,
        dst=address,
        dst_len=32,
    )


def add_from_rule(ipr: Any, address: str, rule: FromRule) -> None:
    """Rule 1536 ``from <address> [to <rule.dst>] lookup <rule.table>``."""
    where: dict[str, object] = {"src": address, "src_len": 32}
    if rule.dst is not None:
        where.update(dst=str(rule.dst.network_address), dst_len=rule.dst.prefixlen)
    ipr.rule("add", family=socket.AF_INET, priority=FROM_POD_PRIORITY, table=rule.table, **where)


def delete_rule(ipr: Any, rule: Msg) -> None:
    """Delete this rule (matched on priority, selector and table); gone is fine.

    The kernel deletes the first rule that matches the selectors given, so a rule without
    ``to`` stands for any ``to``. That still deletes the rule itself when rules are deleted
    in the order they are listed: the kernel refuses to add a rule without ``to`` after one
    of the same priority, source and table that has one, so it is always listed first."""
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
    if found is not None:
        delete_link_at(ipr, found["index"])


def delete_link_at(ipr: Any, index: int) -> None:
    """Delete the link with index ``index``; gone is fine."""
    try:
        ipr.link("del", index=index)
    except NetlinkError as error:
        if error.code not in GONE:
            raise
