"""The tags and description that mark an ENI as created by vpc-ipam for a node.

The node, creation-time and cluster keys are aws-node's, so operators' tooling and IAM
conditions keep working after a switch; the owner key is ours, and the leak sweep only ever
deletes ENIs that carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

NODE_TAG = "node.k8s.amazonaws.com/instance_id"
CREATED_AT_TAG = "node.k8s.amazonaws.com/createdAt"
CLUSTER_TAG = "cluster.k8s.amazonaws.com/name"
OWNER_TAG = "vpc-ipam.io/owner"
OWNER = "vpc-ipam"
DESCRIPTION_PREFIX = "vpc-ipam-"


def description(instance_id: str) -> str:
    return f"{DESCRIPTION_PREFIX}{instance_id}"


def created_at(epoch_seconds: float) -> str:
    """RFC 3339 in UTC, as aws-node writes it."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_created_at(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def interface_tags(
    instance_id: str,
    now: float,
    cluster_name: str = "",
    additional: Sequence[tuple[str, str]] = (),
) -> dict[str, str]:
    tags = dict(additional)
    tags.update({NODE_TAG: instance_id, CREATED_AT_TAG: created_at(now), OWNER_TAG: OWNER})
    if cluster_name:
        tags[CLUSTER_TAG] = cluster_name
    return tags


def is_ours(tags: Mapping[str, str]) -> bool:
    return tags.get(OWNER_TAG) == OWNER and NODE_TAG in tags
