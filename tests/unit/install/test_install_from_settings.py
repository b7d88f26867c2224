"""What the daemon installs comes from its settings; the deploy conflist is that of the defaults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cni import spool, wire
from cni.netconf import parse_netconf
from cni.pluginconf import MAX_TIMEOUT, parse_plugin_conf
from config import load_settings
from config.table import CNI_TIMEOUT_MAX
from ipamd.installer import PLUGIN_NAME, conflist_for, install_from_settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "10-vpc-ipam.conflist"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


def _dirs(tmp_path: Path) -> dict[str, str]:
    return {
        "VPC_IPAM_CNI_BIN_DIR": str(tmp_path / "opt" / "cni" / "bin"),
        "VPC_IPAM_CNI_CONF_DIR": str(tmp_path / "etc" / "cni" / "net.d"),
    }


def _plugin_configs(conflist: dict[str, Any]) -> list[dict[str, Any]]:
    """Each plugin's configuration as libcni hands it over (list name and version injected)."""
    return [
        {**plugin, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}
        for plugin in conflist["plugins"]
    ]


def test_deploy_conflist_is_the_conflist_of_the_default_settings():
    expected = json.dumps(conflist_for(load_settings({})), indent=2) + "\n"
    assert DEPLOY.read_text() == expected, (
        "regenerate it: .venv/bin/python -c 'import json; from config import load_settings; "
        "from ipamd.installer import conflist_for; "
        "print(json.dumps(conflist_for(load_settings({})), indent=2))' "
        "> deploy/10-vpc-ipam.conflist"
    )


def test_default_conflist_is_vpc_cni_then_portmap_at_1_0_0_or_1_1_0_with_the_daemon_defaults():
    conflist = conflist_for(load_settings({}))
    # libcni < 1.2 (podman 4.x) reads cniVersion and cannot parse a 1.1.0 result; newer
    # libcni runs the highest of cniVersions
    assert (conflist["cniVersion"], conflist["name"]) == ("1.0.0", "vpc-ipam")
    assert conflist["cniVersions"] == ["1.0.0", "1.1.0"]
    vpc_cni, portmap = conflist["plugins"]
    assert vpc_cni == {
        "type": "vpc-cni",
        "socketPath": wire.DEFAULT_SOCKET_PATH,
        "spoolDir": spool.DEFAULT_SPOOL_DIR,
        "vethPrefix": "eni",
        "timeoutSeconds": 20,
        "logFile": "/var/log/vpc-ipam/cni.log",
    }
    assert portmap == PORTMAP


@pytest.mark.parametrize(
    ("env", "key", "expected"),
    [
        ({"VPC_IPAM_SOCKET_PATH": "/run/ipam/d.sock"}, "socketPath", "/run/ipam/d.sock"),
        ({"VPC_IPAM_SPOOL_DIR": "/data/spool"}, "spoolDir", "/data/spool"),
        ({"AWS_VPC_K8S_CNI_VETHPREFIX": "pod"}, "vethPrefix", "pod"),
        ({"VPC_IPAM_CNI_TIMEOUT": "30"}, "timeoutSeconds", 30),
        ({"VPC_IPAM_CNI_TIMEOUT": "12.5"}, "timeoutSeconds", 12.5),
        (
            {"AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log"},
            "logFile",
            "/var/log/aws-routed-eni/plugin.log",
        ),
    ],
)
def test_conflist_carries_each_setting_to_the_plugin(env, key, expected):
    (vpc_cni, *_) = conflist_for(load_settings(env))["plugins"]
    assert vpc_cni[key] == expected
    assert type(vpc_cni[key]) is type(expected)


def test_conflist_chains_portmap_only_when_asked():
    on = conflist_for(load_settings({"VPC_IPAM_CNI_PORTMAP": "true"}))["plugins"]
    off = conflist_for(load_settings({"VPC_IPAM_CNI_PORTMAP": "false"}))["plugins"]
    assert [p["type"] for p in on] == ["vpc-cni", "portmap"]
    assert on[1] == PORTMAP
    assert [p["type"] for p in off] == ["vpc-cni"]


def test_every_plugin_configuration_passes_the_plugins_own_parsers():
    env = {
        "VPC_IPAM_SOCKET_PATH": "/run/ipam/d.sock",
        "VPC_IPAM_SPOOL_DIR": "/data/spool",
        "AWS_VPC_K8S_CNI_VETHPREFIX": "pod",
        "VPC_IPAM_CNI_TIMEOUT": "600",
        "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/p.log",
    }
    first, second = [
        parse_netconf(json.dumps(c).encode())
        for c in _plugin_configs(conflist_for(load_settings(env)))
    ]
    assert (first.type, second.type) == ("vpc-cni", "portmap")
    plugin = parse_plugin_conf(first.extra)
    assert (plugin.socket_path, plugin.spool_dir, plugin.veth_prefix) == (
        "/run/ipam/d.sock",
        "/data/spool",
        "pod",
    )
    assert (plugin.timeout, plugin.log_file) == (600.0, "/var/log/p.log")


def test_the_timeout_bound_is_the_plugins_own():
    assert CNI_TIMEOUT_MAX == MAX_TIMEOUT


def test_install_off_writes_nothing_and_returns_none(tmp_path: Path):
    settings = load_settings({"VPC_IPAM_INSTALL_CNI": "false", **_dirs(tmp_path)})
    assert install_from_settings(settings) is None
    assert list(tmp_path.iterdir()) == []


def test_install_is_off_unless_the_environment_turns_it_on():
    assert load_settings({}).daemon.install_cni is False
    assert install_from_settings(load_settings({})) is None


def test_install_on_writes_the_launcher_then_the_conflist_of_the_settings(tmp_path: Path):
    env = {
        "VPC_IPAM_INSTALL_CNI": "true",
        "VPC_IPAM_CNI_CONFLIST_NAME": "05-vpc-ipam.conflist",
        "VPC_IPAM_CNI_PORTMAP": "false",
        **_dirs(tmp_path),
    }
    settings = load_settings(env)
    written = install_from_settings(settings)
    assert written == tmp_path / "etc" / "cni" / "net.d" / "05-vpc-ipam.conflist"
    assert json.loads(written.read_text()) == conflist_for(settings)
    assert written.read_text() == json.dumps(conflist_for(settings), indent=2) + "\n"
    assert [p.name for p in written.parent.iterdir()] == ["05-vpc-ipam.conflist"]
    launcher = tmp_path / "opt" / "cni" / "bin" / PLUGIN_NAME
    assert os.access(launcher, os.X_OK)


def test_installing_twice_gives_the_same_files(tmp_path: Path):
    settings = load_settings({"VPC_IPAM_INSTALL_CNI": "1", **_dirs(tmp_path)})
    first = install_from_settings(settings)
    assert first is not None
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert install_from_settings(settings) == first
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs the system's python3")
def test_installed_plugin_accepts_the_generated_conflist(tmp_path: Path):
    log_file = tmp_path / "log" / "cni.log"
    env = {
        "VPC_IPAM_INSTALL_CNI": "true",
        "AWS_VPC_K8S_PLUGIN_LOG_FILE": str(log_file),
        **_dirs(tmp_path),
    }
    written = install_from_settings(load_settings(env))
    assert written is not None
    (vpc_cni, _portmap) = _plugin_configs(json.loads(written.read_text()))
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", str(tmp_path / "opt" / "cni" / "bin" / PLUGIN_NAME)],
        env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
        input=json.dumps(vpc_cni).encode(),
        capture_output=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["cniVersion"] == "1.0.0"  # the conflist's, as libcni hands it on
    assert {"1.0.0", "1.1.0"} <= set(reply["supportedVersions"])
    assert done.stderr == b""
    (line,) = log_file.read_text().splitlines()  # the plugin read logFile from the conflist
    assert " VERSION " in line and line.endswith(" ok")
