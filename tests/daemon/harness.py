"""The real vpc-ipamd process against the EC2 + IMDS emulator, driven over its socket.

A ``Node`` is one m5.large in a VPC of the emulator (which runs in the test process, on
loopback, on the real clock); ``Daemon`` starts ``python -m ipamd.main`` with the node's
endpoints and short loop intervals, waits until it answers ``health``, and stops it by
SIGTERM or SIGKILL. Everything it creates lives under one short /tmp directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cni import client
from cni.errors import CniError
from cni.wire import HealthArgs, PodArgs
from sandbox.ec2 import Ec2Emulator
from tests.fake_aws import REGION, ZONE

ROOT = Path(__file__).resolve().parents[2]
NETWORK = "vpc-ipam"
FAST = {
    "VPC_IPAM_POOL_INTERVAL": "0.2",
    "VPC_IPAM_SHRINK_INTERVAL": "0.5",
    "VPC_IPAM_RECONCILE_INTERVAL": "2",
    "VPC_IPAM_MIN_INTERFACE_LIFETIME": "1",
    "IP_COOLDOWN_PERIOD": "1",
    "VPC_IPAM_ADD_WAIT": "5",
}


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Node:
    emulator: Ec2Emulator
    instance_id: str
    subnet_id: str

    @classmethod
    def launch(cls, emulator: Ec2Emulator, subnet: str = "10.0.1.0/24") -> Node:
        vpc = emulator.create_vpc("10.0.0.0/16")
        subnet_id = emulator.create_subnet(vpc, subnet, ZONE)
        group = emulator.create_security_group(vpc, "node")
        instance = emulator.launch_instance("m5.large", subnet_id, (group,))
        return cls(emulator, instance, subnet_id)

    def interfaces(self) -> list[dict[str, Any]]:
        ec2 = self.emulator.client()
        found: list[dict[str, Any]] = ec2.describe_network_interfaces(  # type: ignore[assignment]
            Filters=[{"Name": "attachment.instance-id", "Values": [self.instance_id]}]
        )["NetworkInterfaces"]
        return sorted(found, key=lambda e: e["Attachment"]["DeviceIndex"])

    def secondary_addresses(self) -> int:
        return sum(
            len([a for a in e["PrivateIpAddresses"] if not a.get("Primary")])
            for e in self.interfaces()
        )


@dataclass
class Daemon:
    node: Node
    extra_env: dict[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ipd-", dir="/tmp")))
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    netns: str | None = None
    """Run inside this network namespace (``ip netns exec``); the endpoints must then be
    reachable from there (see sandbox.portal)."""
    ec2_url: str | None = None
    imds_url: str | None = None

    @property
    def socket(self) -> str:
        return str(self.workdir / "ipamd.sock")

    @property
    def checkpoint(self) -> Path:
        return self.workdir / "state" / "checkpoint.json"

    @property
    def spool(self) -> Path:
        return self.workdir / "spool"

    @property
    def log(self) -> Path:
        return self.workdir / "ipamd.log"

    def env(self) -> dict[str, str]:
        passed = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "MOTO_"))}
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            **passed,
            "AWS_ENDPOINT_URL_EC2": self.ec2_url or self.node.emulator.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": (
                self.imds_url or self.node.emulator.imds_url(self.node.instance_id)
            ),
            "NO_PROXY": "127.0.0.1,localhost",
            "VPC_IPAM_DATAPLANE": "none",
            "VPC_IPAM_SOCKET_PATH": self.socket,
            "VPC_IPAM_CHECKPOINT_PATH": str(self.checkpoint),
            "VPC_IPAM_SPOOL_DIR": str(self.spool),
            "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
            **FAST,
            **self.extra_env,
        }

    def start(self, *, wait: bool = True) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        log = self.log.open("ab")
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.process = subprocess.Popen(
            [*inside, sys.executable, "-m", "ipamd.main"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        log.close()
        self.starts += 1
        if wait:
            wait_until("vpc-ipamd to answer health", self._answers, timeout=60)

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"vpc-ipamd exited {self.process.returncode}:\n{self.tail()}")
        try:
            self.health()
        except CniError:
            return False
        return True

    def stop(self) -> int:
        """SIGTERM and wait: a clean stop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no last checkpoint."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def close(self) -> None:
        self.kill()
        for path in sorted(self.workdir.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() else path.rmdir()
        self.workdir.rmdir()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- what a runtime sends ------------------------------------------------------------
    def call(self, op: str, args: Any, timeout: float = 10.0) -> dict[str, object]:
        return client.call(
            self.socket, client.new_request(op, args, timeout=timeout), timeout=timeout
        )

    def health(self) -> dict[str, Any]:
        return self.call("health", HealthArgs(), timeout=2.0)

    def add(self, container_id: str, timeout: float = 10.0) -> str:
        result = self.call("add", pod_args(container_id, netns="/proc/1/ns/net"), timeout)
        ips: Any = result["ips"]
        return str(ips[0]["address"]).split("/")[0]

    def delete(self, container_id: str, address: str | None = None) -> None:
        prev = {"cniVersion": "1.1.0", "ips": [{"address": f"{address}/32"}]} if address else None
        self.call("del", pod_args(container_id, prev_result=prev))

    def checkpoint_allocations(self) -> dict[str, str]:
        """container id -> address, as the last checkpoint holds them."""
        state = json.loads(self.checkpoint.read_text())["state"]["datastore"]
        return {a["key"]["container_id"]: a["address"] for a in state["allocations"]}


def pod_args(container_id: str, **extra: Any) -> PodArgs:
    return PodArgs(
        network=NETWORK,
        container_id=container_id,
        ifname="eth0",
        pod_namespace="default",
        pod_name=f"pod-{container_id}",
        pod_uid=f"uid-{container_id}",
        **extra,
    )
