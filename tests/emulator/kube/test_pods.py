"""Pods through the real client: lists by node (field selector) and namespace, the Python
API's writes, and the API's own create/delete."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from sandbox.kube import KubeEmulator


def _names(pods: Any) -> list[str]:
    return [f"{p.metadata.namespace}/{p.metadata.name}" for p in pods.items]


def test_list_pods_by_node(kube: KubeEmulator, core: Any) -> None:
    kube.add_node("node-a")
    kube.add_node("node-b")
    kube.add_pod("default", "a1", "node-a", ip="10.0.1.5")
    kube.add_pod("kube-system", "a2", "node-a", ip="10.0.1.6")
    kube.add_pod("default", "b1", "node-b", ip="10.0.2.5")
    kube.add_pod("default", "pending", "", phase="Pending")

    on_a = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-a")
    assert _names(on_a) == ["default/a1", "kube-system/a2"]
    assert on_a.items[0].status.pod_ip == "10.0.1.5"
    assert on_a.items[0].status.pod_ips[0].ip == "10.0.1.5"
    assert on_a.metadata.resource_version == str(kube.resource_version)

    in_default = core.list_namespaced_pod("default", field_selector="spec.nodeName=node-a")
    assert _names(in_default) == ["default/a1"]
    unscheduled = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=")
    assert _names(unscheduled) == ["default/pending"]
    running_off_a = core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName!=node-a,status.phase=Running"
    )
    assert _names(running_off_a) == ["default/b1"]
    assert kube.call_count("list", "pods") == 4


def test_update_and_delete_pod(kube: KubeEmulator, core: Any) -> None:
    kube.add_pod("default", "web", "node-a", phase="Pending")
    kube.update_pod("default", "web", ip="10.0.1.9", phase="Running", labels={"app": "web"})
    pod = core.read_namespaced_pod("web", "default")
    assert (pod.status.phase, pod.status.pod_ip, pod.metadata.labels) == (
        "Running",
        "10.0.1.9",
        {"app": "web"},
    )
    kube.update_pod("default", "web", terminating=True)
    assert core.read_namespaced_pod("web", "default").metadata.deletion_timestamp is not None
    kube.delete_pod("default", "web")
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("web", "default")
    assert caught.value.status == 404


def test_create_and_delete_through_the_api(kube: KubeEmulator, core: Any) -> None:
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name="made"),
        spec=client.V1PodSpec(
            node_name="node-a", containers=[client.V1Container(name="c", image="i")]
        ),
    )
    created = core.create_namespaced_pod("team", body)
    assert created.metadata.namespace == "team"
    assert created.metadata.uid
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod("team", body)
    assert caught.value.status == 409
    assert [p["metadata"]["name"] for p in kube.pods("node-a")] == ["made"]
    core.delete_namespaced_pod("made", "team")
    assert kube.pods() == []


def test_unknown_paths_are_404(kube: KubeEmulator) -> None:
    for path in ("/api/v1/configmaps", "/api/v1/nodes/a/b/c", "/apis/x/v1/eniconfigs"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(kube.url + path, timeout=5)
        assert caught.value.code == 404
        assert json.load(caught.value)["reason"] == "NotFound"
