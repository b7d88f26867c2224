"""Writing the daemon's state to its checkpoint: one writer at a time, always the latest.

The checkpoint holds the node it belongs to (a checkpoint from another instance, e.g. a
restored disk image, is not ours to trust) and its instance limits, so a restart serves
its first ADD without asking EC2 anything.
"""

from __future__ import annotations

import threading
from typing import Any

from ipamd.checkpoint import Checkpoint
from ipamd.datastore import Datastore
from providers.models import InstanceLimits, NodeInfo


def node_record(node: NodeInfo) -> dict[str, Any]:
    limits = node.limits
    return {
        "instance_id": node.instance_id,
        "instance_type": node.instance_type,
        "limits": {
            "max_interfaces": limits.max_interfaces,
            "ipv4_per_interface": limits.ipv4_per_interface,
            "vcpus": limits.vcpus,
            "prefix_delegation": limits.prefix_delegation,
        },
    }


def limits_from(state: dict[str, Any] | None) -> InstanceLimits | None:
    """The instance limits a checkpoint remembers, or None if it has none usable."""
    try:
        node = state["node"] if state else None
        if not node:
            return None
        raw = node["limits"]
        return InstanceLimits(
            instance_type=str(node["instance_type"]),
            max_interfaces=int(raw["max_interfaces"]),
            ipv4_per_interface=int(raw["ipv4_per_interface"]),
            vcpus=int(raw["vcpus"]),
            prefix_delegation=bool(raw["prefix_delegation"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


class Persister:
    """Call it after every change; it writes node + datastore state atomically."""

    def __init__(self, checkpoint: Checkpoint, store: Datastore, node: NodeInfo) -> None:
        self._checkpoint = checkpoint
        self._store = store
        self._node = node_record(node)
        self._lock = threading.Lock()
        self.saves = 0

    def __call__(self) -> None:
        with self._lock:
            self._checkpoint.save({"node": self._node, "datastore": self._store.to_state()})
            self.saves += 1
