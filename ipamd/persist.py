"""Writing the daemon's state to its checkpoint: one writer at a time, always the latest.

The checkpoint holds the node it belongs to (a checkpoint from another instance, e.g. a
restored disk image, is not ours to trust) and its instance limits, so a restart serves
its first ADD without asking EC2 anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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


def kubernetes_record(state: dict[str, Any] | None, node: NodeInfo) -> dict[str, Any] | None:
    """What the Kubernetes layer last knew (max pods, ENIConfig placement), if this
    checkpoint is this instance's: a restart while the API server is down keeps it."""
    try:
        if not state or state["node"]["instance_id"] != node.instance_id:
            return None
        record = state.get("kubernetes")
    except (KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


class Persister:
    """Call it after every change; it writes node + datastore state atomically (and the
    Kubernetes layer's facts, when there is one).

    Group commit: a write (file, fsync, rename, fsync dir) takes milliseconds, and a burst of
    ADDs would queue behind one another for it. A caller whose change was made before a
    write took its snapshot returns when that write is done; one writer at a time, and each
    write covers every change made before it began. A failed write raises in its writer;
    the callers it would have covered try again themselves and get their own answer."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        store: Datastore,
        node: NodeInfo,
        *,
        extras: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._checkpoint = checkpoint
        self._store = store
        self._node = node_record(node)
        self._extras = extras
        self._done = threading.Condition()
        self._asked = 0
        """Calls so far; call n is covered once ``_written`` >= n."""
        self._written = 0
        self._writing = False
        self.saves = 0

    def __call__(self) -> None:
        with self._done:
            self._asked += 1
            mine = self._asked
            while self._written < mine:
                if not self._writing:
                    self._writing = True
                    covers = self._asked  # every call so far changed the store before it
                    break
                self._done.wait()
            else:
                return
        written = False
        try:
            state = {"node": self._node, "datastore": self._store.to_state()}
            if self._extras is not None:
                state.update(self._extras())
            self._checkpoint.save(state)
            written = True
        finally:
            with self._done:
                self._writing = False
                if written:
                    self._written = max(self._written, covers)
                    self.saves += 1
                self._done.notify_all()
