"""vpc-ipamd as a real process against the EC2 + IMDS emulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_address, ip_network

import pytest

from cni.errors import TRY_AGAIN_LATER, CniError
from cni.spool import write_release
from tests.daemon.harness import Daemon, Node, wait_until


def test_pool_fills_to_warm_eni_target(daemon: Daemon, node: Node):
    wait_until("9 warm addresses", lambda: daemon.health()["addresses"]["available"] == 9)
    assert node.secondary_addresses() == 9


def test_pods_get_distinct_addresses_and_add_is_idempotent(daemon: Daemon):
    first = daemon.add("c1")
    assert daemon.add("c1") == first
    others = {daemon.add(f"c{n}") for n in range(2, 6)}
    assert len(others | {first}) == 5


def test_a_second_interface_grows_when_pods_need_it_and_goes_when_they_leave(
    daemon: Daemon, node: Node
):
    addresses = {f"c{n}": daemon.add(f"c{n}") for n in range(4)}
    wait_until("a second interface", lambda: len(node.interfaces()) == 2)
    wait_until("18 addresses", lambda: node.secondary_addresses() == 18)
    for container_id in addresses:
        daemon.delete(container_id)
    wait_until("the second interface to go", lambda: len(node.interfaces()) == 1, timeout=60)
    assert node.secondary_addresses() == 9


def test_kill_9_and_restart_keeps_exactly_the_same_allocations(daemon: Daemon):
    before = {f"c{n}": daemon.add(f"c{n}") for n in range(6)}
    daemon.kill()
    daemon.start()
    assert daemon.checkpoint_allocations() == before
    assert {c: daemon.add(c) for c in before} == before  # idempotent across the restart


def test_restart_serves_its_first_add_without_any_ec2_call(
    make_daemon: Callable[..., Daemon], node: Node
):
    # 10 held, 1 wanted free: the ADD after the restart leaves the pool on target, so no
    # growth follows it either (a growth racing the assertion would prove nothing)
    daemon = make_daemon(WARM_IP_TARGET="1", MINIMUM_IP_TARGET="10")
    daemon.start()
    wait_until("a full pool", lambda: daemon.health()["addresses"]["available"] == 10)
    daemon.stop()
    node.emulator.reset_counts()
    daemon.start()
    daemon.add("first-after-restart")
    assert node.emulator.call_counts() == {}


def test_releases_spooled_while_down_are_drained_on_start(daemon: Daemon):
    address = daemon.add("gone")
    daemon.stop()
    write_release(
        daemon.spool,
        network="vpc-ipam",
        container_id="gone",
        ifname="eth0",
        addresses=(address,),
    )
    daemon.start()
    assert "gone" not in daemon.checkpoint_allocations()
    assert not list(daemon.spool.glob("*.json"))


def test_empty_pool_answers_try_again_later_with_the_reason(
    make_daemon: Callable[..., Daemon], node: Node
):
    daemon = make_daemon(MAX_ENI="1", WARM_IP_TARGET="1", VPC_IPAM_ADD_WAIT="0.5")
    daemon.start()
    for n in range(9):
        daemon.add(f"c{n}")
    with pytest.raises(CniError) as failed:
        daemon.add("one-too-many")
    assert failed.value.code == TRY_AGAIN_LATER
    assert "interface limit reached" in failed.value.msg or "max pods" in failed.value.msg


def test_the_pool_recovers_after_a_throttling_storm(daemon: Daemon, node: Node):
    wait_until("a full pool", lambda: daemon.health()["addresses"]["available"] == 9)
    node.emulator.throttle("allocate", burst=1, rate=1e-9)
    # spend the bucket's one token, so the daemon meets an empty bucket
    node.emulator.client().create_network_interface(SubnetId=node.subnet_id)
    for n in range(9):
        daemon.add(f"c{n}")
    wait_until("the daemon to be throttled", lambda: node.emulator.throttled_counts() != {})
    node.emulator.unthrottle()
    wait_until(
        "the pool to recover", lambda: daemon.health()["addresses"]["available"] >= 9, timeout=60
    )
    assert daemon.add("after-the-storm")


def test_fifty_concurrent_adds_get_fifty_distinct_addresses(
    make_daemon: Callable[..., Daemon], node: Node
):
    # 50 pods exceed the 27 secondary addresses of an m5.large: prefix mode holds them.
    daemon = make_daemon(ENABLE_PREFIX_DELEGATION="true", WARM_PREFIX_TARGET="1")
    daemon.start()
    with ThreadPoolExecutor(max_workers=50) as pool:
        addresses = list(pool.map(lambda n: daemon.add(f"burst-{n}", timeout=20), range(50)))
    assert len(set(addresses)) == 50
    held = daemon.checkpoint_allocations()
    assert sorted(held.values()) == sorted(addresses)
    prefixes = [p["Ipv4Prefix"] for e in node.interfaces() for p in e.get("Ipv4Prefixes", [])]
    assert all(any(ip_address(a) in ip_network(p) for p in prefixes) for a in addresses)


def words(text: str) -> set[str]:
    """Which of the markers the log test waits for are in ``text``."""
    return {marker for marker in ("serving on", "op=add") if marker in text}


def test_logs_go_to_the_configured_file(make_daemon: Callable[..., Daemon]):
    daemon = make_daemon()
    log_file = daemon.workdir / "logs" / "ipamd.log"
    daemon.extra_env["AWS_VPC_K8S_CNI_LOG_FILE"] = str(log_file)
    daemon.start()
    daemon.add("c1")
    # the server writes a request's line once the reply is out (and the daemon says "serving
    # on" once its socket answers): both may come a moment after the answer
    wait_until("the log lines", lambda: {"serving on", "op=add"} <= words(log_file.read_text()))
    text = log_file.read_text()
    assert "level=info" in text, text
    # each request's line carries its attachment and outcome as fields a log pipeline reads
    line = next(line for line in text.splitlines() if "op=add" in line)
    assert "container=c1" in line and "ifname=eth0" in line and "code=0" in line, line
    assert "pod=default/pod-c1" in line, line


def test_with_install_on_the_daemon_installs_a_working_plugin_and_its_conflist(
    make_daemon: Callable[..., Daemon],
):
    probe = make_daemon()
    bin_dir, conf_dir = probe.workdir / "bin", probe.workdir / "net.d"
    daemon = make_daemon(
        VPC_IPAM_INSTALL_CNI="true",
        VPC_IPAM_CNI_BIN_DIR=str(bin_dir),
        VPC_IPAM_CNI_CONF_DIR=str(conf_dir),
    )
    daemon.start()
    conflist = conf_dir / "10-vpc-ipam.conflist"
    wait_until("the conflist", conflist.exists)
    written = json.loads(conflist.read_text())
    assert written["plugins"][0]["socketPath"] == daemon.socket
    conf = {"cniVersion": "1.1.0", "name": written["name"], **written["plugins"][0]}
    version = subprocess.run(
        [str(bin_dir / "vpc-cni")],
        input=json.dumps(conf).encode(),
        env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=False,
    )
    assert version.returncode == 0, version.stdout
    assert "1.1.0" in json.loads(version.stdout)["supportedVersions"]
