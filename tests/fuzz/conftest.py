"""The real daemon's fixtures (tests/daemon's), for the fuzz tests that need the process."""

from __future__ import annotations

from tests.daemon.conftest import daemon, live_emulator, make_daemon, node

__all__ = ["daemon", "live_emulator", "make_daemon", "node"]
