"""One real ``vpc-ipamd`` process, started the way a node starts it, stopped by its PID.

The sandbox and the tests run the daemon as its own process (``python -m ipamd.main``),
optionally inside a node's network namespace (``ip netns exec``, which execs, so the PID
is the daemon's), with an environment built here from endpoints and settings: nothing is
inherited from the caller but ``PATH`` and what is passed in. Its output goes to a log file
beside its socket, checkpoint and spool, all under one working directory.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cni import client
from cni.errors import CniError
from cni.wire import HealthArgs
from sandbox.daemonhttp import get, get_json

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing on the host's loopback listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DaemonFailed(RuntimeError):
    """The daemon exited, or did not answer health in time; the message ends with its log."""


@dataclass
class DaemonProcess:
    workdir: Path
    ec2_url: str = ""
    imds_url: str = ""
    region: str = ""
    """The AWS endpoints, when the node is on the EC2 emulator (else in ``settings``)."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """Daemon settings (env names), e.g. ``{"WARM_IP_TARGET": "5"}``."""
    netns: str | None = None
    base_env: Mapping[str, str] = field(default_factory=dict)
    """Passed through untouched (credentials, PATH)."""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    metrics_port: int = field(default_factory=free_port)
    """Its metrics listen on 127.0.0.1 of its namespace on this port (unique on the host too,
    for daemons in the host's namespace)."""

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
    def introspection(self) -> str:
        return f"unix:{self.workdir / 'introspect.sock'}"

    @property
    def metrics_address(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"

    def metrics(self) -> str:
        """The text exposition of its ``/metrics``."""
        return get(self.metrics_address, "/metrics", netns=self.netns).decode()

    def introspect(self, path: str) -> dict[str, Any]:
        """A JSON answer of its introspection endpoint, e.g. ``/v1/status``."""
        return get_json(self.introspection, path)

    @property
    def log(self) -> Path:
        return self.workdir / "ipamd.log"

    @property
    def pidfile(self) -> Path:
        """The PID, for a later run to stop this daemon if whoever started it crashed."""
        return self.workdir / "ipamd.pid"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONPATH": str(ROOT),
            **self.base_env,
            **self._aws(),
            "NO_PROXY": "127.0.0.1,localhost",
            "VPC_IPAM_SOCKET_PATH": self.socket,
            "VPC_IPAM_CHECKPOINT_PATH": str(self.checkpoint),
            "VPC_IPAM_SPOOL_DIR": str(self.spool),
            "VPC_IPAM_METRICS_BIND_ADDRESS": self.metrics_address,
            "INTROSPECTION_BIND_ADDRESS": self.introspection,
            **self.settings,
        }

    def _aws(self) -> dict[str, str]:
        wanted = {
            "AWS_ENDPOINT_URL_EC2": self.ec2_url,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds_url,
        }
        return {name: value for name, value in wanted.items() if value}

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        if self.running():
            raise RuntimeError("vpc-ipamd is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        inside = ["ip", "netns", "exec", self.netns] if self.netns else []
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*inside, sys.executable, "-m", "ipamd.main"],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.pidfile.write_text(f"{self.process.pid}\n")
        self.starts += 1
        if wait:
            self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise DaemonFailed(f"vpc-ipamd exited {self.process.returncode}:\n{self.tail()}")
            try:
                return self.health()
            except CniError:
                if time.monotonic() > end:
                    raise DaemonFailed(
                        f"vpc-ipamd did not answer within {timeout:.0f}s:\n{self.tail()}"
                    ) from None
                time.sleep(0.05)

    def health(self, timeout: float = 2.0) -> dict[str, Any]:
        return client.call(
            self.socket,
            client.new_request("health", HealthArgs(), timeout=timeout),
            timeout=timeout,
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (a clean stop: last checkpoint written); SIGKILL after timeout."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no last checkpoint."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
