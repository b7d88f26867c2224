"""vpc-ipamctl max-pods, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipamd.ctl", "max-pods", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_prints_max_pods_for_m5_large():
    done = run("--interfaces", "3", "--ipv4-per-interface", "10")
    assert done.returncode == 0
    assert done.stdout.strip() == "29"


def test_json_output_carries_the_inputs():
    done = run(
        "--interfaces",
        "3",
        "--ipv4-per-interface",
        "10",
        "--prefix-delegation",
        "--vcpus",
        "2",
        "--json",
    )
    assert done.returncode == 0
    out = json.loads(done.stdout)
    assert out["max_pods"] == 110
    assert out["inputs"]["prefix_delegation"] is True


def test_prefix_mode_without_vcpus_is_a_clear_error():
    done = run("--interfaces", "3", "--ipv4-per-interface", "10", "--prefix-delegation")
    assert done.returncode == 2
    assert "vcpus" in done.stderr
    assert done.stdout == ""
