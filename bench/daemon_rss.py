"""The daemon's memory: resident set idle after start, with 250 pods, and after they leave.

DESIGN.md §8: with 250 pods under 80 MiB. The real daemon runs IPAM-only against the EC2
emulator on an m5.8xlarge in prefix mode: 32 vCPUs lift the prefix-mode max-pods cap to 250
(at 30 vCPUs or fewer it is 110), so 250 pods fit on one node as they would on EKS. The pods
are 250 ADDs over the socket, one after another as a kubelet would send them, then 250 DELs;
each figure is read once the pool has settled (its counts still for a second), from
``/proc/<pid>/status``: VmRSS (resident now) and VmHWM (the peak so far, which is what a
memory limit on the daemon's container has to allow).

It runs twice: IPAM-only, and as deploy/daemonset.yaml runs it, with the Kubernetes layer on
(``MY_NODE_NAME``) following the Kubernetes API emulator, where each pod is also created,
turned Running and deleted as the scheduler and kubelet would, so the daemon's pod cache holds
all 250. There is no reference program to run side by side, so the reference is the budget
itself: ratio = ours / 80 MiB, budget 1.0. Quick mode (the smoke test) runs 25 pods, so its
figures say nothing about the budget.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from bench.common import Options, Ratio, Result
from bench.daemonbench import BenchDaemon, emulated_node, poll
from sandbox.kube import KubeEmulator

NAME = "daemon_rss"
PODS = 250
QUICK_PODS = 25
BUDGET_MIB = 80.0
INSTANCE_TYPE = "m5.8xlarge"
SUBNET = "10.0.16.0/20"  # room for 250 addresses in aligned /28 prefixes
SETTINGS = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"}
NODE = "node-rss"
HEADERS = ("daemon", "when", "pods", "addresses", "VmRSS MiB", "VmHWM MiB")
IPAM_ONLY = "IPAM-only"
WITH_KUBE = "with the Kubernetes layer"
CONFIGS = (IPAM_ONLY, WITH_KUBE)


def run(options: Options) -> Result:
    pods = QUICK_PODS if options.quick else PODS
    result = Result(NAME, HEADERS, [])
    for config in CONFIGS:
        idle, loaded, after = _measure(result, config, pods)
        result.ratios.append(
            Ratio(
                f"VmRSS with {pods} pods, {config}",
                loaded["VmRSS"],
                BUDGET_MIB,
                budget=1.0,
                unit="MiB",
            )
        )
        result.ratios.append(
            Ratio(
                f"VmHWM (the peak), {config}", loaded["VmHWM"], BUDGET_MIB, budget=1.0, unit="MiB"
            )
        )
        result.notes.append(
            f"{config}: {pods} pods cost {loaded['VmRSS'] - idle['VmRSS']:+.1f} MiB over idle, "
            f"{after['VmRSS'] - idle['VmRSS']:+.1f} MiB still held after their DELs; "
            + (
                f"the peak ({idle['VmHWM']:.1f} MiB) came during start, before any pod"
                if idle["VmHWM"] > idle["VmRSS"] + 1
                else "no peak above the idle figure"
            )
        )
    result.notes.append(f"{INSTANCE_TYPE}, prefix delegation, dataplane none, emulated clouds")
    return result


def _measure(result: Result, config: str, count: int) -> tuple[dict[str, float], ...]:
    with ExitStack() as stack:
        kube: KubeEmulator | None = None
        settings = dict(SETTINGS)
        if config == WITH_KUBE:
            kube = stack.enter_context(KubeEmulator())
            kube.add_node(NODE, pods_capacity=PODS)  # the instance's own max pods
            settings |= {
                "MY_NODE_NAME": NODE,
                "VPC_IPAM_KUBE_API_SERVER": kube.url,
                "VPC_IPAM_KUBE_TOKEN_FILE": "/nonexistent/vpc-ipam-bench-token",
            }
        daemon, _ = stack.enter_context(emulated_node(INSTANCE_TYPE, SUBNET, settings=settings))
        daemon.start()

        def measure(when: str) -> dict[str, float]:
            health = daemon.settled()
            memory = daemon.memory_mib()
            counts = health["addresses"]
            row = (config, when, counts["assigned"], counts["total"])
            result.rows.append((*row, memory["VmRSS"], memory["VmHWM"]))
            result.figures[f"{config}, {when}"] = {**memory, **counts}
            return memory

        if kube is not None:
            _follows(daemon, "connected", True)
        idle = measure("idle after start")
        pods = {f"rss-{n}": _add(daemon, kube, f"rss-{n}") for n in range(count)}
        if len(set(pods.values())) != count:
            raise RuntimeError(f"{count} ADDs got {len(set(pods.values()))} distinct addresses")
        if kube is not None:
            _follows(daemon, "pods", count)  # its pod cache holds them all
        loaded = measure(f"with {count} pods")
        for container_id, address in pods.items():
            daemon.delete(container_id, address)
            if kube is not None:
                kube.delete_pod("default", f"pod-{container_id}")
        return idle, loaded, measure(f"after the {count} DELs")


def _follows(daemon: BenchDaemon, key: str, value: object) -> None:
    """Wait until the daemon's Kubernetes layer reports ``key`` = ``value`` in its health."""

    def check() -> None:
        if daemon.health()["kubernetes"][key] != value:
            raise LookupError(f"kubernetes.{key} is not {value!r} yet")

    poll(f"the daemon's kubernetes.{key}", check, timeout=30, alive=daemon.running, every=0.05)


def _add(daemon: BenchDaemon, kube: KubeEmulator | None, container_id: str) -> str:
    """One pod's ADD; with the API, its pod is created Pending first and then Running."""
    if kube is None:
        return daemon.add(container_id)
    name = f"pod-{container_id}"
    kube.add_pod("default", name, NODE, phase="Pending")
    uid: Any = kube.pod("default", name)["metadata"]["uid"]
    address = daemon.add(container_id, pod_uid=str(uid))
    kube.update_pod("default", name, ip=address, phase="Running")
    return address
