"""vpc-ipamctl health against a tiny daemon speaking the wire protocol, and against none."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cni.errors import PLUGIN_NOT_AVAILABLE, CniError
from cni.messages import HealthArgs
from config.table import BY_NAME
from ipamd import ctl

HEALTHY: dict[str, object] = {
    "ok": True,
    "addresses": {"total": 9, "assigned": 3, "cooling": 0, "available": 6},
    "interfaces": 1,
    "blocked": "",
    "pool": [],
}


def health(sock_path: Path, *extra: str) -> int:
    return ctl.main(["health", "--socket", str(sock_path), *extra])


def test_exit_0_when_the_daemon_answers_ok(sock_path, serve, capsys):
    daemon = serve(lambda request: HEALTHY)
    assert health(sock_path) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")
    [request] = daemon.requests
    assert request.op == "health"
    assert isinstance(request.args, HealthArgs)
    assert 0 < request.deadline_ms <= int(ctl.HEALTH_TIMEOUT * 1000)


def test_json_prints_the_daemons_health(sock_path, serve, capsys):
    serve(lambda request: HEALTHY)
    assert health(sock_path, "--json") == 0
    assert json.loads(capsys.readouterr().out) == HEALTHY


def test_exit_1_when_the_daemon_answers_not_ok(sock_path, serve, capsys):
    serve(lambda request: {**HEALTHY, "ok": False, "blocked": "subnet has no free addresses"})
    assert health(sock_path, "--json") == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is False
    assert err.count("\n") == 1
    assert "not ok" in err and "subnet has no free addresses" in err


def test_exit_1_when_the_daemon_answers_an_error(sock_path, serve, capsys):
    serve(lambda request: CniError(PLUGIN_NOT_AVAILABLE, "vpc-ipamd is starting", "recovery"))
    assert health(sock_path) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "vpc-ipamd is starting" in err


def test_exit_1_when_the_daemon_closes_without_answering(sock_path, serve, capsys):
    serve(lambda request: None)
    assert health(sock_path) == 1
    assert "without replying" in capsys.readouterr().err


def test_exit_1_when_the_daemon_does_not_answer_in_time(sock_path, capsys):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(sock_path))
        listener.listen(1)  # accepted by the kernel, never read
        started = time.monotonic()
        assert health(sock_path, "--timeout", "0.2") == 1
        assert time.monotonic() - started < 3
    assert "did not answer within 0.2 s" in capsys.readouterr().err


def test_exit_1_without_a_socket_run_as_a_user_would(sock_path):
    done = subprocess.run(
        [sys.executable, "-m", "ipamd.ctl", "health", "--socket", str(sock_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "not reachable" in done.stderr and str(sock_path) in done.stderr


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "inf"])
def test_a_bad_timeout_is_a_usage_error(sock_path, bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        health(sock_path, "--timeout", bad)
    assert exit_.value.code == 2
    assert "--timeout" in capsys.readouterr().err


def test_the_default_socket_is_the_daemons_default():
    args = ctl.build_parser().parse_args(["health"])
    assert args.socket == BY_NAME["VPC_IPAM_SOCKET_PATH"].render_default()
    assert args.timeout == ctl.HEALTH_TIMEOUT
