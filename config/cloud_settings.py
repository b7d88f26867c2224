"""Typed settings of the cloud side: EC2 and Compute Engine specifics, API endpoints, and
the rate limits and retries of every cloud call.

Same rules as :mod:`config.settings`: no defaults here (the table in :mod:`config.table`
owns names, defaults and parsing), and every field's docstring names its environment
variable, its default and an example.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsSettings:
    """EC2 specifics: tags on the ENIs we create, which ENIs we manage, custom networking."""

    cluster_name: str
    """Cluster name, tagged on every ENI created (``cluster.k8s.amazonaws.com/name``).

    ``CLUSTER_NAME``, default empty; e.g. ``CLUSTER_NAME=prod-eu-1``."""
    additional_eni_tags: tuple[tuple[str, str], ...]
    """Extra tags for every ENI created, as sorted (key, value) pairs.

    ``ADDITIONAL_ENI_TAGS``, default ``{}``; e.g. ``{"team": "net", "cost-center": "42"}``."""
    manage_untagged_eni: bool
    """Use ENIs that lack our node tag (e.g. attached by hand) for pods.

    ``MANAGE_UNTAGGED_ENI``, default ``true``; e.g. ``MANAGE_UNTAGGED_ENI=false``."""
    disable_leaked_eni_cleanup: bool
    """Turn off the periodic sweep that deletes detached ENIs this project created.

    ``DISABLE_LEAKED_ENI_CLEANUP``, default ``false``; e.g. ``=true`` to save EC2 calls."""
    custom_networking: bool
    """Create secondary ENIs in the subnet and security groups of the node's ENIConfig.

    ``AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG``, default ``false``; e.g. ``=true``."""
    endpoint_url: str
    """Endpoint of every AWS service (the SDKs' standard variable); empty: AWS's own.

    ``AWS_ENDPOINT_URL``, default empty; e.g. ``AWS_ENDPOINT_URL=http://127.0.0.1:5000``."""
    ec2_endpoint_url: str
    """Endpoint of the EC2 API (the SDKs' standard variable); empty: the regional endpoint.

    ``AWS_ENDPOINT_URL_EC2``, default ``$AWS_ENDPOINT_URL``;
    e.g. ``AWS_ENDPOINT_URL_EC2=https://ec2.eu-west-1.amazonaws.com``."""
    region: str
    """AWS region of the EC2 API; empty: the region the instance metadata names.

    ``AWS_REGION``, default empty; e.g. ``AWS_REGION=eu-west-1``."""
    imds_endpoint: str
    """Base URL of the instance metadata service (IMDSv2), the SDKs' standard variable.

    ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, default ``http://169.254.169.254``;
    e.g. ``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338``."""
    leak_sweep_grace: float
    """Seconds a detached ENI we created must have existed before the leak sweep deletes it.

    ``VPC_IPAM_LEAK_SWEEP_GRACE``, default ``300`` (aws-node's 5 minutes);
    e.g. ``VPC_IPAM_LEAK_SWEEP_GRACE=900``."""
    leak_sweep_interval: float
    """Seconds between two leak sweeps.

    ``VPC_IPAM_LEAK_SWEEP_INTERVAL``, default ``3600``; e.g. ``=7200``."""
    leak_sweep_max: int
    """Leaked ENIs deleted at most per sweep, so one node never floods the EC2 API.

    ``VPC_IPAM_LEAK_SWEEP_MAX``, default ``10``; e.g. ``VPC_IPAM_LEAK_SWEEP_MAX=25``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GceSettings:
    """Compute Engine specifics: where alias ranges come from and how big they are."""

    pod_range_name: str
    """Secondary range of the node's subnetwork that pod alias ranges are cut from.

    ``GCE_POD_RANGE_NAME``, default empty (required with ``VPC_IPAM_PROVIDER=gce``);
    e.g. ``GCE_POD_RANGE_NAME=pods``."""
    alias_block_prefixlen: int
    """Prefix length of each alias range asked for, 24..28 (/28 = 16 addresses).

    ``GCE_ALIAS_BLOCK_PREFIXLEN``, default ``28``; e.g. ``GCE_ALIAS_BLOCK_PREFIXLEN=26``."""
    metadata_host: str
    """The metadata server, as Google's own libraries read it (host or host:port).

    ``GCE_METADATA_HOST``, default ``metadata.google.internal``;
    e.g. ``GCE_METADATA_HOST=127.0.0.1:8089``."""
    compute_endpoint: str
    """The Compute Engine API endpoint; empty: Google's own.

    ``GCE_COMPUTE_ENDPOINT``, default empty; e.g. ``GCE_COMPUTE_ENDPOINT=http://127.0.0.1:8090``."""
    anonymous_credentials: bool
    """Send no credentials (emulators only); otherwise Google's default credential chain.

    ``GCE_ANONYMOUS_CREDENTIALS``, default ``false``; e.g. ``GCE_ANONYMOUS_CREDENTIALS=true``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitSettings:
    """Token buckets and retries for every cloud API call this node makes.

    The EC2 buckets are shaped like EC2's documented ones (per account and region): mutating
    calls 50 tokens refilled at 5/s, AssignPrivateIpAddresses and CreateNetworkInterface
    100 at 5/s, Describe* 100 at 20/s. A node never spends faster than EC2 refills; lower
    them where many nodes share an account. Compute Engine counts per project and minute.
    """

    ec2_mutating_rate: float
    """EC2 mutating calls per second (Attach/Detach/Delete/Unassign/Modify, tags).

    ``VPC_IPAM_EC2_MUTATING_RATE``, default ``5``; e.g. ``VPC_IPAM_EC2_MUTATING_RATE=1``."""
    ec2_mutating_burst: int
    """EC2 mutating calls allowed back to back (bucket size).

    ``VPC_IPAM_EC2_MUTATING_BURST``, default ``50``; e.g. ``VPC_IPAM_EC2_MUTATING_BURST=10``."""
    ec2_allocate_rate: float
    """AssignPrivateIpAddresses and CreateNetworkInterface calls per second.

    ``VPC_IPAM_EC2_ALLOCATE_RATE``, default ``5``; e.g. ``VPC_IPAM_EC2_ALLOCATE_RATE=1``."""
    ec2_allocate_burst: int
    """AssignPrivateIpAddresses and CreateNetworkInterface calls allowed back to back.

    ``VPC_IPAM_EC2_ALLOCATE_BURST``, default ``100``; e.g. ``VPC_IPAM_EC2_ALLOCATE_BURST=20``."""
    ec2_describe_rate: float
    """EC2 Describe* calls per second.

    ``VPC_IPAM_EC2_DESCRIBE_RATE``, default ``20``; e.g. ``VPC_IPAM_EC2_DESCRIBE_RATE=2``."""
    ec2_describe_burst: int
    """EC2 Describe* calls allowed back to back (bucket size).

    ``VPC_IPAM_EC2_DESCRIBE_BURST``, default ``100``; e.g. ``VPC_IPAM_EC2_DESCRIBE_BURST=20``."""
    gce_rate: float
    """Compute Engine API calls per second, reads and writes together.

    ``VPC_IPAM_GCE_RATE``, default ``1``; e.g. ``VPC_IPAM_GCE_RATE=0.2``."""
    gce_burst: int
    """Compute Engine API calls allowed back to back (bucket size).

    ``VPC_IPAM_GCE_BURST``, default ``5``; e.g. ``VPC_IPAM_GCE_BURST=10``."""
    cloud_retry_attempts: int
    """Attempts per cloud call when the cloud throttles or fails (5xx, timeout), first one
    included; backoff between them is exponential with full jitter.

    ``VPC_IPAM_CLOUD_RETRY_ATTEMPTS``, default ``5``; e.g. ``VPC_IPAM_CLOUD_RETRY_ATTEMPTS=3``."""
    cloud_retry_deadline: float
    """Seconds after which a cloud call stops retrying, whatever attempts remain.

    ``VPC_IPAM_CLOUD_RETRY_DEADLINE``, default ``30``; e.g. ``=60``."""
