"""The installed plugin runs without our virtualenv; files appear whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ipamd.installer import PLUGIN_NAME, build_plugin, install, write_conflist

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
CONFLIST = {"cniVersion": "1.1.0", "name": "vpc-ipam", "plugins": [{"type": "vpc-cni"}]}


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs the system's python3")
def test_installed_plugin_answers_version_with_the_system_python(tmp_path: Path):
    install(tmp_path / "bin", tmp_path / "net.d", CONFLIST, "10-vpc-ipam.conflist")
    plugin = tmp_path / "bin" / PLUGIN_NAME
    assert os.access(plugin, os.X_OK)
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", str(plugin)],
        env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
        input=b'{"cniVersion":"1.0.0"}',
        capture_output=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cniVersion"] == "1.0.0"


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs the system's python3")
@pytest.mark.parametrize("path", ["/usr/sbin:/usr/bin:/sbin:/bin", None])
def test_the_launcher_runs_when_exec_d_as_a_runtime_does(tmp_path: Path, path: str | None):
    # exec'd directly: /bin/sh reads the first two lines and execs python3 -I -S on the file,
    # found on the runtime's PATH (or the shell's default one when there is none)
    install(tmp_path / "bin", tmp_path / "net.d", CONFLIST, "10-vpc-ipam.conflist")
    plugin = tmp_path / "bin" / PLUGIN_NAME
    env = {"CNI_COMMAND": "VERSION", "PYTHONPATH": "/nonexistent", "PYTHONSTARTUP": "/x"}
    if path is not None:
        env["PATH"] = path
    done = subprocess.run(
        [str(plugin)],
        env=env,
        input=b'{"cniVersion":"0.4.0"}',
        capture_output=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cniVersion"] == "0.4.0"
    assert (plugin.read_bytes().splitlines()[0]) == b"#!/bin/sh"


def test_reinstalling_the_same_version_keeps_one_package_dir_and_its_bytecode(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    first = build_plugin(bin_dir / PLUGIN_NAME)
    (first / "cni" / "__pycache__").mkdir()  # as the host's python leaves it after a run
    second = build_plugin(bin_dir / PLUGIN_NAME)
    assert second == first
    assert (first / "cni" / "__pycache__").is_dir()
    libs = [p.name for p in bin_dir.iterdir() if p.name.startswith(".")]
    assert libs == [first.name]


def test_a_new_version_replaces_the_old_package_dir(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    stale = bin_dir / f".{PLUGIN_NAME}-lib-0000000000000000"
    stale.mkdir(parents=True)
    current = build_plugin(bin_dir / PLUGIN_NAME)
    assert not stale.exists() and current.exists()
    assert str(current) in (bin_dir / PLUGIN_NAME).read_text()


def test_conflist_is_written_whole_and_readable_by_runtimes(tmp_path: Path):
    target = tmp_path / "net.d" / "10-vpc-ipam.conflist"
    write_conflist(target, CONFLIST)
    write_conflist(target, {**CONFLIST, "name": "vpc-ipam-2"})
    assert json.loads(target.read_text())["name"] == "vpc-ipam-2"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == ["10-vpc-ipam.conflist"]
