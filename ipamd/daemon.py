"""vpc-ipamd assembled: settings -> checkpoint -> provider -> recovery -> node -> service -> loops.

Wiring only; each part lives in its own module. With the kernel dataplane the node is set
up before the socket opens (forwarding, rp_filter, rule 1024, the SNAT table, each
secondary interface's table), so the first pod wired can already reach the VPC and the
outside. The socket starts serving before the pool loop's first tick, so a restart on a
node that already holds addresses answers its first ADD from memory; the first
reconciliation with EC2 follows a few seconds later in the background. Once the socket
answers health, the CNI plugin and conflist are installed (when VPC_IPAM_INSTALL_CNI asks
for it): the node turns Ready only when pods can get addresses. SIGTERM or SIGINT stops
the server, then the loop, then writes a last checkpoint; the node's wiring stays, so pods
keep their network across a daemon restart.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from cni import client
from cni.errors import CniError
from cni.wire import HealthArgs
from config import Dataplane, LoadedConfig, Provider, Settings, WarmPoolMode
from ipamd.checkpoint import FileCheckpoint
from ipamd.dataplane import Dataplane as PodDataplane
from ipamd.dataplane import NoDataplane
from ipamd.dataplane.node import InterfaceNotFound, NodeDataplane
from ipamd.dataplane.pod import KernelDataplane
from ipamd.dataplane.snat import NftError
from ipamd.datastore import Datastore
from ipamd.doctoring import NodeDoctor
from ipamd.egress import Egress
from ipamd.hostview import scan_host
from ipamd.installer import install_from_settings
from ipamd.leaksweep import InterfaceSweep
from ipamd.nodenet import NodeInterfaces
from ipamd.observe import Extras, Observability
from ipamd.persist import Persister, kubernetes_record, limits_from
from ipamd.poolloop import LoopTiming, PoolHooks, PoolLoop
from ipamd.pooltargets import coalesce_seconds, pool_limits, pool_targets
from ipamd.reconcile import interface_policy, reconcile
from ipamd.recovery import RecoveryReport, read_checkpoint, recover
from ipamd.server import SocketServer
from ipamd.service import IpamService
from ipamd.views import DaemonView
from providers.base import Provider as CloudProvider
from providers.errors import ProviderError
from providers.models import NodeInfo
from providers.ratelimit import RateLimiterStats
from providers.retry import CallObserver

if TYPE_CHECKING:
    from ipamd.k8s.layer import KubernetesLayer

log = logging.getLogger("vpc-ipamd")

HEALTH_TIMEOUT = 5.0
FIRST_RECONCILE_AFTER = 5.0
"""Seconds after start before the first reconciliation with EC2 (not before first ADDs)."""
KUBE_FIRST_READ = 3.0
"""Seconds the pool's first tick waits for the Node (max pods, ENIConfig); ADDs never wait."""


class StartupFailed(Exception):
    """The node cannot be made ready (its primary interface is missing, nft refused the
    SNAT table, ...); the message says what to look at."""


def run(
    settings: Settings, stop: threading.Event | None = None, *, loaded: LoadedConfig | None = None
) -> int:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when run from the main thread);
    ``loaded`` (the settings with their sources) is what introspection shows."""
    stop = stop or threading.Event()
    observe = Observability(settings, loaded)
    checkpoint = FileCheckpoint(settings.daemon.checkpoint_path)
    state, status = read_checkpoint(checkpoint)
    kernel = settings.daemon.dataplane is Dataplane.KERNEL
    policy = interface_policy(
        custom_networking=settings.aws.custom_networking,
        manage_untagged=settings.aws.manage_untagged_eni,
    )
    host_pods = scan_host(settings.datapath.veth_prefix) if kernel else None
    try:
        provider = _provider(settings, state, observe.cloud_call)
        store, _ = recover(
            state=state,
            checkpoint=checkpoint,
            provider=provider,
            pods_allowed=policy,
            host_pods=host_pods,
            spool_dir=settings.daemon.spool_dir,
            cooldown=settings.warm_pool.ip_cooldown_period,
            report=RecoveryReport(checkpoint=status),
            wire_interfaces=kernel,
        )
        node = provider.discover()
    except ProviderError as error:
        raise StartupFailed(
            f"cannot learn who this node is from {settings.daemon.provider}: {error}"
        ) from error
    kube = _kubernetes(settings, store)
    remembered = kubernetes_record(state, node) if kube is not None else None
    max_pods = kube.restore(remembered) if kube is not None and remembered else None
    persist = Persister(
        checkpoint,
        store,
        node,
        extras=(lambda: {"kubernetes": kube.facts()}) if kube is not None else None,
    )
    persist()
    dataplane: PodDataplane = NoDataplane()
    interfaces: NodeInterfaces | None = None
    egress: Egress | None = None
    if kernel:
        dataplane, interfaces, egress = _kernel_node(settings, node, store, provider)

    def reconcile_node() -> None:
        learn = interfaces.learn if interfaces else None
        fixes: dict[str, int] = {}
        reconcile(store, provider, policy, learn=learn, fixed=fixes.update)
        observe.reconcile_fixed(fixes)
        if any(fixes.values()):
            persist()  # what EC2 corrected survives a crash
        if egress is not None:
            _follow_vpc(egress, provider)

    daemon = settings.daemon
    pool = PoolLoop(
        store,
        provider,
        persist,
        pool_limits(node.limits, settings, provider.block_prefixlen, max_pods=max_pods),
        pool_targets(settings),
        timing=LoopTiming(
            pool_interval=daemon.pool_interval,
            shrink_interval=daemon.shrink_interval,
            reconcile_interval=daemon.reconcile_interval,
            capacity_backoff=daemon.capacity_error_backoff,
            scale_down_window=daemon.scale_down_window,
            coalesce=coalesce_seconds(daemon.pool_interval),
        ),
        reconcile=reconcile_node,
        interfaces=interfaces,
        hooks=_pool_hooks(kube, lambda: service, provider, observe),
        adaptive=settings.warm_pool.mode is WarmPoolMode.ADAPTIVE,
    )
    pool.delay_first_reconcile(FIRST_RECONCILE_AFTER)
    service = IpamService(
        store,
        persist,
        pool,
        dataplane,
        add_wait=daemon.add_wait,
        health_extras=(lambda: {"kubernetes": kube.health()}) if kube else None,
    )
    service.reclaimed = observe.leaks_released
    server = SocketServer(daemon.socket_path, observe.requests.timed(service.handle))
    view = DaemonView(
        store,
        pool,
        node,
        settings.daemon.provider.value,
        loaded,
        observe.cloud,
        observe.requests,
        kubernetes=kube.health if kube is not None else None,
        kubernetes_node=settings.kubernetes.node_name,
    )
    doctor = NodeDoctor(
        store=store,
        pool=pool,
        provider=provider,
        checkpoint=checkpoint,
        persist=persist,
        service=service,
        reconcile=reconcile_node,
        dataplane=dataplane if isinstance(dataplane, KernelDataplane) else None,
        veth_prefix=settings.datapath.veth_prefix,
    )
    service.repairs = doctor.repair
    observe.attach(view, _extras(kube, doctor), _limiter_stats(provider))

    _stop_on_signals(stop)
    observe.start()  # before the socket: a daemon that answers health answers introspection
    server.start()
    log.info(
        "serving on %s for %s (%s): %d addresses, %d interfaces",
        daemon.socket_path,
        node.instance_id,
        node.instance_type,
        store.counts().total,
        len(store.interfaces()),
    )
    if kube is not None:
        kube.on_max_pods, kube.on_demand = pool.set_max_pods, pool.wake
        kube.start()
        if not kube.wait_for_node(KUBE_FIRST_READ):
            log.warning("node %s not read yet; the pool starts without it", kube.node_name)
    pool.start()
    _install_when_healthy(settings, daemon.socket_path)
    try:
        stop.wait()
    finally:
        log.info("stopping")
        observe.stop()
        server.stop()
        pool.stop()
        if kube is not None:
            kube.stop()
        persist()
    return 0


def _kubernetes(settings: Settings, store: Datastore) -> KubernetesLayer | None:
    """The Kubernetes layer when MY_NODE_NAME is set; its modules are imported only then."""
    if not settings.kubernetes.enabled:
        return None
    from ipamd.k8s.api import KubeApi  # noqa: PLC0415
    from ipamd.k8s.layer import KubernetesLayer  # noqa: PLC0415

    return KubernetesLayer(
        settings.kubernetes,
        KubeApi(settings.kubernetes),
        store,
        custom_networking=(
            settings.aws.custom_networking and settings.daemon.provider is Provider.AWS
        ),
    )


def _pool_hooks(
    kube: KubernetesLayer | None,
    service: Callable[[], IpamService],
    provider: CloudProvider,
    observe: Observability,
) -> PoolHooks:
    sweep = InterfaceSweep(
        provider, deleted=lambda count: observe.leaks_released("interfaces", count)
    )
    if kube is None:
        return PoolHooks(chores=sweep, decided=observe.pool_decided)

    def chores() -> None:
        kube.reclaim_leaks(lambda due: service().reclaim(due, source="kubernetes"))
        sweep()

    return PoolHooks(
        pending_pods=kube.pending_pods,
        placement=kube.placement,
        notify=kube.record,
        chores=chores,
        decided=observe.pool_decided,
    )


def _extras(kube: KubernetesLayer | None, doctor: NodeDoctor) -> Extras:
    kernel = doctor.wiring if doctor.kernel else None
    if kube is None:
        return Extras(wiring=kernel, doctor=doctor.report)
    return Extras(
        kubernetes_health=kube.health,
        pending=kube.is_pending,
        pending_named=kube.pending_namespaces,
        wiring=kernel,
        doctor=doctor.report,
    )


def _limiter_stats(provider: CloudProvider) -> Callable[[], RateLimiterStats] | None:
    policy = getattr(provider, "call_policy", None)
    return policy.limiter.stats if policy is not None else None


def _provider(
    settings: Settings, state: dict[str, Any] | None, observe: CallObserver
) -> CloudProvider:
    """The node's cloud. boto3 and google-cloud-compute are slow to import (the latter about
    a second): each only on its own path."""
    if settings.daemon.provider is Provider.GCE:
        from providers.gce.factory import gce_provider  # noqa: PLC0415

        return gce_provider(settings, observe=observe)
    from providers.aws.factory import aws_provider  # noqa: PLC0415

    return aws_provider(settings, limits=limits_from(state), observe=observe)


def _kernel_node(
    settings: Settings, node: NodeInfo, store: Datastore, provider: CloudProvider
) -> tuple[KernelDataplane, NodeInterfaces, Egress]:
    """Set the node up for pods: sysctls and rule 1024, the SNAT table, the secondary
    interfaces the node already holds; returns the pod dataplane, the interface keeper and
    the egress owner."""
    datapath = settings.datapath
    plane = NodeDataplane(eni_mtu=datapath.eni_mtu, connmark=datapath.connmark)
    try:
        primary_ifname = plane.setup_node(node.primary_mac)
    except InterfaceNotFound as missing:
        raise StartupFailed(
            f"the primary interface {node.primary_interface_id} is not in this network "
            f"namespace ({missing}); run vpc-ipamd in the node's namespace (hostNetwork)"
        ) from missing
    egress = Egress(
        datapath,
        primary_ip=node.primary_ip,
        primary_ifname=primary_ifname,
        vpc_cidrs=node.vpc_cidrs,
    )
    try:
        egress.update()
    except (NftError, ValueError) as error:
        raise StartupFailed(f"cannot load the SNAT table: {error}") from error
    interfaces = NodeInterfaces(plane, store)
    interfaces.learn(provider.local_interfaces())
    interfaces.sync()
    for waiting in interfaces.pending:
        log.info("%s is held but not set up yet; it serves pods once it is", waiting)
    pods = KernelDataplane(
        datapath.veth_prefix,
        datapath.pod_mtu,
        table_for=interfaces.table_for,
        secondary_destinations=egress.secondary_destinations,
    )
    return pods, interfaces, egress


def _follow_vpc(egress: Egress, provider: CloudProvider) -> None:
    """Reload the SNAT table if the VPC gained or lost a CIDR (pods already wired keep
    their rules 1536 until their next ADD; CHECK reports the difference)."""
    try:
        egress.update(provider.vpc_cidrs())
    except (ProviderError, NftError, ValueError) as error:
        log.error("cannot follow the VPC's CIDRs: %s; SNAT keeps the previous table", error)


def _install_when_healthy(settings: Settings, socket_path: Path) -> None:
    """Install the plugin and conflist after our own socket has answered health."""
    if not settings.daemon.install_cni:
        return
    try:
        client.call(
            str(socket_path),
            client.new_request("health", HealthArgs(), timeout=HEALTH_TIMEOUT),
            timeout=HEALTH_TIMEOUT,
        )
    except CniError as error:
        raise StartupFailed(f"the daemon does not answer its own health check: {error}") from error
    conflist = install_from_settings(settings)
    log.info("installed the CNI plugin and %s", conflist)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
