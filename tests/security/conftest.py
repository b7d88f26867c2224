"""tests/daemon's daemon fixtures and tests/netns's namespace fixtures, for these tests."""

from __future__ import annotations

from tests.daemon.conftest import daemon, live_emulator, make_daemon, node
from tests.netns.conftest import make_netns, netns

__all__ = ["daemon", "live_emulator", "make_daemon", "make_netns", "netns", "node"]
