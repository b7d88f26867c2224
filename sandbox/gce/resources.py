"""The model's resources as Compute Engine's REST API writes them: camelCase JSON with
``kind``, string ids (uint64 in JSON are strings), full ``selfLink``/resource URLs, and
empty lists left out, so ``compute_v1`` parses them into its own types unchanged.
"""

from __future__ import annotations

from typing import Any

from sandbox.gce.model import (
    NIC,
    PRIMARY,
    Alias,
    InstanceState,
    Model,
    Operation,
    Subnetwork,
    fingerprint,
)

USER = "sandbox@vpc-ipam.invalid"


def alias_json(alias: Alias) -> dict[str, str]:
    found = {"ipCidrRange": str(alias.cidr)}
    if alias.range_name != PRIMARY:
        found["subnetworkRangeName"] = alias.range_name
    return found


def instance_json(model: Model, instance: InstanceState) -> dict[str, Any]:
    subnet = model.subnetworks[instance.subnetwork]
    zone_url = model.zone_url(instance.zone)
    nic: dict[str, Any] = {
        "kind": "compute#networkInterface",
        "network": model.network_url(instance.network),
        "subnetwork": model.subnetwork_url(subnet),
        "networkIP": str(instance.network_ip),
        "name": NIC,
        "fingerprint": instance.nic_fingerprint,
        "stackType": "IPV4_ONLY",
    }
    if instance.aliases:
        nic["aliasIpRanges"] = [alias_json(a) for a in instance.aliases]
    return {
        "kind": "compute#instance",
        "id": str(instance.id),
        "creationTimestamp": instance.created,
        "name": instance.name,
        "tags": {"fingerprint": fingerprint(instance.id, "tags")},
        "machineType": f"{zone_url}/machineTypes/{instance.machine_type}",
        "status": "RUNNING",
        "zone": zone_url,
        "canIpForward": False,
        "networkInterfaces": [nic],
        "metadata": {"kind": "compute#metadata", "fingerprint": fingerprint(instance.id, "md")},
        "selfLink": model.instance_url(instance),
        "scheduling": {
            "onHostMaintenance": "MIGRATE",
            "automaticRestart": True,
            "preemptible": False,
        },
        "cpuPlatform": "Intel Broadwell",
        "labelFingerprint": fingerprint(instance.id, "labels"),
        "startRestricted": False,
        "deletionProtection": False,
        "fingerprint": fingerprint(instance.id, "instance", instance.generation),
        "lastStartTimestamp": instance.created,
    }


def subnetwork_json(model: Model, subnet: Subnetwork) -> dict[str, Any]:
    found: dict[str, Any] = {
        "kind": "compute#subnetwork",
        "id": str(subnet.id),
        "creationTimestamp": subnet.created,
        "name": subnet.name,
        "network": model.network_url(subnet.network),
        "ipCidrRange": str(subnet.primary),
        "gatewayAddress": str(subnet.gateway),
        "region": model.region_url(subnet.region),
        "selfLink": model.subnetwork_url(subnet),
        "privateIpGoogleAccess": False,
        "fingerprint": fingerprint(subnet.id, "subnetwork"),
        "purpose": "PRIVATE",
        "stackType": "IPV4_ONLY",
    }
    if subnet.secondary:
        found["secondaryIpRanges"] = [
            {"rangeName": name, "ipCidrRange": str(cidr)} for name, cidr in subnet.secondary.items()
        ]
    return found


def operation_json(model: Model, op: Operation) -> dict[str, Any]:
    instance = model.instances[op.instance]
    zone_url = model.zone_url(op.zone)
    found: dict[str, Any] = {
        "kind": "compute#operation",
        "id": str(op.id),
        "name": op.name,
        "zone": zone_url,
        "operationType": "updateNetworkInterface",
        "targetLink": model.instance_url(instance),
        "targetId": str(instance.id),
        "status": op.status,
        "user": USER,
        "progress": 100 if op.status == "DONE" else 0,
        "insertTime": op.inserted,
        "startTime": op.inserted,
        "selfLink": f"{zone_url}/operations/{op.name}",
    }
    if op.ended is not None:
        found["endTime"] = op.ended
    if op.status == "DONE" and op.error is not None:
        found["error"] = {"errors": [{"code": op.error.code, "message": op.error.message}]}
        found["httpErrorStatusCode"] = op.error.http_status
        found["httpErrorMessage"] = _HTTP_MESSAGES.get(op.error.http_status, "ERROR")
    return found


_HTTP_MESSAGES = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}
