"""A real runtime: Debian's podman 4.x (CNI backend, libcni) runs busybox containers on the
vpc-ipam network of sandbox node n1 (``sandbox.podman``: its own configuration, storage and
image, every command inside the node's namespace). The daemon hands each container a VPC
address, the container reaches a pod on n2, stop/start and rm give the address back; and
what libcni sends the plugin is what docs/decisions.md says ("Runtimes: what podman's libcni
sends"). The host's namespace must end as it began."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import podman_files
from sandbox.cluster import Sandbox, SandboxNode
from sandbox.kubelet import Pod
from sandbox.podman import Podman, PodmanFailed, clean_stale, unavailable
from sandbox.podman_files import CniCall
from tests.e2e.conftest import run_pods

NODE = "n1"


def host_state() -> dict[str, Any]:
    """The host namespace's links, routes and rules (what must not change)."""

    def ip(*args: str) -> Any:
        done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
        return json.loads(done.stdout or "[]")

    return {
        "links": sorted(link["ifname"] for link in ip("link")),
        "routes": sorted(
            json.dumps(r, sort_keys=True) for r in ip("route", "show", "table", "all")
        ),
        "rules": sorted(json.dumps(r, sort_keys=True) for r in ip("rule")),
    }


@pytest.fixture(scope="module")
def sandbox(sandbox_with: Callable[..., Sandbox]) -> Sandbox:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    return sandbox_with(nodes=2)


@pytest.fixture(scope="module")
def target(sandbox: Sandbox) -> Pod:
    """A pod on the other node, run by the sandbox's kubelet."""
    (pod,) = run_pods(sandbox, "n2", 1, name="target")
    return pod


@pytest.fixture(scope="module")
def podman(sandbox: Sandbox) -> Iterator[Podman]:
    clean_stale()  # what a killed run's podman left (its namespaces went with the sandbox's)
    node = sandbox.node(NODE)
    before = host_state()
    made = Podman(
        node.netns,
        sandbox.run_dir / f"podman-{NODE}",
        sandbox.network_conf(node.daemon),
        sandbox.run_dir / "cni-bin" / "vpc-cni",
    )
    try:
        yield made.setup()
    finally:
        made.close()  # before the sandbox goes down: DEL needs the daemon
    assert made.leftovers() == []
    assert host_state() == before, "the host's namespace changed"


def held_by(node: SandboxNode, container_id: str) -> list[str]:
    """The addresses the node's daemon has allocated to this container."""
    found = node.daemon.introspect("/v1/allocations")["allocations"]
    return [a["address"] for a in found if a["container_id"] == container_id]


def link_exists(netns: str, name: str) -> bool:
    done = subprocess.run(
        ["ip", "-n", netns, "link", "show", "dev", name], check=False, capture_output=True
    )
    return done.returncode == 0


def of(podman: Podman, container_id: str) -> list[CniCall]:
    """The container's calls, each ADD or DEL with the VERSION calls just before it."""
    calls, found, versions = podman.calls(), [], []
    for call in calls:
        if call.command == "VERSION":
            versions.append(call)
        elif call.container_id == container_id:
            found += [*versions, call]
            versions = []
        else:
            versions = []
    return found


def host_veth(podman: Podman, container_id: str) -> str:
    """The host end of the container's veth, from the last ADD result the plugin printed."""
    (add, *_) = [c for c in reversed(of(podman, container_id)) if c.command == "ADD"]
    assert add.output is not None, add
    (host,) = [i["name"] for i in add.output["interfaces"] if not i.get("sandbox")]
    return str(host)


def reaches(podman: Podman, name: str, address: str) -> None:
    done = podman.exec(name, "ping", "-c", "3", "-W", "5", address, check=False)
    assert done.returncode == 0, f"{name} -> {address}: {done.stdout}{done.stderr}"


def test_podman_run_gets_a_vpc_address_reaches_another_node_and_rm_releases_it(
    sandbox: Sandbox, podman: Podman, target: Pod
) -> None:
    node = sandbox.node(NODE)
    container_id = podman.run("web")
    address = podman.address("web")
    assert held_by(node, container_id) == [address]
    (allocation,) = [
        a
        for a in node.daemon.introspect("/v1/allocations")["allocations"]
        if a["container_id"] == container_id
    ]
    assert allocation["pod"]["name"] == "web"  # K8S_POD_NAME, podman's container name
    veth = host_veth(podman, container_id)
    assert link_exists(node.netns, veth)
    reaches(podman, "web", target.address)
    (netns_file,) = [c.env["CNI_NETNS"] for c in of(podman, container_id) if c.command == "ADD"]

    podman.rm("web")
    assert held_by(node, container_id) == []
    assert not link_exists(node.netns, veth)
    assert not Path(netns_file).exists()


def test_podman_stop_gives_the_address_back_and_start_gets_one_again(
    sandbox: Sandbox, podman: Podman, target: Pod
) -> None:
    node = sandbox.node(NODE)
    container_id = podman.run("restart")
    first_veth = host_veth(podman, container_id)
    assert held_by(node, container_id) == [podman.address("restart")]

    podman.stop("restart")
    assert held_by(node, container_id) == []
    assert not link_exists(node.netns, first_veth)

    podman.start("restart")
    address = podman.address("restart")
    assert held_by(node, container_id) == [address]
    assert link_exists(node.netns, host_veth(podman, container_id))
    reaches(podman, "restart", target.address)
    podman.rm("restart")
    assert held_by(node, container_id) == []


def test_a_container_that_exits_gives_its_address_back(sandbox: Sandbox, podman: Podman) -> None:
    """conmon's exit command (``podman container cleanup``, which reads our containers.conf
    through the CONTAINERS_CONF podman hands conmon) calls DEL when the process ends."""
    node = sandbox.node(NODE)
    container_id = podman.run("brief", "sleep", "2")
    assert len(held_by(node, container_id)) == 1
    deadline = time.monotonic() + 60
    while held_by(node, container_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert held_by(node, container_id) == [], podman.inspect("brief")["State"]
    assert [c.command for c in of(podman, container_id) if c.command != "VERSION"] == [
        "ADD",
        "DEL",
    ]
    podman.rm("brief")


def test_what_podmans_libcni_sends(podman: Podman) -> None:
    """The facts of docs/decisions.md, "Runtimes: what podman's libcni sends"."""
    container_id = podman.run("probe")
    podman.stop("probe")
    podman.start("probe")
    podman.rm("probe")
    calls = of(podman, container_id)
    sequence = [c.command for c in calls]
    # libcni asks VERSION before every ADD and DEL; one DEL per stop or rm (not containerd's
    # second DEL without a netns)
    assert [c for c in sequence if c != "VERSION"] == ["ADD", "DEL", "ADD", "DEL"], sequence
    for n, call in enumerate(calls):
        if call.command != "VERSION":
            assert calls[n - 1].command == "VERSION", sequence
    version = podman_files.LIBCNI_VERSION
    for call in calls:
        if call.command == "VERSION":
            assert call.conf == {"cniVersion": version}
            assert call.env.get("CNI_CONTAINERID", "") == ""
            assert call.env.get("CNI_ARGS", "") == ""
            assert {call.env[k] for k in ("CNI_NETNS", "CNI_IFNAME", "CNI_PATH")} == {"dummy"}
            assert call.output is not None
            assert version in call.output["supportedVersions"]
            continue
        assert call.code == 0, call
        # only the pod name (the container's name); no namespace, no infra id, no uid
        assert call.env["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=probe"
        assert call.env["CNI_IFNAME"] == "eth0"
        assert call.env["CNI_PATH"] == str(podman.workdir / "plugins")
        assert call.env["CNI_NETNS"].startswith("/run/netns/netns-")
        assert call.conf["cniVersion"] == version
        assert call.conf["name"] == podman.network
        assert "cniVersions" not in call.conf  # the list's, not handed to the plugin
        assert "runtimeConfig" not in call.conf  # the conflist asks for no capability
        assert "CONTAINERS_CONF" in call.env_names  # podman's whole environment passes
    adds = [c for c in calls if c.command == "ADD"]
    dels = [c for c in calls if c.command == "DEL"]
    for add, delete in zip(adds, dels, strict=True):
        assert "prevResult" not in add.conf
        # DEL carries the ADD's result from libcni's cache (with an empty "dns" added) and
        # the netns the ADD had
        assert add.output is not None
        assert delete.conf["prevResult"] == {**add.output, "dns": {}}
        assert delete.env["CNI_NETNS"] == add.env["CNI_NETNS"]
    assert adds[0].env["CNI_NETNS"] != adds[1].env["CNI_NETNS"]  # start: a new netns


def test_a_1_1_0_conflist_fails_in_podmans_libcni_and_its_address_comes_back(
    sandbox: Sandbox, podman: Podman
) -> None:
    """libcni 1.1 (podman 4.x) cannot parse a 1.1.0 result: every ADD fails. The plugin
    answers in the version it was asked for, as the spec says; the conflist must say 1.0.0
    (with cniVersions for newer runtimes). The DEL after the failed ADD releases the address."""
    node = sandbox.node(NODE)
    podman.add_network("vpc-ipam-v110", "1.1.0")
    with pytest.raises(PodmanFailed, match=r'unsupported CNI result version "1\.1\.0"'):
        podman.run("newer", network="vpc-ipam-v110")
    container_id = podman.inspect("newer")["Id"]
    calls = [c for c in of(podman, container_id) if c.command != "VERSION"]
    assert [c.command for c in calls] == ["ADD", "DEL"]
    add, delete = calls
    assert add.code == 0 and add.output is not None and add.output["cniVersion"] == "1.1.0"
    assert "prevResult" not in delete.conf  # nothing cached: the ADD "failed"
    assert held_by(node, container_id) == []
    podman.rm("newer")
