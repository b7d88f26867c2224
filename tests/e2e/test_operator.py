"""The operator's view of a sandbox node: ``vpc-ipamctl`` against real daemons.

``doctor`` finds faults injected into a node (an allocation whose veth is gone, a veth of
nobody, an address EC2 took back, an address routed to two attachments) and ``--repair``
fixes the safe ones; ``why`` explains a wired pod and pods refused at max pods and on a
full subnet; the daemon's metrics, scraped inside the node's namespace, follow its pods.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from ipaddress import IPv4Network
from typing import Any

import pytest

from ipamd.hostaudit import scan
from sandbox.cluster import Sandbox, SandboxNode
from sandbox.kubelet import CniFailed
from tests.daemon.harness import wait_until
from tests.e2e.conftest import run_pods

pytestmark = pytest.mark.netns

SETTLE = 30.0
VETH_PREFIX = "eni"  # AWS_VPC_K8S_CNI_VETHPREFIX's default


def ctl(node: SandboxNode, *args: str) -> subprocess.CompletedProcess[str]:
    """``vpc-ipamctl`` as an operator on the node runs it, pointed at this node's daemon."""
    daemon = node.daemon
    where = ["--introspection", daemon.introspection]
    if args[0] in {"doctor", "health"}:
        where += ["--socket", daemon.socket]
    return subprocess.run(
        [sys.executable, "-m", "ipamd.ctl", *args, *where],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def ip(netns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True, text=True)


def doctor_kinds(node: SandboxNode) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for finding in node.daemon.introspect("/v1/doctor")["findings"]:
        found.setdefault(finding["kind"], []).append(finding)
    return found


def test_doctor_finds_each_injected_fault_and_repair_fixes_the_safe_ones(
    sandbox_with: Callable[..., Sandbox],
):
    sandbox = sandbox_with(nodes=1, settings={"VPC_IPAM_RECONCILE_INTERVAL": "3600"})
    node = sandbox.node("n1")
    gone_veth, taken, doubled = run_pods(sandbox, "n1", 3, name="web")
    # the first reconciliation would take an address EC2 took back out of the pool: let it
    # pass before the faults, so the doctor sees them as they are
    wait_until(
        "the first reconciliation",
        lambda: node.daemon.introspect("/v1/pool")["reconciled_at"] is not None,
        SETTLE,
    )
    try:
        wait_until("a node the doctor finds healthy", lambda: doctor_kinds(node) == {}, SETTLE)
    except AssertionError:
        raise AssertionError(node.daemon.introspect("/v1/doctor")) from None

    # 1. an allocation whose veth is gone (someone deleted the pod's host side)
    veth = next(
        v.name
        for v in scan(VETH_PREFIX, netns=node.netns).veths
        if v.key is not None and v.key.container_id == gone_veth.container_id
    )
    ip(node.netns, "link", "del", veth)
    # 2. a veth of ours that no allocation holds (a DEL that never finished)
    ip(node.netns, "link", "add", "eniorphan0", "type", "veth", "peer", "name", "xorphan0")
    ip(node.netns, "link", "set", "eniorphan0", "alias", "vpc-ipam/v1 vpc-ipam 0rphan00 eth0")
    # 3. an address EC2 no longer assigns to this node
    eni = next(
        e["NetworkInterfaceId"]
        for e in sandbox.enis("n1")
        if any(a["PrivateIpAddress"] == taken.address for a in e["PrivateIpAddresses"])
    )
    sandbox.emulator.client().unassign_private_ip_addresses(
        NetworkInterfaceId=eni, PrivateIpAddresses=[taken.address]
    )
    # 4. one address routed to two attachments
    ip(node.netns, "link", "add", "enitwice0", "type", "veth", "peer", "name", "xtwice0")
    ip(node.netns, "link", "set", "enitwice0", "alias", "vpc-ipam/v1 vpc-ipam tw1ce000 eth0")
    ip(node.netns, "link", "set", "xtwice0", "up")
    ip(node.netns, "link", "set", "enitwice0", "up")  # a route needs its device up
    ip(node.netns, "route", "add", f"{doubled.address}/32", "dev", "enitwice0", "metric", "50")

    expected = {
        "allocation-without-veth",
        "veth-without-allocation",
        "address-not-in-cloud",
        "duplicate-address",
    }
    try:
        wait_until("the doctor to see every fault", lambda: set(doctor_kinds(node)) == expected, 20)
    except AssertionError:
        raise AssertionError(node.daemon.introspect("/v1/doctor")) from None
    found = doctor_kinds(node)
    assert found["allocation-without-veth"][0]["address"] == gone_veth.address
    assert "eniorphan0" in found["veth-without-allocation"][0]["subject"]
    assert found["address-not-in-cloud"][0]["address"] == taken.address
    assert found["duplicate-address"][0]["address"] == doubled.address
    assert {f["kind"] for fs in found.values() for f in fs if not f["safe"]} == {
        "address-not-in-cloud",
        "duplicate-address",
    }

    report = ctl(node, "doctor")
    assert report.returncode == 1, report.stderr
    for kind in expected:
        assert kind in report.stdout

    refused = ctl(node, "doctor", "--repair")  # no terminal, no --yes: nothing is changed
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert set(doctor_kinds(node)) == expected

    repaired = ctl(node, "doctor", "--repair", "--yes", "--json")
    assert repaired.returncode == 1, repaired.stderr  # the unsafe two are left for a person
    answer = json.loads(repaired.stdout)["repair"]
    assert {r["kind"] for r in answer["repaired"]} == {
        "allocation-without-veth",
        "veth-without-allocation",
    }
    assert answer["findings_left"] == 2
    assert set(doctor_kinds(node)) == {"address-not-in-cloud", "duplicate-address"}
    held = {a["address"] for a in node.daemon.introspect("/v1/allocations")["allocations"]}
    assert gone_veth.address not in held and doubled.address in held
    assert "eniorphan0" not in {v.name for v in scan(VETH_PREFIX, netns=node.netns).veths}


def test_why_explains_a_wired_pod_and_one_refused_at_max_pods(
    sandbox_with: Callable[..., Sandbox],
):
    sandbox = sandbox_with(nodes=1, kube=True, pods_capacity=3, settings={"VPC_IPAM_ADD_WAIT": "1"})
    node = sandbox.node("n1")
    wait_until(
        "max pods from the Node",
        lambda: node.daemon.introspect("/v1/pool")["limits"]["max_pods"] == 3,
        SETTLE,
    )
    pods = run_pods(sandbox, "n1", 3, name="web")
    with pytest.raises(CniFailed):
        node.kubelet.run_pod("web-refused")

    wired = ctl(node, "why", "default/web-0", "--json")
    assert wired.returncode == 0, wired.stderr
    answer = json.loads(wired.stdout)
    assert answer["verdict"] == "wired"
    assert answer["allocation"]["address"] == pods[0].address
    assert answer["wiring"]["route"] and answer["wiring"]["rule_to"]
    shown = ctl(node, "why", pods[0].container_id[:12])
    assert shown.returncode == 0 and pods[0].address in shown.stdout

    refused = ctl(node, "why", "web-refused", "--json")
    assert refused.returncode == 1
    answer = json.loads(refused.stdout)
    assert answer["verdict"] == "refused"
    assert "max pods" in " ".join(answer["details"])

    metrics = node.daemon.metrics()
    assert "vpcipam_max_pods 3.0" in metrics
    assert "vpcipam_kubernetes_api_connected 1.0" in metrics
    assert 'vpcipam_cni_requests_total{code="11",op="add",outcome="try_again"}' in metrics


def test_why_explains_a_pod_refused_because_the_subnet_is_full(
    sandbox_with: Callable[..., Sandbox],
):
    # a /28 has 11 usable addresses: the node's own, 9 on the primary ENI, and one more,
    # too few for a second ENI with its addresses
    sandbox = sandbox_with(
        nodes=1, subnet_cidr=IPv4Network("10.0.1.0/28"), settings={"VPC_IPAM_ADD_WAIT": "1"}
    )
    node = sandbox.node("n1")
    pods = run_pods(sandbox, "n1", 9, name="web")
    with pytest.raises(CniFailed):
        node.kubelet.run_pod("web-refused")

    refused = ctl(node, "why", "default/web-refused", "--json")
    assert refused.returncode == 1, refused.stderr
    answer = json.loads(refused.stdout)
    assert answer["verdict"] == "refused"
    assert "subnet has no room" in " ".join(answer["details"]), answer
    status = ctl(node, "status")
    assert status.returncode == 0, status.stderr
    assert "subnet has no room" in status.stdout
    assert pods[0].address in node.daemon.introspect("/v1/why?q=default/web-0")["summary"]
