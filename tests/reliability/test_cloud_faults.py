"""Cloud faults under pod churn on a sandbox node, one after another, each with pods coming
and going through the real plugin:

- a throttling storm (every EC2 bucket down to one call per 5-10 s);
- 5xx: half of all calls answered 500 InternalError / 503 Unavailable;
- timeouts: DescribeNetworkInterfaces and AssignPrivateIpAddresses answered after 21 s,
  past the daemon's 20 s read timeout (EC2 still carries the assignment out);
- IMDS omits the secondary interface that carries pods, across a daemon restart;
- a stale describe: DescribeNetworkInterfaces answers what it answered when the fault began.

Throughout, no destructive call may touch what a pod holds: the emulator journals every
call, and no UnassignPrivateIpAddresses names an address a pod held at that moment, no
Detach/DeleteNetworkInterface names an interface carrying one. When the faults end the pool
recovers: nothing blocks it, it holds its warm addresses again, the node audits clean (no
duplicate, no leak, every pod wired, every pod's address assigned to the node in EC2) and
new pods get addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.cluster import Sandbox
from sandbox.ec2.emulator import Ec2Emulator
from sandbox.ec2.state import LOCK
from tests.reliability.harness import (
    Driver,
    Held,
    Tally,
    report,
    settled_audit,
    size,
    wait_until,
)

SETTINGS = {
    "WARM_IP_TARGET": "3",
    "MINIMUM_IP_TARGET": "3",
    "VPC_IPAM_RECONCILE_INTERVAL": "3",
    "IP_COOLDOWN_PERIOD": "1",
    "VPC_IPAM_ADD_WAIT": "3",
}
LOW, HIGH = 4, 20
"""Churn swings between these many pods, so the pool must grow and shrink during a fault."""
TIMEOUT_LATENCY = 21.0


@dataclass
class Phase:
    name: str
    on: Callable[[], None]
    off: Callable[[], None]


def phases(sandbox: Sandbox, driver: Driver, seed: int) -> list[Phase]:
    ec2 = sandbox.emulator
    node = sandbox.node("n1")
    omitted: list[str] = []

    def throttle() -> None:
        ec2.throttle("describe", burst=1, rate=0.2)
        ec2.throttle("allocate", burst=1, rate=0.1)
        ec2.throttle("mutating", burst=1, rate=0.1)

    def errors() -> None:
        ec2.fail_matching("describe", "InternalError", "injected", 500, share=0.5, seed=seed)
        ec2.fail_matching("allocate", "Unavailable", "injected", 503, share=0.5, seed=seed + 1)
        ec2.fail_matching("mutating", "InternalError", "injected", 500, share=0.5, seed=seed + 2)

    def slow(seconds: float) -> Callable[[], None]:
        def apply() -> None:
            ec2.set_latency("DescribeNetworkInterfaces", seconds)
            ec2.set_latency("AssignPrivateIpAddresses", seconds)

        return apply

    def omit() -> None:
        carrying = {h.interface for h in driver.held if h.until is None}
        secondary = [e.id for e in sandbox.interfaces("n1")[1:] if e.id in carrying]
        omitted[:] = secondary or [e.id for e in sandbox.interfaces("n1")[1:]]
        ec2.imds_omit(*omitted)
        node.daemon.kill()  # a restart while IMDS lags: recovery reads interfaces from IMDS
        node.daemon.start()

    return [
        Phase("throttling storm", throttle, ec2.unthrottle),
        Phase("5xx", errors, ec2.clear_faults),
        Phase("timeouts", slow(TIMEOUT_LATENCY), slow(0)),
        Phase("IMDS omits an interface with pods", omit, ec2.imds_restore),
        Phase(
            "stale describe",
            lambda: ec2.serve_stale("DescribeNetworkInterfaces"),
            lambda: ec2.serve_stale("DescribeNetworkInterfaces", stale=False),
        ),
    ]


def attachments(ec2: Ec2Emulator) -> dict[str, str]:
    with LOCK:
        return {
            eni.attachment_id: eni.id
            for eni in ec2.backend.enis.values()
            if getattr(eni, "attachment_id", None)
        }


def destructive_hits(ec2: Ec2Emulator, held: list[Held], attached: dict[str, str]) -> list[str]:
    """Destructive calls that named an address, or an interface, a pod held at the time."""
    hits = []
    for call in ec2.journal(
        "UnassignPrivateIpAddresses", "DetachNetworkInterface", "DeleteNetworkInterface"
    ):
        addresses = {v[0] for k, v in call.params.items() if k.startswith("PrivateIpAddress.")}
        interface = (call.params.get("NetworkInterfaceId") or [""])[0]
        if call.action == "DetachNetworkInterface":
            interface = attached.get((call.params.get("AttachmentId") or [""])[0], "?")
        for h in held:
            if not h.since < call.at < (h.until or float("inf")):
                continue
            if h.pod.address in addresses or (
                call.action != "UnassignPrivateIpAddresses" and h.interface == interface
            ):
                hits.append(f"{call.action} {call.params} while {h.pod.name} held {h.pod.address}")
    return hits


def churn(driver: Driver, seconds: float, ec2: Ec2Emulator, attached: dict[str, str]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        live = len(driver.live())
        if live <= LOW:
            driver.growing = True
        elif live >= HIGH:
            driver.growing = False
        if driver.growing:
            driver.add()
        else:
            driver.delete()
        attached.update(attachments(ec2))
        time.sleep(0.1)


def test_cloud_faults_never_touch_what_pods_hold_and_the_pool_recovers(
    sandbox_with: Callable[..., Sandbox],
):
    seconds = size("fault_seconds", 6, 45)
    seed = int(size("seed", time.time(), time.time()))
    sandbox = sandbox_with(nodes=1, settings=SETTINGS)
    ec2 = sandbox.emulator
    node = sandbox.node("n1")
    driver = Driver(sandbox, "n1", seed)
    attached: dict[str, str] = {}
    for _ in range(12):
        assert driver.add() is not None, driver.errors
    attached.update(attachments(ec2))
    tally = Tally("cloud faults")
    calls_in: dict[str, int] = {}
    for phase in phases(sandbox, driver, seed):
        before = sum(ec2.call_counts().values())
        phase.on()
        try:
            churn(driver, seconds, ec2, attached)
        finally:
            phase.off()
        calls_in[phase.name] = sum(ec2.call_counts().values()) - before
        tally.faults += 1
        churn(driver, 2, ec2, attached)  # a breath between faults
    throttled = sum(ec2.throttled_counts().values())
    tally.faults += ec2.front.injected + throttled

    # the pool recovers
    def recovered() -> bool:
        health = node.daemon.health()
        return not health["blocked"] and health["addresses"]["available"] >= 3

    wait_until("the pool to recover", recovered, TIMEOUT_LATENCY * 3)
    for _ in range(3):
        assert driver.add() is not None, driver.errors
    found = settled_audit(sandbox, "n1", timeout=TIMEOUT_LATENCY * 3)
    hits = destructive_hits(ec2, driver.held, attached)
    tally.operations = driver.operations
    tally.duplicates = len(found.duplicates)
    tally.leaks = found.leaks
    tally.notes = {
        "throttled calls": throttled,
        "injected errors": ec2.front.injected,
        "ADD failed": driver.failed_adds,
        "destructive calls on pods": len(hits),
        "EC2 calls per fault": calls_in,
        "after the faults": found.counts(),
    }
    report(tally)
    assert not hits, "\n".join(hits)
    assert not found.problems(), "\n".join(found.problems()) + "\n" + node.daemon.tail(60)
    driver.delete_all()
    assert settled_audit(sandbox, "n1").allocations == 0
