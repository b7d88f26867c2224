"""Every EC2 error code we rely on maps to the right provider error, chained to the original."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from providers.aws.errors import BY_CODE, mapped
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


def client_error(code: str, status: int = 400, message: str = "boom") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "AssignPrivateIpAddresses")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("InsufficientFreeAddressesInSubnet", CapacityExhausted),
        ("InsufficientCidrBlocks", CapacityExhausted),
        ("PrivateIpAddressLimitExceeded", LimitExceeded),
        ("AttachmentLimitExceeded", LimitExceeded),
        ("RequestLimitExceeded", Throttled),
        ("UnauthorizedOperation", PermissionDenied),
        ("InvalidNetworkInterfaceID.NotFound", NotFound),
        ("InvalidAttachmentID.NotFound", NotFound),
        ("InvalidNetworkInterface.InUse", Conflict),
    ],
)
def test_documented_codes_map_to_their_kind(code, kind):
    error = mapped(client_error(code, 503 if kind is Throttled else 400), "Op")
    assert type(error) is kind
    assert error.code == code
    assert error.operation == "Op"
    assert "boom" in str(error) and code in str(error)


def test_every_code_in_the_table_maps_to_its_declared_kind():
    for code, kind in BY_CODE.items():
        assert type(mapped(client_error(code), "Op")) is kind


def test_unknown_4xx_is_an_invalid_request_and_unknown_5xx_is_retryable():
    assert type(mapped(client_error("SomethingNew", 400), "Op")) is InvalidRequest
    unavailable = mapped(client_error("SomethingNew", 500), "Op")
    assert type(unavailable) is CloudUnavailable
    assert unavailable.retryable


def test_only_throttling_and_unavailability_are_retryable():
    retryable = {kind for kind in set(BY_CODE.values()) if kind.retryable}
    assert retryable == {Throttled, CloudUnavailable}


def test_transport_failures_are_cloud_unavailable():
    refused = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert type(mapped(refused, "Op")) is CloudUnavailable
    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:9")
    assert type(mapped(timeout, "Op")) is CloudUnavailable


def test_missing_credentials_is_permission_denied():
    assert type(mapped(NoCredentialsError(), "Op")) is PermissionDenied


def test_provider_errors_pass_through_and_foreign_errors_are_refused():
    original = NotFound("gone")
    assert mapped(original, "Op") is original
    with pytest.raises(TypeError):
        mapped(ValueError("not from EC2"), "Op")


def test_mapped_error_is_chained_when_raised_from_the_original():
    original = client_error("InsufficientCidrBlocks")
    with pytest.raises(ProviderError) as caught:
        try:
            raise original
        except ClientError as error:
            raise mapped(error, "AssignPrivateIpAddresses") from error
    assert caught.value.__cause__ is original


def test_exhaustion_reported_as_invalid_parameter_is_still_capacity_exhausted():
    quirk = "There aren't sufficient free Ipv4 addresses or prefixes"
    error = mapped(client_error("InvalidParameterValue", 400, quirk), "Op")
    assert type(error) is CapacityExhausted
    assert type(mapped(client_error("InvalidParameterValue", 400, "bad"), "Op")) is InvalidRequest
