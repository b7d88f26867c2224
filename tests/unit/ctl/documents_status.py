"""The /v1/status answer of docs/introspection.md for an m5.large (3 ENIs x 10 IPv4): in
secondary-IP mode (STATUS) and, for the block rows, in prefix mode (status_prefix_mode).
"""

from __future__ import annotations

import copy
from typing import Any

NODE = {
    "instance_id": "i-0abc1234def567890",
    "instance_type": "m5.large",
    "provider": "aws",
    "primary_ip": "10.0.1.4",
    "kubernetes_node": "ip-10-0-1-4.ec2.internal",
}


def _singles(first: int, assigned: int, cooling: int, prefix: str = "10.0.1.") -> list[Any]:
    """Nine /32 secondary addresses starting at ``prefix + first``."""
    blocks = []
    for n in range(9):
        state = "assigned" if n < assigned else "cooling" if n < assigned + cooling else "free"
        blocks.append(
            {
                "cidr": f"{prefix}{first + n}/32",
                "size": 1,
                "assigned": int(state == "assigned"),
                "cooling": int(state == "cooling"),
                "free": int(state == "free"),
                "serving": True,
            }
        )
    return blocks


DECISIONS = [
    {
        "at": "2026-11-22T10:00:02.114Z",
        "last_at": "2026-11-22T10:00:02.114Z",
        "repeats": 1,
        "outcome": "grew",
        "actions": ["created eni-0b2 with 9 blocks"],
        "reasons": ["3 of 9 addresses free, WARM_ENI_TARGET=1 wants a spare interface"],
    },
    {
        "at": "2026-11-22T10:00:05.000Z",
        "last_at": "2026-11-22T10:02:05.000Z",
        "repeats": 24,
        "outcome": "on-target",
        "actions": [],
        "reasons": ["14 of 27 addresses available; WARM_ENI_TARGET=1 met"],
    },
    {
        "at": "2026-11-22T10:12:30.500Z",
        "last_at": "2026-11-22T10:12:30.500Z",
        "repeats": 1,
        "outcome": "failed",
        "actions": [],
        "reasons": ["AssignPrivateIpAddresses failed: InsufficientFreeAddressesInSubnet [x]"],
    },
]

CLOUD = {
    "provider": "aws",
    "last_success_at": "2026-11-22T10:12:00.000Z",
    "last_error": {
        "at": "2026-11-22T10:12:30.480Z",
        "action": "AssignPrivateIpAddresses",
        "code": "InsufficientFreeAddressesInSubnet",
        "message": "The specified subnet does not have enough free addresses",
    },
    "actions": [
        {
            "action": "DescribeNetworkInterfaces",
            "calls": 14,
            "errors": 0,
            "throttles": 0,
            "retries": 0,
            "mean_seconds": 0.021,
        },
        {
            "action": "AssignPrivateIpAddresses",
            "calls": 3,
            "errors": 1,
            "throttles": 2,
            "retries": 2,
            "mean_seconds": 0.187,
        },
    ],
    "limiter": [
        {"class": "describe", "acquired": 14, "waits": 0, "waited_seconds": 0.0, "timeouts": 0},
        {"class": "mutate", "acquired": 5, "waits": 2, "waited_seconds": 0.4, "timeouts": 0},
    ],
    "recent_errors": [
        {
            "at": "2026-11-22T10:12:30.480Z",
            "action": "AssignPrivateIpAddresses",
            "code": "InsufficientFreeAddressesInSubnet",
            "message": "The specified subnet does not have enough free addresses",
        }
    ],
}

KUBERNETES = {
    "node": "ip-10-0-1-4.ec2.internal",
    "api_server": "https://10.100.0.1:443",
    "connected": True,
    "unreachable_for": None,
    "last_error": None,
    "max_pods": 29,
    "eniconfig": None,
    "placement": "subnet-0a1b2c3d of the node",
    "pods": 12,
    "pending_pods": 1,
    "leak_candidates": 0,
    "events_posted": 3,
}

STATUS: dict[str, Any] = {
    "node": NODE,
    "version": "0.1.0",
    "started_at": "2026-11-22T10:00:00.000Z",
    "uptime_seconds": 812.5,
    "addresses": {"total": 27, "assigned": 12, "cooling": 1, "available": 14},
    "limits": {"max_interfaces": 3, "blocks_per_interface": 9, "block_size": 1, "max_pods": 29},
    "targets": {
        "WARM_ENI_TARGET": 1,
        "WARM_IP_TARGET": 0,
        "MINIMUM_IP_TARGET": 0,
        "WARM_PREFIX_TARGET": 0,
    },
    "blocked": None,
    "interfaces": [
        {
            "id": "eni-0a1f3c5e7d9b2a4c6",
            "device_index": 0,
            "primary": True,
            "primary_ip": "10.0.1.4",
            "pods_allowed": True,
            "wired": True,
            "age_seconds": 812.5,
            "blocks": _singles(5, assigned=9, cooling=0),
        },
        {
            "id": "eni-0b2e4d6f8a1c3e5b7",
            "device_index": 1,
            "primary": False,
            "primary_ip": "10.0.1.40",
            "pods_allowed": True,
            "wired": True,
            "age_seconds": 810.4,
            "blocks": _singles(41, assigned=3, cooling=1),
        },
        {
            "id": "eni-0c3d5f7a9b2e4c6d8",
            "device_index": 2,
            "primary": False,
            "primary_ip": "10.0.1.60",
            "pods_allowed": True,
            "wired": False,
            "age_seconds": 2.1,
            "blocks": _singles(61, assigned=0, cooling=0),
        },
    ],
    "decisions": DECISIONS,
    "cloud": CLOUD,
    "kubernetes": KUBERNETES,
    "endpoints": {"metrics": "127.0.0.1:61678", "introspection": "127.0.0.1:61679"},
}


def status_prefix_mode() -> dict[str, Any]:
    """The same node in prefix mode, growth blocked, the Kubernetes layer off."""
    status = copy.deepcopy(STATUS)
    status["addresses"] = {"total": 48, "assigned": 20, "cooling": 2, "available": 10}
    status["limits"] = {
        "max_interfaces": 3,
        "blocks_per_interface": 9,
        "block_size": 16,
        "max_pods": 110,
    }
    status["targets"] = {
        "WARM_ENI_TARGET": 0,
        "WARM_IP_TARGET": 5,
        "MINIMUM_IP_TARGET": 30,
        "WARM_PREFIX_TARGET": None,
    }
    status["blocked"] = "subnet subnet-0a1b2c3d has no free aligned /28 (InsufficientCidrBlocks)"
    prefix = [
        ("10.0.1.16/28", 16, 0, 0, True),
        ("10.0.1.32/28", 4, 2, 10, True),
        ("10.0.1.48/28", 0, 0, 16, False),
    ]
    status["interfaces"] = [
        {
            **STATUS["interfaces"][0],
            "blocks": [
                {"cidr": c, "size": 16, "assigned": a, "cooling": k, "free": f, "serving": s}
                for c, a, k, f, s in prefix
            ],
        }
    ]
    status["kubernetes"] = None
    status["endpoints"] = {"metrics": None, "introspection": "unix:/run/vpc-ipam/introspect.sock"}
    return status
