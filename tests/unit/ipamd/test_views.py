"""The daemon's state as introspection serves it: ``DaemonView`` over a real datastore and
pool loop on the in-memory provider (prefix mode, /28 blocks), a real ``CloudHealth`` and
``RequestLog``, all on one fake wall clock; the JSON shapes of docs/introspection.md."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

import pytest

import config.describe
from cni.errors import TRY_AGAIN_LATER, CniError
from cni.wire import PodArgs, Request
from config import LoadedConfig, load_config, load_settings
from config.table import VARIABLES
from ipamd.cloudhealth import CloudHealth
from ipamd.datastore import Datastore
from ipamd.decisions import Outcome
from ipamd.model import AllocationKey, PodRef
from ipamd.poolloop import LoopTiming, PoolLoop
from ipamd.pooltargets import pool_limits, pool_targets
from ipamd.reconcile import apply, plan
from ipamd.requestlog import RequestLog
from ipamd.views import STATUS_DECISIONS, DaemonView, stamp, version
from providers.errors import CapacityExhausted, CloudUnavailable
from providers.fake import FakeNode, FakeProvider
from providers.ratelimit import ClassStats, RateLimiterStats
from providers.retry import CallOutcome
from sandbox.clock import FakeClock

WALL = 1_700_000_000.0
WALL_STAMP = "2023-11-14T22:13:20.000Z"
COOLDOWN = 30.0
NETWORK = "vpc-ipam"
POD = PodRef("default", "web-1", "uid-1")
STATUS_KEYS = {
    "node",
    "version",
    "started_at",
    "uptime_seconds",
    "addresses",
    "limits",
    "targets",
    "blocked",
    "reconciled_at",
    "interfaces",
    "decisions",
    "cloud",
    "kubernetes",
    "endpoints",
}
POOL_KEYS = {"addresses", "limits", "targets", "blocked", "reconciled_at", "interfaces"}
INTERFACE_KEYS = {
    "id",
    "device_index",
    "primary",
    "primary_ip",
    "pods_allowed",
    "wired",
    "age_seconds",
    "blocks",
}
BLOCK_KEYS = {"cidr", "size", "assigned", "cooling", "free", "serving"}
ALLOCATION_KEYS = {
    "address",
    "interface_id",
    "block",
    "network",
    "container_id",
    "ifname",
    "pod",
    "assigned_at",
    "recovered",
}
REQUEST_KEYS = {
    "at",
    "op",
    "network",
    "container_id",
    "ifname",
    "pod",
    "code",
    "message",
    "seconds",
    "address",
}
DECISION_KEYS = {"at", "last_at", "repeats", "outcome", "actions", "reasons"}
CLOUD_KEYS = {"provider", "last_success_at", "last_error", "actions", "limiter", "recent_errors"}
ERROR_KEYS = {"at", "action", "code", "message"}


@dataclass
class Node:
    wall: FakeClock
    provider: FakeProvider
    store: Datastore
    pool: PoolLoop
    cloud: CloudHealth
    requests: RequestLog
    view: DaemonView

    def add_pods(self, *numbers: int) -> None:
        for n in numbers:
            self.store.assign(key(n), POD)

    def delete_pods(self, *numbers: int) -> None:
        for n in numbers:
            self.store.release(key(n))


def key(n: int) -> AllocationKey:
    return AllocationKey(NETWORK, f"c{n}", "eth0")


def make_node(
    env: Mapping[str, str] | None = None,
    *,
    loaded: LoadedConfig | None = None,
    started_at: float = WALL - 100,
    **view: Any,
) -> Node:
    settings = load_settings(
        {
            "VPC_IPAM_DATAPLANE": "none",
            "ENABLE_PREFIX_DELEGATION": "true",
            "WARM_PREFIX_TARGET": "1",
            **(env or {}),
        }
    )
    wall = FakeClock(WALL)
    node = FakeNode(subnet_cidr=IPv4Network("10.0.1.0/24"), block_prefixlen=28)
    provider = FakeProvider(node, clock=wall)
    store = Datastore(cooldown=COOLDOWN, serving_prefixlen=provider.block_prefixlen, clock=wall)
    for iface in provider.cloud_interfaces():
        store.add_interface(iface, created_at=WALL - 3600)
    info = provider.discover()
    pool = PoolLoop(
        store,
        provider,
        lambda: None,
        pool_limits(info.limits, settings, provider.block_prefixlen),
        pool_targets(settings),
        timing=LoopTiming(pool_interval=1, shrink_interval=30, reconcile_interval=3600),
        reconcile=lambda: apply(
            store, plan(store.interfaces(), provider.cloud_interfaces()), lambda _i: True
        ),
        clock=wall,
        wall_clock=wall,
    )
    cloud = CloudHealth("aws", wall_clock=wall)
    requests = RequestLog(clock=wall, wall_clock=wall)
    daemon_view = DaemonView(
        store,
        pool,
        info,
        "aws",
        loaded,
        cloud,
        requests,
        started_at=started_at,
        wall_clock=wall,
        **view,
    )
    return Node(wall, provider, store, pool, cloud, requests, daemon_view)


# -- stamp -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (WALL, WALL_STAMP),
        (WALL + 0.123456, "2023-11-14T22:13:20.123Z"),
        (WALL + 0.9999, "2023-11-14T22:13:20.999Z"),  # milliseconds cut, never rounded up
        (1_795_341_600.123, "2026-11-22T10:00:00.123Z"),  # the contract's example
    ],
)
def test_stamp_is_rfc3339_utc_with_milliseconds_and_z(wall: float, expected: str):
    assert stamp(wall) == expected
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", expected)


def test_stamp_of_no_time_is_none():
    assert stamp(None) is None


# -- status and pool ---------------------------------------------------------------------


def test_status_has_every_key_the_contract_documents_and_is_json():
    node = make_node()
    node.pool.tick()
    status = node.view.status()
    assert set(status) >= STATUS_KEYS
    assert set(status["node"]) >= {
        "instance_id",
        "instance_type",
        "provider",
        "primary_ip",
        "kubernetes_node",
    }
    assert set(status["addresses"]) >= {"total", "assigned", "cooling", "available"}
    assert set(status["limits"]) >= {
        "max_interfaces",
        "blocks_per_interface",
        "block_size",
        "max_pods",
    }
    assert set(status["targets"]) >= {
        "WARM_ENI_TARGET",
        "WARM_IP_TARGET",
        "MINIMUM_IP_TARGET",
        "WARM_PREFIX_TARGET",
    }
    [iface] = status["interfaces"]
    assert set(iface) >= INTERFACE_KEYS
    assert set(iface["blocks"][0]) >= BLOCK_KEYS
    assert set(status["decisions"][0]) >= DECISION_KEYS
    assert set(status["cloud"]) >= CLOUD_KEYS
    assert set(status["endpoints"]) >= {"metrics", "introspection"}
    assert json.loads(json.dumps(status)) == status


def test_status_says_who_the_node_is_its_version_and_how_long_it_has_run():
    node = make_node(started_at=WALL - 812.5, kubernetes_node="ip-10-0-1-4")
    status = node.view.status()
    assert status["node"] == {
        "instance_id": "i-0fake0000000000001",
        "instance_type": "m5.large",
        "provider": "aws",
        "primary_ip": "10.0.1.4",
        "kubernetes_node": "ip-10-0-1-4",
    }
    assert status["version"] == version() and isinstance(status["version"], str)
    assert status["started_at"] == "2023-11-14T21:59:47.500Z"
    assert status["uptime_seconds"] == 812.5
    node.wall.advance(10)
    assert node.view.status()["uptime_seconds"] == 822.5


def test_status_without_kubernetes_has_null_node_name_and_null_kubernetes():
    status = make_node().view.status()
    assert status["node"]["kubernetes_node"] is None
    assert status["kubernetes"] is None


def test_status_shows_the_kubernetes_layers_health_when_it_is_on():
    health = {"connected": True, "unreachable_for": 0.0, "last_error": None, "max_pods": 29}
    status = make_node(kubernetes=lambda: health).view.status()
    assert status["kubernetes"] == health


def test_status_endpoints_are_both_null_until_the_daemon_says_where_they_listen():
    node = make_node()
    assert node.view.status()["endpoints"] == {"metrics": None, "introspection": None}
    node.view.endpoints = {"metrics": "127.0.0.1:61678", "introspection": "unix:/run/i.sock"}
    endpoints = node.view.status()["endpoints"]
    assert endpoints == {"metrics": "127.0.0.1:61678", "introspection": "unix:/run/i.sock"}
    endpoints["metrics"] = "changed"
    assert node.view.endpoints["metrics"] == "127.0.0.1:61678"


def test_pool_counts_addresses_and_each_blocks_free_is_size_less_assigned_and_cooling():
    node = make_node()
    node.pool.tick()  # one /28 on the primary interface
    node.add_pods(0, 1, 2, 3, 4)
    node.delete_pods(1, 3)
    pool = node.view.pool_json()
    assert set(pool) == POOL_KEYS
    assert pool["addresses"] == {"total": 16, "assigned": 3, "cooling": 2, "available": 11}
    [iface] = pool["interfaces"]
    assert iface["blocks"] == [
        {
            "cidr": "10.0.1.16/28",
            "size": 16,
            "assigned": 3,
            "cooling": 2,
            "free": 11,
            "serving": True,
        }
    ]
    node.wall.advance(COOLDOWN)
    [block] = node.view.pool_json()["interfaces"][0]["blocks"]
    assert (block["cooling"], block["free"]) == (0, 13)


def test_pool_shows_the_interfaces_as_held_with_their_age():
    node = make_node()
    node.wall.advance(12.5)
    [iface] = node.view.pool_json()["interfaces"]
    assert iface == {
        "id": node.provider.discover().primary_interface_id,
        "device_index": 0,
        "primary": True,
        "primary_ip": "10.0.1.4",
        "pods_allowed": True,
        "wired": True,
        "age_seconds": 3612.5,
        "blocks": [],
    }


def test_pool_limits_and_targets_use_the_settings_names():
    node = make_node({"WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "7", "WARM_PREFIX_TARGET": "0"})
    pool = node.view.pool_json()
    assert pool["limits"] == {
        "max_interfaces": 3,
        "blocks_per_interface": 9,
        "block_size": 16,
        "max_pods": node.pool.limits.max_pods,
    }
    assert pool["targets"] == {
        "WARM_ENI_TARGET": 1,
        "WARM_IP_TARGET": 5,
        "MINIMUM_IP_TARGET": 7,
        "WARM_PREFIX_TARGET": 0,
    }


def test_pool_blocked_is_null_until_growth_is_blocked_and_then_says_why():
    node = make_node()
    assert node.view.pool_json()["blocked"] is None
    node.provider.fail(
        "grow", CapacityExhausted("subnet full", code="InsufficientFreeAddressesInSubnet")
    )
    node.pool.tick()
    blocked = node.view.pool_json()["blocked"]
    assert blocked and "InsufficientFreeAddressesInSubnet" in blocked
    assert node.view.status()["blocked"] == blocked


def test_pool_reconciled_at_is_null_until_the_pool_first_agrees_with_the_cloud():
    node = make_node()
    assert node.view.pool_json()["reconciled_at"] is None
    node.wall.advance(7)
    node.pool.tick()  # the first tick reconciles
    assert node.view.pool_json()["reconciled_at"] == stamp(WALL + 7)
    assert node.view.status()["reconciled_at"] == stamp(WALL + 7)


def test_status_carries_the_pool_and_interfaces_answers_the_same_interfaces():
    node = make_node()
    node.pool.tick()
    node.add_pods(0)
    status, pool = node.view.status(), node.view.pool_json()
    assert {k: status[k] for k in POOL_KEYS} == pool
    assert node.view.interfaces() == {"interfaces": pool["interfaces"]}


# -- allocations -------------------------------------------------------------------------


def test_allocations_list_every_allocation_with_its_pod_block_and_time():
    node = make_node()
    node.pool.tick()
    node.add_pods(0)
    node.wall.advance(2.25)
    node.store.assign(key(1), PodRef("kube-system", "dns-0", "uid-dns"))
    answer = node.view.allocations()
    assert set(answer) == {"allocations", "cooling"}
    first, second = answer["allocations"]
    assert set(first) == ALLOCATION_KEYS
    assert first == {
        "address": "10.0.1.16",
        "interface_id": node.provider.discover().primary_interface_id,
        "block": "10.0.1.16/28",
        "network": NETWORK,
        "container_id": "c0",
        "ifname": "eth0",
        "pod": {"namespace": "default", "name": "web-1", "uid": "uid-1"},
        "assigned_at": WALL_STAMP,
        "recovered": False,
    }
    assert second["address"] == "10.0.1.17"
    assert second["pod"] == {"namespace": "kube-system", "name": "dns-0", "uid": "uid-dns"}
    assert second["assigned_at"] == "2023-11-14T22:13:22.250Z"
    assert answer["cooling"] == []


def test_a_released_address_cools_until_its_release_plus_the_cooldown_then_leaves():
    node = make_node()
    node.pool.tick()
    node.add_pods(0, 1)
    node.wall.advance(5)
    node.delete_pods(0)
    answer = node.view.allocations()
    assert [a["container_id"] for a in answer["allocations"]] == ["c1"]
    assert answer["cooling"] == [{"address": "10.0.1.16", "until": stamp(WALL + 5 + COOLDOWN)}]
    node.wall.advance(COOLDOWN)
    assert node.view.allocations()["cooling"] == []


# -- decisions ---------------------------------------------------------------------------


def test_decisions_are_the_pool_loops_ticks_oldest_first_with_repeats_folded():
    node = make_node()
    node.pool.tick()  # grows
    node.wall.advance(1)
    node.pool.tick()  # on target
    node.wall.advance(1)
    node.pool.tick()  # on target again: folds
    grew, rest = node.view.decisions()["decisions"]
    primary = node.provider.discover().primary_interface_id
    assert grew["at"] == grew["last_at"] == WALL_STAMP
    assert (grew["repeats"], grew["outcome"]) == (1, "grew")
    assert grew["actions"] == [f"added 1 blocks to {primary}"]
    assert grew["reasons"] and all(isinstance(r, str) for r in grew["reasons"])
    assert rest["outcome"] == "on-target"
    assert (rest["at"], rest["last_at"], rest["repeats"]) == (
        stamp(WALL + 1),
        stamp(WALL + 2),
        2,
    )


def test_status_shows_only_the_last_10_decisions_and_decisions_all_it_keeps():
    node = make_node()
    for n in range(STATUS_DECISIONS + 5):  # alternating outcomes: none folds into another
        outcome = Outcome.WAITING if n % 2 else Outcome.BLOCKED
        node.pool.decisions.record(outcome, (), (f"held back {n}",))
    in_status = node.view.status()["decisions"]
    assert STATUS_DECISIONS == 10
    assert [d["reasons"] for d in in_status] == [[f"held back {n}"] for n in range(5, 15)]
    assert len(node.view.decisions()["decisions"]) == STATUS_DECISIONS + 5


# -- requests ----------------------------------------------------------------------------


def test_recent_requests_are_the_logged_cni_requests_oldest_first():
    node = make_node()

    def handle(request: Request) -> dict[str, object]:
        node.wall.advance(0.0125)
        if request.op == "add" and isinstance(request.args, PodArgs):
            if request.args.container_id == "full":
                raise CniError(TRY_AGAIN_LATER, "no free address on this node")
            return {"ips": [{"address": "10.0.1.23/28"}]}
        return {}

    handler = node.requests.timed(handle)
    for op, container in (("add", "abc123"), ("add", "full"), ("del", "abc123")):
        args = PodArgs(
            network=NETWORK,
            container_id=container,
            ifname="eth0",
            pod_namespace="default",
            pod_name="web-1",
            pod_uid="uid-1",
        )
        with contextlib.suppress(CniError):  # the refused ADD is logged all the same
            handler(Request(op=op, args=args, request_id="r", deadline_ms=30_000))
    added, refused, deleted = node.view.recent_requests()["requests"]
    assert set(added) == REQUEST_KEYS
    assert added == {
        "at": WALL_STAMP,
        "op": "add",
        "network": NETWORK,
        "container_id": "abc123",
        "ifname": "eth0",
        "pod": {"namespace": "default", "name": "web-1", "uid": "uid-1"},
        "code": 0,
        "message": "",
        "seconds": 0.0125,
        "address": "10.0.1.23",
    }
    assert (refused["code"], refused["message"], refused["address"]) == (
        TRY_AGAIN_LATER,
        "no free address on this node",
        None,
    )
    assert (deleted["op"], deleted["at"]) == ("del", stamp(WALL + 0.025))


# -- cloud -------------------------------------------------------------------------------


def test_cloud_before_any_call_has_empty_lists_and_null_times():
    assert make_node().view.cloud_json() == {
        "provider": "aws",
        "last_success_at": None,
        "last_error": None,
        "actions": [],
        "limiter": [],
        "recent_errors": [],
    }


def test_cloud_shows_per_action_counts_the_last_success_the_errors_and_the_limiter():
    node = make_node()
    node.cloud.limiter = lambda: RateLimiterStats(
        {
            "mutate": ClassStats(
                acquired=2, waits=1, waited_seconds=0.1234567, throttles=3, adaptive_rate=0.5
            ),
            "describe": ClassStats(acquired=14),
        }
    )
    node.cloud(CallOutcome("DescribeNetworkInterfaces", 0.021, 1, 0))
    node.wall.advance(60)
    node.cloud(CallOutcome("AssignPrivateIpAddresses", 1.0, 3, 2))
    node.wall.advance(60)
    error = CapacityExhausted("no room", code="InsufficientFreeAddressesInSubnet")
    node.cloud(CallOutcome("AssignPrivateIpAddresses", 0.5, 1, 0, error))
    node.cloud(CallOutcome("AssignPrivateIpAddresses", 1.0 / 3, 1, 0, CloudUnavailable("503")))
    cloud = node.view.cloud_json()
    assert set(cloud) == CLOUD_KEYS
    assert cloud["provider"] == "aws"
    assert cloud["last_success_at"] == stamp(WALL + 60)
    assert cloud["actions"] == [
        {
            "action": "AssignPrivateIpAddresses",
            "calls": 3,
            "errors": 2,
            "throttles": 2,
            "retries": 2,
            "mean_seconds": round((1.0 + 0.5 + 1.0 / 3) / 3, 6),
        },
        {
            "action": "DescribeNetworkInterfaces",
            "calls": 1,
            "errors": 0,
            "throttles": 0,
            "retries": 0,
            "mean_seconds": 0.021,
        },
    ]
    assert cloud["limiter"] == [
        {
            "class": "describe",
            "acquired": 14,
            "waits": 0,
            "waited_seconds": 0.0,
            "timeouts": 0,
            "throttles": 0,
            "adaptive_rate": None,
        },
        {
            "class": "mutate",
            "acquired": 2,
            "waits": 1,
            "waited_seconds": 0.123457,
            "timeouts": 0,
            "throttles": 3,
            "adaptive_rate": 0.5,
        },
    ]
    first, last = cloud["recent_errors"]
    assert set(first) == ERROR_KEYS
    assert first == {
        "at": stamp(WALL + 120),
        "action": "AssignPrivateIpAddresses",
        "code": "InsufficientFreeAddressesInSubnet",
        "message": str(error),
    }
    assert cloud["last_error"] == last
    assert last["code"] == "CloudUnavailable"
    assert node.view.status()["cloud"] == cloud


# -- settings ----------------------------------------------------------------------------


def test_settings_are_one_row_per_variable_with_value_source_and_description():
    loaded = load_config({"VPC_IPAM_DATAPLANE": "none", "MAX_ENI": "1", "WARM_IP_TARGIT": "3"})
    answer = make_node(loaded=loaded).view.settings()
    assert set(answer) == {"settings", "warnings"}
    rows = {row["variable"]: row for row in answer["settings"]}
    assert len(answer["settings"]) == len(VARIABLES) == len(rows)
    assert all(set(row) == {"variable", "value", "source", "description"} for row in rows.values())
    assert rows["MAX_ENI"]["value"] == "1" and rows["MAX_ENI"]["source"] == "env"
    assert rows["WARM_ENI_TARGET"]["value"] == "1"
    assert rows["WARM_ENI_TARGET"]["source"] == "default"
    assert rows["WARM_ENI_TARGET"]["description"]
    assert [w for w in answer["warnings"] if "WARM_IP_TARGIT" in w]
    assert all(isinstance(w, str) for w in answer["warnings"])
    assert json.loads(json.dumps(answer)) == answer


def test_a_secret_set_in_the_environment_is_redacted_and_a_default_one_is_not(
    monkeypatch: pytest.MonkeyPatch,
):
    secret = {"MAX_ENI", "WARM_ENI_TARGET"}  # the table has no secret yet: make two
    table = tuple(dataclasses.replace(v, secret=v.name in secret) for v in VARIABLES)
    monkeypatch.setattr(config.describe, "VARIABLES", table)
    loaded = load_config({"VPC_IPAM_DATAPLANE": "none", "MAX_ENI": "1"})
    rows = {row["variable"]: row for row in make_node(loaded=loaded).view.settings()["settings"]}
    assert rows["MAX_ENI"] == {
        "variable": "MAX_ENI",
        "value": "<redacted>",
        "source": "env",
        "description": rows["MAX_ENI"]["description"],
    }
    assert rows["WARM_ENI_TARGET"]["value"] == "1"  # the documented default reveals nothing


def test_settings_without_a_loaded_config_are_empty():
    assert make_node().view.settings() == {"settings": [], "warnings": []}
