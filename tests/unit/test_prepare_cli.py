"""``--prepare-node`` without a kernel: sysctls in a directory standing in for /proc/sys,
the primary interfaces given, the plugin into a temporary bin directory.

Nothing here may reach the host's real /proc/sys: the CLI tests replace
``prepare.prepare_node`` before ``main`` can call it (the real one runs only inside test
namespaces, tests/netns/test_prepare_node.py).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from config import Settings, load_settings
from ipamd import main as cli
from ipamd import prepare
from ipamd.installer import PLUGIN_NAME
from ipamd.prepare import PrepareFailed, Sysctl, apply_sysctl, prepare_node, wanted_sysctls


def proc_sys(root: Path, values: dict[str, int]) -> Path:
    """A stand-in /proc/sys: ``{"net/ipv4/ip_forward": 0, ...}``."""
    for relative, value in values.items():
        file = root.joinpath(relative)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f"{value}\n")
    return root


def fresh_node(root: Path, *interfaces: str) -> Path:
    values = {"net/ipv4/ip_forward": 0}
    values |= {f"net/ipv4/conf/{name}/rp_filter": 1 for name in (*interfaces, "default")}
    return proc_sys(root, values)


def settings(bin_dir: Path, *, install: bool = True) -> Settings:
    return load_settings(
        {"VPC_IPAM_INSTALL_CNI": str(install).lower(), "VPC_IPAM_CNI_BIN_DIR": str(bin_dir)}
    )


def read(root: Path, relative: str) -> str:
    return root.joinpath(relative).read_text().strip()


# --- sysctls ---------------------------------------------------------------------------


def test_a_sysctl_is_written_only_when_it_differs(tmp_path: Path):
    root = proc_sys(tmp_path, {"net/ipv4/ip_forward": 0})
    forward = Sysctl(("net", "ipv4", "ip_forward"), 1, "routing")
    assert apply_sysctl(forward, root) == "0"
    assert read(root, "net/ipv4/ip_forward") == "1"
    before = root.joinpath("net/ipv4/ip_forward").stat().st_mtime_ns
    assert apply_sysctl(forward, root) is None
    assert root.joinpath("net/ipv4/ip_forward").stat().st_mtime_ns == before


def test_an_interface_name_with_a_dot_is_one_path_component(tmp_path: Path):
    root = fresh_node(tmp_path, "eth0.100")
    [_, rp_filter] = wanted_sysctls(["eth0.100"])
    assert rp_filter.name == "net.ipv4.conf.eth0.100.rp_filter"
    assert apply_sysctl(rp_filter, root) == "1"
    assert read(root, "net/ipv4/conf/eth0.100/rp_filter") == "2"


def test_a_missing_sysctl_names_itself(tmp_path: Path):
    gone = wanted_sysctls(["eth9"])[1]
    with pytest.raises(PrepareFailed, match=r"net\.ipv4\.conf\.eth9\.rp_filter.*no such"):
        apply_sysctl(gone, tmp_path)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.EROFS, "/proc/sys is read-only in this container"),
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "permission denied"),
    ],
)
def test_write_failures_say_why_and_what_to_do(code: int, says: str):
    why = prepare._why_not(OSError(code, os.strerror(code)))
    assert says in why and "privileged" in why


# --- the whole step ----------------------------------------------------------------------


def test_prepare_node_sets_both_sysctls_installs_the_plugin_and_reports_each_change(
    tmp_path: Path,
):
    root = fresh_node(tmp_path / "proc-sys", "eth0", "eth1")
    bin_dir = tmp_path / "bin"
    lines: list[str] = []
    changes = prepare_node(
        settings(bin_dir), report=lines.append, interfaces=lambda: ["eth0"], sysctl_root=root
    )
    assert changes == 3 == len(lines)
    assert lines[:2] == [
        "set net.ipv4.ip_forward=1 (was 0)",
        "set net.ipv4.conf.eth0.rp_filter=2 (was 1)",
    ]
    assert lines[2].startswith(f"installed {bin_dir / PLUGIN_NAME} (package .{PLUGIN_NAME}-lib-")
    assert read(root, "net/ipv4/conf/eth1/rp_filter") == "1"  # not a default route's
    assert read(root, "net/ipv4/conf/default/rp_filter") == "1"
    assert os.access(bin_dir / PLUGIN_NAME, os.X_OK)
    assert sorted(p.name for p in bin_dir.iterdir() if not p.name.startswith(".")) == [PLUGIN_NAME]

    again: list[str] = []
    assert (
        prepare_node(
            settings(bin_dir), report=again.append, interfaces=lambda: ["eth0"], sysctl_root=root
        )
        == 0
    )
    assert again == []


def test_a_plugin_of_another_version_is_replaced_and_reported(tmp_path: Path):
    root = proc_sys(tmp_path / "proc-sys", {"net/ipv4/ip_forward": 1})
    proc_sys(root, {"net/ipv4/conf/eth0/rp_filter": 2})
    bin_dir = tmp_path / "bin"
    stale = bin_dir / f".{PLUGIN_NAME}-lib-0000000000000000"
    stale.mkdir(parents=True)
    lines: list[str] = []
    prepare_node(
        settings(bin_dir), report=lines.append, interfaces=lambda: ["eth0"], sysctl_root=root
    )
    assert len(lines) == 1 and lines[0].startswith("installed ")
    assert not stale.exists()


def test_without_install_cni_only_the_sysctls_are_set(tmp_path: Path):
    root = fresh_node(tmp_path / "proc-sys", "eth0")
    bin_dir = tmp_path / "bin"
    lines: list[str] = []
    prepare_node(
        settings(bin_dir, install=False),
        report=lines.append,
        interfaces=lambda: ["eth0"],
        sysctl_root=root,
    )
    assert [line.split("=")[0] for line in lines] == [
        "set net.ipv4.ip_forward",
        "set net.ipv4.conf.eth0.rp_filter",
    ]
    assert not bin_dir.exists()


def test_no_default_route_fails_before_anything_is_written(tmp_path: Path):
    root = fresh_node(tmp_path / "proc-sys", "eth0")
    bin_dir = tmp_path / "bin"
    with pytest.raises(PrepareFailed, match="no IPv4 default route"):
        prepare_node(settings(bin_dir), report=print, interfaces=list, sysctl_root=root)
    assert read(root, "net/ipv4/ip_forward") == "0"
    assert not bin_dir.exists()


# --- the command line ------------------------------------------------------------------


@pytest.fixture
def no_real_prepare(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """``prepare.prepare_node`` replaced: records its settings, reports one change."""
    seen: list[Settings] = []

    def fake(settings: Settings, *, report: object) -> int:
        seen.append(settings)
        assert callable(report)
        report("set net.ipv4.ip_forward=1 (was 0)")
        return 1

    monkeypatch.setattr(prepare, "prepare_node", fake)
    return seen


def test_the_flag_runs_the_step_with_the_environments_settings(
    no_real_prepare: list[Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
):
    monkeypatch.setenv("VPC_IPAM_CNI_BIN_DIR", str(tmp_path / "bin"))
    monkeypatch.setenv("VPC_IPAM_INSTALL_CNI", "true")
    assert cli.main(["--prepare-node"]) == 0
    [seen] = no_real_prepare
    assert seen.cni.bin_dir == tmp_path / "bin"
    assert capsys.readouterr().out == "vpc-ipamd: set net.ipv4.ip_forward=1 (was 0)\n"


def test_a_failed_step_exits_3_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    def fails(settings: Settings, *, report: object) -> int:
        raise PrepareFailed("cannot set net.ipv4.ip_forward=1: /proc/sys is read-only")

    monkeypatch.setattr(prepare, "prepare_node", fails)
    assert cli.main(["--prepare-node"]) == 3
    err = capsys.readouterr().err
    assert "--prepare-node failed: cannot set net.ipv4.ip_forward=1" in err


def test_an_invalid_environment_exits_2_before_preparing(
    no_real_prepare: list[Settings], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WARM_IP_TARGET", "-1")
    assert cli.main(["--prepare-node"]) == 2
    assert no_real_prepare == []


def test_prepare_node_and_check_config_do_not_mix(no_real_prepare: list[Settings]):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--prepare-node", "--check-config"])
    assert exited.value.code == 2
    assert no_real_prepare == []
