"""The files an isolated podman needs on a sandbox node: its containers.conf, storage.conf and
registries.conf, the conflist of the vpc-ipam network, a runc wrapper with a state directory
of its own, the plugin directory (vpc-cni itself, or a shim that records each call), and the
busybox rootfs tarball its one image is imported from; and ``read_calls``, which reads what
the shim logged.

Nothing here runs podman or touches a namespace: ``sandbox.podman`` does, with these files.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
"""busybox-static's binary: statically linked, so one file makes a whole userland."""
LIBCNI_VERSION = "1.0.0"
"""The newest result version the libcni in Debian's podman 4.x parses (see docs/decisions.md,
"Runtimes: what podman's libcni sends"): a conflist saying 1.1.0 fails every ADD there."""
NOFILE, NPROC = 1024, 4096
"""Container rlimits: podman's rootful defaults (2^20) need CAP_SYS_RESOURCE, which a
sandboxed root may not have; lowering is always allowed."""


def _toml(value: object) -> str:
    """A TOML value for a string, a bool or a list of strings (JSON's syntax is TOML's here)."""
    return json.dumps(value)


UNUSED_DEFAULT_NETWORK = "vpcsbx-unused-default"
"""podman's default network, never used (every container names its network): a conflist that
fails podman's validation is then "network not found", not a default bridge made in memory
under its name (the plugin directory has no bridge plugin either)."""


def containers_conf(
    *, tmp: Path, events: Path, plugins: Path, net_d: Path, runc: Path, hooks: Path
) -> str:
    """containers.conf (read instead of /etc/containers' through ``CONTAINERS_CONF``, which
    podman also hands to conmon, so ``podman container cleanup`` reads it too)."""
    nofile = _capped(resource.RLIMIT_NOFILE, NOFILE)
    nproc = _capped(resource.RLIMIT_NPROC, NPROC)
    sections: dict[str, dict[str, object]] = {
        "containers": {
            "log_driver": "k8s-file",
            "default_ulimits": [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"],
        },
        "engine": {
            "cgroup_manager": "cgroupfs",
            "events_logger": "file",
            "events_logfile_path": str(events),
            "runtime": "runc",
            "tmp_dir": str(tmp),
            "image_copy_tmp_dir": str(tmp),
            "lock_type": "file",  # not the shared-memory segment in /dev/shm
            "hooks_dir": [str(hooks)],
        },
        "engine.runtimes": {"runc": [str(runc)]},
        "network": {
            "network_backend": "cni",
            "cni_plugin_dirs": [str(plugins)],
            "network_config_dir": str(net_d),
            "default_network": UNUSED_DEFAULT_NETWORK,
        },
    }
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in entries.items())
        for name, entries in sections.items()
    )


def _capped(limit: int, wanted: int) -> int:
    _, hard = resource.getrlimit(limit)
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def storage_conf(root: Path, runroot: Path) -> str:
    """vfs: plain directories, no mounts to leak and no overlay support needed."""
    return (
        f'[storage]\ndriver = "vfs"\ngraphroot = {_toml(str(root))}\n'
        f"runroot = {_toml(str(runroot))}\n"
    )


REGISTRIES_CONF = "unqualified-search-registries = []\n"
"""No registry: the image is imported, never pulled."""


def runc_wrapper(state: Path) -> str:
    """runc with its state under our directory instead of /run/runc."""
    return f'#!/bin/sh\nexec runc --root "{state}" "$@"\n'


def conflist(conf: Mapping[str, Any], name: str, version: str = LIBCNI_VERSION) -> dict[str, Any]:
    """The network configuration list for ``conf`` (a plugin configuration as libcni hands it,
    e.g. ``Sandbox.network_conf``) under ``name`` and cniVersion ``version``; ``cniVersions``
    also names 1.1.0, for a libcni that reads it (1.2 and later) and may pick it."""
    plugin = {k: v for k, v in conf.items() if k not in ("cniVersion", "cniVersions", "name")}
    versions = sorted({version, "1.1.0"}, key=lambda v: tuple(int(p) for p in v.split(".")))
    return {"cniVersion": version, "cniVersions": versions, "name": name, "plugins": [plugin]}


def recording_shim(plugin: Path, log: Path) -> str:
    """A plugin that runs ``plugin`` with the same stdin and environment, passes its output
    and exit code through, and appends one JSON line per call to ``log``: the ``CNI_*``
    variables, the names (not values) of the others, stdin, the exit code and stdout."""
    return f"""#!{sys.executable} -I
import json, os, subprocess, sys
data = sys.stdin.buffer.read()
done = subprocess.run([{str(plugin)!r}], input=data, capture_output=True, check=False)
record = {{
    "env": {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}},
    "env_names": sorted(os.environ),
    "stdin": data.decode("utf-8", "replace"),
    "code": done.returncode,
    "stdout": done.stdout.decode("utf-8", "replace"),
}}
fd = os.open({str(log)!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, (json.dumps(record) + "\\n").encode())
os.close(fd)
sys.stdout.buffer.write(done.stdout)
sys.stderr.buffer.write(done.stderr)
sys.exit(done.returncode)
"""


@dataclass(frozen=True)
class CniCall:
    """One call of the plugin as libcni made it (from the recording shim)."""

    command: str
    env: dict[str, str]
    """The ``CNI_*`` variables."""
    env_names: tuple[str, ...]
    """The names of every variable the plugin saw."""
    conf: dict[str, Any]
    """stdin, parsed (``{}`` when it was not a JSON object)."""
    code: int
    output: dict[str, Any] | None

    @property
    def container_id(self) -> str:
        return self.env.get("CNI_CONTAINERID", "")


def read_calls(log: Path) -> list[CniCall]:
    """The calls the recording shim logged, oldest first."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        conf, output = _json_object(record["stdin"]), _json_object(record["stdout"])
        found.append(
            CniCall(
                record["env"].get("CNI_COMMAND", ""),
                record["env"],
                tuple(record["env_names"]),
                conf or {},
                record["code"],
                output,
            )
        )
    return found


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def is_static(binary: Path) -> bool:
    """No program interpreter named near the start of the ELF file: statically linked."""
    with binary.open("rb") as f:
        head = f.read(8192)
    return head.startswith(b"\x7fELF") and b"/ld-" not in head and b"ld-linux" not in head


def applets(busybox: Path = BUSYBOX) -> list[str]:
    """Where busybox's applets live, e.g. ``bin/sh``, ``sbin/ip``, ``usr/bin/wget``."""
    done = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True, timeout=30
    )
    return sorted({line.strip().lstrip("/") for line in done.stdout.splitlines() if line.strip()})


def busybox_rootfs(target: Path, busybox: Path = BUSYBOX, names: Sequence[str] = ()) -> None:
    """A tarball of a busybox userland: the binary at /bin/busybox, a symlink to it per
    applet, the usual empty directories and a root-only /etc/passwd and /etc/group."""
    links = list(names) or applets(busybox)
    with tarfile.open(target, "w") as tar:

        def add(
            name: str, kind: bytes, *, mode: int = 0o755, data: bytes = b"", link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev"}
        dirs |= {"root", "var", "run"}
        dirs |= {str(Path(n).parent) for n in links if str(Path(n).parent) != "."}
        for name in sorted(dirs):
            add(name, tarfile.DIRTYPE)
        add("tmp", tarfile.DIRTYPE, mode=0o1777)
        add("bin/busybox", tarfile.REGTYPE, data=busybox.read_bytes())
        for name in links:
            if name != "bin/busybox":
                add(name, tarfile.SYMTYPE, mode=0o777, link="/bin/busybox")
        add("etc/passwd", tarfile.REGTYPE, mode=0o644, data=b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", tarfile.REGTYPE, mode=0o644, data=b"root:x:0:\n")
