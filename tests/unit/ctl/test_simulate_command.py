"""vpc-ipamctl simulate: the table, --json, and exit 2 with one clear line for bad input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ipamd import ctl
from ipamd.ctl.commands import simulate as command


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = ctl.main(["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_prints_both_policies_and_the_ratio(capsys):
    code, out, err = run(capsys, "--compare", "--generator", "rollout", "--hours", "1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert "rollout (seed 1):" in lines[0] and "m5.large" in lines[0]
    header = next(line for line in lines if line.startswith("POLICY"))
    assert header.split() == [
        "POLICY",
        "PODS",
        "WAITED",
        "P50",
        "P99",
        "MAX",
        "IDLE",
        "MUTATING",
        "DESCRIBE",
        "THROTTLED",
        "MUT/1K",
    ]
    assert any(line.startswith("ours ") for line in lines)
    assert any(line.startswith("anchor ") for line in lines)
    assert "mutating calls per 1k events, ours/anchor:" in out
    assert "WARM_ENI_TARGET=1" in out


def test_one_policy_prints_one_row(capsys):
    code, out, _ = run(capsys, "--policy", "anchor", "--hours", "0.5")
    assert code == 0
    assert any(line.startswith("anchor ") for line in out.splitlines())
    assert not any(line.startswith("ours ") for line in out.splitlines())


def test_json_carries_the_trace_the_settings_and_each_result(capsys):
    code, out, _ = run(
        capsys, "--compare", "--json", "--hours", "1", "--seed", "3", "--set", "WARM_IP_TARGET=4"
    )
    assert code == 0
    document = json.loads(out)
    assert document["trace"]["source"] == "steady" and document["trace"]["seed"] == 3
    assert document["targets"]["warm_ip_target"] == 4
    assert document["limits"] == {
        "max_interfaces": 3,
        "blocks_per_interface": 9,
        "block_size": 1,
        "max_pods": 29,
    }
    assert [r["policy"] for r in document["results"]] == ["ours", "anchor"]
    first = document["results"][0]
    assert {
        "wait_seconds",
        "idle_mean",
        "mutating_calls",
        "describe_calls",
        "throttled_calls",
        "mutating_per_1k_events",
        "idle_series",
    } <= set(first)


def test_settings_shape_the_node(capsys):
    code, out, _ = run(
        capsys,
        "--json",
        "--hours",
        "0.2",
        "--instance-type",
        "c5.4xlarge",
        "--set",
        "ENABLE_PREFIX_DELEGATION=true",
        "--set",
        "WARM_PREFIX_TARGET=1",
        "--set",
        "IP_COOLDOWN_PERIOD=10",
    )
    assert code == 0
    document = json.loads(out)
    assert document["limits"]["block_size"] == 16 and document["limits"]["max_pods"] == 110
    assert document["cooldown_seconds"] == 10


def test_a_trace_file_is_replayed(capsys, tmp_path: Path):
    trace = tmp_path / "churn.csv"
    trace.write_text("time,node,pod,event\n1,n1,a,add\n2,n1,b,add\n30,n1,a,del\n")
    code, out, _ = run(capsys, "--trace", str(trace), "--json")
    assert code == 0
    document = json.loads(out)
    assert document["trace"]["events"] == 3 and document["trace"]["nodes"] == ["n1"]
    assert document["results"][0]["pods"] == 2


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--set", "WARM_IP_TARGET=lots"), "WARM_IP_TARGET='lots': expected an integer"),
        (("--set", "WARM_IP_TARGET"), "--set takes NAME=VALUE"),
        (("--set", "ENABLE_PREFIX_DELEGATION=true"), "WARM_PREFIX_TARGET"),
        (("--instance-type", "x9.huge"), "instance type 'x9.huge' is not in the simulator's"),
        (
            (
                "--instance-type",
                "t2.medium",
                "--set",
                "ENABLE_PREFIX_DELEGATION=true",
                "--set",
                "WARM_PREFIX_TARGET=1",
            ),
            "not a Nitro instance type",
        ),
    ],
)
def test_bad_settings_are_one_line_on_stderr_and_exit_2(capsys, argv, says):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("vpc-ipamctl simulate: ") and says in err


def test_a_bad_trace_names_the_file_and_the_line(capsys, tmp_path: Path):
    trace = tmp_path / "bad.csv"
    trace.write_text("time,node,pod,event\n1,n1,a,add\nlater,n1,b,add\n")
    code, out, err = run(capsys, "--trace", str(trace))
    assert code == 2 and out == ""
    assert f"{trace}: line 3: time 'later' is not a number of seconds" in err


def test_a_missing_trace_file_is_exit_2(capsys, tmp_path: Path):
    code, _, err = run(capsys, "--trace", str(tmp_path / "nope.csv"))
    assert code == 2 and "cannot read" in err


def test_plot_without_matplotlib_says_how_to_install_it(capsys, monkeypatch, tmp_path: Path):
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object):
        return None if name == "matplotlib" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code, out, err = run(capsys, "--plot", str(tmp_path / "idle.png"))
    assert code == 2 and out == ""
    assert "pip install 'vpc-ipam[plot]'" in err


def test_plot_draws_a_png_when_matplotlib_is_there(capsys, tmp_path: Path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "idle.png"
    code, out, _ = run(capsys, "--compare", "--hours", "0.5", "--plot", str(path))
    assert code == 0 and path.read_bytes().startswith(b"\x89PNG")
    assert f"plot written to {path}" in out


@pytest.mark.parametrize(
    "argv",
    [("--hours", "0"), ("--rate", "-3"), ("--policy", "best"), ("--compare", "--policy", "anchor")],
)
def test_bad_options_are_argparse_errors(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        ctl.main(["simulate", *argv])
    assert exit_.value.code == 2


def test_parse_sets_keeps_the_last_value_and_empty_values():
    assert command.parse_sets(["A=1", "B=", "A=2"]) == {"A": "2", "B": ""}


def test_simulate_loads_neither_boto3_nor_http_client_nor_matplotlib():
    probe = (
        "import sys\n"
        "from ipamd.ctl import main\n"
        "main(['simulate', '--hours', '0.1', '--json'])\n"
        "print(' '.join(m for m in ('boto3', 'http.client', 'matplotlib') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1].strip() == ""
