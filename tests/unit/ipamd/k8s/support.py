"""What the Kubernetes layer's tests share: the node they play, a bounded wait, settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from config import KubernetesSettings, load_config

NODE = "node-a"
WAIT = 5.0


def wait_until(what: str, condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def kube_settings(url: str, token_file: Path, **env: str) -> KubernetesSettings:
    """Settings of NODE's daemon against ``url`` (no token unless ``token_file`` exists)."""
    return load_config(
        {
            "MY_NODE_NAME": NODE,
            "VPC_IPAM_KUBE_API_SERVER": url,
            "VPC_IPAM_KUBE_TOKEN_FILE": str(token_file),
            **env,
        }
    ).settings.kubernetes
