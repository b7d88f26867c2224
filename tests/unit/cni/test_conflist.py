"""deploy/10-vpc-ipam.conflist: valid JSON, and each plugin's configuration as libcni builds
it (the list's name and cniVersion injected into each plugin) passes our parsers."""

from __future__ import annotations

import json
from pathlib import Path

from cni import spool, wire
from cni.netconf import parse_netconf
from cni.pluginconf import parse_plugin_conf

CONFLIST = Path(__file__).resolve().parents[3] / "deploy" / "10-vpc-ipam.conflist"


def plugin_configs() -> list[dict[str, object]]:
    conflist = json.loads(CONFLIST.read_text())
    assert set(conflist) == {"cniVersion", "cniVersions", "name", "plugins"}
    return [
        {**plugin, "name": conflist["name"], "cniVersion": version}
        for version in (conflist["cniVersion"], max(conflist["cniVersions"]))
        for plugin in conflist["plugins"]
    ]


def test_the_conflist_is_vpc_cni_then_portmap_at_1_0_0_or_1_1_0():
    # libcni < 1.2 hands the plugins cniVersion (1.0.0); later ones the highest cniVersions
    confs = [parse_netconf(json.dumps(c).encode()) for c in plugin_configs()]

    assert [(c.type, c.name, c.cni_version) for c in confs] == [
        ("vpc-cni", "vpc-ipam", "1.0.0"),
        ("portmap", "vpc-ipam", "1.0.0"),
        ("vpc-cni", "vpc-ipam", "1.1.0"),
        ("portmap", "vpc-ipam", "1.1.0"),
    ]
    assert confs[1].capabilities == {"portMappings": True}
    assert confs[1].extra == {"snat": True}


def test_the_conflist_names_the_daemons_default_paths():
    conf = parse_netconf(json.dumps(plugin_configs()[0]).encode())
    plugin = parse_plugin_conf(conf.extra)

    assert plugin.socket_path == wire.DEFAULT_SOCKET_PATH
    assert plugin.spool_dir == spool.DEFAULT_SPOOL_DIR
    assert plugin.veth_prefix == "eni"
    assert plugin.log_file == "/var/log/vpc-ipam/cni.log"
