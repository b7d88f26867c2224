"""The daemon's state as JSON for operators: the introspection answers (docs/introspection.md).

Each method reads what the daemon holds in memory at the moment of asking and builds the
documented shape; none of them calls the cloud or changes anything. Times go out as RFC
3339 UTC, durations as seconds. ``health`` on the socket shares the pool's shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from config import LoadedConfig
from config.describe import describe
from ipamd.cloudhealth import CloudError, CloudHealth
from ipamd.datastore import Datastore, InterfaceView
from ipamd.decisions import PoolEvent
from ipamd.model import Allocation, PodRef
from ipamd.poolloop import PoolLoop
from ipamd.requestlog import RequestLog, RequestRecord
from providers.models import NodeInfo

STATUS_DECISIONS = 10


def version() -> str:
    try:
        return metadata.version("vpc-ipam")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def stamp(wall: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, or None."""
    if wall is None:
        return None
    moment = datetime.fromtimestamp(wall, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def pod_json(pod: PodRef) -> dict[str, str]:
    return {"namespace": pod.namespace, "name": pod.name, "uid": pod.uid}


def allocation_json(allocation: Allocation) -> dict[str, Any]:
    return {
        "address": str(allocation.address),
        "interface_id": allocation.interface_id,
        "block": str(allocation.block),
        "network": allocation.key.network,
        "container_id": allocation.key.container_id,
        "ifname": allocation.key.ifname,
        "pod": pod_json(allocation.pod),
        "assigned_at": stamp(allocation.assigned_at),
        "recovered": allocation.recovered,
    }


def request_json(record: RequestRecord) -> dict[str, Any]:
    return {
        "at": stamp(record.at),
        "op": record.op,
        "network": record.network,
        "container_id": record.container_id,
        "ifname": record.ifname,
        "pod": pod_json(record.pod),
        "code": record.code,
        "message": record.message,
        "seconds": round(record.seconds, 6),
        "address": record.address,
    }


def decision_json(event: PoolEvent) -> dict[str, Any]:
    return {
        "at": stamp(event.at),
        "last_at": stamp(event.last_at),
        "repeats": event.repeats,
        "outcome": event.outcome.value,
        "actions": [str(a) for a in event.actions],
        "reasons": list(event.reasons),
    }


def interface_json(iface: InterfaceView, now: float) -> dict[str, Any]:
    return {
        "id": iface.id,
        "device_index": iface.device_index,
        "primary": iface.primary,
        "primary_ip": str(iface.primary_ip),
        "pods_allowed": iface.pods_allowed,
        "wired": iface.wired,
        "age_seconds": round(max(now - iface.created_at, 0.0), 3),
        "blocks": [
            {
                "cidr": str(b.cidr),
                "size": b.size,
                "assigned": b.assigned,
                "cooling": b.cooling,
                "free": b.size - b.assigned - b.cooling,
                "serving": b.serving,
            }
            for b in iface.blocks
        ],
    }


def error_json(error: CloudError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "at": stamp(error.at),
        "action": error.action,
        "code": error.code,
        "message": error.message,
    }


@dataclass
class DaemonView:
    """What introspection reads; the daemon fills it in as its parts come up."""

    store: Datastore
    pool: PoolLoop
    node: NodeInfo
    provider: str
    loaded: LoadedConfig | None
    cloud: CloudHealth
    requests: RequestLog
    kubernetes: Callable[[], dict[str, Any]] | None = None
    kubernetes_node: str = ""
    endpoints: dict[str, str | None] = field(
        default_factory=lambda: {"metrics": None, "introspection": None}
    )
    """Filled in once they listen; both keys are there before, as the contract says."""
    started_at: float = field(default_factory=time.time)
    wall_clock: Callable[[], float] = time.time

    def pool_json(self) -> dict[str, Any]:
        counts = self.store.counts()
        limits, targets = self.pool.limits, self.pool.targets
        now = self.wall_clock()
        return {
            "addresses": {
                "total": counts.total,
                "assigned": counts.assigned,
                "cooling": counts.cooling,
                "available": counts.available,
            },
            "limits": {
                "max_interfaces": limits.max_interfaces,
                "blocks_per_interface": limits.blocks_per_interface,
                "block_size": limits.block_size,
                "max_pods": limits.max_pods,
            },
            "targets": {
                "WARM_ENI_TARGET": targets.warm_interface_target,
                "WARM_IP_TARGET": targets.warm_ip_target,
                "MINIMUM_IP_TARGET": targets.minimum_ip_target,
                "WARM_PREFIX_TARGET": targets.warm_block_target,
            },
            "blocked": self.pool.blocked,
            "reconciled_at": stamp(self.pool.reconciled_at),
            "interfaces": [interface_json(i, now) for i in self.store.interfaces()],
        }

    def status(self) -> dict[str, Any]:
        now = self.wall_clock()
        node = self.node
        return {
            "node": {
                "instance_id": node.instance_id,
                "instance_type": node.instance_type,
                "provider": self.provider,
                "primary_ip": str(node.primary_ip),
                "kubernetes_node": self.kubernetes_node or None,
            },
            "version": version(),
            "started_at": stamp(self.started_at),
            "uptime_seconds": round(now - self.started_at, 3),
            **self.pool_json(),
            "decisions": [
                decision_json(e) for e in self.pool.decisions.events(last=STATUS_DECISIONS)
            ],
            "cloud": self.cloud_json(),
            "kubernetes": self.kubernetes() if self.kubernetes is not None else None,
            "endpoints": dict(self.endpoints),
        }

    def interfaces(self) -> dict[str, Any]:
        now = self.wall_clock()
        return {"interfaces": [interface_json(i, now) for i in self.store.interfaces()]}

    def allocations(self) -> dict[str, Any]:
        cooldown = self.store.cooldown
        return {
            "allocations": [allocation_json(a) for a in self.store.allocations()],
            "cooling": [
                {"address": str(address), "until": stamp(released + cooldown)}
                for address, released in self.store.cooling()
            ],
        }

    def decisions(self) -> dict[str, Any]:
        return {"decisions": [decision_json(e) for e in self.pool.decisions.events()]}

    def recent_requests(self) -> dict[str, Any]:
        return {"requests": [request_json(r) for r in self.requests.recent()]}

    def cloud_json(self) -> dict[str, Any]:
        health = self.cloud
        limiter = health.limiter() if health.limiter is not None else None
        return {
            "provider": health.provider,
            "last_success_at": stamp(health.last_success_at),
            "last_error": error_json(health.last_error),
            "actions": [
                {
                    "action": name,
                    "calls": calls,
                    "errors": errors,
                    "throttles": throttles,
                    "retries": retries,
                    "mean_seconds": round(mean, 6),
                }
                for name, (calls, errors, throttles, retries, mean) in health.actions().items()
            ],
            "limiter": [
                {
                    "class": name,
                    "acquired": s.acquired,
                    "waits": s.waits,
                    "waited_seconds": round(s.waited_seconds, 6),
                    "timeouts": s.timeouts,
                    "throttles": s.throttles,
                    "adaptive_rate": s.adaptive_rate,
                }
                for name, s in sorted(limiter.classes.items())
            ]
            if limiter is not None
            else [],
            "recent_errors": [error_json(e) for e in health.errors()],
        }

    def settings(self) -> dict[str, Any]:
        if self.loaded is None:
            return {"settings": [], "warnings": []}
        return {
            "settings": [
                {
                    "variable": row.variable,
                    "value": row.value,
                    "source": row.source.value,
                    "description": row.description,
                }
                for row in describe(self.loaded)
            ],
            "warnings": [str(w) for w in self.loaded.warnings],
        }
