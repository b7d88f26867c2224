"""Variables that look like settings but are not ours: typos and aws-node-only settings.

A name is *ours-shaped* when it starts (in any case) with one of :data:`OUR_SHAPES`. Such a
name that the table does not know is most likely a typo, and is reported with the closest
known name (the one name it is the start of, else difflib's closest). aws-node settings
this project does not implement are reported only when set to something other than
aws-node's default, so that the stock aws-node manifest, which sets many of them to their
defaults, is not drowned in warnings. Well-known names of other software that share our
prefixes are left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from config.parsers import GO_FALSE, GO_TRUE

OUR_SHAPES = (
    "WARM_",
    "MINIMUM_",
    "MAX_ENI",
    "IP_COOLDOWN",
    "AWS_VPC_",
    "ENABLE_",
    "DISABLE_",
    "VPC_IPAM_",
    "GCE_",
    "POD_MTU",
    "ENI_CONFIG_",
    "INTROSPECTION_",
    "ADDITIONAL_ENI",
    "MANAGE_UNTAGGED",
    "CLUSTER_NAME",
    "MY_NODE",
)
"""Prefixes of names that are, or look like, settings of this project."""

SDK_STANDARD = frozenset(
    {
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EC2",
        "AWS_REGION",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
    }
)
"""Names of the AWS SDKs' shared configuration, and the two the kubelet sets in every pod,
that we read too (Google's ``GCE_METADATA_HOST`` has our shape and is simply in the table).
They are deliberately not ours-shaped: ``AWS_ENDPOINT_URL_S3``, ``KUBERNETES_PORT`` and the
like belong to other tools on the node."""

FOREIGN = frozenset(
    {
        # google-auth and the GCE metadata client read these
        "GCE_METADATA_IP",
        "GCE_METADATA_ROOT",
        "GCE_METADATA_MTLS_MODE",
    }
)
"""Names with our prefixes that belong to other software."""

ANCHOR_ONLY: dict[str, str | None] = {
    "ANNOTATE_POD_IP": "false",
    "AWS_EC2_ENDPOINT": "",
    "AWS_EXTERNAL_SERVICE_CIDRS": "",
    "AWS_MANAGE_ENIS_NON_SCHEDULABLE": "false",
    "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true",
    "AWS_VPC_K8S_CNI_BACKING_STORE": "/var/run/aws-node/ipam.json",
    "AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER": None,
    "AWS_VPC_K8S_EGRESS_V4_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/egress-v4-plugin.log",
    "AWS_VPC_K8S_EGRESS_V6_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/egress-v6-plugin.log",
    "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "debug",
    "CLUSTER_ENDPOINT": "",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING": "false",
    "DISABLE_POD_V6": "false",
    "DISABLE_TCP_EARLY_DEMUX": "false",
    "ENABLE_BANDWIDTH_PLUGIN": "false",
    "ENABLE_IMDS_ONLY_MODE": "false",
    "ENABLE_IPv4": "true",
    "ENABLE_IPv6": "false",
    "ENABLE_MULTI_NIC": "false",
    "ENABLE_NFTABLES": None,
    "ENABLE_POD_ENI": "false",
    "ENABLE_SUBNET_DISCOVERY": "true",
    "ENABLE_V4_EGRESS": "true",
    "ENABLE_V6_EGRESS": "false",
    "HOST_CNI_BIN_PATH": "/host/opt/cni/bin",
    "HOST_CNI_CONFDIR_PATH": "/host/etc/cni/net.d",
    "MY_POD_NAME": None,
    "NETWORK_POLICY_ENFORCING_MODE": "standard",
    "POD_SECURITY_GROUP_ENFORCING_MODE": "strict",
    "VPC_CNI_VERSION": None,
}
"""aws-node settings we do not implement -> aws-node's default (None: never worth a word,
because aws-node ignores it too or it is informational)."""


def is_ours_shaped(name: str) -> bool:
    """True when the name starts, in any case, with one of our prefixes."""
    return name.upper().startswith(OUR_SHAPES)


def _is_anchor_default(value: str, default: str) -> bool:
    if default in ("true", "false") and value in GO_TRUE | GO_FALSE:
        return (value in GO_TRUE) == (default == "true")
    return value.casefold() == default.casefold()


def _closest(name: str, known_names: list[str]) -> str | None:
    """A known name this one is the start of (a truncation), else the most similar one."""
    extensions = [known for known in known_names if known.startswith(name)]
    if len(extensions) == 1:
        return extensions[0]
    matches = difflib.get_close_matches(name, known_names, n=1, cutoff=0.75)
    return matches[0] if matches else None


def unknown_variable_messages(
    environ: Mapping[str, str], known: Iterable[str]
) -> list[tuple[str, str, str | None]]:
    """(name, message, suggestion) for each variable that looks like a setting but is not one.

    The suggestion is the closest known name, or None when nothing is close.
    """
    known_names = sorted(known)
    found: list[tuple[str, str, str | None]] = []
    for name in sorted(environ):
        value = environ[name]
        if name in known_names or name in FOREIGN:
            continue
        if name in ANCHOR_ONLY:
            default = ANCHOR_ONLY[name]
            if default is not None and value and not _is_anchor_default(value, default):
                found.append(
                    (name, "an aws-node setting vpc-ipam does not implement; ignored", None)
                )
            continue
        if not is_ours_shaped(name):
            continue
        suggestion = _closest(name.upper(), known_names)
        message = "not a vpc-ipam setting; ignored"
        if suggestion is not None and suggestion == name.upper():
            message = "not a vpc-ipam setting (names are case-sensitive); ignored"
        found.append((name, message, suggestion))
    return found
