"""Fixtures shared by every suite.

The fake AWS environment is autouse for the whole tree: no test can reach a real AWS
endpoint or a metadata address, whatever it constructs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.clock import FakeClock
from sandbox.ec2 import Ec2Emulator
from tests.fake_aws import REGION, use_fake_aws_environment


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fake_aws_environment(monkeypatch, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Ec2Emulator]:
    """The EC2 + IMDS emulator over HTTP on loopback, on the test's fake clock."""
    with Ec2Emulator(region=REGION, clock=clock) as ec2:
        yield ec2
