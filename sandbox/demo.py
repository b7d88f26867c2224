"""The demo (``make demo``): a sandbox with real daemons and pods, its pools, its checks.

Brings up N nodes, starts enough pods that each node needs a second ENI, waits for the
pools to settle, prints each node's pool, runs the connectivity matrix, and tears it all
down, also on Ctrl-C, SIGTERM or a failure. ``keep`` leaves it running until Ctrl-C, with
the commands to look around printed. Exit 0 only when every check passed.

With ``kube`` in the options the pods are also pod objects in the Kubernetes API emulator
(named per node, as pod names are unique in a namespace), each node's pool is followed by
what its daemon says of its Node, and the checks include ``sandbox.kubechecks``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from sandbox import kubechecks
from sandbox.checks import Check, matrix, secondary_eni_of
from sandbox.cluster import Sandbox, SandboxNode
from sandbox.control import ControlServer
from sandbox.kubelet import CniFailed, Pod
from sandbox.kubenodes import health_line
from sandbox.options import SandboxOptions
from sandbox.tables import checks_table

SETTLE_TIMEOUT = 60.0
CONTROL_SOCKET = "control.sock"
PARALLEL_ADDS = 4


class Interrupted(Exception):
    """SIGTERM (or SIGINT) asked the demo to stop; teardown follows."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def run(
    options: SandboxOptions, pods_per_node: int, *, keep: bool = False, out: TextIO = sys.stdout
) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    def step(text: str) -> None:
        say(f"==> {text}")

    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(options)
    started = time.monotonic()
    try:
        kind = options.instance_type if options.provider == "aws" else "GCE e2-standard-4"
        extras = ["Kubernetes API emulator"] if options.kube else []
        if options.custom_networking:
            extras.append(f"custom networking (pods in {options.pod_subnet_cidr})")
        step(f"sandbox {sandbox.prefix}: {' + '.join([f'{options.nodes} x {kind}', *extras])}")
        sandbox.up(lambda text: say(f"    {text}"))
        pods = start_pods(sandbox, pods_per_node, lambda text: say(f"    {text}"))
        step("waiting for the pools to settle")
        settle(sandbox)
        step("connectivity checks")
        checks = matrix(sandbox, pods) + kubechecks.all_checks(sandbox, pods)
        say(checks_table(checks))
        failed = [c for c in checks if not c.ok]
        for node in sandbox.nodes:
            step(f"vpc-ipamctl status on {node.name} ({sandbox.primary_ip(node.name)})")
            shown = ctl_status(node)
            say(shown.stdout.rstrip() or shown.stderr.rstrip())
            if shown.returncode != 0:
                failed.append(Check(f"vpc-ipamctl status on {node.name}", False, shown.stderr))
            kube_line = health_line(node.daemon.health())
            if kube_line is not None:
                say(kube_line)
        verdict = "all checks passed" if not failed else f"{len(failed)} checks FAILED"
        step(f"{verdict} ({time.monotonic() - started:.1f}s)")
        if keep:
            control = ControlServer(sandbox.run_dir / CONTROL_SOCKET, Controller(sandbox, pods))
            control.start()
            try:
                explore(sandbox, say)
            finally:
                control.stop()
        return 0 if not failed else 1
    except (KeyboardInterrupt, Interrupted) as stopped:
        say(f"\n==> interrupted ({stopped or 'SIGINT'}); tearing down")
        return 130
    finally:
        step("tearing down")
        sandbox.down(lambda text: say(f"    {text}"))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        left = sandbox.leftovers()
        if left:
            step(f"teardown left {', '.join(left)}: run `vpc-ipam-sandbox down`")
        else:
            step("done: no namespace, link or process of the sandbox is left")


CTL_COLUMNS = "100"


def ctl_status(node: SandboxNode) -> subprocess.CompletedProcess[str]:
    """``vpc-ipamctl status`` as an operator on the node runs it (here: pointed at the node's
    introspection socket, which the sandbox puts beside the daemon's other files)."""
    installed = Path(sys.executable).with_name("vpc-ipamctl")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "ipamd.ctl"]
    return subprocess.run(
        [*command, "status", "--introspection", node.daemon.introspection],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": CTL_COLUMNS, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def start_pods(sandbox: Sandbox, per_node: int, say: Callable[[str], None]) -> dict[str, list[Pod]]:
    """``per_node`` pods on each node, a few ADDs at a time as a kubelet would."""
    pods: dict[str, list[Pod]] = {}
    for node in sandbox.nodes:
        say(f"starting {per_node} pods on {node.name}")
        with ThreadPoolExecutor(PARALLEL_ADDS) as pool:
            futures = [
                pool.submit(node.kubelet.run_pod, _pod_name(sandbox, node.name, n))
                for n in range(per_node)
            ]
            started: list[Pod] = []
            for future in futures:
                try:
                    started.append(future.result())
                except CniFailed as failed:
                    say(f"  pod failed: {failed}")
        pods[node.name] = sorted(started, key=lambda p: tuple(int(o) for o in p.address.split(".")))
        held = sandbox.interfaces(node.name)
        blocks = sum(len(i.blocks) for i in held)
        say(f"{node.name}: {len(started)} pods running; {len(held)} interfaces, {blocks} blocks")
    return pods


def _pod_name(sandbox: Sandbox, node: str, n: int) -> str:
    """``web-N``; with Kubernetes ``web-NODE-N``: a pod's name is unique in its namespace."""
    return f"web-{node}-{n}" if sandbox.kube is not None else f"web-{n}"


def settle(sandbox: Sandbox, timeout: float = SETTLE_TIMEOUT) -> None:
    """Until every node's interfaces all serve pods and its pool meets its targets (and,
    with Kubernetes, its daemon is connected to the API server)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        healths = [node.daemon.health() for node in sandbox.nodes]
        if all(_settled(h, kube=sandbox.kube is not None) for h in healths):
            return
        time.sleep(0.5)


def _settled(health: dict[str, object], *, kube: bool = False) -> bool:
    pool = health["pool"]
    assert isinstance(pool, list)
    if kube:
        state = health.get("kubernetes")
        if not (isinstance(state, dict) and state.get("connected")):
            return False
    return all(i["wired"] for i in pool) and not health.get("blocked")


class Controller:
    """Answers ``vpc-ipam-sandbox pods|check`` for a kept sandbox (see sandbox.control)."""

    def __init__(self, sandbox: Sandbox, pods: dict[str, list[Pod]]) -> None:
        self.sandbox = sandbox
        self.pods = pods
        self._lock = threading.Lock()
        self._serial = sum(len(p) for p in pods.values())

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            op = request.get("op")
            if op == "pods":
                return self._pods(request)
            if op == "check":
                found = matrix(self.sandbox, self.pods)
                found += kubechecks.all_checks(self.sandbox, self.pods)
                return {"checks": [asdict(c) for c in found]}
            raise ValueError(f"unknown op {op!r}: expected 'pods' or 'check'")

    def _pods(self, request: dict[str, Any]) -> dict[str, Any]:
        known = [n.name for n in self.sandbox.nodes]
        chosen = request.get("node")
        if chosen is not None and chosen not in known:
            raise ValueError(f"no node {chosen!r}; the nodes are {', '.join(known)}")
        add, delete = int(request.get("add", 0)), int(request.get("delete", 0))
        if add < 0 or delete < 0:
            raise ValueError("add and delete are counts >= 0")
        for name in [chosen] if chosen else known:
            node, running = self.sandbox.node(name), self.pods.setdefault(name, [])
            for _ in range(delete):
                if running:
                    node.kubelet.delete_pod(running.pop())
            for _ in range(add):
                self._serial += 1
                running.append(node.kubelet.run_pod(f"web-{self._serial}"))
        listed = [
            {
                "node": name,
                "pod": f"{pod.namespace}/{pod.name}",
                "address": pod.address,
                "eni": secondary_eni_of(self.sandbox, name, pod.address) or "primary",
            }
            for name, running in sorted(self.pods.items())
            for pod in running
        ]
        return {"pods": listed}


def explore(sandbox: Sandbox, say: Callable[[str], None]) -> None:
    assert sandbox.fabric is not None
    say("==> kept running; look around in another shell, then press Ctrl-C to tear down:")
    say("    vpc-ipam-sandbox pods --add 3 --node n1   # more pods (or --delete N)")
    say("    vpc-ipam-sandbox check                    # the connectivity matrix again")
    for node in sandbox.nodes:
        say(f"    ip netns exec {node.netns} ip rule   # {node.name}'s policy routing")
        say(f"    ip netns exec {node.netns} nft list table ip vpc_ipam")
        say(f"    cat {node.daemon.log}")
    say(f"    ip netns exec {sandbox.fabric.vpc_ns} ip route   # the VPC router")
    if sandbox.kube is not None:
        say(f"    curl -s {sandbox.kube.url}/api/v1/pods   # the pod objects (API emulator)")
    while True:
        time.sleep(3600)
