"""An honest in-memory Provider: real state and the cloud's rules, for the daemon's unit tests.

Daemon tests need a cloud that behaves like one, not a list of expected calls: addresses are
unique per subnet and prefixes aligned (providers.addressing), interfaces and blocks are
bounded by the instance type, a failed call changes nothing, the metadata view lags the API
and (like IMDS) carries no tags or attachment id, and a crash between "create" and "attach"
leaves a tagged, detached interface for the leak sweep. Tests steer it with scripted faults
(``fail``) and read back what the daemon did (``calls``, ``mutating_calls``); helpers that
model the world rather than the daemon (``add_subnet``, ``leak_detached_interface``,
``account_interfaces``) are not logged.

It keeps the AWS provider's conventions (providers.aws): EC2 error codes, the same tags, the
same ownership and sweep rules. The clock is a wall clock (epoch seconds), since creation
times travel in tags. Calls naming an interface that exists but is not attached to this node
fail with Conflict; only ``tag_interface`` reaches any interface, as CreateTags does.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import Concatenate, ParamSpec, TypeVar

from providers.addressing import Shortage, SubnetAllocator, SubnetFull
from providers.aws import tags as t
from providers.errors import (
    CapacityExhausted,
    Conflict,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    ProviderError,
)
from providers.models import EMPTY_TAGS, AddressBlock, CloudInterface, InstanceLimits, NodeInfo

MUTATING_METHODS = frozenset(
    {"grow", "create_interface", "release", "remove_interface", "tag_interface", "sweep_leaks"}
)
METHODS = MUTATING_METHODS | {"discover", "local_interfaces", "cloud_interfaces"}

_ERRORS: dict[str, type[ProviderError]] = {
    "AttachmentLimitExceeded": LimitExceeded,
    "PrivateIpAddressLimitExceeded": LimitExceeded,
    "InsufficientFreeAddressesInSubnet": CapacityExhausted,
    "InsufficientCidrBlocks": CapacityExhausted,
    "InvalidNetworkInterfaceID.NotFound": NotFound,
    "InvalidSubnetID.NotFound": NotFound,
    "IncorrectState": Conflict,
    "OperationNotPermitted": Conflict,
    "InvalidParameterValue": InvalidRequest,
}
_SHORTAGE_CODES = {
    Shortage.ADDRESSES: "InsufficientFreeAddressesInSubnet",
    Shortage.PREFIXES: "InsufficientCidrBlocks",
}

DEFAULT_LIMITS = InstanceLimits("m5.large", 3, 10, 2, True)
DEFAULT_VPC = IPv4Network("10.0.0.0/16")
DEFAULT_SUBNET = IPv4Network("10.0.1.0/24")

P = ParamSpec("P")
R = TypeVar("R")


def _error(code: str, operation: str, message: str) -> ProviderError:
    return _ERRORS[code](message, code=code, operation=operation)


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeNode:
    """Who the fake node is. ``block_prefixlen``: 32 secondary IPs, 28 prefixes, or any
    length for GCE-like alias ranges."""

    instance_id: str = "i-0fake0000000000001"
    limits: InstanceLimits = DEFAULT_LIMITS
    region: str = "us-west-2"
    zone: str = "us-west-2a"
    vpc_id: str = "vpc-0fake"
    vpc_cidrs: tuple[IPv4Network, ...] = (DEFAULT_VPC,)
    subnet_id: str = "subnet-0node"
    subnet_cidr: IPv4Network = DEFAULT_SUBNET
    security_groups: tuple[str, ...] = ("sg-0node",)
    block_prefixlen: int = 32


@dataclass(slots=True)
class Eni:
    """An interface as the account holds it; tests get copies from ``account_interfaces``."""

    id: str
    mac: str
    subnet_id: str
    primary_ip: IPv4Address
    security_groups: tuple[str, ...]
    tags: dict[str, str]
    blocks: dict[IPv4Network, float] = field(default_factory=dict)
    """Block -> when it was assigned (the metadata view hides it until ``metadata_lag``)."""
    primary: bool = False
    device_index: int | None = None
    """None while detached."""
    attachment_id: str | None = None
    attached_at: float = -math.inf
    delete_on_termination: bool = False


def _frozen(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType(dict(value))
    return value


def _recorded(
    method: Callable[Concatenate[FakeProvider, P], R],
) -> Callable[Concatenate[FakeProvider, P], R]:
    """Log the call with all its arguments, then raise a scripted fault or run it."""
    signature = inspect.signature(method)

    def wrapper(self: FakeProvider, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        with self._lock:
            name = method.__name__
            self.calls.append((name, tuple(_frozen(v) for v in bound.arguments.values())[1:]))
            faults = self._faults.get(name)
            if faults:
                raise faults.pop(0)
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


class FakeProvider:
    """Satisfies providers.base.Provider, in memory. Thread-safe: one lock around all state."""

    def __init__(
        self,
        node: FakeNode | None = None,
        *,
        clock: Callable[[], float] = time.time,
        metadata_lag: float = 0.0,
        cluster_name: str = "",
        additional_tags: Sequence[tuple[str, str]] = (),
        leak_grace: float = 300.0,
        leak_sweep_max: int = 10,
    ) -> None:
        self.node = node or FakeNode()
        self.metadata_lag = metadata_lag
        """Seconds during which new attachments and blocks are missing from local_interfaces."""
        self.cluster_name = cluster_name
        self.additional_tags = tuple(additional_tags)
        self.leak_grace = leak_grace
        self.leak_sweep_max = leak_sweep_max
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._clock = clock
        self._lock = threading.RLock()
        self._faults: dict[str, list[ProviderError]] = {}
        self._serial = itertools.count(1)
        self._enis: dict[str, Eni] = {}
        self._subnets: dict[str, SubnetAllocator] = {}
        self.add_subnet(self.node.subnet_id, self.node.subnet_cidr)
        primary = self._create(self.node.subnet_id, 0, self.node.security_groups, {}, "init")
        primary.primary = True
        self._attach(primary, 0, -math.inf)
        self._primary_id = primary.id

    # -- test helpers: the world around the daemon (not logged) ------------------------------

    def add_subnet(self, subnet_id: str, cidr: IPv4Network) -> None:
        """Register a subnet of the VPC (e.g. an ENIConfig's, for custom networking)."""
        with self._lock:
            if not any(cidr.subnet_of(vpc) for vpc in self.node.vpc_cidrs):
                raise ValueError(f"{cidr} is outside the VPC {self.node.vpc_cidrs}")
            if subnet_id in self._subnets or any(
                cidr.overlaps(a.subnet) for a in self._subnets.values()
            ):
                raise ValueError(f"{subnet_id} ({cidr}) overlaps a registered subnet")
            self._subnets[subnet_id] = SubnetAllocator.aws(cidr)

    def fail(self, method: str, error: ProviderError, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error`` and change nothing."""
        if method not in METHODS:
            raise ValueError(f"{method!r} is not a Provider method")
        with self._lock:
            self._faults.setdefault(method, []).extend([error] * times)

    def leak_detached_interface(
        self,
        blocks: int = 0,
        *,
        subnet_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """An interface created (tagged as ours unless ``tags`` is given) but never attached,
        as a crash between create and attach leaves it. Returns its id."""
        with self._lock:
            own = self._tags() if tags is None else dict(tags)
            subnet = subnet_id or self.node.subnet_id
            return self._create(subnet, blocks, (), own, "leak_detached_interface").id

    def account_interfaces(self) -> tuple[Eni, ...]:
        """Every interface in the account, attached to this node or not, as copies."""
        with self._lock:
            return tuple(copy.deepcopy(e) for e in sorted(self._enis.values(), key=lambda e: e.id))

    def free_addresses(self, subnet_id: str | None = None) -> int:
        with self._lock:
            return self._subnets[subnet_id or self.node.subnet_id].free_addresses()

    def mutating_calls(self) -> int:
        """Calls of state-changing methods, failed ones included (each cost an API call)."""
        with self._lock:
            return sum(1 for name, _ in self.calls if name in MUTATING_METHODS)

    # -- the Provider Protocol ---------------------------------------------------------------

    @property
    def block_prefixlen(self) -> int:
        return self.node.block_prefixlen

    @_recorded
    def discover(self) -> NodeInfo:
        node, primary = self.node, self._enis[self._primary_id]
        return NodeInfo(
            instance_id=node.instance_id,
            instance_type=node.limits.instance_type,
            region=node.region,
            zone=node.zone,
            vpc_id=node.vpc_id,
            vpc_cidrs=node.vpc_cidrs,
            subnet_id=node.subnet_id,
            subnet_cidr=node.subnet_cidr,
            security_groups=node.security_groups,
            primary_interface_id=primary.id,
            primary_mac=primary.mac,
            primary_ip=primary.primary_ip,
            limits=node.limits,
        )

    @_recorded
    def cloud_interfaces(self) -> tuple[CloudInterface, ...]:
        return tuple(self._view(e) for e in self._attached_enis())

    @_recorded
    def local_interfaces(self) -> tuple[CloudInterface, ...]:
        until = self._clock() - self.metadata_lag
        return tuple(self._view(e, until) for e in self._attached_enis() if e.attached_at <= until)

    @_recorded
    def grow(self, interface_id: str, blocks: int) -> tuple[AddressBlock, ...]:
        eni = self._mine(interface_id, "grow")
        if blocks < 1:
            raise _error("InvalidParameterValue", "grow", f"cannot grow by {blocks} blocks")
        self._check_slots(len(eni.blocks) + blocks, "grow")
        new = self._allocate(eni.subnet_id, blocks, "grow")
        eni.blocks.update(dict.fromkeys(new, self._clock()))
        return tuple(sorted(AddressBlock(b) for b in new))

    @_recorded
    def create_interface(
        self,
        blocks: int,
        *,
        subnet_id: str | None = None,
        security_groups: Sequence[str] | None = None,
    ) -> CloudInterface:
        op, limits = "create_interface", self.node.limits
        attached = self._attached_enis()
        if len(attached) >= limits.max_interfaces:
            msg = f"{limits.instance_type} takes at most {limits.max_interfaces} interfaces"
            raise _error("AttachmentLimitExceeded", op, msg)
        if blocks < 0:
            raise _error("InvalidParameterValue", op, f"cannot create with {blocks} blocks")
        self._check_slots(blocks, op)
        subnet = subnet_id or self.node.subnet_id
        if subnet not in self._subnets:
            raise _error("InvalidSubnetID.NotFound", op, f"no subnet {subnet}")
        groups = tuple(security_groups or self.node.security_groups)
        eni = self._create(subnet, blocks, groups, self._tags(), op)
        used = {e.device_index for e in attached}
        self._attach(eni, next(i for i in itertools.count(1) if i not in used), self._clock())
        return self._view(eni)

    @_recorded
    def release(self, interface_id: str, blocks: Sequence[AddressBlock]) -> None:
        eni = self._mine(interface_id, "release")
        for block in blocks:
            if eni.blocks.pop(block.cidr, None) is not None:
                self._free(eni.subnet_id, block.cidr)

    @_recorded
    def remove_interface(self, interface_id: str) -> None:
        op = "remove_interface"
        eni = self._mine(interface_id, op)
        if eni.primary:
            raise _error("OperationNotPermitted", op, f"{interface_id} is the primary interface")
        if not t.is_ours(eni.tags):
            raise _error("IncorrectState", op, f"{interface_id} was not created by vpc-ipam")
        self._delete(eni)

    @_recorded
    def tag_interface(self, interface_id: str, tags: Mapping[str, str]) -> None:
        if interface_id not in self._enis:
            raise _error("InvalidNetworkInterfaceID.NotFound", "tag_interface", interface_id)
        if reserved := sorted(k for k in tags if k.lower().startswith("aws:")):
            raise _error("InvalidParameterValue", "tag_interface", f"reserved keys {reserved}")
        self._enis[interface_id].tags.update(tags)

    @_recorded
    def sweep_leaks(self) -> tuple[str, ...]:
        """The AWS provider's rule: detached, ours (and of our cluster when one is named), at
        least ``leak_grace`` old; an undated one is dated now and judged on a later sweep."""
        now, leaked = self._clock(), []
        for eni in sorted(self._enis.values(), key=lambda e: e.id):
            if eni.device_index is not None or not t.is_ours(eni.tags):
                continue
            if self.cluster_name and eni.tags.get(t.CLUSTER_TAG) != self.cluster_name:
                continue
            created = t.parse_created_at(eni.tags.get(t.CREATED_AT_TAG, ""))
            if created is None:
                eni.tags[t.CREATED_AT_TAG] = t.created_at(now)
            elif now - created >= self.leak_grace:
                leaked.append((created, eni.id))
        doomed = tuple(eni_id for _, eni_id in sorted(leaked)[: self.leak_sweep_max])
        for eni_id in doomed:
            self._delete(self._enis[eni_id])
        return doomed

    # -- internals (callers hold the lock) ---------------------------------------------------

    def _tags(self) -> dict[str, str]:
        node_id, now = self.node.instance_id, self._clock()
        return t.interface_tags(node_id, now, self.cluster_name, self.additional_tags)

    def _attached_enis(self) -> list[Eni]:
        enis = [e for e in self._enis.values() if e.device_index is not None]
        return sorted(enis, key=lambda e: e.device_index or 0)

    def _mine(self, interface_id: str, op: str) -> Eni:
        eni = self._enis.get(interface_id)
        if eni is None:
            raise _error("InvalidNetworkInterfaceID.NotFound", op, f"no interface {interface_id}")
        if eni.device_index is None:
            msg = f"{interface_id} is not attached to {self.node.instance_id}"
            raise _error("IncorrectState", op, msg)
        return eni

    def _check_slots(self, wanted: int, op: str) -> None:
        if wanted > (limit := self.node.limits.blocks_per_interface):
            msg = f"an interface holds at most {limit} blocks, {wanted} asked"
            raise _error("PrivateIpAddressLimitExceeded", op, msg)

    def _allocate(
        self, subnet_id: str, count: int, op: str, prefixlen: int | None = None
    ) -> list[IPv4Network]:
        alloc, prefixlen = self._subnets[subnet_id], prefixlen or self.node.block_prefixlen
        try:
            if prefixlen == 32:
                return [IPv4Network(a) for a in alloc.allocate(count)]
            return list(alloc.allocate_prefixes(count, prefixlen))
        except SubnetFull as full:
            raise _error(_SHORTAGE_CODES[full.shortage], op, str(full)) from full

    def _free(self, subnet_id: str, block: IPv4Network) -> None:
        if block.prefixlen == 32:
            self._subnets[subnet_id].release(block.network_address)
        else:
            self._subnets[subnet_id].release_prefix(block)

    def _create(
        self, subnet_id: str, blocks: int, groups: tuple[str, ...], tags: dict[str, str], op: str
    ) -> Eni:
        """Take the primary address and the blocks together, all or nothing."""
        (primary_net,) = self._allocate(subnet_id, 1, op, prefixlen=32)
        try:
            new = self._allocate(subnet_id, blocks, op)
        except ProviderError:
            self._free(subnet_id, primary_net)
            raise
        n = next(self._serial)
        eni = Eni(
            id=f"eni-{n:017x}",
            mac=f"02:00:00:00:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}",
            subnet_id=subnet_id,
            primary_ip=primary_net.network_address,
            security_groups=groups,
            tags=tags,
            blocks=dict.fromkeys(new, self._clock()),
        )
        self._enis[eni.id] = eni
        return eni

    def _attach(self, eni: Eni, index: int, at: float) -> None:
        eni.device_index = index
        eni.attachment_id = f"eni-attach-{eni.id.removeprefix('eni-')}"
        eni.attached_at = at
        eni.delete_on_termination = True

    def _delete(self, eni: Eni) -> None:
        for block in (*eni.blocks, IPv4Network(eni.primary_ip)):
            self._free(eni.subnet_id, block)
        del self._enis[eni.id]

    def _view(self, eni: Eni, metadata_until: float | None = None) -> CloudInterface:
        """The API's view, or with ``metadata_until`` the metadata service's: blocks assigned
        by then, and no tags or attachment id (IMDS has neither)."""
        local = metadata_until is not None
        until = math.inf if metadata_until is None else metadata_until
        return CloudInterface(
            id=eni.id,
            mac=eni.mac,
            device_index=eni.device_index or 0,
            primary=eni.primary,
            subnet_id=eni.subnet_id,
            subnet_cidr=self._subnets[eni.subnet_id].subnet,
            primary_ip=eni.primary_ip,
            blocks=tuple(sorted(AddressBlock(b) for b, at in eni.blocks.items() if at <= until)),
            security_groups=eni.security_groups,
            tags=EMPTY_TAGS if local else MappingProxyType(dict(eni.tags)),
            attachment_id=None if local else eni.attachment_id,
        )
