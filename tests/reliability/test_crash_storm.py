"""Crash storm: bursts of ADD/DEL on a sandbox node through the real plugin, each burst cut
by a ``kill -9`` of the real daemon, timed three ways:

- ``random``: a random moment while the burst is in flight;
- ``checkpoint``: the moment a checkpoint temp file appears (the daemon is between open and
  rename); a temp file still there after the kill proves the kill landed mid-write;
- ``cloud``: EC2's mutating and allocating calls are slowed to 1.5 s in the emulator, and
  the kill lands while one of them is in flight (the emulator then carries it out: the
  cloud changed and the daemon never heard).

While the daemon is down, DELs go to the spool (and ADDs fail, and are torn down) as a
kubelet would have it. After each kill the daemon is restarted; after the storm it
reconciles, and then: no address is held twice, no allocation lacks its pod, no pod lacks
its allocation, veth, route or rule, no veth, route or rule is left over, EC2 assigns every
pod's address to the node, and the doctor finds nothing. Then every pod is deleted and the
node must hold nothing.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from sandbox.cluster import Sandbox
from sandbox.daemonproc import DaemonProcess
from sandbox.ec2 import Ec2Emulator
from tests.reliability.harness import (
    Driver,
    Tally,
    deadline,
    reconciled_since,
    report,
    settled_audit,
    size,
    wait_until,
)

SLOW_ACTIONS = (
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
    "CreateNetworkInterface",
    "AttachNetworkInterface",
    "ModifyNetworkInterfaceAttribute",
    "DetachNetworkInterface",
    "DeleteNetworkInterface",
)
CLOUD_LATENCY = 1.5
MAX_LIVE = 14
"""m5.large: 3 interfaces x 9 addresses; 14 pods cross from the first interface to the next."""
KINDS = ("random", "checkpoint", "cloud")
SETTINGS = {
    "WARM_IP_TARGET": "3",
    "MINIMUM_IP_TARGET": "3",
    "VPC_IPAM_RECONCILE_INTERVAL": "5",
    "IP_COOLDOWN_PERIOD": "1",
}


def _temp_files(daemon: DaemonProcess) -> list[str]:
    try:
        names = os.listdir(daemon.checkpoint.parent)
    except FileNotFoundError:
        return []
    return [n for n in names if n.startswith(f".{daemon.checkpoint.name}.") and n.endswith(".tmp")]


def _kill(daemon: DaemonProcess) -> None:
    assert daemon.process is not None
    daemon.process.kill()  # SIGKILL to the PID this test started


def kill_mid_checkpoint(daemon: DaemonProcess, budget: float) -> bool:
    """SIGKILL the moment a checkpoint temp file exists; True if the kill left it behind."""
    end = time.monotonic() + budget
    while time.monotonic() < end:
        if _temp_files(daemon):
            _kill(daemon)
            daemon.process.wait(30)  # type: ignore[union-attr]
            return bool(_temp_files(daemon))
    _kill(daemon)
    return False


def kill_mid_cloud_call(daemon: DaemonProcess, emulator: Ec2Emulator, budget: float) -> bool:
    """Slow EC2's mutating calls; SIGKILL while one is in flight. True if one was."""

    def calls() -> int:
        counts = emulator.call_counts()
        return sum(counts.get(a, 0) for a in SLOW_ACTIONS)

    before = calls()
    for action in SLOW_ACTIONS:
        emulator.set_latency(action, CLOUD_LATENCY)
    try:
        end = time.monotonic() + budget
        while time.monotonic() < end and calls() == before:
            time.sleep(0.005)
        landed = calls() > before
        if landed:
            time.sleep(CLOUD_LATENCY * 0.3)  # well inside the call
        _kill(daemon)
        return landed
    finally:
        for action in SLOW_ACTIONS:
            emulator.set_latency(action, 0)


def run_storm(sandbox: Sandbox, operations: int, seconds: float, seed: int) -> tuple[Tally, Driver]:
    driver = Driver(sandbox, "n1", seed)
    rng = driver.rng
    daemon = sandbox.node("n1").daemon
    tally = Tally("crash storm")
    landed: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=4) as pool, deadline(seconds) as time_left:
        burst = 0
        while driver.operations < operations and time_left():
            kind = KINDS[burst % len(KINDS)]
            burst += 1
            live = len(driver.live())
            todo = []
            for _ in range(rng.randint(3, 8)):
                grow = live < MAX_LIVE and (live < 4 or rng.random() < 0.6)
                todo.append(driver.add if grow else driver.delete)
                live += 1 if grow else -1
            futures = [pool.submit(op) for op in todo]
            tried[kind] += 1
            if kind == "random":
                time.sleep(rng.uniform(0.05, 1.0))
                _kill(daemon)
                landed[kind] += 1
            elif kind == "checkpoint":
                time.sleep(rng.uniform(0.0, 0.5))
                landed[kind] += kill_mid_checkpoint(daemon, budget=3.0)
            else:
                landed[kind] += kill_mid_cloud_call(daemon, sandbox.emulator, budget=3.0)
            assert daemon.process is not None
            daemon.process.wait(30)
            tally.kills += 1
            done, pending = wait(futures, timeout=120)
            assert not pending, "CNI calls still running 120 s after the kill"
            for future in done:
                future.result()
            for _ in range(rng.randint(0, 3)):  # the daemon is down: DELs go to the spool
                driver.delete()
            if rng.random() < 0.3:
                driver.add()  # fails: nobody answers; the kubelet tears it down
            daemon.start()
    tally.operations = driver.operations
    tally.notes = {
        "ADD ok": driver.adds,
        "ADD failed": driver.failed_adds,
        "DEL ok": driver.dels,
        "DEL failed": driver.failed_dels,
        "kills mid-checkpoint (temp file left)": f"{landed['checkpoint']}/{tried['checkpoint']}",
        "kills mid-cloud-call": f"{landed['cloud']}/{tried['cloud']}",
        "kills at random": tried["random"],
        "most frequent failures": dict(driver.errors.most_common(3)),
    }
    return tally, driver


def test_crash_storm_leaves_no_duplicate_no_leak_and_every_pod_wired(
    sandbox_with: Callable[..., Sandbox],
):
    operations = int(size("storm_ops", 60, 800))
    seconds = size("storm_seconds", 60, 420)
    seed = int(size("seed", time.time(), time.time()))
    sandbox = sandbox_with(nodes=1, settings=SETTINGS)
    node = sandbox.node("n1")
    tally, driver = run_storm(sandbox, operations, seconds, seed)
    restarted = time.time()
    wait_until("a reconciliation after the last restart", lambda: reconciled_since(node, restarted))
    found = settled_audit(sandbox, "n1")
    tally.duplicates, tally.leaks = len(found.duplicates), found.leaks
    tally.notes["after the storm"] = found.counts()
    tally.notes["seed"] = seed
    spooled = list(node.daemon.spool.glob("*.json")) if node.daemon.spool.exists() else []
    assert driver.failed_dels == 0, driver.errors
    assert not spooled, f"the spool was not drained: {spooled}"
    if found.problems():
        report(tally)
        pytest.fail("\n".join(found.problems()) + f"\n{node.daemon.tail(60)}")

    driver.delete_all()
    empty = settled_audit(sandbox, "n1")
    tally.leaks += empty.leaks
    tally.notes["after deleting every pod"] = empty.counts()
    report(tally)
    assert not empty.problems(), "\n".join(empty.problems())
    assert empty.allocations == 0
    assert tally.kills >= 3, tally.line()
    assert node.daemon.starts == tally.kills + 1  # it never died by itself
