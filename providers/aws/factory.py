"""Builds an AwsProvider from the settings: the only place boto3 clients are configured.

botocore's retries are turned off (one attempt) because CallPolicy retries with our own
limiter and backoff; two retry layers would multiply each other under throttling. The
endpoint and region come from the settings (the SDKs' standard variables); the region
falls back to what the instance metadata says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from config import Settings
from providers.aws.imds import ImdsClient
from providers.aws.provider import AwsOptions, AwsProvider
from providers.models import InstanceLimits
from providers.ratelimit import RateLimiter
from providers.retry import CallObserver, CallPolicy

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

SDK_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="vpc-ipam",
)


def ec2_client(region: str, endpoint_url: str = "") -> EC2Client:
    session = boto3.session.Session()
    return session.client(
        "ec2", region_name=region, endpoint_url=endpoint_url or None, config=SDK_CONFIG
    )


def options_from(settings: Settings) -> AwsOptions:
    return AwsOptions(
        prefix_delegation=settings.warm_pool.enable_prefix_delegation,
        cluster_name=settings.aws.cluster_name,
        additional_tags=settings.aws.additional_eni_tags,
        leak_grace=settings.aws.leak_sweep_grace,
        leak_sweep_max=settings.aws.leak_sweep_max,
    )


def aws_provider(
    settings: Settings,
    *,
    limits: InstanceLimits | None = None,
    observe: CallObserver | None = None,
) -> AwsProvider:
    """The provider for this node; ``limits`` from a checkpoint spare a DescribeInstanceTypes;
    ``observe`` is told of every EC2 call (metrics, status)."""
    imds = ImdsClient(settings.aws.imds_endpoint)
    region = settings.aws.region or imds.get("meta-data/placement/region").strip()
    policy = CallPolicy.from_settings(
        RateLimiter.for_ec2(settings.rate_limits), settings.rate_limits, observe=observe
    )
    return AwsProvider(
        ec2_client(region, settings.aws.ec2_endpoint_url),
        imds,
        policy,
        options_from(settings),
        limits=limits,
    )
