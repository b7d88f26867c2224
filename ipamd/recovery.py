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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cni import spool
from ipamd.checkpoint import Checkpoint, CorruptCheckpoint, FileCheckpoint
from ipamd.datastore import Datastore, DatastoreError
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

    def summary(self) -> str:
        return (
            f"checkpoint {self.checkpoint}; {len(self.released_gone)} allocations of pods gone "
            f"while down released; {len(self.retaken)} taken back from the host; "
            f"{self.drained} spooled releases drained"
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
) -> tuple[Datastore, RecoveryReport]:
    """``wire_interfaces``: see Datastore (the kernel dataplane sets interfaces up)."""
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

    for iface in provider.local_interfaces():
        store.add_interface(iface, pods_allowed=pods_allowed(iface))

    if host_pods is not None:
        _match_host(store, host_pods, clock(), report)
    _drain_spool(store, spool_dir, report)
    log.info("recovery: %s", report.summary())
    return store, report


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
        if store.release(key) is None:
            release_by_address(store, key, _addresses(entry.addresses))
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
