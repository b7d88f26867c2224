"""The Kubernetes layer as the daemon uses it: max pods, placement, pending pods, leaks.

Two reflectors (this node; the pods on it) keep local copies in sync from their own
threads. What the pool loop asks of the layer is answered from those copies, never by
waiting on the API server. Under custom networking a third thread reads the ENIConfig the
node names, at once when the name changes and every ENICONFIG_REFRESH seconds after (an
ENIConfig is rarely edited, and only interfaces created later follow an edit).

When the API server is unreachable the daemon keeps serving: max pods stays at its last
value (the EKS formula until the node was read once), custom networking keeps the last
ENIConfig (or creates no interface until one is read), pre-warming pauses, and no
allocation is judged leaked. ``health()`` says which.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from config import KubernetesSettings
from ipamd.datastore import Datastore
from ipamd.k8s.api import KubeApi
from ipamd.k8s.errors import KubeError, NotFound
from ipamd.k8s.events import EventRecorder
from ipamd.k8s.leaks import LeakTracker
from ipamd.k8s.nodeinfo import BadENIConfig, eniconfig_name, max_pods, node_uid, placement_of
from ipamd.k8s.podinfo import PodInfo, pod_info, waiting_for_address
from ipamd.k8s.reflector import Reflector
from ipamd.model import Allocation
from providers.models import InterfacePlacement, PlacementUnknown

log = logging.getLogger(__name__)

ENICONFIG_REFRESH = 60.0
"""Seconds between two readings of the node's ENIConfig."""
ENICONFIG_RETRY = 5.0
"""Seconds before reading it again after the API server failed to answer."""


class KubernetesLayer:
    def __init__(
        self,
        settings: KubernetesSettings,
        api: KubeApi,
        store: Datastore,
        *,
        custom_networking: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.api = api
        self.store = store
        self.custom_networking = custom_networking
        self.on_max_pods: Callable[[int], None] = lambda _max_pods: None
        """Told the node's max pods whenever it becomes known or changes (set before start)."""
        self.on_demand: Callable[[], None] = lambda: None
        """Told when pods begin to wait for an address (set before start)."""
        self._clock = clock
        name = settings.node_name
        self.node = Reflector(
            "node",
            lambda: api.list_nodes(name),
            lambda version: api.watch_nodes(name, version),
            self._node_changed,
            clock=clock,
        )
        self.pods = Reflector(
            "pods",
            lambda: api.list_pods(name),
            lambda version: api.watch_pods(name, version),
            self._pods_changed,
            clock=clock,
        )
        self.events = EventRecorder(api.create_event, name, lambda: self._uid, clock=clock)
        self.leaks = LeakTracker(settings.pod_gone_grace, clock)
        self.max_pods: int | None = None
        self._uid = ""
        self._lock = threading.Lock()
        self.eniconfig: str | None = None
        self._placement: InterfacePlacement | None = None
        self._placement_error: str | None = None
        self._waiting = 0
        self._eniconfig_retry = False
        self._node_listed = threading.Event()
        self._stop = threading.Event()
        self._reread = threading.Event()
        self._eniconfig_thread: threading.Thread | None = None

    # -- what survives a restart ---------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        """The facts worth a checkpoint: a restart during an API outage keeps them."""
        placement = self._placement
        return {
            "max_pods": self.max_pods,
            "eniconfig": self.eniconfig,
            "placement": None
            if placement is None
            else {
                "subnet_id": placement.subnet_id,
                "security_groups": list(placement.security_groups or []),
                "source": placement.source,
            },
        }

    def restore(self, facts: dict[str, Any]) -> int | None:
        """Take the checkpoint's facts as the starting point (the API server's answers replace
        them as they come); returns the remembered max pods."""
        try:
            raw_max = facts.get("max_pods")
            max_pods = int(raw_max) if raw_max is not None else None
            eniconfig = str(facts.get("eniconfig") or "") or None
            placed = facts.get("placement")
            placement = None
            if self.custom_networking and isinstance(placed, dict):
                placement = InterfacePlacement(
                    subnet_id=str(placed["subnet_id"]),
                    security_groups=tuple(placed.get("security_groups") or ()) or None,
                    source=f"{placed.get('source') or 'ENIConfig'} (remembered)",
                )
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring the checkpoint's unreadable Kubernetes record")
            return None
        # all or nothing: a record rejected halfway must not leave a value behind
        self.max_pods, self.eniconfig, self._placement = max_pods, eniconfig, placement
        return max_pods

    @property
    def node_name(self) -> str:
        return self.settings.node_name

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        log.info("following node %s and its pods at %s", self.settings.node_name, self.api.url)
        self.events.start()
        self.node.start()
        self.pods.start()
        if self.custom_networking:
            self._reread.set()  # a remembered ENIConfig is read again at once, not in 60 s
            self._eniconfig_thread = threading.Thread(
                target=self._follow_eniconfig, name="k8s-eniconfig", daemon=True
            )
            self._eniconfig_thread.start()

    def wait_for_node(self, timeout: float) -> bool:
        """Block until the node has been listed once (its max pods known, if it says), at
        most ``timeout`` seconds: the pool's first decision should not be made without it,
        nor wait long for an API server that is down."""
        return self._node_listed.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._reread.set()
        self.node.cancel()
        self.pods.cancel()
        self.api.close()  # ends blocked watch reads at once
        self.node.stop()
        self.pods.stop()
        self.events.stop()
        if self._eniconfig_thread is not None:
            self._eniconfig_thread.join(5.0)

    # -- what the pool loop asks ---------------------------------------------------------
    def pending_pods(self) -> int:
        """Pods on this node waiting for an address (0 while the pod list is out of sync)."""
        if not self.pods.synced:
            return 0
        holders = {(a.pod.namespace, a.pod.name) for a in self.store.allocations()}
        return waiting_for_address(self._pod_infos().values(), holders)

    def is_pending(self, namespace: str, name: str) -> bool:
        """The API shows this pod Pending on this node with no IP (``vpc-ipamctl why``)."""
        pod = self._pod_infos().get((namespace, name))
        return pod is not None and waiting_for_address([pod], set()) == 1

    def pending_namespaces(self, name: str) -> list[str]:
        """Namespaces where a pod called ``name`` is Pending on this node with no IP."""
        pods = self._pod_infos().values()
        return [p.namespace for p in pods if p.name == name and waiting_for_address([p], set())]

    def placement(self) -> InterfacePlacement | None:
        """The ENIConfig's subnet and groups under custom networking, else None (the node's
        own subnet); raises PlacementUnknown when custom networking has no ENIConfig."""
        if not self.custom_networking:
            return None
        with self._lock:
            if self._placement is not None:
                return self._placement
            raise PlacementUnknown(
                self._placement_error or "the node's ENIConfig has not been read yet"
            )

    def sweep(self) -> list[Allocation]:
        """Allocations whose pods have been gone for the grace period."""
        return self.leaks.due(self.store.allocations(), self._pod_infos(), synced=self.pods.synced)

    def reclaim_leaks(self, reclaim: Callable[[list[Allocation]], list[Allocation]]) -> int:
        """Release what ``sweep`` finds through ``reclaim`` (the service: address, wiring,
        checkpoint), say so in the log and on the node; returns how many were freed."""
        freed = reclaim(self.sweep())
        if freed:
            grace = f"{self.settings.pod_gone_grace:g}s"
            listed = ", ".join(f"{a.address} ({a.pod})" for a in freed[:10])
            more = f" and {len(freed) - 10} more" if len(freed) > 10 else ""
            message = (
                f"released {len(freed)} addresses whose pods are gone for more than {grace} "
                f"without a CNI DEL: {listed}{more}"
            )
            log.warning("%s", message)
            self.record("LeakedAddressesReleased", message, warning=False)
        return len(freed)

    def record(self, reason: str, message: str, *, warning: bool = True) -> None:
        self.events.record(reason, message, warning=warning)

    def health(self) -> dict[str, Any]:
        failing = [r for r in (self.node, self.pods) if r.failing_since is not None]
        since = min((r.failing_since or 0.0 for r in failing), default=None)
        return {
            "node": self.settings.node_name,
            "api_server": self.api.url,
            "connected": not failing and self.node.synced and self.pods.synced,
            "unreachable_for": None if since is None else round(self._clock() - since, 1),
            "last_error": next((r.last_error for r in failing if r.last_error), None),
            "max_pods": self.max_pods,
            "eniconfig": self.eniconfig if self.custom_networking else None,
            "placement": self._placement_text(),
            "pods": len(self.pods.objects()),
            "pending_pods": self.pending_pods(),
            "leak_candidates": self.leaks.watching,
            "events_posted": self.events.posted,
        }

    # -- reflector callbacks (their threads) ---------------------------------------------
    def _node_changed(self) -> None:
        try:
            self._follow_node()
        finally:
            self._node_listed.set()

    def _follow_node(self) -> None:
        nodes = self.node.objects()
        if not nodes:
            return  # not registered yet, or deleted: keep the last values
        node = nodes[0]
        self._uid = node_uid(node)
        capacity = max_pods(node)
        if capacity is not None and capacity != self.max_pods:
            self.max_pods = capacity
            self.on_max_pods(capacity)
        if self.custom_networking:
            name = eniconfig_name(
                node,
                label=self.settings.eni_config_label,
                annotation=self.settings.eni_config_annotation,
            )
            if name != self.eniconfig:
                log.info("node %s names ENIConfig %s", self.settings.node_name, name)
                self.eniconfig = name
                self._reread.set()

    def _pods_changed(self) -> None:
        waiting = sum(1 for p in self._pod_infos().values() if p.phase == "Pending" and not p.ip)
        if waiting != self._waiting:
            self._waiting = waiting
            if waiting:
                self.on_demand()

    # -- internals -----------------------------------------------------------------------
    def _follow_eniconfig(self) -> None:
        while not self._stop.is_set():
            self._reread.wait(ENICONFIG_RETRY if self._eniconfig_retry else ENICONFIG_REFRESH)
            self._reread.clear()
            if self.eniconfig and not self._stop.is_set():
                self._read_eniconfig(self.eniconfig)

    def _pod_infos(self) -> dict[tuple[str, str], PodInfo]:
        infos = (pod_info(obj) for obj in self.pods.objects())
        return {info.key: info for info in infos}

    def _read_eniconfig(self, name: str) -> None:
        try:
            placement = placement_of(self.api.get_eniconfig(name))
        except NotFound:
            self._placement_failed(
                name, f"ENIConfig {name} does not exist (named by node {self._naming()})", True
            )
        except BadENIConfig as bad:
            self._placement_failed(name, str(bad), True)
        except KubeError as error:
            # keep the last good reading through an outage; try again on the next create
            self._placement_failed(name, f"cannot read ENIConfig {name}: {error}", False)
        else:
            self._eniconfig_retry = False
            with self._lock:
                if placement != self._placement:
                    log.info("%s places interfaces in %s", placement.source, placement.subnet_id)
                self._placement = placement
                self._placement_error = None

    def _placement_failed(self, name: str, message: str, definitive: bool) -> None:
        self._eniconfig_retry = not definitive
        with self._lock:
            self._placement_error = message
            if definitive:
                self._placement = None
        log.warning("%s", message)
        if definitive:
            self.record("ENIConfigMissing", message)

    def _naming(self) -> str:
        return (
            f"annotation {self.settings.eni_config_annotation}, label "
            f"{self.settings.eni_config_label} or the default"
        )

    def _placement_text(self) -> str | None:
        placement = self._placement
        if placement is None:
            return self._placement_error if self.custom_networking else None
        groups = ",".join(placement.security_groups or ()) or "the primary ENI's groups"
        return f"{placement.subnet_id} ({groups}) from {placement.source}"
