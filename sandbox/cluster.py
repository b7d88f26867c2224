"""A sandbox cluster: the EC2 + IMDS emulators, the fabric, and N nodes each running the real
vpc-ipamd in its namespace, with a kubelet-like driver that execs the real vpc-cni.

``Sandbox`` is what the demo, the CLI and the end-to-end tests drive. ``up`` builds it in
order (emulator, VPC, fabric, instances, one fabric sync so every primary ENI is a link,
then per node: portals to the emulators, the daemon, its kubelet) and a watcher thread keeps
the fabric in step with EC2 from then on: an ENI the daemon attaches becomes a veth within
~100 ms, one it detaches goes away. ``down`` undoes everything it made, in reverse, and
never raises; a run that crashed leaves namespaces named ``vpcsbx-*``, which the next
``up`` removes before it starts, with its daemons (by their recorded PIDs) — never those of a
sandbox whose process still runs (``clean_stale_runs``).

With ``SandboxOptions(kube=True)`` the sandbox is also a Kubernetes cluster: ``up`` starts the
Kubernetes API emulator (``sandbox/kube/``) on loopback in this process, registers one Node
per sandbox node (``sandbox/kubenodes.py``), opens a portal to it in each node and switches
each daemon's Kubernetes layer on; the kubelets then create, update and delete pod objects
around their CNI calls. ``custom_networking=True`` (AWS) adds a pod subnet to the VPC, a
security group for pods and an ENIConfig named after the zone, and has the daemons pick it
by their nodes' zone label. ``down`` stops the emulator after the daemons.

Nothing here touches the host's namespace: the emulators listen on the host's loopback and
are reached from inside the nodes through portals; every link, route and rule lives in a
namespace of the sandbox.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cni import client
from cni.wire import HealthArgs
from ipamd.installer import build_plugin
from sandbox import kubenodes
from sandbox.clouds import AwsCloud, GceCloud, SandboxCloud
from sandbox.daemonproc import DaemonProcess
from sandbox.ec2 import Ec2Emulator
from sandbox.fabric import EniView, Fabric
from sandbox.kubelet import Kubelet
from sandbox.options import SandboxOptions
from sandbox.portal import Portal

if TYPE_CHECKING:
    from sandbox.kube import KubeEmulator

log = logging.getLogger(__name__)

RUN_ROOT = Path("/run/vpc-ipam-sandbox")
CONTROLLER = "controller.pid"
NAME_ROOT = "vpcsbx-"
SYNC_INTERVAL = 0.1

Progress = Callable[[str], None]


@dataclass
class SandboxNode:
    name: str
    instance_id: str
    netns: str
    daemon: DaemonProcess
    kubelet: Kubelet
    portals: list[Portal] = field(default_factory=list)


class Sandbox:
    def __init__(self, options: SandboxOptions | None = None, *, run_id: str | None = None):
        self.options = options or SandboxOptions()
        self.run_id = run_id or secrets.token_hex(3)
        self.prefix = f"{NAME_ROOT}{self.run_id}"
        self.run_dir = RUN_ROOT / self.run_id
        self.cloud: SandboxCloud | None = None
        self.kube: KubeEmulator | None = None
        """The Kubernetes API emulator (kube sandboxes, while up)."""
        self.fabric: Fabric | None = None
        self.nodes: list[SandboxNode] = []
        self.instances: dict[str, str] = {}
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._sync_lock = threading.Lock()
        self.sync_errors = 0
        self._stopped: list[DaemonProcess] = []

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self, progress: Progress = lambda _: None) -> None:
        removed = clean_stale_runs()
        if removed:
            progress(f"removed {len(removed)} namespaces left by a crashed run")
        self._make_run_dir()
        opts = self.options
        cloud = self.cloud = _cloud(opts)
        progress(f"starting the {cloud.name.upper()} emulators (API and metadata)")
        cloud.start()
        progress("building the VPC router and the internet namespace")
        fabric = self.fabric = Fabric(self.prefix, cloud.vpc_cidrs)
        fabric.create()
        for n in range(1, opts.nodes + 1):
            name = f"n{n}"
            self.instances[name] = cloud.launch(name)
            fabric.add_node(name)
        self.sync()
        self._watcher = threading.Thread(target=self._watch, name="sandbox-fabric", daemon=True)
        self._watcher.start()
        if opts.kube:
            self._start_kube(progress)
        for name, instance_id in self.instances.items():
            progress(f"starting vpc-ipamd on {name} ({instance_id})")
            node = self._node(name, instance_id)
            self.nodes.append(node)  # before it starts: down() must find whatever runs
            node.daemon.start()

    def _start_kube(self, progress: Progress) -> None:
        """The API emulator, the custom networking ENIConfig, and one Node per node."""
        from sandbox.kube import KubeEmulator  # noqa: PLC0415 (the kubernetes client: slow)

        assert self.cloud is not None
        cloud, opts = self.cloud, self.options
        progress("starting the Kubernetes API emulator")
        kube = self.kube = KubeEmulator()
        kube.start()
        if opts.custom_networking:
            assert isinstance(cloud, AwsCloud)
            kube.add_eniconfig(cloud.zone, cloud.pod_subnet_id, [cloud.pod_group])
            progress(
                f"ENIConfig {cloud.zone}: pods in {opts.pod_subnet_cidr} ({cloud.pod_subnet_id})"
                f" with security group {cloud.pod_group}"
            )
        labels = kubenodes.node_labels(
            zone=cloud.zone,
            region=cloud.region,
            machine_type=cloud.machine_type,
            extra=opts.node_labels,
        )
        for name, instance_id in self.instances.items():
            kubenodes.register(
                kube,
                kubenodes.NodeSpec(
                    name,
                    opts.node_pods_capacity,
                    str(self.primary_ip(name)),
                    cloud.provider_id(instance_id),
                    labels,
                    opts.node_annotations,
                ),
            )
        progress(f"Node objects: {', '.join(self.instances)} ({opts.node_pods_capacity} pods each)")

    def _make_run_dir(self) -> None:
        """The run directory appears with its controller mark already inside (made under a
        dot name, then renamed), so another sandbox's cleanup never sees it unmarked."""
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        staging = RUN_ROOT / f".{self.run_id}.new"
        staging.mkdir()
        (staging / CONTROLLER).write_text(_process_mark(os.getpid()))
        staging.rename(self.run_dir)

    def _node(self, name: str, instance_id: str) -> SandboxNode:
        assert self.cloud is not None and self.fabric is not None
        netns = self.fabric.node_ns(name)
        workdir = self.run_dir / name
        portals = {
            service: Portal(netns, _target(url)).start()
            for service, url in self.cloud.endpoints(instance_id).items()
        }
        settings = self.cloud.daemon_settings({s: p.url for s, p in portals.items()})
        if self.kube is not None:
            portals["kube"] = Portal(netns, _target(self.kube.url)).start()
            settings.update(kubenodes.daemon_settings(name, portals["kube"].url, workdir))
        daemon = DaemonProcess(
            workdir=workdir,
            settings={**settings, **self.options.daemon_settings()},
            netns=netns,
        )
        node = SandboxNode(
            name,
            instance_id,
            netns,
            daemon,
            Kubelet(
                netns,
                self.network_conf(daemon),
                plugin=plugin_argv(self.run_dir / "cni-bin"),
                pod_prefix=f"{self.prefix}-{name}p",
                kube=self.kube,
                node_name=name,
            ),
            list(portals.values()),
        )
        return node

    def network_conf(self, daemon: DaemonProcess) -> dict[str, Any]:
        """What libcni hands vpc-cni from the node's conflist."""
        return {
            "cniVersion": "1.1.0",
            "name": "vpc-ipam",
            "type": "vpc-cni",
            "socketPath": daemon.socket,
            "spoolDir": str(daemon.spool),
            "vethPrefix": "eni",
            "timeoutSeconds": 20,
            "logFile": str(daemon.workdir / "cni.log"),
        }

    def down(self, progress: Progress = lambda _: None) -> None:
        """Tear everything down, in reverse; never raises (a teardown must finish)."""
        for node in reversed(self.nodes):
            _quietly(f"deleting the pods of {node.name}", node.kubelet.delete_all)
        for node in reversed(self.nodes):
            progress(f"stopping vpc-ipamd on {node.name}")
            _quietly(f"stopping vpc-ipamd on {node.name}", node.daemon.stop)
            for portal in node.portals:
                _quietly("closing a portal", portal.stop)
        if self.kube is not None:
            progress("stopping the Kubernetes API emulator")
            _quietly("stopping the Kubernetes API emulator", self.kube.stop)
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(5)
        if self.fabric is not None:
            progress("removing the sandbox's namespaces")
            _quietly("removing the namespaces", self.fabric.destroy)
        # pods whose DEL failed, or a fabric that failed half way: anything of this run
        _quietly("removing stray namespaces", lambda: Fabric.cleanup_leftovers(f"{self.prefix}-"))
        if self.cloud is not None:
            _quietly("stopping the emulators", self.cloud.stop)
        self._stopped = [n.daemon for n in self.nodes]
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.nodes, self.fabric, self.cloud, self._watcher = [], None, None, None
        self.kube = None

    def leftovers(self) -> list[str]:
        """What of this sandbox still exists after ``down`` (empty when it cleaned up):
        namespaces named after it, daemons still running, its run directory."""
        found = [f"namespace {ns}" for ns in _netns_names() if ns.startswith(f"{self.prefix}-")]
        found += [f"vpc-ipamd pid {d.pid}" for d in self._stopped if d.running()]
        if self.run_dir.exists():
            found.append(f"directory {self.run_dir}")
        return found

    # -- the fabric follows EC2 ----------------------------------------------------------
    def sync(self) -> None:
        assert self.cloud is not None and self.fabric is not None
        with self._sync_lock:
            self.fabric.sync(self.cloud.views(self.instances))

    def _watch(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL):
            try:
                self.sync()
            except Exception:  # keep following; the next round retries
                self.sync_errors += 1
                log.exception("fabric sync failed")

    # -- lookups ---------------------------------------------------------------------------
    def node(self, name: str) -> SandboxNode:
        return next(n for n in self.nodes if n.name == name)

    @property
    def emulator(self) -> Ec2Emulator:
        """The EC2 emulator (AWS sandboxes only)."""
        assert isinstance(self.cloud, AwsCloud), "an AWS sandbox"
        return self.cloud.emulator

    def interfaces(self, node: str) -> tuple[EniView, ...]:
        """What the node has attached, as the cloud says now (any provider)."""
        assert self.cloud is not None
        (view,) = self.cloud.views({node: self.instances[node]})
        return view.enis

    def enis(self, node: str) -> list[dict[str, Any]]:
        """The node's ENIs as EC2 describes them, by device index (AWS sandboxes only)."""
        found: list[dict[str, Any]] = self.emulator.client().describe_network_interfaces(  # type: ignore[assignment]
            Filters=[{"Name": "attachment.instance-id", "Values": [self.instances[node]]}]
        )["NetworkInterfaces"]
        return sorted(found, key=lambda e: e["Attachment"]["DeviceIndex"])

    def primary_ip(self, node: str) -> IPv4Address:
        return self.interfaces(node)[0].primary_ip


def _cloud(options: SandboxOptions) -> SandboxCloud:
    if options.provider == "gce":
        return GceCloud(options.subnet_cidr, options.pod_range, "e2-standard-4")
    if options.provider == "aws":
        pod_subnet = options.pod_subnet_cidr if options.custom_networking else None
        return AwsCloud(options.vpc_cidr, options.subnet_cidr, options.instance_type, pod_subnet)
    raise ValueError(f"unknown provider {options.provider!r}: expected aws or gce")


def plugin_argv(bin_dir: Path) -> list[str]:
    """vpc-cni installed into ``bin_dir`` exactly as the DaemonSet installs it on a node
    (ipamd.installer: the package beside a launcher that runs ``python3 -I -S`` from the
    runtime's PATH), so the demo and the benchmarks exec what a kubelet execs."""
    target = bin_dir / "vpc-cni"
    build_plugin(target)
    return [str(target)]


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _process_mark(pid: int) -> str:
    """PID and start time: a PID alone can be reused by an unrelated process."""
    try:
        started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = "?"
    return f"{pid} {started}\n"


def controller_pid(run_dir: Path) -> int | None:
    """The PID of the live process running this sandbox, or None if it is gone."""
    try:
        recorded = (run_dir / CONTROLLER).read_text()
        pid = int(recorded.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _process_mark(pid) == recorded else None


def live_runs() -> dict[str, int]:
    """Run id -> PID of the process running it, for every sandbox running now."""
    if not RUN_ROOT.exists():
        return {}
    found = {
        d.name: controller_pid(d)
        for d in RUN_ROOT.iterdir()
        if d.is_dir() and not d.name.startswith(".")
    }
    return {run: pid for run, pid in found.items() if pid is not None}


def clean_stale_runs() -> list[str]:
    """Remove what crashed runs left (their daemons, namespaces and run directories),
    never touching a sandbox whose process still runs; returns the namespaces removed."""
    live = live_runs()
    if RUN_ROOT.exists():
        for run_dir in RUN_ROOT.iterdir():
            if run_dir.is_dir() and not run_dir.name.startswith(".") and run_dir.name not in live:
                for pidfile in run_dir.glob("*/ipamd.pid"):
                    reap_orphan(pidfile)
                shutil.rmtree(run_dir, ignore_errors=True)
    removed: list[str] = []
    for run in sorted({_run_of(ns) for ns in _netns_names() if ns.startswith(NAME_ROOT)}):
        if run not in live:
            removed += Fabric.cleanup_leftovers(f"{NAME_ROOT}{run}-")
    return removed


def _run_of(netns: str) -> str:
    return netns[len(NAME_ROOT) :].split("-", 1)[0]


def _netns_names() -> list[str]:
    base = Path("/var/run/netns")
    return [p.name for p in base.iterdir()] if base.exists() else []


def node_health(socket_path: Path, timeout: float = 2.0) -> dict[str, Any]:
    """A node daemon's health (pool included) through its socket."""
    request = client.new_request("health", HealthArgs(), timeout=timeout)
    return client.call(str(socket_path), request, timeout=timeout)


def reap_orphan(pidfile: Path) -> None:
    """Kill a daemon an earlier, crashed run left behind, by the PID it recorded, and only
    if that PID is still a vpc-ipamd of that run (a PID can be reused)."""
    try:
        pid = int(pidfile.read_text())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    socket = f"VPC_IPAM_SOCKET_PATH={pidfile.parent / 'ipamd.sock'}".encode()
    if socket in environ:
        log.warning("stopping vpc-ipamd %d left by an earlier run", pid)
        os.kill(pid, signal.SIGKILL)


def _quietly(what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.exception("%s failed", what)
