"""Installing the CNI plugin on the node, only once the daemon can serve it.

The runtime on the host execs ``<bin dir>/vpc-cni``; our plugin is standard-library Python,
so what is installed is one self-contained zipapp of the ``cni`` package (runnable by the
host's ``python3``, no virtualenv needed). The conflist is written last, and only after the
daemon answers health: a node turns Ready when its CNI config appears, so it must not appear
before pods can really get addresses. Both files are written to a temp name in the target
directory, fsynced and renamed over the old one, so a runtime never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipapp
from pathlib import Path
from typing import Any

import cni

PLUGIN_NAME = "vpc-cni"
INTERPRETER = "/usr/bin/env python3"


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


def build_plugin(target: Path) -> None:
    """Write the ``vpc-cni`` zipapp (the ``cni`` package, entry ``cni.main:main``)."""
    source = Path(cni.__file__).parent
    with tempfile.TemporaryDirectory() as staging:
        shutil.copytree(source, Path(staging) / "cni", ignore=shutil.ignore_patterns("__pycache__"))

        def write(out: Any) -> None:
            zipapp.create_archive(staging, out, interpreter=INTERPRETER, main="cni.main:main")

        _atomic_write(target, write, 0o755)


def write_conflist(target: Path, conflist: dict[str, Any]) -> None:
    data = (json.dumps(conflist, indent=2) + "\n").encode()
    _atomic_write(target, lambda out: out.write(data), 0o644)


def install(bin_dir: Path, conf_dir: Path, conflist: dict[str, Any], name: str) -> None:
    """Plugin first, conflist last (see the module docstring for why the order matters)."""
    build_plugin(bin_dir / PLUGIN_NAME)
    write_conflist(conf_dir / name, conflist)
