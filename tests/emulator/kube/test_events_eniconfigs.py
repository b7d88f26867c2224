"""core/v1 Events created through the client and read back, and ENIConfig custom resources
through ``CustomObjectsApi``."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from sandbox.kube import KubeEmulator

GROUP, VERSION, PLURAL = "crd.k8s.amazonaws.com", "v1alpha1", "eniconfigs"


def _event(name: str, reason: str) -> client.CoreV1Event:
    return client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=name),
        involved_object=client.V1ObjectReference(kind="Node", name="node-a"),
        reason=reason,
        message=f"{reason} happened",
        type="Warning",
        source=client.V1EventSource(component="vpc-ipamd", host="node-a"),
    )


def test_create_and_list_events(kube: KubeEmulator, core: Any) -> None:
    created = core.create_namespaced_event("default", _event("node-a.1", "NoFreeAddresses"))
    assert created.metadata.namespace == "default"
    assert created.metadata.resource_version
    core.create_namespaced_event("kube-system", _event("node-a.2", "ENIAttached"))

    recorded = kube.events()
    assert [(e["metadata"]["namespace"], e["reason"]) for e in recorded] == [
        ("default", "NoFreeAddresses"),
        ("kube-system", "ENIAttached"),
    ]
    assert recorded[0]["involvedObject"] == {"kind": "Node", "name": "node-a"}
    assert [e["reason"] for e in kube.events("kube-system")] == ["ENIAttached"]

    listed = core.list_namespaced_event("default")
    assert [e.reason for e in listed.items] == ["NoFreeAddresses"]
    everywhere = core.list_event_for_all_namespaces(field_selector="reason=ENIAttached")
    assert [e.metadata.name for e in everywhere.items] == ["node-a.2"]
    assert kube.call_count("create", "events") == 2

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_event("default", _event("node-a.1", "Again"))
    assert caught.value.status == 409


def test_eniconfigs_through_custom_objects_api(kube: KubeEmulator, custom: Any) -> None:
    kube.add_eniconfig("us-east-1a", "subnet-0aaa", ["sg-1", "sg-2"])
    kube.add_eniconfig("us-east-1b", "subnet-0bbb", ["sg-3"])

    one = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, "us-east-1a")
    assert one["kind"] == "ENIConfig"
    assert one["apiVersion"] == f"{GROUP}/{VERSION}"
    assert one["spec"] == {"subnet": "subnet-0aaa", "securityGroups": ["sg-1", "sg-2"]}
    assert one["metadata"]["resourceVersion"]

    every = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert every["kind"] == "ENIConfigList"
    assert [item["metadata"]["name"] for item in every["items"]] == ["us-east-1a", "us-east-1b"]
    assert kube.call_count("get", "eniconfigs") == 1
    assert kube.call_count("list", "eniconfigs") == 1

    with pytest.raises(ApiException) as caught:
        custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, "us-east-1c")
    assert caught.value.status == 404


def test_eniconfig_is_cluster_scoped(kube: KubeEmulator, custom: Any) -> None:
    kube.add_eniconfig("a", "subnet-1", [])
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    assert caught.value.status == 404
