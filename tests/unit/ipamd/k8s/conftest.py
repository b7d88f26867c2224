"""Fixtures of the Kubernetes layer's tests: short watches and the API emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.kube import KubeEmulator


@pytest.fixture(autouse=True)
def short_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch the server does not end in a test ends in seconds, not minutes."""
    monkeypatch.setattr("ipamd.k8s.api.WATCH_SECONDS", 10)


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    """The emulator with another node in it: resourceVersions start above 0 (a watch from
    "0" means "from now", which would race the test's writes)."""
    with KubeEmulator() as emulator:
        emulator.add_node("node-b")
        yield emulator
