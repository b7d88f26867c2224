"""EC2 client errors the fidelity layer raises, with EC2's own codes and messages.

They subclass moto's ``EC2ClientError``, so moto renders them exactly as its own: HTTP 400 and
EC2's XML error document, in server mode and in-process alike. ``error_document`` renders the
same shape for errors the HTTP front produces itself (throttling, injected faults).

Codes and messages follow what EC2 returns as seen in public bug reports and EC2's error-code
reference; where EC2's exact wording could not be confirmed the docstring says so.
"""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from moto.ec2.exceptions import EC2ClientError


class InsufficientFreeAddressesInSubnet(EC2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "InsufficientFreeAddressesInSubnet",
            "The specified subnet does not have enough free addresses to satisfy the request.",
        )


class InsufficientCidrBlocks(EC2ClientError):
    """No aligned /28 is free although single addresses may be (a fragmented subnet)."""

    def __init__(self) -> None:
        super().__init__(
            "InsufficientCidrBlocks",
            "The specified subnet does not have enough free cidr blocks to satisfy the request.",
        )


class PrivateIpAddressLimitExceeded(EC2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit."
        )


class AttachmentLimitExceeded(EC2ClientError):
    def __init__(self, count: int, instance_type: str) -> None:
        super().__init__(
            "AttachmentLimitExceeded",
            f"Interface count {count} exceeds the limit for {instance_type}",
        )


class AddressInUse(EC2ClientError):
    """EC2 answers RunInstances and CreateNetworkInterface with this code when an explicit
    address is taken. For AssignPrivateIpAddresses without AllowReassignment the exact code is
    not confirmed; the same one is used there."""

    def __init__(self, address: str) -> None:
        super().__init__("InvalidIPAddress.InUse", f"Address {address} is in use.")


class InterfaceInUse(EC2ClientError):
    """Attaching (or launching with) an interface that is already attached."""

    def __init__(self, eni_id: str) -> None:
        super().__init__("InvalidNetworkInterface.InUse", f"Interface: [{eni_id}] in use.")


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValue", message)


class InvalidParameterCombination(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterCombination", message)


class MissingParameter(EC2ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("MissingParameter", message)


def interface_still_attached(eni_id: str) -> InvalidParameterValue:
    """DeleteNetworkInterface on an attached interface: EC2 answers InvalidParameterValue
    (not InvalidNetworkInterface.InUse) with this message."""
    return InvalidParameterValue(f"Network interface '{eni_id}' is currently in use.")


def device_index_in_use(instance_id: str, device_index: int) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Instance '{instance_id}' already has an interface attached at device index "
        f"'{device_index}'."
    )


def error_document(code: str, message: str, request_id: str | None = None) -> bytes:
    """EC2's XML error body (the shape botocore's ec2 parser reads)."""
    rid = request_id or str(uuid.uuid4())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error></Errors>"
        f"<RequestID>{rid}</RequestID></Response>"
    ).encode()
