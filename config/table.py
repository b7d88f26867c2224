"""The table of environment variables: the one place that names, parses and defaults them.

Each :class:`Variable` ties an environment name to a field of :mod:`config.settings`, a
parser and a default. Loading (:mod:`config.env`), ``vpc-ipamd --check-config`` and the
reference docs (:mod:`config.describe`) all walk this table, so they cannot disagree.

Where a name comes from aws-node (amazon-vpc-cni-k8s), so do its default and its meaning;
names of our own start with ``VPC_IPAM_`` (daemon) or ``GCE_`` (Compute Engine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from config import compound as c
from config import parsers as p
from config.values import (
    BindAddress,
    Dataplane,
    LogFormat,
    LogLevel,
    Provider,
    RandomizeSnat,
    WarmPoolMode,
)

T = TypeVar("T")

AWS = Provider.AWS
GCE = Provider.GCE


@dataclass(frozen=True, slots=True)
class Variable(Generic[T]):
    """One environment variable and the settings field it fills."""

    name: str
    """Environment variable, e.g. ``WARM_ENI_TARGET``."""
    section: str
    """Attribute of :class:`config.settings.Settings`, e.g. ``warm_pool``."""
    field: str
    """Field of that section, e.g. ``warm_eni_target``."""
    parser: p.Parser[T]
    """Text -> value, with what is accepted."""
    default: T
    """Value when the variable is unset or empty."""
    default_from: str | None = None
    """When set, the default is the effective value of this other variable instead."""
    provider: Provider | None = None
    """The only provider the variable affects; None when it affects both."""
    secret: bool = False
    """Never print the value (describe output, error messages)."""

    def render_default(self) -> str:
        """The default as environment text (the other variable's name for derived ones)."""
        if self.default_from is not None:
            return f"${self.default_from}"
        return self.parser.render(self.default)


def _v(
    name: str,
    where: str,
    parser: p.Parser[T],
    default: T,
    *,
    default_from: str | None = None,
    provider: Provider | None = None,
) -> Variable[T]:
    section, _, field = where.partition(".")
    return Variable(name, section, field, parser, default, default_from, provider)


CNI_TIMEOUT_MAX = 600.0
"""The most ``timeoutSeconds`` vpc-cni accepts (cni.pluginconf.MAX_TIMEOUT; a test keeps
the two equal, since config/ imports nothing of ours)."""
_CONFLIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.conflist")


def _cni_timeout() -> p.Parser[float]:
    """Seconds > 0, at most what vpc-cni accepts in ``timeoutSeconds``."""
    seconds = p.positive_number("seconds")

    def parse(raw: str) -> float:
        value = seconds.parse(raw)
        if value > CNI_TIMEOUT_MAX:
            raise p.BadValueError(f"more than vpc-cni accepts ({CNI_TIMEOUT_MAX:g})")
        return value

    return p.Parser(f"a number of seconds > 0 and <= {CNI_TIMEOUT_MAX:g}", parse, seconds.render)


def _conflist_name() -> p.Parser[str]:
    """A plain file name (no directory) ending in ``.conflist``."""

    def parse(raw: str) -> str:
        if "/" in raw:
            raise p.BadValueError("a file name, not a path")
        if len(raw.encode()) > 255:
            raise p.BadValueError("longer than 255 bytes")
        if not _CONFLIST_NAME.fullmatch(raw):
            raise p.BadValueError()
        return raw

    return p.Parser(
        "a file name ending in .conflist: A-Z a-z 0-9 _ . - only, letter or digit first, "
        "e.g. 10-vpc-ipam.conflist",
        parse,
    )


_COUNT = p.integer(minimum=0)
_MTU = p.integer(576, 9001)
_SECONDS = p.positive_number("seconds")
_RATE = p.positive_number("calls per second")
_BURST = p.integer(minimum=1)
_ENI_CONFIG_KEY = "k8s.amazonaws.com/eniConfig"
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")
_SERVICE_HOST = re.compile(r"[A-Za-z0-9.:\-]{1,253}")
_SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?")

VARIABLES: tuple[Variable[Any], ...] = (
    # warm pool (aws-node names, defaults and meaning)
    _v("WARM_ENI_TARGET", "warm_pool.warm_eni_target", _COUNT, 1, provider=AWS),
    _v("WARM_IP_TARGET", "warm_pool.warm_ip_target", _COUNT, 0),
    _v("MINIMUM_IP_TARGET", "warm_pool.minimum_ip_target", _COUNT, 0),
    _v("WARM_PREFIX_TARGET", "warm_pool.warm_prefix_target", _COUNT, 0),
    _v(
        "ENABLE_PREFIX_DELEGATION",
        "warm_pool.enable_prefix_delegation",
        p.boolean(),
        False,
        provider=AWS,
    ),
    _v("MAX_ENI", "warm_pool.max_eni", p.optional_cap(), None, provider=AWS),
    _v("IP_COOLDOWN_PERIOD", "warm_pool.ip_cooldown_period", _COUNT, 30),
    _v("WARM_POOL_MODE", "warm_pool.mode", p.choice(WarmPoolMode), WarmPoolMode.STATIC),
    # datapath
    _v("AWS_VPC_K8S_CNI_EXTERNALSNAT", "datapath.external_snat", p.boolean(), False),
    _v("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "datapath.exclude_snat_cidrs", c.ipv4_cidrs(), ()),
    _v(
        "AWS_VPC_K8S_CNI_RANDOMIZESNAT",
        "datapath.randomize_snat",
        p.choice(RandomizeSnat),
        RandomizeSnat.PRNG,
    ),
    _v("AWS_VPC_K8S_CNI_CONNMARK", "datapath.connmark", p.connmark(), 0x80),
    _v("AWS_VPC_ENI_MTU", "datapath.eni_mtu", _MTU, 9001),
    _v("POD_MTU", "datapath.pod_mtu", _MTU, 9001, default_from="AWS_VPC_ENI_MTU"),
    _v("AWS_VPC_K8S_CNI_VETHPREFIX", "datapath.veth_prefix", p.veth_prefix(), "eni"),
    # EC2
    _v(
        "CLUSTER_NAME",
        "aws.cluster_name",
        p.text("text of up to 256 characters", None, 256),
        "",
        provider=AWS,
    ),
    _v("ADDITIONAL_ENI_TAGS", "aws.additional_eni_tags", c.eni_tags(), (), provider=AWS),
    _v("MANAGE_UNTAGGED_ENI", "aws.manage_untagged_eni", p.boolean(), True, provider=AWS),
    _v(
        "DISABLE_LEAKED_ENI_CLEANUP",
        "aws.disable_leaked_eni_cleanup",
        p.boolean(),
        False,
        provider=AWS,
    ),
    _v(
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG",
        "aws.custom_networking",
        p.boolean(),
        False,
        provider=AWS,
    ),
    _v("AWS_ENDPOINT_URL", "aws.endpoint_url", c.url(), "", provider=AWS),
    _v(
        "AWS_ENDPOINT_URL_EC2",
        "aws.ec2_endpoint_url",
        c.url(),
        "",
        default_from="AWS_ENDPOINT_URL",
        provider=AWS,
    ),
    _v("AWS_REGION", "aws.region", p.text("an AWS region name such as eu-west-1", _REGION), ""),
    _v(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "aws.imds_endpoint",
        c.url(),
        "http://169.254.169.254",
        provider=AWS,
    ),
    _v("VPC_IPAM_LEAK_SWEEP_GRACE", "aws.leak_sweep_grace", _SECONDS, 300.0, provider=AWS),
    _v("VPC_IPAM_LEAK_SWEEP_INTERVAL", "aws.leak_sweep_interval", _SECONDS, 3600.0, provider=AWS),
    _v("VPC_IPAM_LEAK_SWEEP_MAX", "aws.leak_sweep_max", _BURST, 10, provider=AWS),
    # Compute Engine
    _v("GCE_POD_RANGE_NAME", "gce.pod_range_name", p.gce_name(), "", provider=GCE),
    _v(
        "GCE_ALIAS_BLOCK_PREFIXLEN",
        "gce.alias_block_prefixlen",
        p.integer(24, 28),
        28,
        provider=GCE,
    ),
    _v(
        "GCE_METADATA_HOST",
        "gce.metadata_host",
        p.text("host or host:port, such as 127.0.0.1:8080", _HOST_PORT),
        "metadata.google.internal",
        provider=GCE,
    ),
    _v("GCE_COMPUTE_ENDPOINT", "gce.compute_endpoint", c.url(), "", provider=GCE),
    _v("GCE_ANONYMOUS_CREDENTIALS", "gce.anonymous_credentials", p.boolean(), False, provider=GCE),
    # Kubernetes
    _v("MY_NODE_NAME", "kubernetes.node_name", p.dns_subdomain(), ""),
    _v(
        "ENI_CONFIG_LABEL_DEF",
        "kubernetes.eni_config_label",
        p.k8s_key(),
        _ENI_CONFIG_KEY,
        provider=AWS,
    ),
    _v(
        "ENI_CONFIG_ANNOTATION_DEF",
        "kubernetes.eni_config_annotation",
        p.k8s_key(),
        _ENI_CONFIG_KEY,
        provider=AWS,
    ),
    _v("VPC_IPAM_KUBE_API_SERVER", "kubernetes.api_server", c.url(), ""),
    _v(
        "KUBERNETES_SERVICE_HOST",
        "kubernetes.service_host",
        p.text("a host name or IP address, such as 10.100.0.1", _SERVICE_HOST),
        "",
    ),
    _v("KUBERNETES_SERVICE_PORT", "kubernetes.service_port", p.integer(1, 65535), 443),
    _v(
        "VPC_IPAM_KUBE_TOKEN_FILE",
        "kubernetes.token_file",
        p.absolute_path(),
        Path(_SERVICE_ACCOUNT, "token"),
    ),
    _v(
        "VPC_IPAM_KUBE_CA_FILE",
        "kubernetes.ca_file",
        p.absolute_path(),
        Path(_SERVICE_ACCOUNT, "ca.crt"),
    ),
    _v("VPC_IPAM_POD_GONE_GRACE", "kubernetes.pod_gone_grace", _SECONDS, 300.0),
    # the daemon
    _v("VPC_IPAM_PROVIDER", "daemon.provider", p.choice(Provider), Provider.AWS),
    _v(
        "VPC_IPAM_SOCKET_PATH",
        "daemon.socket_path",
        p.absolute_path(p.UNIX_PATH_MAX),
        Path("/run/vpc-ipam/ipamd.sock"),
    ),
    _v(
        "VPC_IPAM_CHECKPOINT_PATH",
        "daemon.checkpoint_path",
        p.absolute_path(),
        Path("/var/lib/vpc-ipam/checkpoint.json"),
    ),
    _v(
        "VPC_IPAM_SPOOL_DIR", "daemon.spool_dir", p.absolute_path(), Path("/var/lib/vpc-ipam/spool")
    ),
    _v("VPC_IPAM_POOL_INTERVAL", "daemon.pool_interval", _SECONDS, 5.0),
    _v("VPC_IPAM_SHRINK_INTERVAL", "daemon.shrink_interval", _SECONDS, 30.0),
    _v("VPC_IPAM_RECONCILE_INTERVAL", "daemon.reconcile_interval", _SECONDS, 60.0),
    _v("VPC_IPAM_CAPACITY_ERROR_BACKOFF", "daemon.capacity_error_backoff", _SECONDS, 120.0),
    _v("VPC_IPAM_MIN_INTERFACE_LIFETIME", "daemon.min_interface_lifetime", _SECONDS, 60.0),
    _v("VPC_IPAM_SCALE_DOWN_WINDOW", "daemon.scale_down_window", _COUNT, 1800),
    _v("VPC_IPAM_DATAPLANE", "daemon.dataplane", p.choice(Dataplane), Dataplane.KERNEL),
    _v("VPC_IPAM_ADD_WAIT", "daemon.add_wait", _SECONDS, 10.0),
    _v("VPC_IPAM_INSTALL_CNI", "daemon.install_cni", p.boolean(), False),
    _v("AWS_VPC_K8S_CNI_LOG_FILE", "daemon.log_file", p.log_destination(), "stderr"),
    _v(
        "AWS_VPC_K8S_CNI_LOGLEVEL",
        "daemon.log_level",
        p.choice(LogLevel, ignore_case=True),
        LogLevel.DEBUG,
    ),
    _v(
        "VPC_IPAM_LOG_FORMAT",
        "daemon.log_format",
        p.choice(LogFormat, ignore_case=True),
        LogFormat.LOGFMT,
    ),
    _v("DISABLE_METRICS", "daemon.disable_metrics", p.boolean(), False),
    _v(
        "VPC_IPAM_METRICS_BIND_ADDRESS",
        "daemon.metrics_bind_address",
        c.bind_address(allow_unix=False),
        BindAddress(host="127.0.0.1", port=61678),
    ),
    _v("DISABLE_INTROSPECTION", "daemon.disable_introspection", p.boolean(), False),
    _v(
        "INTROSPECTION_BIND_ADDRESS",
        "daemon.introspection_bind_address",
        c.bind_address(allow_unix=True),
        BindAddress(host="127.0.0.1", port=61679),
    ),
    # the CNI plugin and its conflist, installed by the daemon (VPC_IPAM_INSTALL_CNI)
    _v("VPC_IPAM_CNI_BIN_DIR", "cni.bin_dir", p.absolute_path(), Path("/opt/cni/bin")),
    _v("VPC_IPAM_CNI_CONF_DIR", "cni.conf_dir", p.absolute_path(), Path("/etc/cni/net.d")),
    _v(
        "VPC_IPAM_CNI_CONFLIST_NAME",
        "cni.conflist_name",
        _conflist_name(),
        "10-vpc-ipam.conflist",
    ),
    _v(
        "AWS_VPC_K8S_PLUGIN_LOG_FILE",
        "cni.log_file",
        p.absolute_path(),
        Path("/var/log/vpc-ipam/cni.log"),
    ),
    _v("VPC_IPAM_CNI_TIMEOUT", "cni.timeout", _cni_timeout(), 20.0),
    _v("VPC_IPAM_CNI_PORTMAP", "cni.portmap", p.boolean(), True),
    # cloud API rate limits and retries, per node (see config.cloud_settings)
    _v("VPC_IPAM_EC2_MUTATING_RATE", "rate_limits.ec2_mutating_rate", _RATE, 5.0, provider=AWS),
    _v("VPC_IPAM_EC2_MUTATING_BURST", "rate_limits.ec2_mutating_burst", _BURST, 50, provider=AWS),
    _v("VPC_IPAM_EC2_ALLOCATE_RATE", "rate_limits.ec2_allocate_rate", _RATE, 5.0, provider=AWS),
    _v("VPC_IPAM_EC2_ALLOCATE_BURST", "rate_limits.ec2_allocate_burst", _BURST, 100, provider=AWS),
    _v("VPC_IPAM_EC2_DESCRIBE_RATE", "rate_limits.ec2_describe_rate", _RATE, 20.0, provider=AWS),
    _v("VPC_IPAM_EC2_DESCRIBE_BURST", "rate_limits.ec2_describe_burst", _BURST, 100, provider=AWS),
    _v("VPC_IPAM_GCE_RATE", "rate_limits.gce_rate", _RATE, 1.0, provider=GCE),
    _v("VPC_IPAM_GCE_BURST", "rate_limits.gce_burst", _BURST, 5, provider=GCE),
    _v("VPC_IPAM_CLOUD_RETRY_ATTEMPTS", "rate_limits.cloud_retry_attempts", _BURST, 5),
    _v("VPC_IPAM_CLOUD_RETRY_DEADLINE", "rate_limits.cloud_retry_deadline", _SECONDS, 30.0),
)
"""Every variable, in display order (grouped by settings section)."""

BY_NAME: dict[str, Variable[Any]] = {v.name: v for v in VARIABLES}
"""The table indexed by environment name."""
