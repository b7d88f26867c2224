"""The simulated node: FIFO waits, cooldown, pods that leave before they get an address."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.unit.warmpool.sim.support import node, trace
from warmpool.sim import OURS, ClientModel, CloudModel, Cluster, SimNode
from warmpool.sim.engine import Proc


@dataclass(frozen=True)
class Fixed:
    """A policy that gives the primary interface ``blocks`` blocks at start, then nothing."""

    blocks: int
    name: str = "fixed"
    default_client: ClientModel = OURS

    def attach(self, node: SimNode, cloud: CloudModel) -> Proc:
        node.add_blocks(node.interfaces[0], self.blocks)
        yield 0.0


def run(blocks: int, events: list[tuple[float, str, str]], until: float, cooldown: float = 30.0):
    cluster = Cluster(Fixed(blocks), node(cooldown=cooldown))
    cluster.replay(trace(*events, horizon=until))
    cluster.run(until)
    n = cluster.nodes["node-0"]
    n.finish()
    return n, cluster


def test_waiting_pods_are_served_first_come_first_served_once_cooldowns_end():
    events = [(1.0, "a", "add"), (2.0, "b", "add"), (3.0, "c", "add"), (4.0, "d", "add")]
    events += [(10.0, "a", "del"), (20.0, "b", "del")]
    n, _ = run(2, events, until=100.0)
    # a's address is usable again at 40 and goes to c; b's at 50 goes to d
    assert n.metrics.waits == [0.0, 0.0, pytest.approx(37.0), pytest.approx(46.0)]
    assert n.waiting == 0


def test_without_cooldown_a_freed_address_serves_at_once():
    events = [(1.0, "a", "add"), (2.0, "b", "add"), (10.0, "a", "del")]
    n, _ = run(1, events, until=100.0, cooldown=0.0)
    assert n.metrics.waits == [0.0, pytest.approx(8.0)]


def test_a_pod_deleted_while_waiting_counts_as_unserved():
    n, _ = run(0, [(1.0, "a", "add"), (5.0, "a", "del"), (6.0, "b", "add")], until=10.0)
    assert n.metrics.waits == []
    assert n.metrics.unserved_waits == [pytest.approx(4.0), pytest.approx(4.0)]  # b at the end


def test_an_add_is_idempotent():
    n, _ = run(3, [(1.0, "a", "add")], until=10.0)
    n.pod_add("a")  # a runtime retrying its ADD (a trace may not say it twice)
    assert n.metrics.pods == 1 and n.metrics.waits == [0.0]


def test_idle_addresses_are_integrated_over_time():
    _, cluster = run(4, [(5.0, "a", "add")], until=10.0)
    assert cluster.idle.mean(10.0) == pytest.approx((4 * 5 + 3 * 5) / 10)
    assert cluster.idle.series(10.0, 3) == ((0.0, 4), (5.0, 3), (10.0, 3))


def test_a_cooling_address_is_idle_and_a_block_with_one_is_not_releasable():
    n, cluster = run(1, [(1.0, "a", "add"), (2.0, "a", "del")], until=10.0)
    block = n.interfaces[0].blocks[0]
    assert block.assigned == 0 and len(block.cooling) == 1 and block.free == 0
    assert cluster.idle.value == 1
    assert n.remove_blocks(n.interfaces[0], [block.cidr], cooling_ok=False) == 0
    assert n.remove_blocks(n.interfaces[0], [block.cidr], cooling_ok=True) == 1
    assert cluster.idle.value == 0
