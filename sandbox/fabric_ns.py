"""Commands inside the sandbox's own network namespaces, and nowhere else.

Owned here: the one place where the fabric (``sandbox/fabric.py``) runs ``ip``, ``sysctl``
and ``nft``. A ``Netns`` is a namespace *name*; every command it runs carries that name
(``ip -n NAME ...`` or ``ip netns exec NAME ...``), so a command aimed at the host's own
namespace cannot be written with it. ``ip -n`` with a name that does not exist fails; it never
falls back to the host. The names are checked to be plain file names under /var/run/netns
starting with ``ROOT``, so no path, option or empty string can slip through either.

Also here: creating, deleting and listing those namespaces (``ip netns add/del``, which act on
the name, not inside a namespace), and a ``Runner`` that counts the subprocesses, so tests
can see that a sync with nothing to do ran none.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.portal import NETNS_DIR

ROOT = "vpcsbx-"
"""Every namespace the sandbox makes is named ``ROOT...``; ``cleanup_leftovers`` relies on it."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class FabricError(RuntimeError):
    """A command in a sandbox namespace failed; the message has the command and its stderr."""


def check_name(name: str) -> str:
    """``name`` if it can be one of the sandbox's namespaces, else ``ValueError``."""
    if not _NAME.fullmatch(name) or not name.startswith(ROOT):
        raise ValueError(
            f"{name!r} is not a sandbox namespace name ({ROOT}... of letters, digits, '-_.')"
        )
    return name


class Runner:
    """Runs the fabric's subprocesses (argv lists, never a shell) and counts them."""

    def __init__(self) -> None:
        self.count = 0

    def run(self, argv: Sequence[str], stdin: str | None = None) -> str:
        self.count += 1
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shown = " ".join(argv)
            detail = done.stderr.strip() or done.stdout.strip()
            if stdin is not None and "-batch" in argv:
                shown += " <<EOF\n" + stdin + "EOF"
            raise FabricError(f"{shown}\nfailed (exit {done.returncode}): {detail}")
        return done.stdout


@dataclass(frozen=True)
class Netns:
    """One of the sandbox's namespaces, by name; every command runs inside it."""

    name: str
    runner: Runner

    def __post_init__(self) -> None:
        check_name(self.name)

    def ip(self, *args: str) -> str:
        return self.runner.run(["ip", "-n", self.name, *args])

    def ip_json(self, *args: str) -> Any:
        out = self.runner.run(["ip", "-j", "-n", self.name, *args])
        return json.loads(out) if out.strip() else []

    def batch(self, lines: Iterable[str]) -> None:
        """Many ``ip`` commands in one process (``ip -n NAME -batch -``); stops at the first
        that fails, so after an error the namespace may hold part of the batch."""
        text = "".join(f"{line}\n" for line in lines)
        if text:
            self.runner.run(["ip", "-n", self.name, "-batch", "-"], stdin=text)

    def execute(self, *argv: str, stdin: str | None = None) -> str:
        """A program run inside the namespace (``ip netns exec NAME ...``)."""
        return self.runner.run(["ip", "netns", "exec", self.name, *argv], stdin=stdin)

    def sysctl(self, settings: Mapping[str, str | int]) -> None:
        """Sets the namespace's own ``net.*`` sysctls (they are per namespace)."""
        pairs = [f"{key}={value}" for key, value in settings.items() if _exists(key)]
        if pairs:
            self.execute("sysctl", "-q", "-w", *pairs)

    def nft(self, commands: list[dict[str, Any]]) -> None:
        """One nftables JSON batch, applied atomically (all or nothing)."""
        self.execute("nft", "-j", "-f", "-", stdin=json.dumps({"nftables": commands}))

    def nft_json(self, *args: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self.execute("nft", "-j", *args))["nftables"]
        return found


def _exists(key: str) -> bool:
    # A kernel without IPv6 has no net.ipv6 tree; "IPv6 off" is then already true. (Reads the
    # host's /proc/sys only to learn which trees the kernel has; nothing is written there.)
    return not key.startswith("net.ipv6.") or os.path.isdir("/proc/sys/net/ipv6")


def add_namespace(runner: Runner, name: str) -> Netns:
    """Creates the namespace ``name``; fails if it already exists (a leftover is never
    adopted: it may belong to another run)."""
    runner.run(["ip", "netns", "add", check_name(name)])
    return Netns(name, runner)


def delete_namespace(runner: Runner, name: str) -> bool:
    """Deletes the namespace ``name`` (and with it every link inside, i.e. both ends of its
    veths). False if it was already gone; other failures raise."""
    if not (NETNS_DIR / check_name(name)).exists():
        return False
    try:
        runner.run(["ip", "netns", "del", name])
    except FabricError:
        if (NETNS_DIR / name).exists():
            raise
        return False  # someone else deleted it meanwhile
    return True


def list_namespaces(root: str) -> list[str]:
    """Names of the namespaces under /var/run/netns that start with ``root``, sorted."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(root) and _NAME.fullmatch(n))
