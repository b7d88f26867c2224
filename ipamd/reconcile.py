"""Reconciliation: make the datastore hold what EC2 says the node holds, no more, no less.

``plan`` is pure: the datastore's interfaces against the cloud's (from the cloud API, never
from the metadata service, which lags). ``apply`` adopts what is new at once and drops what
vanished only because EC2, the authority, no longer shows it; an allocation lost that way
(an address a pod holds was taken from the node behind our back) is logged loudly.

Which interfaces may carry pods is the caller's policy (custom networking keeps pods off the
primary; MANAGE_UNTAGGED_ENI=false keeps them off interfaces we did not create).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ipamd.datastore import Datastore, InterfaceView
from ipamd.model import Allocation
from providers.aws.tags import NODE_TAG
from providers.base import Provider
from providers.models import AddressBlock, CloudInterface

log = logging.getLogger(__name__)


def interface_policy(
    *, custom_networking: bool, manage_untagged: bool
) -> Callable[[CloudInterface], bool]:
    """Which interfaces may carry pods. IMDS shows no tags: an interface seen only there
    is judged untagged until EC2 (which shows tags) says otherwise."""

    def pods_allowed(iface: CloudInterface) -> bool:
        if iface.primary:
            return not custom_networking
        return manage_untagged or NODE_TAG in iface.tags

    return pods_allowed


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    new_interfaces: tuple[CloudInterface, ...] = ()
    new_blocks: dict[str, tuple[AddressBlock, ...]] = field(default_factory=dict)
    vanished_blocks: dict[str, tuple[AddressBlock, ...]] = field(default_factory=dict)
    vanished_interfaces: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.new_interfaces
            or self.new_blocks
            or self.vanished_blocks
            or self.vanished_interfaces
        )


def reconcile(
    store: Datastore,
    provider: Provider,
    pods_allowed: Callable[[CloudInterface], bool],
    *,
    learn: Callable[[Sequence[CloudInterface]], None] | None = None,
    fixed: Callable[[Mapping[str, int]], None] | None = None,
) -> list[Allocation]:
    """One reconciliation against the cloud API; returns the allocations lost.
    ``learn`` gets the cloud's view first (the kernel side needs its MACs and subnets);
    ``fixed`` is told how many differences of each kind were fixed (metrics)."""
    cloud = provider.cloud_interfaces()
    if learn is not None:
        learn(cloud)
    return apply(store, plan(store.interfaces(), cloud), pods_allowed, cloud, fixed=fixed)


def plan(held: Sequence[InterfaceView], cloud: Sequence[CloudInterface]) -> ReconcilePlan:
    known = {i.id: i for i in held}
    seen = {i.id: i for i in cloud}
    new_blocks: dict[str, tuple[AddressBlock, ...]] = {}
    vanished_blocks: dict[str, tuple[AddressBlock, ...]] = {}
    for iface_id, ours in known.items():
        theirs = seen.get(iface_id)
        if theirs is None:
            continue
        mine = {AddressBlock(b.cidr) for b in ours.blocks}
        actual = set(theirs.blocks)
        if added := actual - mine:
            new_blocks[iface_id] = tuple(sorted(added))
        if gone := mine - actual:
            vanished_blocks[iface_id] = tuple(sorted(gone))
    return ReconcilePlan(
        new_interfaces=tuple(i for i in cloud if i.id not in known),
        new_blocks=new_blocks,
        vanished_blocks=vanished_blocks,
        vanished_interfaces=tuple(sorted(set(known) - set(seen))),
    )


def apply(
    store: Datastore,
    the_plan: ReconcilePlan,
    pods_allowed: Callable[[CloudInterface], bool],
    cloud_now: Sequence[CloudInterface] = (),
    *,
    fixed: Callable[[Mapping[str, int]], None] | None = None,
) -> list[Allocation]:
    """Carry a plan out on the datastore; returns the allocations lost (already logged).
    ``cloud_now`` (the cloud view the plan came from) lets eligibility follow EC2's tags."""
    lost: list[Allocation] = []
    changed_eligibility = 0
    held_allowed = {i.id: i.pods_allowed for i in store.interfaces()}
    # what is gone goes first: a block EC2 moved to another interface is then adopted there
    for iface_id, blocks in the_plan.vanished_blocks.items():
        lost += store.remove_blocks(iface_id, blocks, force=True)
        log.warning("reconcile: %d blocks of %s are gone from EC2", len(blocks), iface_id)
    for iface_id in the_plan.vanished_interfaces:
        lost += store.remove_interface(iface_id, force=True)
        log.warning("reconcile: interface %s is gone from EC2", iface_id)
    for iface in the_plan.new_interfaces:
        store.add_interface(iface, pods_allowed=pods_allowed(iface))
        log.info(
            "reconcile: adopted %s (device %d, %d blocks)",
            iface.id,
            iface.device_index,
            len(iface.blocks),
        )
    for iface_id, blocks in the_plan.new_blocks.items():
        store.add_blocks(iface_id, blocks)
        log.info("reconcile: adopted %d blocks on %s", len(blocks), iface_id)
    for iface in cloud_now:
        allowed = pods_allowed(iface)
        if iface.id in held_allowed and held_allowed[iface.id] != allowed:
            store.set_pods_allowed(iface.id, allowed)
            changed_eligibility += 1
            log.info("reconcile: pods %s on %s", "allowed" if allowed else "kept off", iface.id)
    for allocation in lost:
        log.error(
            "reconcile: pod %s (%s) held %s, which EC2 no longer assigns to this node",
            allocation.pod,
            allocation.key,
            allocation.address,
        )
    if fixed is not None:
        fixed(
            {
                "adopted_interfaces": len(the_plan.new_interfaces),
                "adopted_blocks": sum(len(b) for b in the_plan.new_blocks.values()),
                "vanished_blocks": sum(len(b) for b in the_plan.vanished_blocks.values()),
                "vanished_interfaces": len(the_plan.vanished_interfaces),
                "pods_allowed_changed": changed_eligibility,
                "lost_allocations": len(lost),
            }
        )
    return lost
