"""The daemon's metrics, read back from the real exposition text and the real HTTP endpoint."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from config import BindAddress
from ipamd.metrics import (
    MAX_LABEL_LENGTH,
    MAX_LABEL_VALUES,
    OTHER,
    EmptyPoolTimer,
    Metrics,
    MetricsServer,
    PoolGauges,
)
from providers.errors import CapacityExhausted, CloudUnavailable, Throttled
from providers.retry import CallOutcome
from sandbox.clock import FakeClock

POOL = PoolGauges(
    addresses_total=32,
    addresses_assigned=20,
    addresses_cooling=2,
    addresses_available=10,
    interfaces=2,
    interfaces_max=3,
    blocks=2,
    blocks_max=6,
    max_pods=110,
    growth_blocked=False,
)

Labels = tuple[tuple[str, str], ...]


class PoolSource:
    """What the daemon hands Metrics: a callable giving the pool as it stands now."""

    def __init__(self, pool: PoolGauges = POOL) -> None:
        self.pool = pool
        self.fail: Exception | None = None
        self.calls = 0

    def __call__(self) -> PoolGauges:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return self.pool

    def set(self, **changes: object) -> None:
        self.pool = dataclasses.replace(self.pool, **changes)  # type: ignore[arg-type]


def scrape_text(text: str) -> dict[str, dict[Labels, float]]:
    """Sample name -> {sorted labels: value}."""
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def scrape(metrics: Metrics) -> dict[str, dict[Labels, float]]:
    return scrape_text(metrics.render().decode())


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return scrape(metrics).get(name, {}).get(tuple(sorted(labels.items())))


def make(source: PoolSource | None = None, clock: FakeClock | None = None) -> Metrics:
    return Metrics(
        source or PoolSource(), provider="aws", version="1.2.3", clock=clock or FakeClock()
    )


def no_proxy_opener() -> urllib.request.OpenerDirector:
    # A proxy from the environment must never see our loopback requests.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- gauges read at scrape time ---


def test_pool_gauges_follow_the_source_at_each_scrape() -> None:
    source = PoolSource()
    metrics = make(source)
    samples = scrape(metrics)
    assert samples["vpcipam_addresses"] == {
        (("state", "total"),): 32,
        (("state", "assigned"),): 20,
        (("state", "cooling"),): 2,
        (("state", "available"),): 10,
    }
    assert samples["vpcipam_interfaces"][()] == 2
    assert samples["vpcipam_interfaces_max"][()] == 3
    assert samples["vpcipam_blocks"][()] == 2
    assert samples["vpcipam_blocks_max"][()] == 6
    assert samples["vpcipam_max_pods"][()] == 110
    assert samples["vpcipam_pool_growth_blocked"][()] == 0

    source.set(addresses_assigned=25, addresses_available=5, blocks=3, growth_blocked=True)
    samples = scrape(metrics)
    assert samples["vpcipam_addresses"][(("state", "assigned"),)] == 25
    assert samples["vpcipam_addresses"][(("state", "available"),)] == 5
    assert samples["vpcipam_blocks"][()] == 3
    assert samples["vpcipam_pool_growth_blocked"][()] == 1


def test_the_gauges_source_is_not_called_before_the_first_scrape() -> None:
    source = PoolSource()
    make(source)
    assert source.calls == 0


def test_kubernetes_gauges_are_absent_while_the_kubernetes_layer_is_off() -> None:
    samples = scrape(make())
    assert "vpcipam_kubernetes_api_connected" not in samples
    assert "vpcipam_kubernetes_api_unreachable_seconds" not in samples


def test_kubernetes_gauges_show_connection_and_unreachable_time() -> None:
    source = PoolSource(dataclasses.replace(POOL, kubernetes_connected=True))
    metrics = make(source)
    assert value(metrics, "vpcipam_kubernetes_api_connected") == 1
    assert value(metrics, "vpcipam_kubernetes_api_unreachable_seconds") == 0

    source.set(kubernetes_connected=False, kubernetes_unreachable_seconds=42.5)
    assert value(metrics, "vpcipam_kubernetes_api_connected") == 0
    assert value(metrics, "vpcipam_kubernetes_api_unreachable_seconds") == 42.5


def test_a_failing_gauges_source_skips_pool_gauges_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = PoolSource()
    metrics = make(source)
    metrics.cni_request("ADD", 0, 0.01)
    source.fail = RuntimeError("datastore is gone")
    with caplog.at_level(logging.WARNING, logger="ipamd.metrics"):
        for _ in range(3):
            samples = scrape(metrics)
            assert "vpcipam_addresses" not in samples
            assert "vpcipam_interfaces" not in samples
            assert samples["vpcipam_cni_requests_total"]
            assert samples["vpcipam_build_info"]
            assert "vpcipam_pool_empty_seconds_total" in samples
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pool" in warnings[0].getMessage()

    source.fail = None
    assert value(metrics, "vpcipam_interfaces") == 2


# --- counters and histograms ---


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(0, "ok"), (11, "try_again"), (7, "error"), (4, "error"), (999, "error")],
)
def test_cni_request_outcome_follows_the_cni_code(code: int, outcome: str) -> None:
    metrics = make()
    metrics.cni_request("ADD", code, 0.02)
    samples = scrape(metrics)
    assert samples["vpcipam_cni_requests_total"] == {
        (("code", str(code)), ("op", "ADD"), ("outcome", outcome)): 1
    }
    labels = (("op", "ADD"), ("outcome", outcome))
    assert samples["vpcipam_cni_request_duration_seconds_count"] == {labels: 1}


def test_cni_requests_count_per_op_and_code_and_time_into_buckets() -> None:
    metrics = make()
    metrics.cni_request("ADD", 0, 0.003)
    metrics.cni_request("ADD", 0, 0.2)
    metrics.cni_request("DEL", 0, 0.001)
    metrics.cni_request("ADD", 11, 5.0)
    samples = scrape(metrics)
    requests = samples["vpcipam_cni_requests_total"]
    assert requests[(("code", "0"), ("op", "ADD"), ("outcome", "ok"))] == 2
    assert requests[(("code", "0"), ("op", "DEL"), ("outcome", "ok"))] == 1
    assert requests[(("code", "11"), ("op", "ADD"), ("outcome", "try_again"))] == 1

    buckets = samples["vpcipam_cni_request_duration_seconds_bucket"]

    def bucket(le: str) -> float:
        return buckets[(("le", le), ("op", "ADD"), ("outcome", "ok"))]

    assert bucket("0.001") == 0
    assert bucket("0.005") == 1
    assert bucket("0.25") == 2
    assert bucket("30.0") == 2
    assert bucket("+Inf") == 2
    ok_add = (("op", "ADD"), ("outcome", "ok"))
    assert samples["vpcipam_cni_request_duration_seconds_sum"][ok_add] == pytest.approx(0.203)


def test_pool_actions_count_actions_and_the_blocks_they_moved() -> None:
    metrics = make()
    metrics.pool_action("grow", 1)
    metrics.pool_action("grow", 2)
    metrics.pool_action("create_interface", 1)
    metrics.pool_action("release", 1)
    samples = scrape(metrics)
    assert samples["vpcipam_pool_actions_total"] == {
        (("action", "grow"),): 2,
        (("action", "create_interface"),): 1,
        (("action", "release"),): 1,
        (("action", "remove_interface"),): 0,
    }
    assert samples["vpcipam_pool_blocks_changed_total"][(("action", "grow"),)] == 3
    assert samples["vpcipam_pool_blocks_changed_total"][(("action", "release"),)] == 1


def test_known_label_values_are_exported_at_zero_before_any_event() -> None:
    samples = scrape(make())
    assert set(samples["vpcipam_pool_decisions_total"].values()) == {0}
    assert len(samples["vpcipam_pool_decisions_total"]) == 6
    assert samples["vpcipam_leaks_released_total"] == {
        (("source", "interfaces"),): 0,
        (("source", "kubernetes"),): 0,
        (("source", "gc"),): 0,
    }


def test_pool_decisions_count_one_outcome_per_tick() -> None:
    metrics = make()
    for outcome in ("grew", "on-target", "on-target", "blocked"):
        metrics.pool_decision(outcome)
    decisions = scrape(metrics)["vpcipam_pool_decisions_total"]
    assert decisions[(("outcome", "on-target"),)] == 2
    assert decisions[(("outcome", "grew"),)] == 1
    assert decisions[(("outcome", "blocked"),)] == 1
    assert decisions[(("outcome", "shrank"),)] == 0


def test_reconcile_fixes_add_up_by_kind_and_ignore_zero_counts() -> None:
    metrics = make()
    metrics.reconcile_fixes({"adopted_blocks": 2, "vanished_interfaces": 0})
    metrics.reconcile_fixes({"adopted_blocks": 1, "lost_allocations": 3})
    assert scrape(metrics)["vpcipam_reconcile_fixes_total"] == {
        (("kind", "adopted_blocks"),): 3,
        (("kind", "lost_allocations"),): 3,
    }


def test_leaks_released_count_by_source() -> None:
    metrics = make()
    metrics.leaks_released("interfaces", 2)
    metrics.leaks_released("gc", 1)
    metrics.leaks_released("gc", 0)
    metrics.leaks_released("kubernetes", 4)
    assert scrape(metrics)["vpcipam_leaks_released_total"] == {
        (("source", "interfaces"),): 2,
        (("source", "kubernetes"),): 4,
        (("source", "gc"),): 1,
    }


def test_a_successful_cloud_call_counts_call_attempts_and_time() -> None:
    metrics = make()
    metrics.cloud_call(CallOutcome("AssignPrivateIpAddresses", 0.3, 1, 0))
    metrics.cloud_call(CallOutcome("AssignPrivateIpAddresses", 2.0, 3, 2))
    samples = scrape(metrics)
    action = (("action", "AssignPrivateIpAddresses"),)
    assert samples["vpcipam_cloud_api_calls_total"][action] == 2
    assert samples["vpcipam_cloud_api_attempts_total"][action] == 4
    assert samples["vpcipam_cloud_api_throttles_total"][action] == 2
    assert samples["vpcipam_cloud_api_duration_seconds_count"][action] == 2
    assert samples["vpcipam_cloud_api_duration_seconds_sum"][action] == pytest.approx(2.3)
    le_half = (("action", "AssignPrivateIpAddresses"), ("le", "0.5"))
    assert samples["vpcipam_cloud_api_duration_seconds_bucket"][le_half] == 1
    assert "vpcipam_cloud_api_errors_total" not in samples


def test_a_failed_cloud_call_counts_an_error_by_its_code() -> None:
    metrics = make()
    throttled = Throttled("slow down", code="RequestLimitExceeded")
    metrics.cloud_call(CallOutcome("CreateNetworkInterface", 9.0, 5, 5, throttled))
    full = CapacityExhausted("subnet full", code="InsufficientFreeAddressesInSubnet")
    metrics.cloud_call(CallOutcome("CreateNetworkInterface", 0.1, 1, 0, full))
    metrics.cloud_call(CallOutcome("CreateNetworkInterface", 0.1, 2, 0, CloudUnavailable("5xx")))
    metrics.cloud_call(CallOutcome("instances.get", 0.1, 1, 0, TimeoutError()))
    samples = scrape(metrics)
    assert samples["vpcipam_cloud_api_errors_total"] == {
        (("action", "CreateNetworkInterface"), ("code", "RequestLimitExceeded")): 1,
        (("action", "CreateNetworkInterface"), ("code", "InsufficientFreeAddressesInSubnet")): 1,
        (("action", "CreateNetworkInterface"), ("code", "CloudUnavailable")): 1,
        (("action", "instances.get"), ("code", "TimeoutError")): 1,
    }
    assert (
        samples["vpcipam_cloud_api_throttles_total"][(("action", "CreateNetworkInterface"),)] == 5
    )
    assert samples["vpcipam_cloud_api_attempts_total"][(("action", "CreateNetworkInterface"),)] == 8
    assert samples["vpcipam_cloud_api_calls_total"][(("action", "instances.get"),)] == 1


def test_build_info_carries_version_and_provider() -> None:
    metrics = Metrics(PoolSource(), provider="gce", version="0.9.0")
    assert value(metrics, "vpcipam_build_info", provider="gce", version="0.9.0") == 1


def test_every_exported_name_starts_with_vpcipam() -> None:
    metrics = make(PoolSource(dataclasses.replace(POOL, kubernetes_connected=True)))
    metrics.cni_request("ADD", 0, 0.1)
    metrics.cloud_call(CallOutcome("x", 0.1, 1, 0, Throttled("t")))
    metrics.reconcile_fixes({"adopted_blocks": 1})
    names = {f.name for f in text_string_to_metric_families(metrics.render().decode())}
    assert len(names) >= 20
    assert all(name.startswith("vpcipam_") for name in names), names


def test_each_instance_has_its_own_registry() -> None:
    first, second = make(), make()
    first.pool_decision("grew")
    assert value(first, "vpcipam_pool_decisions_total", outcome="grew") == 1
    assert value(second, "vpcipam_pool_decisions_total", outcome="grew") == 0
    assert REGISTRY.get_sample_value("vpcipam_pool_decisions_total", {"outcome": "grew"}) is None


def test_counters_from_many_threads_lose_no_event() -> None:
    metrics = make()

    def work() -> None:
        for _ in range(500):
            metrics.cni_request("ADD", 0, 0.001)
            metrics.observe_available(0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok_add = (("code", "0"), ("op", "ADD"), ("outcome", "ok"))
    assert scrape(metrics)["vpcipam_cni_requests_total"][ok_add] == 4000


# --- label cardinality ---


def test_unseen_label_values_beyond_the_cap_fold_into_other() -> None:
    metrics = make()
    for n in range(MAX_LABEL_VALUES + 10):
        metrics.cloud_call(
            CallOutcome("AttachNetworkInterface", 0.1, 1, 0, Throttled("t", code=f"C{n}"))
        )
    metrics.cloud_call(CallOutcome("AttachNetworkInterface", 0.1, 1, 0, Throttled("t", code="C3")))
    errors = scrape(metrics)["vpcipam_cloud_api_errors_total"]
    assert len(errors) == MAX_LABEL_VALUES + 1
    assert errors[(("action", "AttachNetworkInterface"), ("code", OTHER))] == 10
    assert errors[(("action", "AttachNetworkInterface"), ("code", "C3"))] == 2


def test_the_cap_is_per_metric() -> None:
    metrics = make()
    for n in range(MAX_LABEL_VALUES + 5):
        metrics.reconcile_fixes({f"kind{n}": 1})
    metrics.leaks_released("new-source", 1)
    assert value(metrics, "vpcipam_reconcile_fixes_total", kind=OTHER) == 5
    assert value(metrics, "vpcipam_leaks_released_total", source="new-source") == 1


def test_long_label_values_are_cut() -> None:
    metrics = make()
    metrics.cni_request("A" * 200, 0, 0.01)
    (labels,) = scrape(metrics)["vpcipam_cni_requests_total"]
    assert dict(labels)["op"] == "A" * MAX_LABEL_LENGTH


# --- the empty-pool timer ---


def test_empty_pool_timer_counts_time_seen_empty() -> None:
    clock = FakeClock()
    timer = EmptyPoolTimer(clock)
    timer.observe(0)
    clock.advance(7)
    assert timer.observe(3) == 7.0
    clock.advance(100)  # not empty: not counted
    timer.observe(0)
    clock.advance(2)
    timer.observe(0)
    clock.advance(1.5)
    assert timer.observe(1) == pytest.approx(10.5)
    assert timer.total == pytest.approx(10.5)


def test_empty_pool_timer_counts_nothing_before_its_first_observation() -> None:
    clock = FakeClock()
    timer = EmptyPoolTimer(clock)
    clock.advance(50)
    assert timer.observe(0) == 0
    assert timer.total == 0


def test_empty_pool_seconds_are_current_at_each_scrape() -> None:
    clock = FakeClock()
    source = PoolSource(dataclasses.replace(POOL, addresses_available=0))
    metrics = make(source, clock)
    assert value(metrics, "vpcipam_pool_empty_seconds_total") == 0
    clock.advance(7)
    assert value(metrics, "vpcipam_pool_empty_seconds_total") == 7.0
    metrics.observe_available(0)  # between scrapes, from the datastore
    clock.advance(3)
    metrics.observe_available(4)
    clock.advance(20)
    source.set(addresses_available=4)
    assert value(metrics, "vpcipam_pool_empty_seconds_total") == 10.0


# --- the HTTP endpoint ---


def test_serve_answers_metrics_over_http_on_loopback() -> None:
    metrics = make()
    metrics.pool_decision("grew")
    server = metrics.serve(BindAddress("127.0.0.1", 0))
    try:
        host, port = server.address.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) > 0
        opener = no_proxy_opener()
        with opener.open(f"http://{server.address}/metrics", timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            samples = scrape_text(response.read().decode())
        assert samples["vpcipam_pool_decisions_total"][(("outcome", "grew"),)] == 1
        assert samples["vpcipam_interfaces"][()] == 2

        with pytest.raises(urllib.error.HTTPError) as missing:
            opener.open(f"http://{server.address}/", timeout=10)
        assert missing.value.code == 404
        missing.value.close()
    finally:
        server.stop()


def test_stop_frees_the_port_and_is_idempotent() -> None:
    metrics = make()
    server = metrics.serve(BindAddress("127.0.0.1", 0))
    port = int(server.address.rsplit(":", 1)[1])
    with no_proxy_opener().open(f"http://{server.address}/metrics", timeout=10) as response:
        response.read()
    server.stop()
    server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 5):
        pass
    again = metrics.serve(BindAddress("127.0.0.1", port))  # e.g. the daemon restarting
    try:
        assert again.address == f"127.0.0.1:{port}"
    finally:
        again.stop()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_serve_on_ipv6_loopback_reports_a_bracketed_address() -> None:
    server = make().serve(BindAddress("::1", 0))
    try:
        assert server.address.startswith("[::1]:")
        with no_proxy_opener().open(f"http://{server.address}/metrics", timeout=10) as response:
            assert "vpcipam_build_info" in scrape_text(response.read().decode())
    finally:
        server.stop()


def test_metrics_refuse_a_unix_socket() -> None:
    with pytest.raises(ValueError, match="TCP"):
        make().serve(BindAddress(unix_path="/run/vpc-ipam/metrics.sock"))
    with pytest.raises(ValueError, match="TCP"):
        MetricsServer(BindAddress(unix_path="/tmp/m.sock"), lambda: b"")
