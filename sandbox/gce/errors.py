"""Compute Engine's error answers: one exception type carrying what Google's JSON error body
carries, so every refusal of the emulator reaches the client library in Google's shape.

google-api-core turns the HTTP status into its exception class (400 BadRequest, 403
Forbidden, 404 NotFound, 412 PreconditionFailed, ...) and keeps ``error.errors`` (the
``errors`` list of the body, each with ``reason``) and ``error.reason`` (the ErrorInfo of
``details``, which Google sends only for quota and rate limits). The reasons used here:

- 400 ``invalid``: a malformed or disallowed field value (unknown range name, a CIDR that is
  not aligned or not inside its range, ranges of one request overlapping, a requestId that
  is not a UUID, a NIC other than nic0); also more than 150 alias ranges on the interface
  (the message then says "exceeds the limit of 150").
- 400 ``required``: a required field or parameter is missing (fingerprint,
  networkInterface, ipCidrRange).
- 400 ``resourceNotReady``: another updateNetworkInterface of the instance still runs.
- 400 ``IP_IN_USE_BY_ANOTHER_RESOURCE``: an explicit alias range overlaps an address or range
  held or reserved by another resource (the message names the holder).
- 400 ``IP_SPACE_EXHAUSTED``: no free aligned block of the asked size left in the range.
- 403 ``rateLimitExceeded`` (domain ``usageLimits``; ErrorInfo reason
  ``RATE_LIMIT_EXCEEDED``): the project's token bucket is empty.
- 404 ``notFound``: unknown project, zone, instance, operation, subnetwork or URL.
- 412 ``conditionNotMet``: the network interface fingerprint is stale.

The two upper-case reasons are the codes Compute Engine puts into a failed operation for
the same conditions; the emulator refuses synchronously instead, so the client sees them
at once (a provider that also handles them as operation errors loses nothing).
"""

from __future__ import annotations

from typing import Any

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

INVALID = "invalid"
REQUIRED = "required"
NOT_READY = "resourceNotReady"
IP_IN_USE = "IP_IN_USE_BY_ANOTHER_RESOURCE"
EXHAUSTED = "IP_SPACE_EXHAUSTED"
NOT_FOUND = "notFound"
CONDITION_NOT_MET = "conditionNotMet"
RATE_LIMITED = "rateLimitExceeded"

_DOMAINS = {RATE_LIMITED: "usageLimits"}


class ApiError(Exception):
    """A refusal answered as ``{"error": {"code", "message", "errors": [...], ...}}``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "message": self.message,
            "domain": _DOMAINS.get(self.reason, "global"),
            "reason": self.reason,
        }
        if self.reason == CONDITION_NOT_MET:
            item.update(location="If-Match", locationType="header")
        error: dict[str, Any] = {"code": self.status, "message": self.message, "errors": [item]}
        if self.status in STATUS_NAMES:
            error["status"] = STATUS_NAMES[self.status]
        if self.reason == RATE_LIMITED:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": "compute.googleapis.com",
                        "quota_metric": "compute.googleapis.com/default",
                    },
                }
            ]
        return {"error": error}


def invalid(message: str) -> ApiError:
    return ApiError(400, INVALID, message)


def required(what: str) -> ApiError:
    return ApiError(400, REQUIRED, f"Required field '{what}' not specified")


def not_found(resource: str) -> ApiError:
    return ApiError(404, NOT_FOUND, f"The resource '{resource}' was not found")


def rate_limited(project: str) -> ApiError:
    return ApiError(
        403,
        RATE_LIMITED,
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of "
        f"service 'compute.googleapis.com' for consumer 'project:{project}'.",
    )
