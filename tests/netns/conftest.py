"""Network namespaces for tests: unique per test, always deleted, never the host's own.

Skips with a clear reason when not root or when the kernel or iproute2 cannot make them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

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
