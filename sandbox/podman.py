"""podman (Debian's 4.x: CNI backend, libcni) running containers on the vpc-ipam network of a
sandbox node, with a configuration of its own, so it touches nothing of the host's podman.

``Podman(node_ns, workdir, conf, plugin)`` is one such podman: ``setup`` writes its files
(``sandbox.podman_files``) under ``workdir`` and imports its only image, ``localhost/vpc-
busybox``, from a busybox rootfs tarball (no registry, no network); ``run``, ``exec``,
``stop``, ``start`` and ``rm`` drive containers; ``calls`` reads what libcni sent the plugin
(with ``record=True`` the plugin directory holds a shim that logs each call, then runs
vpc-cni); ``close`` removes everything it made and never raises; ``leftovers`` says what of
it still exists.

Every podman command runs with ``nsenter --net`` into the node's namespace, so the veths,
routes and rules that follow (made by the node's daemon) land in the sandbox, and conmon and
``podman container cleanup`` run there too. Not ``ip netns exec``: its private mount
namespace would hide the container's netns file (a bind mount under /run/netns that podman
makes) from the daemon, which then refuses the ADD, and from the next podman command.

What podman 4.x writes outside ``workdir`` whatever its configuration says, and ``close``
removes: the container's netns file (/run/netns/netns-*), libcni's result cache
(/var/lib/cni/results/<network>-<container>-<ifname>), the blob info cache of ``podman
import`` (/var/lib/containers/cache) and the cgroups of its containers and conmon (under a
parent of its own, ``/<prefix>``, in every hierarchy); a directory only when this podman
made it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sandbox import podman_files as files
from sandbox.cluster import RUN_ROOT, live_runs
from sandbox.podman_files import CniCall

log = logging.getLogger(__name__)

IMAGE = "localhost/vpc-busybox:sandbox"
NETNS_DIR = Path("/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CNI_CACHE = Path("/var/lib/cni/results")
BLOB_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")
HOST_PATHS = (
    Path("/var/lib/cni"),
    CNI_CACHE,
    Path("/var/lib/containers"),
    BLOB_CACHE.parent,
    BLOB_CACHE,
)
"""Paths podman makes outside its configured directories; removed when this podman made them."""
CGROUP_PREFIX = "vpcsbx-podman-"
TOOLS = ("podman", "runc", "conmon", "nsenter")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unavailable() -> str | None:
    """Why podman cannot run containers here (None: it can): a missing tool or busybox."""
    if os.geteuid() != 0:
        return "podman over CNI needs root"
    missing = [tool for tool in TOOLS if shutil.which(tool, path=PATH) is None]
    if missing:
        return f"needs {', '.join(missing)} (scripts/debian-deps.sh installs podman and runc)"
    if not files.BUSYBOX.exists() or not files.is_static(files.BUSYBOX):
        return f"needs a static busybox at {files.BUSYBOX} (Debian's busybox-static)"
    return None


class PodmanFailed(RuntimeError):
    """A podman command exited non-zero; the message carries its stderr."""

    def __init__(self, argv: list[str], code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr
        super().__init__(f"podman {' '.join(argv)} exited {code}: {stderr.strip()[-3000:]}")


class Podman:
    def __init__(
        self,
        node_ns: str,
        workdir: Path,
        conf: Mapping[str, Any],
        plugin: Path,
        *,
        network: str = "vpc-ipam",
        record: bool = True,
        timeout: float = 90.0,
    ) -> None:
        self.node_ns, self.workdir, self.plugin = node_ns, workdir, plugin
        self.conf, self.network, self.record, self.timeout = dict(conf), network, record, timeout
        token = secrets.token_hex(3)
        self.cgroup_parent = (  # clean_stale knows it by the run's id
            f"{CGROUP_PREFIX}{workdir.parent.name}-{token}"
            if workdir.parent.parent == RUN_ROOT
            else f"vpcsbx-podman.{token}"
        )
        """Under it in every hierarchy: conmon's and the containers' cgroups."""
        self.containers: set[str] = set()
        self.sandbox_keys: set[str] = set()
        """The netns files of this podman's containers (podman removes them; ``close`` too)."""
        self._made: list[Path] = []
        """Paths of ``HOST_PATHS`` that did not exist before ``setup``."""

    # -- where things are ---------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.workdir / name

    @property
    def net_d(self) -> Path:
        return self._dir("net.d")

    @property
    def calls_log(self) -> Path:
        return self._dir("cni-calls.jsonl")

    def env(self) -> dict[str, str]:
        """Nothing of the caller's environment: podman reads only its own configuration."""
        conf = self._dir("conf")
        return {
            "PATH": PATH,
            "HOME": str(self._dir("home")),
            "TMPDIR": str(self._dir("tmp")),
            "XDG_CONFIG_HOME": str(self._dir("home") / ".config"),
            "XDG_DATA_HOME": str(self._dir("home") / ".local/share"),
            "CONTAINERS_CONF": str(conf / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
        }

    def argv(self, *args: str) -> list[str]:
        """The full command line: into the node's network namespace only, then podman with
        every storage, runtime and network choice on the command line too."""
        return [
            "nsenter",
            f"--net={NETNS_DIR / self.node_ns}",
            "podman",
            *("--root", str(self._dir("root")), "--runroot", str(self._dir("runroot"))),
            *("--storage-driver", "vfs", "--tmpdir", str(self._dir("tmp"))),
            *("--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"),
            *("--network-backend", "cni", "--network-config-dir", str(self.net_d)),
            *args,
        ]

    # -- setup ---------------------------------------------------------------------------
    def setup(self) -> Podman:
        """Writes the configuration, the plugin directory and the conflist, and imports the
        image. Call ``close`` afterwards, also when this raises."""
        if not (NETNS_DIR / self.node_ns).exists():
            raise ValueError(f"no network namespace {self.node_ns}")
        self._made = [p for p in HOST_PATHS if not p.exists()]
        d = self._dir
        for name in ("root", "runroot", "tmp", "home", "hooks.d", "runc", "plugins", "net.d"):
            d(name).mkdir(parents=True, exist_ok=True)
        files.write(
            d("conf") / "containers.conf",
            files.containers_conf(
                tmp=d("tmp"),
                events=d("events.log"),
                plugins=d("plugins"),
                net_d=self.net_d,
                runc=d("runc-wrapper"),
                hooks=d("hooks.d"),
            ),
        )
        files.write(d("conf") / "storage.conf", files.storage_conf(d("root"), d("runroot")))
        files.write(d("conf") / "registries.conf", files.REGISTRIES_CONF)
        files.write(d("runc-wrapper"), files.runc_wrapper(d("runc")), 0o755)
        shim = d("plugins") / self.plugin.name
        if self.record:
            files.write(shim, files.recording_shim(self.plugin, self.calls_log), 0o755)
        else:
            shim.symlink_to(self.plugin)
        self.add_network(self.network)
        rootfs = d("busybox-rootfs.tar")
        files.busybox_rootfs(rootfs)
        self.podman("import", "--change", 'CMD ["/bin/sh"]', str(rootfs), IMAGE)
        rootfs.unlink()
        return self

    def add_network(self, name: str, version: str = files.LIBCNI_VERSION) -> None:
        """A conflist for network ``name``: the sandbox's plugin configuration at cniVersion
        ``version``."""
        conflist = files.conflist(self.conf, name, version)
        files.write(self.net_d / f"{name}.conflist", json.dumps(conflist, indent=2) + "\n")

    # -- commands ------------------------------------------------------------------------
    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = self.argv(*args)
        done = subprocess.run(
            argv,
            env=self.env(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise PodmanFailed(list(args), done.returncode, done.stdout, done.stderr)
        return done

    def run(self, name: str, *command: str, network: str | None = None) -> str:
        """``podman run -d`` on the network, under our cgroup parent; the container's full id.
        (A container made through ``podman(...)`` would get podman's default parent,
        /libpod_parent, which ``close`` does not remove.)"""
        try:
            done = self.podman(
                "run",
                "-d",
                "--name",
                name,
                "--network",
                network or self.network,
                "--cgroup-parent",
                f"/{self.cgroup_parent}",
                IMAGE,
                *(command or ("sleep", "3600")),
            )
        finally:
            self._note(name)
        return done.stdout.strip().splitlines()[-1]

    def _note(self, name: str) -> None:
        """Remembers the container's id and netns file (for ``close``), if it exists."""
        found = self.podman("inspect", "--type", "container", name, check=False)
        if found.returncode == 0:
            (info,) = json.loads(found.stdout)
            self.containers.add(info["Id"])
            key = info.get("NetworkSettings", {}).get("SandboxKey") or ""
            if key:
                self.sandbox_keys.add(key)

    def inspect(self, name: str) -> dict[str, Any]:
        (info,) = json.loads(self.podman("inspect", "--type", "container", name).stdout)
        return info  # type: ignore[no-any-return]

    def exec(
        self, name: str, *command: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", name, *command, check=check)

    def stop(self, name: str) -> None:
        self.podman("stop", "-t", "0", name)

    def start(self, name: str) -> None:
        try:
            self.podman("start", name)
        finally:
            self._note(name)

    def rm(self, name: str) -> None:
        self.podman("rm", "-f", "-t", "0", name)

    def address(self, name: str) -> str:
        """The IPv4 address of the container's eth0, as the container sees it."""
        shown = self.exec(name, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
        for word in shown.split():
            if "/" in word and word[0].isdigit():
                return word.split("/")[0]
        raise AssertionError(f"no IPv4 address on eth0 of {name}: {shown!r}")

    def calls(self) -> list[CniCall]:
        """What the plugin was called with, oldest first (``record=True``)."""
        return files.read_calls(self.calls_log)

    # -- teardown ------------------------------------------------------------------------
    def close(self) -> None:
        """Removes every container (DEL through the plugin while the daemon still runs: call
        this before the sandbox goes down), then whatever podman left; never raises."""
        steps = (
            ("removing the containers", self._remove_containers),
            ("stopping leftover processes", self._stop_processes),
            ("unmounting", self._unmount),
            ("removing host files", self._remove_host_files),
            ("removing cgroups", self._remove_cgroups),
            ("removing the work directory", lambda: shutil.rmtree(self.workdir)),
        )
        for what, step in steps:
            try:
                step()
            except FileNotFoundError:
                pass
            except Exception:
                log.warning("podman on %s: %s failed", self.node_ns, what, exc_info=True)

    def _remove_containers(self) -> None:
        if not self._dir("root").exists():
            return
        listed = self.podman("ps", "-a", "-q", "--no-trunc", check=False)
        self.containers.update(listed.stdout.split())
        self.podman("rm", "-a", "-f", "-t", "0", check=False)
        state = self._dir("runc")
        runc = ["runc", "--root", str(state)]
        for cid in sorted(self.containers):
            if (state / cid).exists():  # podman could not remove it: runc's own teardown
                subprocess.run(
                    [*runc, "delete", "--force", cid], check=False, capture_output=True, timeout=30
                )

    def _stop_processes(self) -> None:
        """conmon (and anything else) still running with our directory on its command line:
        ours, stopped by PID."""
        marker = str(self.workdir).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        os.kill(int(entry.name), 9)
                except (OSError, ProcessLookupError):
                    continue

    def _mounts(self) -> list[str]:
        found = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4]
            if target.startswith(f"{self.workdir}/") or target in self.sandbox_keys:
                found.append(target)
        return found

    def _unmount(self) -> None:
        for target in sorted(self._mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True, timeout=30)
        for key in self.sandbox_keys:
            Path(key).unlink(missing_ok=True)

    def _remove_host_files(self) -> None:
        for cid in self.containers:
            for cached in CNI_CACHE.glob(f"*-{cid}-*"):
                cached.unlink(missing_ok=True)
        for path in sorted(self._made, key=lambda p: len(p.parts), reverse=True):
            try:
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink(missing_ok=True)
            except OSError:
                log.info("podman on %s: leaving %s (not empty)", self.node_ns, path)

    def _cgroups(self) -> list[Path]:
        """Our cgroup parent and everything under it, deepest first."""
        return _cgroup_trees(lambda name: name == self.cgroup_parent)

    def _remove_cgroups(self) -> None:
        for group in self._cgroups():
            try:
                group.rmdir()
            except OSError:
                log.warning("podman on %s: cannot remove cgroup %s", self.node_ns, group)

    def leftovers(self) -> list[str]:
        """What of this podman still exists after ``close`` (empty when it cleaned up)."""
        found = [f"netns file {k}" for k in self.sandbox_keys if Path(k).exists()]
        found += [f"mount {m}" for m in self._mounts()]
        found += [f"cgroup {g}" for g in self._cgroups()]
        found += [
            f"libcni cache {c}" for cid in self.containers for c in CNI_CACHE.glob(f"*-{cid}-*")
        ]
        found += [f"{p}" for p in self._made if p.exists()]
        marker = str(self.workdir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(f"process {entry.name}")
            except OSError:
                continue
        if self.workdir.exists():
            found.append(f"directory {self.workdir}")
        return found


def _cgroup_trees(wanted: Callable[[str], bool]) -> list[Path]:
    """The top-level cgroups whose names are ``wanted`` and all under them, in every
    hierarchy, deepest first."""
    found: list[Path] = []
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.exists() else ():
        for top in hierarchy.glob("vpcsbx-podman*"):
            if top.is_dir() and wanted(top.name):
                found += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def clean_stale() -> list[str]:
    """What podmans of sandbox runs no longer alive left (a killed test): their processes
    (conmon, containers: every PID in their cgroups) and cgroups, and the libcni cache
    entries naming their run directory with the netns files those name. Returns what went."""
    live, removed = live_runs(), []
    groups = _cgroup_trees(
        lambda name: (
            name.startswith(CGROUP_PREFIX)
            and not any(name.startswith(f"{CGROUP_PREFIX}{run}-") for run in live)
        )
    )
    pids = {int(pid) for group in groups for pid in (group / "cgroup.procs").read_text().split()}
    for pid in sorted(pids):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
            removed.append(f"process {pid}")
    for group in groups:
        for _ in range(50):  # killed processes leave their cgroup a moment later
            try:
                group.rmdir()
                removed.append(f"cgroup {group}")
                break
            except OSError:
                time.sleep(0.1)
    for cached in CNI_CACHE.glob("*") if CNI_CACHE.exists() else ():
        config, netns_files = _cache_entry(cached)
        runs = {part.split("/")[0] for part in config.split(f"{RUN_ROOT}/")[1:]}
        if not runs or runs & set(live):
            continue
        for netns in netns_files:
            subprocess.run(["umount", "-l", netns], check=False, capture_output=True, timeout=30)
            Path(netns).unlink(missing_ok=True)
            removed.append(f"netns file {netns}")
        cached.unlink(missing_ok=True)
        removed.append(f"libcni cache {cached}")
    return removed


def _cache_entry(path: Path) -> tuple[str, set[str]]:
    """A libcni cache entry's network configuration (text) and the netns files podman made
    that its result names ("", set() when it cannot be read)."""
    try:
        entry = json.loads(path.read_text())
        config = base64.b64decode(entry.get("config") or "").decode(errors="replace")
        interfaces = (entry.get("result") or {}).get("interfaces") or []
    except (OSError, ValueError, AttributeError, binascii.Error):
        return "", set()
    found = {str(i.get("sandbox") or "") for i in interfaces if isinstance(i, dict)}
    return config, {n for n in found if n.startswith(f"{NETNS_DIR}/netns-")}
