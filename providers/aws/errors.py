"""EC2 errors mapped once, at the edge, to the provider error tree.

Everything boto3/botocore can raise from an EC2 call goes through :func:`mapped`; nothing
above this module sees a botocore type. The mapped error keeps EC2's code and is chained
to the original. Codes are EC2's documented ones; unknown 4xx codes are invalid requests,
5xx and transport failures are "cloud unavailable" and retried.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from providers.errors import (
    CapacityExhausted,
    CloudUnavailable,
    Conflict,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    ProviderError,
    Throttled,
)

BY_CODE: dict[str, type[ProviderError]] = {
    # the subnet has no free address, or no free aligned /28 (fragmentation)
    "InsufficientFreeAddressesInSubnet": CapacityExhausted,
    "InsufficientCidrBlocks": CapacityExhausted,
    # an interface or the instance is full; the account's ENI quota
    "PrivateIpAddressLimitExceeded": LimitExceeded,
    "AttachmentLimitExceeded": LimitExceeded,
    "NetworkInterfaceLimitExceeded": LimitExceeded,
    # throttling, under every name EC2 and the SDK use
    "RequestLimitExceeded": Throttled,
    "Throttling": Throttled,
    "ThrottlingException": Throttled,
    # permissions and credentials
    "UnauthorizedOperation": PermissionDenied,
    "AccessDenied": PermissionDenied,
    "AccessDeniedException": PermissionDenied,
    "AuthFailure": PermissionDenied,
    "OptInRequired": PermissionDenied,
    # gone (or never there)
    "InvalidNetworkInterfaceID.NotFound": NotFound,
    "InvalidAttachmentID.NotFound": NotFound,
    "InvalidInstanceID.NotFound": NotFound,
    "InvalidSubnetID.NotFound": NotFound,
    "InvalidGroup.NotFound": NotFound,
    # the resource's state forbids the call
    "InvalidNetworkInterface.InUse": Conflict,
    "IncorrectState": Conflict,
    "InvalidIPAddress.InUse": Conflict,
    # EC2's own trouble
    "InternalError": CloudUnavailable,
    "InternalFailure": CloudUnavailable,
    "ServiceUnavailable": CloudUnavailable,
    "Unavailable": CloudUnavailable,
}

TRANSPORT_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


def mapped(error: Exception, operation: str) -> ProviderError:
    """The provider error for anything an EC2 call raised (call inside ``except``)."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        message = str(details.get("Message", "")) or str(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind = BY_CODE.get(code)
        if code == "InvalidParameterValue" and "sufficient free" in message.lower():
            # EC2 sometimes reports an exhausted subnet this way ("There aren't sufficient
            # free Ipv4 addresses or prefixes") instead of InsufficientFreeAddressesInSubnet.
            kind = CapacityExhausted
        if kind is None:
            kind = CloudUnavailable if status >= 500 else InvalidRequest
        return kind(message, code=code, operation=operation)
    if isinstance(error, NoCredentialsError):
        return PermissionDenied(
            "no AWS credentials found", code="NoCredentials", operation=operation
        )
    if isinstance(error, TRANSPORT_ERRORS):
        return CloudUnavailable(str(error), code=type(error).__name__, operation=operation)
    if isinstance(error, BotoCoreError):
        return InvalidRequest(str(error), code=type(error).__name__, operation=operation)
    raise TypeError(f"not an EC2 error: {error!r}") from error
