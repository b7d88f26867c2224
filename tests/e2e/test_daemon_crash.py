"""kill -9 of a node's daemon while its pods run: their traffic keeps flowing (the kernel
holds the wiring, not the daemon), and the restarted daemon holds the same allocations and
serves new pods."""

from __future__ import annotations

import json
from collections.abc import Callable

from sandbox import checks
from sandbox.cluster import Sandbox
from tests.e2e.conftest import run_pods


def allocations(sandbox: Sandbox, node: str) -> set[str]:
    state = json.loads(sandbox.node(node).daemon.checkpoint.read_text())["state"]
    return {a["address"] for a in state["datastore"]["allocations"]}


def test_pods_keep_flowing_through_a_daemon_crash_and_the_restart_holds_them(
    sandbox_with: Callable[..., Sandbox],
):
    sandbox = sandbox_with(nodes=2)
    pods = {node: run_pods(sandbox, node, 3) for node in ("n1", "n2")}
    held = allocations(sandbox, "n1")
    assert held == {p.address for p in pods["n1"]}

    daemon = sandbox.node("n1").daemon
    daemon.kill()
    for client, server, here, there in (
        (pods["n1"][0], pods["n2"][0], "n1", "n2"),
        (pods["n2"][1], pods["n1"][1], "n2", "n1"),
    ):
        check = checks.pod_to_pod(client, server, here, there)
        assert check.ok, check.detail

    daemon.start()
    assert daemon.health()["addresses"]["assigned"] == 3
    assert allocations(sandbox, "n1") == held
    (new,) = run_pods(sandbox, "n1", 1)
    assert new.address not in held
    assert checks.pod_to_pod(new, pods["n2"][0], "n1", "n2").ok
