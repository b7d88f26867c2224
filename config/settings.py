"""Typed settings: one frozen dataclass per concern, composed in :class:`Settings`.

The classes carry no defaults on purpose: names, defaults and parsing live once, in the
table of :mod:`config.table`, and :func:`config.env.load_settings` is the way to build them
(``load_settings({})`` gives the defaults). Each field's docstring names its environment
variable, its default and an example; ``config.describe`` reads these docstrings, and a unit
test keeps them in step with the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from config.cloud_settings import AwsSettings, GceSettings, RateLimitSettings
from config.values import (
    BindAddress,
    Dataplane,
    LogFormat,
    LogLevel,
    Provider,
    RandomizeSnat,
    WarmPoolMode,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WarmPoolSettings:
    """Warm-pool targets and limits, with aws-node's names and meaning (0 means "not set")."""

    warm_eni_target: int
    """Free interfaces, with all their addresses, to keep ready.

    ``WARM_ENI_TARGET``, default ``1``; e.g. ``WARM_ENI_TARGET=2``. Ignored when
    ``WARM_IP_TARGET`` or ``MINIMUM_IP_TARGET`` is set."""
    warm_ip_target: int
    """Free addresses to keep ready; 0 means not set.

    ``WARM_IP_TARGET``, default ``0``; e.g. ``WARM_IP_TARGET=5``."""
    minimum_ip_target: int
    """Addresses to hold in all, used or not (a floor for pre-scaling); 0 means not set.

    ``MINIMUM_IP_TARGET``, default ``0``; e.g. ``MINIMUM_IP_TARGET=30``."""
    warm_prefix_target: int
    """Wholly free /28 prefixes (or alias blocks) to keep ready, in prefix mode; 0 = not set.

    ``WARM_PREFIX_TARGET``, default ``0``; e.g. ``WARM_PREFIX_TARGET=1``."""
    enable_prefix_delegation: bool
    """Ask EC2 for /28 prefixes instead of single secondary addresses.

    ``ENABLE_PREFIX_DELEGATION``, default ``false``; e.g. ``ENABLE_PREFIX_DELEGATION=true``."""
    max_eni: int | None
    """Cap on interfaces attached to the node, primary included; None: the instance's maximum.

    ``MAX_ENI``, default unset; e.g. ``MAX_ENI=3``. A value of 0 or less means no cap."""
    ip_cooldown_period: int
    """Seconds a freed address waits before another pod may get it.

    ``IP_COOLDOWN_PERIOD``, default ``30``; e.g. ``IP_COOLDOWN_PERIOD=60``."""
    mode: WarmPoolMode
    """Who sizes the warm pool: ``static`` keeps the targets as configured; ``adaptive`` keeps
    enough free addresses for the pods that arrive while the cloud replenishes (the 99%
    quantile of arrivals at the observed rate during the measured grow latency, plus one),
    in place of WARM_ENI_TARGET / WARM_PREFIX_TARGET (WARM_IP_TARGET and MINIMUM_IP_TARGET,
    when set, stay floors), and lengthens the scale-down window (up to 2 h) when a shrink is
    soon undone by a grow, decaying back to VPC_IPAM_SCALE_DOWN_WINDOW after 6 h without.

    ``WARM_POOL_MODE``, default ``static``; e.g. ``WARM_POOL_MODE=adaptive``."""

    @property
    def ip_targets_set(self) -> bool:
        """True when WARM_IP_TARGET or MINIMUM_IP_TARGET drives the pool."""
        return self.warm_ip_target > 0 or self.minimum_ip_target > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DatapathSettings:
    """How pods are wired on the node: SNAT, marks, MTUs, host-side interface names."""

    external_snat: bool
    """Leave SNAT of pod traffic leaving the VPC to an external NAT (no SNAT rule here).

    ``AWS_VPC_K8S_CNI_EXTERNALSNAT``, default ``false``; e.g. ``=true`` behind a NAT gateway."""
    exclude_snat_cidrs: tuple[IPv4Network, ...]
    """Destinations outside the VPC that pod traffic reaches without SNAT.

    ``AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS``, default empty; e.g. ``10.10.0.0/16,192.168.0.0/24``."""
    randomize_snat: RandomizeSnat
    """Source-port selection of the SNAT rule.

    ``AWS_VPC_K8S_CNI_RANDOMIZESNAT``, default ``prng``; e.g. ``=none`` (or ``hashrandom``)."""
    connmark: int
    """Connection mark keeping the return path of SNATed and NodePort traffic symmetric.

    ``AWS_VPC_K8S_CNI_CONNMARK``, default ``0x80``; e.g. ``=0x200`` or ``=512``."""
    eni_mtu: int
    """MTU of the node's interfaces (ENIs / NIC), 576..9001.

    ``AWS_VPC_ENI_MTU``, default ``9001``; e.g. ``AWS_VPC_ENI_MTU=1500``."""
    pod_mtu: int
    """MTU of pod interfaces, 576..9001; defaults to the effective ``AWS_VPC_ENI_MTU``.

    ``POD_MTU``, default ``9001`` (from ``AWS_VPC_ENI_MTU``); e.g. ``POD_MTU=1500``."""
    veth_prefix: str
    """Prefix of host-side veth names; 1 to 4 characters, not ``eth``, ``vlan`` or ``lo``.

    ``AWS_VPC_K8S_CNI_VETHPREFIX``, default ``eni``; e.g. ``AWS_VPC_K8S_CNI_VETHPREFIX=pod``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesSettings:
    """What the Kubernetes layer needs: this node's name and where its ENIConfig is named."""

    node_name: str
    """This node's name; the Kubernetes layer requires it, this layer does not.

    ``MY_NODE_NAME``, default empty; e.g. ``MY_NODE_NAME=ip-10-0-1-23.ec2.internal``."""
    eni_config_label: str
    """Node label whose value names the node's ENIConfig (custom networking).

    ``ENI_CONFIG_LABEL_DEF``, default ``k8s.amazonaws.com/eniConfig``;
    e.g. ``ENI_CONFIG_LABEL_DEF=topology.kubernetes.io/zone``."""
    eni_config_annotation: str
    """Node annotation whose value names the node's ENIConfig; wins over the label.

    ``ENI_CONFIG_ANNOTATION_DEF``, default ``k8s.amazonaws.com/eniConfig``;
    e.g. ``ENI_CONFIG_ANNOTATION_DEF=example.com/eniConfig``."""
    api_server: str
    """URL of the Kubernetes API server; empty means in-cluster, from the two variables the
    kubelet sets in every pod (``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``).

    ``VPC_IPAM_KUBE_API_SERVER``, default empty; e.g. ``=https://10.100.0.1:443``."""
    service_host: str
    """The in-cluster API server's address, set by the kubelet.

    ``KUBERNETES_SERVICE_HOST``, default empty; e.g. ``KUBERNETES_SERVICE_HOST=10.100.0.1``."""
    service_port: int
    """The in-cluster API server's port, set by the kubelet.

    ``KUBERNETES_SERVICE_PORT``, default ``443``; e.g. ``KUBERNETES_SERVICE_PORT=6443``."""
    token_file: Path
    """Bearer token of the daemon's service account, read again before each request so a
    rotated token is picked up; a missing file means no token (a test API server).

    ``VPC_IPAM_KUBE_TOKEN_FILE``, default ``/var/run/secrets/kubernetes.io/serviceaccount/token``;
    e.g. ``VPC_IPAM_KUBE_TOKEN_FILE=/etc/vpc-ipam/token``."""
    ca_file: Path
    """CA bundle that signs the API server's certificate (https only).

    ``VPC_IPAM_KUBE_CA_FILE``, default ``/var/run/secrets/kubernetes.io/serviceaccount/ca.crt``;
    e.g. ``VPC_IPAM_KUBE_CA_FILE=/etc/vpc-ipam/ca.crt``."""
    pod_gone_grace: float
    """Seconds an allocation's pod must have been gone from the API (deleted, or Succeeded or
    Failed) before its address is released: the DEL the runtime should have sent was lost.
    Counted only while the pod list is in sync with the API server.

    ``VPC_IPAM_POD_GONE_GRACE``, default ``300``; e.g. ``VPC_IPAM_POD_GONE_GRACE=60``."""

    @property
    def enabled(self) -> bool:
        """The Kubernetes layer runs when the daemon knows its node's name."""
        return bool(self.node_name)

    @property
    def api_url(self) -> str:
        """Where the API server is: the explicit URL, else the in-cluster service, else ""."""
        if self.api_server:
            return self.api_server.rstrip("/")
        if not self.service_host:
            return ""
        host = f"[{self.service_host}]" if ":" in self.service_host else self.service_host
        return f"https://{host}:{self.service_port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    """The daemon itself: cloud choice, files, loop intervals, logging, metrics, introspection."""

    provider: Provider
    """Cloud provider.

    ``VPC_IPAM_PROVIDER``, default ``aws``; e.g. ``VPC_IPAM_PROVIDER=gce``."""
    socket_path: Path
    """Unix socket the CNI binary talks to.

    ``VPC_IPAM_SOCKET_PATH``, default ``/run/vpc-ipam/ipamd.sock``; e.g. ``/run/ipam/d.sock``."""
    checkpoint_path: Path
    """File holding allocations and cooldowns across restarts.

    ``VPC_IPAM_CHECKPOINT_PATH``, default ``/var/lib/vpc-ipam/checkpoint.json``;
    e.g. ``VPC_IPAM_CHECKPOINT_PATH=/data/ipam.json``."""
    spool_dir: Path
    """Directory where the CNI binary records releases while the daemon is down.

    ``VPC_IPAM_SPOOL_DIR``, default ``/var/lib/vpc-ipam/spool``; e.g. ``/data/spool``."""
    pool_interval: float
    """Seconds between two looks at the pool (growing it when short).

    ``VPC_IPAM_POOL_INTERVAL``, default ``5``; e.g. ``VPC_IPAM_POOL_INTERVAL=2.5``."""
    shrink_interval: float
    """Minimum seconds between two shrinks of the pool.

    ``VPC_IPAM_SHRINK_INTERVAL``, default ``30``; e.g. ``VPC_IPAM_SHRINK_INTERVAL=60``."""
    reconcile_interval: float
    """Seconds between two reconciliations of datastore, cloud and host.

    ``VPC_IPAM_RECONCILE_INTERVAL``, default ``60``; e.g. ``VPC_IPAM_RECONCILE_INTERVAL=120``."""
    capacity_error_backoff: float
    """Seconds without growth after the cloud said the subnet or range is full.

    ``VPC_IPAM_CAPACITY_ERROR_BACKOFF``, default ``120``; e.g. ``=300``."""
    min_interface_lifetime: float
    """Seconds a new interface lives before it may be removed again.

    ``VPC_IPAM_MIN_INTERFACE_LIFETIME``, default ``60``; e.g. ``=300``."""
    scale_down_window: int
    """Seconds of demand a shrink looks back on: the pool gives back only what the targets
    would not have wanted at the highest demand (addresses in use or cooling, plus pods
    waiting) of this window, as the HorizontalPodAutoscaler's scale-down stabilization
    window does. It keeps a pod count that wanders across an interface's worth of addresses
    from deleting and creating that interface over and over; ``0`` shrinks to the present,
    as aws-node does. The default covers Deployments rolled out every half hour; in a day
    of simulated churn it costs about as many idle addresses as aws-node holds with
    WARM_ENI_TARGET, and more with WARM_IP_TARGET (the peak of the last half hour is kept):
    lower it where the subnet is tight.

    ``VPC_IPAM_SCALE_DOWN_WINDOW``, default ``1800``; e.g. ``VPC_IPAM_SCALE_DOWN_WINDOW=300``."""
    dataplane: Dataplane
    """Who wires pods: ``kernel`` (the daemon, in the kernel) or ``none`` (IPAM only).

    ``VPC_IPAM_DATAPLANE``, default ``kernel``; e.g. ``VPC_IPAM_DATAPLANE=none``."""
    add_wait: float
    """Seconds an ADD may wait for the pool to grow before it answers "try again later";
    kept well under the CNI binary's own timeout.

    ``VPC_IPAM_ADD_WAIT``, default ``10``; e.g. ``VPC_IPAM_ADD_WAIT=5``."""
    install_cni: bool
    """Install the CNI plugin and write its conflist (see the ``cni`` section) once the
    daemon answers health; off, the daemon writes nothing outside its own files.

    ``VPC_IPAM_INSTALL_CNI``, default ``false`` (a developer running the daemon by hand);
    e.g. ``VPC_IPAM_INSTALL_CNI=true``, as the DaemonSet sets it."""
    log_file: str
    """Where the daemon logs: ``stderr``, ``stdout``, or an absolute file path (rotated at
    10 MiB, 5 files kept).

    ``AWS_VPC_K8S_CNI_LOG_FILE``, default ``stderr``;
    e.g. ``AWS_VPC_K8S_CNI_LOG_FILE=/var/log/vpc-ipam/ipamd.log``."""
    log_level: LogLevel
    """Log level (case-insensitive in the environment).

    ``AWS_VPC_K8S_CNI_LOGLEVEL``, default ``DEBUG``; e.g. ``AWS_VPC_K8S_CNI_LOGLEVEL=info``."""
    log_format: LogFormat
    """Shape of each log line: ``logfmt`` (``key=value`` pairs) or ``json`` (one object).

    Case-insensitive. Either way one record is one line (newlines and tracebacks are
    escaped), and credentials (access keys, tokens, passwords) are redacted.

    ``VPC_IPAM_LOG_FORMAT``, default ``logfmt``; e.g. ``VPC_IPAM_LOG_FORMAT=json``."""
    disable_metrics: bool
    """Turn off the Prometheus metrics endpoint.

    ``DISABLE_METRICS``, default ``false``; e.g. ``DISABLE_METRICS=true``."""
    metrics_bind_address: BindAddress
    """TCP address of the metrics endpoint (``/metrics``); loopback only by default.

    The DaemonSet sets the node's own IP (from the downward API, ``status.hostIP``) so
    Prometheus can scrape it. An empty host, ``0.0.0.0`` or ``[::]`` means every address,
    which is warned about.

    ``VPC_IPAM_METRICS_BIND_ADDRESS``, default ``127.0.0.1:61678``; e.g. ``=10.0.1.23:61678``."""
    disable_introspection: bool
    """Turn off the introspection endpoint.

    ``DISABLE_INTROSPECTION``, default ``false``; e.g. ``DISABLE_INTROSPECTION=true``."""
    introspection_bind_address: BindAddress
    """Address of the introspection endpoint: ``host:port`` or ``unix:/absolute/path``.

    ``INTROSPECTION_BIND_ADDRESS``, default ``127.0.0.1:61679``;
    e.g. ``INTROSPECTION_BIND_ADDRESS=unix:/run/vpc-ipam/introspect.sock``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CniSettings:
    """Where the daemon installs the CNI plugin and its conflist, and what the conflist says
    (whether it installs them at all is ``DaemonSettings.install_cni``)."""

    bin_dir: Path
    """Directory the runtime execs CNI plugins from; ``vpc-cni`` is installed here. The
    launcher names its package directory by absolute path, so mount this directory at the
    same path as on the host (aws-node's ``HOST_CNI_BIN_PATH`` is not read).

    ``VPC_IPAM_CNI_BIN_DIR``, default ``/opt/cni/bin``; e.g. ``=/home/kubernetes/bin``."""
    conf_dir: Path
    """Directory the runtime reads network configurations from; the conflist is written here
    (aws-node's ``HOST_CNI_CONFDIR_PATH`` is not read).

    ``VPC_IPAM_CNI_CONF_DIR``, default ``/etc/cni/net.d``; e.g. ``=/host/etc/cni/net.d``."""
    conflist_name: str
    """File name of the conflist; runtimes use the first file of the directory in lexical
    order, so the number in front decides which network wins.

    ``VPC_IPAM_CNI_CONFLIST_NAME``, default ``10-vpc-ipam.conflist``;
    e.g. ``VPC_IPAM_CNI_CONFLIST_NAME=05-vpc-ipam.conflist``."""
    log_file: Path
    """Absolute path (on the host) the plugin appends one line per invocation to. aws-node
    also takes ``stderr`` here; vpc-cni logs only to a file.

    ``AWS_VPC_K8S_PLUGIN_LOG_FILE``, default ``/var/log/vpc-ipam/cni.log``;
    e.g. ``AWS_VPC_K8S_PLUGIN_LOG_FILE=/var/log/aws-routed-eni/plugin.log``."""
    timeout: float
    """Seconds the plugin waits for one answer of the daemon (``timeoutSeconds``); must be
    more than ``VPC_IPAM_ADD_WAIT``, so the daemon answers "try again later" first.

    ``VPC_IPAM_CNI_TIMEOUT``, default ``20``; e.g. ``VPC_IPAM_CNI_TIMEOUT=30``."""
    portmap: bool
    """Chain the ``portmap`` plugin after vpc-cni (``hostPort`` support, with SNAT of
    hairpin traffic), as aws-node's conflist always does; it must be in the bin directory.

    ``VPC_IPAM_CNI_PORTMAP``, default ``true``; e.g. ``VPC_IPAM_CNI_PORTMAP=false``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting of the project, by concern."""

    warm_pool: WarmPoolSettings
    """Targets and limits of the warm pool."""
    datapath: DatapathSettings
    """SNAT, marks, MTUs and veth names."""
    aws: AwsSettings
    """EC2 tags, ENI management, custom networking."""
    gce: GceSettings
    """Alias range source and size."""
    kubernetes: KubernetesSettings
    """Node name and ENIConfig keys."""
    daemon: DaemonSettings
    """Provider, files, intervals, logging, metrics, introspection."""
    cni: CniSettings
    """Installing the CNI plugin and the conflist it runs from."""
    rate_limits: RateLimitSettings
    """Cloud API token buckets."""


SECTIONS: dict[str, type] = {
    "warm_pool": WarmPoolSettings,
    "datapath": DatapathSettings,
    "aws": AwsSettings,
    "gce": GceSettings,
    "kubernetes": KubernetesSettings,
    "daemon": DaemonSettings,
    "cni": CniSettings,
    "rate_limits": RateLimitSettings,
}
"""Attribute of :class:`Settings` -> the dataclass it holds, in display order."""
