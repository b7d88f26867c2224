"""vpc-ipamd assembled: settings -> checkpoint -> provider -> recovery -> service -> loops.

Wiring only; each part lives in its own module. The socket starts serving before the pool
loop's first tick, so a restart on a node that already holds addresses answers its first
ADD from memory; the first reconciliation with EC2 follows a few seconds later in the
background. SIGTERM or SIGINT stops the server, then the loop, then writes a last
checkpoint.
"""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from config import Dataplane, Provider, Settings
from ipamd.checkpoint import FileCheckpoint
from ipamd.dataplane import NoDataplane
from ipamd.hostview import scan_host
from ipamd.persist import Persister, limits_from
from ipamd.poolloop import LoopTiming, PoolLoop
from ipamd.pooltargets import pool_limits, pool_targets
from ipamd.reconcile import interface_policy, reconcile
from ipamd.recovery import RecoveryReport, read_checkpoint, recover
from ipamd.server import SocketServer
from ipamd.service import IpamService

log = logging.getLogger("vpc-ipamd")

FIRST_RECONCILE_AFTER = 5.0
"""Seconds after start before the first reconciliation with EC2 (not before first ADDs)."""


class NotBuilt(Exception):
    """A setting asks for a part of the daemon that does not exist yet."""


LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
LOG_ROTATE_BYTES = 10 * 1024 * 1024
LOG_KEEP = 5


def configure_logging(settings: Settings) -> None:
    destination = settings.daemon.log_file
    handler: logging.Handler
    if destination in {"stderr", "stdout"}:
        handler = logging.StreamHandler(sys.stderr if destination == "stderr" else sys.stdout)
    else:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            destination, maxBytes=LOG_ROTATE_BYTES, backupCount=LOG_KEEP
        )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(
        level=settings.daemon.log_level.python_level, handlers=[handler], force=True
    )


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when run from the main thread)."""
    stop = stop or threading.Event()
    if settings.daemon.dataplane is Dataplane.KERNEL:
        raise NotBuilt(
            "VPC_IPAM_DATAPLANE=kernel: the kernel dataplane is not built yet; "
            "set VPC_IPAM_DATAPLANE=none to run as an IPAM-only daemon"
        )
    if settings.daemon.provider is not Provider.AWS:
        raise NotBuilt(f"VPC_IPAM_PROVIDER={settings.daemon.provider}: not built yet")
    # boto3 (and later the GCE SDK) are slow to import: only on their own path.
    from providers.aws.factory import aws_provider  # noqa: PLC0415

    checkpoint = FileCheckpoint(settings.daemon.checkpoint_path)
    state, status = read_checkpoint(checkpoint)
    provider = aws_provider(settings, limits=limits_from(state))
    dataplane = NoDataplane()
    policy = interface_policy(
        custom_networking=settings.aws.custom_networking,
        manage_untagged=settings.aws.manage_untagged_eni,
    )
    host_pods = scan_host(settings.datapath.veth_prefix) if dataplane.wires_pods else None
    store, _ = recover(
        state=state,
        checkpoint=checkpoint,
        provider=provider,
        pods_allowed=policy,
        host_pods=host_pods,
        spool_dir=settings.daemon.spool_dir,
        cooldown=settings.warm_pool.ip_cooldown_period,
        report=RecoveryReport(checkpoint=status),
    )
    node = provider.discover()
    persist = Persister(checkpoint, store, node)
    persist()

    daemon = settings.daemon
    pool = PoolLoop(
        store,
        provider,
        persist,
        pool_limits(node.limits, settings, provider.block_prefixlen),
        pool_targets(settings),
        timing=LoopTiming(
            pool_interval=daemon.pool_interval,
            shrink_interval=daemon.shrink_interval,
            reconcile_interval=daemon.reconcile_interval,
            capacity_backoff=daemon.capacity_error_backoff,
        ),
        reconcile=lambda: reconcile(store, provider, policy),
    )
    pool.delay_first_reconcile(FIRST_RECONCILE_AFTER)
    service = IpamService(store, persist, pool, dataplane, add_wait=daemon.add_wait)
    server = SocketServer(daemon.socket_path, service.handle)

    _stop_on_signals(stop)
    server.start()
    log.info(
        "serving on %s for %s (%s): %d addresses, %d interfaces",
        daemon.socket_path,
        node.instance_id,
        node.instance_type,
        store.counts().total,
        len(store.interfaces()),
    )
    pool.start()
    try:
        stop.wait()
    finally:
        log.info("stopping")
        server.stop()
        pool.stop()
        persist()
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
