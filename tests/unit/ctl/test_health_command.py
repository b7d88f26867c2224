"""vpc-ipamctl health against a tiny daemon speaking the wire protocol, and against none."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from cni.errors import PLUGIN_NOT_AVAILABLE, CniError
from cni.framing import read_message
from cni.messages import HealthArgs, Request
from cni.wire import decode_request, encode_reply
from config.table import BY_NAME
from ipamd import ctl

Answer = Callable[[Request], Mapping[str, object] | CniError | None]
"""What the fake daemon sends for a request; None sends nothing and closes."""

HEALTHY: dict[str, object] = {
    "ok": True,
    "addresses": {"total": 9, "assigned": 3, "cooling": 0, "available": 6},
    "interfaces": 1,
    "blocked": "",
    "pool": [],
}


class FakeDaemon:
    """One thread accepting connections on a unix socket; one request, one reply each."""

    def __init__(self, path: Path, answer: Answer) -> None:
        self.path = path
        self.answer = answer
        self.requests: list[Request] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                request = decode_request(read_message(conn, deadline=time.monotonic() + 5))
                self.requests.append(request)
                outcome = self.answer(request)
                if outcome is not None:
                    conn.sendall(encode_reply(outcome))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def sock_path() -> Iterator[Path]:
    # unix socket paths must stay under 108 bytes, which pytest's tmp_path often is not
    directory = Path(tempfile.mkdtemp(prefix="vc-", dir="/tmp"))
    try:
        yield directory / "ipamd.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def serve(sock_path: Path) -> Iterator[Callable[[Answer], FakeDaemon]]:
    daemons: list[FakeDaemon] = []

    def start(answer: Answer) -> FakeDaemon:
        daemons.append(FakeDaemon(sock_path, answer))
        return daemons[-1]

    yield start
    for daemon in daemons:
        daemon.close()


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
