"""Readings of Node, Pod and ENIConfig documents: max pods, the ENIConfig's name and
placement, which pods wait for an address."""

from __future__ import annotations

from typing import Any

import pytest

from ipamd.k8s.nodeinfo import (
    DEFAULT_ENICONFIG,
    BadENIConfig,
    eniconfig_name,
    max_pods,
    node_uid,
    placement_of,
)
from ipamd.k8s.podinfo import PodInfo, pod_info, waiting_for_address
from providers.models import InterfacePlacement

LABEL = "k8s.amazonaws.com/eniConfig"
ANNOTATION = "example.com/eniConfig"


def node(
    capacity: Any = "29",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    status = {} if capacity is None else {"capacity": {"pods": capacity, "cpu": "2"}}
    return {
        "metadata": {
            "name": "node-a",
            "uid": "uid-node-a",
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "status": status,
    }


def eniconfig(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "zone-a"}, "spec": spec}


def pod(
    name: str = "web-1",
    *,
    phase: str | None = "Pending",
    ip: str | None = None,
    host_network: bool = False,
    deleting: bool = False,
    uid: str = "uid-1",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"namespace": "default", "name": name, "uid": uid}
    if deleting:
        metadata["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if ip is not None:
        status["podIP"] = ip
    return {"metadata": metadata, "spec": {"hostNetwork": host_network}, "status": status}


# -- max pods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("capacity", "expected"), [("29", 29), ("110", 110), ("0", 0), (17, 17)])
def test_max_pods_is_the_nodes_pod_capacity(capacity: Any, expected: int):
    assert max_pods(node(capacity)) == expected


@pytest.mark.parametrize("capacity", [None, "", "many", "1.5", "-1", "-29", [29], {"pods": 1}])
def test_max_pods_is_unknown_when_the_node_does_not_say_or_says_nonsense(capacity: Any):
    assert max_pods(node(capacity)) is None


def test_max_pods_is_unknown_for_a_node_without_status():
    assert max_pods({"metadata": {"name": "node-a"}}) is None
    assert max_pods({"status": None}) is None
    assert max_pods({"status": {"capacity": None}}) is None


def test_node_uid_is_empty_when_the_node_has_none():
    assert node_uid(node()) == "uid-node-a"
    assert node_uid({}) == ""


# -- the ENIConfig's name ---------------------------------------------------------------------


def test_the_annotation_names_the_eniconfig_before_the_label():
    both = node(labels={LABEL: "from-label"}, annotations={ANNOTATION: "from-annotation"})
    assert eniconfig_name(both, label=LABEL, annotation=ANNOTATION) == "from-annotation"


def test_the_label_names_the_eniconfig_without_the_annotation():
    labelled = node(labels={LABEL: "us-east-1a"}, annotations={"other": "x"})
    assert eniconfig_name(labelled, label=LABEL, annotation=ANNOTATION) == "us-east-1a"


def test_the_eniconfig_is_default_when_neither_names_one():
    assert eniconfig_name(node(), label=LABEL, annotation=ANNOTATION) == DEFAULT_ENICONFIG
    assert eniconfig_name({}, label=LABEL, annotation=ANNOTATION) == "default"


def test_an_empty_annotation_or_label_does_not_name_the_eniconfig():
    empty = node(labels={LABEL: ""}, annotations={ANNOTATION: ""})
    assert eniconfig_name(empty, label=LABEL, annotation=ANNOTATION) == "default"
    label_only = node(labels={LABEL: "zone-b"}, annotations={ANNOTATION: ""})
    assert eniconfig_name(label_only, label=LABEL, annotation=ANNOTATION) == "zone-b"


def test_the_same_key_may_serve_as_label_and_annotation():
    both = node(labels={LABEL: "from-label"}, annotations={LABEL: "from-annotation"})
    assert eniconfig_name(both, label=LABEL, annotation=LABEL) == "from-annotation"


# -- placement --------------------------------------------------------------------------------


def test_placement_is_the_eniconfigs_subnet_and_security_groups():
    placement = placement_of(eniconfig({"subnet": "subnet-1", "securityGroups": ["sg-1", "sg-2"]}))
    assert placement == InterfacePlacement(
        subnet_id="subnet-1", security_groups=("sg-1", "sg-2"), source="ENIConfig zone-a"
    )


@pytest.mark.parametrize("groups", [[], None])
def test_no_security_groups_means_the_primary_interfaces_groups(groups: Any):
    spec: dict[str, Any] = {"subnet": "subnet-1"}
    if groups is not None:
        spec["securityGroups"] = groups
    assert placement_of(eniconfig(spec)).security_groups is None


@pytest.mark.parametrize("spec", [{}, {"subnet": ""}, {"subnet": 7}, {"securityGroups": ["sg-1"]}])
def test_an_eniconfig_without_a_subnet_places_nothing(spec: dict[str, Any]):
    with pytest.raises(BadENIConfig, match=r"zone-a has no spec\.subnet"):
        placement_of(eniconfig(spec))


def test_an_eniconfig_without_a_spec_places_nothing():
    with pytest.raises(BadENIConfig):
        placement_of({"metadata": {"name": "zone-a"}})


@pytest.mark.parametrize("groups", ["sg-1", ["sg-1", ""], ["sg-1", 2], [None], {"a": "sg-1"}])
def test_malformed_security_groups_place_nothing(groups: Any):
    with pytest.raises(BadENIConfig, match="securityGroups must be a list of ids"):
        placement_of(eniconfig({"subnet": "subnet-1", "securityGroups": groups}))


def test_bad_eniconfig_is_a_value_error():
    assert issubclass(BadENIConfig, ValueError)


# -- pods -------------------------------------------------------------------------------------


def test_pod_info_reads_the_fields_the_layer_uses():
    info = pod_info(pod(phase="Running", ip="10.0.1.5", host_network=False, deleting=True))
    assert info == PodInfo(
        namespace="default",
        name="web-1",
        uid="uid-1",
        phase="Running",
        ip="10.0.1.5",
        host_network=False,
        deleting=True,
    )
    assert info.key == ("default", "web-1")
    assert not info.finished


def test_a_pod_without_status_is_pending_without_an_address():
    info = pod_info({"metadata": {"namespace": "ns", "name": "p"}})
    assert (info.phase, info.ip, info.uid, info.host_network, info.deleting) == (
        "Pending",
        "",
        "",
        False,
        False,
    )


def test_pod_info_survives_null_sections():
    info = pod_info({"metadata": None, "spec": None, "status": None})
    assert (info.namespace, info.name, info.phase) == ("", "", "Pending")


@pytest.mark.parametrize(
    ("phase", "finished"),
    [
        ("Succeeded", True),
        ("Failed", True),
        ("Running", False),
        ("Pending", False),
        ("Unknown", False),
    ],
)
def test_a_pod_is_finished_when_it_succeeded_or_failed(phase: str, finished: bool):
    assert pod_info(pod(phase=phase)).finished is finished


def test_a_pending_pod_without_an_address_waits_for_one():
    assert waiting_for_address([pod_info(pod())], set()) == 1


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(pod(host_network=True), id="host network"),
        pytest.param(pod(deleting=True), id="being deleted"),
        pytest.param(pod(ip="10.0.1.5"), id="has an IP"),
        pytest.param(pod(phase="Running"), id="running"),
        pytest.param(pod(phase="Succeeded"), id="succeeded"),
        pytest.param(pod(phase="Failed"), id="failed"),
        pytest.param(pod(phase="Unknown"), id="unknown"),
    ],
)
def test_pods_that_do_not_wait_for_an_address(document: dict[str, Any]):
    assert waiting_for_address([pod_info(document)], set()) == 0


def test_a_pod_holding_an_allocation_no_longer_waits():
    pods = [pod_info(pod("web-1")), pod_info(pod("web-2"))]
    assert waiting_for_address(pods, {("default", "web-1")}) == 1
    assert waiting_for_address(pods, {("other", "web-2")}) == 2  # holders are by namespace too


def test_waiting_pods_are_counted_over_the_whole_list():
    pods = [
        pod_info(pod(f"web-{n}", phase=phase, ip=ip))
        for n, (phase, ip) in enumerate(
            [("Pending", None), ("Pending", None), ("Pending", "10.0.1.7"), ("Running", "10.0.1.8")]
        )
    ]
    assert waiting_for_address(pods, set()) == 2
    assert waiting_for_address([], set()) == 0
