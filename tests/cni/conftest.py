"""The real vpc-cni binary against the real vpc-ipamd (IPAM only, on the EC2 emulator).

The daemon fixtures are tests/daemon's and the namespace fixture is tests/netns's, imported
here so that these tests get the same ones.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cni.runtime import Runtime
from tests.daemon.conftest import daemon, live_emulator, make_daemon, node
from tests.netns.conftest import netns

__all__ = ["daemon", "live_emulator", "make_daemon", "netns", "node"]


@pytest.fixture
def runtime() -> Runtime:
    return Runtime()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory under /tmp with a short path (unix socket paths have 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vcni-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
