"""What the daemon benchmarks share (startup's restart, daemon_rss, rpc): the real vpc-ipamd,
IPAM-only, against the EC2 + IMDS emulator on loopback, driven over its socket.

The same arrangement as the daemon tests (tests/daemon/harness.py), without depending on the
test tree: the emulator runs in this process on the real clock, the daemon is its own
process (``python -m ipamd.main``) with ``VPC_IPAM_DATAPLANE=none`` (it touches no network
configuration of the host), the harness's short loop intervals and otherwise its defaults.
The SDKs on both sides can reach only the emulator: fake static credentials, metadata lookups
off in this process, the daemon's IMDS endpoint pinned to the emulator's. Everything the
daemon writes lives under one short /tmp directory, removed on exit; it is stopped by its PID.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cni import client
from cni.wire import PodArgs
from sandbox.clock import SystemClock
from sandbox.daemonproc import DaemonProcess
from sandbox.ec2 import Ec2Emulator

REGION = "us-east-1"
ZONE = "us-east-1a"
NETWORK = "vpc-ipam"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/vpc-ipam-bench/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/vpc-ipam-bench/aws-credentials",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "NO_PROXY": "127.0.0.1,localhost",
}
FAST = {  # the harness's loop intervals: the pool fills in seconds, not minutes
    "VPC_IPAM_POOL_INTERVAL": "0.2",
    "VPC_IPAM_SHRINK_INTERVAL": "0.5",
    "VPC_IPAM_RECONCILE_INTERVAL": "2",
    "VPC_IPAM_MIN_INTERFACE_LIFETIME": "1",
    "IP_COOLDOWN_PERIOD": "1",
    "VPC_IPAM_ADD_WAIT": "5",
}


class BenchDaemon(DaemonProcess):
    """A ``DaemonProcess`` with what a runtime sends (ADD, DEL) and its memory figures."""

    def call(self, op: str, args: Any, timeout: float = 10.0) -> dict[str, object]:
        return client.call(
            self.socket, client.new_request(op, args, timeout=timeout), timeout=timeout
        )

    def add(self, container_id: str, timeout: float = 10.0, **extra: str) -> str:
        result = self.call("add", pod_args(container_id, **extra), timeout)
        ips: Any = result["ips"]
        return str(ips[0]["address"]).split("/")[0]

    def delete(self, container_id: str, address: str) -> None:
        prev = {"cniVersion": "1.1.0", "ips": [{"address": f"{address}/32"}]}
        self.call("del", pod_args(container_id, prev_result=prev))

    def memory_mib(self) -> dict[str, float]:
        """VmRSS (resident now) and VmHWM (the peak) of the daemon's process, in MiB."""
        assert self.pid is not None, "start() first"
        found: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024  # kB
        return found

    def settled(self, quiet: float = 1.0, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until its address counts have not moved for ``quiet`` seconds (the pool loop
        is done growing or shrinking); returns the last health answer."""
        end = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            health = self.health()
            now = time.monotonic()
            counts = (health["addresses"], health["interfaces"])
            if counts != last:
                last, since = counts, now
            elif now - since >= quiet and health["addresses"]["available"] > 0:
                return health
            if now > end:
                raise TimeoutError(f"vpc-ipamd's pool did not settle within {timeout:.0f}s")
            time.sleep(0.05)


def pod_args(container_id: str, **extra: Any) -> PodArgs:
    fields: dict[str, Any] = {
        "network": NETWORK,
        "container_id": container_id,
        "ifname": "eth0",
        "netns": "/proc/1/ns/net",
        "pod_namespace": "default",
        "pod_name": f"pod-{container_id}",
        "pod_uid": f"uid-{container_id}",
    }
    return PodArgs(**{**fields, **extra})


@contextmanager
def emulated_node(
    instance_type: str = "m5.large",
    subnet: str = "10.0.1.0/24",
    *,
    fast: bool = True,
    settings: Mapping[str, str] | None = None,
) -> Iterator[tuple[BenchDaemon, Ec2Emulator]]:
    """One instance in a fresh VPC of a fresh emulator, and its daemon (not started yet).
    ``settings`` (env names) go on top of IPAM-only and, if ``fast``, the short intervals."""
    # the emulator's own clients carry fake credentials; the daemon gets FAKE_AWS explicitly
    with Ec2Emulator(region=REGION, clock=SystemClock()) as ec2:
        vpc = ec2.create_vpc("10.0.0.0/16")
        subnet_id = ec2.create_subnet(vpc, subnet, ZONE)
        group = ec2.create_security_group(vpc, "node")
        instance = ec2.launch_instance(instance_type, subnet_id, (group,))
        workdir = Path(tempfile.mkdtemp(prefix="ipb-", dir="/tmp"))  # short: sun_path
        daemon = BenchDaemon(
            workdir=workdir,
            ec2_url=ec2.endpoint_url,
            imds_url=ec2.imds_url(instance),
            region=REGION,
            # IPAM-only whatever the caller passes: it must not touch the host's network
            settings={**(FAST if fast else {}), **(settings or {}), "VPC_IPAM_DATAPLANE": "none"},
            base_env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **FAKE_AWS},
        )
        try:
            yield daemon, ec2
        finally:
            daemon.stop(timeout=10)  # SIGTERM to our own PID; SIGKILL if it hangs
            shutil.rmtree(workdir, ignore_errors=True)


def poll(
    what: str,
    attempt: Callable[[], Any],
    *,
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    every: float = 0.002,
) -> Any:
    """``attempt()``'s first answer that does not raise; its last error after ``timeout``, at
    once when ``alive()`` turns false (the process polled exited)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except Exception as error:
            if not alive():
                raise RuntimeError(f"{what}: the process exited") from error
            if time.monotonic() > end:
                raise TimeoutError(f"{what}: no answer within {timeout:.0f}s") from error
        time.sleep(every)
