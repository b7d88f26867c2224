"""The pool on a live node: a burst of pods makes the daemon attach ENIs, which appear as
links and serve pods; when the pods leave, the pool shrinks back to its target and the extra
ENIs are detached and deleted, their links, tables and rules gone with them."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.cluster import Sandbox
from tests.daemon.harness import wait_until
from tests.e2e.conftest import run_pods
from tests.netns.conftest import ip_json


def test_a_burst_attaches_an_eni_and_its_end_gives_it_back(sandbox_with: Callable[..., Sandbox]):
    sandbox = sandbox_with(nodes=1)
    node = sandbox.node("n1")
    assert len(sandbox.enis("n1")) == 1

    pods = run_pods(sandbox, "n1", 12)
    assert len({p.address for p in pods}) == 12
    enis = sandbox.enis("n1")
    assert len(enis) >= 2
    links = {x["ifname"] for x in ip_json(node.netns, "link")}
    assert {f"eth{e['Attachment']['DeviceIndex']}" for e in enis} <= links
    extra = {e["NetworkInterfaceId"] for e in enis[1:]}

    for pod in pods:
        node.kubelet.delete_pod(pod)
    wait_until("the pool to shrink back to one ENI", lambda: len(sandbox.enis("n1")) == 1, 60)
    emulator = sandbox.emulator
    assert emulator is not None

    def deleted() -> bool:  # not just detached: gone from the account
        left = emulator.client().describe_network_interfaces()["NetworkInterfaces"]
        return extra.isdisjoint({e["NetworkInterfaceId"] for e in left})

    wait_until("the extra ENIs to be deleted", deleted, 30)
    wait_until(
        "the extra ENIs' links to go",
        lambda: (
            {x["ifname"] for x in ip_json(node.netns, "link")} >= {"eth0"}
            and not any(
                x["ifname"].startswith("eth") and x["ifname"] != "eth0"
                for x in ip_json(node.netns, "link")
            )
        ),
    )
    # the daemon tears the ENI's table and rule down on the pool tick after its removal,
    # which may come a moment after the fabric has already taken the link away
    wait_until(
        "the extra ENIs' rules to go",
        lambda: [r for r in ip_json(node.netns, "rule") if r.get("priority") == 1536] == [],
        10,
    )
    health = node.daemon.health()
    assert health["addresses"]["assigned"] == 0 and health["interfaces"] == 1
