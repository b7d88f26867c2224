"""Fixtures for the Kubernetes API emulator suite: the emulator on loopback and the real
``kubernetes`` client's APIs pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from sandbox.kube import KubeEmulator


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def api_client(kube: KubeEmulator) -> Iterator[client.ApiClient]:
    api = kube.api_client()
    try:
        yield api
    finally:
        api.close()


# The client's models make every field Optional; the tests read them as ``Any`` rather than
# asserting non-None at each step.
@pytest.fixture
def core(api_client: client.ApiClient) -> Any:
    return client.CoreV1Api(api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> Any:
    return client.CustomObjectsApi(api_client)
