"""Answers of the introspection endpoint and of the repair op, shaped as docs/introspection.md
says: every documented key present (some null), times RFC 3339 UTC, durations in seconds.
The status answers are in documents_status; the rest (allocations, why, doctor, repair) here.
"""

from __future__ import annotations

from typing import Any

WEB_1 = {"namespace": "default", "name": "web-1", "uid": "6f1c2a8e-4b1d-4c55-9a51-0f2e7d3c9b10"}
API_0 = {"namespace": "payments", "name": "api-0", "uid": "0b8e4f7a-91c2-4b6e-8d3a-5e2f1c7a9d44"}

ALLOCATION_WEB_1 = {
    "address": "10.0.1.43",
    "interface_id": "eni-0b2e4d6f8a1c3e5b7",
    "block": "10.0.1.43/32",
    "network": "vpc-ipam",
    "container_id": "abc123def4567890aa11bb22cc33dd44ee55ff66",
    "ifname": "eth0",
    "pod": WEB_1,
    "assigned_at": "2026-11-22T10:00:07.250Z",
    "recovered": False,
}

ALLOCATIONS: dict[str, Any] = {
    "allocations": [
        ALLOCATION_WEB_1,
        {
            "address": "10.0.1.5",
            "interface_id": "eni-0a1f3c5e7d9b2a4c6",
            "block": "10.0.1.5/32",
            "network": "vpc-ipam",
            "container_id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc",
            "ifname": "eth0",
            "pod": API_0,
            "assigned_at": "2026-11-21T22:41:00.000Z",
            "recovered": False,
        },
        {
            "address": "10.0.1.6",
            "interface_id": "eni-0a1f3c5e7d9b2a4c6",
            "block": "10.0.1.6/32",
            "network": "vpc-ipam",
            "container_id": "55aa66bb77cc88dd99ee00ff11aa22bb33cc44dd",
            "ifname": "eth0",
            "pod": {"namespace": "", "name": "", "uid": ""},
            "assigned_at": "2026-11-22T10:00:01.000Z",
            "recovered": True,
        },
    ],
    "cooling": [{"address": "10.0.1.44", "until": "2026-11-22T10:13:05.000Z"}],
}

WHY_WIRED: dict[str, Any] = {
    "query": "default/web-1",
    "verdict": "wired",
    "summary": "default/web-1 has 10.0.1.43 from eni-0b2e4d6f8a1c3e5b7 (10.0.1.43/32), "
    "wired on veth vpc1a2b3c4d5e",
    "allocation": ALLOCATION_WEB_1,
    "wiring": {
        "veth": "vpc1a2b3c4d5e",
        "route": True,
        "rule_to": True,
        "rule_from": True,
        "table": 2,
        "problems": [],
    },
    "requests": [
        {
            "at": "2026-11-22T10:00:07.238Z",
            "op": "add",
            "network": "vpc-ipam",
            "container_id": ALLOCATION_WEB_1["container_id"],
            "ifname": "eth0",
            "pod": WEB_1,
            "code": 0,
            "message": "",
            "seconds": 0.012,
            "address": "10.0.1.43",
        }
    ],
    "pending_in_kubernetes": False,
    "details": [
        "the checkpoint gives 10.0.1.43 to default/web-1 since 10:00:07",
        "route 10.0.1.43 dev vpc1a2b3c4d5e, rule 512 and rule 1536 (table 2) present",
    ],
}

WHY_REFUSED: dict[str, Any] = {
    "query": "batch/job-7",
    "verdict": "refused",
    "summary": "batch/job-7 has no address: its last ADD was refused (try again later)",
    "allocation": None,
    "wiring": None,
    "requests": [
        {
            "at": "2026-11-22T10:12:31.002Z",
            "op": "add",
            "network": "vpc-ipam",
            "container_id": "77ee88ff99aa00bb11cc22dd33ee44ff55aa66bb",
            "ifname": "eth0",
            "pod": {"namespace": "batch", "name": "job-7", "uid": "1d2e3f40-5a6b-4c7d-8e9f"},
            "code": 11,
            "message": "no free address: 29 of 29 pods (max pods)",
            "seconds": 0.003,
            "address": None,
        }
    ],
    "pending_in_kubernetes": True,
    "details": [
        "the daemon answered code 11: no free address: 29 of 29 pods (max pods)",
        "the node is at max pods (29); no interface can be added",
    ],
}

WHY_AMBIGUOUS = {
    "error": "pod name 'web-1' is in 2 namespaces; ask for namespace/name",
    "candidates": ["default/web-1", "staging/web-1"],
}

DOCTOR: dict[str, Any] = {
    "checked_at": "2026-11-22T10:13:20.004Z",
    "cloud_checked_at": "2026-11-22T10:13:12.900Z",
    "dataplane": "kernel",
    "checked": {"allocations": 12, "veths": 12, "cloud_interfaces": 3, "cloud_blocks": 27},
    "findings": [
        {
            "id": "3f9a0c1e22b7",
            "kind": "allocation-without-veth",
            "safe": True,
            "address": "10.0.1.23",
            "subject": "vpc-ipam/abc123/eth0 (default/web-1)",
            "detail": "the checkpoint gives 10.0.1.23 to default/web-1 but no veth of ours "
            "carries it",
            "repair": "release 10.0.1.23 (it cools down before reuse)",
        },
        {
            "id": "a81d5e0c9f42",
            "kind": "missing-rule",
            "safe": True,
            "address": "10.0.1.44",
            "subject": "vpc-ipam/9f8e7d6c5b4a/eth0 (payments/api-0)",
            "detail": "10.0.1.44 is wired on vpcd41e0a9b7c2 but has no rule 512",
            "repair": "add the rule",
        },
        {
            "id": "c07b2d9e5a13",
            "kind": "duplicate-address",
            "safe": False,
            "address": "10.0.1.7",
            "subject": "default/web-2, default/web-3",
            "detail": "10.0.1.7 is claimed by two allocations",
            "repair": "delete one of the pods",
        },
    ],
}

DOCTOR_CLEAN: dict[str, Any] = {**DOCTOR, "findings": []}

DOCTOR_SAFE_ONLY: dict[str, Any] = {**DOCTOR, "findings": DOCTOR["findings"][:2]}


def repaired(findings_left: int) -> dict[str, Any]:
    """The repair op's answer after both safe findings of DOCTOR were repaired."""
    return {
        "repaired": [
            {
                "id": "3f9a0c1e22b7",
                "kind": "allocation-without-veth",
                "action": "released 10.0.1.23",
            },
            {"id": "a81d5e0c9f42", "kind": "missing-rule", "action": "added rule 512 to 10.0.1.44"},
        ],
        "skipped": [],
        "findings_left": findings_left,
    }
