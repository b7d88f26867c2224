"""What the CNI benchmarks (``cni_latency``, ``burst``) share: a one-node sandbox whose
daemon holds a warm pool, our plugin and the Go reference (``ptp`` with ``host-local`` IPAM
from Debian's containernetworking-plugins) set up side by side in its namespace, fresh pod
namespaces, and the launcher that execs and times every plugin call.

Fairness: both plugins are exec'd by the same launcher (``bench/launcher.py``), one process
started once inside the node's namespace with ``ip netns exec``, as the sandbox's kubelet
runs vpc-cni; each call gets the kubelet's environment (``CNI_*``, a minimal ``PATH``, the
same ``CNI_ARGS``) and its network configuration on stdin, in a pod namespace made for it
(``lo`` up, as a runtime leaves it). A sample is the plugin process from fork to reap, timed
inside the launcher: making and removing namespaces and the wrapper are in no sample.
Ours runs with the daemon's full wiring (veth, addresses, routes, neighbor, rules); the
reference wires a veth, addresses and routes, and keeps its leases in a temporary dataDir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Result
from sandbox.cluster import Sandbox, SandboxNode
from sandbox.kubelet import CNI_PATH, DEFAULT_PATH, IFNAME
from sandbox.options import SandboxOptions
from sandbox.portal import NETNS_DIR

REFERENCE_DIR = Path("/usr/lib/cni")
REFERENCE_PLUGINS = ("ptp", "host-local")
REFERENCE_SUBNET = "10.99.0.0/16"
"""Apart from the sandbox's VPC (10.0.0.0/16) and GCE range (10.4.0.0/16)."""
POOL = 110
"""Addresses the daemon holds before any call: max pods of an m5.large with prefixes."""
SETTINGS = {
    "WARM_PREFIX_TARGET": "0",
    "WARM_IP_TARGET": "1",
    "MINIMUM_IP_TARGET": str(POOL),
    "IP_COOLDOWN_PERIOD": "1",
}
"""Prefix delegation with 110 addresses held (7 /28s, one ENI), so no ADD waits on EC2; a
short cooldown so freed addresses come back within a second between rounds and bursts."""
LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
SETUP_NOTE = (
    "a 1-node sandbox (m5.large, prefix delegation, "
    f"{', '.join(f'{k}={v}' for k, v in SETTINGS.items())}, production loop intervals); "
    "the reference is ptp + host-local from "
    f"{REFERENCE_DIR} (cniVersion 1.0.0, subnet {REFERENCE_SUBNET}, dataDir in a temporary dir)"
)
FAIRNESS_NOTE = (
    "both plugins are exec'd by one launcher process started once in the node namespace with "
    "`ip netns exec` (as the kubelet runs vpc-cni), with the kubelet's environment and the "
    "configuration on stdin, each in a fresh pod namespace; a sample is fork-to-reap of the "
    "plugin process, so the wrapper and the namespace setup are in no sample"
)


def skip_reason() -> str | None:
    """Why the CNI benchmarks cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)}"
    absent = [p for p in REFERENCE_PLUGINS if not os.access(REFERENCE_DIR / p, os.X_OK)]
    if absent:
        return (
            f"needs the reference plugins {' and '.join(absent)} in {REFERENCE_DIR} "
            "(Debian's containernetworking-plugins; `make bench` installs it)"
        )
    return None


def skipped(name: str, reason: str) -> Result:
    return Result(name, ("skipped",), [], notes=[f"skipped: {reason}"])


class PluginFailed(RuntimeError):
    """A plugin call did not succeed; the message carries what it printed."""


@dataclass(frozen=True, slots=True)
class PodNs:
    """A pod's network namespace and the identity the runtime gives the pod."""

    netns: str
    container_id: str = field(default_factory=lambda: secrets.token_hex(32))
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def path(self) -> str:
        return str(NETNS_DIR / self.netns)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One plugin process as the launcher saw it."""

    rc: int
    stdout: str
    stderr: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Plugin:
    label: str
    argv: tuple[str, ...]
    conf: dict[str, Any]
    cni_path: str

    def call(self, command: str, pod: PodNs, prev: dict[str, Any] | None = None) -> dict[str, Any]:
        """The launcher's call: the kubelet's environment and the conf (with prevResult)."""
        conf = self.conf if prev is None else {**self.conf, "prevResult": prev}
        args = (
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;"
            f"K8S_POD_NAME=bench-{pod.container_id[:8]};"
            f"K8S_POD_INFRA_CONTAINER_ID={pod.container_id};K8S_POD_UID={pod.uid}"
        )
        env = {
            "PATH": DEFAULT_PATH,
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": pod.container_id,
            "CNI_NETNS": pod.path,
            "CNI_IFNAME": IFNAME,
            "CNI_ARGS": args,
            "CNI_PATH": self.cni_path,
        }
        return {"argv": list(self.argv), "env": env, "stdin": json.dumps(conf)}

    def checked(self, command: str, outcome: Outcome) -> dict[str, Any]:
        """What the call printed (the ADD result; {} for DEL), or ``PluginFailed``."""
        try:
            printed = json.loads(outcome.stdout) if outcome.stdout.strip() else {}
        except ValueError:
            printed = None
        if outcome.rc != 0 or not isinstance(printed, dict) or (command == "ADD" and not printed):
            raise PluginFailed(
                f"{self.label} {command} exited {outcome.rc}: stdout {outcome.stdout[-2000:]!r}"
                f" stderr {outcome.stderr[-2000:]!r}"
            )
        return printed


class Launcher:
    """``bench/launcher.py`` running inside ``netns``; ``run`` sends one request."""

    def __init__(self, netns: str) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-I", "-S", str(LAUNCHER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, calls: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Starts the calls at once and waits for all of them."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"calls": list(calls)}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the launcher exited ({self.process.poll()})")
        return [Outcome(**r) for r in json.loads(line)["results"]]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class PodNamespaces:
    """Fresh pod namespaces named ``<prefix>-<random>``; ``remove_all`` removes the rest."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.live: set[str] = set()

    def create(self) -> PodNs:
        pod = PodNs(f"{self.prefix}-{secrets.token_hex(5)}")
        _ip("netns", "add", pod.netns)
        self.live.add(pod.netns)
        _ip("-n", pod.netns, "link", "set", "lo", "up")
        return pod

    def remove(self, pod: PodNs) -> None:
        _ip("netns", "del", pod.netns)
        self.live.discard(pod.netns)

    def remove_all(self) -> None:
        for netns in sorted(self.live):
            if (NETNS_DIR / netns).exists():
                subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        self.live.clear()


@dataclass
class Bench:
    """A node ready for benchmarking: its daemon holds ``POOL`` addresses."""

    sandbox: Sandbox
    node: SandboxNode
    launcher: Launcher
    pods: PodNamespaces
    ours: Plugin
    reference: Plugin

    def wait_ready(self, count: int, timeout: float = 60.0) -> None:
        """Until the daemon has ``count`` addresses available and none cooling down (a
        quiet node: no ADD waits on the cloud, no pool work is due)."""
        end = time.monotonic() + timeout
        while True:
            counts = self.node.daemon.health()["addresses"]
            if counts["available"] >= count and counts["cooling"] == 0:
                return
            if time.monotonic() > end:
                raise RuntimeError(
                    f"vpc-ipamd never had {count} addresses available within {timeout:g}s "
                    f"({counts}):\n{self.node.daemon.tail(40)}"
                )
            time.sleep(0.1)

    def add_then_del(self, plugin: Plugin) -> tuple[Outcome, Outcome]:
        """One pod's ADD and first DEL (with prevResult and the netns, as containerd's first
        DEL) in a fresh namespace, which goes afterwards."""
        pod = self.pods.create()
        try:
            added = self.launcher.run([plugin.call("ADD", pod)])[0]
            result = plugin.checked("ADD", added)
            deleted = self.launcher.run([plugin.call("DEL", pod, result)])[0]
            plugin.checked("DEL", deleted)
        finally:
            self.pods.remove(pod)
        return added, deleted

    def failure(self, error: PluginFailed) -> RuntimeError:
        """The error with the daemon's last log lines, for the report."""
        return RuntimeError(f"{error}\nvpc-ipamd:\n{self.node.daemon.tail(40)}")


@contextmanager
def bench_node() -> Iterator[Bench]:
    """Brings up the sandbox, waits for the warm pool, starts the launcher; tears every part
    down in reverse (pod namespaces, launcher, the reference's dataDir, sandbox), also on
    failure."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            Sandbox(SandboxOptions(nodes=1, prefix_delegation=True, quick=False, settings=SETTINGS))
        )
        node = sandbox.node("n1")
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="vpc-ipam-bench-"))
        launcher = Launcher(node.netns)
        stack.callback(launcher.close)
        pods = PodNamespaces(f"{sandbox.prefix}-{node.name}b")
        stack.callback(pods.remove_all)
        reference = Plugin(
            "ptp+host-local",
            (str(REFERENCE_DIR / "ptp"),),
            {
                "cniVersion": "1.0.0",
                "name": "bench-reference",
                "type": "ptp",
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": REFERENCE_SUBNET}]],
                    "dataDir": data_dir,
                },
            },
            str(REFERENCE_DIR),
        )
        ours = Plugin("vpc-cni", node.kubelet.plugin, node.kubelet.conf, CNI_PATH)
        bench = Bench(sandbox, node, launcher, pods, ours, reference)
        bench.wait_ready(POOL)
        yield bench


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
