"""Builds a GceProvider from the settings: the only place Compute clients are configured.

REST transport (no gRPC on the node), the endpoint from GCE_COMPUTE_ENDPOINT when set (the
sandbox's emulator; the zone operations client too, so waiting for an operation reaches the
same place), and Google's default credential chain unless GCE_ANONYMOUS_CREDENTIALS asks for
none. Every call goes through a CallPolicy with the GCE bucket (VPC_IPAM_GCE_RATE/BURST).
"""

from __future__ import annotations

from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import compute_v1

from config import Settings
from providers.errors import PermissionDenied
from providers.gce.metadata import MetadataClient
from providers.gce.provider import GceClients, GceOptions, GceProvider
from providers.ratelimit import RateLimiter
from providers.retry import CallObserver, CallPolicy


def gce_clients(endpoint: str = "", *, anonymous: bool = False) -> GceClients:
    options: dict[str, Any] = {"transport": "rest"}
    if endpoint:
        options["client_options"] = ClientOptions(api_endpoint=endpoint)
    if anonymous:
        options["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return GceClients(
        instances=compute_v1.InstancesClient(**options),
        subnetworks=compute_v1.SubnetworksClient(**options),
        operations=compute_v1.ZoneOperationsClient(**options),
    )


def gce_provider(settings: Settings, *, observe: CallObserver | None = None) -> GceProvider:
    """The provider for this node. The configured metadata server is asked first: when it
    does not answer, nothing else is tried (Google's credential chain would otherwise go
    looking for a metadata server of its own)."""
    gce = settings.gce
    metadata = MetadataClient(gce.metadata_host)
    metadata.project_id()
    policy = CallPolicy.from_settings(
        RateLimiter.for_gce(settings.rate_limits), settings.rate_limits, observe=observe
    )
    try:
        clients = gce_clients(gce.compute_endpoint, anonymous=gce.anonymous_credentials)
    except DefaultCredentialsError as error:
        raise PermissionDenied(f"no Google credentials for the Compute API: {error}") from error
    return GceProvider(
        clients,
        metadata,
        policy,
        GceOptions(pod_range_name=gce.pod_range_name, block_prefixlen=gce.alias_block_prefixlen),
    )
