"""GceProvider: the Provider Protocol on Compute Engine alias IP ranges.

A GCE node has one interface, ``nic0``, and pods take addresses out of alias ranges cut
from the subnetwork's secondary range GCE_POD_RANGE_NAME, GCE_ALIAS_BLOCK_PREFIXLEN long
each (the blocks). Alias ranges of other secondary ranges, or of the primary range, are
someone else's: they are never counted as blocks and always written back unchanged.

``instances.updateNetworkInterface`` replaces the whole alias list, so every change is a
compare-and-swap on the interface's fingerprint: read, modify, send; a 412 (someone changed
the interface meanwhile) re-reads and tries again, a bounded number of times. Each attempt
carries its own request id, reused when the same attempt is retried after a transport
failure, so a retry never applies twice. The operation is waited for with a zone operations
client built like the others: the library's own poller would ignore a custom endpoint.
Size-only requests (``/28``) let Compute Engine pick free aligned ranges; what it picked is
read back from the instance.

Identity and nic0 come from the metadata server; the subnetwork's ranges (for SNAT's
exemptions) from ``subnetworks.get``. Nothing leaks (alias ranges go with the instance), so
``sweep_leaks`` has nothing to do, and the single NIC can neither be added to nor removed.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any, TypeVar

from google.cloud import compute_v1

from providers.errors import (
    Conflict,
    InvalidRequest,
    LimitExceeded,
    MetadataError,
    ProviderError,
)
from providers.gce.errors import is_stale_fingerprint, mapped
from providers.gce.metadata import MetadataClient
from providers.models import AddressBlock, CloudInterface, InstanceLimits, NodeInfo
from providers.retry import CallPolicy

T = TypeVar("T")

NIC = "nic0"
MAX_ALIAS_RANGES = 150
"""Alias IP ranges one network interface may have (Compute Engine's limit)."""
DONE = "DONE"


@dataclass(frozen=True, slots=True)
class GceOptions:
    pod_range_name: str
    block_prefixlen: int = 28
    swap_attempts: int = 5
    """Compare-and-swap rounds before giving up on a busy interface."""
    operation_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class GceClients:
    instances: compute_v1.InstancesClient
    subnetworks: compute_v1.SubnetworksClient
    operations: compute_v1.ZoneOperationsClient


@dataclass(frozen=True, slots=True)
class _Where:
    project: str
    zone: str
    instance: str

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]


class GceProvider:
    def __init__(
        self,
        clients: GceClients,
        metadata: MetadataClient,
        policy: CallPolicy,
        options: GceOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not options.pod_range_name:
            raise InvalidRequest("GCE_POD_RANGE_NAME is required with the GCE provider")
        self._clients = clients
        self._metadata = metadata
        self._policy = policy
        self.options = options
        self._clock = clock
        self._where: _Where | None = None
        self._node: NodeInfo | None = None
        self._subnet_name = ""

    @property
    def call_policy(self) -> CallPolicy:
        """The limiter and retry policy every call goes through (its counters: status)."""
        return self._policy

    @property
    def block_prefixlen(self) -> int:
        return self.options.block_prefixlen

    # -- the edge: every Compute call ----------------------------------------------------
    def _call(self, action: str, fn: Callable[[], T]) -> T:
        return self._policy.call(action, fn, mapper=mapped)

    # -- who we are --------------------------------------------------------------------
    def _locate(self) -> _Where:
        if self._where is None:
            found = self._metadata.instance()
            try:
                zone = str(found["zone"]).rsplit("/", 1)[-1]
                self._where = _Where(self._metadata.project_id(), zone, str(found["name"]))
            except KeyError as missing:
                raise MetadataError(f"metadata instance/ lacks {missing}") from missing
        return self._where

    def discover(self) -> NodeInfo:
        if self._node is not None:
            return self._node
        where = self._locate()
        instance = self._get_instance()
        nic = _nic0(instance)
        self._subnet_name = str(nic.subnetwork).rsplit("/", 1)[-1]
        subnet = self._get_subnetwork()
        machine = str(instance.machine_type).rsplit("/", 1)[-1]
        local = self._metadata_nic()
        self._node = NodeInfo(
            instance_id=str(instance.id),
            instance_type=machine,
            region=where.region,
            zone=where.zone,
            vpc_id=str(nic.network).rsplit("/", 1)[-1],
            vpc_cidrs=_ranges(subnet),
            subnet_id=self._subnet_name,
            subnet_cidr=IPv4Network(subnet.ip_cidr_range),
            security_groups=(),
            primary_interface_id=NIC,
            primary_mac=str(local.get("mac", "")),
            primary_ip=IPv4Address(nic.network_i_p),
            limits=InstanceLimits(
                instance_type=machine,
                max_interfaces=1,
                ipv4_per_interface=MAX_ALIAS_RANGES + 1,
                # unknown without machineTypes.get; 1 keeps max pods at GKE's default, 110
                vcpus=1,
                prefix_delegation=True,
            ),
        )
        return self._node

    def vpc_cidrs(self) -> tuple[IPv4Network, ...]:
        """The subnetwork's primary and secondary ranges, from the Compute API (the
        metadata server does not list them)."""
        self.discover()
        return _ranges(self._get_subnetwork())

    # -- views of nic0 -----------------------------------------------------------------
    def local_interfaces(self) -> tuple[CloudInterface, ...]:
        node = self.discover()
        local = self._metadata_nic()
        cidrs = [IPv4Network(a) for a in local.get("ipAliases") or []]
        ours = [c for c in cidrs if c.subnet_of(self._pod_range()) and c != node.subnet_cidr]
        return (self._view(node, ours),)

    def cloud_interfaces(self) -> tuple[CloudInterface, ...]:
        node = self.discover()
        nic = _nic0(self._get_instance())
        return (self._view(node, [IPv4Network(r.ip_cidr_range) for r in self._ours(nic)]),)

    def _view(self, node: NodeInfo, blocks: Sequence[IPv4Network]) -> CloudInterface:
        return CloudInterface(
            id=NIC,
            mac=node.primary_mac,
            device_index=0,
            primary=True,
            subnet_id=node.subnet_id,
            subnet_cidr=node.subnet_cidr,
            primary_ip=node.primary_ip,
            blocks=tuple(sorted(AddressBlock(c) for c in blocks)),
        )

    # -- changing the alias list -----------------------------------------------------------
    def grow(self, interface_id: str, blocks: int) -> tuple[AddressBlock, ...]:
        self._check_nic(interface_id)
        size = f"/{self.block_prefixlen}"
        name = self.options.pod_range_name

        def add(current: list[compute_v1.AliasIpRange]) -> list[compute_v1.AliasIpRange]:
            if len(current) + blocks > MAX_ALIAS_RANGES:
                raise LimitExceeded(
                    f"{NIC} holds {len(current)} alias ranges; {blocks} more would pass "
                    f"Compute Engine's {MAX_ALIAS_RANGES}",
                    operation="UpdateNetworkInterface",
                )
            extra = [
                compute_v1.AliasIpRange(ip_cidr_range=size, subnetwork_range_name=name)
                for _ in range(blocks)
            ]
            return [*current, *extra]

        before = {r.ip_cidr_range for r in self._ours(_nic0(self._get_instance()))}
        self._swap(add)
        after = {r.ip_cidr_range for r in self._ours(_nic0(self._get_instance()))}
        return tuple(sorted(AddressBlock(IPv4Network(c)) for c in after - before))

    def release(self, interface_id: str, blocks: Sequence[AddressBlock]) -> None:
        self._check_nic(interface_id)
        gone = {str(b.cidr) for b in blocks}

        def drop(current: list[compute_v1.AliasIpRange]) -> list[compute_v1.AliasIpRange] | None:
            kept = [r for r in current if not self._is_ours(r) or r.ip_cidr_range not in gone]
            return kept if len(kept) < len(current) else None

        self._swap(drop)

    def _swap(
        self,
        change: Callable[[list[compute_v1.AliasIpRange]], list[compute_v1.AliasIpRange] | None],
    ) -> None:
        """Read, change, write with the fingerprint; again on a stale fingerprint."""
        for attempt in range(1, self.options.swap_attempts + 1):
            nic = _nic0(self._get_instance())
            wanted = change(list(nic.alias_ip_ranges))
            if wanted is None:
                return  # nothing to change
            body = compute_v1.NetworkInterface(fingerprint=nic.fingerprint, alias_ip_ranges=wanted)
            try:
                self._update(body, request_id=str(uuid.uuid4()))
                return
            except ProviderError as error:
                if not is_stale_fingerprint(error) or attempt == self.options.swap_attempts:
                    raise
        raise Conflict(f"{NIC} kept changing under us", operation="UpdateNetworkInterface")

    def _update(self, body: compute_v1.NetworkInterface, *, request_id: str) -> None:
        where = self._locate()
        operation = self._call(
            "UpdateNetworkInterface",
            lambda: self._clients.instances.update_network_interface_unary(
                request=compute_v1.UpdateNetworkInterfaceInstanceRequest(
                    project=where.project,
                    zone=where.zone,
                    instance=where.instance,
                    network_interface=NIC,
                    network_interface_resource=body,
                    request_id=request_id,
                )
            ),
        )
        self._wait(operation)

    def _wait(self, operation: compute_v1.Operation) -> None:
        where = self._locate()
        end = self._clock() + self.options.operation_timeout
        while operation.status != compute_v1.Operation.Status.DONE:
            if self._clock() > end:
                raise ProviderError(
                    f"operation {operation.name} not done after "
                    f"{self.options.operation_timeout:.0f}s",
                    operation="WaitOperation",
                )
            operation = self._call(
                "WaitOperation",
                functools.partial(
                    self._clients.operations.wait,
                    project=where.project,
                    zone=where.zone,
                    operation=operation.name,
                ),
            )
        if operation.error and operation.error.errors:
            first = operation.error.errors[0]
            raise _operation_error(str(first.code), str(first.message))

    # -- the rest of the Protocol ------------------------------------------------------------
    def create_interface(
        self,
        blocks: int,
        *,
        subnet_id: str | None = None,
        security_groups: Sequence[str] | None = None,
    ) -> CloudInterface:
        raise LimitExceeded(
            "a GCE instance has its network interfaces fixed at creation; pods use nic0",
            operation="CreateInterface",
        )

    def remove_interface(self, interface_id: str) -> None:
        raise Conflict(f"{interface_id} is the instance's own NIC", operation="RemoveInterface")

    def tag_interface(self, interface_id: str, tags: Mapping[str, str]) -> None:
        """GCE network interfaces carry no tags; ownership is the pod range's name."""
        self._check_nic(interface_id)

    def sweep_leaks(self) -> tuple[str, ...]:
        return ()

    # -- helpers ---------------------------------------------------------------------------
    def _check_nic(self, interface_id: str) -> None:
        if interface_id != NIC:
            raise InvalidRequest(f"GCE nodes have one interface, {NIC}, not {interface_id}")

    def _is_ours(self, alias: compute_v1.AliasIpRange) -> bool:
        return str(alias.subnetwork_range_name) == self.options.pod_range_name

    def _ours(self, nic: compute_v1.NetworkInterface) -> list[compute_v1.AliasIpRange]:
        return [r for r in nic.alias_ip_ranges if self._is_ours(r)]

    def _pod_range(self) -> IPv4Network:
        subnet = self._get_subnetwork()
        for secondary in subnet.secondary_ip_ranges:
            if secondary.range_name == self.options.pod_range_name:
                return IPv4Network(secondary.ip_cidr_range)
        raise InvalidRequest(
            f"subnetwork {self._subnet_name} has no secondary range "
            f"{self.options.pod_range_name!r} (GCE_POD_RANGE_NAME)"
        )

    def _metadata_nic(self) -> dict[str, Any]:
        nics = self._metadata.instance().get("networkInterfaces") or []
        if not nics:
            raise MetadataError("metadata lists no network interface")
        return dict(nics[0])

    def _get_instance(self) -> compute_v1.Instance:
        where = self._locate()
        return self._call(
            "GetInstance",
            lambda: self._clients.instances.get(
                project=where.project, zone=where.zone, instance=where.instance
            ),
        )

    def _get_subnetwork(self) -> compute_v1.Subnetwork:
        where = self._locate()
        return self._call(
            "GetSubnetwork",
            lambda: self._clients.subnetworks.get(
                project=where.project, region=where.region, subnetwork=self._subnet_name
            ),
        )


def _nic0(instance: compute_v1.Instance) -> compute_v1.NetworkInterface:
    for nic in instance.network_interfaces:
        if nic.name == NIC:
            return nic
    raise MetadataError(f"instance {instance.name} has no {NIC}")


def _ranges(subnet: compute_v1.Subnetwork) -> tuple[IPv4Network, ...]:
    found = [IPv4Network(subnet.ip_cidr_range)]
    found += [IPv4Network(r.ip_cidr_range) for r in subnet.secondary_ip_ranges]
    return tuple(sorted(set(found)))


def _operation_error(code: str, message: str) -> ProviderError:
    """An operation that ended with an error, in the same tree as a failed call."""
    from google.api_core import exceptions as g  # noqa: PLC0415

    status = 412 if code == "CONDITION_NOT_MET" else 400
    error = g.from_http_status(status, message, errors=[{"reason": code}])  # type: ignore[no-untyped-call]
    return mapped(error, "UpdateNetworkInterface")
