"""End-to-end fixtures: whole sandboxes (emulators, fabric, real daemons, real plugin).

Each test module brings up the sandbox it needs (``sandbox_with``) and always tears it down;
skipped with a reason when not root or when iproute2/nft are missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from sandbox.cluster import Sandbox, SandboxOptions
from sandbox.kubelet import CniFailed, Pod


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    return f"needs {', '.join(missing)}" if missing else None


@pytest.fixture(scope="module")
def sandbox_with() -> Iterator[Callable[..., Sandbox]]:
    """Brings up a sandbox with the given options, after tearing down the one before (the
    EC2 emulator keeps moto's state, which is global to the process: one at a time)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    made: list[Sandbox] = []

    def make(**options: object) -> Sandbox:
        while made:
            made.pop().down()
        sandbox = Sandbox(SandboxOptions(**options))  # type: ignore[arg-type]
        made.append(sandbox)
        sandbox.__enter__()
        return sandbox

    try:
        yield make
    finally:
        for sandbox in made:
            sandbox.down()


def run_pods(sandbox: Sandbox, node: str, count: int) -> list[Pod]:
    """``count`` pods on ``node``; a failed ADD fails the test with the daemon's log."""
    where = sandbox.node(node)
    pods = []
    for n in range(count):
        try:
            pods.append(where.kubelet.run_pod(f"pod-{n}"))
        except CniFailed as failed:
            pytest.fail(f"{failed}\nvpc-ipamd on {node}:\n{where.daemon.tail(80)}")
    return pods
