"""Readings of the pods scheduled on this node: which wait for an address, which are done.

A pod *waits for an address* when it is Pending, not on the host's network, not being
deleted, has no pod IP yet, and holds no allocation here (between the ADD and the kubelet's
status update a pod has an allocation but no IP yet: it is not waiting any more).

A pod is *finished* in phase Succeeded or Failed: the kubelet has torn its sandbox down (or
should have; a DEL lost on the way is exactly the leak ``leaks`` looks for).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    phase: str
    ip: str
    host_network: bool
    deleting: bool

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


def pod_info(pod: Obj) -> PodInfo:
    metadata, spec, status = (pod.get(k) or {} for k in ("metadata", "spec", "status"))
    return PodInfo(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        phase=str(status.get("phase") or "Pending"),
        ip=str(status.get("podIP") or ""),
        host_network=bool(spec.get("hostNetwork")),
        deleting=bool(metadata.get("deletionTimestamp")),
    )


def waiting_for_address(pods: Iterable[PodInfo], holders: set[tuple[str, str]]) -> int:
    """Pods that will ask this node for an address soon; ``holders`` are (namespace, name)
    of pods that hold an allocation already."""
    return sum(
        1
        for pod in pods
        if pod.phase == "Pending"
        and not pod.host_network
        and not pod.deleting
        and not pod.ip
        and pod.key not in holders
    )
