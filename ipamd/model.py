"""Values the daemon's parts pass each other: who holds an address, and for which pod.

An allocation is keyed the way the CNI spec keys an attachment: (network name, container
id, interface name). The pod's namespace/name/uid ride along for operators and for the
Kubernetes layer; they are not part of the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network


@dataclass(frozen=True, slots=True, order=True)
class AllocationKey:
    network: str
    container_id: str
    ifname: str

    def __str__(self) -> str:
        return f"{self.network}/{self.container_id}/{self.ifname}"


@dataclass(frozen=True, slots=True)
class PodRef:
    namespace: str = ""
    name: str = ""
    uid: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.name else "(unknown pod)"


@dataclass(frozen=True, slots=True)
class Allocation:
    key: AllocationKey
    pod: PodRef
    address: IPv4Address
    interface_id: str
    block: IPv4Network
    """The block the address comes from (a /32 itself, or a /28 prefix)."""
    assigned_at: float
    recovered: bool = False
    """Rebuilt from the host after the checkpoint was lost: the key may be a placeholder."""
