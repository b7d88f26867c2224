"""The node's interfaces as IMDS shows them and as EC2 describes them, in one shape.

IMDS: one request per field per MAC, no tags, no attachment id, and up to a few seconds
behind. EC2: one DescribeNetworkInterfaces call with everything, the authority. Both give
:class:`providers.models.CloudInterface` with blocks sorted and the primary address kept
out of the blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import TYPE_CHECKING

from providers.aws.imds import ImdsClient
from providers.errors import MetadataError
from providers.models import AddressBlock, CloudInterface

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import NetworkInterfaceTypeDef

MACS = "meta-data/network/interfaces/macs/"


def _blocks(addresses: Iterable[str], prefixes: Iterable[str]) -> tuple[AddressBlock, ...]:
    nets = [IPv4Network(f"{a}/32") for a in addresses] + [IPv4Network(p) for p in prefixes]
    return tuple(sorted(AddressBlock(n) for n in nets))


def imds_interface(imds: ImdsClient, mac: str) -> CloudInterface:
    base = f"{MACS}{mac}/"
    try:
        addresses = imds.get_lines(base + "local-ipv4s")
        if not addresses:
            raise MetadataError(f"interface {mac} lists no local-ipv4s")
        device_index = int(imds.get(base + "device-number"))
        return CloudInterface(
            id=imds.get(base + "interface-id").strip(),
            mac=mac,
            device_index=device_index,
            primary=device_index == 0,
            subnet_id=imds.get(base + "subnet-id").strip(),
            subnet_cidr=IPv4Network(imds.get(base + "subnet-ipv4-cidr-block").strip()),
            primary_ip=IPv4Address(addresses[0]),
            blocks=_blocks(addresses[1:], imds.get_lines(base + "ipv4-prefix")),
            security_groups=imds.get_lines(base + "security-group-ids"),
        )
    except ValueError as bad:
        raise MetadataError(f"instance metadata of interface {mac} is malformed: {bad}") from bad


def imds_interfaces(imds: ImdsClient) -> tuple[CloudInterface, ...]:
    """Every interface the metadata lists. One listed whose own entries answer 404 is being
    detached (or is still attaching) while we read: it is left out, and the next reconcile
    asks EC2. A start must not fail on the moment it happened to look."""
    macs = [m.rstrip("/") for m in imds.get_lines(MACS)]
    if not macs:
        raise MetadataError("instance metadata lists no network interface")
    found: list[CloudInterface] = []
    for mac in macs:
        try:
            found.append(imds_interface(imds, mac))
        except MetadataError as error:
            if error.code != "404":
                raise
            log.warning("interface %s is listed but half gone from the metadata: %s", mac, error)
    if not any(i.primary for i in found):
        raise MetadataError("instance metadata lists no primary interface (device 0)")
    return tuple(sorted(found, key=lambda i: i.device_index))


def ec2_interface(
    eni: NetworkInterfaceTypeDef, subnet_cidr: Callable[[str], IPv4Network]
) -> CloudInterface:
    addresses = eni.get("PrivateIpAddresses", [])
    primary_ip = next(
        (a["PrivateIpAddress"] for a in addresses if a.get("Primary")), eni["PrivateIpAddress"]
    )
    secondaries = [a["PrivateIpAddress"] for a in addresses if not a.get("Primary")]
    prefixes = [p["Ipv4Prefix"] for p in eni.get("Ipv4Prefixes", []) if "Ipv4Prefix" in p]
    attachment = eni.get("Attachment", {})
    device_index = int(attachment.get("DeviceIndex", -1))
    tags = {t["Key"]: t.get("Value", "") for t in eni.get("TagSet", []) if "Key" in t}
    return CloudInterface(
        id=eni["NetworkInterfaceId"],
        mac=eni.get("MacAddress", ""),
        device_index=device_index,
        primary=device_index == 0,
        subnet_id=eni["SubnetId"],
        subnet_cidr=subnet_cidr(eni["SubnetId"]),
        primary_ip=IPv4Address(primary_ip),
        blocks=_blocks(secondaries, prefixes),
        security_groups=tuple(g["GroupId"] for g in eni.get("Groups", []) if "GroupId" in g),
        tags=MappingProxyType(tags),
        attachment_id=attachment.get("AttachmentId"),
    )
