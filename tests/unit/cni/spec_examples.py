"""Example documents copied from SPEC.md (containernetworking/cni, spec 1.1.0 and the
spec-v0.4.0 tag), used as fixtures by the CNI tests. Comments in the spec's JSONC were
dropped; nothing else was changed."""

from __future__ import annotations

from typing import Any

# Section 1, "Example configuration" (a network configuration list).
CONFLIST_DBNET: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "cniVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    "name": "dbnet",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cni0",
            "keyA": ["some more", "plugin specific", "configuration"],
            "ipam": {
                "type": "host-local",
                "subnet": "10.1.0.0/16",
                "gateway": "10.1.0.1",
                "routes": [{"dst": "0.0.0.0/0"}],
            },
            "dns": {"nameservers": ["10.1.0.1"]},
        },
        {
            "type": "tuning",
            "capabilities": {"mac": True},
            "sysctl": {"net.core.somaxconn": "500"},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}

# Appendix, "Add example", step 1: the request configuration given to `bridge`.
ADD_BRIDGE_CONF: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "name": "dbnet",
    "type": "bridge",
    "bridge": "cni0",
    "keyA": ["some more", "plugin specific", "configuration"],
    "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "gateway": "10.1.0.1"},
    "dns": {"nameservers": ["10.1.0.1"]},
}

# Appendix: the abbreviated result `host-local` (IPAM) returns to `bridge`.
HOST_LOCAL_RESULT: dict[str, Any] = {
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dns": {"nameservers": ["10.1.0.1"]},
}

# Appendix: the result `bridge` returns.
BRIDGE_RESULT: dict[str, Any] = {
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "interfaces": [
        {"name": "cni0", "mac": "00:11:22:33:44:55"},
        {"name": "veth3243", "mac": "55:44:33:22:11:11"},
        {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"},
    ],
    "dns": {"nameservers": ["10.1.0.1"]},
}

# Appendix, "Add example", step 2: `tuning` gets runtimeConfig and prevResult.
ADD_TUNING_CONF: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "name": "dbnet",
    "type": "tuning",
    "sysctl": {"net.core.somaxconn": "500"},
    "runtimeConfig": {"mac": "00:11:22:33:44:66"},
    "prevResult": BRIDGE_RESULT,
}

# Appendix, "Add example", step 3 (also "Delete example", step 1).
ADD_PORTMAP_CONF: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "name": "dbnet",
    "type": "portmap",
    "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
    "prevResult": {
        **BRIDGE_RESULT,
        "interfaces": [
            {"name": "cni0", "mac": "00:11:22:33:44:55"},
            {"name": "veth3243", "mac": "55:44:33:22:11:11"},
            {"name": "eth0", "mac": "00:11:22:33:44:66", "sandbox": "/var/run/netns/blue"},
        ],
    },
}

# Section 5, "Error".
ERROR_EXAMPLE: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "code": 7,
    "msg": "Invalid Configuration",
    "details": "Network 192.168.0.0/31 too small to allocate from.",
}

# Section 5, "Version".
VERSION_EXAMPLE: dict[str, Any] = {
    "cniVersion": "1.1.0",
    "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
}

# spec-v0.4.0, "Network Configuration List Runtime Examples": the prevResult `tuning` gets
# (the spec's trailing commas removed).
PREV_RESULT_040: dict[str, Any] = {
    "ips": [{"version": "4", "address": "10.0.0.5/32", "interface": 2}],
    "interfaces": [
        {"name": "cni0", "mac": "00:11:22:33:44:55"},
        {"name": "veth3243", "mac": "55:44:33:22:11:11"},
        {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"},
    ],
    "dns": {"nameservers": ["10.1.0.1"]},
}
