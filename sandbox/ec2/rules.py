"""EC2's rules for interfaces, addresses and prefixes, as functions over moto's EC2 backend.

Each function is the body of one patched moto method (``fidelity`` installs them): it checks
EC2's limits, takes or frees addresses in the subnet's allocator all-or-nothing (a failing
request assigns nothing), and lets moto's original method record the rest. Everything runs
under ``state.LOCK``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidNetworkAttachmentIdError,
    LastEniDetachError,
)

from providers import addressing
from providers.addressing import Shortage, SubnetAllocator, SubnetFull
from sandbox.ec2 import errors
from sandbox.ec2.state import (
    ATTACH,
    LOCK,
    addresses_of,
    allocator_for,
    forget,
    limits_for,
    mark_appeared,
    now,
    prefixes_of,
    release_all,
    slots_used,
)

Original = Callable[..., Any]
PREFIX_LENGTH = 28

_local = threading.local()


def terminating() -> bool:
    """True while moto terminates an instance (it deletes attached interfaces itself)."""
    return bool(getattr(_local, "terminating", 0))


def set_terminating(on: bool) -> None:
    _local.terminating = getattr(_local, "terminating", 0) + (1 if on else -1)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


@dataclass(frozen=True)
class AddressRequest:
    """What one Create/Assign call asks for besides the primary address."""

    addresses: tuple[str, ...] = ()
    count: int = 0
    prefixes: tuple[str, ...] = ()
    prefix_count: int = 0

    def slots(self) -> int:
        return len(self.addresses) + self.count + len(self.prefixes) + self.prefix_count

    def check(self, *, required: bool) -> None:
        """EC2 takes one way of asking per call: explicit addresses, an address count,
        explicit prefixes or a prefix count."""
        kinds = [bool(self.addresses), self.count > 0, bool(self.prefixes), self.prefix_count > 0]
        if self.count < 0 or self.prefix_count < 0:
            raise errors.InvalidParameterValue("A count must not be negative.")
        if sum(kinds) > 1:
            raise errors.InvalidParameterCombination(
                "Specify only one of PrivateIpAddress, SecondaryPrivateIpAddressCount, "
                "Ipv4Prefix and Ipv4PrefixCount."
            )
        if required and not any(kinds):
            raise errors.MissingParameter(
                "The request must contain the parameter PrivateIpAddress, "
                "SecondaryPrivateIpAddressCount, Ipv4Prefix or Ipv4PrefixCount"
            )


def _address(text: str) -> IPv4Address:
    try:
        return IPv4Address(str(text).strip())
    except ValueError:
        raise errors.InvalidParameterValue(
            f"Invalid value '{text}' for parameter PrivateIpAddress"
        ) from None


def _prefix(text: str, subnet: IPv4Network) -> IPv4Network:
    try:
        prefix = IPv4Network(str(text).strip())
    except ValueError:
        raise errors.InvalidParameterValue(f"Invalid value '{text}' for ipv4 prefix") from None
    if prefix.prefixlen != PREFIX_LENGTH or not prefix.subnet_of(subnet):
        raise errors.InvalidParameterValue(
            f"The prefix {text} must be a /{PREFIX_LENGTH} within subnet {subnet}"
        )
    return prefix


def _shortage(error: SubnetFull) -> EC2ClientError:
    if error.shortage is Shortage.PREFIXES:
        return errors.InsufficientCidrBlocks()
    return errors.InsufficientFreeAddressesInSubnet()


class Reservation:
    """Addresses and prefixes taken for one request; ``rollback`` gives them all back."""

    def __init__(self, allocator: SubnetAllocator) -> None:
        self.allocator = allocator
        self.addresses: list[IPv4Address] = []
        self.prefixes: list[IPv4Network] = []

    def take(self, text: str) -> str:
        address = _address(text)
        subnet = self.allocator.subnet
        if address not in subnet:
            raise errors.InvalidParameterValue(
                f"Address {address} does not fall within the subnet's address range"
            )
        if address in addressing.aws_reserved(subnet):
            raise errors.InvalidParameterValue(f"Address {address} is reserved by AWS")
        try:
            self.allocator.take(address)
        except addressing.AddressInUse:
            raise errors.AddressInUse(str(address)) from None
        self.addresses.append(address)
        return str(address)

    def allocate(self, count: int) -> list[str]:
        try:
            found = self.allocator.allocate(count)
        except SubnetFull as error:
            raise _shortage(error) from None
        self.addresses.extend(found)
        return [str(a) for a in found]

    def take_prefix(self, text: str) -> str:
        prefix = _prefix(text, self.allocator.subnet)
        try:
            self.allocator.take_prefix(prefix)
        except addressing.AddressInUse:
            # EC2's exact code for an explicit prefix that overlaps is not confirmed.
            raise errors.InvalidParameterValue(f"The prefix {prefix} is already in use") from None
        self.prefixes.append(prefix)
        return str(prefix)

    def allocate_prefixes(self, count: int) -> list[str]:
        try:
            found = self.allocator.allocate_prefixes(count, PREFIX_LENGTH)
        except SubnetFull as error:
            raise _shortage(error) from None
        self.prefixes.extend(found)
        return [str(p) for p in found]

    def fulfil(self, request: AddressRequest) -> tuple[list[str], list[str]]:
        addresses = [self.take(a) for a in request.addresses]
        if request.count:
            addresses += self.allocate(request.count)
        prefixes = [self.take_prefix(p) for p in request.prefixes]
        if request.prefix_count:
            prefixes += self.allocate_prefixes(request.prefix_count)
        return addresses, prefixes

    def rollback(self) -> None:
        for address in self.addresses:
            self.allocator.release(address)
        for prefix in self.prefixes:
            self.allocator.release_prefix(prefix)
        self.addresses.clear()
        self.prefixes.clear()


def _split_primary(
    private_ip_address: Any, private_ip_addresses: Sequence[Any] | None
) -> tuple[str | None, list[str]]:
    """(primary, secondaries) from CreateNetworkInterface's ``PrivateIpAddress`` and
    ``PrivateIpAddresses`` (the entry flagged Primary, else the first, is the primary)."""
    if isinstance(private_ip_address, list):
        private_ip_address = private_ip_address[0] if private_ip_address else None
    entries: list[tuple[str, bool]] = []
    for item in private_ip_addresses or []:
        if isinstance(item, str):
            entries.append((item, False))
        elif item.get("PrivateIpAddress"):
            entries.append((str(item["PrivateIpAddress"]), truthy(item.get("Primary"))))
    primary = str(private_ip_address) if private_ip_address else None
    if primary is None and entries:
        primary = next((a for a, flagged in entries if flagged), entries[0][0])
    return primary, [a for a, _ in entries if a != primary]


def create_network_interface(
    original: Original,
    backend: Any,
    subnet: Any,
    private_ip_address: Any = None,
    private_ip_addresses: Sequence[Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    count = int(kwargs.pop("secondary_ips_count", 0) or 0)
    prefixes = tuple(str(p) for p in kwargs.pop("ipv4_prefixes", None) or ())
    prefix_count = int(kwargs.pop("ipv4_prefix_count", 0) or 0)
    primary, secondaries = _split_primary(private_ip_address, private_ip_addresses)
    request = AddressRequest(tuple(secondaries), count, prefixes, prefix_count)
    request.check(required=False)
    with LOCK:
        subnet_obj = backend.get_subnet(subnet) if isinstance(subnet, str) else subnet
        reservation = Reservation(allocator_for(backend, subnet_obj))
        try:
            primary = reservation.take(primary) if primary else reservation.allocate(1)[0]
            new_addresses, new_prefixes = reservation.fulfil(request)
            specs = [{"Primary": True, "PrivateIpAddress": primary}] + [
                {"Primary": False, "PrivateIpAddress": a} for a in new_addresses
            ]
            eni = original(backend, subnet_obj, primary, specs, *args, **kwargs)
        except BaseException:
            reservation.rollback()
            raise
        eni.ipv4_prefixes = [{"Ipv4Prefix": p} for p in new_prefixes]
        mark_appeared(backend, eni.id, [primary, *new_addresses, *new_prefixes], now())
        return eni


def assign(backend: Any, eni_id: str, request: AddressRequest) -> tuple[list[str], list[str]]:
    """AssignPrivateIpAddresses: returns the addresses and prefixes newly assigned."""
    request.check(required=True)
    with LOCK:
        eni = backend.get_network_interface(eni_id)
        if eni.instance is not None:
            limits = limits_for(backend, eni.instance.instance_type)
            if limits and slots_used(eni) + request.slots() > limits.addresses_per_interface:
                raise errors.PrivateIpAddressLimitExceeded()
        reservation = Reservation(allocator_for(backend, eni.subnet))
        try:
            addresses, prefixes = reservation.fulfil(request)
        except BaseException:
            reservation.rollback()
            raise
        eni.private_ip_addresses.extend(
            {"Primary": False, "PrivateIpAddress": a} for a in addresses
        )
        eni.ipv4_prefixes = [{"Ipv4Prefix": p} for p in [*prefixes_of(eni), *prefixes]]
        mark_appeared(backend, eni.id, [*addresses, *prefixes], now())
        return addresses, prefixes


def unassign(backend: Any, eni_id: str, addresses: Sequence[str], prefixes: Sequence[str]) -> None:
    """UnassignPrivateIpAddresses: all named items must be on the interface, or nothing
    changes (the message for a stranger address is EC2's as far as known)."""
    if not addresses and not prefixes:
        raise errors.MissingParameter(
            "The request must contain the parameter PrivateIpAddress or Ipv4Prefix"
        )
    with LOCK:
        eni = backend.get_network_interface(eni_id)
        wanted = [str(_address(a)) for a in addresses]
        held = addresses_of(eni)
        if held and held[0] in wanted:
            raise errors.InvalidParameterValue(
                f"The primary IP address {held[0]} of interface {eni.id} cannot be unassigned."
            )
        if any(a not in held for a in wanted):
            raise errors.InvalidParameterValue(
                f"Some of the specified addresses are not assigned to interface {eni.id}"
            )
        wanted_prefixes = [str(_prefix(p, IPv4Network(eni.subnet.cidr_block))) for p in prefixes]
        held_prefixes = prefixes_of(eni)
        if any(p not in held_prefixes for p in wanted_prefixes):
            raise errors.InvalidParameterValue(
                f"Some of the specified prefixes are not assigned to interface {eni.id}"
            )
        allocator = allocator_for(backend, eni.subnet)
        eni.private_ip_addresses[:] = [
            item for item in eni.private_ip_addresses if item.get("PrivateIpAddress") not in wanted
        ]
        eni.ipv4_prefixes = [{"Ipv4Prefix": p} for p in held_prefixes if p not in wanted_prefixes]
        for address in wanted:
            allocator.release(IPv4Address(address))
        for prefix in wanted_prefixes:
            allocator.release_prefix(IPv4Network(prefix))
        forget(backend, eni.id, [*wanted, *wanted_prefixes])


def attach(
    original: Original, backend: Any, eni_id: str, instance_id: str, device_index: Any
) -> Any:
    with LOCK:
        eni = backend.get_network_interface(eni_id)
        instance = backend.get_instance(instance_id)
        index = int(device_index)
        if eni.instance is not None:
            # What EC2 answers for an interface that is attached already (seen on RunInstances
            # and AttachNetworkInterface alike).
            raise errors.InterfaceInUse(eni.id)
        if index in instance.nics:
            raise errors.device_index_in_use(instance.id, index)
        if eni.subnet.availability_zone != instance.availability_zone:
            raise errors.InvalidParameterCombination(
                "You may not attach a network interface to an instance if they are not in the "
                "same availability zone"
            )
        limits = limits_for(backend, instance.instance_type)
        if limits is not None:
            count = len(instance.nics) + 1
            if count > limits.max_interfaces:
                raise errors.AttachmentLimitExceeded(count, instance.instance_type)
            if slots_used(eni) > limits.addresses_per_interface:
                # EC2's answer for attaching an over-full interface is not confirmed.
                raise errors.PrivateIpAddressLimitExceeded()
        return original(backend, eni_id, instance_id, index)


def detach(original: Original, backend: Any, attachment_id: str) -> Any:
    with LOCK:
        for eni in backend.enis.values():
            if eni.attachment_id == attachment_id and eni.device_index == 0:
                raise LastEniDetachError()
        eni_ids = [e.id for e in backend.enis.values() if e.attachment_id == attachment_id]
        result = original(backend, attachment_id)
        for eni_id in eni_ids:
            forget(backend, eni_id, [ATTACH])
        return result


def delete(original: Original, backend: Any, eni_id: str) -> Any:
    with LOCK:
        eni = backend.get_network_interface(eni_id)
        if eni.instance is not None and not terminating():
            raise errors.interface_still_attached(eni_id)
        result = original(backend, eni_id)
        release_all(backend, eni)
        return result


def modify(
    original: Original,
    backend: Any,
    eni_id: str,
    *args: Any,
    attachment: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """ModifyNetworkInterfaceAttribute; ``attachment`` is EC2's ``Attachment`` structure
    (AttachmentId must be the interface's current one), the rest goes to moto."""
    with LOCK:
        eni = backend.get_network_interface(eni_id)
        if attachment:
            attachment_id = attachment.get("AttachmentId")
            if not attachment_id or attachment_id != eni.attachment_id:
                raise InvalidNetworkAttachmentIdError(str(attachment_id or ""))
            if attachment.get("DeleteOnTermination") is not None:
                eni.delete_on_termination = truthy(attachment["DeleteOnTermination"])
        return original(backend, eni_id, *args, **kwargs)
