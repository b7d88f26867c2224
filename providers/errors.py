"""The provider error tree: every cloud SDK error is mapped to one of these, once, at the edge.

The daemon decides by type (pause growth on CapacityExhausted, retry on Throttled, stop and
report on PermissionDenied), never by parsing a cloud's error strings. Each error keeps the
cloud's own code and is chained (``raise ... from``) to the original exception.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A cloud call failed. ``code`` is the cloud's own error code, when it gave one."""

    retryable = False

    def __init__(self, message: str, *, code: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.operation = operation

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where}{self.message}{code}"


class CapacityExhausted(ProviderError):
    """The subnet (or secondary range) has no room: no free address, or no free aligned /28
    (InsufficientFreeAddressesInSubnet, InsufficientCidrBlocks). Growth should pause."""


class LimitExceeded(ProviderError):
    """The instance or interface is full: too many addresses on an interface
    (PrivateIpAddressLimitExceeded) or too many interfaces (AttachmentLimitExceeded)."""


class Throttled(ProviderError):
    """The cloud asks us to slow down (RequestLimitExceeded); retried with backoff."""

    retryable = True


class CloudUnavailable(ProviderError):
    """The cloud could not answer (5xx, timeout, connection refused); retried with backoff."""

    retryable = True


class PermissionDenied(ProviderError):
    """The node's role lacks a permission (UnauthorizedOperation). An operator must act."""


class NotFound(ProviderError):
    """The interface, attachment or instance does not exist (any more)."""


class Conflict(ProviderError):
    """The resource is in a state that forbids the call (e.g. deleting an attached interface,
    a device index already in use, an address another interface holds)."""


class InvalidRequest(ProviderError):
    """The cloud refused the request as malformed; a bug on our side or a bad setting."""


class MetadataError(ProviderError):
    """The instance metadata service is unreachable or lacks a field we need."""
