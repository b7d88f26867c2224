"""Network namespaces for tests: unique per test, always deleted, never the host's own.

Skips with a clear reason when not root or when the kernel or iproute2 cannot make them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh, empty network namespace; deleted (with its links) after the test."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    name = f"vpcipam-t-{uuid.uuid4().hex[:10]}"
    made = subprocess.run(["ip", "netns", "add", name], check=False, capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def ip(netns: str, *args: str) -> None:
    """Run ``ip -n <netns> ...``; fails the test on error."""
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True, text=True)


@pytest.fixture
def make_netns() -> Iterator[Callable[[str], str]]:
    """Makes more fresh namespaces (``make_netns("pod")``); all deleted after the test."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    made: list[str] = []

    def make(role: str = "ns") -> str:
        name = f"vpcipam-{role}-{uuid.uuid4().hex[:10]}"
        done = subprocess.run(["ip", "netns", "add", name], check=False, capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {done.stderr.decode().strip()}")
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def ip_json(netns: str, *args: str) -> Any:
    """``ip -j -n <netns> ...`` parsed; fails the test on error."""
    done = subprocess.run(
        ["ip", "-j", "-n", netns, *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout or "[]")


def in_netns(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a program inside ``netns`` (``ip netns exec``); the result, not checked."""
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv], check=False, capture_output=True, text=True
    )
