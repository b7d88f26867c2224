"""Fixtures of the provider contract suite: one ``backend`` per back end, per node shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.fake_aws import use_fake_aws_environment
from tests.providers.backends import FACTORIES, Backend, NodeSpec


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fake_aws_environment(monkeypatch, tmp_path)


@pytest.fixture(params=sorted(FACTORIES))
def make_backend(request: pytest.FixtureRequest) -> Iterator[Callable[..., Backend]]:
    """Builds a back end of the parametrized kind for a node spec; torn down after the test."""
    with ExitStack() as stack:

        def make(**spec: object) -> Backend:
            return stack.enter_context(FACTORIES[request.param](NodeSpec(**spec)))  # type: ignore[arg-type]

        yield make


@pytest.fixture
def backend(make_backend: Callable[..., Backend]) -> Backend:
    return make_backend()
