"""The node's secondary interfaces in the kernel, kept in step with what the datastore holds.

The pool loop and reconcile change which interfaces the node holds; this module makes the
kernel follow. An interface the datastore holds but the kernel has not been set up for gets
its table and rule (``NodeDataplane.setup_interface``) and only then serves pods
(``Datastore.set_wired``): a pod given an address of an interface whose link has not
appeared yet would have no way out. An interface the datastore no longer holds loses its
table and rule.

The cloud hands an interface back before the kernel shows its link (an EC2 attachment takes
a few seconds to surface as a device), so a missing link is normal for a while: ``sync``
tries again on each tick and says how long it has been waiting. What an interface needs in
the kernel (MAC, subnet, primary address) comes from the cloud's views, which the daemon
passes to ``learn`` (start-up metadata, a created interface, each reconcile).

Only the pool loop's thread calls ``learn`` and ``sync`` (and the daemon before that thread
starts); ``table_for`` is read by the server's threads, under the lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from pyroute2.netlink.exceptions import NetlinkError

from ipamd.dataplane.node import InterfaceNotFound, NodeDataplane, table_for
from ipamd.datastore import Datastore, UnknownInterface
from providers.models import CloudInterface

log = logging.getLogger(__name__)

MISSING_WARN_AFTER = 30.0
"""Seconds a held interface may lack its link before each retry logs a warning."""


class NodeInterfaces:
    def __init__(
        self,
        plane: NodeDataplane,
        store: Datastore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plane = plane
        self.store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, CloudInterface] = {}
        self._wired: dict[str, CloudInterface] = {}
        self._missing_since: dict[str, float] = {}

    def learn(self, interfaces: Iterable[CloudInterface]) -> None:
        """Remember what the cloud says about interfaces (MAC, subnet, device index)."""
        with self._lock:
            for iface in interfaces:
                self._known[iface.id] = iface

    def table_for(self, interface_id: str) -> int | None:
        """The route table of a pod address on ``interface_id``; None on the primary."""
        with self._lock:
            iface = self._wired.get(interface_id) or self._known.get(interface_id)
        if iface is not None:
            return None if iface.primary else table_for(iface.device_index)
        for view in self.store.interfaces():
            if view.id == interface_id:
                return None if view.primary else table_for(view.device_index)
        raise UnknownInterface(f"interface {interface_id} is not held by this node")

    @property
    def pending(self) -> tuple[str, ...]:
        """Held secondary interfaces not set up yet (their link has not appeared)."""
        return tuple(sorted(self._missing_since))

    def waiting(self) -> str | None:
        """Why some addresses do not serve yet, for status; None when all are wired."""
        if not self._missing_since:
            return None
        now = self._clock()
        return "; ".join(
            f"{iface} has no link in the kernel yet (waiting {now - since:.0f}s)"
            for iface, since in sorted(self._missing_since.items())
        )

    def sync(self) -> int:
        """Set up what is held and not wired, tear down what is wired and no longer held;
        returns how many interfaces started serving pods."""
        held = {view.id: view for view in self.store.interfaces() if not view.primary}
        for gone in [i for i in self._wired if i not in held]:
            self._teardown(gone)
        for gone in [i for i in self._missing_since if i not in held]:
            del self._missing_since[gone]
        started = 0
        for iface_id, view in held.items():
            if view.wired and iface_id in self._wired:
                continue
            if self._setup(iface_id):
                started += 1
        return started

    def _setup(self, iface_id: str) -> bool:
        with self._lock:
            iface = self._known.get(iface_id)
        now = self._clock()
        if iface is None:
            # held from the checkpoint, not yet seen in a cloud view: the next reconcile
            self._missing_since.setdefault(iface_id, now)
            return False
        try:
            table = self.plane.setup_interface(iface)
        except (NetlinkError, OSError) as error:
            log.error("setting %s up failed: %s; retrying", iface_id, error)
            self._missing_since.setdefault(iface_id, now)
            return False
        except InterfaceNotFound as missing:
            since = self._missing_since.setdefault(iface_id, now)
            if now - since >= MISSING_WARN_AFTER:
                log.warning("%s still not usable after %.0fs: %s", iface_id, now - since, missing)
            else:
                log.info("%s: %s; retrying", iface_id, missing)
            return False
        try:
            self.store.set_wired(iface_id, True)
        except UnknownInterface:
            # released between the snapshot and now: undo what was just set up
            self.plane.teardown_interface(iface)
            return False
        with self._lock:
            self._wired[iface_id] = iface
        self._missing_since.pop(iface_id, None)
        log.info("%s (%s) set up with table %d", iface_id, iface.mac, table)
        return True

    def _teardown(self, iface_id: str) -> None:
        with self._lock:
            iface = self._wired.pop(iface_id)
        try:
            self.plane.teardown_interface(iface)
        except (NetlinkError, OSError) as error:
            log.error("removing the table and rule of %s failed: %s", iface_id, error)
            return
        log.info("%s: table %d and its rule removed", iface_id, table_for(iface.device_index))
