"""The doctor: each kind found on a broken node and not on its healthy twin, and repairs.

A node with two interfaces and three wired pods, past the grace period, is healthy. Its host
is a plain model (veths, routes, rules) the repairs really change, its datastore is real,
its checkpoint a MemoryCheckpoint; diagnosing again after a repair shows what it fixed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from ipaddress import IPv4Network
from typing import Any

import pytest

from ipamd.checkpoint import MemoryCheckpoint
from ipamd.dataplane.rtnl import FromRule
from ipamd.doctor import DoctorInputs, DoctorReport, Finding, diagnose
from ipamd.doctor_repair import repair
from ipamd.hostaudit import HostAudit, HostRoute, HostRule, HostVeth
from ipamd.model import Allocation, AllocationKey, PodRef
from ipamd.reconcile import apply, plan
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import block_list, cloud_iface, ip, key, new_store

VPC = IPv4Network("10.0.0.0/16")
SECONDARY_TABLE = 2


def from_rules(interface_id: str) -> list[FromRule]:
    return [] if interface_id == "eni-1" else [FromRule(VPC, SECONDARY_TABLE)]


def veth_name(k: AllocationKey) -> str:
    return "eni" + k.container_id.rsplit("-", 1)[-1]


class Node:
    """A datastore, the cloud's view, the host's wiring and the checkpoint of one node; it
    is also the RepairActions the repairs change it through (``fail`` makes one refuse)."""

    def __init__(self) -> None:
        self.clock = FakeClock(1_700_000_000.0)
        self.store = new_store(self.clock)
        self.cloud = [
            cloud_iface("eni-1", 0, "10.0.1.0/28"),
            cloud_iface("eni-2", 1, "10.0.2.0/28"),
        ]
        for iface in self.cloud:
            self.store.add_interface(iface)
        self.veths: dict[str, HostVeth] = {}
        self.routes: list[HostRoute] = []
        self.rules: list[HostRule] = []
        self.checkpoint = MemoryCheckpoint()
        self.journal: list[str] = []
        self.fail: dict[str, Exception] = {}
        for n in (1, 2):
            self.wire(self.store.assign(key(n), PodRef("default", f"web-{n}", "")))
        self.store.set_pods_allowed("eni-1", False)
        self.wire(self.store.assign(key(3), PodRef("default", "web-3", "")))
        self.store.set_pods_allowed("eni-1", True)
        self.clock.advance(60)
        self.save()

    def held(self, n: int) -> Allocation:
        allocation = self.store.allocation(key(n))
        assert allocation is not None
        return allocation

    def unplug(self, name: str) -> None:
        """The veth is gone (its routes go with it, as in the kernel)."""
        del self.veths[name]
        self.routes = [r for r in self.routes if r.veth != name]

    def wire(self, allocation: Allocation, name: str | None = None) -> None:
        name = name or veth_name(allocation.key)
        self.veths[name] = HostVeth(name, len(self.veths) + 10, allocation.key, "UP")
        self.routes.append(HostRoute(allocation.address, name, 0))
        self.add_missing_rules(allocation)

    def add_missing_rules(self, allocation: Allocation) -> None:
        wanted = [HostRule(allocation.address, 512, 254)] + [
            HostRule(allocation.address, 1536, r.table, r.dst)
            for r in from_rules(allocation.interface_id)
        ]
        self.rules += [r for r in wanted if r not in self.rules]

    def save(self) -> None:
        self.checkpoint.save(self.state())

    def unroute(self, address: str) -> None:
        self.routes = [r for r in self.routes if r.address != ip(address)]

    def state(self) -> dict[str, Any]:
        return {"node": {"instance_id": "i-1"}, "datastore": self.store.to_state()}

    def inputs(self, **changes: Any) -> DoctorInputs:
        audit = HostAudit(tuple(self.veths.values()), tuple(self.routes), tuple(self.rules))
        inputs = DoctorInputs(
            allocations=self.store.allocations(),
            interfaces=self.store.interfaces(),
            cloud=self.cloud,
            host=audit,
            checkpoint=self.checkpoint.load(),
            memory=self.state(),
            from_rules=from_rules,
            now=self.clock(),
        )
        return dataclasses.replace(inputs, **changes)

    def diagnose(self, **changes: Any) -> DoctorReport:
        return diagnose(self.inputs(**changes))

    # -- RepairActions --------------------------------------------------------------------
    def _do(self, what: str) -> None:
        if what in self.fail:
            raise self.fail[what]
        self.journal.append(what)

    def release(self, allocation: Allocation) -> None:
        self._do("release")
        self.store.release(allocation.key)

    def reconcile(self) -> None:
        self._do("reconcile")
        apply(self.store, plan(self.store.interfaces(), self.cloud), lambda _: True, self.cloud)

    def persist(self) -> None:
        self._do("persist")
        self.save()

    def delete_veth(self, name: str) -> None:
        self._do("delete_veth")
        self.unplug(name)

    def delete_rule(self, rule: HostRule) -> None:
        self._do("delete_rule")
        self.rules.remove(rule)

    def add_rules(self, allocation: Allocation) -> None:
        self._do("add_rules")
        self.add_missing_rules(allocation)


def kinds(report: DoctorReport) -> list[tuple[str, str | None]]:
    return [(f.kind, f.address) for f in report.findings]


def only(report: DoctorReport, kind: str) -> Finding:
    found = [f for f in report.findings if f.kind == kind]
    assert len(found) == 1, kinds(report)
    return found[0]


@pytest.fixture
def node() -> Node:
    return Node()


def test_a_healthy_node_has_no_findings(node: Node):
    report = node.diagnose()
    assert report.findings == ()
    assert report.to_json() == {
        "dataplane": "kernel",
        "checked": {
            "allocations": 3,
            "veths": 3,
            "rules": 4,
            "cloud_interfaces": 2,
            "cloud_blocks": 2,
        },
        "findings": [],
        "not_checked": [],
    }


def test_an_allocation_whose_veth_is_gone_is_found_and_released(node: Node):
    node.unplug("eni1")
    finding = only(node.diagnose(), "allocation-without-veth")
    assert finding.to_json() == {
        "id": finding.id,
        "kind": "allocation-without-veth",
        "safe": True,
        "address": "10.0.1.0",
        "subject": "pod-net/container-1/eth0 (default/web-1)",
        "detail": "the checkpoint gives 10.0.1.0 to pod-net/container-1/eth0 (default/web-1) "
        "but no veth of ours carries it",
        "repair": "release 10.0.1.0 (it cools down before reuse)",
    }
    result = repair(node.diagnose(), [finding.id], node)
    assert result.to_json()["repaired"] == [
        {"id": finding.id, "kind": "allocation-without-veth", "action": "released 10.0.1.0"}
    ]
    assert node.store.allocation(key(1)) is None
    assert node.journal == ["release", "persist"]
    # its rule 512 is left over now, and the release is still in flight (cooling)
    assert node.diagnose().findings == ()
    node.clock.advance(31)
    assert kinds(node.diagnose()) == [("rule-without-allocation", "10.0.1.0")]


def test_an_allocation_whose_own_veth_exists_without_a_route_is_not_released(node: Node):
    node.unroute("10.0.1.0")
    assert node.diagnose().findings == ()


def test_recovered_placeholders_are_not_judged_by_their_keys(node: Node):
    placeholder = AllocationKey("", "recovered-enidead", "")
    block = IPv4Network("10.0.1.0/28")
    recovered = Allocation(placeholder, PodRef(), ip("10.0.1.7"), "eni-1", block, 0.0, True)
    node.store.restore_allocation(recovered)
    node.save()
    # its veth's alias names the real attachment, not the placeholder
    node.wire(dataclasses.replace(recovered, key=key(77)), name="enidead")
    assert node.diagnose().findings == ()
    node.unplug("enidead")  # gone: still not "without veth" (only its rules remain)
    assert node.diagnose().findings == ()


def test_a_veth_no_allocation_holds_is_deleted_with_its_rules(node: Node):
    stale = Allocation(key(9), PodRef(), ip("10.0.1.9"), "eni-1", IPv4Network("10.0.1.0/28"), 0)
    node.wire(stale)
    finding = only(node.diagnose(), "veth-without-allocation")
    assert (finding.address, finding.subject) == (
        "10.0.1.9",
        "veth eni9 (pod-net/container-9/eth0)",
    )
    assert finding.repair == "delete the veth eni9 and the rules of 10.0.1.9"
    result = repair(node.diagnose(), [finding.id], node)
    assert [r.action for r in result.repaired] == [
        "deleted the veth eni9; deleted rule 512 'to 10.0.1.9 lookup main'"
    ]
    assert node.journal == ["delete_veth", "delete_rule"]
    assert node.diagnose().findings == ()


def test_a_veth_without_a_readable_alias_is_ours_only_when_it_routes_a_pod(node: Node):
    node.veths["enix"] = HostVeth("enix", 99, None, "DOWN")
    assert node.diagnose().findings == ()
    node.routes.append(HostRoute(ip("10.0.1.12"), "enix", 0))
    finding = only(node.diagnose(), "veth-without-allocation")
    assert (finding.subject, finding.address) == ("veth enix (no alias of ours)", "10.0.1.12")
    # routing an address someone holds, it is neither a leftover nor a contradiction
    node.unroute("10.0.1.12")
    node.unroute("10.0.1.1")
    node.routes.append(HostRoute(ip("10.0.1.1"), "enix", 0))
    assert node.diagnose().findings == ()


def test_a_rule_for_an_address_nobody_holds_or_routes_is_deleted(node: Node):
    node.rules.append(HostRule(ip("10.0.2.5"), 1536, 2, VPC))
    finding = only(node.diagnose(), "rule-without-allocation")
    assert finding.subject == "rule 1536 'from 10.0.2.5 to 10.0.0.0/16 lookup 2'"
    repair(node.diagnose(), [finding.id], node)
    assert node.diagnose().findings == ()


def test_the_rule_of_a_secondary_interfaces_own_address_is_the_nodes_not_a_leftover(node: Node):
    node.rules.append(HostRule(ip("10.0.0.11"), 1536, 2))  # eni-2's own address, its table
    assert node.diagnose().findings == ()


def test_missing_rules_of_wired_pods_are_found_and_added(node: Node):
    node.rules.remove(HostRule(ip("10.0.1.1"), 512, 254))
    node.rules.remove(HostRule(ip("10.0.2.0"), 1536, 2, VPC))
    report = node.diagnose()
    assert kinds(report) == [("missing-rule", "10.0.1.1"), ("missing-rule", "10.0.2.0")]
    assert report.findings[1].detail == (
        "pod-net/container-3/eth0 (default/web-3) is wired on eni3 but lacks "
        "rule 1536 'from 10.0.2.0 to 10.0.0.0/16 lookup 2'"
    )
    assert kinds(node.diagnose(from_rules=None)) == [("missing-rule", "10.0.1.1")]
    result = repair(report, [f.id for f in report.findings], node)
    assert len(result.repaired) == 2 and result.findings_left == 0
    assert node.diagnose().findings == ()


def test_an_address_whose_block_left_the_node_is_not_safe_to_repair(node: Node):
    node.cloud[1] = dataclasses.replace(node.cloud[1], blocks=())
    finding = only(node.diagnose(), "address-not-in-cloud")
    assert (finding.address, finding.safe) == ("10.0.2.0", False)
    assert finding.repair == "delete the pod; its address may belong to another node now"
    # a block with a pod is the pod's finding, not an empty block's
    assert "block-not-in-cloud" not in [k for k, _ in kinds(node.diagnose())]
    result = repair(node.diagnose(), [finding.id], node)
    assert result.to_json()["skipped"] == [
        {
            "id": finding.id,
            "kind": "address-not-in-cloud",
            "reason": "not safe to repair automatically",
        }
    ]
    assert node.journal == [] and node.store.allocation(key(3)) is not None


def test_an_empty_block_the_cloud_took_back_is_dropped_by_reconcile(node: Node):
    node.store.add_blocks("eni-2", block_list("10.0.3.0/28"))
    node.save()
    finding = only(node.diagnose(), "block-not-in-cloud")
    assert (finding.address, finding.subject) == ("10.0.3.0/28", "10.0.3.0/28 of eni-2")
    result = repair(node.diagnose(), [finding.id], node)
    assert node.journal == ["reconcile", "persist"]
    assert result.findings_left == 0 and node.diagnose().findings == ()


def test_blocks_of_a_young_interface_are_not_judged(node: Node):
    node.store.add_interface(cloud_iface("eni-3", 2, "10.0.5.0/28"))
    node.save()
    assert node.diagnose().findings == ()
    node.clock.advance(31)
    assert kinds(node.diagnose()) == [("block-not-in-cloud", "10.0.5.0/28")]


def test_blocks_the_cloud_gave_that_the_pool_lacks_are_adopted(node: Node):
    node.cloud[1] = dataclasses.replace(
        node.cloud[1], blocks=block_list("10.0.2.0/28", "10.0.4.0/28")
    )
    node.cloud.append(cloud_iface("eni-3", 2, "10.0.6.0/28", "10.0.0.12/32"))  # own address
    expected = [("block-not-in-pool", "10.0.4.0/28"), ("block-not-in-pool", "10.0.6.0/28")]
    assert kinds(node.diagnose()) == expected
    node.cloud[2] = cloud_iface("eni-3", 2, "10.0.6.0/28")  # else reconcile refuses eni-3
    report = node.diagnose()
    assert kinds(report) == expected
    result = repair(report, [f.id for f in report.findings], node)
    assert node.journal == ["reconcile", "persist"]
    assert [r.action for r in result.repaired] == [
        "reconciled with the cloud (10.0.4.0/28 of eni-2)",
        "reconciled with the cloud (10.0.6.0/28 of eni-3)",
    ]
    assert node.diagnose().findings == ()


def test_an_address_routed_to_two_veths_is_a_duplicate(node: Node):
    node.veths["enix"] = HostVeth("enix", 99, key(8), "UP")
    node.routes.append(HostRoute(ip("10.0.1.1"), "enix", 10))
    report = node.diagnose()
    finding = only(report, "duplicate-address")
    assert (finding.address, finding.safe) == ("10.0.1.1", False)
    assert finding.detail == "10.0.1.1 is routed to 2 veths: eni2, enix"
    assert kinds(report) == [("duplicate-address", "10.0.1.1")]  # enix is not a leftover


def test_an_allocation_routed_to_another_attachments_veth_is_a_duplicate(node: Node):
    node.veths["enix"] = HostVeth("enix", 99, key(8), "UP")
    node.unroute("10.0.1.1")
    node.routes.append(HostRoute(ip("10.0.1.1"), "enix", 0))
    finding = only(node.diagnose(), "duplicate-address")
    assert finding.detail == (
        "the checkpoint gives 10.0.1.1 to pod-net/container-2/eth0 (default/web-2), but it is "
        "routed to veth enix (pod-net/container-8/eth0)"
    )
    assert len(node.diagnose().findings) == 1
    # a veth with no readable alias does not contradict the allocation
    node.veths["enix"] = HostVeth("enix", 99, None, "UP")
    assert node.diagnose().findings == ()


def test_two_allocations_of_one_address_are_a_duplicate(node: Node):
    twin = dataclasses.replace(node.held(1), key=key(5), pod=PodRef("default", "web-5", ""))
    report = node.diagnose(allocations=[*node.store.allocations(), twin])
    assert only(report, "duplicate-address").subject == (
        "10.0.1.0: pod-net/container-1/eth0 (default/web-1), "
        "pod-net/container-5/eth0 (default/web-5)"
    )


def test_a_checkpoint_behind_the_daemon_is_written(node: Node):
    node.store.assign(key(4), PodRef("default", "web-4", ""))
    node.wire(node.held(4))
    assert node.diagnose().findings == ()  # an ADD may be writing it right now
    node.clock.advance(31)
    finding = only(node.diagnose(), "checkpoint-differs")
    assert finding.detail == (
        "the checkpoint on disk is not what the daemon holds: "
        "10.0.1.2 of pod-net/container-4/eth0 is missing on disk"
    )
    repair(node.diagnose(), [finding.id], node)
    assert node.journal == ["persist"] and node.diagnose().findings == ()


def test_a_cooldown_that_ended_since_the_last_write_is_no_difference(node: Node):
    node.store.release(key(2))
    node.unplug("eni2")
    node.rules = [r for r in node.rules if r.address != ip("10.0.1.1")]
    node.save()
    node.clock.advance(31)  # the cooldown (30 s) is over: the daemon no longer lists it
    assert node.diagnose().findings == ()


def test_a_missing_or_unreadable_checkpoint_differs(node: Node):
    assert only(node.diagnose(checkpoint=None), "checkpoint-differs").detail.endswith(
        "there is no checkpoint on disk"
    )
    assert "cannot be read" in only(node.diagnose(checkpoint={"x": 1}), "checkpoint-differs").detail


def test_young_allocations_and_fresh_releases_are_never_judged(node: Node):
    young = node.store.assign(key(4), PodRef())
    node.store.release(key(1))
    node.save()
    # key 4 has no veth yet (ADD wiring), key 1's veth is still there (DEL unwiring)
    assert node.diagnose().findings == ()
    node.clock.advance(29)
    assert node.diagnose().findings == ()
    node.clock.advance(2)
    assert kinds(node.diagnose()) == [
        ("allocation-without-veth", str(young.address)),
        ("veth-without-allocation", "10.0.1.0"),
    ]


def test_without_a_host_or_a_cloud_their_kinds_are_skipped(node: Node):
    node.unplug("eni1")
    node.cloud.clear()
    report = node.diagnose(host=None, cloud=None)
    assert report.findings == ()
    document = report.to_json()
    assert document["dataplane"] == "none"
    assert document["checked"] == {
        "allocations": 3,
        "veths": None,
        "rules": None,
        "cloud_interfaces": None,
        "cloud_blocks": None,
    }
    assert document["not_checked"] == [
        "host wiring: the dataplane is none",
        "cloud: the cloud view is unavailable",
    ]


def test_ids_are_stable_and_findings_sorted_by_kind_then_address(node: Node):
    for address in ("10.0.1.9", "10.0.1.10"):
        node.rules.append(HostRule(ip(address), 512, 254))
    node.unplug("eni3")
    first, again = node.diagnose(), node.diagnose()
    assert kinds(first) == [
        ("allocation-without-veth", "10.0.2.0"),
        ("rule-without-allocation", "10.0.1.9"),
        ("rule-without-allocation", "10.0.1.10"),
    ]
    assert [f.id for f in first.findings] == [f.id for f in again.findings]
    for finding in first.findings:
        digest = hashlib.sha256((finding.kind + finding.subject).encode()).hexdigest()
        assert finding.id == digest[:12]
    assert len({f.id for f in first.findings}) == 3


def test_repairs_run_host_first_then_releases_then_one_reconcile_and_one_write(node: Node):
    node.unplug("eni1")  # allocation-without-veth
    node.rules.append(HostRule(ip("10.0.1.12"), 512, 254))  # rule-without-allocation
    node.store.add_blocks("eni-2", block_list("10.0.3.0/28"))  # block-not-in-cloud
    node.cloud[0] = dataclasses.replace(
        node.cloud[0], blocks=block_list("10.0.1.0/28", "10.0.7.0/28")
    )
    report = node.diagnose()
    assert len(report.findings) == 5  # and checkpoint-differs
    repair(report, [f.id for f in reversed(report.findings)], node)
    assert node.journal == ["delete_rule", "release", "reconcile", "persist"]
    node.clock.advance(31)
    assert kinds(node.diagnose()) == [("rule-without-allocation", "10.0.1.0")]


def test_unknown_and_unsafe_ids_are_skipped_and_a_failure_stops_only_its_finding(node: Node):
    node.unplug("eni1")
    node.wire(Allocation(key(9), PodRef(), ip("10.0.1.9"), "eni-1", IPv4Network("10.0.1.0/28"), 0))
    node.rules.append(HostRule(ip("10.0.1.12"), 512, 254))
    node.cloud[1] = dataclasses.replace(node.cloud[1], blocks=())
    report = node.diagnose()
    node.fail["delete_veth"] = OSError("Operation not permitted")
    ids = ["feedc0ffee00", *(f.id for f in report.findings)]
    result = repair(report, ids, node)
    by_kind = {s.kind: s.reason for s in result.skipped}
    assert by_kind == {
        None: "no such finding now (gone, or repaired already)",
        "address-not-in-cloud": "not safe to repair automatically",
        "veth-without-allocation": "Operation not permitted",
    }
    assert [r.kind for r in result.repaired] == [
        "rule-without-allocation",
        "allocation-without-veth",
    ]
    assert result.findings_left == 2
    assert node.journal == ["delete_rule", "release", "persist"]


def test_a_failed_checkpoint_write_is_reported(node: Node):
    node.unplug("eni1")
    node.store.assign(key(4), PodRef())
    node.clock.advance(31)
    node.wire(node.held(4))
    report = node.diagnose()
    node.fail["persist"] = OSError("No space left on device")
    result = repair(report, [f.id for f in report.findings], node)
    assert [s.kind for s in result.skipped] == ["checkpoint-differs"]
    assert result.skipped[0].reason == "No space left on device"
    assert result.errors == ("writing the checkpoint failed: No space left on device",)
    assert [r.kind for r in result.repaired] == ["allocation-without-veth"]
