"""The vpc-cni binary as a runtime calls it, with no daemon behind it: env + stdin in, JSON on
stdout (only), the exit code, and the log file. (With the real daemon: tests/cni.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cni import main as cni_main
from cni.spool import read_releases

CONF = {"cniVersion": "1.0.0", "name": "vpc", "type": "vpc-cni"}
ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "abc123",
    "CNI_NETNS": "/var/run/netns/pod",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}


@pytest.fixture
def work() -> Iterator[Path]:
    """A short directory: no daemon listens at work/ipamd.sock."""
    path = Path(tempfile.mkdtemp(prefix="vcm-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(env: dict[str, str], stdin: object) -> tuple[int, object, str]:
    data = stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()
    done = subprocess.run(
        [sys.executable, "-I", "-m", "cni.main"],
        input=data,
        env=env,
        capture_output=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    return done.returncode, json.loads(done.stdout or b"null"), done.stderr.decode()


def call(env: dict[str, str], stdin: object) -> tuple[int, dict[str, object], str]:
    code, out, err = run(env, stdin)
    assert isinstance(out, dict), out
    return code, out, err


def conf_in(work: Path, **keys: object) -> dict[str, object]:
    return {**CONF, "socketPath": str(work / "ipamd.sock"), "spoolDir": str(work / "spool"), **keys}


def test_version_echoes_the_requested_version():
    code, out, err = call({"CNI_COMMAND": "VERSION"}, {"cniVersion": "0.4.0"})
    assert code == 0
    assert out == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }
    assert err == ""


def test_missing_variables_are_one_code_4_error_on_stdout():
    code, out, err = call({"CNI_COMMAND": "ADD"}, CONF)
    assert code == 1
    assert out["code"] == 4
    for name in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"):
        assert name in str(out["msg"])
    assert err == ""


def test_bad_config_is_code_7_naming_the_key():
    code, out, _ = call(ADD_ENV, {"cniVersion": "1.0.0", "type": "vpc-cni"})
    assert code == 1
    assert out["code"] == 7
    assert "name" in str(out["msg"])


def test_a_bad_plugin_key_is_code_7_naming_it(work):
    code, out, _ = call(ADD_ENV, conf_in(work, timeoutSeconds="soon"))
    assert code == 1
    assert out == {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "invalid vpc-cni configuration: bad keys [timeoutSeconds]",
        "details": "timeoutSeconds: must be a number of seconds, got string",
    }


def test_undecodable_config_is_code_6():
    code, out, _ = call(ADD_ENV, b'{"cniVersion": "1.0.0",')
    assert code == 1
    assert out["code"] == 6


def test_the_environment_is_judged_before_the_configuration():
    code, out, _ = call({"CNI_COMMAND": "ADD"}, b"not json")
    assert code == 1
    assert out["code"] == 4


def test_add_without_a_daemon_is_try_again_later_naming_the_socket(work):
    code, out, err = call(ADD_ENV, conf_in(work))
    assert code == 1
    assert out["code"] == 11
    assert out["msg"] == f"vpc-ipamd is not reachable at {work / 'ipamd.sock'}"
    assert out["cniVersion"] == "1.0.0"
    assert err == ""


def test_status_without_a_daemon_is_plugin_not_available_naming_the_socket(work):
    conf = conf_in(work, cniVersion="1.1.0")
    code, out, _ = call({"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}, conf)
    assert code == 1
    assert out["code"] == 50
    assert out["msg"] == f"vpc-ipamd is not reachable at {work / 'ipamd.sock'}"
    assert out["cniVersion"] == "1.1.0"


def test_check_without_prev_result_is_code_7(work):
    code, out, _ = call({**ADD_ENV, "CNI_COMMAND": "CHECK"}, conf_in(work))
    assert code == 1
    assert out["code"] == 7
    assert "prevResult" in str(out["msg"])


def test_del_without_a_daemon_succeeds_silently_and_spools_the_release(work):
    env = {**ADD_ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}
    code, out, err = run(env, conf_in(work))

    assert (code, out, err) == (0, None, "")
    [(_, entry)] = read_releases(work / "spool")
    assert (entry.network, entry.container_id, entry.ifname) == ("vpc", "abc123", "eth0")
    assert entry.addresses == ()


def test_each_invocation_appends_one_line_to_the_log_file(work):
    log = work / "logs" / "cni.log"  # its directory is created
    conf = conf_in(work, logFile=str(log))
    call(ADD_ENV, conf)
    run({**ADD_ENV, "CNI_COMMAND": "DEL"}, conf)
    call({"CNI_COMMAND": "ADD"}, conf)  # invalid env: still logged

    lines = log.read_text().splitlines()
    assert len(lines) == 3
    assert " ADD container=abc123 ifname=eth0 " in lines[0]
    assert "error 11: vpc-ipamd is not reachable at" in lines[0]
    assert " DEL container=abc123 ifname=eth0 " in lines[1]
    assert "ms ok: vpc-ipamd unreachable" in lines[1]
    assert "error 4: required env variables" in lines[2]


def test_a_log_file_that_cannot_be_written_is_said_once_on_stderr(work):
    (work / "file").write_text("")
    conf = conf_in(work, logFile=str(work / "file" / "cni.log"))
    _, out, err = call(ADD_ENV, conf)

    assert out["code"] == 11
    assert err.startswith(f"vpc-cni: cannot write log file {work / 'file' / 'cni.log'}")
    assert err.count("\n") == 1


def test_without_a_log_file_nothing_is_written_anywhere(work):
    call(ADD_ENV, conf_in(work))
    assert sorted(os.listdir(work)) == []


def test_an_unexpected_failure_is_still_a_cni_error_object(monkeypatch):
    def broken(environ: object, stdin: bytes) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(cni_main, "run", broken)
    code, out, outcome = cni_main.invoke({}, json.dumps(CONF).encode())

    assert code == 1
    assert out == {
        "cniVersion": "1.0.0",
        "code": 999,
        "msg": "vpc-cni failed unexpectedly",
        "details": "RuntimeError: boom",
    }
    assert outcome.startswith("error 999")
