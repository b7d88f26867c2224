"""``vpc-ipamd --prepare-node``, the real program, run inside namespaces the test makes.

Each namespace starts as a node image leaves it (``ip_forward=0``, ``rp_filter=1``); the
program is exec'd in it with ``ip netns exec``, so the sysctls it writes are that
namespace's, never the host's, and the plugin goes to a temporary bin directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ipamd.installer import PLUGIN_NAME
from tests.netns.conftest import ip

pytestmark = pytest.mark.netns

VPC_IPAMD = Path(sys.executable).parent / "vpc-ipamd"
SYSTEM_PATH = "/usr/bin:/bin"
SYSTEM_PYTHON = shutil.which("python3", path=SYSTEM_PATH)


def read_sysctl(netns: str, *path: str) -> str:
    """A sysctl of ``netns``, read by path (an interface name may hold a dot)."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", str(Path("/proc/sys", *path))],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def write_sysctl(netns: str, value: int, *path: str) -> None:
    target = str(Path("/proc/sys", *path))
    subprocess.run(
        ["ip", "netns", "exec", netns, "sh", "-c", f'echo {value} > "$0"', target],
        capture_output=True,
        text=True,
        check=True,
    )


def prepare(netns: str, bin_dir: Path, *wrapper: str) -> subprocess.CompletedProcess[str]:
    """The real ``vpc-ipamd --prepare-node`` inside ``netns`` (after ``wrapper``, if any)."""
    assert netns.startswith("vpcipam-"), "only ever in a namespace of this test"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert netns in listed.stdout.split(), "the namespace must exist, or ip would not enter it"
    return subprocess.run(
        ["ip", "netns", "exec", netns, *wrapper, str(VPC_IPAMD), "--prepare-node"],
        env={**os.environ, "VPC_IPAM_INSTALL_CNI": "true", "VPC_IPAM_CNI_BIN_DIR": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def veth(netns: str, name: str, peer: str, address: str) -> None:
    ip(netns, "link", "add", name, "type", "veth", "peer", "name", peer)
    ip(netns, "link", "set", name, "up")
    ip(netns, "link", "set", peer, "up")
    ip(netns, "addr", "add", address, "dev", name)
    for link in (name, peer):
        write_sysctl(netns, 1, "net", "ipv4", "conf", link, "rp_filter")


def as_a_fresh_node(netns: str) -> None:
    write_sysctl(netns, 0, "net", "ipv4", "ip_forward")
    write_sysctl(netns, 1, "net", "ipv4", "conf", "default", "rp_filter")


@pytest.fixture
def node(netns: str) -> str:
    """``eth0`` holds the default route; its peer ``x0`` (say a secondary ENI) does not."""
    as_a_fresh_node(netns)
    veth(netns, "eth0", "x0", "10.0.0.5/24")
    ip(netns, "route", "add", "default", "via", "10.0.0.1", "dev", "eth0")
    return netns


def answers_version(plugin: Path) -> dict[str, object]:
    """What the installed plugin answers to VERSION, run as a runtime runs it."""
    if SYSTEM_PYTHON is None:
        pytest.skip("needs the system's python3 to run the installed plugin")
    done = subprocess.run(
        [str(plugin)],
        input=b'{"cniVersion":"1.0.0"}',
        env={"CNI_COMMAND": "VERSION", "PATH": SYSTEM_PATH},
        capture_output=True,
        check=False,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_prepare_node_sets_forwarding_and_loose_rp_filter_and_installs_the_plugin(
    node: str, tmp_path: Path
):
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    done = prepare(node, bin_dir)
    assert done.returncode == 0, done.stderr
    assert "VPC_IPAM_CNI_BIN_DIR" not in done.stderr  # no "has no effect" warning
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        "vpc-ipamd: set net.ipv4.ip_forward=1 (was 0)",
        "vpc-ipamd: set net.ipv4.conf.eth0.rp_filter=2 (was 1)",
    ]
    assert lines[2].startswith(f"vpc-ipamd: installed {bin_dir / PLUGIN_NAME} (package ")
    assert len(lines) == 3
    assert read_sysctl(node, "net", "ipv4", "ip_forward") == "1"
    assert read_sysctl(node, "net", "ipv4", "conf", "eth0", "rp_filter") == "2"
    # interfaces without the default route, and the default for new ones, are left alone
    assert read_sysctl(node, "net", "ipv4", "conf", "x0", "rp_filter") == "1"
    assert read_sysctl(node, "net", "ipv4", "conf", "default", "rp_filter") == "1"
    plugin = bin_dir / PLUGIN_NAME
    assert os.access(plugin, os.X_OK)
    assert not list(bin_dir.parent.parent.parent.glob("**/*.conflist")), "the daemon's job"
    version = answers_version(plugin)
    assert version["cniVersion"] == "1.0.0"
    assert "1.1.0" in version["supportedVersions"]  # type: ignore[operator]


def test_a_second_run_changes_nothing_and_prints_nothing(node: str, tmp_path: Path):
    bin_dir = tmp_path / "bin"
    first = prepare(node, bin_dir)
    assert first.returncode == 0, first.stderr
    launcher = (bin_dir / PLUGIN_NAME).read_bytes()
    packages = sorted(p.name for p in bin_dir.iterdir())
    second = prepare(node, bin_dir)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert (bin_dir / PLUGIN_NAME).read_bytes() == launcher
    assert sorted(p.name for p in bin_dir.iterdir()) == packages
    assert read_sysctl(node, "net", "ipv4", "ip_forward") == "1"
    assert read_sysctl(node, "net", "ipv4", "conf", "eth0", "rp_filter") == "2"


def test_every_link_of_a_multipath_default_route_gets_loose_rp_filter(netns: str, tmp_path: Path):
    as_a_fresh_node(netns)
    veth(netns, "eth0", "x0", "10.0.0.5/24")
    veth(netns, "ens4.1", "x1", "10.0.1.5/24")  # a dot in the name: a path, not a separator
    ip(netns, "route", "add", "default", "nexthop", "via", "10.0.0.1", "dev", "eth0",
       "nexthop", "via", "10.0.1.1", "dev", "ens4.1")  # fmt: skip
    done = prepare(netns, tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    assert "vpc-ipamd: set net.ipv4.conf.ens4.1.rp_filter=2 (was 1)" in done.stdout
    for link in ("eth0", "ens4.1"):
        assert read_sysctl(netns, "net", "ipv4", "conf", link, "rp_filter") == "2"
    for link in ("x0", "x1"):
        assert read_sysctl(netns, "net", "ipv4", "conf", link, "rp_filter") == "1"


def test_without_a_default_route_it_exits_3_and_changes_nothing(netns: str, tmp_path: Path):
    as_a_fresh_node(netns)
    veth(netns, "eth0", "x0", "10.0.0.5/24")
    ip(netns, "route", "add", "unreachable", "default")  # a default with no interface
    bin_dir = tmp_path / "bin"
    done = prepare(netns, bin_dir)
    assert done.returncode == 3
    assert "no IPv4 default route" in done.stderr and "rp_filter" in done.stderr
    assert done.stdout == ""
    assert read_sysctl(netns, "net", "ipv4", "ip_forward") == "0"
    assert not bin_dir.exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_a_read_only_proc_sys_exits_3_naming_the_sysctl_and_why(node: str, tmp_path: Path):
    # as a container runtime mounts it when the container is not privileged; the mount is
    # made in a private mount namespace of that one command
    read_only = (
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"',
        "read-only-proc-sys",
    )
    bin_dir = tmp_path / "bin"
    done = prepare(node, bin_dir, *read_only)
    assert done.returncode == 3, done.stderr
    assert "net.ipv4.ip_forward=1" in done.stderr
    assert "/proc/sys is read-only" in done.stderr and "privileged" in done.stderr
    assert read_sysctl(node, "net", "ipv4", "ip_forward") == "0"
    assert not bin_dir.exists()
