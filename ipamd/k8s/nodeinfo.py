"""Readings of this node's Node object and of the ENIConfig it names.

- Max pods: ``status.capacity.pods``, what the kubelet was told it may run here. It caps the
  pool: addresses beyond it could never be used.
- Custom networking: the ENIConfig is named by the node's annotation
  (ENI_CONFIG_ANNOTATION_DEF), else its label (ENI_CONFIG_LABEL_DEF, often the zone label so
  one ENIConfig per zone serves every node), else ``default``, as aws-node chooses it. Its
  ``spec.subnet`` and ``spec.securityGroups`` place the secondary ENIs; no security groups
  means the primary ENI's, as in aws-node.
"""

from __future__ import annotations

from typing import Any

from providers.models import InterfacePlacement

Obj = dict[str, Any]

DEFAULT_ENICONFIG = "default"


class BadENIConfig(ValueError):
    """The ENIConfig exists but cannot place an interface (no subnet, malformed groups)."""


def max_pods(node: Obj) -> int | None:
    """The node's pod capacity, or None if it does not say (yet) or says nonsense."""
    raw = ((node.get("status") or {}).get("capacity") or {}).get("pods")
    try:
        value = int(str(raw))
    except ValueError:
        return None
    return value if value >= 0 else None


def eniconfig_name(node: Obj, *, label: str, annotation: str) -> str:
    metadata = node.get("metadata") or {}
    for source, key in ((metadata.get("annotations"), annotation), (metadata.get("labels"), label)):
        value = (source or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return DEFAULT_ENICONFIG


def node_uid(node: Obj) -> str:
    return str((node.get("metadata") or {}).get("uid") or "")


def placement_of(eniconfig: Obj) -> InterfacePlacement:
    name = str((eniconfig.get("metadata") or {}).get("name") or "?")
    spec = eniconfig.get("spec")
    if not isinstance(spec, dict):
        raise BadENIConfig(f"ENIConfig {name} has no spec")
    subnet = spec.get("subnet")
    if not isinstance(subnet, str) or not subnet:
        raise BadENIConfig(f"ENIConfig {name} has no spec.subnet")
    groups = spec.get("securityGroups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise BadENIConfig(f"ENIConfig {name}: spec.securityGroups must be a list of ids")
    return InterfacePlacement(
        subnet_id=subnet, security_groups=tuple(groups) or None, source=f"ENIConfig {name}"
    )
