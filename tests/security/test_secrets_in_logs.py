"""Credentials never reach a log or the introspection endpoint.

The real daemon runs with DEBUG logging, dummy AWS credentials (access key, secret key,
session token) and a Kubernetes service account token it sends to the API emulator; ADD,
DEL, CHECK, errors and malformed requests go through the real binary and the raw socket.
None of the secret strings may appear in the daemon's log, the binary's log file, or any
introspection answer (/v1/settings above all).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.kube import KubeEmulator
from tests.cni.runtime import Runtime, network_conf
from tests.daemon.harness import Daemon, wait_until
from tests.unit.wire.sockets import exchange

ACCESS_KEY = "AKIAZ7FUZZSECRET4242"
SECRET_KEY = "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"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFUZZSESSIONTOKEN//////////wEaCXVzLXdlc3QtMiJHMEUCIQD" * 3
KUBE_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ1enoifQ"
    ".eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoiZnV6ei1zZWNyZXQifQ"
    ".c2lnbmF0dXJlLW9mLXRoZS1mdXp6LXNlY3JldC10b2tlbi1kby1ub3QtbG9n"
)
SECRETS = {
    "access key": ACCESS_KEY,
    "secret key": SECRET_KEY,
    "session token": SESSION_TOKEN,
    "kubernetes token": KUBE_TOKEN,
    # pieces long enough to be recognisable, in case something logs a fragment
    "secret key tail": SECRET_KEY[-20:],
    "kubernetes token signature": KUBE_TOKEN.rsplit(".", 1)[1],
}
NODE = "node-secrets"


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        emulator.add_node(NODE, pods_capacity=20)
        yield emulator


@pytest.fixture
def token_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vtok-", dir="/tmp") as place:
        path = Path(place) / "token"
        path.write_text(KUBE_TOKEN)
        path.chmod(0o600)
        yield path


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def test_no_credential_appears_in_logs_or_introspection(
    make_daemon: Callable[..., Daemon], kube: KubeEmulator, token_file: Path
):
    daemon = make_daemon(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_VPC_K8S_CNI_LOGLEVEL="DEBUG",
        MY_NODE_NAME=NODE,
        VPC_IPAM_KUBE_API_SERVER=kube.url,
        VPC_IPAM_KUBE_TOKEN_FILE=str(token_file),
    )
    daemon.start()
    wait_until("the Kubernetes layer to read the node", lambda: bool(daemon.health()["kubernetes"]))
    runtime = Runtime()
    cni_log = daemon.workdir / "cni.log"
    conf = network_conf("1.1.0", daemon.socket, daemon.spool, logFile=str(cni_log))

    added = runtime.pod("ADD", conf, "secret-pod")
    assert added.code == 0, added
    checked = runtime.pod("CHECK", {**conf, "prevResult": added.out}, "secret-pod")
    assert checked.code == 0, checked
    assert runtime.pod("CHECK", {**conf, "prevResult": added.out}, "unknown").code == 1
    assert runtime.pod("ADD", conf, "bad", ifname="x" * 20).code == 1
    assert runtime.pod("ADD", conf, "bad-netns", netns="").code == 1
    assert runtime.pod("DEL", {**conf, "prevResult": added.out}, "secret-pod").code == 0
    assert runtime.exec("GC", {**conf, "cni.dev/valid-attachments": []}).code == 0
    assert runtime.exec("STATUS", conf).code == 0
    for garbage in (b"not json\n", b'{"v":1,"op":"add","id":"x","deadline_ms":1,"args":{}}\n'):
        exchange(Path(daemon.socket), garbage)
    answers = {
        path: json.dumps(daemon.introspect(path))
        for path in ("/v1/settings", "/v1/status", "/v1/pods", "/v1/interfaces")
        if _answers(daemon, path)
    }
    assert "/v1/settings" in answers
    settings_text = answers["/v1/settings"]
    daemon.stop()

    log_text = daemon.log.read_text(errors="replace")
    assert "DEBUG" in log_text.upper() and len(log_text.splitlines()) > 10  # it did log
    assert leaks(log_text) == [], "credentials in the daemon's log"
    assert leaks(cni_log.read_text()) == [], "credentials in vpc-cni's log"
    for path, text in answers.items():
        assert leaks(text) == [], f"credentials in introspection {path}"
    assert "AWS_SECRET_ACCESS_KEY" not in settings_text or leaks(settings_text) == []


def _answers(daemon: Daemon, path: str) -> bool:
    try:
        daemon.introspect(path)
    except Exception:  # not every daemon serves every path; /v1/settings is required above
        return False
    return True
