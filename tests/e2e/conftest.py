"""End-to-end fixtures: whole sandboxes (emulators, fabric, real daemons, real plugin).

Each test module brings up the sandbox it needs (``sandbox_with``) and always tears it down;
skipped with a reason when not root or when iproute2/nft are missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from sandbox.cluster import Sandbox
from sandbox.kubelet import CniFailed, Pod
from sandbox.options import SandboxOptions


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    return f"needs {', '.join(missing)}" if missing else None


class SandboxMaker:
    """``maker(**options)`` brings up a sandbox with those options, after tearing down the one
    before (the EC2 emulator keeps moto's state, which is global to the process: one at a
    time); ``maker.clear()`` tears down the current one (e.g. before a test runs the CLI)."""

    def __init__(self) -> None:
        self.made: list[Sandbox] = []

    def __call__(self, **options: object) -> Sandbox:
        self.clear()
        sandbox = Sandbox(SandboxOptions(**options))  # type: ignore[arg-type]
        self.made.append(sandbox)
        sandbox.__enter__()
        return sandbox

    def clear(self) -> None:
        while self.made:
            self.made.pop().down()


@pytest.fixture(scope="module")
def sandbox_with() -> Iterator[SandboxMaker]:
    """A ``SandboxMaker`` for the module; whatever it made is torn down at the end."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    maker = SandboxMaker()
    try:
        yield maker
    finally:
        maker.clear()


def run_pods(sandbox: Sandbox, node: str, count: int, name: str = "pod") -> list[Pod]:
    """``count`` pods on ``node`` named ``<name>-<n>``; a failed ADD fails the test with the
    daemon's log. (With Kubernetes, pod names are unique in a namespace: give each node its
    own ``name``.)"""
    where = sandbox.node(node)
    pods = []
    for n in range(count):
        try:
            pods.append(where.kubelet.run_pod(f"{name}-{n}"))
        except CniFailed as failed:
            pytest.fail(f"{failed}\nvpc-ipamd on {node}:\n{where.daemon.tail(80)}")
    return pods
