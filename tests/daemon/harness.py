"""The real vpc-ipamd process against the EC2 + IMDS emulator, driven over its socket.

A ``Node`` is one m5.large in a VPC of the emulator (which runs in the test process, on
loopback, on the real clock); ``Daemon`` starts ``python -m ipamd.main`` with the node's
endpoints and short loop intervals, waits until it answers ``health``, and stops it by
SIGTERM or SIGKILL. Everything it creates lives under one short /tmp directory.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cni import client
from cni.wire import PodArgs
from sandbox.daemonproc import DaemonProcess
from sandbox.ec2 import Ec2Emulator
from tests.fake_aws import REGION, ZONE

ROOT = Path(__file__).resolve().parents[2]
NETWORK = "vpc-ipam"
FAST = {
    "VPC_IPAM_POOL_INTERVAL": "0.2",
    "VPC_IPAM_SHRINK_INTERVAL": "0.5",
    "VPC_IPAM_RECONCILE_INTERVAL": "2",
    "VPC_IPAM_MIN_INTERFACE_LIFETIME": "1",
    "VPC_IPAM_SCALE_DOWN_WINDOW": "1",
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


class Daemon(DaemonProcess):
    """The harness's daemon on ``node``: IPAM-only unless ``extra_env`` says otherwise, short
    loop intervals, DEBUG logs, everything under one short /tmp directory."""

    def __init__(self, node: Node, extra_env: dict[str, str] | None = None) -> None:
        self.node = node
        self.extra_env = dict(extra_env or {})
        passed = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "MOTO_"))}
        super().__init__(
            workdir=Path(tempfile.mkdtemp(prefix="ipd-", dir="/tmp")),
            ec2_url=node.emulator.endpoint_url,
            imds_url=node.emulator.imds_url(node.instance_id),
            region=REGION,
            base_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **passed},
        )

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "VPC_IPAM_DATAPLANE": "none",
            "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
            **FAST,
            **self.extra_env,
        }

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
    fields: dict[str, Any] = {
        "network": NETWORK,
        "container_id": container_id,
        "ifname": "eth0",
        "pod_namespace": "default",
        "pod_name": f"pod-{container_id}",
        "pod_uid": f"uid-{container_id}",
    }
    return PodArgs(**{**fields, **extra})
