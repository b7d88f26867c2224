"""An honest in-memory Provider: real state and the cloud's rules, for the daemon's unit tests.

Daemon tests need a cloud that behaves like one, not a list of expected calls: addresses are
unique per subnet and prefixes aligned (providers.addressing), interfaces and blocks are
bounded by the instance type, a failed call changes nothing, the metadata view lags the API
and (like IMDS) carries no tags or attachment id, and a crash between "create" and "attach"
leaves a tagged, detached interface for the leak sweep. Tests steer it with scripted faults
(``fail``) and read back what the daemon did (``calls``, ``mutating_calls``); helpers that
model the world rather than the daemon (``add_subnet``, ``leak_detached_interface``,
``account_interfaces``) are not logged.

This module owns ``FakeProvider``: the Protocol's methods, the lock, faults, the call log and
the test helpers. The state they act on (node, interfaces, subnets, allocation, the API and
metadata views) lives in providers.fake_account, so each half reads on its own; its public
names are re-exported here, where tests import them.

It keeps the AWS provider's conventions (providers.aws): EC2 error codes, the same tags, the
same ownership and sweep rules. The clock is a wall clock (epoch seconds), since creation
times travel in tags. Calls naming an interface that exists but is not attached to this node
fail with Conflict; only ``tag_interface`` reaches any interface, as CreateTags does.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from ipaddress import IPv4Network
from types import MappingProxyType
from typing import Concatenate, ParamSpec, TypeVar

from providers.aws import tags as t
from providers.errors import ProviderError
from providers.fake_account import (
    DEFAULT_LIMITS,
    DEFAULT_SUBNET,
    DEFAULT_VPC,
    Eni,
    FakeAccount,
    FakeNode,
    ec2_error,
)
from providers.models import AddressBlock, CloudInterface, NodeInfo

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_SUBNET",
    "DEFAULT_VPC",
    "METHODS",
    "MUTATING_METHODS",
    "Eni",
    "FakeNode",
    "FakeProvider",
]

MUTATING_METHODS = frozenset(
    {"grow", "create_interface", "release", "remove_interface", "tag_interface", "sweep_leaks"}
)
METHODS = MUTATING_METHODS | {"discover", "local_interfaces", "cloud_interfaces"}

P = ParamSpec("P")
R = TypeVar("R")


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
        self._account = FakeAccount(self.node, clock)

    # -- test helpers: the world around the daemon (not logged) ------------------------------

    def associate_vpc_cidr(self, cidr: IPv4Network) -> None:
        """The VPC gains a CIDR (AssociateVpcCidrBlock)."""
        with self._lock:
            self.node = replace(self.node, vpc_cidrs=(*self.node.vpc_cidrs, cidr))
            self._account.node = self.node

    def add_subnet(self, subnet_id: str, cidr: IPv4Network) -> None:
        """Register a subnet of the VPC (e.g. an ENIConfig's, for custom networking)."""
        with self._lock:
            self._account.add_subnet(subnet_id, cidr)

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
            return self._account.create(subnet, blocks, (), own, "leak_detached_interface").id

    def account_interfaces(self) -> tuple[Eni, ...]:
        """Every interface in the account, attached to this node or not, as copies."""
        with self._lock:
            return tuple(copy.deepcopy(e) for e in self._account.interfaces())

    def free_addresses(self, subnet_id: str | None = None) -> int:
        with self._lock:
            return self._account.free_addresses(subnet_id or self.node.subnet_id)

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
        node, primary = self.node, self._account.primary()
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
    def vpc_cidrs(self) -> tuple[IPv4Network, ...]:
        return self.node.vpc_cidrs

    @_recorded
    def cloud_interfaces(self) -> tuple[CloudInterface, ...]:
        return tuple(self._account.view(e) for e in self._account.attached())

    @_recorded
    def local_interfaces(self) -> tuple[CloudInterface, ...]:
        return self._account.metadata_view(self.metadata_lag)

    @_recorded
    def grow(self, interface_id: str, blocks: int) -> tuple[AddressBlock, ...]:
        eni = self._account.mine(interface_id, "grow")
        if blocks < 1:
            raise ec2_error("InvalidParameterValue", "grow", f"cannot grow by {blocks} blocks")
        self._account.check_slots(len(eni.blocks) + blocks, "grow")
        new = self._account.assign(eni, blocks, "grow")
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
        if len(self._account.attached()) >= limits.max_interfaces:
            msg = f"{limits.instance_type} takes at most {limits.max_interfaces} interfaces"
            raise ec2_error("AttachmentLimitExceeded", op, msg)
        if blocks < 0:
            raise ec2_error("InvalidParameterValue", op, f"cannot create with {blocks} blocks")
        self._account.check_slots(blocks, op)
        subnet = subnet_id or self.node.subnet_id
        if not self._account.has_subnet(subnet):
            raise ec2_error("InvalidSubnetID.NotFound", op, f"no subnet {subnet}")
        groups = tuple(security_groups or self.node.security_groups)
        eni = self._account.create(subnet, blocks, groups, self._tags(), op)
        self._account.attach(eni)
        return self._account.view(eni)

    @_recorded
    def release(self, interface_id: str, blocks: Sequence[AddressBlock]) -> None:
        eni = self._account.mine(interface_id, "release")
        self._account.unassign(eni, (block.cidr for block in blocks))

    @_recorded
    def remove_interface(self, interface_id: str) -> None:
        op = "remove_interface"
        eni = self._account.mine(interface_id, op)
        if eni.primary:
            raise ec2_error("OperationNotPermitted", op, f"{interface_id} is the primary interface")
        if not t.is_ours(eni.tags):
            raise ec2_error("IncorrectState", op, f"{interface_id} was not created by vpc-ipam")
        self._account.delete(eni.id)

    @_recorded
    def tag_interface(self, interface_id: str, tags: Mapping[str, str]) -> None:
        eni = self._account.get(interface_id)
        if eni is None:
            raise ec2_error("InvalidNetworkInterfaceID.NotFound", "tag_interface", interface_id)
        if reserved := sorted(k for k in tags if k.lower().startswith("aws:")):
            raise ec2_error("InvalidParameterValue", "tag_interface", f"reserved keys {reserved}")
        eni.tags.update(tags)

    @_recorded
    def sweep_leaks(self) -> tuple[str, ...]:
        """The AWS provider's rule: detached, ours (and of our cluster when one is named), at
        least ``leak_grace`` old; an undated one is dated now and judged on a later sweep."""
        now, leaked = self._clock(), []
        for eni in self._account.interfaces():
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
            self._account.delete(eni_id)
        return doomed

    # -- internals (callers hold the lock) ---------------------------------------------------

    def _tags(self) -> dict[str, str]:
        node_id, now = self.node.instance_id, self._clock()
        return t.interface_tags(node_id, now, self.cluster_name, self.additional_tags)
