"""``vpc-ipam-sandbox`` as a user runs it: the demo passes and leaves nothing; Ctrl-C tears
down; ``status`` shows a running sandbox's pools; ``down`` stops a running sandbox and cleans
up after one whose process was killed (its daemons by their PIDs, its namespaces)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster import NAME_ROOT, RUN_ROOT
from tests.e2e.conftest import _skip_reason

CLI = [sys.executable, "-m", "sandbox.cli"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _root() -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


class Cli:
    """The CLI as a subprocess whose output is read as it comes (raw reads of the pipe:
    a buffered reader would hide lines already read from select())."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*CLI, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.buffer = b""

    @property
    def lines(self) -> list[str]:
        return self.buffer.decode(errors="replace").splitlines(keepends=True)

    @property
    def output(self) -> str:
        return self.buffer.decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 90.0) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        end = time.monotonic() + timeout
        while text not in self.output:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} after {timeout:.0f}s in:\n{self.output}")
            if select.select([fd], [], [], min(left, 0.5))[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"exited before {text!r}:\n{self.output}")
                self.buffer += chunk

    def finish(self, timeout: float = 90.0) -> int:
        out, _ = self.process.communicate(timeout=timeout)
        self.buffer += out or b""
        return self.process.returncode

    def run_id(self) -> str:
        line = next(line for line in self.lines if line.startswith("==> sandbox "))
        return line.split()[2].removeprefix(NAME_ROOT).rstrip(":")


@pytest.fixture
def cli() -> Iterator[list[Cli]]:
    started: list[Cli] = []
    yield started
    for each in started:
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait(30)
        if any(line.startswith("==> sandbox ") for line in each.lines):
            run_cli("down", each.run_id())  # only ours: other sandboxes may be running


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def sandbox_namespaces(run_id: str) -> list[str]:
    base = Path("/var/run/netns")
    return [p.name for p in base.iterdir() if p.name.startswith(f"{NAME_ROOT}{run_id}-")]


def test_the_demo_passes_every_check_and_leaves_nothing(cli: list[Cli]):
    demo = Cli("demo", "--nodes", "2", "--pods", "10")
    cli.append(demo)
    assert demo.finish(180) == 0, demo.output
    assert "all checks passed" in demo.output
    assert "done: no namespace, link or process of the sandbox is left" in demo.output
    assert sandbox_namespaces(demo.run_id()) == []
    assert not (RUN_ROOT / demo.run_id()).exists()


def test_ctrl_c_tears_a_kept_sandbox_down(cli: list[Cli]):
    up = Cli("up", "--nodes", "1", "--pods", "1")
    cli.append(up)
    up.wait_for("kept running")
    run_id = up.run_id()
    assert len(sandbox_namespaces(run_id)) >= 3  # vpc, inet, n1 (and the pod)
    up.process.send_signal(signal.SIGINT)
    assert up.finish() == 130, up.output
    assert "done: no namespace" in up.output
    assert sandbox_namespaces(run_id) == []


def test_status_pods_and_check_act_on_a_running_sandbox_and_down_stops_it(cli: list[Cli]):
    up = Cli("up", "--nodes", "1", "--pods", "2")
    cli.append(up)
    up.wait_for("kept running")
    status = run_cli("status")
    assert status.returncode == 0
    assert f"{NAME_ROOT}{up.run_id()} n1" in status.stdout
    assert "2 assigned" in status.stdout

    more = run_cli("pods", "--run", up.run_id(), "--node", "n1", "--add", "2")
    assert more.returncode == 0, more.stderr
    assert len([line for line in more.stdout.splitlines() if line.split()[0] == "n1"]) == 4
    fewer = run_cli("pods", "--run", up.run_id(), "--delete", "1")
    assert len([line for line in fewer.stdout.splitlines() if line.split()[0] == "n1"]) == 3
    unknown = run_cli("pods", "--run", up.run_id(), "--node", "n9", "--add", "1")
    assert unknown.returncode == 1 and "no node 'n9'" in unknown.stderr
    checked = run_cli("check", "--run", up.run_id())
    assert checked.returncode == 0, checked.stdout
    assert "PASS  pod" in checked.stdout and "FAIL" not in checked.stdout

    down = run_cli("down", up.run_id())
    assert down.returncode == 0 and "stopping sandbox" in down.stdout
    assert up.finish() == 130
    assert sandbox_namespaces(up.run_id()) == []


def test_down_cleans_up_after_a_sandbox_whose_process_was_killed(cli: list[Cli]):
    up = Cli("up", "--nodes", "1", "--pods", "1")
    cli.append(up)
    up.wait_for("kept running")
    run_id = up.run_id()
    daemon_pid = int((RUN_ROOT / run_id / "n1" / "ipamd.pid").read_text())
    up.process.kill()
    up.finish()
    assert Path(f"/proc/{daemon_pid}").exists()  # orphaned, still running
    assert sandbox_namespaces(run_id)

    down = run_cli("down", run_id)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "left by a crashed run" in down.stdout
    assert sandbox_namespaces(run_id) == []
    deadline = time.monotonic() + 10
    while Path(f"/proc/{daemon_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{daemon_pid}").exists() or _zombie(daemon_pid)
    assert os.path.exists(RUN_ROOT / run_id) is False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
