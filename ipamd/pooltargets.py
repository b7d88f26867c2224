"""From settings and the node's limits to the warmpool's Limits and Targets.

MAX_ENI caps interfaces (never above the instance's own limit); max pods follows the EKS
rule for the mode (or the kubelet's own number, when the Kubernetes layer knows it); the
block size follows the provider's block prefix length.
"""

from __future__ import annotations

import warmpool
from config import Settings
from providers.models import InstanceLimits


def pool_limits(
    limits: InstanceLimits,
    settings: Settings,
    block_prefixlen: int,
    *,
    max_pods: int | None = None,
) -> warmpool.Limits:
    wp = settings.warm_pool
    max_interfaces = limits.max_interfaces
    if wp.max_eni is not None and 1 <= wp.max_eni < max_interfaces:
        max_interfaces = wp.max_eni
    if max_pods is None:
        max_pods = warmpool.max_pods(
            limits.max_interfaces,
            limits.ipv4_per_interface,
            prefix_delegation=block_prefixlen < 32,
            vcpus=limits.vcpus,
            custom_networking=settings.aws.custom_networking,
        )
    return warmpool.Limits(
        max_interfaces=max_interfaces,
        blocks_per_interface=limits.blocks_per_interface,
        block_size=2 ** (32 - block_prefixlen),
        max_pods=max_pods,
    )


def pool_targets(settings: Settings) -> warmpool.Targets:
    wp = settings.warm_pool
    return warmpool.Targets(
        warm_interface_target=wp.warm_eni_target,
        warm_ip_target=wp.warm_ip_target,
        minimum_ip_target=wp.minimum_ip_target,
        warm_block_target=wp.warm_prefix_target,
        min_interface_age_seconds=settings.daemon.min_interface_lifetime,
    )


COALESCE_MAX = 1.0


def coalesce_seconds(pool_interval: float) -> float:
    """How long a wake of the pool loop gathers ADDs before it grows the pool: a fifth of
    the pool interval, at most a second (the sandbox's fast loops wait a fraction of it)."""
    return min(COALESCE_MAX, pool_interval / 5)
