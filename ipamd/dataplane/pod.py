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

``wire`` converges: a veth of the same attachment left by an earlier ADD is replaced, and
the address's rules 512 and 1536 are replaced by the wanted ones (whatever an earlier ADD
left, say before the VPC gained a CIDR or the SNAT mode changed), so a retried ADD
succeeds. When a step fails, what the call created is removed before the error propagates.
``unwire`` deletes the host end (the pod end and the host route go with it) and the pod's
rules, whatever their destinations; what is already gone is fine. ``check`` (in
``podcheck``) lists what drifted.

Cost: the kernel is asked over ``rawnl`` (no pyroute2 on this path), and only for what
this pod needs: links by name, the routes of one table through one link, one route lookup,
rules deleted by selector. Nothing is listed whose size grows with the number of pods on
the node, except the links, once in the daemon's life (the first DEL whose veth is not found
by name looks for veths named under another prefix), and the rules in CHECK (and in a
repeated ADD, which checks before it rebuilds): the kernel cannot select rules.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from ipamd.dataplane import podcheck
from ipamd.dataplane.nlmsg import Link
from ipamd.dataplane.nsfd import channel, pod_netns
from ipamd.dataplane.rawnl import Channel
from ipamd.dataplane.rtnl import (
    FROM_POD_PRIORITY,
    GATEWAY,
    SCOPE_LINK,
    TO_POD_PRIORITY,
    FromRule,
    WiringFailed,
    destination,
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
        self._renamed: dict[str, list[str]] | None = None
        """Alias -> names of the veths of ours named under another prefix (an earlier
        daemon's setting); read from one dump of the links at the first DEL whose veth is
        not found by name. This daemon only ever names veths ``host_veth_name``, so none
        are added later."""

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
        with pod_netns(netns, self.host_netns) as fd, channel(self.host_netns) as host:
            earlier = host.link(veth)
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
        self, fd: int, allocation: Allocation, earlier: Link | None, *, netns: str, ifname: str
    ) -> tuple[str, str] | None:
        """The MACs of an earlier, complete wiring of this attachment (a retried ADD whose
        answer was lost; ``earlier`` is its host veth), or None when there is none or
        anything of it drifted."""
        if earlier is None or podcheck.drift(self, allocation, netns, ifname):
            return None
        with channel(fd) as pod:
            dev = pod.link(ifname)
        return None if dev is None else (str(earlier.mac), str(dev.mac))

    def _wire(
        self,
        host: Channel,
        fd: int,
        allocation: Allocation,
        earlier: Link | None,
        *,
        veth: str,
        ifname: str,
        undo: list[Callable[[], None]],
    ) -> tuple[str, str]:
        key, address = allocation.key, str(allocation.address)
        with step(f"removing {veth} left by an earlier ADD of {key}"):
            self._clear_earlier(host, veth, key, earlier)
        with step(f"creating the veth {veth} with {ifname} in the pod namespace"):
            host.add_veth(veth, ifname, fd, self.pod_mtu)
        undo.append(functools.partial(_delete_link, host, veth))
        with step(f"bringing {veth} up"):
            created = host.link(veth)
            if created is None:
                raise WiringFailed(f"{veth} vanished right after it was created")
            index = created.index
            host.set_link(index, alias=alias_for(key))
            host_mac = str(created.mac)
        with channel(fd) as pod:
            pod_mac = self._wire_pod(pod, ifname, address, host_mac)
        with step(f"routing {address}/32 to {veth}"):
            host.add_route(address, 32, oif=index, scope=SCOPE_LINK, replace=True)
        wanted = self.from_rules(allocation.interface_id)
        with step(f"adding the policy rules of {address}"):
            self._converge_rules(host, address, wanted, undo)
        return host_mac, pod_mac

    def _clear_earlier(
        self, host: Channel, veth: str, key: AllocationKey, earlier: Link | None
    ) -> None:
        if earlier is None:
            return
        alias = earlier.alias
        owner = key_from_alias(alias)
        if (alias and owner != key) or earlier.kind != "veth":
            raise WiringFailed(
                f"{veth} exists and is not a veth of {key} (alias {alias!r}); left alone"
            )
        host.delete_link(earlier.index)

    def _wire_pod(self, pod: Channel, ifname: str, address: str, host_mac: str) -> str:
        with step(f"configuring {ifname} in the pod namespace"):
            for held in pod.addresses():
                if held.address == address:
                    raise WiringFailed(
                        f"{address} is already configured in the pod namespace "
                        f"(interface index {held.index})"
                    )
            lo = pod.link("lo")
            if lo is not None and not lo.up:
                pod.set_link(lo.index)
            dev = pod.link(ifname)
            if dev is None:
                raise WiringFailed(f"{ifname} is missing from the pod namespace")
            index = dev.index
            if not dev.up:
                pod.set_link(index)
            pod.add_address(index, address)
            pod.add_route(GATEWAY, 32, oif=index, scope=SCOPE_LINK)
            pod.add_route("0.0.0.0", 0, oif=index, gateway=GATEWAY)
            pod.add_neighbour(index, GATEWAY, host_mac)
            return str(dev.mac)

    def _converge_rules(
        self, host: Channel, address: str, wanted: list[FromRule], undo: list[Callable[[], None]]
    ) -> None:
        """Rule 512 to main and the rules 1536 in ``wanted``, exactly one each and nothing
        else of ours for the address: whatever rules 512 and 1536 the address has are
        deleted (the kernel can delete by selector, but not list one address's rules
        without listing every rule of the node), then the wanted ones are added in order.
        Deleting first also lets a catch-all ``from`` rule replace ones with a ``to`` and
        the same table, which the kernel refuses to add beside them."""
        delete_rules(host, address)
        add_to_rule(host, address)
        undo.append(functools.partial(_delete_to_rule, host, address))
        for each in wanted:
            add_from_rule(host, address, each)
            undo.append(functools.partial(_delete_from_rule, host, address, each))

    def unwire(self, key: AllocationKey, netns: str, *, address: IPv4Address | None = None) -> None:
        """Delete the attachment's host veth (found by name or alias) and the rules of its
        address: read from the veth's /32 route, or ``address`` when the veth is gone. Rules
        of an address now routed to another device are someone else's and stay. ``netns``
        is not needed (the pod end dies with the host end); empty or vanished is fine."""
        with channel(self.host_netns) as host:
            name = self.host_veth_name(key)
            veth = host.link(name)
            if veth is not None:
                found = {name: veth}
            else:  # gone, or named under another prefix (the setting changed since its ADD)
                found = {str(m.name): m for m in self._renamed_veths(host, key)}
            addresses = {str(address)} if address is not None else set()
            for name in sorted(found):
                index = found[name].index
                addresses.update(
                    str(route.dst)
                    for route in host.routes(MAIN_TABLE, oif=index)
                    if route.dst_len == 32 and route.dst
                )
                host.delete_link(index)
                log.info("unwired %s: deleted %s", key, name)
            for each in sorted(addresses):
                if routed_in_main(host, each):
                    log.warning("%s is routed to another device; its rules stay", each)
                    continue
                delete_rules(host, each)

    def _renamed_veths(self, host: Channel, key: AllocationKey) -> list[Link]:
        """The veths of ``key`` named under another prefix, by their alias (see
        ``_renamed``); each is looked up again by name, so one gone or renamed since is not
        taken for it. Found ones are forgotten: the caller deletes them."""
        alias = alias_for(key)
        if self._renamed is None:
            renamed: dict[str, list[str]] = {}
            for each in host.links():
                owner = key_from_alias(each.alias)
                if owner is not None and each.alias and each.name != self.host_veth_name(owner):
                    renamed.setdefault(each.alias, []).append(str(each.name))
            self._renamed = renamed
        found = [host.link(name) for name in self._renamed.pop(alias, [])]
        return [each for each in found if each is not None and each.alias == alias]

    def check(self, allocation: Allocation, netns: str, ifname: str) -> list[str]:
        """What differs from a freshly wired pod, in plain sentences; [] when nothing."""
        return podcheck.drift(self, allocation, netns, ifname)


def routed_in_main(host: Channel, address: str) -> bool:
    """Whether the main table has a /32 route to ``address``: the entry the kernel's own
    lookup reaches (``ip route get fibmatch``), which is main's for a pod address, as rule
    512 (or main's own rule) sends it there."""
    route = host.route_to(address)
    return (
        route is not None
        and route.table == MAIN_TABLE
        and route.dst_len == 32
        and route.dst == address
    )


def add_to_rule(host: Channel, address: str) -> None:
    """Rule 512 ``to <address> lookup main``."""
    host.add_rule(TO_POD_PRIORITY, MAIN_TABLE, dst=IPv4Network(address))


def add_from_rule(host: Channel, address: str, rule: FromRule) -> None:
    """Rule 1536 ``from <address> [to <rule.dst>] lookup <rule.table>``."""
    host.add_rule(FROM_POD_PRIORITY, rule.table, src=IPv4Network(address), dst=rule.dst)


def delete_rules(host: Channel, address: str) -> None:
    """Every rule 512 ``to <address>`` and 1536 ``from <address>``, whatever else they
    say: each delete by selector removes one, until the kernel finds none."""
    while host.delete_rule(TO_POD_PRIORITY, dst=IPv4Network(address)):
        pass
    while host.delete_rule(FROM_POD_PRIORITY, src=IPv4Network(address)):
        pass


def _delete_to_rule(host: Channel, address: str) -> None:
    host.delete_rule(TO_POD_PRIORITY, MAIN_TABLE, dst=IPv4Network(address))


def _delete_from_rule(host: Channel, address: str, wanted: FromRule) -> None:
    host.delete_rule(FROM_POD_PRIORITY, wanted.table, src=IPv4Network(address), dst=wanted.dst)


def _delete_link(host: Channel, name: str) -> None:
    """Delete the link named ``name``; gone is fine."""
    found = host.link(name)
    if found is not None:
        host.delete_link(found.index)
