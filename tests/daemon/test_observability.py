"""The real daemon's metrics and introspection, scraped over HTTP while pods come and go."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cni.errors import TRY_AGAIN_LATER, CniError
from cni.wire import RepairArgs
from sandbox.daemonhttp import HttpFailed, get
from tests.daemon.harness import Daemon, wait_until


def samples(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from a fresh scrape."""
    found = {}
    for family in text_string_to_metric_families(daemon.metrics()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(daemon: Daemon, name: str, **labels: str) -> float:
    return samples(daemon).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_pods_as_they_come_and_go(make_daemon: Callable[..., Daemon]):
    daemon = make_daemon(IP_COOLDOWN_PERIOD="30")
    daemon.start()
    wait_until("a warm pool", lambda: value(daemon, "vpcipam_addresses", state="available") > 0)
    assert value(daemon, "vpcipam_interfaces_max") == 3  # m5.large
    assert value(daemon, "vpcipam_max_pods") == 29
    assert value(daemon, "vpcipam_build_info", provider="aws", version=_version(daemon)) == 1

    addresses = [daemon.add(f"c{n}") for n in range(3)]
    assert value(daemon, "vpcipam_addresses", state="assigned") == 3
    assert value(daemon, "vpcipam_cni_requests_total", op="add", outcome="ok", code="0") == 3
    assert value(daemon, "vpcipam_cni_request_duration_seconds_count", op="add", outcome="ok") == 3

    daemon.delete("c0", addresses[0])
    assert value(daemon, "vpcipam_addresses", state="assigned") == 2
    assert value(daemon, "vpcipam_addresses", state="cooling") == 1
    assert value(daemon, "vpcipam_cni_requests_total", op="del", outcome="ok", code="0") == 1

    # the pool grew through EC2 and says so: calls by action, and the loop's decisions
    assert value(daemon, "vpcipam_cloud_api_calls_total", action="AssignPrivateIpAddresses") >= 1
    assert value(daemon, "vpcipam_pool_actions_total", action="grow") >= 1
    assert value(daemon, "vpcipam_pool_decisions_total", outcome="grew") >= 1


def test_a_refused_add_is_counted_and_the_empty_pool_timed(make_daemon: Callable[..., Daemon]):
    daemon = make_daemon(MAX_ENI="1", VPC_IPAM_ADD_WAIT="0.5", IP_COOLDOWN_PERIOD="60")
    daemon.start()
    wait_until("the primary full", lambda: value(daemon, "vpcipam_addresses", state="total") == 9)
    for n in range(9):
        daemon.add(f"c{n}")
    with pytest.raises(CniError) as refused:
        daemon.add("c9")
    assert refused.value.code == TRY_AGAIN_LATER
    assert (
        value(daemon, "vpcipam_cni_requests_total", op="add", outcome="try_again", code="11") == 1
    )
    assert value(daemon, "vpcipam_pool_growth_blocked") == 1
    assert value(daemon, "vpcipam_pool_empty_seconds_total") > 0


def test_introspection_serves_the_pool_the_allocations_and_why(make_daemon: Callable[..., Daemon]):
    daemon = make_daemon(MAX_ENI="1", VPC_IPAM_ADD_WAIT="0.5")
    daemon.start()
    wait_until("the primary full", lambda: daemon.introspect("/v1/pool")["addresses"]["total"] == 9)
    socket_file = daemon.introspection.removeprefix("unix:")
    assert stat.S_IMODE(os.stat(socket_file).st_mode) == 0o600

    held = [daemon.add(f"c{n}") for n in range(9)]
    with pytest.raises(CniError):
        daemon.add("refused1")

    status = daemon.introspect("/v1/status")
    assert status["node"]["instance_id"] == daemon.node.instance_id
    assert status["addresses"] == {"total": 9, "assigned": 9, "cooling": 0, "available": 0}
    assert status["blocked"] and "limit" in status["blocked"]
    assert status["endpoints"]["metrics"] == daemon.metrics_address
    assert any(d["outcome"] == "grew" for d in status["decisions"])
    assert any(a["action"] == "AssignPrivateIpAddresses" for a in status["cloud"]["actions"])

    allocations = daemon.introspect("/v1/allocations")["allocations"]
    assert sorted(a["address"] for a in allocations) == sorted(held)
    assert {a["pod"]["name"] for a in allocations} == {f"pod-c{n}" for n in range(9)}

    wired = daemon.introspect("/v1/why?q=default/pod-c3")
    assert wired["verdict"] == "assigned"  # IPAM only: another plugin wires pods
    assert wired["allocation"]["address"] == held[3]

    refused = daemon.introspect("/v1/why?q=pod-refused1")
    assert refused["verdict"] == "refused"
    assert "limit" in " ".join(refused["details"])
    assert refused["requests"][-1]["code"] == TRY_AGAIN_LATER

    unknown = daemon.introspect("/v1/why?q=nobody-here")
    assert unknown["verdict"] == "unknown"

    settings = {s["variable"]: s for s in daemon.introspect("/v1/settings")["settings"]}
    assert settings["MAX_ENI"]["value"] == "1" and settings["MAX_ENI"]["source"] == "env"


def test_introspection_refuses_what_it_does_not_serve(make_daemon: Callable[..., Daemon]):
    daemon = make_daemon()
    daemon.start()
    with pytest.raises(HttpFailed, match="404"):
        get(daemon.introspection, "/v1/nothing")
    with pytest.raises(HttpFailed, match="400"):
        get(daemon.introspection, "/v1/why")
    assert "/v1/status" in daemon.introspect("/")["endpoints"]


def test_metrics_and_introspection_can_be_turned_off(make_daemon: Callable[..., Daemon]):
    daemon = make_daemon(DISABLE_METRICS="true", DISABLE_INTROSPECTION="true")
    daemon.start()
    with pytest.raises(HttpFailed):
        daemon.metrics()
    assert not os.path.exists(daemon.introspection.removeprefix("unix:"))
    assert daemon.health()["ok"] is True


def _version(daemon: Daemon) -> str:
    for family in text_string_to_metric_families(daemon.metrics()):
        if family.name == "vpcipam_build_info":
            return str(family.samples[0].labels["version"])
    raise AssertionError("no vpcipam_build_info")


def test_the_doctor_finds_what_ec2_and_the_checkpoint_disagree_on_and_repairs_the_safe(
    make_daemon: Callable[..., Daemon],
):
    daemon = make_daemon(VPC_IPAM_RECONCILE_INTERVAL="3600", WARM_IP_TARGET="2")
    daemon.start()
    wait_until("a warm pool", lambda: daemon.introspect("/v1/pool")["addresses"]["total"] >= 2)
    held = daemon.add("c1")
    # the pool tops itself up behind the ADD: let it settle first, or its grow races the
    # unassign below and EC2 hands the address straight back to it
    wait_until(
        "the pool topped up",
        lambda: (
            daemon.introspect("/v1/pool")["addresses"]["total"] >= 3
            and len(daemon.node.interfaces()[0]["PrivateIpAddresses"]) >= 4
        ),
    )
    ec2 = daemon.node.emulator.client()
    primary = daemon.node.interfaces()[0]["NetworkInterfaceId"]
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=primary, PrivateIpAddresses=[held])
    # a named address: EC2 would hand the lowest free one, the one just taken, straight back
    ec2.assign_private_ip_addresses(NetworkInterfaceId=primary, PrivateIpAddresses=["10.0.1.200"])

    def found() -> set[str]:
        return {f["kind"] for f in daemon.introspect("/v1/doctor")["findings"]}

    # an allocation is judged once it is a few seconds old (an ADD may still be wiring it)
    try:
        wait_until("the doctor's findings", lambda: len(found()) == 2, timeout=20)
    except AssertionError:
        raise AssertionError(
            (
                daemon.introspect("/v1/doctor"),
                held,
                daemon.introspect("/v1/pool")["interfaces"],
                daemon.node.interfaces()[0]["PrivateIpAddresses"],
            )
        ) from None
    report = daemon.introspect("/v1/doctor")
    kinds = {f["kind"]: f for f in report["findings"]}
    assert kinds["address-not-in-cloud"]["address"] == held
    assert kinds["address-not-in-cloud"]["safe"] is False
    assert kinds["block-not-in-pool"]["safe"] is True
    assert report["dataplane"] == "none" and report["cloud_checked_at"]

    ids = tuple(f["id"] for f in report["findings"])
    answer: dict[str, Any] = daemon.call("repair", RepairArgs(findings=ids))
    assert [r["kind"] for r in answer["repaired"]] == ["block-not-in-pool"]
    assert [s["kind"] for s in answer["skipped"]] == ["address-not-in-cloud"]
    left = daemon.introspect("/v1/doctor")["findings"]
    assert answer["findings_left"] == len(left)
    assert "block-not-in-pool" not in {f["kind"] for f in left}
