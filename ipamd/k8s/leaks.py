"""Which allocations belong to pods that are gone: the DEL the runtime owed us was lost.

Every anchor leaks here: the kubelet's DEL fails (daemon restarting, a runtime bug, a node
rebooted mid-teardown) and the address stays allocated to nobody. An allocation is a leak
when its pod, named by the CNI_ARGS of its ADD, is absent from the API, finished
(Succeeded/Failed), or replaced by a pod of the same name with another UID, and stays so
for the whole grace period while the pod list is in sync. Any loss of sync forgets what was
counted: a pod created during an API outage must not look gone because the copy missed it.

Allocations without a pod name (podman, or rebuilt from the host) are never judged here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from ipamd.k8s.podinfo import PodInfo
from ipamd.model import Allocation, AllocationKey


def pod_gone(allocation: Allocation, pod: PodInfo | None) -> bool:
    if pod is None or pod.finished:
        return True
    return bool(allocation.pod.uid and pod.uid and allocation.pod.uid != pod.uid)


class LeakTracker:
    def __init__(self, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self._clock = clock
        self._missing: dict[AllocationKey, float] = {}

    def due(
        self,
        allocations: Iterable[Allocation],
        pods: Mapping[tuple[str, str], PodInfo],
        *,
        synced: bool,
    ) -> list[Allocation]:
        """Allocations whose pod has been gone for the grace period (and is still gone)."""
        if not synced:
            self._missing.clear()
            return []
        now = self._clock()
        seen: dict[AllocationKey, float] = {}
        due = []
        for allocation in allocations:
            if not allocation.pod.name or allocation.recovered:
                continue
            if not pod_gone(allocation, pods.get((allocation.pod.namespace, allocation.pod.name))):
                continue
            since = seen[allocation.key] = self._missing.get(allocation.key, now)
            if now - since >= self.grace:
                due.append(allocation)
        self._missing = seen
        return due

    @property
    def watching(self) -> int:
        """Allocations counted as gone, not yet for the whole grace period."""
        return len(self._missing)
