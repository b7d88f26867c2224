"""``KubeEmulator``: a Kubernetes API server on 127.0.0.1 for what a node agent reads and
writes (nodes, pods, events, ENIConfigs), and the Python API tests and the sandbox use to
drive it.

    with KubeEmulator() as kube:
        kube.add_node("node-a", pods_capacity=29)
        kube.add_pod("default", "web-1", "node-a", ip="10.0.1.5")
        core = kubernetes.client.CoreV1Api(kube.api_client())
        core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")

Setup through this API goes to the store directly: it is not counted and works while the
emulator is unavailable, but it does bump resourceVersions and reaches open watches, as
writes by other clients of a real cluster would.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from sandbox.kube import objects
from sandbox.kube.api import KubeApi
from sandbox.kube.objects import KINDS, Obj
from sandbox.kube.selectors import matcher
from sandbox.kube.store import Store


class Keep(enum.Enum):
    """The default of ``update_pod`` arguments: leave the field as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


class KubeEmulator:
    """One cluster's API server, where a node agent cares, on loopback."""

    def __init__(self, *, retain_changes: int = 10_000) -> None:
        self.store = Store(retain=retain_changes)
        self._api = KubeApi(self.store)
        self._started = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        self._api.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Ends open watches (their streams finish cleanly) and stops serving."""
        if self._started:
            self._started = False
            self._api.stop()

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._api.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configuration(self) -> Any:
        """A ``kubernetes.client.Configuration`` for this server (no auth, no retries), for
        tests that check the emulator against the official client (the dev extra's)."""
        import kubernetes.client  # noqa: PLC0415

        configuration = kubernetes.client.Configuration(host=self.url)
        configuration.retries = 0
        return configuration

    def api_client(self) -> Any:
        import kubernetes.client  # noqa: PLC0415

        return kubernetes.client.ApiClient(self.configuration())

    # --- switches ---------------------------------------------------------------------------

    def set_unavailable(self, unavailable: bool = True) -> None:
        """While unavailable every API request answers 503 and open watches end."""
        self.store.set_unavailable(unavailable)

    def compact(self) -> None:
        """Drops the retained change log: a watch from any resourceVersion before now is 410."""
        self.store.compact()

    @property
    def resource_version(self) -> int:
        return self.store.rv

    def calls(self) -> dict[str, int]:
        """Requests received, by ``"{verb} {resource}"`` (e.g. ``"patch nodes"``,
        ``"watch pods"``, ``"list eniconfigs"``), including those answered 503."""
        return self.store.calls()

    def call_count(self, verb: str, resource: str) -> int:
        return self.calls().get(f"{verb} {resource}", 0)

    def reset_calls(self) -> None:
        self.store.reset_calls()

    # --- nodes ------------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        *,
        pods_capacity: int = 110,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        internal_ip: str | None = None,
        provider_id: str | None = None,
    ) -> Obj:
        document = objects.node(
            name,
            pods_capacity=pods_capacity,
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            internal_ip=internal_ip,
            provider_id=provider_id,
        )
        return self.store.create(KINDS["nodes"], None, document)

    def node(self, name: str) -> Obj:
        return self.store.get(KINDS["nodes"], None, name)

    def delete_node(self, name: str) -> None:
        self.store.delete(KINDS["nodes"], None, name)

    # --- pods -------------------------------------------------------------------------------

    def add_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        ip: str | None = None,
        phase: str = "Running",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        host_network: bool = False,
    ) -> Obj:
        document = objects.pod(
            namespace,
            name,
            node,
            ip=ip,
            phase=phase,
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            host_network=host_network,
        )
        return self.store.create(KINDS["pods"], namespace, document)

    def update_pod(
        self,
        namespace: str,
        name: str,
        *,
        ip: str | Keep | None = KEEP,
        phase: str | Keep = KEEP,
        node: str | Keep = KEEP,
        labels: Mapping[str, str] | Keep = KEEP,
        annotations: Mapping[str, str] | Keep = KEEP,
        terminating: bool | Keep = KEEP,
    ) -> Obj:
        """Changes the given fields (one MODIFIED event); ``ip=None`` clears the pod IP,
        ``terminating=True`` sets ``metadata.deletionTimestamp`` as a graceful delete does."""

        def change(document: Obj) -> Obj:
            metadata, spec, status = document["metadata"], document["spec"], document["status"]
            if not isinstance(ip, Keep):
                objects.set_pod_ip(document, ip)
            if not isinstance(phase, Keep):
                status["phase"] = phase
            if not isinstance(node, Keep):
                spec["nodeName"] = node
            if not isinstance(labels, Keep):
                metadata["labels"] = dict(labels)
            if not isinstance(annotations, Keep):
                metadata["annotations"] = dict(annotations)
            if terminating is True:
                metadata["deletionTimestamp"] = objects.now()
            elif terminating is False:
                metadata.pop("deletionTimestamp", None)
            return document

        return self.store.update(KINDS["pods"], namespace, name, change, whole=True)

    def delete_pod(self, namespace: str, name: str) -> None:
        self.store.delete(KINDS["pods"], namespace, name)

    def pod(self, namespace: str, name: str) -> Obj:
        return self.store.get(KINDS["pods"], namespace, name)

    def pods(self, node: str | None = None) -> list[Obj]:
        fields = None if node is None else f"spec.nodeName={node}"
        items, _ = self.store.select(KINDS["pods"], matcher(KINDS["pods"], None, fields, None))
        return items

    # --- ENIConfigs and events --------------------------------------------------------------

    def add_eniconfig(self, name: str, subnet: str, security_groups: list[str]) -> Obj:
        document = objects.eniconfig(name, subnet, security_groups)
        return self.store.create(KINDS["eniconfigs"], None, document)

    def events(self, namespace: str | None = None) -> list[Obj]:
        """Events created through the API (oldest first), in ``namespace`` or all."""
        kind = KINDS["events"]
        items, _ = self.store.select(kind, matcher(kind, namespace, None, None))
        return sorted(items, key=lambda item: int(item["metadata"]["resourceVersion"]))
