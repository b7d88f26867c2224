"""The Compute Engine model behind the emulator: one project's networks, subnetworks,
instances (each with exactly one interface, ``nic0``) and zonal operations, under one lock.

Both the API server and the metadata servers read this one model, so what the metadata
server says always matches ``instances.get`` (up to the metadata lag, if one is set).
Time is the injected clock's: an operation is due at ``submitted + delay`` and is applied
by ``settle()``, which every reader calls first, so a fake clock decides when a change
lands. Address bookkeeping is per range (``blocks.RangeAllocator``): the primary range
holds Compute Engine's reserved addresses, the instances' ``networkIP`` and primary-range
aliases; each secondary range holds its alias ranges.

Instance names are unique per project here (Compute Engine: per zone).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network

from sandbox.clock import Clock
from sandbox.gce import errors
from sandbox.gce.blocks import RangeAllocator

API = "https://www.googleapis.com/compute/v1"
NIC = "nic0"
PRIMARY = ""
"""Range name under which the primary range's allocator is kept."""
RESERVED = "Compute Engine (reserved address)"


def timestamp() -> str:
    """Wall-clock time in RFC 3339, as Compute Engine stamps resources (display only)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def fingerprint(*parts: object) -> str:
    """An 8-byte base64 fingerprint, like Compute Engine's, derived from ``parts``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def mac_of(address: IPv4Address) -> str:
    """Compute Engine's MAC for an interface: 42:01 and then the four bytes of its IP."""
    return ":".join(f"{b:02x}" for b in (0x42, 0x01, *address.packed))


@dataclass
class Network:
    name: str
    id: int
    created: str


@dataclass
class Subnetwork:
    name: str
    id: int
    region: str
    network: str
    primary: IPv4Network
    secondary: dict[str, IPv4Network]
    ranges: dict[str, RangeAllocator]  # PRIMARY and each secondary range name
    created: str

    @property
    def gateway(self) -> IPv4Address:
        return self.primary.network_address + 1

    def network_of(self, range_name: str) -> IPv4Network:
        return self.primary if range_name == PRIMARY else self.secondary[range_name]


@dataclass(frozen=True, order=True)
class Alias:
    """One alias IP range of nic0; ``range_name`` is PRIMARY for the primary range."""

    range_name: str
    cidr: IPv4Network


@dataclass
class InstanceState:
    name: str
    id: int
    zone: str
    machine_type: str
    subnetwork: str
    network: str
    network_ip: IPv4Address
    created: str
    aliases: list[Alias] = field(default_factory=list)
    appeared: dict[Alias, float] = field(default_factory=dict)  # clock time an alias landed
    generation: int = 0  # bumped on every change of nic0
    busy: str | None = None  # the name of a running updateNetworkInterface

    @property
    def mac(self) -> str:
        return mac_of(self.network_ip)

    @property
    def nic_fingerprint(self) -> str:
        return fingerprint(self.id, NIC, self.generation)

    def owner(self) -> str:
        return f"instance '{self.name}'"


@dataclass(frozen=True)
class OperationError:
    code: str
    message: str
    http_status: int = 400


@dataclass
class Operation:
    name: str
    id: int
    zone: str
    instance: str
    request_id: str | None
    due: float
    inserted: str
    new: list[Alias]
    taken: list[Alias]  # reserved at submission; released again if the operation fails
    error: OperationError | None = None
    status: str = "RUNNING"
    ended: str | None = None


class Model:
    """All state of one emulated project. Every method expects ``lock`` to be held."""

    def __init__(self, project: str, region: str, clock: Clock) -> None:
        self.project = project
        self.region = region
        self.clock = clock
        self.lock = threading.RLock()
        digest = hashlib.sha256(project.encode()).digest()
        self.number = 100_000_000_000 + int.from_bytes(digest[:6]) % 900_000_000_000
        self._ids = itertools.count(int.from_bytes(digest[6:12]) % 10**18 + 10**18, 7_919)
        self.networks: dict[str, Network] = {}
        self.subnetworks: dict[str, Subnetwork] = {}
        self.instances: dict[str, InstanceState] = {}
        self.operations: dict[str, Operation] = {}
        self.request_ids: dict[str, str] = {}  # requestId -> operation name
        self.operation_delay = 0.0
        self.failures: deque[OperationError] = deque()
        self.metadata_lag = 0.0

    def next_id(self) -> int:
        return next(self._ids)

    # -- URLs --

    @property
    def project_url(self) -> str:
        return f"{API}/projects/{self.project}"

    def zone_url(self, zone: str) -> str:
        return f"{self.project_url}/zones/{zone}"

    def region_url(self, region: str) -> str:
        return f"{self.project_url}/regions/{region}"

    def network_url(self, name: str) -> str:
        return f"{self.project_url}/global/networks/{name}"

    def subnetwork_url(self, subnet: Subnetwork) -> str:
        return f"{self.region_url(subnet.region)}/subnetworks/{subnet.name}"

    def instance_url(self, instance: InstanceState) -> str:
        return f"{self.zone_url(instance.zone)}/instances/{instance.name}"

    # -- building --

    def create_network(self, name: str) -> Network:
        if name in self.networks:
            raise ValueError(f"network {name!r} exists")
        network = Network(name, self.next_id(), timestamp())
        self.networks[name] = network
        return network

    def create_subnetwork(
        self,
        name: str,
        network: str,
        region: str,
        primary: IPv4Network,
        secondary: dict[str, IPv4Network],
    ) -> Subnetwork:
        if name in self.subnetworks:
            raise ValueError(f"subnetwork {name!r} exists")
        if network not in self.networks:
            raise ValueError(f"no network {network!r}")
        if primary.prefixlen > 29:
            raise ValueError(f"{primary}: a subnetwork's primary range is /29 or larger")
        ours = [primary, *secondary.values()]
        theirs = [
            r
            for s in self.subnetworks.values()
            if s.network == network
            for r in (s.primary, *s.secondary.values())
        ]
        for i, cidr in enumerate(ours):
            clash = [o for o in ours[:i] + theirs if o.overlaps(cidr)]
            if clash:
                raise ValueError(f"{cidr} overlaps {clash[0]} in network {network!r}")
        ranges = {PRIMARY: RangeAllocator(primary)}
        ranges.update({n: RangeAllocator(cidr) for n, cidr in secondary.items()})
        first, last = primary.network_address, primary.broadcast_address
        for reserved in (first, first + 1, last - 1, last):
            ranges[PRIMARY].take_address(reserved, RESERVED)
        subnet = Subnetwork(
            name, self.next_id(), region, network, primary, dict(secondary), ranges, timestamp()
        )
        self.subnetworks[name] = subnet
        return subnet

    def create_instance(
        self, name: str, zone: str, subnetwork: str, machine_type: str
    ) -> InstanceState:
        if name in self.instances:
            raise ValueError(f"instance {name!r} exists")
        subnet = self.subnetworks.get(subnetwork)
        if subnet is None:
            raise ValueError(f"no subnetwork {subnetwork!r}")
        if not zone.startswith(subnet.region + "-"):
            raise ValueError(f"zone {zone!r} is not in {subnet.name}'s region {subnet.region}")
        owner = f"instance '{name}' (networkIP)"
        found = subnet.ranges[PRIMARY].allocate(32, 1, owner)
        if not found:
            raise ValueError(f"subnetwork {subnetwork!r} has no free address")
        instance = InstanceState(
            name,
            self.next_id(),
            zone,
            machine_type,
            subnet.name,
            subnet.network,
            found[0].network_address,
            timestamp(),
        )
        self.instances[name] = instance
        return instance

    # -- reading (as the API addresses things) --

    def check_project(self, project: str) -> None:
        if project != self.project:
            raise errors.not_found(f"projects/{project}")

    def instance(self, project: str, zone: str, name: str) -> InstanceState:
        self.check_project(project)
        found = self.instances.get(name)
        if found is None or found.zone != zone:
            raise errors.not_found(f"projects/{project}/zones/{zone}/instances/{name}")
        return found

    def subnetwork(self, project: str, region: str, name: str) -> Subnetwork:
        self.check_project(project)
        found = self.subnetworks.get(name)
        if found is None or found.region != region:
            raise errors.not_found(f"projects/{project}/regions/{region}/subnetworks/{name}")
        return found

    def operation(self, project: str, zone: str, name: str) -> Operation:
        self.check_project(project)
        found = self.operations.get(name)
        if found is None or found.zone != zone:
            raise errors.not_found(f"projects/{project}/zones/{zone}/operations/{name}")
        return found

    # -- time --

    def settle(self) -> None:
        """Complete every operation that is due by the clock, in the order they fell due."""
        now = self.clock.now()
        due = [op for op in self.operations.values() if op.status != "DONE" and op.due <= now]
        for op in sorted(due, key=lambda o: (o.due, o.id)):
            self.complete(op)

    def complete(self, op: Operation) -> None:
        instance = self.instances[op.instance]
        subnet = self.subnetworks[instance.subnetwork]
        if op.error is not None:
            for alias in op.taken:
                subnet.ranges[alias.range_name].release(alias.cidr)
        else:
            now = self.clock.now()
            new = set(op.new)
            for alias in instance.aliases:
                if alias not in new:
                    subnet.ranges[alias.range_name].release(alias.cidr)
                    instance.appeared.pop(alias, None)
            for alias in op.new:
                instance.appeared.setdefault(alias, now)
            instance.aliases = list(op.new)
            instance.generation += 1
        instance.busy = None
        op.status = "DONE"
        op.ended = timestamp()
