"""The vpc-cni binary as a runtime calls it: env + stdin in, JSON on stdout, exit code."""

from __future__ import annotations

import json
import subprocess
import sys

CONF = {"cniVersion": "1.0.0", "name": "vpc", "type": "vpc-cni"}
ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "abc123",
    "CNI_NETNS": "/var/run/netns/pod",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}


def call(env: dict[str, str], stdin: object) -> tuple[int, dict[str, object], str]:
    data = stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()
    done = subprocess.run(
        [sys.executable, "-I", "-m", "cni.main"],
        input=data,
        env=env,
        capture_output=True,
        check=False,
    )
    return done.returncode, json.loads(done.stdout or b"null"), done.stderr.decode()


def test_version_echoes_the_requested_version():
    code, out, _ = call({"CNI_COMMAND": "VERSION"}, {"cniVersion": "0.4.0"})
    assert code == 0
    assert out == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


def test_missing_variables_are_one_code_4_error_on_stdout():
    code, out, _ = call({"CNI_COMMAND": "ADD"}, CONF)
    assert code == 1
    assert out["code"] == 4
    for name in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"):
        assert name in str(out["msg"])


def test_bad_config_is_code_7_naming_the_key():
    code, out, _ = call(ADD_ENV, {"cniVersion": "1.0.0", "type": "vpc-cni"})
    assert code == 1
    assert out["code"] == 7
    assert "name" in str(out["msg"]) + str(out.get("details", ""))


def test_add_says_plainly_that_the_daemon_client_is_not_built():
    code, out, _ = call(ADD_ENV, CONF)
    assert code == 1
    assert out["code"] == 999
    assert "not built yet" in str(out["details"])


def test_status_reports_plugin_not_available():
    conf = dict(CONF, cniVersion="1.1.0")
    code, out, _ = call({"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}, conf)
    assert code == 1
    assert out["code"] == 50
    assert out["cniVersion"] == "1.1.0"
