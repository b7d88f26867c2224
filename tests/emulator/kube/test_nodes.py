"""Nodes through the real client: get, list, patch (strategic merge, merge, JSON patch,
``/status``), and optimistic concurrency."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client import ApiException

from sandbox.kube import KubeEmulator


def test_get_node_has_capacity_and_labels(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a", pods_capacity=29, labels={"zone": "a"}, internal_ip="10.0.0.10")
    node = core.read_node("node-a")
    assert node.metadata.name == "node-a"
    assert node.metadata.labels["zone"] == "a"
    assert node.status.capacity["pods"] == "29"
    assert node.status.allocatable["pods"] == "29"
    assert int(node.metadata.resource_version) == kube.resource_version
    assert node.status.addresses[0].address == "10.0.0.10"


def test_get_missing_node_is_404(core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_node("nowhere")
    assert caught.value.status == 404


def test_list_nodes_by_label(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a", labels={"pool": "x"})
    kube.add_node("node-b", labels={"pool": "y"})
    every = core.list_node()
    assert [n.metadata.name for n in every.items] == ["node-a", "node-b"]
    assert every.metadata.resource_version == str(kube.resource_version)
    only_x = core.list_node(label_selector="pool=x")
    assert [n.metadata.name for n in only_x.items] == ["node-a"]
    by_name = core.list_node(field_selector="metadata.name=node-b")
    assert [n.metadata.name for n in by_name.items] == ["node-b"]


def test_unsupported_field_selector_is_400(kube: KubeEmulator, core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_node(field_selector="status.phase=Ready")
    assert caught.value.status == 400


def test_strategic_merge_patch_of_labels_and_annotations(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a", labels={"keep": "1", "drop": "1"}, annotations={"a": "1"})
    before = int(core.read_node("node-a").metadata.resource_version)
    patched = core.patch_node(
        "node-a",
        {"metadata": {"labels": {"new": "2", "drop": None}, "annotations": {"b": "2"}}},
    )
    assert patched.metadata.labels == {"kubernetes.io/hostname": "node-a", "keep": "1", "new": "2"}
    assert patched.metadata.annotations == {"a": "1", "b": "2"}
    assert int(patched.metadata.resource_version) == before + 1
    assert kube.node("node-a")["metadata"]["labels"]["new"] == "2"
    assert kube.call_count("patch", "nodes") == 1


def test_json_patch_and_merge_patch(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a")
    patched = core.patch_node(
        "node-a", [{"op": "add", "path": "/metadata/labels/vpc.example~1eni", "value": "3"}]
    )
    assert patched.metadata.labels["vpc.example/eni"] == "3"
    merged = core.patch_node(
        "node-a",
        {"metadata": {"annotations": {"x": "y"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.annotations == {"x": "y"}
    with pytest.raises(ApiException) as caught:
        core.patch_node("node-a", [{"op": "replace", "path": "/metadata/nothing/x", "value": 1}])
    assert caught.value.status == 422


def test_status_goes_through_the_status_subresource(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a", pods_capacity=110)
    ignored = core.patch_node("node-a", {"status": {"capacity": {"pods": "17"}}})
    assert ignored.status.capacity["pods"] == "110"  # as the real server: status dropped
    patched = core.patch_node_status(
        "node-a",
        {
            "status": {
                "capacity": {"pods": "17"},
                "conditions": [{"type": "NetworkUnavailable", "status": "False"}],
            }
        },
    )
    assert patched.status.capacity["pods"] == "17"
    assert patched.status.capacity["cpu"] == "2"
    conditions = {c.type: c.status for c in patched.status.conditions}
    assert conditions == {"Ready": "True", "NetworkUnavailable": "False"}  # merged by type
    assert kube.call_count("patch", "nodes/status") == 1


def test_stale_resource_version_is_409(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a")
    node = core.read_node("node-a")
    stale = node.metadata.resource_version
    node.metadata.labels["first"] = "yes"
    replaced = core.replace_node("node-a", node)
    assert int(replaced.metadata.resource_version) > int(stale)

    node.metadata.labels["second"] = "yes"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as caught:
        core.replace_node("node-a", node)
    assert caught.value.status == 409
    assert json.loads(caught.value.body or "{}")["reason"] == "Conflict"

    with pytest.raises(ApiException) as patch_caught:
        core.patch_node("node-a", {"metadata": {"resourceVersion": stale, "labels": {"z": "1"}}})
    assert patch_caught.value.status == 409
    assert "z" not in kube.node("node-a")["metadata"]["labels"]

    fresh = core.patch_node(
        "node-a",
        {"metadata": {"resourceVersion": replaced.metadata.resource_version, "labels": {"z": "1"}}},
    )
    assert fresh.metadata.labels["z"] == "1"
