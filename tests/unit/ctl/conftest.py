"""Fixtures of the vpc-ipamctl tests: the introspection endpoint on both transports, the
daemon's socket, and a console that reads the same on every machine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.ctl.support import Answer, FakeDaemon, IntrospectionServer, short_tmpdir


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich sizes and colours its output from these; unset, a non-terminal gets 100 columns
    and no colour, whatever the machine running the tests has set."""
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    with short_tmpdir() as directory:
        yield directory


@pytest.fixture
def sock_path(socket_dir: Path) -> Path:
    return socket_dir / "ipamd.sock"


@pytest.fixture
def serve(sock_path: Path) -> Iterator[Callable[[Answer], FakeDaemon]]:
    """Starts a FakeDaemon on ``sock_path`` answering with the given function."""
    daemons: list[FakeDaemon] = []

    def start(answer: Answer) -> FakeDaemon:
        daemons.append(FakeDaemon(sock_path, answer))
        return daemons[-1]

    yield start
    for daemon in daemons:
        daemon.close()


@pytest.fixture(params=["tcp", "unix"])
def endpoint(request: pytest.FixtureRequest, socket_dir: Path) -> Iterator[IntrospectionServer]:
    """The introspection endpoint over TCP on 127.0.0.1 and over a unix socket."""
    server = IntrospectionServer(request.param, socket_dir)
    try:
        yield server
    finally:
        server.close()
