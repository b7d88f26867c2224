"""Wiring pods into the network: the seam between the IPAM service and the kernel.

``Dataplane`` is what the service asks of it; ``NoDataplane`` is IPAM-only mode
(VPC_IPAM_DATAPLANE=none): addresses are handed out and the result names them, wiring is
someone else's. The kernel implementation (veth, routes, rules, SNAT) lives beside it.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Protocol

from ipamd.model import Allocation, AllocationKey


class Dataplane(Protocol):
    @property
    def wires_pods(self) -> bool:
        """True when this dataplane creates host state per pod (so a missing veth on
        restart means the pod is gone)."""
        ...

    def wire(self, allocation: Allocation, netns: str, ifname: str) -> dict[str, object]:
        """Wire the pod; returns the CNI result (spec 1.1.0 shape) describing it."""
        ...

    def unwire(self, key: AllocationKey, netns: str, *, address: IPv4Address | None = None) -> None:
        """Remove everything wired for the attachment; succeeds when nothing is left.
        ``address`` (when known) lets rules be removed even if the veth is already gone."""
        ...


class NoDataplane:
    """IPAM only: the result carries the address; nothing is created on the host."""

    wires_pods = False

    def wire(self, allocation: Allocation, netns: str, ifname: str) -> dict[str, object]:
        return {
            "cniVersion": "1.1.0",
            "ips": [{"address": f"{allocation.address}/32"}],
        }

    def unwire(self, key: AllocationKey, netns: str, *, address: IPv4Address | None = None) -> None:
        return None
