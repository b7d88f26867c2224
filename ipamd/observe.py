"""Everything the daemon tells operators, assembled: metrics, the cloud's health, the CNI
request log, and the introspection endpoint with its routes.

Created before the provider (which reports each cloud call to ``cloud_call``), attached to
the daemon's parts once they exist (``attach``), started after the socket serves, stopped
first at shutdown. The daemon's parts call in through a handful of methods here, so none of
them knows whether metrics are on. Wiring only: what each piece does lives in its module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config import LoadedConfig, Settings
from ipamd.cloudhealth import CloudHealth
from ipamd.decisions import PoolEvent
from ipamd.introspect import BadQuery, IntrospectionServer, Route
from ipamd.metrics import Metrics, MetricsServer, PoolGauges
from ipamd.model import Allocation
from ipamd.requestlog import RequestLog
from ipamd.views import DaemonView, version
from ipamd.why import WhyContext, Wiring, explain
from providers.ratelimit import RateLimiterStats
from providers.retry import CallOutcome

log = logging.getLogger(__name__)


@dataclass
class Extras:
    """What only some daemons have: Kubernetes, the kernel dataplane, the doctor."""

    kubernetes_health: Callable[[], dict[str, Any]] | None = None
    pending: Callable[[str, str], bool] | None = None
    pending_named: Callable[[str], list[str]] | None = None
    wiring: Callable[[Allocation], Wiring] | None = None
    doctor: Callable[[], dict[str, Any]] | None = None


class Observability:
    def __init__(self, settings: Settings, loaded: LoadedConfig | None = None) -> None:
        self.settings = settings
        self.loaded = loaded
        provider = settings.daemon.provider.value
        self.cloud = CloudHealth(provider)
        self.metrics = (
            None
            if settings.daemon.disable_metrics
            else Metrics(self._gauges, provider=provider, version=version())
        )
        self.requests = RequestLog(finished=self._cni_finished)
        self.view: DaemonView | None = None
        self.extras = Extras()
        self._metrics_server: MetricsServer | None = None
        self._introspection: IntrospectionServer | None = None

    # -- told by the daemon's parts ------------------------------------------------------
    def cloud_call(self, outcome: CallOutcome) -> None:
        self.cloud(outcome)
        if self.metrics is not None:
            self.metrics.cloud_call(outcome)

    def pool_decided(self, event: PoolEvent) -> None:
        if self.metrics is None:
            return
        self.metrics.pool_decision(event.outcome.value)
        if event.repeats == 1:  # a folded repeat did nothing new
            for action in event.actions:
                self.metrics.pool_action(action.kind.value, action.blocks)
        self._observe_available()

    def reconcile_fixed(self, fixes: Mapping[str, int]) -> None:
        if self.metrics is not None:
            self.metrics.reconcile_fixes(fixes)

    def leaks_released(self, source: str, count: int) -> None:
        if self.metrics is not None:
            self.metrics.leaks_released(source, count)

    def _cni_finished(self, op: str, code: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.cni_request(op, code, seconds)
            self._observe_available()

    def _observe_available(self) -> None:
        if self.metrics is not None and self.view is not None:
            self.metrics.observe_available(self.view.store.counts().available)

    # -- assembled -----------------------------------------------------------------------
    def attach(
        self, view: DaemonView, extras: Extras, limiter: Callable[[], RateLimiterStats] | None
    ) -> None:
        self.view = view
        self.extras = extras
        self.cloud.limiter = limiter

    def _gauges(self) -> PoolGauges:
        view = self.view
        if view is None:
            raise RuntimeError("the daemon is still starting")
        counts, limits = view.store.counts(), view.pool.limits
        interfaces = view.store.interfaces()
        kube = self.extras.kubernetes_health() if self.extras.kubernetes_health else None
        return PoolGauges(
            addresses_total=counts.total,
            addresses_assigned=counts.assigned,
            addresses_cooling=counts.cooling,
            addresses_available=counts.available,
            interfaces=len(interfaces),
            interfaces_max=limits.max_interfaces,
            blocks=sum(len(i.blocks) for i in interfaces),
            blocks_max=limits.max_interfaces * limits.blocks_per_interface,
            max_pods=limits.max_pods,
            growth_blocked=view.pool.blocked is not None,
            kubernetes_connected=None if kube is None else bool(kube.get("connected")),
            kubernetes_unreachable_seconds=float((kube or {}).get("unreachable_for") or 0.0),
        )

    def routes(self) -> dict[str, Route]:
        view = self.view
        if view is None:
            raise RuntimeError("attach the daemon's view first")
        extras = self.extras
        why = WhyContext(
            allocations=view.store.allocations,
            requests=self.requests,
            blocked=lambda: view.pool.blocked,
            available=lambda: view.store.counts().available,
            wiring=extras.wiring,
            pending=extras.pending,
            pending_named=extras.pending_named,
            max_pods=lambda: view.pool.limits.max_pods,
        )
        routes: dict[str, Route] = {
            "/v1/status": lambda _q: view.status(),
            "/v1/pool": lambda _q: view.pool_json(),
            "/v1/interfaces": lambda _q: view.interfaces(),
            "/v1/allocations": lambda _q: view.allocations(),
            "/v1/decisions": lambda _q: view.decisions(),
            "/v1/requests": lambda _q: view.recent_requests(),
            "/v1/cloud": lambda _q: view.cloud_json(),
            "/v1/settings": lambda _q: view.settings(),
            "/v1/why": lambda q: explain(q.get("q", ""), why),
            "/v1/doctor": lambda _q: self._doctor(),
        }
        index = sorted(routes)
        routes["/"] = lambda _q: {"endpoints": index}
        return routes

    def _doctor(self) -> dict[str, Any]:
        if self.extras.doctor is None:
            raise BadQuery("the doctor is not available on this daemon")
        return self.extras.doctor()

    def start(self) -> None:
        """Start the metrics and introspection endpoints the settings ask for; a port
        already taken is logged and the daemon serves pods without that endpoint."""
        daemon, view = self.settings.daemon, self.view
        endpoints: dict[str, str | None] = {"metrics": None, "introspection": None}
        if self.metrics is not None:
            try:
                self._metrics_server = self.metrics.serve(daemon.metrics_bind_address)
                endpoints["metrics"] = self._metrics_server.address
            except OSError as error:
                log.error("no metrics: cannot listen on %s: %s", daemon.metrics_bind_address, error)
        if not daemon.disable_introspection:
            try:
                server = IntrospectionServer(daemon.introspection_bind_address, self.routes())
                self._introspection = server.start()
                endpoints["introspection"] = server.address
            except OSError as error:
                log.error(
                    "no introspection: cannot listen on %s: %s",
                    daemon.introspection_bind_address,
                    error,
                )
        if view is not None:
            view.endpoints = endpoints

    def stop(self) -> None:
        for server in (self._introspection, self._metrics_server):
            if server is not None:
                server.stop()
