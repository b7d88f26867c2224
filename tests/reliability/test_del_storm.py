"""DEL storms while the daemon is down, then up: every pod of a node is deleted at once,
concurrently, through the real plugin (containerd's two DELs each) while vpc-ipamd is dead
(``kill -9``) or stopped; the plugin spools the releases and removes the veths. When the
daemon starts it drains the spool: the spool is empty, no allocation is left, no veth, route
or rule is left, every address the pods held is free again, and new pods get addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address

from sandbox.cluster import Sandbox
from tests.reliability.harness import Driver, Tally, deadline, report, settled_audit, size


def test_del_storms_with_the_daemon_down_are_drained_and_every_address_comes_back(
    sandbox_with: Callable[..., Sandbox],
):
    rounds = int(size("del_rounds", 2, 8))
    pods_per_round = int(size("del_pods", 12, 24))
    seconds = size("del_seconds", 90, 480)
    sandbox = sandbox_with(nodes=1, settings={"IP_COOLDOWN_PERIOD": "1"})
    node = sandbox.node("n1")
    daemon = node.daemon
    driver = Driver(sandbox, "n1", seed=int(time.time()))
    tally = Tally("DEL storm, daemon down")
    spooled_total = 0
    with ThreadPoolExecutor(max_workers=8) as pool, deadline(seconds) as time_left:
        for n in range(rounds):
            if not time_left():
                break
            started = list(pool.map(lambda _: driver.add(), range(pods_per_round)))
            pods = [p for p in started if p is not None]
            assert len(pods) == pods_per_round, driver.errors
            held = {IPv4Address(p.address) for p in pods}
            if n % 2 == 0:
                daemon.kill()  # SIGKILL, by its PID
            else:
                daemon.stop()  # SIGTERM: a clean stop
            tally.kills += n % 2 == 0
            tally.faults += n % 2 == 1
            assert all(pool.map(driver.delete, pods)), driver.errors
            spooled = sorted(daemon.spool.glob("*.json"))
            assert len(spooled) >= len(pods), "every DEL while down is spooled"
            spooled_total += len(spooled)
            daemon.start()
            assert list(daemon.spool.glob("*.json")) == [], "the spool is drained on start"
            found = settled_audit(sandbox, "n1")
            assert not found.problems(), "\n".join(found.problems())
            assert found.allocations == 0
            health = daemon.health()
            pool_addresses = {
                IPv4Address(b["cidr"].split("/")[0])
                for i in health["pool"]
                for b in i["blocks"]
                if b["assigned"] == 0
            }
            # every address the pods held is free again: in the pool unassigned, or given
            # back to EC2 by a pool shrinking (then no interface of the node holds it)
            in_cloud = {b.network_address for e in sandbox.interfaces("n1") for b in e.blocks}
            lost = {a for a in held if a in in_cloud and a not in pool_addresses}
            assert not lost, f"addresses held by nothing and free to nobody: {sorted(lost)}"
            assert health["addresses"]["assigned"] == 0
            tally.leaks += found.leaks
            tally.duplicates += len(found.duplicates)
        again = [p for p in pool.map(lambda _: driver.add(), range(4)) if p is not None]
        assert len(again) == 4, driver.errors  # the addresses serve new pods
    driver.delete_all()
    tally.operations = driver.operations
    tally.notes = {"rounds": rounds, "pods per round": pods_per_round, "spooled": spooled_total}
    report(tally)
