"""Node-level wiring: the interfaces' own route tables, the rules they need, sysctls.

Each secondary interface (ENI) is brought up with the node's MTU and gets its own route
table, numbered device index + 1 as aws-node does, holding its subnet route and a default
via the subnet's router, plus a rule (priority 1536) sending traffic from the interface's own
primary address through that table. Node-wide: rule 1024 ``fwmark <mark>/<mark> lookup
main`` (return traffic of marked connections, see snat.py), IPv4 forwarding on, and loose
reverse-path filtering on the primary interface (replies to pods on secondary interfaces
arrive on an interface other than the one the kernel would route them out of).

Everything is idempotent (routes are replaced, rules added only when missing), through
netlink (pyroute2); ``host_netns`` names another namespace for tests and the sandbox.
"""

from __future__ import annotations

import subprocess
from contextlib import AbstractContextManager
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from ipamd.dataplane.nsfd import netlink
from providers.models import CloudInterface

MAIN_TABLE = 254
INTERFACE_RULE_PRIORITY = 1536
FWMARK_RULE_PRIORITY = 1024
RP_FILTER_LOOSE = 2
SCOPE_LINK = 253


class InterfaceNotFound(LookupError):
    """The cloud says the interface is attached, but the kernel has no link with its MAC yet
    (attachment still in progress); try again on the next tick."""


def table_for(device_index: int) -> int:
    return device_index + 1


class NodeDataplane:
    def __init__(self, *, eni_mtu: int, connmark: int, host_netns: str | None = None) -> None:
        self.eni_mtu = eni_mtu
        self.connmark = connmark
        self.host_netns = host_netns

    def _netlink(self) -> AbstractContextManager[Any]:
        handle: AbstractContextManager[Any] = netlink(self.host_netns)
        return handle

    def _link_by_mac(self, ipr: Any, mac: str) -> int:
        found = ipr.link_lookup(address=mac.lower())
        if not found:
            raise InterfaceNotFound(f"no link with MAC {mac} in the node's namespace")
        return int(found[0])

    def setup_node(self, primary_mac: str) -> str:
        """Node-wide settings; returns the primary interface's name."""
        with self._netlink() as ipr:
            index = self._link_by_mac(ipr, primary_mac)
            name = str(ipr.get_links(index)[0].get("ifname"))
            mark = self.connmark
            if not self._has_rule(ipr, FWMARK_RULE_PRIORITY, MAIN_TABLE, fwmark=mark):
                ipr.rule(
                    "add", priority=FWMARK_RULE_PRIORITY, fwmark=mark, fwmask=mark, table=MAIN_TABLE
                )
        self._sysctl("net.ipv4.ip_forward", 1)
        self._sysctl(f"net.ipv4.conf.{name}.rp_filter", RP_FILTER_LOOSE)
        return name

    def setup_interface(self, iface: CloudInterface) -> int:
        """Bring a secondary interface up with its table and rule; returns the table."""
        if iface.primary:
            raise ValueError("the primary interface uses the main table")
        table = table_for(iface.device_index)
        with self._netlink() as ipr:
            index = self._link_by_mac(ipr, iface.mac)
            ipr.link("set", index=index, mtu=self.eni_mtu, state="up")
            subnet = iface.subnet_cidr
            ipr.route("replace", dst=str(subnet), oif=index, table=table, scope=SCOPE_LINK)
            ipr.route(
                "replace", dst="0.0.0.0/0", gateway=str(iface.gateway), oif=index, table=table
            )
            if not self._has_rule(ipr, INTERFACE_RULE_PRIORITY, table, src=iface.primary_ip):
                ipr.rule(
                    "add",
                    priority=INTERFACE_RULE_PRIORITY,
                    src=str(iface.primary_ip),
                    src_len=32,
                    table=table,
                )
        return table

    def teardown_interface(self, iface: CloudInterface) -> None:
        """Remove the interface's table routes and its rule (the link goes with the detach)."""
        table = table_for(iface.device_index)
        with self._netlink() as ipr:
            ipr.flush_routes(table=table, family=2)
            if self._has_rule(ipr, INTERFACE_RULE_PRIORITY, table, src=iface.primary_ip):
                ipr.rule(
                    "del",
                    priority=INTERFACE_RULE_PRIORITY,
                    src=str(iface.primary_ip),
                    src_len=32,
                    table=table,
                )

    @staticmethod
    def _has_rule(
        ipr: Any,
        priority: int,
        table: int,
        *,
        src: IPv4Address | None = None,
        fwmark: int | None = None,
    ) -> bool:
        for rule in ipr.get_rules(family=2):
            if rule.get("priority") != priority or rule.get("table") != table:
                continue
            if src is not None and (rule.get("src") != str(src) or rule["src_len"] != 32):
                continue
            if fwmark is not None and rule.get("fwmark") != fwmark:
                continue
            return True
        return False

    def _sysctl(self, key: str, value: int) -> None:
        """Set ``key`` unless it already holds ``value``: a container that is not privileged
        sees /proc/sys read-only, so a node prepared by an init step must not need a write."""
        if self._read_sysctl(key) == str(value):
            return
        if self.host_netns:
            subprocess.run(
                ["ip", "netns", "exec", self.host_netns, "sysctl", "-qw", f"{key}={value}"],
                check=True,
                capture_output=True,
            )
        else:
            Path("/proc/sys", *key.split(".")).write_text(f"{value}\n")

    def _read_sysctl(self, key: str) -> str | None:
        try:
            if self.host_netns:
                done = subprocess.run(
                    ["ip", "netns", "exec", self.host_netns, "sysctl", "-n", key],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                return done.stdout.strip()
            return Path("/proc/sys", *key.split(".")).read_text().strip()
        except (OSError, subprocess.CalledProcessError):
            return None
