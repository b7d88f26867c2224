"""The installer of the EC2 fidelity layer: patches moto's classes so EC2's rules hold.

Moto's in-process ``mock_aws`` and moto's server dispatch to the same response class and the
same backend objects, so patching the classes covers both::

    with mock_aws(), fidelity.installed():
        boto3.client("ec2").assign_private_ip_addresses(...)   # EC2's limits and errors

What is patched (and restored on exit, even when the body raises):

* ``EC2Response``: Create/Assign/Unassign/ModifyNetworkInterfaceAttribute read the parameters
  moto ignores (``Ipv4PrefixCount``, ``Ipv4Prefix.N``, ``Attachment.DeleteOnTermination``, all
  ``TagSpecification.N``) and answer with what was newly assigned, as EC2 does;
* ``EC2Backend``: interface create/delete/attach/detach/assign/unassign/modify go through
  ``rules`` (limits, per-subnet allocator, all-or-nothing); ``run_instances`` runs under the lock;
* ``Instance``: the primary interface's address comes from the allocator, it is deleted on
  termination (EC2's default for an interface created at launch), attach times are recorded;
* ``Subnet``: ``AvailableIpAddressCount`` counts prefixes too;
* ``NetworkInterface``: a few more DescribeNetworkInterfaces filters, and its own security
  groups only (moto adds the instance's once attached).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.models import EC2Backend
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import Instance
from moto.ec2.models.subnets import Subnet
from moto.ec2.responses import EC2Response

from providers.addressing import SubnetFull
from sandbox.clock import Clock, SystemClock
from sandbox.ec2 import errors, rules
from sandbox.ec2.rules import AddressRequest, Original
from sandbox.ec2.state import (
    ATTACH,
    LOCK,
    addresses_of,
    allocator_for,
    clock,
    mark_appeared,
    now,
    prefixes_of,
    use_clock,
)

_MISSING = object()
_saved: list[tuple[type, str, Any]] = []
_depth = [0]


def _tags(specs: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in specs or []:
        if spec.get("ResourceType", "network-interface") == "network-interface":
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags", [])})
    return tags


# --- EC2Response (query parameters moto does not read) -------------------------------------


def _create_network_interface(self: Any) -> ActionResult:
    subnet = self.ec2_backend.get_subnet(self._get_param("SubnetId"))
    self.error_on_dryrun()
    eni = self.ec2_backend.create_network_interface(
        subnet,
        self._get_param("PrivateIpAddress"),
        self._get_param("PrivateIpAddresses", []),
        self._get_param("Groups", []),
        self._get_param("Description"),
        _tags(self._get_param("TagSpecifications", [])),
        secondary_ips_count=self._get_int_param("SecondaryPrivateIpAddressCount", 0),
        ipv4_prefixes=[p["Ipv4Prefix"] for p in self._get_param("Ipv4Prefixes", []) or []],
        ipv4_prefix_count=self._get_int_param("Ipv4PrefixCount", 0),
        ipv6_addresses=[i["Ipv6Address"] for i in self._get_param("Ipv6Addresses", []) or []],
        ipv6_address_count=self._get_int_param("Ipv6AddressCount", 0),
    )
    return ActionResult({"NetworkInterface": eni})


def _assign_private_ip_addresses(self: Any) -> ActionResult:
    eni_id = self._get_param("NetworkInterfaceId")
    request = AddressRequest(
        addresses=tuple(self._get_param("PrivateIpAddresses", []) or ()),
        count=self._get_int_param("SecondaryPrivateIpAddressCount", 0),
        prefixes=tuple(self._get_param("Ipv4Prefixes", []) or ()),
        prefix_count=self._get_int_param("Ipv4PrefixCount", 0),
    )
    self.error_on_dryrun()
    addresses, prefixes = rules.assign(self.ec2_backend, eni_id, request)
    return ActionResult(
        {
            "NetworkInterfaceId": eni_id,
            "AssignedPrivateIpAddresses": [{"PrivateIpAddress": a} for a in addresses],
            "AssignedIpv4Prefixes": [{"Ipv4Prefix": p} for p in prefixes],
        }
    )


def _unassign_private_ip_addresses(self: Any) -> EmptyResult:
    eni_id = self._get_param("NetworkInterfaceId")
    addresses = list(self._get_param("PrivateIpAddresses", []) or [])
    prefixes = list(self._get_param("Ipv4Prefixes", []) or [])
    self.error_on_dryrun()
    rules.unassign(self.ec2_backend, eni_id, addresses, prefixes)
    return EmptyResult()


def _modify_network_interface_attribute(self: Any) -> EmptyResult:
    eni_id = self._get_param("NetworkInterfaceId")
    self.error_on_dryrun()
    self.ec2_backend.modify_network_interface_attribute(
        eni_id,
        self._get_param("Groups", []),
        self._get_param("SourceDestCheck.Value"),
        self._get_param("Description.Value"),
        attachment=self._get_param("Attachment"),
    )
    return EmptyResult()


# --- EC2Backend ---------------------------------------------------------------------------


def _backend_patches(orig: dict[str, Original]) -> dict[str, Any]:
    def create_network_interface(self: Any, subnet: Any, *args: Any, **kwargs: Any) -> Any:
        return rules.create_network_interface(
            orig["create_network_interface"], self, subnet, *args, **kwargs
        )

    def delete_network_interface(self: Any, eni_id: str) -> Any:
        return rules.delete(orig["delete_network_interface"], self, eni_id)

    def attach_network_interface(
        self: Any, eni_id: str, instance_id: str, device_index: int
    ) -> Any:
        return rules.attach(
            orig["attach_network_interface"], self, eni_id, instance_id, device_index
        )

    def detach_network_interface(self: Any, attachment_id: str) -> Any:
        return rules.detach(orig["detach_network_interface"], self, attachment_id)

    def assign_private_ip_addresses(
        self: Any,
        eni_id: str,
        private_ip_addresses: list[str] | None = None,
        secondary_ips_count: int | None = None,
        *,
        ipv4_prefixes: list[str] | None = None,
        ipv4_prefix_count: int | None = None,
    ) -> Any:
        request = AddressRequest(
            tuple(private_ip_addresses or ()),
            int(secondary_ips_count or 0),
            tuple(ipv4_prefixes or ()),
            int(ipv4_prefix_count or 0),
        )
        rules.assign(self, eni_id, request)
        return self.get_network_interface(eni_id)

    def unassign_private_ip_addresses(
        self: Any,
        eni_id: str,
        private_ip_address: list[str] | None = None,
        *,
        ipv4_prefixes: list[str] | None = None,
    ) -> Any:
        rules.unassign(self, eni_id, private_ip_address or [], ipv4_prefixes or [])
        return self.get_network_interface(eni_id)

    def modify_network_interface_attribute(self: Any, eni_id: str, *args: Any, **kw: Any) -> Any:
        return rules.modify(orig["modify_network_interface_attribute"], self, eni_id, *args, **kw)

    def run_instances(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return orig["run_instances"](self, *args, **kwargs)

    return {
        "create_network_interface": create_network_interface,
        "delete_network_interface": delete_network_interface,
        "attach_network_interface": attach_network_interface,
        "detach_network_interface": detach_network_interface,
        "assign_private_ip_addresses": assign_private_ip_addresses,
        "unassign_private_ip_addresses": unassign_private_ip_addresses,
        "modify_network_interface_attribute": modify_network_interface_attribute,
        "run_instances": run_instances,
    }


# --- Instance, Subnet, NetworkInterface ---------------------------------------------------


def _instance_patches(orig: dict[str, Original]) -> dict[str, Any]:
    def prep_nics(self: Any, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        with LOCK:
            orig["prep_nics"](self, nic_spec, *args, **kwargs)
            spec = next((n for n in nic_spec if int(n.get("DeviceIndex", -1)) == 0), None)
            primary = self.nics.get(0)
            created_here = spec is None or not spec.get("NetworkInterfaceId")
            if primary is not None and created_here and "DeleteOnTermination" not in (spec or {}):
                primary.delete_on_termination = True

    def attach_eni(self: Any, eni: Any, device_index: int) -> Any:
        with LOCK:
            result = orig["attach_eni"](self, eni, device_index)
            mark_appeared(self.ec2_backend, eni.id, [ATTACH], now())
            return result

    def terminate(self: Any) -> Any:
        with LOCK:
            if self.state == "terminated":
                return copy.copy(self._state)
            rules.set_terminating(True)
            try:
                previous = orig["terminate"](self)
            finally:
                rules.set_terminating(False)
            for index, eni in list(self.nics.items()):
                if index != 0 and eni.id in self.ec2_backend.enis:
                    self.detach_eni(eni)  # EC2 detaches what it does not delete
            return previous

    return {"prep_nics": prep_nics, "attach_eni": attach_eni, "terminate": terminate}


def _subnet_patches(orig: dict[str, Any]) -> dict[str, Any]:
    def get_available_subnet_ip(self: Any, instance: Any) -> str:
        with LOCK:
            allocator = allocator_for(self.ec2_backend, self)
            try:
                (address,) = allocator.allocate(1)
            except SubnetFull:
                raise errors.InsufficientFreeAddressesInSubnet() from None
            # Only a peek: the primary interface moto creates next takes it for good.
            allocator.release(address)
            self._subnet_ips[str(address)] = instance
            return str(address)

    def request_ip(self: Any, ip: str, instance: Any) -> None:
        with LOCK:
            reservation = rules.Reservation(allocator_for(self.ec2_backend, self))
            reservation.take(ip)  # validates and raises EC2's errors
            reservation.rollback()
            self._unused_ips.discard(ip)
            self._subnet_ips[ip] = instance

    def available_ip_address_count(self: Any) -> int:
        if not self.cidr_block:
            return int(orig["available_ip_address_count"].fget(self))
        with LOCK:
            return allocator_for(self.ec2_backend, self).free_addresses()

    return {
        "get_available_subnet_ip": get_available_subnet_ip,
        "request_ip": request_ip,
        "available_ip_address_count": property(available_ip_address_count),
    }


def _eni_patches(orig: dict[str, Original]) -> dict[str, Any]:
    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name in ("addresses.private-ip-address", "private-ip-address"):
            return addresses_of(self)
        if filter_name == "ipv4-prefix":
            return prefixes_of(self)
        if filter_name == "status":
            return self.status
        if filter_name == "attachment.status":
            return "attached" if self.attachment_id else None
        if filter_name == "attachment.device-index":
            return None if self.device_index is None else str(self.device_index)
        if filter_name == "attachment.delete-on-termination":
            return str(bool(self.delete_on_termination)).lower() if self.attachment_id else None
        return orig["get_filter_value"](self, filter_name, method_name)

    def group_set(self: Any) -> Any:
        # moto answers an attached interface's groups as its own plus the instance's; EC2
        # keeps each interface's own (custom networking relies on it)
        return self._group_set

    return {"get_filter_value": get_filter_value, "group_set": property(group_set)}


_RESPONSE_PATCHES: dict[str, Any] = {
    "create_network_interface": _create_network_interface,
    "assign_private_ip_addresses": _assign_private_ip_addresses,
    "unassign_private_ip_addresses": _unassign_private_ip_addresses,
    "modify_network_interface_attribute": _modify_network_interface_attribute,
}

_PATCHERS: list[tuple[type, Any]] = [
    (EC2Response, lambda orig: _RESPONSE_PATCHES),
    (EC2Backend, _backend_patches),
    (Instance, _instance_patches),
    (Subnet, _subnet_patches),
    (NetworkInterface, _eni_patches),
]


def install(with_clock: Clock | None = None) -> None:
    """Patch moto's EC2 classes (idempotent: nested installs are counted)."""
    with LOCK:
        if _depth[0]:
            if with_clock is not None and with_clock is not clock():
                raise RuntimeError("the fidelity layer is installed already, with another clock")
            _depth[0] += 1
            return
        use_clock(with_clock or SystemClock())
        for owner, make in _PATCHERS:
            originals: dict[str, Any] = {}  # filled before any replacement can run
            replacements = make(originals)
            for name, replacement in replacements.items():
                originals[name] = inspect.getattr_static(owner, name)
                _saved.append((owner, name, owner.__dict__.get(name, _MISSING)))
                setattr(owner, name, replacement)
        _depth[0] = 1


def uninstall() -> None:
    """Undo one ``install``; the last one restores moto's classes exactly."""
    with LOCK:
        if not _depth[0]:
            return
        _depth[0] -= 1
        if _depth[0]:
            return
        while _saved:
            owner, name, original = _saved.pop()
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        use_clock(SystemClock())


def is_installed() -> bool:
    return _depth[0] > 0


@contextmanager
def installed(with_clock: Clock | None = None) -> Iterator[None]:
    """Install the fidelity layer for the duration of the block (works with ``mock_aws``
    in-process and with moto's server in the same process)."""
    install(with_clock)
    try:
        yield
    finally:
        uninstall()
