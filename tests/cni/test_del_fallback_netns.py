"""DEL without the daemon removes the host-side veth prevResult names, inside a namespace.

The binary runs in a fresh network namespace (``ip netns exec``) as if it were the host's:
the links it may remove are the ones each test makes there, never the host's own.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cni.spool import read_releases
from tests.cni.runtime import Runtime, network_conf
from tests.netns.conftest import ip


def links(netns: str) -> set[str]:
    shown = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show"], check=True, capture_output=True, text=True
    )
    return {link["ifname"] for link in json.loads(shown.stdout)}


def prev_result(*host_links: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.1.0",
        "interfaces": [
            *({"name": name} for name in host_links),
            {"name": "eth0", "sandbox": "/var/run/netns/cni-gone"},
        ],
        "ips": [{"address": "10.0.1.23/32", "interface": len(host_links)}],
    }


def fallback_del(netns: str, work: Path, prev: dict[str, Any]) -> Any:
    conf = network_conf("1.1.0", str(work / "no-daemon.sock"), work / "spool", prevResult=prev)
    runtime = Runtime(prefix=("ip", "netns", "exec", netns))
    return runtime.pod("DEL", conf, "c1")


def test_fallback_del_removes_our_veth_and_leaves_other_links_alone(netns: str, short_dir: Path):
    ip(netns, "link", "add", "eni1a2b3c4d5e6", "type", "veth", "peer", "name", "pod-end")
    ip(netns, "link", "add", "pod1a2b", "type", "veth", "peer", "name", "other-end")
    ip(netns, "link", "add", "eni-bridge", "type", "bridge")  # our prefix, not a veth
    prev = prev_result("eni1a2b3c4d5e6", "pod1a2b", "eni-bridge")

    outcome = fallback_del(netns, short_dir, prev)

    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, "", "")
    assert links(netns) == {"lo", "pod1a2b", "other-end", "eni-bridge"}  # pod-end went too
    [(_, entry)] = read_releases(short_dir / "spool")
    assert entry.addresses == ("10.0.1.23",)

    again = fallback_del(netns, short_dir, prev)  # the veth is gone now: still a success

    assert (again.code, again.stdout, again.stderr) == (0, "", "")
    assert len(read_releases(short_dir / "spool")) == 2
