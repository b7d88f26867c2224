"""Start-up: rebuild the datastore from checkpoint, metadata, host and spool, without EC2.

1. The checkpoint, if it belongs to this instance. An unreadable one has already been moved
   aside by the checkpoint (and logged); one whose state contradicts itself is moved aside
   here. Either way allocations are then rebuilt from the host alone.
2. The node's interfaces and blocks from the metadata service (IMDS): no EC2 call, so a
   restart serves its first ADD at once. Blocks IMDS does not show yet stay until the first
   reconcile, which believes EC2 only (IMDS lags).
3. The host, when the dataplane wires pods: an allocation whose pod route is gone belonged
   to a pod deleted while we were down and is released; a pod route we do not know (a lost
   checkpoint) is taken back, with its key from the veth alias, so no one else gets it.
4. The spool: releases the CNI binary recorded while the daemon was down.
5. The host again (kernel dataplane): the rules 512/1536 of every address released in 3 or 4
   are deleted, and any other rule of ours whose address no allocation, veth or held
   interface has (a kill between an interface's release and its rule's removal). The DEL
   fallback removes a pod's veth (its route goes with it) but cannot touch rules, so
   without this each pod deleted while the daemon was down left its rules behind, and a
   rule 1536 steering an address into another interface's table would outlive it. An
   address a veth still routes keeps its rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cni import spool
from ipamd.checkpoint import Checkpoint, CorruptCheckpoint, FileCheckpoint
from ipamd.datastore import Conflict, Datastore, DatastoreError
from ipamd.hostview import HostPod
from ipamd.model import Allocation, AllocationKey, PodRef
from ipamd.service import release_by_address
from providers.base import Provider
from providers.models import CloudInterface

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    checkpoint: str = "none"
    """"restored", "none" (first start), "lost" (corrupt, inconsistent or another node's)."""
    released_gone: list[Allocation] = field(default_factory=list)
    retaken: list[Allocation] = field(default_factory=list)
    drained: int = 0
    released_spooled: list[Allocation] = field(default_factory=list)
    rules_cleared: list[IPv4Address] = field(default_factory=list)
    """Addresses released while down whose host rules were deleted (kernel dataplane)."""

    def summary(self) -> str:
        return (
            f"checkpoint {self.checkpoint}; {len(self.released_gone)} allocations of pods gone "
            f"while down released; {len(self.retaken)} taken back from the host; "
            f"{self.drained} spooled releases drained; rules of "
            f"{len(self.rules_cleared)} released addresses deleted"
        )


def read_checkpoint(checkpoint: Checkpoint) -> tuple[dict[str, Any] | None, str]:
    """(state, status); a corrupt checkpoint is already moved aside and logged."""
    try:
        state = checkpoint.load()
    except CorruptCheckpoint as corrupt:
        log.error("checkpoint lost (%s); rebuilding allocations from the host", corrupt)
        return None, "lost"
    return state, "restored" if state is not None else "none"


def recover(
    *,
    state: dict[str, Any] | None,
    checkpoint: Checkpoint,
    provider: Provider,
    pods_allowed: Callable[[CloudInterface], bool],
    host_pods: Sequence[HostPod] | None,
    spool_dir: Path,
    cooldown: float,
    clock: Callable[[], float] = time.time,
    report: RecoveryReport | None = None,
    wire_interfaces: bool = False,
    clear_rules: Callable[[Sequence[IPv4Address]], None] | None = None,
    rule_addresses: Callable[[], Sequence[IPv4Address]] | None = None,
) -> tuple[Datastore, RecoveryReport]:
    """``wire_interfaces``: see Datastore (the kernel dataplane sets interfaces up).
    ``clear_rules`` deletes the host rules of released addresses (default: netlink in this
    namespace); it is used only when ``host_pods`` is given (the kernel dataplane), as is
    ``rule_addresses``, the addresses our rules 512/1536 name on the host (default: a dump
    of this namespace's rules)."""
    report = report or RecoveryReport()
    node = provider.discover()
    prefixlen = provider.block_prefixlen
    store = Datastore(
        cooldown=cooldown, serving_prefixlen=prefixlen, clock=clock, wire_interfaces=wire_interfaces
    )
    if state is not None:
        owner = (state.get("node") or {}).get("instance_id")
        if owner != node.instance_id:
            log.error("checkpoint belongs to %s, this is %s: ignored", owner, node.instance_id)
            report.checkpoint = "lost"
        else:
            try:
                store = Datastore.from_state(
                    state["datastore"],
                    cooldown=cooldown,
                    serving_prefixlen=prefixlen,
                    clock=clock,
                    wire_interfaces=wire_interfaces,
                )
                report.checkpoint = "restored"
            except (DatastoreError, KeyError, TypeError) as error:
                if isinstance(checkpoint, FileCheckpoint):
                    checkpoint.quarantine(f"inconsistent state: {error}")
                log.error("checkpoint state unusable (%s); rebuilding from the host", error)
                report.checkpoint = "lost"

    contradicted = _add_local(store, provider.local_interfaces(), pods_allowed)
    if host_pods is not None:
        _match_host(store, host_pods, clock(), report)
    _drain_spool(store, spool_dir, report)
    # a pod gone while down may have held what the metadata now puts on another interface
    for iface, refused in _add_local(store, [i for i, _ in contradicted], pods_allowed):
        # the metadata contradicts an address a live pod holds (or lags): start from the
        # checkpoint's view; the first reconcile asks EC2, the doctor shows the rest
        log.error("recovery: %s from the metadata service not taken: %s", iface.id, refused)
    if host_pods is not None:
        # the rules of pods released while down, and any rule of ours that nothing holds:
        # a kill between an interface's release and its rule's removal leaves its rule 1536
        released = [a.address for a in [*report.released_gone, *report.released_spooled]]
        named = (rule_addresses or _rule_addresses)()
        own = {i.primary_ip for i in store.interfaces()}
        stale = [a for a in _unrouted(store, host_pods, [*released, *named]) if a not in own]
        if stale:
            try:
                (clear_rules or delete_pod_rules)(stale)
                report.rules_cleared = stale
            except Exception:  # leftover rules must not stop the start; the doctor finds them
                log.exception("deleting the rules of addresses released while down failed")
    log.info("recovery: %s", report.summary())
    return store, report


def _add_local(
    store: Datastore,
    interfaces: Iterable[CloudInterface],
    pods_allowed: Callable[[CloudInterface], bool],
) -> list[tuple[CloudInterface, Conflict]]:
    """Hold what the metadata service lists; returns the interfaces it contradicted."""
    refused: list[tuple[CloudInterface, Conflict]] = []
    for iface in interfaces:
        try:
            store.add_interface(iface, pods_allowed=pods_allowed(iface))
        except Conflict as error:
            refused.append((iface, error))
    return refused


def _match_host(
    store: Datastore, host_pods: Sequence[HostPod], now: float, report: RecoveryReport
) -> None:
    routed = {pod.address for pod in host_pods}
    for allocation in store.allocations():
        if allocation.address not in routed:
            store.release(allocation.key)
            report.released_gone.append(allocation)
            log.warning(
                "pod %s (%s) is gone from the host: released %s",
                allocation.pod,
                allocation.key,
                allocation.address,
            )
    for pod in host_pods:
        if store.allocation_for(pod.address) is not None:
            continue
        where = store.block_of(pod.address)
        if where is None:
            log.error(
                "host routes %s to %s, but the node holds no such address", pod.address, pod.veth
            )
            continue
        interface_id, block = where
        key = pod.key or AllocationKey("", f"recovered-{pod.veth}", "")
        allocation = Allocation(
            key, PodRef(), pod.address, interface_id, block, now, recovered=True
        )
        try:
            store.restore_allocation(allocation)
        except DatastoreError as error:
            log.error("cannot take %s back from the host: %s", pod.address, error)
            continue
        report.retaken.append(allocation)


def _drain_spool(store: Datastore, spool_dir: Path, report: RecoveryReport) -> None:
    def corrupt(path: Path, reason: str) -> None:
        log.error("unreadable spooled release moved to %s: %s", path, reason)

    for path, entry in spool.read_releases(spool_dir, on_corrupt=corrupt):
        key = AllocationKey(entry.network, entry.container_id, entry.ifname)
        released = store.release(key)
        if released is None:
            report.released_spooled += release_by_address(store, key, _addresses(entry.addresses))
        else:
            report.released_spooled.append(released)
        spool.remove(path)
        report.drained += 1


def _addresses(texts: Sequence[str]) -> list[IPv4Address]:
    found = []
    for text in texts:
        try:
            found.append(IPv4Address(text))
        except ValueError:
            continue
    return found


def _unrouted(
    store: Datastore, host_pods: Sequence[HostPod], addresses: Iterable[IPv4Address]
) -> list[IPv4Address]:
    """Of ``addresses``, those no veth routes and no allocation holds (again)."""
    routed = {pod.address for pod in host_pods}
    return sorted({a for a in addresses if a not in routed and store.allocation_for(a) is None})


def _rule_addresses() -> list[IPv4Address]:
    """The addresses our rules 512 (``to``) and 1536 (``from``) name in this namespace."""
    from ipamd.dataplane import rtnl  # noqa: PLC0415 (pyroute2: only with the kernel dataplane)
    from ipamd.dataplane.nsfd import netlink  # noqa: PLC0415

    with netlink(None) as ipr:
        named = {rtnl.pod_rule_address(r) for r in ipr.get_rules(family=2)}
    return sorted(IPv4Address(a) for a in named if a)


def delete_pod_rules(addresses: Sequence[IPv4Address]) -> None:
    """Delete our rules (512 ``to``, 1536 ``from``) of ``addresses`` in this namespace."""
    from ipamd.dataplane import rtnl  # noqa: PLC0415 (pyroute2: only with the kernel dataplane)
    from ipamd.dataplane.nsfd import netlink  # noqa: PLC0415

    with netlink(None) as ipr:
        for address in addresses:
            for msg in rtnl.pod_rules(ipr, str(address)):
                rtnl.delete_rule(ipr, msg)
            log.info("deleted the rules of %s, which nothing on the node holds", address)
