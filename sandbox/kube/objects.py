"""The resources the Kubernetes API emulator serves, the objects its Python API builds, and the
``Status`` documents it answers errors with.

Objects are plain JSON-shaped dicts, as on the wire; only the fields a node agent reads are
filled in, but every object deserializes cleanly into the ``kubernetes`` client's models (e.g.
a pod always carries ``spec.containers``, which ``V1PodSpec`` requires).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

CORE = "v1"
ENICONFIG_GROUP = "crd.k8s.amazonaws.com"
ENICONFIG_API_VERSION = f"{ENICONFIG_GROUP}/v1alpha1"


@dataclass(frozen=True)
class Kind:
    """One served resource: its URL segment, kind, apiVersion and scope.

    ``fields`` are the field-selector paths the real API server accepts for it (``None``: any
    path, as for events, whose selectable fields are many); ``has_status`` says whether it has
    a ``/status`` subresource (then the main endpoint ignores status and ``/status`` ignores
    everything else, as the real API server does)."""

    resource: str
    kind: str
    api_version: str
    namespaced: bool
    fields: frozenset[str] | None
    has_status: bool


KINDS: dict[str, Kind] = {
    "nodes": Kind(
        "nodes",
        "Node",
        CORE,
        False,
        frozenset({"metadata.name", "spec.unschedulable"}),
        True,
    ),
    "pods": Kind(
        "pods",
        "Pod",
        CORE,
        True,
        frozenset(
            {
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            }
        ),
        True,
    ),
    "events": Kind("events", "Event", CORE, True, None, False),
    "eniconfigs": Kind("eniconfigs", "ENIConfig", ENICONFIG_API_VERSION, False, None, False),
}


def now() -> str:
    """A timestamp as the API server writes them (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def status(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A ``Status`` object, the body of every error answer (and of a watch's ERROR event)."""
    document: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        document["details"] = details
    return document


class ApiError(Exception):
    """An API answer other than success: ``code``, ``reason`` and ``message`` of a Status."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        return status(self.code, self.reason, self.message, self.details)


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{kind.resource} "{name}" not found',
        {"name": name, "kind": kind.resource},
    )


def conflict(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.resource} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "kind": kind.resource},
    )


def expired(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def node(
    name: str,
    *,
    pods_capacity: int = 110,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    internal_ip: str | None = None,
    provider_id: str | None = None,
) -> Obj:
    """A Ready node with ``status.capacity.pods`` (and allocatable) of ``pods_capacity``."""
    resources = {"pods": str(pods_capacity), "cpu": "2", "memory": "8Gi"}
    spec: Obj = {}
    if provider_id is not None:
        spec["providerID"] = provider_id
    addresses = [{"type": "Hostname", "address": name}]
    if internal_ip is not None:
        addresses.insert(0, {"type": "InternalIP", "address": internal_ip})
    return {
        "kind": "Node",
        "apiVersion": CORE,
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": addresses,
        },
    }


def pod(
    namespace: str,
    name: str,
    node_name: str,
    *,
    ip: str | None = None,
    phase: str = "Running",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    host_network: bool = False,
) -> Obj:
    """A one-container pod bound to ``node_name`` (``""``: not scheduled yet)."""
    document: Obj = {
        "kind": "Pod",
        "apiVersion": CORE,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
            "hostNetwork": host_network,
        },
        "status": {"phase": phase},
    }
    if node_name:
        document["spec"]["nodeName"] = node_name
    set_pod_ip(document, ip)
    return document


def set_pod_ip(document: Obj, ip: str | None) -> None:
    """Sets (or, for ``None``, clears) ``status.podIP`` and ``status.podIPs``."""
    pod_status = document.setdefault("status", {})
    if ip is None:
        pod_status.pop("podIP", None)
        pod_status.pop("podIPs", None)
    else:
        pod_status["podIP"] = ip
        pod_status["podIPs"] = [{"ip": ip}]


def eniconfig(name: str, subnet: str, security_groups: list[str]) -> Obj:
    """An ``ENIConfig`` (crd.k8s.amazonaws.com/v1alpha1), cluster-scoped."""
    return {
        "kind": "ENIConfig",
        "apiVersion": ENICONFIG_API_VERSION,
        "metadata": {"name": name},
        "spec": {"subnet": subnet, "securityGroups": list(security_groups)},
    }
