"""What the reliability tests share: sizes (short in ``make test``, long in ``make
reliability``), a tally of what each scenario did, a driver that plays kubelet on a sandbox
node from several threads, and the audit of a node after the storm.

Sizes: ``RELIABILITY_LONG=1`` picks the long sizes; each size can be set on its own with
``RELIABILITY_<NAME>`` (e.g. ``RELIABILITY_STORM_OPS=2000``). Every loop is bounded in count
and in time.

The audit compares what the kubelet believes is running (its pods) with what the daemon
holds (``/v1/allocations``), what the host of the node carries (veths, /32 routes, rules,
read with ``ipamd.hostaudit.scan`` inside the node's namespace), what EC2 assigns to the
node (moto's backend, read directly: no API call that a fault could eat) and what the
daemon's doctor finds.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from ipamd.hostaudit import scan
from sandbox.cluster import Sandbox, SandboxNode
from sandbox.kubelet import CniFailed, Pod

LONG = os.environ.get("RELIABILITY_LONG", "") in {"1", "true", "yes"}
VETH_PREFIX = "eni"


def size(name: str, short: float, long: float) -> float:
    """``RELIABILITY_<NAME>`` if set, else the long or the short size."""
    raw = os.environ.get(f"RELIABILITY_{name.upper()}")
    if raw:
        return float(raw)
    return long if LONG else short


# -- the tally -------------------------------------------------------------------------------
@dataclass
class Tally:
    scenario: str
    operations: int = 0
    faults: int = 0
    kills: int = 0
    duplicates: int = 0
    leaks: int = 0
    notes: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        extra = ", ".join(f"{k} {v}" for k, v in self.notes.items())
        return (
            f"{self.scenario}: operations {self.operations}, faults injected {self.faults}, "
            f"kills {self.kills}, duplicates {self.duplicates}, leaks {self.leaks}"
            + (f" ({extra})" if extra else "")
        )


TALLIES: list[Tally] = []


def report(tally: Tally) -> None:
    TALLIES.append(tally)
    print(f"\n[reliability] {tally.line()}")


def summary() -> list[str]:
    if not TALLIES:
        return []
    lines = [t.line() for t in TALLIES]
    lines.append(
        f"TOTAL: operations run {sum(t.operations for t in TALLIES)}, "
        f"faults injected {sum(t.faults + t.kills for t in TALLIES)} "
        f"(of which kill -9 {sum(t.kills for t in TALLIES)}), "
        f"duplicates {sum(t.duplicates for t in TALLIES)}, leaks {sum(t.leaks for t in TALLIES)}"
    )
    return lines


# -- the driver ------------------------------------------------------------------------------
@dataclass
class Held:
    """When a pod held its address: from its ADD's answer to the start of its DEL."""

    pod: Pod
    interface: str | None
    since: float
    until: float | None = None


class Driver:
    """Plays kubelet on one sandbox node: ADDs and DELs from any thread, counted; remembers
    when each pod held which address (for the check that nothing destructive hit it)."""

    def __init__(self, sandbox: Sandbox, node: str, seed: int) -> None:
        self.sandbox = sandbox
        self.node: SandboxNode = sandbox.node(node)
        self.name = node
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        self._serial = 0
        self.deleting: set[str] = set()
        self.adds = self.failed_adds = self.dels = self.failed_dels = 0
        self.held: list[Held] = []
        self.errors: Counter[str] = Counter()
        self.growing = True
        """Which way a churn swings now (tests that churn between bounds)."""

    @property
    def operations(self) -> int:
        return self.adds + self.failed_adds + self.dels + self.failed_dels

    def live(self) -> list[Pod]:
        with self._lock:
            return [p for p in self.node.kubelet.pods() if p.container_id not in self.deleting]

    def add(self) -> Pod | None:
        with self._lock:
            self._serial += 1
            name = f"p{self._serial}"
        try:
            pod = self.node.kubelet.run_pod(name)
        except CniFailed as failed:
            with self._lock:
                self.failed_adds += 1
                self.errors[f"ADD {failed.code}: {failed.msg[:60]}"] += 1
            return None
        where = self.interface_of(pod.address)
        with self._lock:
            self.adds += 1
            self.held.append(Held(pod, where, time.time()))
        return pod

    def delete(self, pod: Pod | None = None) -> bool:
        with self._lock:
            candidates = [
                p for p in self.node.kubelet.pods() if p.container_id not in self.deleting
            ]
            if pod is None:
                if not candidates:
                    return False
                pod = self.rng.choice(candidates)
            self.deleting.add(pod.container_id)
            for held in self.held:
                if held.pod.container_id == pod.container_id and held.until is None:
                    held.until = time.time()
        try:
            self.node.kubelet.delete_pod(pod)
        except CniFailed as failed:
            with self._lock:
                self.failed_dels += 1
                self.errors[f"DEL {failed.code}: {failed.msg[:60]}"] += 1
            return False
        finally:
            with self._lock:
                self.deleting.discard(pod.container_id)
        with self._lock:
            self.dels += 1
        return True

    def delete_all(self) -> None:
        """DEL every pod; one whose DEL failed is retried (bounded)."""
        for _ in range(3):
            pods = self.node.kubelet.pods()
            if not pods:
                return
            for pod in pods:
                self.delete(pod)

    def interface_of(self, address: str) -> str | None:
        wanted = IPv4Address(address)
        for eni in self.sandbox.interfaces(self.name):
            if any(wanted in block for block in eni.blocks):
                return eni.id
        return None


# -- the audit -------------------------------------------------------------------------------
@dataclass
class Audit:
    live_pods: int = 0
    allocations: int = 0
    duplicates: list[str] = field(default_factory=list)
    allocations_without_pod: list[str] = field(default_factory=list)
    pods_without_wiring: list[str] = field(default_factory=list)
    leaked_veths: list[str] = field(default_factory=list)
    leaked_routes: list[str] = field(default_factory=list)
    leaked_rules: list[str] = field(default_factory=list)
    not_in_cloud: list[str] = field(default_factory=list)
    doctor: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> int:
        return (
            len(self.allocations_without_pod)
            + len(self.leaked_veths)
            + len(self.leaked_routes)
            + len(self.leaked_rules)
        )

    def problems(self) -> list[str]:
        found = []
        for name in (
            "duplicates",
            "allocations_without_pod",
            "pods_without_wiring",
            "leaked_veths",
            "leaked_routes",
            "leaked_rules",
            "not_in_cloud",
            "doctor",
        ):
            items = getattr(self, name)
            if items:
                found.append(f"{name}: {items}")
        return found

    def counts(self) -> str:
        return (
            f"{self.live_pods} live pods, {self.allocations} allocations, "
            f"duplicates {len(self.duplicates)}, allocations without a pod "
            f"{len(self.allocations_without_pod)}, pods without wiring "
            f"{len(self.pods_without_wiring)}, leaked veths {len(self.leaked_veths)}, "
            f"routes {len(self.leaked_routes)}, rules {len(self.leaked_rules)}, "
            f"doctor findings {len(self.doctor)}"
        )


def audit(sandbox: Sandbox, name: str, *, doctor: bool = True) -> Audit:
    """One look at the node (its daemon must be up)."""
    node = sandbox.node(name)
    pods = node.kubelet.pods()
    host = scan(VETH_PREFIX, netns=node.netns)  # the host before the daemon (doctor's order)
    allocations: list[dict[str, Any]] = node.daemon.introspect("/v1/allocations")["allocations"]
    enis = sandbox.interfaces(name)
    found = Audit(live_pods=len(pods), allocations=len(allocations))

    by_pod = Counter(p.address for p in pods)
    by_allocation = Counter(a["address"] for a in allocations)
    routed = host.routed()
    found.duplicates += [f"{a} held by {n} live pods" for a, n in by_pod.items() if n > 1]
    found.duplicates += [f"{a} in {n} allocations" for a, n in by_allocation.items() if n > 1]
    found.duplicates += [f"{a} routed to {v}" for a, v in routed.items() if len(v) > 1]
    in_cloud = Counter(str(b.network_address) for e in enis for b in e.blocks if b.prefixlen == 32)
    prefixes = [b for e in enis for b in e.blocks if b.prefixlen < 32]
    found.duplicates += [f"{a} assigned to {n} interfaces" for a, n in in_cloud.items() if n > 1]

    live = {p.container_id: p for p in pods}
    found.allocations_without_pod = [
        f"{a['address']} for {a['container_id'][:12] or '?'}"
        for a in allocations
        if a["container_id"] not in live
    ]
    allocation_of = {a["container_id"]: a for a in allocations}
    veth_of = {v.key.container_id: v for v in host.veths if v.key is not None}
    rules_of = host.rules_of()
    for pod in pods:
        address = IPv4Address(pod.address)
        held = allocation_of.get(pod.container_id)
        veth = veth_of.get(pod.container_id)
        lacks = []
        if held is None or held["address"] != pod.address:
            lacks.append(f"allocation (daemon has {held and held['address']})")
        if veth is None:
            lacks.append("host veth")
        elif routed.get(address) != [veth.name]:
            lacks.append(f"route to {veth.name} (routed: {routed.get(address)})")
        if not any(r.priority == 512 for r in rules_of.get(address, [])):
            lacks.append("rule 512")
        if lacks:
            found.pods_without_wiring.append(f"{pod.name} {pod.address}: no {', '.join(lacks)}")
        if pod.address not in in_cloud and not any(address in p for p in prefixes):
            found.not_in_cloud.append(f"{pod.name} {pod.address}")

    addresses = {IPv4Address(p.address) for p in pods}
    primaries = {e.primary_ip for e in enis}
    found.leaked_veths = [
        f"{v.name} ({v.key})"
        for v in host.ours()
        if v.key is None or v.key.container_id not in live
    ]
    found.leaked_routes = [
        f"{a} -> {v}" for a, v in routed.items() if a not in addresses and a not in primaries
    ]
    found.leaked_rules = [
        str(r) for r in host.rules if r.address not in addresses and r.address not in primaries
    ]
    if doctor:
        answer = node.daemon.introspect("/v1/doctor")
        found.doctor = [f"{f['kind']}: {f['detail']}" for f in answer["findings"]]
    return found


def settled_audit(sandbox: Sandbox, name: str, timeout: float = 60.0) -> Audit:
    """Audit until the node is clean or ``timeout`` passes (the doctor leaves anything
    younger than a few seconds alone, and reconciliation may still be fixing the pool)."""
    end = time.monotonic() + timeout
    while True:
        found = audit(sandbox, name)
        if not found.problems() or time.monotonic() > end:
            return found
        time.sleep(1.0)


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def reconciled_since(node: SandboxNode, since: float) -> bool:
    """The daemon reconciled with EC2 after ``since`` (wall clock)."""
    at = node.daemon.introspect("/v1/pool").get("reconciled_at")
    if not at:
        return False
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp() > since


@contextmanager
def deadline(seconds: float) -> Iterator[Callable[[], bool]]:
    """``with deadline(60) as time_left:`` ... ``while time_left():``."""
    end = time.monotonic() + seconds
    yield lambda: time.monotonic() < end
