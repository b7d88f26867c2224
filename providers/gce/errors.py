"""Compute Engine errors mapped once, at the edge, to the provider error tree.

google-api-core raises one exception class per HTTP status; the reason in Google's error
body tells throttling (403 ``rateLimitExceeded``) from a missing permission (403
``forbidden``), and exhaustion or the alias-range limit from a plain bad request (400).
Anything else 5xx, a timeout or a refused connection is "cloud unavailable" and retried.
"""

from __future__ import annotations

from google.api_core import exceptions as g

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

THROTTLE_REASONS = {
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
    "RATE_LIMIT_EXCEEDED",
}
BUSY_REASONS = {"resourceNotReady"}
"""Another change of the same instance is still running: try again shortly."""
IN_USE_REASONS = {"IP_IN_USE_BY_ANOTHER_RESOURCE"}
EXHAUSTED_MARKS = ("EXHAUSTED", "exhausted", "no free", "IP_SPACE")
LIMIT_MARKS = ("limit", "LIMIT", "too many", "150")


def reasons_of(error: g.GoogleAPICallError) -> list[str]:
    found = []
    for item in getattr(error, "errors", None) or []:
        reason = item.get("reason") if isinstance(item, dict) else getattr(item, "reason", None)
        if reason:
            found.append(str(reason))
    reason = getattr(error, "reason", None)
    if reason:
        found.append(str(reason))
    return found


def mapped(error: BaseException, operation: str) -> ProviderError:
    """Our error for anything a Compute call raised (the original is chained by the caller)."""
    if isinstance(error, ProviderError):
        return error
    if not isinstance(error, g.GoogleAPICallError):
        if isinstance(error, g.RetryError | TimeoutError | ConnectionError | OSError):
            return CloudUnavailable(str(error), operation=operation)
        return ProviderError(f"{type(error).__name__}: {error}", operation=operation)
    reasons = reasons_of(error)
    code = reasons[0] if reasons else str(error.code or "")
    message = str(error.message or error)
    kind: type[ProviderError]
    if isinstance(error, g.TooManyRequests) or THROTTLE_REASONS & set(reasons):
        kind = Throttled
    elif isinstance(error, g.Forbidden | g.Unauthorized):
        kind = PermissionDenied
    elif isinstance(error, g.PreconditionFailed | g.Conflict):
        kind = Conflict
    elif isinstance(error, g.NotFound):
        kind = NotFound
    elif isinstance(error, g.BadRequest):
        text = " ".join([message, *reasons])
        if BUSY_REASONS & set(reasons):
            kind = CloudUnavailable
        elif IN_USE_REASONS & set(reasons):
            kind = Conflict
        elif any(mark in text for mark in EXHAUSTED_MARKS):
            kind = CapacityExhausted
        elif any(mark in text for mark in LIMIT_MARKS):
            kind = LimitExceeded
        else:
            kind = InvalidRequest
    elif isinstance(error, g.ServerError):
        kind = CloudUnavailable
    else:
        kind = InvalidRequest
    return kind(message, code=code, operation=operation)


def is_stale_fingerprint(error: ProviderError) -> bool:
    """The compare-and-swap lost: someone changed the interface since we read it."""
    return isinstance(error, Conflict) and error.code in {"conditionNotMet", "412"}
