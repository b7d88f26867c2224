"""The Kubernetes layer as the daemon uses it, against the emulator and a real datastore:
max pods, ENIConfig placement, pending pods, leaked addresses, health, the checkpoint's facts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from ipamd.datastore import Datastore
from ipamd.k8s.api import KubeApi
from ipamd.k8s.layer import KubernetesLayer
from ipamd.model import Allocation, PodRef
from providers.models import InterfacePlacement, PlacementUnknown
from sandbox.clock import FakeClock
from sandbox.kube import KubeEmulator
from sandbox.kube.objects import KINDS
from tests.unit.ipamd.k8s.support import NODE, WAIT, kube_settings, wait_until
from tests.unit.ipamd.stores import cloud_iface, key, new_store

LABEL = "k8s.amazonaws.com/eniConfig"
GRACE = 30.0


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed ENIConfig read is retried at once (watches are short: conftest).
    ENICONFIG_REFRESH keeps its minute unless a test says otherwise."""
    monkeypatch.setattr("ipamd.k8s.layer.ENICONFIG_RETRY", 0.05)


@pytest.fixture
def store(clock: FakeClock) -> Datastore:
    datastore = new_store(clock)
    datastore.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    return datastore


class Told:
    """What the layer tells the daemon: max pods, and pods beginning to wait."""

    def __init__(self) -> None:
        self.max_pods: list[int] = []
        self.demand = 0

    def on_demand(self) -> None:
        self.demand += 1


@pytest.fixture
def told() -> Told:
    return Told()


Make = Callable[..., KubernetesLayer]


@pytest.fixture
def make_layer(
    kube: KubeEmulator, store: Datastore, clock: FakeClock, told: Told, tmp_path: Path
) -> Iterator[Make]:
    """A layer for NODE (not started: a test may restore facts first); stopped at the end."""
    made: list[KubernetesLayer] = []

    def make(*, custom_networking: bool = False, **env: str) -> KubernetesLayer:
        settings = kube_settings(
            kube.url, tmp_path / "no-token", VPC_IPAM_POD_GONE_GRACE=f"{GRACE:g}", **env
        )
        layer = KubernetesLayer(
            settings, KubeApi(settings), store, custom_networking=custom_networking, clock=clock
        )
        layer.on_max_pods = told.max_pods.append
        layer.on_demand = told.on_demand
        made.append(layer)
        return layer

    yield make
    for layer in made:
        layer.stop()


def started(layer: KubernetesLayer) -> KubernetesLayer:
    layer.start()
    assert layer.wait_for_node(WAIT)
    return layer


def set_capacity(kube: KubeEmulator, pods: str | None) -> None:
    def change(node: dict[str, Any]) -> dict[str, Any]:
        capacity = node["status"]["capacity"]
        if pods is None:
            capacity.pop("pods", None)
        else:
            capacity["pods"] = pods
        return node

    kube.store.update(KINDS["nodes"], None, NODE, change, whole=True)


def set_labels(kube: KubeEmulator, labels: dict[str, str]) -> None:
    def change(node: dict[str, Any]) -> dict[str, Any]:
        node["metadata"]["labels"] = labels
        return node

    kube.store.update(KINDS["nodes"], None, NODE, change, whole=True)


def placement_or_error(layer: KubernetesLayer) -> InterfacePlacement | str | None:
    try:
        return layer.placement()
    except PlacementUnknown as unknown:
        return str(unknown)


def events(kube: KubeEmulator) -> list[tuple[str, str]]:
    return [(e["reason"], e["type"]) for e in kube.events("default")]


# -- max pods -----------------------------------------------------------------------------------


def test_max_pods_comes_from_the_node_and_follows_its_changes(
    kube: KubeEmulator, make_layer: Make, told: Told
):
    kube.add_node(NODE, pods_capacity=17)
    layer = started(make_layer())
    assert told.max_pods == [17]
    assert layer.max_pods == 17
    set_capacity(kube, "29")
    wait_until("29", lambda: told.max_pods == [17, 29])
    set_capacity(kube, "nonsense")
    set_capacity(kube, None)
    set_capacity(kube, "29")  # no change: not told again
    set_capacity(kube, "35")
    wait_until("35", lambda: told.max_pods[-1] == 35)
    assert told.max_pods == [17, 29, 35]  # nonsense and silence kept the last value
    assert layer.max_pods == 35


def test_a_node_not_registered_yet_tells_max_pods_once_it_is(
    kube: KubeEmulator, make_layer: Make, told: Told
):
    layer = started(make_layer())
    assert layer.max_pods is None
    assert told.max_pods == []
    kube.add_node(NODE, pods_capacity=17)
    wait_until("17", lambda: told.max_pods == [17])


def test_waiting_for_the_node_gives_up_when_the_api_server_is_down(
    kube: KubeEmulator, make_layer: Make
):
    kube.add_node(NODE, pods_capacity=17)
    kube.set_unavailable()
    layer = make_layer()
    layer.start()
    started_at = time.monotonic()
    assert not layer.wait_for_node(0.3)
    assert time.monotonic() - started_at < 2.0
    assert layer.max_pods is None


# -- placement ----------------------------------------------------------------------------------


def test_without_custom_networking_interfaces_go_to_the_nodes_own_subnet(
    kube: KubeEmulator, make_layer: Make
):
    kube.add_node(NODE, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-a", "subnet-pods", ["sg-1"])
    layer = started(make_layer(custom_networking=False))
    assert layer.placement() is None
    assert kube.call_count("get", "eniconfigs") == 0


def test_placement_is_unknown_until_the_eniconfig_exists(
    kube: KubeEmulator, make_layer: Make, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("ipamd.k8s.layer.ENICONFIG_REFRESH", 0.05)
    kube.add_node(NODE, labels={LABEL: "zone-a"})
    layer = started(make_layer(custom_networking=True))
    with pytest.raises(PlacementUnknown):
        layer.placement()
    wait_until(
        "the missing ENIConfig named",
        lambda: "ENIConfig zone-a does not exist" in str(placement_or_error(layer)),
    )
    assert layer.eniconfig == "zone-a"
    wait_until("a warning on the node", lambda: ("ENIConfigMissing", "Warning") in events(kube))

    kube.add_eniconfig("zone-a", "subnet-pods", ["sg-1", "sg-2"])
    wait_until("the ENIConfig read", lambda: not isinstance(placement_or_error(layer), str))
    assert layer.placement() == InterfacePlacement(
        subnet_id="subnet-pods", security_groups=("sg-1", "sg-2"), source="ENIConfig zone-a"
    )


def test_an_eniconfig_without_groups_keeps_the_primary_interfaces_groups(
    kube: KubeEmulator, make_layer: Make
):
    kube.add_node(NODE)  # no label: the ENIConfig called "default"
    kube.add_eniconfig("default", "subnet-pods", [])
    layer = started(make_layer(custom_networking=True))
    wait_until("the ENIConfig read", lambda: not isinstance(placement_or_error(layer), str))
    placement = layer.placement()
    assert placement is not None
    assert (placement.subnet_id, placement.security_groups) == ("subnet-pods", None)
    assert layer.eniconfig == "default"


def test_a_new_eniconfig_name_on_the_node_is_read_at_once(kube: KubeEmulator, make_layer: Make):
    kube.add_node(NODE, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-b", "subnet-b", ["sg-b"])
    layer = started(make_layer(custom_networking=True))
    wait_until("zone-a missing", lambda: "zone-a does not exist" in str(placement_or_error(layer)))
    set_labels(kube, {LABEL: "zone-b"})  # far sooner than ENICONFIG_REFRESH
    wait_until("zone-b read", lambda: not isinstance(placement_or_error(layer), str))
    placement = layer.placement()
    assert placement is not None
    assert (placement.subnet_id, placement.source) == ("subnet-b", "ENIConfig zone-b")


def test_the_annotation_names_the_eniconfig_before_the_label(kube: KubeEmulator, make_layer: Make):
    kube.add_node(NODE, labels={LABEL: "zone-a"}, annotations={"example.com/eni": "special"})
    kube.add_eniconfig("zone-a", "subnet-a", [])
    kube.add_eniconfig("special", "subnet-special", [])
    layer = started(make_layer(custom_networking=True, ENI_CONFIG_ANNOTATION_DEF="example.com/eni"))
    wait_until("an ENIConfig read", lambda: not isinstance(placement_or_error(layer), str))
    placement = layer.placement()
    assert placement is not None
    assert placement.subnet_id == "subnet-special"


def test_an_eniconfig_without_a_subnet_places_nothing(kube: KubeEmulator, make_layer: Make):
    kube.add_node(NODE, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-a", "", ["sg-1"])
    layer = started(make_layer(custom_networking=True))
    wait_until(
        "the bad ENIConfig named",
        lambda: "zone-a has no spec.subnet" in str(placement_or_error(layer)),
    )
    assert layer.health()["placement"] == "ENIConfig zone-a has no spec.subnet"


def test_an_outage_keeps_the_last_good_placement(
    kube: KubeEmulator, make_layer: Make, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("ipamd.k8s.layer.ENICONFIG_REFRESH", 0.05)
    kube.add_node(NODE, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-a", "subnet-pods", ["sg-1"])
    layer = started(make_layer(custom_networking=True))
    wait_until("the ENIConfig read", lambda: not isinstance(placement_or_error(layer), str))
    good = layer.placement()
    kube.set_unavailable()
    reads = kube.call_count("get", "eniconfigs")
    wait_until("reads that fail", lambda: kube.call_count("get", "eniconfigs") >= reads + 3)
    assert layer.placement() == good


# -- pending pods -------------------------------------------------------------------------------


def test_pending_pods_are_the_ones_waiting_for_an_address_and_holding_none(
    kube: KubeEmulator, make_layer: Make, store: Datastore, told: Told
):
    kube.add_node(NODE)
    kube.add_pod("default", "waiting", NODE, phase="Pending")
    kube.add_pod("default", "holder", NODE, phase="Pending")  # ADD done, no IP reported yet
    kube.add_pod("default", "running", NODE, phase="Running", ip="10.0.1.3")
    kube.add_pod("kube-system", "proxy", NODE, phase="Pending", host_network=True)
    kube.add_pod("default", "terminating", NODE, phase="Pending")
    kube.update_pod("default", "terminating", terminating=True)
    kube.add_pod("default", "elsewhere", "node-b", phase="Pending")
    store.assign(key("holder"), PodRef("default", "holder", "uid-holder"))
    layer = started(make_layer())
    wait_until("five pods", lambda: len(layer.pods.objects()) == 5)
    assert layer.pending_pods() == 1
    assert told.demand >= 1

    store.assign(key("waiting"), PodRef("default", "waiting", "uid-waiting"))
    assert layer.pending_pods() == 0
    for n in range(3):
        kube.add_pod("default", f"burst-{n}", NODE, phase="Pending")
    wait_until("three more pending", lambda: layer.pending_pods() == 3)


def test_why_can_ask_which_pod_is_pending_by_name_or_namespace_and_name(
    kube: KubeEmulator, make_layer: Make
):
    kube.add_node(NODE)
    kube.add_pod("shop", "web", NODE, phase="Pending")
    kube.add_pod("default", "web", NODE, phase="Running", ip="10.0.1.3")
    kube.add_pod("batch", "web", "node-b", phase="Pending")
    layer = started(make_layer())
    wait_until("two pods", lambda: len(layer.pods.objects()) == 2)
    assert layer.pending_namespaces("web") == ["shop"]
    assert layer.is_pending("shop", "web")
    assert not layer.is_pending("default", "web")
    assert not layer.is_pending("batch", "web")  # another node's


def test_no_pods_are_pending_while_the_pod_list_is_out_of_sync(
    kube: KubeEmulator, make_layer: Make
):
    kube.add_node(NODE)
    kube.add_pod("default", "waiting", NODE, phase="Pending")
    layer = started(make_layer())
    wait_until("one pending", lambda: layer.pending_pods() == 1)
    kube.set_unavailable()
    wait_until("out of sync", lambda: not layer.pods.synced)
    assert layer.pending_pods() == 0


# -- leaks --------------------------------------------------------------------------------------


class Reclaim:
    """The service's reclaim: releases each allocation in the datastore, says which it freed."""

    def __init__(self, store: Datastore) -> None:
        self.store = store
        self.asked: list[list[Allocation]] = []

    def __call__(self, due: list[Allocation]) -> list[Allocation]:
        self.asked.append(due)
        return [a for a in due if self.store.release(a.key) is not None]


def test_allocations_of_pods_gone_past_the_grace_are_released_and_told(
    kube: KubeEmulator, make_layer: Make, store: Datastore, clock: FakeClock
):
    kube.add_node(NODE)
    kube.add_pod("default", "web-1", NODE, ip="10.0.1.1")
    kube.add_pod("default", "done-1", NODE, phase="Succeeded")
    web_uid = kube.pod("default", "web-1")["metadata"]["uid"]
    live = store.assign(key("web"), PodRef("default", "web-1", web_uid))
    gone = store.assign(key("gone"), PodRef("default", "gone-1", "uid-gone"))
    done = store.assign(key("done"), PodRef("default", "done-1", ""))
    anonymous = store.assign(key("podman"), PodRef())
    recovered_key = key("recovered")
    free = IPv4Address("10.0.1.14")
    interface_id, block = store.block_of(free) or ("", None)
    assert block is not None
    recovered = Allocation(
        recovered_key, PodRef("default", "old-1"), free, interface_id, block, 0.0, recovered=True
    )
    store.restore_allocation(recovered)
    layer = started(make_layer())
    wait_until("the pods listed", lambda: layer.pods.synced and len(layer.pods.objects()) == 2)
    reclaim = Reclaim(store)

    assert layer.reclaim_leaks(reclaim) == 0  # gone, but not for the grace yet
    assert reclaim.asked == [[]]
    assert layer.health()["leak_candidates"] == 2
    clock.advance(GRACE - 1)
    assert layer.reclaim_leaks(reclaim) == 0
    clock.advance(1)
    assert layer.reclaim_leaks(reclaim) == 2

    assert {a.key for a in reclaim.asked[-1]} == {gone.key, done.key}
    held = {a.key for a in store.allocations()}
    assert held == {live.key, anonymous.key, recovered_key}
    wait_until("an event on the node", lambda: len(kube.events("default")) == 1)
    (event,) = kube.events("default")
    assert (event["reason"], event["type"]) == ("LeakedAddressesReleased", "Normal")
    assert event["involvedObject"]["kind"] == "Node"
    assert event["involvedObject"]["name"] == NODE
    assert f"{gone.address} (default/gone-1)" in event["message"]
    assert "30s" in event["message"]
    wait_until("counted", lambda: layer.health()["events_posted"] == 1)


def test_nothing_is_judged_while_the_pod_list_is_out_of_sync(
    kube: KubeEmulator, make_layer: Make, store: Datastore, clock: FakeClock
):
    kube.add_node(NODE)
    store.assign(key("gone"), PodRef("default", "gone-1", "uid-gone"))
    layer = started(make_layer())
    wait_until("synced", lambda: layer.pods.synced)
    reclaim = Reclaim(store)
    layer.reclaim_leaks(reclaim)
    kube.set_unavailable()
    wait_until("out of sync", lambda: not layer.pods.synced)
    clock.advance(GRACE * 3)
    assert layer.reclaim_leaks(reclaim) == 0
    assert len(store.allocations()) == 1
    assert kube.events() == []


def test_a_reclaim_that_frees_nothing_posts_nothing(
    kube: KubeEmulator, make_layer: Make, store: Datastore, clock: FakeClock
):
    kube.add_node(NODE)
    store.assign(key("gone"), PodRef("default", "gone-1", "uid-gone"))
    layer = started(make_layer())
    wait_until("synced", lambda: layer.pods.synced)
    layer.reclaim_leaks(lambda due: [])
    clock.advance(GRACE)
    assert layer.reclaim_leaks(lambda due: []) == 0  # the service refused (say, a DEL raced)
    assert layer.health()["events_posted"] == 0


# -- events and health --------------------------------------------------------------------------


def test_record_posts_a_warning_on_the_node(kube: KubeEmulator, make_layer: Make):
    kube.add_node(NODE)
    layer = started(make_layer())
    layer.record("SubnetExhausted", "the subnet has no room")
    layer.record("SubnetExhausted", "the subnet has no room")  # held back
    wait_until("posted", lambda: layer.events.posted == 1)
    (event,) = kube.events("default")
    assert (event["reason"], event["type"]) == ("SubnetExhausted", "Warning")
    assert event["involvedObject"]["uid"] == kube.node(NODE)["metadata"]["uid"]


def test_health_of_a_connected_layer(kube: KubeEmulator, make_layer: Make, store: Datastore):
    kube.add_node(NODE, pods_capacity=17)
    kube.add_pod("default", "waiting", NODE, phase="Pending")
    kube.add_pod("default", "running", NODE, ip="10.0.1.2")
    layer = started(make_layer())
    wait_until("connected", lambda: layer.health()["connected"])
    wait_until("both pods", lambda: layer.health()["pods"] == 2)
    assert layer.health() == {
        "node": NODE,
        "api_server": kube.url,
        "connected": True,
        "unreachable_for": None,
        "last_error": None,
        "max_pods": 17,
        "eniconfig": None,
        "placement": None,
        "pods": 2,
        "pending_pods": 1,
        "leak_candidates": 0,
        "events_posted": 0,
    }


def test_health_names_the_eniconfig_and_its_placement(kube: KubeEmulator, make_layer: Make):
    kube.add_node(NODE, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-a", "subnet-pods", ["sg-1", "sg-2"])
    layer = started(make_layer(custom_networking=True))
    wait_until("the ENIConfig read", lambda: not isinstance(placement_or_error(layer), str))
    health = layer.health()
    assert health["eniconfig"] == "zone-a"
    assert health["placement"] == "subnet-pods (sg-1,sg-2) from ENIConfig zone-a"


def test_health_during_an_outage_and_after(kube: KubeEmulator, make_layer: Make, clock: FakeClock):
    kube.add_node(NODE, pods_capacity=17)
    layer = started(make_layer())
    wait_until("connected", lambda: layer.health()["connected"])
    kube.set_unavailable()
    wait_until("disconnected", lambda: not layer.health()["connected"])
    wait_until("both reflectors failing", lambda: layer.node.failing_since is not None)
    wait_until("both reflectors failing", lambda: layer.pods.failing_since is not None)
    clock.advance(12.34)
    health = layer.health()
    assert health["unreachable_for"] == 12.3
    assert "503" in health["last_error"]
    assert health["max_pods"] == 17  # the last value stands
    kube.set_unavailable(False)
    wait_until("connected again", lambda: layer.health()["connected"], timeout=10.0)
    health = layer.health()
    assert (health["unreachable_for"], health["last_error"]) == (None, None)


# -- the checkpoint's facts ---------------------------------------------------------------------


def test_facts_are_what_a_restart_restores(kube: KubeEmulator, make_layer: Make):
    kube.add_node(NODE, pods_capacity=17, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-a", "subnet-pods", ["sg-1"])
    layer = started(make_layer(custom_networking=True))
    wait_until("the ENIConfig read", lambda: not isinstance(placement_or_error(layer), str))
    facts = layer.facts()
    assert facts == {
        "max_pods": 17,
        "eniconfig": "zone-a",
        "placement": {
            "subnet_id": "subnet-pods",
            "security_groups": ["sg-1"],
            "source": "ENIConfig zone-a",
        },
    }

    kube.set_unavailable()  # the restart happens during an outage
    again = make_layer(custom_networking=True)
    assert again.restore(facts) == 17
    again.start()
    assert again.placement() == InterfacePlacement(
        "subnet-pods", ("sg-1",), "ENIConfig zone-a (remembered)"
    )
    assert again.health()["max_pods"] == 17


@pytest.mark.parametrize(
    "facts",
    [{"max_pods": "many"}, {"max_pods": 17, "placement": {"security_groups": []}}],
)
def test_unreadable_facts_are_ignored(make_layer: Make, facts: dict[str, Any]):
    assert make_layer(custom_networking=True).restore(facts) is None


def test_a_remembered_eniconfig_without_a_placement_is_read_at_start(
    kube: KubeEmulator, make_layer: Make
):
    kube.add_node(NODE, pods_capacity=17, labels={LABEL: "zone-a"})
    kube.add_eniconfig("zone-a", "subnet-pods", ["sg-1"])  # created while the daemon was down
    layer = make_layer(custom_networking=True)
    layer.restore({"max_pods": 17, "eniconfig": "zone-a", "placement": None})
    started(layer)
    wait_until(
        "the ENIConfig read", lambda: not isinstance(placement_or_error(layer), str), timeout=2.0
    )


def test_a_rejected_record_leaves_max_pods_to_the_node(
    kube: KubeEmulator, make_layer: Make, told: Told
):
    kube.add_node(NODE, pods_capacity=17)
    layer = make_layer(custom_networking=True)
    assert layer.restore({"max_pods": 17, "placement": {"security_groups": []}}) is None
    started(layer)  # the daemon's pool runs on the formula's max pods: it must be told 17
    assert told.max_pods == [17]
