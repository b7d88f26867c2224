"""Fixtures for the Compute Engine emulator suite: the emulator on the test's fake clock with
one VPC (a /24 node subnetwork with a /24 ``pods`` and a /24 ``services`` secondary range) and
two nodes, and the real ``compute_v1`` clients (REST, anonymous) pointed at it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from google.cloud import compute_v1

from sandbox.clock import FakeClock
from sandbox.gce import ComputeEmulator

ZONE = "us-central1-a"
PODS = "10.4.0.0/24"
SERVICES = "10.8.0.0/24"


@pytest.fixture
def gce(clock: FakeClock) -> Iterator[ComputeEmulator]:
    with ComputeEmulator(clock=clock) as emulator:
        emulator.create_network("vpc")
        emulator.create_subnetwork(
            "nodes", "vpc", "10.0.0.0/24", {"pods": PODS, "services": SERVICES}
        )
        emulator.create_instance("node-a", ZONE, "nodes")
        emulator.create_instance("node-b", ZONE, "nodes")
        yield emulator


def alias(cidr: str, range_name: str | None = "pods") -> compute_v1.AliasIpRange:
    if range_name is None:
        return compute_v1.AliasIpRange(ip_cidr_range=cidr)
    return compute_v1.AliasIpRange(ip_cidr_range=cidr, subnetwork_range_name=range_name)


@dataclass
class Compute:
    """The three clients the daemon uses, and the calls the tests make with them."""

    gce: ComputeEmulator
    instances: compute_v1.InstancesClient
    operations: compute_v1.ZoneOperationsClient
    subnetworks: compute_v1.SubnetworksClient

    def get(self, name: str = "node-a") -> compute_v1.Instance:
        return self.instances.get(project=self.gce.project, zone=ZONE, instance=name)

    def nic(self, name: str = "node-a") -> compute_v1.NetworkInterface:
        return self.get(name).network_interfaces[0]

    def aliases(self, name: str = "node-a") -> list[str]:
        return [r.ip_cidr_range for r in self.nic(name).alias_ip_ranges]

    def update(
        self,
        ranges: Sequence[compute_v1.AliasIpRange],
        name: str = "node-a",
        *,
        fingerprint: str | None = None,
        request_id: str | None = None,
    ) -> compute_v1.Operation:
        body = compute_v1.NetworkInterface(
            fingerprint=self.nic(name).fingerprint if fingerprint is None else fingerprint,
            alias_ip_ranges=list(ranges),
        )
        request = compute_v1.UpdateNetworkInterfaceInstanceRequest(
            project=self.gce.project,
            zone=ZONE,
            instance=name,
            network_interface="nic0",
            network_interface_resource=body,
            request_id=request_id or str(uuid.uuid4()),
        )
        return self.instances.update_network_interface_unary(request=request)

    def operation(self, op: compute_v1.Operation) -> compute_v1.Operation:
        return self.operations.get(project=self.gce.project, zone=ZONE, operation=op.name)

    def wait(self, op: compute_v1.Operation) -> compute_v1.Operation:
        return self.operations.wait(project=self.gce.project, zone=ZONE, operation=op.name)


DONE = compute_v1.Operation.Status.DONE
RUNNING = compute_v1.Operation.Status.RUNNING


@pytest.fixture
def compute(gce: ComputeEmulator) -> Compute:
    kwargs = gce.client_kwargs()
    return Compute(
        gce,
        compute_v1.InstancesClient(**kwargs),
        compute_v1.ZoneOperationsClient(**kwargs),
        compute_v1.SubnetworksClient(**kwargs),
    )


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def http_get(url: str, headers: dict[str, str] | None = None) -> Reply:
    """One GET to a loopback URL: no proxy, redirects not followed."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return Reply(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode(), dict(error.headers))
