"""A full disk and a read-only checkpoint directory: ADD fails with a clear error, and
nothing is half-written (no allocation in memory or on disk, no veth, route or rule, no temp
file); the daemon keeps serving, and ADDs succeed again once the disk is writable.

The daemon runs in a private mount namespace of its own (``unshare --mount``, inside the
node's network namespace) with its state directory on a 256 KiB tmpfs that exists only
there (propagation ``slave``: the pod namespaces the kubelet mounts later still reach the
daemon, and nothing mounted in its namespace reaches the host). The test fills the tmpfs
through ``/proc/<pid>/root`` and remounts it read-only with ``nsenter --target <pid>
--mount``. The host's own mounts are never touched.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.cluster import Sandbox
from sandbox.daemonproc import DaemonProcess
from sandbox.kubelet import CniFailed
from tests.reliability.harness import Driver, Tally, report, settled_audit, wait_until

TMPFS_SIZE = "256k"


class MountNsDaemon(DaemonProcess):
    """The node's daemon, with its state directory on a tmpfs of its own mount namespace."""

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        if self.running():
            raise RuntimeError("vpc-ipamd is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        argv = [
            *inside,
            *("unshare", "--mount", "--propagation", "slave", "--"),
            *(sys.executable, "-m", "tests.reliability.mountns"),
            *("--tmpfs", str(self.checkpoint.parent), "--size", TMPFS_SIZE, "--"),
            *(sys.executable, "-m", "ipamd.main"),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        self.pidfile.write_text(f"{self.process.pid}\n")
        self.starts += 1
        if wait:
            self.wait_healthy(timeout)

    def state_dir(self) -> Path:
        """The state directory as the daemon sees it (its tmpfs), from this process."""
        return Path(f"/proc/{self.pid}/root{self.checkpoint.parent}")

    def in_its_mounts(self, *command: str) -> None:
        subprocess.run(
            ["nsenter", "--target", str(self.pid), "--mount", "--", *command],
            check=True,
            capture_output=True,
            timeout=30,
        )


def fill(directory: Path) -> Path:
    """Write zeros into ``directory`` until its filesystem is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC, error
    finally:
        os.close(fd)
    return filler


def on_disk(daemon: MountNsDaemon) -> tuple[set[str], list[str]]:
    """(addresses the checkpoint on disk gives out, other files in the state directory)."""
    state = daemon.state_dir()
    envelope = json.loads((state / daemon.checkpoint.name).read_text())
    held = {a["address"] for a in envelope["state"]["datastore"]["allocations"]}
    others = sorted(p.name for p in state.iterdir() if p.name not in {"checkpoint.json", "filler"})
    return held, others


def refused_adds(driver: Driver, daemon: MountNsDaemon, count: int, why: str) -> list[CniFailed]:
    """``count`` ADDs that must each fail with a clear checkpoint error; nothing is left."""
    errors = []
    for n in range(count):
        before = {p.container_id for p in driver.node.kubelet.pods()}
        try:
            pod = driver.node.kubelet.run_pod(f"refused-{why}-{n}")
        except CniFailed as failed:
            errors.append(failed)
        else:
            pytest.fail(f"ADD succeeded with the checkpoint directory {why}: {pod}")
        assert {p.container_id for p in driver.node.kubelet.pods()} == before
    for error in errors:
        assert error.code == 999, error
        assert "cannot write its checkpoint" in error.msg, error
        assert "not given out" in error.msg, error
    assert daemon.running(), daemon.tail()
    return errors


def test_a_full_or_read_only_checkpoint_directory_fails_add_clearly_and_half_writes_nothing(
    sandbox_with: Callable[..., Sandbox],
):
    sandbox = sandbox_with(nodes=1, settings={"VPC_IPAM_ADD_WAIT": "3"})
    node = sandbox.node("n1")
    node.daemon.stop()
    daemon = MountNsDaemon(
        workdir=node.daemon.workdir,
        settings=node.daemon.settings,
        netns=node.netns,
        base_env=node.daemon.base_env,
    )
    node.daemon = daemon  # the sandbox stops this one at teardown
    daemon.start()
    driver = Driver(sandbox, "n1", seed=1)
    tally = Tally("disk full / read-only checkpoint")
    first = [driver.add() for _ in range(3)]
    assert all(first), driver.errors
    wait_until("the pool to settle", lambda: daemon.health()["addresses"]["available"] > 2)

    # 1. the disk is full
    filler = fill(daemon.state_dir())
    held_before, _ = on_disk(daemon)
    full = refused_adds(driver, daemon, 3, "full")
    assert all("No space left" in f.details for f in full), [f.details for f in full]
    held, leftovers = on_disk(daemon)
    assert held == held_before == {p.address for p in driver.live()}
    assert leftovers == [], f"half-written files: {leftovers}"
    found = settled_audit(sandbox, "n1")
    assert not [p for p in found.problems() if not p.startswith("doctor")], found.problems()
    filler.unlink()
    wait_until("an ADD to succeed again", lambda: driver.add() is not None, 30)

    # 2. the checkpoint directory is read-only
    daemon.in_its_mounts("mount", "-o", "remount,ro", str(daemon.checkpoint.parent))
    held_before, _ = on_disk(daemon)
    read_only = refused_adds(driver, daemon, 3, "read-only")
    assert all("Read-only file system" in f.details for f in read_only), read_only
    held, leftovers = on_disk(daemon)
    assert held == held_before == {p.address for p in driver.live()}
    assert leftovers == []
    daemon.in_its_mounts("mount", "-o", "remount,rw", str(daemon.checkpoint.parent))
    wait_until("an ADD to succeed again", lambda: driver.add() is not None, 30)

    found = settled_audit(sandbox, "n1")
    assert not found.problems(), "\n".join(found.problems())
    assert on_disk(daemon)[0] == {p.address for p in driver.live()}
    driver.delete_all()
    empty = settled_audit(sandbox, "n1")
    assert not empty.problems() and empty.allocations == 0, empty.problems()
    tally.operations = driver.operations + len(full) + len(read_only)
    tally.faults = 2
    tally.duplicates = len(found.duplicates)
    tally.leaks = found.leaks + empty.leaks
    tally.notes = {
        "ADDs refused (disk full)": len(full),
        "ADDs refused (read-only)": len(read_only),
        "error": f"{full[0].msg} ({full[0].details[:60]})",
    }
    report(tally)
