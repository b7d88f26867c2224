"""``ComputeEmulator``: the Compute Engine API on 127.0.0.1 plus a metadata server per
instance, over one model, and the Python API tests and the sandbox use to build a project.

    with ComputeEmulator(clock=FakeClock()) as gce:
        gce.create_network("vpc")
        gce.create_subnetwork("nodes", "vpc", "10.0.0.0/24", {"pods": "10.4.0.0/16"})
        node = gce.create_instance("node-a", "us-central1-a", "nodes")
        instances = compute_v1.InstancesClient(**gce.client_kwargs())
        os.environ["GCE_METADATA_HOST"] = gce.metadata_host("node-a")

Setup goes straight to the model (it is not an API call: not counted, throttled or failed).
The library's ``update_network_interface(...).result()`` polls through a zone operations
client of its own that ignores ``client_options``: use ``update_network_interface_unary``
and a ``ZoneOperationsClient`` built with ``client_kwargs()``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from types import TracebackType
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials

from sandbox.clock import Clock, SystemClock
from sandbox.gce.api import ComputeApi
from sandbox.gce.metadata import MetadataServer
from sandbox.gce.model import Model, OperationError


@dataclass(frozen=True)
class Instance:
    """An instance as the sandbox sees it; ``alias_ranges`` are those applied so far."""

    name: str
    id: str
    zone: str
    machine_type: str
    network_ip: str
    mac: str
    subnetwork: str
    network: str
    alias_ranges: tuple[str, ...] = ()


class ComputeEmulator:
    """One project's Compute Engine, where an IPAM daemon cares, on loopback."""

    def __init__(
        self,
        project: str = "sandbox-project",
        region: str = "us-central1",
        clock: Clock | None = None,
        *,
        wait_limit: float = 2.0,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.model = Model(project, region, self.clock)
        self.api = ComputeApi(self.model, wait_limit)
        self._metadata: dict[str, MetadataServer] = {}
        self._metadata_lock = threading.Lock()
        self._running = False

    @property
    def project(self) -> str:
        return self.model.project

    @property
    def region(self) -> str:
        return self.model.region

    @property
    def project_number(self) -> int:
        return self.model.number

    # -- lifecycle --

    def start(self) -> None:
        self.api.start()
        self._running = True

    def stop(self) -> None:
        with self._metadata_lock:
            servers, self._metadata = list(self._metadata.values()), {}
        try:
            for server in servers:
                server.stop()
        finally:
            if self._running:
                self.api.stop()
            self._running = False

    def __enter__(self) -> ComputeEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any ``compute_v1`` client to reach this emulator."""
        return {
            "client_options": ClientOptions(api_endpoint=self.endpoint),
            "transport": "rest",
            # google-auth leaves AnonymousCredentials.__init__ unannotated
            "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
        }

    # -- building a project --

    def create_network(self, name: str) -> str:
        """A VPC network; returns its URL."""
        with self.model.lock:
            self.model.create_network(name)
            return self.model.network_url(name)

    def create_subnetwork(
        self,
        name: str,
        network: str,
        ip_cidr_range: str,
        secondary_ranges: Mapping[str, str] | None = None,
        region: str | None = None,
    ) -> str:
        """A subnetwork of ``network`` (name or URL) in the emulator's region; returns its
        URL. ``secondary_ranges`` maps range names to CIDRs."""
        secondary = {n: IPv4Network(c) for n, c in (secondary_ranges or {}).items()}
        with self.model.lock:
            subnet = self.model.create_subnetwork(
                name, _name(network), region or self.region, IPv4Network(ip_cidr_range), secondary
            )
            return self.model.subnetwork_url(subnet)

    def create_instance(
        self, name: str, zone: str, subnetwork: str, machine_type: str = "e2-standard-4"
    ) -> Instance:
        """A running instance with nic0 in ``subnetwork`` (name or URL); its networkIP is
        the lowest free address of the primary range."""
        with self.model.lock:
            self.model.create_instance(name, zone, _name(subnetwork), machine_type)
            return self._view(name)

    # -- reading the model --

    def instance(self, name: str) -> Instance:
        with self.model.lock:
            self.model.settle()
            return self._view(name)

    def instances(self) -> list[Instance]:
        with self.model.lock:
            self.model.settle()
            return [self._view(name) for name in sorted(self.model.instances)]

    def alias_ranges(self, instance: str) -> list[str]:
        """The alias ranges of the instance's nic0 as applied (completed operations)."""
        return list(self.instance(instance).alias_ranges)

    def _view(self, name: str) -> Instance:
        state = self.model.instances.get(name)
        if state is None:
            raise KeyError(f"no instance {name!r}")
        return Instance(
            name=state.name,
            id=str(state.id),
            zone=state.zone,
            machine_type=state.machine_type,
            network_ip=str(state.network_ip),
            mac=state.mac,
            subnetwork=state.subnetwork,
            network=state.network,
            alias_ranges=tuple(str(a.cidr) for a in state.aliases),
        )

    # -- metadata servers --

    def metadata_host(self, instance: str) -> str:
        """``127.0.0.1:PORT`` of the instance's metadata server (started on first use)."""
        with self._metadata_lock:
            server = self._metadata.get(instance)
            if server is None:
                with self.model.lock:
                    if instance not in self.model.instances:
                        raise KeyError(f"no instance {instance!r}")
                server = MetadataServer(self.model, instance).start()
                self._metadata[instance] = server
            return server.host

    def set_metadata_lag(self, seconds: float) -> None:
        with self.model.lock:
            self.model.metadata_lag = max(0.0, seconds)

    # -- operations --

    def set_operation_delay(self, seconds: float) -> None:
        """Operations started from now on complete ``seconds`` later (by the clock); 0
        completes them before the call answers."""
        with self.model.lock:
            self.model.operation_delay = max(0.0, seconds)

    def fail_next_operation(self, error_code: str, message: str, http_status: int = 400) -> None:
        """The next accepted updateNetworkInterface ends DONE with this error, unapplied."""
        with self.model.lock:
            self.model.failures.append(OperationError(error_code, message, http_status))

    # -- the HTTP front --

    def fail_next(self, method: str, status: int, reason: str, message: str) -> None:
        """Answer the next call of ``method`` (e.g. ``instances.get``) with this error."""
        self.api.front.fail_next(method, status, reason, message)

    def throttle(self, burst: int, rate: float) -> None:
        """A token bucket over all API calls of the project; excess gets 403
        ``rateLimitExceeded``."""
        self.api.front.throttle(burst, rate)

    def unthrottle(self) -> None:
        self.api.front.unthrottle()

    def set_latency(self, method: str, seconds: float) -> None:
        self.api.front.set_latency(method, seconds)

    def call_counts(self) -> dict[str, int]:
        return self.api.front.call_counts()

    def throttled_counts(self) -> dict[str, int]:
        return self.api.front.throttled_counts()

    def reset_counts(self) -> None:
        self.api.front.reset_counts()


def _name(name_or_url: str) -> str:
    return name_or_url.rstrip("/").rsplit("/", 1)[-1]
