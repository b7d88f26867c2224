"""Checks across variables: errors join the aggregated InvalidConfig, the rest are warnings.

Checks see the effective value of every variable that parsed (defaults included) and the raw
environment, to tell "set on purpose" from "left at its default". A check whose inputs did
not parse is skipped: the parse error already names the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from config.errors import ConfigWarning, Problem
from config.table import BY_NAME, CNI_TIMEOUT_MAX
from config.values import BindAddress, Provider

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
EVERY_ADDRESS_HOSTS = frozenset({"", "0.0.0.0", "::"})


class _Context:
    """Effective values by variable name, and which ones the environment sets."""

    def __init__(self, values: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.values = values
        self.env = environ
        self.problems: list[Problem] = []
        self.warnings: list[ConfigWarning] = []

    def has(self, *names: str) -> bool:
        return all(name in self.values for name in names)

    def explicit(self, name: str) -> bool:
        return self.env.get(name, "") != ""

    def error(self, variable: str, message: str) -> None:
        self.problems.append(Problem(variable, message))

    def warn(self, variable: str, message: str) -> None:
        self.warnings.append(ConfigWarning(variable, message))


def _gce_needs_range(c: _Context) -> None:
    if c.has("VPC_IPAM_PROVIDER", "GCE_POD_RANGE_NAME") and (
        c.values["VPC_IPAM_PROVIDER"] is Provider.GCE and not c.values["GCE_POD_RANGE_NAME"]
    ):
        c.error(
            "GCE_POD_RANGE_NAME",
            "GCE_POD_RANGE_NAME is unset: required when VPC_IPAM_PROVIDER=gce; expected the "
            "name of the node subnetwork's secondary range for pods, e.g. pods",
        )


def _block_mode_needs_target(c: _Context) -> None:
    targets = ("WARM_PREFIX_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET")
    if not c.has("VPC_IPAM_PROVIDER", *targets) or any(c.values[t] > 0 for t in targets):
        return
    if c.values["VPC_IPAM_PROVIDER"] is Provider.GCE:
        why = "with VPC_IPAM_PROVIDER=gce (alias blocks)"
    elif c.values.get("ENABLE_PREFIX_DELEGATION"):
        why = "with ENABLE_PREFIX_DELEGATION=true (aws-node refuses this too)"
    else:
        return
    c.error(
        "WARM_PREFIX_TARGET",
        f"WARM_PREFIX_TARGET, WARM_IP_TARGET and MINIMUM_IP_TARGET are all 0 {why}: "
        "expected one of them > 0, e.g. WARM_PREFIX_TARGET=1",
    )


def _cni_timeout_after_add_wait(c: _Context) -> None:
    timeout, wait = "VPC_IPAM_CNI_TIMEOUT", "VPC_IPAM_ADD_WAIT"
    if not c.has(timeout, wait) or c.values[timeout] > c.values[wait]:
        return
    render = BY_NAME[timeout].parser.render
    seconds, waited = c.values[timeout], c.values[wait]
    culprit = wait if c.explicit(wait) and not c.explicit(timeout) else timeout
    if waited < CNI_TIMEOUT_MAX:
        example = f"{timeout}={render(min(waited * 2, CNI_TIMEOUT_MAX))}"
    else:
        example = f"{wait}={render(seconds / 2)}"
    c.error(
        culprit,
        f"{timeout}={render(seconds)} is not more than {wait}={render(waited)}: the plugin "
        f'would give up before the daemon answers "try again later"; expected {timeout} > '
        f"{wait}, e.g. {example}",
    )


def _ignored_targets(c: _Context) -> None:
    if not c.has("WARM_IP_TARGET", "MINIMUM_IP_TARGET", "WARM_PREFIX_TARGET", "WARM_ENI_TARGET"):
        return
    ip_targets = c.values["WARM_IP_TARGET"] > 0 or c.values["MINIMUM_IP_TARGET"] > 0
    eni = BY_NAME["WARM_ENI_TARGET"]
    if ip_targets and c.explicit(eni.name) and c.values[eni.name] != eni.default:
        c.warn(eni.name, "ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set")
    if c.values["WARM_PREFIX_TARGET"] > 0 and c.has("ENABLE_PREFIX_DELEGATION"):
        aws = c.values.get("VPC_IPAM_PROVIDER") is Provider.AWS
        if aws and not c.values["ENABLE_PREFIX_DELEGATION"]:
            c.warn("WARM_PREFIX_TARGET", "has no effect unless ENABLE_PREFIX_DELEGATION=true")
        elif ip_targets:
            c.warn("WARM_PREFIX_TARGET", "overridden by WARM_IP_TARGET / MINIMUM_IP_TARGET")
    if c.values["MINIMUM_IP_TARGET"] > 0 and c.values["WARM_IP_TARGET"] == 0:
        c.warn(
            "MINIMUM_IP_TARGET",
            "set without WARM_IP_TARGET: the pool never grows past MINIMUM_IP_TARGET "
            "addresses; set WARM_IP_TARGET > 0 as well",
        )


def _max_eni_no_cap(c: _Context) -> None:
    if c.explicit("MAX_ENI") and c.has("MAX_ENI") and c.values["MAX_ENI"] is None:
        c.warn("MAX_ENI", f"{c.env['MAX_ENI']!r} (0 or less) means no cap: the instance max")


def _mtu(c: _Context) -> None:
    if c.has("POD_MTU", "AWS_VPC_ENI_MTU") and c.values["POD_MTU"] > c.values["AWS_VPC_ENI_MTU"]:
        c.warn(
            "POD_MTU",
            f"{c.values['POD_MTU']} exceeds AWS_VPC_ENI_MTU={c.values['AWS_VPC_ENI_MTU']}: "
            "large pod packets leaving the node will be fragmented or dropped",
        )


def _no_effect(c: _Context) -> None:
    pairs = (
        ("AWS_VPC_K8S_CNI_EXTERNALSNAT", True, "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"),
        ("AWS_VPC_K8S_CNI_EXTERNALSNAT", True, "AWS_VPC_K8S_CNI_RANDOMIZESNAT"),
        ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", False, "ENI_CONFIG_LABEL_DEF"),
        ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", False, "ENI_CONFIG_ANNOTATION_DEF"),
        ("DISABLE_METRICS", True, "VPC_IPAM_METRICS_BIND_ADDRESS"),
        ("DISABLE_INTROSPECTION", True, "INTROSPECTION_BIND_ADDRESS"),
        ("VPC_IPAM_INSTALL_CNI", False, "VPC_IPAM_CNI_BIN_DIR"),
        ("VPC_IPAM_INSTALL_CNI", False, "VPC_IPAM_CNI_CONF_DIR"),
        ("VPC_IPAM_INSTALL_CNI", False, "VPC_IPAM_CNI_CONFLIST_NAME"),
    )
    for switch, value, name in pairs:
        if c.explicit(name) and c.has(switch) and c.values[switch] is value:
            setting = "true" if value else "false"
            c.warn(name, f"has no effect with {switch}={setting}")


def _kubernetes_reachable(c: _Context) -> None:
    node = c.values.get("MY_NODE_NAME")
    custom = c.values.get("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG") and (
        c.values.get("VPC_IPAM_PROVIDER") is Provider.AWS
    )
    if custom and not node and c.has("MY_NODE_NAME"):
        c.error(
            "MY_NODE_NAME",
            "MY_NODE_NAME is unset: required when AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true (the "
            "ENIConfig is chosen by the node's labels); expected this node's name, e.g. from "
            "the downward API (fieldPath: spec.nodeName)",
        )
    where = ("VPC_IPAM_KUBE_API_SERVER", "KUBERNETES_SERVICE_HOST")
    if node and c.has(*where) and not any(c.values[name] for name in where):
        c.error(
            "VPC_IPAM_KUBE_API_SERVER",
            f"MY_NODE_NAME={node} turns the Kubernetes layer on, but no API server is known: "
            "expected VPC_IPAM_KUBE_API_SERVER (e.g. https://10.100.0.1:443), or "
            "KUBERNETES_SERVICE_HOST as the kubelet sets it in every pod",
        )
    if not node:
        for name in ("VPC_IPAM_KUBE_API_SERVER", "VPC_IPAM_POD_GONE_GRACE"):
            if c.explicit(name):
                c.warn(name, "has no effect without MY_NODE_NAME (the Kubernetes layer is off)")


def _other_provider(c: _Context) -> None:
    provider = c.values.get("VPC_IPAM_PROVIDER")
    if provider is None:
        return
    for name, variable in BY_NAME.items():
        if variable.provider not in (None, provider) and c.explicit(name):
            c.warn(name, f"has no effect with VPC_IPAM_PROVIDER={provider}")


def _exposed_introspection(c: _Context) -> None:
    name = "INTROSPECTION_BIND_ADDRESS"
    address = c.values.get(name)
    if (
        not isinstance(address, BindAddress)
        or address.is_unix
        or c.values.get("DISABLE_INTROSPECTION")
    ):
        return
    if address.host not in LOOPBACK_HOSTS:
        c.warn(name, f"{address} is reachable from other hosts; introspection shows node state")


def _exposed_metrics(c: _Context) -> None:
    name = "VPC_IPAM_METRICS_BIND_ADDRESS"
    address = c.values.get(name)
    if not isinstance(address, BindAddress) or c.values.get("DISABLE_METRICS"):
        return
    if address.host in EVERY_ADDRESS_HOSTS:
        c.warn(
            name,
            f"{address} listens on every address, so /metrics is reachable from other hosts; "
            "metrics carry no secrets but reveal node state (pods, addresses, interfaces): "
            f"bind the node's own IP for Prometheus, e.g. {name}=10.0.1.23:{address.port}",
        )


CHECKS: tuple[Callable[[_Context], None], ...] = (
    _gce_needs_range,
    _block_mode_needs_target,
    _cni_timeout_after_add_wait,
    _ignored_targets,
    _max_eni_no_cap,
    _mtu,
    _no_effect,
    _other_provider,
    _exposed_introspection,
    _exposed_metrics,
    _kubernetes_reachable,
)


def cross_check(
    values: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[list[Problem], list[ConfigWarning]]:
    """Run every cross-variable check; returns (problems, warnings)."""
    context = _Context(values, environ)
    for check in CHECKS:
        check(context)
    return context.problems, context.warnings
