"""Fixtures of the provider contract suite: one ``backend`` per back end, per node shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.providers.backends import FACTORIES, Backend, NodeSpec


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
