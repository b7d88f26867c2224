"""The kernel dataplane: one veth per pod attachment, its routes, neighbor and rules.

What one pod gets (DESIGN.md section 5):

- a veth created directly in its final namespaces: the host end, named
  ``host_veth_name(key)``, carries the alias ``alias_for(key)`` and no address; the pod end
  is ``ifname`` in the pod's namespace;
- in the pod: ``podIP/32``, ``lo`` up, ``169.254.1.1 dev <ifname> scope link``, ``default
  via 169.254.1.1`` and a permanent neighbor entry for 169.254.1.1 at the host end's MAC;
- on the host: ``podIP/32 dev <veth> scope link`` in main, rule 512 ``to podIP lookup
  main`` and, for an address of a secondary interface, rules 1536 to that interface's
  table: with SNAT on, one ``from podIP to <VPC CIDR> lookup <table>`` per VPC CIDR, so
  traffic leaving the VPC takes the main table (the primary interface, where it is SNATed
  to the primary address); with external SNAT, one ``from podIP lookup <table>``
  (docs/decisions.md, "Rule 1536 must depend on SNAT").

``wire`` converges: a veth of the same attachment left by an earlier ADD is replaced, rules
already present are kept (one of each), rules of ours for the address that say anything
else are removed (say after the VPC gained a CIDR or the SNAT mode changed) and missing
ones added, so a retried ADD succeeds. When a step fails, what the call created is
removed before the error propagates. ``unwire`` deletes the host end (the pod end and the
host route go with it) and the pod's rules, whatever their destinations; what is already
gone is fine. ``check`` (in ``podcheck``) lists what drifted.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ipamd.dataplane import podcheck
from ipamd.dataplane.nsfd import netlink, pod_netns
from ipamd.dataplane.rtnl import (
    GATEWAY,
    NUD_PERMANENT,
    SCOPE_LINK,
    FromRule,
    Msg,
    WiringFailed,
    add_from_rule,
    add_to_rule,
    delete_link,
    delete_link_at,
    delete_rule,
    destination,
    from_rule,
    host_routes,
    is_to_rule,
    link,
    links_with_alias,
    pod_rules,
    rule_table,
    step,
)
from ipamd.hostview import MAIN_TABLE, alias_for, key_from_alias
from ipamd.model import Allocation, AllocationKey

log = logging.getLogger(__name__)

IFNAMSIZ = 15
"""Longest interface name the kernel takes (16 bytes with the NUL)."""
MAX_PREFIX = 4


class KernelDataplane:
    """Wires pods with netlink; the host side lives in ``host_netns`` (None: our own).

    ``table_for`` gives the route table of an interface, None for the primary one.
    ``secondary_destinations`` answers, each time a pod of a secondary interface is wired
    or checked, where its traffic must use that interface's table: the VPC's CIDRs when
    SNAT is on (one rule 1536 each; it must name at least one), None with external SNAT
    (one rule 1536 for every destination). It is asked each time because the VPC's CIDRs
    can change while the daemon runs."""

    wires_pods = True

    def __init__(
        self,
        veth_prefix: str,
        pod_mtu: int,
        *,
        table_for: Callable[[str], int | None],
        secondary_destinations: Callable[[], tuple[IPv4Network, ...] | None],
        host_netns: str | None = None,
    ) -> None:
        if not 1 <= len(veth_prefix) <= MAX_PREFIX:
            raise ValueError(f"veth prefix {veth_prefix!r} must be 1 to {MAX_PREFIX} characters")
        self.veth_prefix = veth_prefix
        self.pod_mtu = pod_mtu
        self.host_netns = host_netns
        self.table_for = table_for
        self.secondary_destinations = secondary_destinations

    def from_rules(self, interface_id: str) -> list[FromRule]:
        """The rules 1536 an address of ``interface_id`` needs: none on the primary
        interface, else one per VPC CIDR (SNAT on) or one for every destination."""
        table = self.table_for(interface_id)
        if table is None:
            return []
        destinations = self.secondary_destinations()
        if destinations is None:
            return [FromRule(None, table)]
        if not destinations:
            raise WiringFailed(
                "SNAT is on but no VPC CIDR is known: a pod of a secondary interface "
                "would get no rule to its table"
            )
        return list(dict.fromkeys(FromRule(destination(cidr), table) for cidr in destinations))

    def host_veth_name(self, key: AllocationKey) -> str:
        """``<prefix>`` + hex of sha1 of the key, 15 characters in all."""
        digest = hashlib.sha1(str(key).encode(), usedforsecurity=False).hexdigest()
        return self.veth_prefix + digest[: IFNAMSIZ - len(self.veth_prefix)]

    def wire(self, allocation: Allocation, netns: str, ifname: str) -> dict[str, object]:
        """Wire the pod; returns its CNI result. Raises NotANetworkNamespace for a bad
        ``netns`` and WiringFailed (nothing of this call left behind) when a step fails."""
        veth = self.host_veth_name(allocation.key)
        undo: list[Callable[[], None]] = []
        with pod_netns(netns, self.host_netns) as fd, netlink(self.host_netns) as host:
            earlier = link(host, veth)
            macs = self._intact(fd, allocation, earlier, netns=netns, ifname=ifname)
            try:
                host_mac, pod_mac = macs or self._wire(
                    host, fd, allocation, earlier, veth=veth, ifname=ifname, undo=undo
                )
            except BaseException:
                for action in reversed(undo):
                    try:
                        action()
                    except Exception:
                        log.exception("undoing a failed wiring of %s", allocation.key)
                raise
        verb = "found intact" if macs else "wired"
        log.info("%s %s (%s) as %s", verb, allocation.key, allocation.address, veth)
        return {
            "cniVersion": "1.1.0",
            "interfaces": [
                {"name": veth, "mac": host_mac},
                {"name": ifname, "mac": pod_mac, "sandbox": netns},
            ],
            "ips": [{"address": f"{allocation.address}/32", "gateway": GATEWAY, "interface": 1}],
            "routes": [{"dst": "0.0.0.0/0", "gw": GATEWAY}],
            "dns": {},
        }

    def _intact(
        self, fd: int, allocation: Allocation, earlier: Msg | None, *, netns: str, ifname: str
    ) -> tuple[str, str] | None:
        """The MACs of an earlier, complete wiring of this attachment (a retried ADD whose
        answer was lost; ``earlier`` is its host veth), or None when there is none or
        anything of it drifted."""
        if earlier is None or podcheck.drift(self, allocation, netns, ifname):
            return None
        with netlink(fd) as pod:
            dev = link(pod, ifname)
        return None if dev is None else (str(earlier.get("address")), str(dev.get("address")))

    def _wire(
        self,
        host: Any,
        fd: int,
        allocation: Allocation,
        earlier: Msg | None,
        *,
        veth: str,
        ifname: str,
        undo: list[Callable[[], None]],
    ) -> tuple[str, str]:
        key, address = allocation.key, str(allocation.address)
        with step(f"removing {veth} left by an earlier ADD of {key}"):
            self._clear_earlier(host, veth, key, earlier)
        with step(f"creating the veth {veth} with {ifname} in the pod namespace"):
            host.link(
                "add",
                ifname=veth,
                kind="veth",
                mtu=self.pod_mtu,
                peer={"ifname": ifname, "net_ns_fd": fd, "mtu": self.pod_mtu},
            )
        undo.append(lambda: delete_link(host, veth))
        with step(f"bringing {veth} up"):
            created = link(host, veth)
            if created is None:
                raise WiringFailed(f"{veth} vanished right after it was created")
            index = created["index"]
            host.link("set", index=index, ifalias=alias_for(key), state="up")
            host_mac = str(created.get("address"))
        with netlink(fd) as pod:
            pod_mac = self._wire_pod(pod, ifname, address, host_mac)
        with step(f"routing {address}/32 to {veth}"):
            host.route(
                "replace",
                dst=address,
                dst_len=32,
                oif=index,
                scope=SCOPE_LINK,
                table=MAIN_TABLE,
            )
        wanted = self.from_rules(allocation.interface_id)
        with step(f"adding the policy rules of {address}"):
            self._converge_rules(host, address, wanted, undo)
        return host_mac, pod_mac

    def _clear_earlier(self, host: Any, veth: str, key: AllocationKey, earlier: Msg | None) -> None:
        if earlier is None:
            return
        alias = earlier.get("ifalias")
        owner = key_from_alias(alias)
        if (alias and owner != key) or earlier.get(("linkinfo", "kind")) != "veth":
            raise WiringFailed(
                f"{veth} exists and is not a veth of {key} (alias {alias!r}); left alone"
            )
        delete_link(host, veth)

    def _wire_pod(self, pod: Any, ifname: str, address: str, host_mac: str) -> str:
        with step(f"configuring {ifname} in the pod namespace"):
            for held in pod.get_addr(family=socket.AF_INET):
                if held.get("address") == address:
                    raise WiringFailed(
                        f"{address} is already configured in the pod namespace "
                        f"(interface index {held['index']})"
                    )
            lo = link(pod, "lo")
            if lo is not None:
                pod.link("set", index=lo["index"], state="up")
            dev = link(pod, ifname)
            if dev is None:
                raise WiringFailed(f"{ifname} is missing from the pod namespace")
            index = dev["index"]
            pod.link("set", index=index, state="up")
            pod.addr("add", index=index, address=address, prefixlen=32)
            pod.route("add", dst=GATEWAY, dst_len=32, oif=index, scope=SCOPE_LINK)
            pod.route("add", dst="0.0.0.0", dst_len=0, gateway=GATEWAY, oif=index)
            pod.neigh("add", dst=GATEWAY, lladdr=host_mac, ifindex=index, state=NUD_PERMANENT)
            return str(dev.get("address"))

    def _converge_rules(
        self, host: Any, address: str, wanted: list[FromRule], undo: list[Callable[[], None]]
    ) -> None:
        """Rule 512 to main and the rules 1536 in ``wanted``: exactly one each; rules of
        ours for the address that say anything else are removed first (the kernel refuses
        a catch-all ``from`` rule while one with a ``to`` and the same table exists)."""
        have_to = False
        have_from: set[FromRule] = set()
        for rule in pod_rules(host, address):
            if is_to_rule(rule):
                if have_to or rule_table(rule) != MAIN_TABLE:
                    delete_rule(host, rule)
                have_to = have_to or rule_table(rule) == MAIN_TABLE
            else:
                found = from_rule(rule)
                if found in have_from or found not in wanted:
                    delete_rule(host, rule)
                else:
                    have_from.add(found)
        if not have_to:
            add_to_rule(host, address)
            undo.append(lambda: _delete_to_rules(host, address))
        for each in wanted:
            if each not in have_from:
                add_from_rule(host, address, each)
                undo.append(functools.partial(_delete_from_rule, host, address, each))

    def unwire(self, key: AllocationKey, netns: str, *, address: IPv4Address | None = None) -> None:
        """Delete the attachment's host veth (found by name or alias) and the rules of its
        address: read from the veth's /32 route, or ``address`` when the veth is gone. Rules
        of an address now routed to another device are someone else's and stay. ``netns``
        is not needed (the pod end dies with the host end); empty or vanished is fine."""
        with netlink(self.host_netns) as host:
            name = self.host_veth_name(key)
            veth = link(host, name)
            if veth is not None:
                found = {name: veth}
            else:
                # named by another veth prefix (the setting changed since its ADD): find it
                # by its alias, which costs a dump of every link, so only when the name fails
                matches = links_with_alias(host, alias_for(key))
                found = {str(m.get("ifname")): m for m in matches}
            addresses = {str(address)} if address is not None else set()
            for name in sorted(found):
                index = found[name]["index"]
                addresses.update(host_routes(host, index))
                delete_link_at(host, index)
                log.info("unwired %s: deleted %s", key, name)
            routed = set(host_routes(host, None))
            for each in sorted(addresses):
                if each in routed:
                    log.warning("%s is routed to another device; its rules stay", each)
                    continue
                for rule in pod_rules(host, each):
                    delete_rule(host, rule)

    def check(self, allocation: Allocation, netns: str, ifname: str) -> list[str]:
        """What differs from a freshly wired pod, in plain sentences; [] when nothing."""
        return podcheck.drift(self, allocation, netns, ifname)


def _delete_to_rules(host: Any, address: str) -> None:
    for rule in pod_rules(host, address):
        if is_to_rule(rule):
            delete_rule(host, rule)


def _delete_from_rule(host: Any, address: str, wanted: FromRule) -> None:
    for rule in pod_rules(host, address):
        if not is_to_rule(rule) and from_rule(rule) == wanted:
            delete_rule(host, rule)
