"""Installing the CNI plugin on the node, only once the daemon can serve it.

The runtime on the host execs ``<bin dir>/vpc-cni``; our plugin is standard-library Python,
so what is installed is the ``cni`` package in a directory beside it, named by a digest of
its sources, and a four-line launcher (run by the host's ``python3``, no virtualenv).

The launcher is read twice: ``/bin/sh`` runs its second line, which execs ``python3 -I -S``
on the file itself, found on the runtime's PATH as ``#!/usr/bin/env python3`` would find it;
Python reads that line as a string expression and runs the rest. ``-S`` skips ``site`` (and
with it whatever ``.pth`` files and ``sitecustomize`` the node's python carries: milliseconds
on every pod) and ``-I`` leaves ``PYTHON*`` variables and the user's site out; the package
needs neither. Not ``#!/usr/bin/env -S python3 -I -S``: not every node image's ``env`` takes
``-S``, and a shebang passes at most one argument; not an absolute interpreter path: the
installer runs in a container and cannot know where the host keeps ``python3``.
Not a zipapp: nothing imported from a zip is cached, so every pod would pay ~16 ms to
compile the package again; from a directory the host's python caches bytecode after the
first run. An upgrade writes a new directory, then swaps the launcher atomically, then
removes the old directory. The conflist is written last, and only after the
daemon answers health: a node turns Ready when its CNI config appears, so it must not appear
before pods can really get addresses. Both files are written to a temp name in the target
directory, fsynced and renamed over the old one, so a runtime never sees half a file.

What is installed, and where, comes from the settings (:class:`config.settings.CniSettings`):
:func:`conflist_for` builds the network configuration list, :func:`install_from_settings`
writes it (``deploy/10-vpc-ipam.conflist`` is ``conflist_for`` of the defaults; a unit test
keeps them equal).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import cni
from config import Settings

PLUGIN_NAME = "vpc-cni"
SHELL = "/bin/sh"
PYTHON_FLAGS = ("-I", "-S")
CNI_VERSION = "1.0.0"
"""The conflist's ``cniVersion``: what a libcni older than 1.2 (podman 4.x, containerd 1.6)
uses, and it cannot parse a 1.1.0 result (tests/e2e/test_podman.py found it)."""
CNI_VERSIONS = ("1.0.0", "1.1.0")
"""The conflist's ``cniVersions`` (CNI 1.1): libcni 1.2 and later run the highest of them."""
NETWORK_NAME = "vpc-ipam"


def _atomic_write(target: Path, write: Any, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _sources() -> list[Path]:
    return sorted(Path(cni.__file__).parent.glob("*.py"))


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def build_plugin(target: Path) -> Path:
    """Install the package directory (if this version is not there yet) and the launcher;
    returns the package directory."""
    files = _sources()
    lib = target.parent / f".{target.name}-lib-{_digest(files)}"
    if not lib.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
        try:
            (staging / "cni").mkdir()
            for path in files:
                shutil.copy2(path, staging / "cni" / path.name)
            os.chmod(staging, 0o755)
            os.rename(staging, lib)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    exec_python = " ".join(f'"{word}"' for word in ("exec", "python3", *PYTHON_FLAGS, "$0", "$@"))
    launcher = (
        f"#!{SHELL}\n"
        f"{exec_python}\n"
        f"import sys; sys.path.insert(0, {str(lib)!r})\n"
        "from cni.main import main; sys.exit(main())\n"
    ).encode()
    _atomic_write(target, lambda out: out.write(launcher), 0o755)
    for old in target.parent.glob(f".{target.name}-lib-*"):
        if old != lib:
            shutil.rmtree(old, ignore_errors=True)
    return lib


def write_conflist(target: Path, conflist: dict[str, Any]) -> None:
    data = (json.dumps(conflist, indent=2) + "\n").encode()
    _atomic_write(target, lambda out: out.write(data), 0o644)


def install(bin_dir: Path, conf_dir: Path, conflist: dict[str, Any], name: str) -> None:
    """Plugin first, conflist last (see the module docstring for why the order matters)."""
    build_plugin(bin_dir / PLUGIN_NAME)
    write_conflist(conf_dir / name, conflist)


def conflist_for(settings: Settings) -> dict[str, Any]:
    """The network configuration list the runtime runs pods with: vpc-cni, pointed at this
    daemon's socket and spool, then ``portmap`` unless ``VPC_IPAM_CNI_PORTMAP=false``.

    Paths are written as the daemon sees them, so the daemon must see the socket, spool and
    log directories at the same paths as the host does.
    """
    cni_settings = settings.cni
    timeout = cni_settings.timeout
    plugins: list[dict[str, Any]] = [
        {
            "type": PLUGIN_NAME,
            "socketPath": str(settings.daemon.socket_path),
            "spoolDir": str(settings.daemon.spool_dir),
            "vethPrefix": settings.datapath.veth_prefix,
            "timeoutSeconds": int(timeout) if timeout.is_integer() else timeout,
            "logFile": str(cni_settings.log_file),
        }
    ]
    if cni_settings.portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
    return {
        "cniVersion": CNI_VERSION,
        "cniVersions": list(CNI_VERSIONS),
        "name": NETWORK_NAME,
        "plugins": plugins,
    }


def install_from_settings(settings: Settings) -> Path | None:
    """Install the plugin, then the conflist of :func:`conflist_for`; return the conflist's
    path, or None without touching anything when ``VPC_IPAM_INSTALL_CNI`` is off.

    Call it only once the daemon's socket answers health: the node turns Ready when the
    conflist appears, and pods scheduled then must get addresses. Safe to call again (on every
    start): the plugin package is reused when unchanged, and both files are replaced
    atomically.
    """
    if not settings.daemon.install_cni:
        return None
    cni_settings = settings.cni
    target = cni_settings.conf_dir / cni_settings.conflist_name
    install(cni_settings.bin_dir, cni_settings.conf_dir, conflist_for(settings), target.name)
    return target
