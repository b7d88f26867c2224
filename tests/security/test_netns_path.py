"""The pod's network namespace path is used only when it is a network namespace.

``ipamd.dataplane.nsfd`` opens the path once and asks the kernel its namespace type
(NS_GET_NSTYPE): a regular file, a directory, a device, another type of namespace (mount,
uts, ...), a symlink to any of those, a missing path, or the node's own namespace is
refused before anything is created. Checked on the function itself, then end to end: the
real vpc-cni asking the real vpc-ipamd (kernel dataplane, inside a node namespace) answers
code 4 naming CNI_NETNS, and nothing stays allocated.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ipamd.dataplane.nsfd import NotANetworkNamespace, open_netns, pod_netns
from tests.cni.runtime import Runtime, network_conf
from tests.netns.test_node_daemon import NodeNs, node_ns

__all__ = ["node_ns"]


@pytest.fixture
def places(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Paths of every kind that is not a network namespace."""
    regular = tmp_path / "regular"
    regular.write_text("not a namespace\n")
    directory = tmp_path / "dir"
    directory.mkdir()
    links = {
        "symlink to a regular file": regular,
        "symlink to a directory": directory,
        "symlink to a mount namespace": Path("/proc/self/ns/mnt"),
        "symlink to a uts namespace": Path("/proc/self/ns/uts"),
        "dangling symlink": tmp_path / "nowhere",
    }
    for i, (_, target) in enumerate(links.items()):
        (tmp_path / f"link{i}").symlink_to(target)
    yield {
        "regular file": str(regular),
        "directory": str(directory),
        "character device": "/dev/null",
        "mount namespace": "/proc/self/ns/mnt",
        "uts namespace": "/proc/self/ns/uts",
        "ipc namespace": "/proc/self/ns/ipc",
        "pid namespace": "/proc/self/ns/pid",
        "user namespace": "/proc/self/ns/user",
        "non-existent path": str(tmp_path / "missing"),
        "relative path": "relative/netns",
        **{name: str(tmp_path / f"link{i}") for i, name in enumerate(links)},
    }


KINDS = [
    "regular file",
    "directory",
    "character device",
    "mount namespace",
    "uts namespace",
    "ipc namespace",
    "pid namespace",
    "user namespace",
    "non-existent path",
    "relative path",
    "symlink to a regular file",
    "symlink to a directory",
    "symlink to a mount namespace",
    "symlink to a uts namespace",
    "dangling symlink",
]


@pytest.mark.parametrize("kind", KINDS)
def test_anything_but_a_network_namespace_is_refused(places: dict[str, str], kind: str):
    with pytest.raises(NotANetworkNamespace):
        os.close(open_netns(places[kind]))


def test_an_empty_path_is_refused():
    with pytest.raises(NotANetworkNamespace):
        open_netns("")


def test_the_nodes_own_namespace_is_refused_as_a_pods():
    with (
        pytest.raises(NotANetworkNamespace, match="node's own"),
        pod_netns("/proc/self/ns/net", None),
    ):
        pass


def test_a_network_namespace_and_a_symlink_to_one_are_accepted(netns: str, tmp_path: Path):
    link = tmp_path / "ns-link"
    link.symlink_to(f"/var/run/netns/{netns}")
    for path in (f"/var/run/netns/{netns}", str(link)):
        with pod_netns(path, None) as fd:
            assert fd >= 0


def test_a_fifo_is_refused_without_hanging(tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome: list[object] = []

    def attempt() -> None:
        try:
            os.close(open_netns(str(fifo)))
            outcome.append("accepted")
        except NotANetworkNamespace as error:
            outcome.append(error)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(2.0)
    if thread.is_alive():  # unblock it: a writer end opened by us lets the open return
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        thread.join(2.0)
        os.close(fd)
        pytest.fail("open_netns blocked on a FIFO")
    assert isinstance(outcome[0], NotANetworkNamespace)


def test_the_binary_and_the_kernel_daemon_refuse_each_kind_with_code_4(
    node_ns: NodeNs, places: dict[str, str], make_netns: Callable[[str], str]
):
    runtime = Runtime(prefix=("ip", "netns", "exec", node_ns.name))
    conf = network_conf("1.1.0", node_ns.daemon.socket, node_ns.daemon.spool)
    kinds = [*KINDS, "node's own namespace"]
    places = {**places, "node's own namespace": f"/var/run/netns/{node_ns.name}"}
    answers = {}
    for i, kind in enumerate(kinds):
        outcome = runtime.pod("ADD", conf, f"bad-netns-{i}", netns=places[kind])
        answers[kind] = (outcome.code, outcome.out and outcome.out.get("code"))
        assert outcome.stderr == "", outcome
        if outcome.code:
            assert "CNI_NETNS" in outcome.out["msg"], outcome
    assert answers == {kind: (1, 4) for kind in kinds}
    assert node_ns.daemon.checkpoint_allocations() == {}
    # and a real pod namespace still works afterwards
    pod = make_netns("pod")
    added = runtime.pod("ADD", conf, "good", netns=f"/var/run/netns/{pod}")
    assert added.code == 0, added.stdout
    assert runtime.pod("DEL", conf, "good", netns=f"/var/run/netns/{pod}").code == 0
