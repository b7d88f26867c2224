"""Calling vpc-cni the way a container runtime does: exec the installed binary with the
``CNI_*`` variables in its environment and the configuration on stdin, read stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.daemon.harness import NETWORK

CNI_PATH = "/opt/cni/bin"


def binary() -> list[str]:
    """The console script pip installed beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "vpc-cni"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cni.main"]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def out(self) -> Any:
        """The JSON the binary printed, or None when it printed nothing."""
        return json.loads(self.stdout) if self.stdout.strip() else None


@dataclass
class Runtime:
    prefix: tuple[str, ...] = ()  # e.g. ("ip", "netns", "exec", "ns") to run it elsewhere

    def exec(self, command: str, conf: dict[str, Any] | bytes, **env: str) -> Outcome:
        """Run ``command``; ``env`` holds the CNI_* variables other than CNI_COMMAND (and
        CNI_PATH, which is always given) under their short names: containerid, netns, ..."""
        variables = {"CNI_COMMAND": command, "CNI_PATH": CNI_PATH}
        variables.update({f"CNI_{key.upper()}": value for key, value in env.items()})
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
        done = subprocess.run(
            [*self.prefix, *binary()],
            input=stdin,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables},
            capture_output=True,
            check=False,
            timeout=60,
        )
        return Outcome(done.returncode, done.stdout.decode(), done.stderr.decode())

    def pod(
        self, command: str, conf: dict[str, Any] | bytes, container_id: str, **env: str
    ) -> Outcome:
        """ADD/DEL/CHECK for one pod, with the variables kubelet's runtime passes."""
        defaults = {
            "containerid": container_id,
            "netns": f"/var/run/netns/cni-{container_id}",
            "ifname": "eth0",
            "args": (
                f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-{container_id};"
                f"K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID=uid-{container_id}"
            ),
        }
        return self.exec(command, conf, **{**defaults, **env})


def network_conf(version: str, socket: str, spool: str | Path, **keys: Any) -> dict[str, Any]:
    """The configuration libcni hands the plugin out of a conflist like deploy/'s."""
    return {
        "cniVersion": version,
        "name": NETWORK,
        "type": "vpc-cni",
        "socketPath": socket,
        "spoolDir": str(spool),
        "vethPrefix": "eni",
        "timeoutSeconds": 15,
        **keys,
    }
