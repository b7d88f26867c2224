"""vpc-ipamctl max-pods, from counts (run as a user would run it) and from an instance type
read with DescribeInstanceTypes from the EC2 emulator on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipamd import ctl
from sandbox.ec2 import Ec2Emulator
from tests.fake_aws import REGION


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ipamd.ctl", "max-pods", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_prints_max_pods_for_m5_large():
    done = run("--interfaces", "3", "--ipv4-per-interface", "10")
    assert done.returncode == 0
    assert done.stdout.strip() == "29"


def test_json_output_carries_the_inputs():
    done = run(
        "--interfaces",
        "3",
        "--ipv4-per-interface",
        "10",
        "--prefix-delegation",
        "--vcpus",
        "2",
        "--json",
    )
    assert done.returncode == 0
    out = json.loads(done.stdout)
    assert out["max_pods"] == 110
    assert out["inputs"]["prefix_delegation"] is True


def test_prefix_mode_without_vcpus_is_a_clear_error():
    done = run("--interfaces", "3", "--ipv4-per-interface", "10", "--prefix-delegation")
    assert done.returncode == 2
    assert "vcpus" in done.stderr
    assert done.stdout == ""


def max_pods(*argv: str) -> int:
    return ctl.main(["max-pods", *argv])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ((), 29),
        (("--max-eni", "2"), 20),  # 2 x 9 + 2
        (("--max-eni", "8"), 29),  # above the instance's own limit: no effect
        (("--custom-networking",), 20),  # the primary ENI serves no pod
        (("--prefix-delegation", "--vcpus", "2"), 110),
        (("--prefix-delegation", "--vcpus", "2", "--max-eni", "1"), 110),  # 9 x 16 + 2, capped
        (("--prefix-delegation", "--vcpus", "48", "--max-eni", "1"), 146),  # cap 250 above 30
    ],
)
def test_counts_with_the_options_of_the_daemon(extra, expected, capsys):
    assert max_pods("--interfaces", "3", "--ipv4-per-interface", "10", *extra) == 0
    assert capsys.readouterr().out == f"{expected}\n"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ((), "give --instance-type TYPE, or both --interfaces and --ipv4-per-interface"),
        (("--interfaces", "3"), "both --interfaces and --ipv4-per-interface"),
        (("--instance-type", "m5.large", "--interfaces", "3"), "not both"),
        (("--instance-type", "m5.large", "--vcpus", "2"), "not both"),
        (("--interfaces", "3", "--ipv4-per-interface", "10", "--region", REGION),
         "--region and --endpoint-url go with --instance-type"),
    ],
)  # fmt: skip
def test_inconsistent_options_are_one_line_and_exit_2(argv, said, capsys):
    assert max_pods(*argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("vpc-ipamctl max-pods: ") and said in err


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_a_count_below_one_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        max_pods("--interfaces", bad, "--ipv4-per-interface", "10")
    assert exit_.value.code == 2


# --- from an instance type, through the EC2 API --------------------------------------------


@pytest.fixture(scope="module")
def ec2() -> Iterator[Ec2Emulator]:
    """One emulator for the module: the lookups only read, and it takes a while to start."""
    with Ec2Emulator(region=REGION) as emulator:
        yield emulator


def from_ec2(emulator: Ec2Emulator, *argv: str) -> int:
    return max_pods("--endpoint-url", emulator.endpoint_url, *argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--instance-type", "m5.large"), 29),  # 3 ENIs x 10 IPv4
        (("--instance-type", "m5.large", "--prefix-delegation"), 110),  # 2 vCPUs
        (("--instance-type", "m5.large", "--custom-networking"), 20),
        (("--instance-type", "m5.large", "--max-eni", "2"), 20),
        (("--instance-type", "t2.medium"), 17),  # 3 ENIs x 6 IPv4
    ],
)
def test_the_limits_come_from_describe_instance_types(ec2, argv, expected, capsys):
    assert from_ec2(ec2, "--region", REGION, *argv) == 0
    assert capsys.readouterr().out == f"{expected}\n"


def test_json_shows_what_ec2_answered(ec2, capsys):
    assert from_ec2(ec2, "--instance-type", "m5.large", "--prefix-delegation", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "max_pods": 110,
        "inputs": {
            "instance_type": "m5.large",
            "interfaces": 3,
            "max_eni": None,
            "interfaces_counted": 3,
            "ipv4_per_interface": 10,
            "vcpus": 2,
            "prefix_delegation": True,
            "custom_networking": False,
        },
    }


def test_the_region_comes_from_the_sdk_when_not_given(ec2, capsys):
    # tests/fake_aws.py sets AWS_REGION and AWS_DEFAULT_REGION, as an operator's shell may
    assert from_ec2(ec2, "--instance-type", "m5.large") == 0
    assert capsys.readouterr().out == "29\n"


def fails_with(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("vpc-ipamctl max-pods: ")
    return err


def test_an_unknown_instance_type_exits_2(ec2, capsys):
    assert from_ec2(ec2, "--instance-type", "m9.huge") == 2
    err = fails_with(capsys)
    assert f"cannot read the limits of m9.huge from EC2 in {REGION}" in err
    assert "InvalidInstanceType" in err


def test_prefix_delegation_on_a_xen_instance_type_exits_2(ec2, capsys):
    assert from_ec2(ec2, "--instance-type", "t2.medium", "--prefix-delegation") == 2
    assert "t2.medium is not a Nitro instance type" in fails_with(capsys)


def test_without_credentials_exits_2(ec2, monkeypatch, capsys):
    # AWS_EC2_METADATA_DISABLED (tests/fake_aws.py) keeps botocore from asking a metadata address
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert from_ec2(ec2, "--instance-type", "m5.large") == 2
    assert "no AWS credentials found" in fails_with(capsys)


def test_without_a_region_exits_2_before_any_call(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert max_pods("--instance-type", "m5.large", "--endpoint-url", "http://127.0.0.1:9") == 2
    assert "no AWS region: give --region" in fails_with(capsys)


def test_an_unreachable_endpoint_exits_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{taken.getsockname()[1]}"
        argv = ("--instance-type", "m5.large", "--endpoint-url", url, "--timeout", "2")
        assert max_pods(*argv) == 2
    err = fails_with(capsys)
    assert "Could not connect to the endpoint URL" in err and url in err
