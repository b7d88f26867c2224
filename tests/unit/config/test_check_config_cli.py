"""`vpc-ipamd --check-config` as a process: exit 0, 2 (bad config), 3 (node not ready)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


DEAD_ENDPOINT = "http://127.0.0.1:9"
"""Loopback's discard port: should a daemon get past its checks, it reaches no cloud and no
metadata service (never 169.254.169.254 from the host's namespace)."""


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    controlled = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": DEAD_ENDPOINT,
        "AWS_ENDPOINT_URL_EC2": DEAD_ENDPOINT,
        "GCE_METADATA_IP": "127.0.0.1:9",  # google-auth's own probe, should anything reach it
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "ipamd.main", *args],
        cwd=ROOT,
        env=controlled,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_with_valid_env_prints_settings_and_sources_and_exits_0():
    result = _run({"WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "10"}, "--check-config")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["VARIABLE", "VALUE", "SOURCE", "DESCRIPTION"]
    assert any(line.split()[:3] == ["WARM_IP_TARGET", "5", "env"] for line in lines)
    assert any(line.split()[:3] == ["WARM_ENI_TARGET", "1", "default"] for line in lines)
    assert "warnings: none" in lines
    assert result.stderr == ""


def test_check_config_prints_warnings_with_suggestions_to_stdout():
    result = _run({"WARM_IP_TARGT": "5"}, "--check-config")
    assert result.returncode == 0
    assert "WARM_IP_TARGT: not a vpc-ipam setting; ignored; did you mean WARM_IP_TARGET?" in (
        result.stdout
    )


def test_check_config_with_bad_env_prints_every_problem_to_stderr_and_exits_2():
    env = {"WARM_ENI_TARGET": "-1", "AWS_VPC_K8S_CNI_VETHPREFIX": "eth", "WARM_IP_TARGT": "1"}
    result = _run(env, "--check-config")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid configuration (2 problems):" in result.stderr
    assert "WARM_ENI_TARGET='-1': expected an integer >= 0" in result.stderr
    assert "AWS_VPC_K8S_CNI_VETHPREFIX='eth': reserved name" in result.stderr
    assert "did you mean WARM_IP_TARGET?" in result.stderr


def test_running_the_daemon_with_bad_env_exits_2_before_anything_else():
    result = _run({"AWS_VPC_K8S_CNI_RANDOMIZESNAT": "fully"})
    assert result.returncode == 2
    assert "AWS_VPC_K8S_CNI_RANDOMIZESNAT='fully': expected one of prng, hashrandom, none" in (
        result.stderr
    )


def test_a_bad_log_format_stops_the_daemon_with_exit_2_naming_the_accepted_values():
    result = _run({"VPC_IPAM_LOG_FORMAT": "xml"}, "--check-config")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "VPC_IPAM_LOG_FORMAT='xml': expected one of logfmt, json (any case)" in result.stderr


def test_an_unreachable_metadata_service_stops_the_daemon_with_exit_3_naming_it(tmp_path: Path):
    paths = {
        "VPC_IPAM_CHECKPOINT_PATH": str(tmp_path / "checkpoint.json"),
        "VPC_IPAM_SPOOL_DIR": str(tmp_path / "spool"),
        "VPC_IPAM_SOCKET_PATH": str(tmp_path / "ipamd.sock"),
    }
    for env in (
        {},  # AWS: IMDS at the dead endpoint
        {
            "VPC_IPAM_PROVIDER": "gce",
            "GCE_POD_RANGE_NAME": "pods",
            "WARM_PREFIX_TARGET": "1",
            "GCE_METADATA_HOST": "127.0.0.1:9",
        },
    ):
        result = _run({"VPC_IPAM_DATAPLANE": "none", **paths, **env})
        assert result.returncode == 3, result.stderr
        assert "cannot learn who this node is" in result.stderr
        assert "127.0.0.1:9" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
