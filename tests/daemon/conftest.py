"""Fixtures: an emulator on the real clock (the daemon is another process), a node, a daemon."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sandbox.clock import SystemClock
from sandbox.ec2 import Ec2Emulator
from tests.daemon.harness import Daemon, Node
from tests.fake_aws import REGION


@pytest.fixture
def live_emulator() -> Iterator[Ec2Emulator]:
    with Ec2Emulator(region=REGION, clock=SystemClock()) as ec2:
        yield ec2


@pytest.fixture
def node(live_emulator: Ec2Emulator) -> Node:
    return Node.launch(live_emulator)


@pytest.fixture
def make_daemon(node: Node) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(**env: str) -> Daemon:
        daemon = Daemon(node, extra_env=env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    running = make_daemon()
    running.start()
    return running
