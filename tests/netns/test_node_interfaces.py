"""The kernel follows the datastore: an interface serves pods only once its link is set up."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from ipamd.dataplane.node import NodeDataplane
from ipamd.datastore import Datastore, PoolEmpty
from ipamd.model import AllocationKey, PodRef
from ipamd.nodenet import NodeInterfaces
from providers.models import AddressBlock, CloudInterface
from tests.netns.conftest import ip
from tests.netns.test_node_setup import show

PRIMARY = CloudInterface(
    id="eni-0",
    mac="02:00:00:00:01:10",
    device_index=0,
    primary=True,
    subnet_id="subnet-1",
    subnet_cidr=IPv4Network("10.0.1.0/24"),
    primary_ip=IPv4Address("10.0.1.10"),
)
SECONDARY = CloudInterface(
    id="eni-1",
    mac="02:00:00:00:01:11",
    device_index=1,
    primary=False,
    subnet_id="subnet-1",
    subnet_cidr=IPv4Network("10.0.1.0/24"),
    primary_ip=IPv4Address("10.0.1.20"),
    blocks=(AddressBlock(IPv4Network("10.0.1.21/32")),),
)
KEY = AllocationKey("net", "c1", "eth0")


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> Datastore:
    held = Datastore(cooldown=0, serving_prefixlen=32, wire_interfaces=True)
    held.add_interface(PRIMARY)  # no blocks: pods can only go to the secondary
    held.add_interface(SECONDARY)
    return held


def secondary_rules(netns: str) -> list[dict[str, object]]:
    return [r for r in show(netns, "rule") if r.get("priority") == 1536]


def test_an_interface_serves_pods_only_after_its_link_is_set_up(netns: str, store: Datastore):
    ticks = Ticks()
    keeper = NodeInterfaces(
        NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=netns), store, clock=ticks
    )
    keeper.learn([PRIMARY, SECONDARY])

    assert keeper.sync() == 0  # the attachment has not surfaced as a link yet
    assert list(keeper.pending) == ["eni-1"]
    with pytest.raises(PoolEmpty):
        store.assign(KEY, PodRef())
    ticks.now = 12
    assert keeper.waiting() == "eni-1 has no link in the kernel yet (waiting 12s)"

    ip(netns, "link", "add", "eth1", "address", SECONDARY.mac, "type", "veth", "peer", "name", "x1")
    assert keeper.sync() == 1
    assert not keeper.pending
    assert keeper.waiting() is None
    assert store.assign(KEY, PodRef()).address == IPv4Address("10.0.1.21")
    assert keeper.table_for("eni-1") == 2 and keeper.table_for("eni-0") is None
    assert secondary_rules(netns) == [{"priority": 1536, "src": "10.0.1.20", "table": "2"}]
    assert keeper.sync() == 0  # nothing more to do; nothing done twice
    assert len(secondary_rules(netns)) == 1


def test_an_interface_the_node_gives_back_loses_its_table_and_rule(netns: str, store: Datastore):
    ip(netns, "link", "add", "eth1", "address", SECONDARY.mac, "type", "veth", "peer", "name", "x1")
    keeper = NodeInterfaces(NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=netns), store)
    keeper.learn([SECONDARY])
    assert keeper.sync() == 1

    store.remove_interface("eni-1")
    assert keeper.sync() == 0
    assert secondary_rules(netns) == []
    assert show(netns, "route", "show", "table", "2") == []


def test_an_interface_held_from_the_checkpoint_waits_for_a_cloud_view(netns: str, store: Datastore):
    ip(netns, "link", "add", "eth1", "address", SECONDARY.mac, "type", "veth", "peer", "name", "x1")
    keeper = NodeInterfaces(NodeDataplane(eni_mtu=9001, connmark=0x80, host_netns=netns), store)
    assert keeper.sync() == 0  # no MAC known for eni-1 yet: nothing to look for
    assert list(keeper.pending) == ["eni-1"]
    keeper.learn([SECONDARY])  # the next reconcile's view
    assert keeper.sync() == 1
    assert [v.wired for v in store.interfaces()] == [True, True]
