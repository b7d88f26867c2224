"""Start-up recovery: checkpoint, metadata, host and spool, and never a call to EC2."""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cni.spool import write_release
from ipamd.checkpoint import FileCheckpoint, MemoryCheckpoint
from ipamd.datastore import Datastore
from ipamd.hostview import HostPod
from ipamd.model import Allocation, AllocationKey, PodRef
from ipamd.persist import node_record
from ipamd.recovery import RecoveryReport, read_checkpoint, recover
from providers.fake import FakeProvider
from sandbox.clock import FakeClock

POD = PodRef("default", "web", "uid")


def key(n: int) -> AllocationKey:
    return AllocationKey("net", f"c{n}", "eth0")


def node_with_pods(pods: int) -> tuple[FakeProvider, FakeClock, dict[str, Any]]:
    """A node holding 5 addresses, ``pods`` of them given out, and its saved state."""
    clock = FakeClock(1_700_000_000.0)
    provider = FakeProvider(clock=clock)
    provider.grow(provider.discover().primary_interface_id, 5)
    store = Datastore(cooldown=30, serving_prefixlen=32, clock=clock)
    for iface in provider.cloud_interfaces():
        store.add_interface(iface)
    for n in range(pods):
        store.assign(key(n), POD)
    state = {"node": node_record(provider.discover()), "datastore": store.to_state()}
    return provider, clock, state


def run(
    provider: FakeProvider,
    clock: FakeClock,
    state: dict[str, Any] | None,
    tmp_path: Path,
    host: list[HostPod] | None = None,
    cleared: list[IPv4Address] | None = None,
    rules: list[IPv4Address] | None = None,
) -> tuple[Datastore, RecoveryReport]:
    provider.calls.clear()
    return recover(
        state=state,
        checkpoint=MemoryCheckpoint(),
        provider=provider,
        pods_allowed=lambda iface: True,
        host_pods=host,
        spool_dir=tmp_path / "spool",
        cooldown=30,
        clock=clock,
        clear_rules=(cleared if cleared is not None else []).extend,  # never the test's host
        rule_addresses=lambda: list(rules or []),
    )


def test_restores_allocations_without_asking_the_cloud_api(tmp_path: Path):
    provider, clock, state = node_with_pods(3)
    store, report = run(provider, clock, state, tmp_path)
    assert [a.key for a in store.allocations()] == [key(0), key(1), key(2)]
    assert store.counts().total == 5
    assert report.checkpoint == "restored"
    assert {name for name, _ in provider.calls} <= {"discover", "local_interfaces"}


def test_a_checkpoint_of_another_instance_is_not_trusted(tmp_path: Path):
    provider, clock, state = node_with_pods(3)
    state["node"] = {**state["node"], "instance_id": "i-someone-else"}
    store, report = run(provider, clock, state, tmp_path)
    assert store.allocations() == []
    assert store.counts().total == 5  # the node's addresses come from metadata anyway
    assert report.checkpoint == "lost"


def test_pods_gone_from_the_host_are_released_and_unknown_host_pods_taken_back(
    tmp_path: Path,
):
    provider, clock, state = node_with_pods(2)
    store_before = Datastore.from_state(
        state["datastore"],
        cooldown=30,
        serving_prefixlen=32,
        clock=clock,
    )
    kept = store_before.allocation(key(0))
    assert kept is not None
    free = sorted(
        b.cidr.network_address
        for i in provider.cloud_interfaces()
        for b in i.blocks
        if store_before.allocation_for(b.cidr.network_address) is None
    )
    host = [
        HostPod(kept.address, "eni0aaaa", key(0)),  # still wired
        HostPod(free[0], "eni0bbbb", key(7)),  # wired, but the checkpoint did not know it
        HostPod(free[1], "eni0cccc", None),  # wired, no alias: a placeholder takes it
    ]
    store, report = run(provider, clock, state, tmp_path, host)
    held = {a.address: a for a in store.allocations()}
    assert set(held) == {kept.address, free[0], free[1]}
    assert held[free[0]].key == key(7) and held[free[0]].recovered
    assert held[free[1]].key.container_id == "recovered-eni0cccc"
    assert [a.key for a in report.released_gone] == [key(1)]
    gone = store_before.allocation(key(1))
    assert gone is not None and store.is_cooling(gone.address)


def test_spooled_releases_are_drained_and_removed(tmp_path: Path):
    provider, clock, state = node_with_pods(3)
    write_release(tmp_path / "spool", network="net", container_id="c1", ifname="eth0")
    write_release(
        tmp_path / "spool",
        network="net",
        container_id="unknown",
        ifname="eth0",
        addresses=("10.0.1.99",),
    )
    store, report = run(provider, clock, state, tmp_path)
    assert [a.key for a in store.allocations()] == [key(0), key(2)]
    assert report.drained == 2
    assert list((tmp_path / "spool").glob("*.json")) == []


def test_a_spooled_address_held_by_another_pod_is_not_released(tmp_path: Path):
    provider, clock, state = node_with_pods(2)
    store_before = Datastore.from_state(
        state["datastore"],
        cooldown=30,
        serving_prefixlen=32,
        clock=clock,
    )
    other = store_before.allocation(key(1))
    assert other is not None
    write_release(
        tmp_path / "spool",
        network="net",
        container_id="old-pod",
        ifname="eth0",
        addresses=(str(other.address),),
    )
    store, _ = run(provider, clock, state, tmp_path)
    assert store.allocation(key(1)) == other


def test_corrupt_checkpoint_is_moved_aside_and_reported_lost(tmp_path: Path):
    path = tmp_path / "checkpoint.json"
    path.write_text("{not json")
    state, status = read_checkpoint(FileCheckpoint(path))
    assert (state, status) == (None, "lost")
    assert not path.exists()
    assert len(list(tmp_path.glob("checkpoint.json.corrupt-*"))) == 1


def test_inconsistent_checkpoint_state_is_quarantined(tmp_path: Path):
    provider, clock, state = node_with_pods(2)
    allocations = state["datastore"]["allocations"]
    allocations[1]["address"] = allocations[0]["address"]  # one address, two pods
    path = tmp_path / "checkpoint.json"
    FileCheckpoint(path).save(json.loads(json.dumps(state)))
    checkpoint = FileCheckpoint(path)
    loaded, _ = read_checkpoint(checkpoint)
    provider.calls.clear()
    store, report = recover(
        state=loaded,
        checkpoint=checkpoint,
        provider=provider,
        pods_allowed=lambda i: True,
        host_pods=None,
        spool_dir=tmp_path / "spool",
        cooldown=30,
        clock=clock,
    )
    assert report.checkpoint == "lost"
    assert store.allocations() == []
    assert len(list(tmp_path.glob("checkpoint.json.corrupt-*"))) == 1
    assert IPv4Address(allocations[0]["address"]) in {
        b.cidr.network_address for i in store.interfaces() for b in i.blocks
    }


def test_rules_of_addresses_released_while_down_are_deleted_unless_still_routed(
    tmp_path: Path,
):
    """The DEL fallback removes a pod's veth but not its rules 512/1536: recovery deletes the
    rules of every address it releases (pod gone from the host, or spooled), and only of
    those no veth routes any more."""
    provider, clock, state = node_with_pods(4)
    before = Datastore.from_state(state["datastore"], cooldown=30, serving_prefixlen=32)
    address = {n: before.allocation(key(n)).address for n in range(4)}  # type: ignore[union-attr]
    write_release(tmp_path / "spool", network="net", container_id="c2", ifname="eth0")
    host = [
        HostPod(address[0], "eni0aaaa", key(0)),  # still wired: kept, rules kept
        HostPod(address[2], "eni0cccc", key(2)),  # spooled, yet its veth still routes it
    ]
    # c1 and c3 are gone from the host; c2's release was spooled
    cleared: list[IPv4Address] = []
    store, report = run(provider, clock, state, tmp_path, host, cleared)
    assert {a.key for a in store.allocations()} == {key(0)}
    assert [a.key for a in report.released_spooled] == [key(2)]
    assert cleared == sorted([address[1], address[3]])
    assert report.rules_cleared == cleared


def test_without_the_kernel_dataplane_no_rule_is_touched(tmp_path: Path):
    provider, clock, state = node_with_pods(2)
    write_release(tmp_path / "spool", network="net", container_id="c1", ifname="eth0")
    cleared: list[IPv4Address] = []
    _, report = run(provider, clock, state, tmp_path, None, cleared)
    assert report.drained == 1 and cleared == [] and report.rules_cleared == []


def test_an_address_ec2_moved_while_down_from_a_gone_pod_is_taken_where_it_now_is(
    tmp_path: Path,
):
    # the checkpoint has the pod's address on eni-old (EC2 took it back after a kill during
    # its release); EC2 now has it on the primary interface, and the pod was deleted while
    # the daemon was down
    provider, clock, _ = node_with_pods(0)
    (cloud,) = provider.cloud_interfaces()
    moved = cloud.blocks[0]
    store = Datastore(cooldown=30, serving_prefixlen=32, clock=clock)
    store.add_interface(replace(cloud, blocks=cloud.blocks[1:]))
    old = replace(
        cloud,
        id="eni-old",
        mac="02:00:00:00:00:99",
        device_index=1,
        primary=False,
        primary_ip=IPv4Address("10.0.1.200"),
        blocks=(moved,),
    )
    store.add_interface(old)
    address = moved.cidr.network_address
    store.restore_allocation(Allocation(key(0), POD, address, "eni-old", moved.cidr, clock()))
    state = {"node": node_record(provider.discover()), "datastore": store.to_state()}

    restored, report = run(provider, clock, state, tmp_path, host=[])

    where = {b.cidr: i.id for i in restored.interfaces() for b in i.blocks}
    assert where[moved.cidr] == cloud.id
    assert restored.allocations() == []
    assert [a.key for a in report.released_gone] == [key(0)]


def test_rules_nothing_holds_are_cleared_and_the_rest_kept(tmp_path: Path):
    # a kill between an interface's release and its rule's removal left "from <its primary
    # address> lookup <its table>"; rules of live pods and held interfaces stay
    provider, clock, state = node_with_pods(1)
    (allocation,) = Datastore.from_state(
        state["datastore"], cooldown=30, serving_prefixlen=32, clock=clock
    ).allocations()
    (primary,) = provider.cloud_interfaces()
    gone = IPv4Address("10.0.1.250")
    cleared: list[IPv4Address] = []
    host = [HostPod(allocation.address, "eni123", allocation.key)]
    run(
        provider,
        clock,
        state,
        tmp_path,
        host,
        cleared,
        [allocation.address, primary.primary_ip, gone],
    )
    assert cleared == [gone]
