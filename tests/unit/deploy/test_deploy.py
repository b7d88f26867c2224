"""deploy/: the manifests parse, and say what the code needs, no more and no less.

The ConfigMap is generated from the settings table and the IAM policy is checked against
the EC2 actions the AWS provider calls, so neither can drift from the code.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from config.table import BY_NAME
from ipamd.ctl import HEALTH_TIMEOUT
from ipamd.k8s.api import ENICONFIG_GROUP
from tests.unit.deploy import configmap_gen

# PyYAML comes with `kubernetes` but without type stubs (types-PyYAML is not a dependency);
# imported by name so mypy neither misses the stubs nor flags an ignore once they exist.
yaml: Any = importlib.import_module("yaml")

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
YAMLS = sorted(DEPLOY.glob("*.yaml"))
PROVIDER = ROOT / "providers" / "aws" / "provider.py"
KUBERNETES_PROVIDED = {"MY_NODE_NAME"}  # from the downward API (spec.nodeName)
"""Variables the DaemonSet takes from Kubernetes rather than a literal value."""


def documents(name: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
        if doc is not None:
            assert isinstance(doc, dict), f"{name}: a document that is not a mapping"
            docs.append(doc)
    return docs


def one(name: str, kind: str) -> dict[str, Any]:
    [doc] = [d for d in documents(name) if d["kind"] == kind]
    return doc


def pod_spec() -> dict[str, Any]:
    spec = one("daemonset.yaml", "DaemonSet")["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def container() -> dict[str, Any]:
    [c] = pod_spec()["containers"]
    assert isinstance(c, dict)
    return c


def init_container() -> dict[str, Any]:
    [c] = pod_spec()["initContainers"]
    assert isinstance(c, dict)
    return c


INIT_PRIVILEGED = ("daemonset.yaml", "vpc-ipam-init")
"""The one privileged container: /proc/sys is read-only in any other (ipamd/prepare.py)."""


# --- every manifest --------------------------------------------------------------------


def test_the_manifests_are_there():
    names = {p.name for p in YAMLS}
    assert {"daemonset.yaml", "rbac.yaml", "configmap.yaml"} <= names


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_every_yaml_parses_into_kubernetes_objects(path: Path):
    docs = documents(path.name)
    assert docs
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys()
        assert doc["metadata"]["name"]


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_nothing_is_privileged_but_the_init_container(path: Path):
    privileged: list[str] = []

    def walk(node: object, name: str | None) -> None:
        if isinstance(node, dict):
            name = node.get("name", name) if "image" in node else name
            if node.get("privileged") is True:
                privileged.append(str(name))
            assert node.get("allowPrivilegeEscalation") is not True
            for child in node.values():
                walk(child, name)
        elif isinstance(node, list):
            for child in node:
                walk(child, name)

    walk(documents(path.name), None)
    expected = [INIT_PRIVILEGED[1]] if path.name == INIT_PRIVILEGED[0] else []
    assert privileged == expected
    assert len(re.findall(r"privileged:\s*true", path.read_text())) == len(expected)


# --- the DaemonSet ---------------------------------------------------------------------


def test_daemonset_runs_vpc_ipamd_on_every_node_first():
    ds = one("daemonset.yaml", "DaemonSet")
    assert ds["metadata"] == {**ds["metadata"], "name": "vpc-ipam", "namespace": "kube-system"}
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec.get("hostPID", False) is False
    assert spec["priorityClassName"] == "system-node-critical"
    assert {"operator": "Exists"} in spec["tolerations"]
    assert spec["serviceAccountName"] == one("rbac.yaml", "ServiceAccount")["metadata"]["name"]
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "10%"},
    }
    selector = ds["spec"]["selector"]["matchLabels"]
    assert selector.items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert container()["name"] == "vpc-ipamd"
    assert container()["command"] == ["vpc-ipamd"]


EXPANSION_ONLY = {"HOST_IP": "10.0.1.23"}
"""Downward-API values the manifest only expands into a setting (``$(HOST_IP):61678``),
with an example of what the kubelet puts there."""


def test_daemonset_env_names_are_known_settings():
    env = container()["env"]
    for item in env:
        if item["name"] in EXPANSION_ONLY:
            assert any(f"$({item['name']})" in str(other.get("value")) for other in env)
            continue
        assert item["name"] in BY_NAME, f"{item['name']} is not a setting of config/table.py"
        if "valueFrom" in item:
            assert item["name"] in KUBERNETES_PROVIDED
        else:
            value = str(item["value"])
            for name, example in EXPANSION_ONLY.items():
                value = value.replace(f"$({name})", example)
            BY_NAME[item["name"]].parser.parse(value)  # a valid value
    by_name = {item["name"]: item for item in env}
    assert by_name["VPC_IPAM_METRICS_BIND_ADDRESS"]["value"] == "$(HOST_IP):61678"
    assert by_name["VPC_IPAM_INSTALL_CNI"]["value"] == "true"
    assert by_name["MY_NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}


def test_daemonset_takes_the_configmap_whole():
    configmap = one("configmap.yaml", "ConfigMap")
    assert container()["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
    overlap = {item["name"] for item in container()["env"]} & configmap["data"].keys()
    assert not overlap, "env would silently override the ConfigMap"


def test_capabilities_are_exactly_what_the_datapath_needs():
    context = container()["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "SYS_ADMIN"]}
    assert context.get("privileged", False) is False
    text = (DEPLOY / "daemonset.yaml").read_text()
    assert "setns" in text and "CAP_SYS_ADMIN" in text  # the reason is written down


def test_init_container_prepares_the_node_with_the_daemons_image_and_settings():
    init = init_container()
    assert init["name"] == "vpc-ipam-init"
    assert init["command"] == ["vpc-ipamd", "--prepare-node"]
    assert init["image"] == container()["image"]
    assert init["envFrom"] == container()["envFrom"]
    # the daemon's switch, so both agree on whether and where the plugin is installed
    # the daemon's own switch, and the node name its settings are validated with
    assert [e["name"] for e in init["env"]] == ["VPC_IPAM_INSTALL_CNI", "MY_NODE_NAME"]
    assert all(entry in container()["env"] for entry in init["env"])
    assert pod_spec()["hostNetwork"] is True  # its sysctls are the node's


def test_init_container_is_privileged_and_says_why():
    context = init_container()["securityContext"]
    assert context["privileged"] is True
    assert context["readOnlyRootFilesystem"] is True
    lines = (DEPLOY / "daemonset.yaml").read_text().splitlines()
    [at] = [i for i, line in enumerate(lines) if re.search(r"privileged:\s*true", line)]
    comment = " ".join(line.strip() for line in lines[at - 4 : at] if line.strip().startswith("#"))
    assert "/proc/sys" in comment and "read-only" in comment


def test_init_container_mounts_only_the_cni_bin_dir():
    spec = pod_spec()
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    assert init_container()["volumeMounts"] == [{"name": "cni-bin", "mountPath": host["cni-bin"]}]
    assert host["cni-bin"] == BY_NAME["VPC_IPAM_CNI_BIN_DIR"].render_default()


def test_the_daemon_container_stays_unprivileged_with_the_init_step_in_place():
    context = container()["securityContext"]
    assert context["privileged"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "--prepare-node" not in container()["command"]


def test_the_manifest_no_longer_calls_the_sysctls_a_known_gap():
    text = (DEPLOY / "daemonset.yaml").read_text()
    assert "Known gap" not in text
    assert "vpc-ipam-init" in text.split("apiVersion:")[0]  # the header says who sets them


def test_probes_ask_the_daemon_through_vpc_ipamctl_health():
    for probe in ("readinessProbe", "livenessProbe"):
        spec = container()[probe]
        assert spec["exec"]["command"] == ["vpc-ipamctl", "health"]
        # vpc-ipamctl's own wait must end before the kubelet gives up on the probe
        assert spec["timeoutSeconds"] > HEALTH_TIMEOUT


def test_resources_fit_the_design_budget():
    resources = container()["resources"]
    assert resources["requests"] == {"cpu": "25m", "memory": "80Mi"}
    assert resources["limits"]["memory"]


def test_host_paths_cover_what_the_daemon_and_plugin_use():
    spec = one("daemonset.yaml", "DaemonSet")["spec"]["template"]["spec"]
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    mounts = {m["name"]: m for m in container()["volumeMounts"]}
    for name, path in host.items():
        assert mounts[name]["mountPath"] == path, "mounted where the host has it"
    defaults = {name: variable.render_default() for name, variable in BY_NAME.items()}
    needed = {
        "/opt/cni/bin": defaults["VPC_IPAM_CNI_BIN_DIR"],
        "/etc/cni/net.d": defaults["VPC_IPAM_CNI_CONF_DIR"],
        "/run/vpc-ipam": str(Path(defaults["VPC_IPAM_SOCKET_PATH"]).parent),
        "/var/lib/vpc-ipam": str(Path(defaults["VPC_IPAM_CHECKPOINT_PATH"]).parent),
        "/var/log/vpc-ipam": str(Path(defaults["AWS_VPC_K8S_PLUGIN_LOG_FILE"]).parent),
    }
    for path, default in needed.items():
        assert path == default
        assert path in host.values()
    assert str(Path(defaults["VPC_IPAM_SPOOL_DIR"])).startswith("/var/lib/vpc-ipam/")
    [netns] = [name for name, path in host.items() if path == "/run/netns"]
    assert mounts[netns]["mountPropagation"] == "HostToContainer"
    assert "/proc" not in host.values()


# --- RBAC ------------------------------------------------------------------------------


def calls_the_daemon_makes() -> set[tuple[str, str, str]]:
    """(API group, resource, verb) of every request in ipamd/k8s/api.py, the one module that
    talks to the API server: ``self._call("verb", "resource", ...)`` and
    ``self._watch("resource", ...)``."""
    source = (DEPLOY.parent / "ipamd" / "k8s" / "api.py").read_text()
    calls = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        literals = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if node.func.attr == "_call" and len(literals) >= 2:
            verb, resource = literals[:2]
        elif node.func.attr == "_watch" and literals:
            verb, resource = "watch", literals[0]
        else:
            continue
        group = ENICONFIG_GROUP if resource == "eniconfigs" else ""
        calls.add((group, str(resource), str(verb)))
    return calls


def test_cluster_role_grants_exactly_what_the_daemon_uses():
    role = one("rbac.yaml", "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == calls_the_daemon_makes()
    assert ("", "pods", "list") in granted  # the reading of api.py found the calls
    assert not any("*" in part for grant in granted for part in grant)
    assert all(set(rule) == {"apiGroups", "resources", "verbs"} for rule in role["rules"])


def test_every_rule_says_what_uses_it():
    lines = (DEPLOY / "rbac.yaml").read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert len(starts) == len(one("rbac.yaml", "ClusterRole")["rules"])
    for i in starts:
        assert lines[i - 1].strip().startswith("#"), f"no comment above: {lines[i]}"


def test_the_binding_gives_the_role_to_the_daemons_account():
    binding = one("rbac.yaml", "ClusterRoleBinding")
    account = one("rbac.yaml", "ServiceAccount")["metadata"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one("rbac.yaml", "ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


# --- the ConfigMap ---------------------------------------------------------------------


def test_configmap_is_the_generators_output():
    assert (DEPLOY / "configmap.yaml").read_text() == configmap_gen.render(), (
        f"deploy/configmap.yaml is stale; regenerate: {configmap_gen.REGENERATE}"
    )


def test_configmap_holds_every_warm_pool_and_datapath_variable_at_its_default():
    data = one("configmap.yaml", "ConfigMap")["data"]
    expected = [v.name for v in BY_NAME.values() if v.section in {"warm_pool", "datapath"}]
    assert list(data) == expected
    assert all(isinstance(value, str) for value in data.values())
    # the ConfigMap alone (on the default provider) gives exactly the default settings
    assert load_settings(data) == load_settings({})


def test_configmap_comments_each_variable():
    lines = (DEPLOY / "configmap.yaml").read_text().splitlines()
    for name in one("configmap.yaml", "ConfigMap")["data"]:
        [i] = [i for i, line in enumerate(lines) if line.startswith(f"  {name}:")]
        assert lines[i - 1].startswith("  # ") and len(lines[i - 1]) > len("  # ")
    assert configmap_gen.REGENERATE in lines[1]


# --- the IAM policy --------------------------------------------------------------------


def provider_actions() -> set[str]:
    """Every action name the AWS provider passes to ``self._call("...", ...)``."""
    actions = set()
    for node in ast.walk(ast.parse(PROVIDER.read_text(), str(PROVIDER))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_call"
            and node.args
        ):
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"line {node.lineno}: _call's action must be a literal for this test to see it"
            )
            actions.add(first.value)
    return actions


def ec2_methods() -> set[str]:
    """Every boto3 method called on ``self._ec2`` anywhere in providers/aws/, CamelCased."""
    methods = set()
    for path in sorted(PROVIDER.parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "_ec2"
            ):
                methods.add("".join(part.title() for part in node.attr.split("_")))
    return methods


def test_iam_policy_names_exactly_the_ec2_actions_the_provider_calls():
    policy = json.loads((DEPLOY / "iam-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    actions = statement["Action"]
    assert len(actions) == len(set(actions)) and actions == sorted(actions)
    called = provider_actions()
    assert len(called) >= 10, "the ast walk found the provider's calls"
    assert set(actions) == {f"ec2:{action}" for action in called}


def test_every_ec2_call_goes_through_call_with_its_own_action_name():
    # a boto3 method called outside _call, or under another action's name, would need a
    # permission the policy does not list
    assert ec2_methods() == provider_actions()
