"""vpc-cni exec'd as a runtime execs it, against the real vpc-ipamd in IPAM-only mode."""

from __future__ import annotations

import json
from ipaddress import ip_interface, ip_network
from pathlib import Path
from typing import Any

import pytest

from cni.spool import read_releases
from tests.cni.runtime import Runtime, network_conf
from tests.daemon.harness import Daemon

VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
SUBNET = ip_network("10.0.1.0/24")


def conf_for(daemon: Daemon, version: str = "1.1.0", **keys: Any) -> dict[str, Any]:
    return network_conf(version, daemon.socket, daemon.spool, **keys)


def added(runtime: Runtime, conf: dict[str, Any], container_id: str) -> dict[str, Any]:
    outcome = runtime.pod("ADD", conf, container_id)
    assert (outcome.code, outcome.stderr) == (0, ""), outcome
    result: dict[str, Any] = outcome.out
    return result


def address_of(result: dict[str, Any]) -> str:
    return str(ip_interface(result["ips"][0]["address"]).ip)


def assert_silent_success(outcome: Any) -> None:
    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, "", "")


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del_speak_each_spec_version(runtime: Runtime, daemon: Daemon, version: str):
    conf = conf_for(daemon, version)
    container = f"pod-{version.replace('.', '')}"

    result = added(runtime, conf, container)

    address = ip_interface(result["ips"][0]["address"])
    assert address.network.prefixlen == 32 and address.ip in SUBNET
    ip_entry: dict[str, Any] = {"address": str(address)}
    if version < "1.0.0":
        ip_entry = {"version": "4", **ip_entry}  # ips[].version went away in 1.0.0
    assert result == {"cniVersion": version, "ips": [ip_entry]}
    assert daemon.checkpoint_allocations() == {container: str(address.ip)}

    assert added(runtime, conf, container) == result  # ADD is idempotent

    with_prev = {**conf, "prevResult": result}
    checked = runtime.pod("CHECK", with_prev, container)
    if version < "0.4.0":
        assert checked.code == 1
        assert checked.out["code"] == 1  # CHECK does not exist before 0.4.0
        assert checked.out["cniVersion"] == version
    else:
        assert_silent_success(checked)

    assert_silent_success(runtime.pod("DEL", with_prev, container))
    assert daemon.checkpoint_allocations() == {}
    assert_silent_success(runtime.pod("DEL", with_prev, container))  # and again


def test_check_of_an_unknown_pod_prints_the_daemons_error_unchanged(
    runtime: Runtime, daemon: Daemon
):
    conf = conf_for(daemon, "1.0.0", prevResult={"ips": [{"address": "10.0.1.200/32"}]})

    outcome = runtime.pod("CHECK", conf, "never-added")

    assert outcome.code == 1
    assert outcome.out == {
        "cniVersion": "1.0.0",
        "code": 3,
        "msg": "no address is allocated to vpc-ipam/never-added/eth0",
    }


def test_the_second_del_without_netns_or_prev_result_releases_by_key(
    runtime: Runtime, daemon: Daemon
):
    conf = conf_for(daemon)
    added(runtime, conf, "c1")

    assert_silent_success(runtime.pod("DEL", conf, "c1", netns=""))

    assert daemon.checkpoint_allocations() == {}
    assert_silent_success(runtime.pod("DEL", conf, "c1", netns=""))


def test_del_while_the_daemon_is_down_is_spooled_and_drained_on_restart(
    runtime: Runtime, daemon: Daemon
):
    conf = conf_for(daemon, "0.4.0")
    result = added(runtime, conf, "c1")
    daemon.stop()

    outcome = runtime.pod("DEL", {**conf, "prevResult": result}, "c1")

    assert_silent_success(outcome)
    [(_, entry)] = read_releases(daemon.spool)
    assert (entry.network, entry.container_id, entry.ifname) == ("vpc-ipam", "c1", "eth0")
    assert entry.addresses == (address_of(result),)

    daemon.start()
    assert daemon.checkpoint_allocations() == {}
    assert list(daemon.spool.glob("*.json")) == []
    assert daemon.health()["addresses"]["assigned"] == 0  # the address is back in the pool


def test_the_second_del_while_the_daemon_is_down_succeeds_too(runtime: Runtime, daemon: Daemon):
    conf = conf_for(daemon)
    added(runtime, conf, "c1")
    daemon.stop()

    assert_silent_success(runtime.pod("DEL", conf, "c1", netns=""))

    [(_, entry)] = read_releases(daemon.spool)
    assert (entry.container_id, entry.addresses) == ("c1", ())
    daemon.start()
    assert daemon.checkpoint_allocations() == {}


def test_add_while_the_daemon_is_down_is_try_again_later_naming_the_socket(
    runtime: Runtime, daemon: Daemon
):
    daemon.stop()

    outcome = runtime.pod("ADD", conf_for(daemon, "1.0.0"), "c1")

    assert (outcome.code, outcome.stderr) == (1, "")
    assert outcome.out["code"] == 11
    assert outcome.out["msg"] == f"vpc-ipamd is not reachable at {daemon.socket}"
    assert outcome.out["cniVersion"] == "1.0.0"


def test_status_is_silent_when_the_daemon_serves_and_50_when_it_is_down(
    runtime: Runtime, daemon: Daemon
):
    conf = conf_for(daemon)
    assert_silent_success(runtime.exec("STATUS", conf))

    daemon.stop()
    outcome = runtime.exec("STATUS", conf)

    assert outcome.code == 1
    assert outcome.out["code"] == 50
    assert outcome.out["msg"] == f"vpc-ipamd is not reachable at {daemon.socket}"


def test_gc_releases_the_attachments_valid_attachments_omits(runtime: Runtime, daemon: Daemon):
    conf = conf_for(daemon)
    kept = address_of(added(runtime, conf, "keep"))
    added(runtime, conf, "gone")

    assert_silent_success(runtime.exec("GC", conf))  # no list given: nothing is stale
    assert set(daemon.checkpoint_allocations()) == {"keep", "gone"}

    valid = [{"containerID": "keep", "ifname": "eth0"}]
    assert_silent_success(runtime.exec("GC", {**conf, "cni.dev/valid-attachments": valid}))
    assert daemon.checkpoint_allocations() == {"keep": kept}


def test_chained_after_another_plugin_add_returns_the_whole_result(
    runtime: Runtime, daemon: Daemon
):
    prev = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth1", "sandbox": "/var/run/netns/cni-c1"}],
        "ips": [{"address": "192.168.7.2/24", "interface": 0}],
        "dns": {"nameservers": ["192.168.7.1"]},
    }
    conf = conf_for(daemon, "1.0.0", prevResult=prev)

    result = added(runtime, conf, "c1")

    ours = {"address": f"{daemon.checkpoint_allocations()['c1']}/32"}
    assert result == {**prev, "ips": [*prev["ips"], ours]}


@pytest.mark.parametrize(
    ("case", "stdin", "env", "code"),
    [
        ("missing variables", None, {"containerid": "", "ifname": ""}, 4),
        ("bad JSON", b'{"cniVersion": "1.0.0", "name": ', {}, 6),
        ("unknown cniVersion", {"cniVersion": "2.0.0"}, {}, 1),
        ("missing required key", {"name": None}, {}, 7),
        ("bad plugin key", {"socketPath": "relative.sock"}, {}, 7),
    ],
)
def test_bad_input_gets_its_code_and_never_reaches_the_daemon(
    runtime: Runtime,
    daemon: Daemon,
    case: str,
    stdin: dict[str, Any] | bytes | None,
    env: dict[str, str],
    code: int,
):
    conf: dict[str, Any] | bytes = conf_for(daemon)
    if isinstance(stdin, bytes):
        conf = stdin
    elif stdin:
        conf = {k: v for k, v in {**conf_for(daemon), **stdin}.items() if v is not None}

    outcome = runtime.pod("ADD", conf, "c1", **env)

    assert (outcome.code, outcome.stderr) == (1, ""), case
    assert outcome.out["code"] == code, outcome.out
    assert daemon.checkpoint_allocations() == {}


def test_check_without_prev_result_is_code_7(runtime: Runtime, daemon: Daemon):
    conf = conf_for(daemon)
    added(runtime, conf, "c1")

    outcome = runtime.pod("CHECK", conf, "c1")

    assert outcome.code == 1
    assert outcome.out["code"] == 7
    assert "prevResult" in outcome.out["msg"]


def test_the_log_file_gets_one_line_per_invocation(runtime: Runtime, daemon: Daemon):
    log = daemon.workdir / "cni" / "cni.log"
    conf = conf_for(daemon, logFile=str(log))
    result = added(runtime, conf, "c1")
    runtime.pod("DEL", {**conf, "prevResult": result}, "c1")

    lines = log.read_text().splitlines()

    assert len(lines) == 2
    assert " ADD container=c1 ifname=eth0 " in lines[0] and lines[0].endswith("ms ok")
    assert " DEL container=c1 ifname=eth0 " in lines[1] and lines[1].endswith("ms ok")


def test_the_installed_conflist_configures_the_plugin(runtime: Runtime, daemon: Daemon):
    conflist = json.loads(
        (Path(__file__).resolve().parents[2] / "deploy" / "10-vpc-ipam.conflist").read_text()
    )
    plugin = conflist["plugins"][0]
    # libcni: each plugin gets the list's name and cniVersion; paths point at this daemon
    conf = {
        **plugin,
        "name": conflist["name"],
        "cniVersion": conflist["cniVersion"],
        "socketPath": daemon.socket,
        "spoolDir": str(daemon.spool),
        "logFile": str(daemon.workdir / "cni.log"),
    }

    result = added(runtime, conf, "c1")

    assert result["cniVersion"] == "1.0.0" and "version" not in result["ips"][0]
    assert (daemon.workdir / "cni.log").read_text().count("\n") == 1
