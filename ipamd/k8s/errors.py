"""What can go wrong talking to the Kubernetes API, mapped once at the edge (``api``).

Callers decide on these types only: ``Unavailable`` means retry later with backoff, ``Gone``
means the watch's resourceVersion is too old (list again), ``NotFound`` and ``Forbidden``
are answers, not outages.
"""

from __future__ import annotations


class KubeError(Exception):
    """Base of every Kubernetes API failure; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unavailable(KubeError):
    """The API server did not answer, answered 5xx or 429, or the stream broke."""


class Gone(KubeError):
    """410: the resourceVersion a watch started from has been compacted away."""


class NotFound(KubeError):
    """404: no such object (a node not registered yet, an ENIConfig not created)."""


class Forbidden(KubeError):
    """401/403: the service account lacks a verb (compare deploy/rbac.yaml)."""


class Rejected(KubeError):
    """Any other 4xx: the request itself was wrong (409 included)."""
