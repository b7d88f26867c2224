"""AwsProvider: the Provider Protocol on EC2 (boto3) and IMDSv2.

Every EC2 call goes through one CallPolicy (rate limiter + bounded, jittered retries) and
has its errors mapped at the edge (providers.aws.errors); botocore's own retries are off so
the two never stack. Destructive calls (unassign, detach, delete) are preceded by an EC2
describe of the interface, because IMDS lags. A new interface costs three mutating calls:
create (with its first addresses or prefixes), attach, and delete-on-termination.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any, TypeVar

from providers.aws import tags as t
from providers.aws.errors import mapped
from providers.aws.imds import ImdsClient
from providers.aws.limits import instance_limits
from providers.aws.views import ec2_interface, imds_interfaces
from providers.errors import Conflict, InvalidRequest, LimitExceeded, NotFound, ProviderError
from providers.models import AddressBlock, CloudInterface, InstanceLimits, NodeInfo
from providers.retry import CallPolicy

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeInfoTypeDef, NetworkInterfaceTypeDef

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """What the provider needs from the settings (config.cloud_settings, warm_pool)."""

    prefix_delegation: bool = False
    cluster_name: str = ""
    additional_tags: tuple[tuple[str, str], ...] = ()
    leak_grace: float = 300.0
    leak_sweep_max: int = 10
    detach_timeout: float = 30.0
    """Seconds to wait for a detach to finish before the delete."""


class AwsProvider:
    def __init__(
        self,
        ec2: EC2Client,
        imds: ImdsClient,
        policy: CallPolicy,
        options: AwsOptions = AwsOptions(),
        *,
        limits: InstanceLimits | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ec2 = ec2
        self._imds = imds
        self._policy = policy
        self.options = options
        self._limits = limits
        self._now = wall_clock
        self._sleep = sleep
        self._node: NodeInfo | None = None
        self._subnets: dict[str, IPv4Network] = {}

    @property
    def call_policy(self) -> CallPolicy:
        """The limiter and retry policy every call goes through (its counters: status)."""
        return self._policy

    @property
    def block_prefixlen(self) -> int:
        return 28 if self.options.prefix_delegation else 32

    # -- the edge: every EC2 call --------------------------------------------------------
    def _call(self, action: str, fn: Callable[[], T]) -> T:
        return self._policy.call(action, fn, mapper=mapped)

    # -- who we are --------------------------------------------------------------------
    def discover(self) -> NodeInfo:
        if self._node is not None:
            return self._node
        imds = self._imds
        instance_type = imds.get("meta-data/instance-type").strip()
        mac = imds.get("meta-data/mac").strip()
        base = f"meta-data/network/interfaces/macs/{mac}/"
        zone = imds.get("meta-data/placement/availability-zone").strip()
        region = (imds.get_optional("meta-data/placement/region") or zone[:-1]).strip()
        try:
            vpc_cidrs = tuple(IPv4Network(c) for c in imds.get_lines(base + "vpc-ipv4-cidr-blocks"))
            subnet_cidr = IPv4Network(imds.get(base + "subnet-ipv4-cidr-block").strip())
            primary_ip = IPv4Address(imds.get("meta-data/local-ipv4").strip())
        except ValueError as bad:
            raise ProviderError(f"instance metadata is malformed: {bad}") from bad
        if self._limits is None:
            self._limits = instance_limits(instance_type, self._describe_instance_type)
        self._node = NodeInfo(
            instance_id=imds.get("meta-data/instance-id").strip(),
            instance_type=instance_type,
            region=region,
            zone=zone,
            vpc_id=imds.get(base + "vpc-id").strip(),
            vpc_cidrs=vpc_cidrs,
            subnet_id=imds.get(base + "subnet-id").strip(),
            subnet_cidr=subnet_cidr,
            security_groups=imds.get_lines(base + "security-group-ids"),
            primary_interface_id=imds.get(base + "interface-id").strip(),
            primary_mac=mac,
            primary_ip=primary_ip,
            limits=self._limits,
        )
        self._subnets[self._node.subnet_id] = subnet_cidr
        return self._node

    def _describe_instance_type(self, instance_type: str) -> InstanceTypeInfoTypeDef:
        answer = self._call(
            "DescribeInstanceTypes",
            lambda: self._ec2.describe_instance_types(InstanceTypes=[instance_type]),  # type: ignore[list-item]
        )
        types = answer.get("InstanceTypes", [])
        if not types:
            raise NotFound(f"EC2 does not know instance type {instance_type}")
        return types[0]

    # -- what we hold ------------------------------------------------------------------
    def local_interfaces(self) -> tuple[CloudInterface, ...]:
        return imds_interfaces(self._imds)

    def vpc_cidrs(self) -> tuple[IPv4Network, ...]:
        mac = self.discover().primary_mac
        base = f"meta-data/network/interfaces/macs/{mac}/"
        lines = self._imds.get_lines(base + "vpc-ipv4-cidr-blocks")
        try:
            return tuple(IPv4Network(c) for c in lines)
        except ValueError as bad:
            raise ProviderError(f"instance metadata is malformed: {bad}") from bad

    def cloud_interfaces(self) -> tuple[CloudInterface, ...]:
        node = self.discover()
        enis = self._describe_enis(
            [{"Name": "attachment.instance-id", "Values": [node.instance_id]}]
        )
        views = (ec2_interface(e, self._subnet_cidr) for e in enis)
        return tuple(sorted(views, key=lambda i: i.device_index))

    def _describe_enis(
        self, filters: list[Any], ids: Sequence[str] = ()
    ) -> list[NetworkInterfaceTypeDef]:
        kwargs: dict[str, Any] = {"Filters": filters} if filters else {}
        if ids:
            kwargs["NetworkInterfaceIds"] = list(ids)
        found: list[NetworkInterfaceTypeDef] = []
        while True:
            page = self._call(
                "DescribeNetworkInterfaces",
                functools.partial(self._ec2.describe_network_interfaces, **kwargs),
            )
            found += page.get("NetworkInterfaces", [])
            token = page.get("NextToken")
            if not token:
                return found
            kwargs["NextToken"] = token

    def _subnet_cidr(self, subnet_id: str) -> IPv4Network:
        if subnet_id not in self._subnets:
            answer = self._call(
                "DescribeSubnets", lambda: self._ec2.describe_subnets(SubnetIds=[subnet_id])
            )
            subnets = answer.get("Subnets", [])
            if not subnets:
                raise NotFound(f"subnet {subnet_id} not found", operation="DescribeSubnets")
            self._subnets[subnet_id] = IPv4Network(subnets[0]["CidrBlock"])
        return self._subnets[subnet_id]

    def _confirmed(self, interface_id: str) -> CloudInterface:
        """The interface as EC2 shows it now, refusing one that is not on this node."""
        node = self.discover()
        enis = self._describe_enis([], ids=[interface_id])
        if not enis:
            raise NotFound(f"{interface_id} does not exist", operation="DescribeNetworkInterfaces")
        owner = enis[0].get("Attachment", {}).get("InstanceId")
        if owner != node.instance_id:
            raise Conflict(f"{interface_id} is attached to {owner or 'nothing'}, not this node")
        return ec2_interface(enis[0], self._subnet_cidr)

    # -- growing -----------------------------------------------------------------------
    def _count_args(self, blocks: int) -> dict[str, Any]:
        if self.options.prefix_delegation:
            return {"Ipv4PrefixCount": blocks}
        return {"SecondaryPrivateIpAddressCount": blocks}

    def grow(self, interface_id: str, blocks: int) -> tuple[AddressBlock, ...]:
        if blocks < 1:
            raise InvalidRequest(f"grow needs blocks >= 1, got {blocks}", operation="grow")
        answer = self._call(
            "AssignPrivateIpAddresses",
            lambda: self._ec2.assign_private_ip_addresses(
                NetworkInterfaceId=interface_id, **self._count_args(blocks)
            ),
        )
        addresses = [a["PrivateIpAddress"] for a in answer.get("AssignedPrivateIpAddresses", [])]
        prefixes = [p["Ipv4Prefix"] for p in answer.get("AssignedIpv4Prefixes", [])]
        nets = [IPv4Network(f"{a}/32") for a in addresses] + [IPv4Network(p) for p in prefixes]
        return tuple(sorted(AddressBlock(n) for n in nets))

    def create_interface(
        self,
        blocks: int,
        *,
        subnet_id: str | None = None,
        security_groups: Sequence[str] | None = None,
    ) -> CloudInterface:
        node = self.discover()
        in_use = {i.device_index for i in self.cloud_interfaces()}
        if len(in_use) >= node.limits.max_interfaces:
            raise LimitExceeded(
                f"all {node.limits.max_interfaces} interface slots of {node.instance_type} "
                "are used",
                code="AttachmentLimitExceeded",
                operation="create_interface",
            )
        device_index = min(set(range(node.limits.max_interfaces)) - in_use)
        tags = t.interface_tags(
            node.instance_id, self._now(), self.options.cluster_name, self.options.additional_tags
        )
        created = self._call(
            "CreateNetworkInterface",
            lambda: self._ec2.create_network_interface(
                SubnetId=subnet_id or node.subnet_id,
                Groups=list(security_groups or node.security_groups),
                Description=t.description(node.instance_id),
                TagSpecifications=[
                    {
                        "ResourceType": "network-interface",
                        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
                    }
                ],
                **self._count_args(blocks),
            ),
        )["NetworkInterface"]
        eni_id = created["NetworkInterfaceId"]
        try:
            attachment_id = self._call(
                "AttachNetworkInterface",
                lambda: self._ec2.attach_network_interface(
                    NetworkInterfaceId=eni_id, InstanceId=node.instance_id, DeviceIndex=device_index
                ),
            )["AttachmentId"]
            self._call(
                "ModifyNetworkInterfaceAttribute",
                lambda: self._ec2.modify_network_interface_attribute(
                    NetworkInterfaceId=eni_id,
                    Attachment={"AttachmentId": attachment_id, "DeleteOnTermination": True},
                ),
            )
        except ProviderError:
            self._delete_quietly(eni_id)
            raise
        attached = dict(created)
        attached["Attachment"] = {
            "AttachmentId": attachment_id,
            "DeviceIndex": device_index,
            "InstanceId": node.instance_id,
        }
        return ec2_interface(attached, self._subnet_cidr)  # type: ignore[arg-type]

    def _delete(self, eni_id: str) -> None:
        self._call(
            "DeleteNetworkInterface",
            lambda: self._ec2.delete_network_interface(NetworkInterfaceId=eni_id),
        )

    def _delete_quietly(self, eni_id: str) -> None:
        """Best-effort cleanup of an interface that never got attached; the leak sweep
        finds it later (it is tagged) if this fails too."""
        with contextlib.suppress(ProviderError):
            self._delete(eni_id)

    # -- giving back ---------------------------------------------------------------------
    def release(self, interface_id: str, blocks: Sequence[AddressBlock]) -> None:
        held = set(self._confirmed(interface_id).blocks)
        wanted = [b for b in blocks if b in held]
        addresses = [str(b.cidr.network_address) for b in wanted if b.is_single_address]
        prefixes = [str(b.cidr) for b in wanted if not b.is_single_address]
        if addresses:
            self._call(
                "UnassignPrivateIpAddresses",
                lambda: self._ec2.unassign_private_ip_addresses(
                    NetworkInterfaceId=interface_id, PrivateIpAddresses=addresses
                ),
            )
        if prefixes:
            self._call(
                "UnassignPrivateIpAddresses",
                lambda: self._ec2.unassign_private_ip_addresses(
                    NetworkInterfaceId=interface_id, Ipv4Prefixes=prefixes
                ),
            )

    def remove_interface(self, interface_id: str) -> None:
        iface = self._confirmed(interface_id)
        if iface.primary:
            raise Conflict(f"{interface_id} is the node's primary interface; it is never removed")
        if not t.is_ours(iface.tags):
            raise Conflict(f"{interface_id} was not created by vpc-ipam; it is left alone")
        if iface.attachment_id:
            attachment = iface.attachment_id
            self._call(
                "DetachNetworkInterface",
                lambda: self._ec2.detach_network_interface(AttachmentId=attachment),
            )
        self._wait_detached(interface_id)
        self._delete(interface_id)

    def _wait_detached(self, interface_id: str) -> None:
        waited, pause = 0.0, 0.25
        while True:
            enis = self._describe_enis([], ids=[interface_id])
            if not enis or enis[0].get("Status") == "available":
                return
            if waited >= self.options.detach_timeout:
                raise Conflict(f"{interface_id} is still attached after {waited:.0f}s")
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, 4.0)

    def tag_interface(self, interface_id: str, tags: Mapping[str, str]) -> None:
        self._call(
            "CreateTags",
            lambda: self._ec2.create_tags(
                Resources=[interface_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            ),
        )

    def sweep_leaks(self) -> tuple[str, ...]:
        node = self.discover()
        filters: list[Any] = [
            {"Name": "status", "Values": ["available"]},
            {"Name": "vpc-id", "Values": [node.vpc_id]},
            {"Name": f"tag:{t.OWNER_TAG}", "Values": [t.OWNER]},
            {"Name": "tag-key", "Values": [t.NODE_TAG]},
        ]
        if self.options.cluster_name:
            filters.append({"Name": f"tag:{t.CLUSTER_TAG}", "Values": [self.options.cluster_name]})
        deleted: list[str] = []
        for eni in self._describe_enis(filters):
            if len(deleted) >= self.options.leak_sweep_max:
                break
            view = ec2_interface(eni, self._subnet_cidr)
            if eni.get("Attachment") or not t.is_ours(view.tags):
                continue
            created = t.parse_created_at(view.tags.get(t.CREATED_AT_TAG, ""))
            if created is None:
                # aws-node's rule: an ENI without a readable creation time gets one now and
                # is judged on a later sweep, never deleted on sight.
                self.tag_interface(view.id, {t.CREATED_AT_TAG: t.created_at(self._now())})
                continue
            if self._now() - created < self.options.leak_grace:
                continue
            try:
                self._delete(view.id)
            except NotFound:
                continue
            deleted.append(view.id)
        return tuple(deleted)
