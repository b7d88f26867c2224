"""The daemon's Prometheus metrics: what the pool holds, what the CNI asked, what the cloud said.

``Metrics`` owns one private ``CollectorRegistry`` (never prometheus_client's global one, so
tests and several daemons in one process never collide) and two kinds of data:

- state read at scrape time: a collector calls the daemon's ``gauges()`` for a ``PoolGauges``
  on every scrape, so pool sizes and limits are never stale and nobody has to push them;
- events counted as they happen: the daemon calls ``cni_request``, ``pool_action``,
  ``pool_decision``, ``reconcile_fixes``, ``leaks_released`` and ``cloud_call`` (a
  ``providers.retry.CallObserver``) from whichever thread saw them.

Label values come from closed sets in practice (CNI ops, cloud actions, error codes), but a
cloud may invent error codes, so each value is cut to 64 characters and each label keeps at
most 50 distinct values per metric; later newcomers are counted as "other".

``serve()`` starts the HTTP endpoint (ipamd.metrics_server).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from config import BindAddress
from ipamd.metrics_server import MetricsServer
from providers.retry import CallOutcome

__all__ = ["EmptyPoolTimer", "Metrics", "MetricsServer", "PoolGauges"]

log = logging.getLogger(__name__)

MAX_LABEL_LENGTH = 64
MAX_LABEL_VALUES = 50
"""Distinct values one label of one metric may take before newcomers become ``OTHER``."""
OTHER = "other"

CNI_TRY_AGAIN = 11
"""The CNI spec's "try again later" error code: the pool is empty for now, not broken."""

CNI_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)
CLOUD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)

POOL_ACTIONS = ("grow", "create_interface", "release", "remove_interface")
POOL_DECISIONS = ("grew", "shrank", "on-target", "blocked", "waiting", "failed")
LEAK_SOURCES = ("interfaces", "kubernetes", "gc")


@dataclass(frozen=True, slots=True)
class PoolGauges:
    """The node's pool as it stands, read at each scrape."""

    addresses_total: int
    addresses_assigned: int
    addresses_cooling: int
    addresses_available: int
    interfaces: int
    """Interfaces held."""
    interfaces_max: int
    """The node's limit: min(the instance type's, MAX_ENI)."""
    blocks: int
    """Address blocks held."""
    blocks_max: int
    """interfaces_max * blocks per interface."""
    max_pods: int
    growth_blocked: bool
    """The pool loop's ``blocked`` is set: it wants to grow and cannot."""
    kubernetes_connected: bool | None = None
    """None when the Kubernetes layer is off; the Kubernetes gauges are then not exported."""
    kubernetes_unreachable_seconds: float = 0.0


class EmptyPoolTimer:
    """Seconds the pool had no available address, from observations of the available count.

    The time between two observations counts as empty when the first of them saw 0: the pool
    is assumed to stay as last seen until seen again. Thread-safe.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._empty = False
        self._total = 0.0

    def observe(self, available: int) -> float:
        """Note the available count now; returns the empty seconds so far."""
        with self._lock:
            now = self._clock()  # read under the lock, so observations stay in clock order
            if self._last is not None and self._empty:
                self._total += max(0.0, now - self._last)
            self._last = now
            self._empty = available <= 0
            return self._total

    @property
    def total(self) -> float:
        with self._lock:
            return self._total


class _BoundedLabels:
    """Caps label values: each cut to MAX_LABEL_LENGTH, at most MAX_LABEL_VALUES distinct
    values per (metric, label); values first seen beyond that become OTHER."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], set[str]] = {}

    def __call__(self, metric: str, label: str, value: str) -> str:
        value = value[:MAX_LABEL_LENGTH]
        with self._lock:
            seen = self._seen.setdefault((metric, label), set())
            if value in seen:
                return value
            if len(seen) >= self._limit:
                return OTHER
            seen.add(value)
            return value


class _PoolCollector:
    """Exports PoolGauges and the empty-pool counter, read at every scrape."""

    def __init__(self, gauges: Callable[[], PoolGauges], empty: EmptyPoolTimer) -> None:
        self._gauges = gauges
        self._empty = empty
        self._failing = False

    def collect(self) -> Iterable[Metric]:
        try:
            pool = self._gauges()
        except Exception:
            # Warn once per run of failures; a scrape every 15 s must not flood the log.
            if not self._failing:
                log.warning(
                    "reading the pool for metrics failed; pool gauges skipped", exc_info=True
                )
            self._failing = True
            pool = None
        else:
            self._failing = False
        if pool is not None:
            self._empty.observe(pool.addresses_available)
            yield from _pool_families(pool)
        yield CounterMetricFamily(
            "vpcipam_pool_empty_seconds",
            "Seconds the pool had no available address (pods then wait or get try-again).",
            value=self._empty.total,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _pool_families(pool: PoolGauges) -> Iterable[Metric]:
    addresses = GaugeMetricFamily(
        "vpcipam_addresses",
        "Pod addresses the node holds, by state (total = assigned + cooling + available).",
        labels=("state",),
    )
    addresses.add_metric(("total",), pool.addresses_total)
    addresses.add_metric(("assigned",), pool.addresses_assigned)
    addresses.add_metric(("cooling",), pool.addresses_cooling)
    addresses.add_metric(("available",), pool.addresses_available)
    yield addresses
    yield _gauge("vpcipam_interfaces", "Network interfaces the node holds.", pool.interfaces)
    yield _gauge(
        "vpcipam_interfaces_max",
        "Network interfaces the node may hold: min(instance type limit, MAX_ENI).",
        pool.interfaces_max,
    )
    yield _gauge("vpcipam_blocks", "Address blocks the node holds.", pool.blocks)
    yield _gauge(
        "vpcipam_blocks_max",
        "Address blocks the node may hold: interfaces_max * blocks per interface.",
        pool.blocks_max,
    )
    yield _gauge("vpcipam_max_pods", "Pods the node may run (its max-pods).", pool.max_pods)
    yield _gauge(
        "vpcipam_pool_growth_blocked",
        "1 while the pool wants to grow and cannot (subnet full, limit, permission, throttled).",
        int(pool.growth_blocked),
    )
    if pool.kubernetes_connected is not None:
        yield _gauge(
            "vpcipam_kubernetes_api_connected",
            "1 while the Kubernetes API server answers the daemon.",
            int(pool.kubernetes_connected),
        )
        yield _gauge(
            "vpcipam_kubernetes_api_unreachable_seconds",
            "Seconds since the Kubernetes API server last answered; 0 while connected.",
            pool.kubernetes_unreachable_seconds,
        )


def cni_outcome(code: int) -> str:
    """The outcome label of a CNI request's result code."""
    if code == 0:
        return "ok"
    return "try_again" if code == CNI_TRY_AGAIN else "error"


class Metrics:
    """The daemon's metrics in a private registry; every method is thread-safe."""

    def __init__(
        self,
        gauges: Callable[[], PoolGauges],
        *,
        provider: str,
        version: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry()
        self.empty_pool = EmptyPoolTimer(clock)
        self._bound = _BoundedLabels()
        counter, histogram = self._counter, self._histogram
        self._cni_requests = counter(
            "vpcipam_cni_requests",
            "CNI requests answered, by op, outcome and CNI error code (0 = success).",
            ("op", "outcome", "code"),
        )
        self._cni_seconds = histogram(
            "vpcipam_cni_request_duration_seconds",
            "Time to answer a CNI request.",
            ("op", "outcome"),
            CNI_BUCKETS,
        )
        self._pool_actions = counter(
            "vpcipam_pool_actions", "Cloud changes the pool loop made, by action.", ("action",)
        )
        self._pool_blocks = counter(
            "vpcipam_pool_blocks_changed", "Blocks added or given back, by action.", ("action",)
        )
        self._pool_decisions = counter(
            "vpcipam_pool_decisions", "Pool loop ticks, by what each came to.", ("outcome",)
        )
        self._reconcile_fixes = counter(
            "vpcipam_reconcile_fixes", "Differences with the cloud reconcile fixed.", ("kind",)
        )
        self._leaks = counter(
            "vpcipam_leaks_released", "Leaked interfaces/addresses released.", ("source",)
        )
        self._cloud_calls = counter(
            "vpcipam_cloud_api_calls", "Cloud API calls, each with its retries.", ("action",)
        )
        self._cloud_errors = counter(
            "vpcipam_cloud_api_errors",
            "Cloud API calls that failed in the end, by error code.",
            ("action", "code"),
        )
        self._cloud_throttles = counter(
            "vpcipam_cloud_api_throttles", "Cloud API attempts throttled.", ("action",)
        )
        self._cloud_attempts = counter(
            "vpcipam_cloud_api_attempts", "Cloud API attempts, retries included.", ("action",)
        )
        self._cloud_seconds = histogram(
            "vpcipam_cloud_api_duration_seconds",
            "Time of a cloud API call: rate-limit waits, every attempt and the backoff between.",
            ("action",),
            CLOUD_BUCKETS,
        )
        build = Gauge(
            "vpcipam_build_info",
            "Always 1; the daemon's version and cloud provider as labels.",
            ("version", "provider"),
            registry=self.registry,
        )
        build.labels(version=version, provider=provider).set(1)
        # Known label values start at 0, so rate() and increase() see their first event.
        for action in POOL_ACTIONS:
            self._pool_actions.labels(action=self._bound("pool_actions", "action", action))
            self._pool_blocks.labels(action=self._bound("pool_blocks", "action", action))
        for outcome in POOL_DECISIONS:
            self._pool_decisions.labels(self._bound("pool_decisions", "outcome", outcome))
        for source in LEAK_SOURCES:
            self._leaks.labels(source=self._bound("leaks", "source", source))
        self.registry.register(_PoolCollector(gauges, self.empty_pool))

    def _counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(
        self, name: str, documentation: str, labels: tuple[str, ...], buckets: tuple[float, ...]
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def cni_request(self, op: str, code: int, seconds: float) -> None:
        """One CNI request answered; ``code`` 0 is success, else the CNI error code."""
        outcome = cni_outcome(code)
        op = self._bound("cni", "op", op)
        code_label = self._bound("cni", "code", str(code))
        self._cni_requests.labels(op=op, outcome=outcome, code=code_label).inc()
        self._cni_seconds.labels(op=op, outcome=outcome).observe(max(0.0, seconds))

    def pool_action(self, kind: str, blocks: int) -> None:
        """The pool loop made one cloud change moving ``blocks`` blocks."""
        self._pool_actions.labels(action=self._bound("pool_actions", "action", kind)).inc()
        self._pool_blocks.labels(action=self._bound("pool_blocks", "action", kind)).inc(
            max(0, blocks)
        )

    def pool_decision(self, outcome: str) -> None:
        """One pool-loop tick came to ``outcome``."""
        self._pool_decisions.labels(self._bound("pool_decisions", "outcome", outcome)).inc()

    def reconcile_fixes(self, fixes: Mapping[str, int]) -> None:
        """Counts of what one reconciliation fixed, by kind; zero counts are ignored."""
        for kind, count in fixes.items():
            if count > 0:
                self._reconcile_fixes.labels(self._bound("reconcile", "kind", kind)).inc(count)

    def leaks_released(self, source: str, count: int) -> None:
        """``count`` leaked interfaces or addresses released, found by ``source``."""
        if count > 0:
            self._leaks.labels(source=self._bound("leaks", "source", source)).inc(count)

    def cloud_call(self, outcome: CallOutcome) -> None:
        """A ``providers.retry.CallObserver``: one finished cloud call, retries included."""
        action = self._bound("cloud", "action", outcome.action)
        self._cloud_calls.labels(action).inc()
        self._cloud_attempts.labels(action).inc(max(0, outcome.attempts))
        self._cloud_throttles.labels(action).inc(max(0, outcome.throttles))
        self._cloud_seconds.labels(action).observe(max(0.0, outcome.seconds))
        if not outcome.ok:
            code = self._bound("cloud_errors", "code", outcome.error_code)
            self._cloud_errors.labels(action=action, code=code).inc()

    def observe_available(self, available: int) -> None:
        """Feed the empty-pool timer (call whenever the available count may have changed)."""
        self.empty_pool.observe(available)

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def serve(self, address: BindAddress) -> MetricsServer:
        """Serve ``/metrics`` on a TCP address in a daemon thread; ValueError for unix."""
        return MetricsServer(address, self.render)
