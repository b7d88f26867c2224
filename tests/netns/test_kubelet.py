"""The sandbox's kubelet: how it calls the CNI plugin, inside a node namespace the test makes.

Two plugins: the real vpc-cni binary with no daemon behind its socket (ADD must fail with
"try again later", DEL must succeed through its fallback), and a recording script that
writes down the environment and stdin of every call, to compare with what a runtime sends.
With a Kubernetes API emulator, the recorder also fetches the pod's object (through a portal
into the node) while it is called, so the tests see the object as the plugin's caller left
it at that moment.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cni.spool import read_releases
from sandbox.kubelet import NO_ERROR_OBJECT, CniFailed, Kubelet, Pod
from tests.netns.conftest import ip, ip_json

pytestmark = pytest.mark.netns

VPC_CNI = Path(sys.executable).parent / "vpc-cni"
RESULT = {"cniVersion": "1.1.0", "ips": [{"address": "10.0.1.5/32"}]}
RECORDER = """
import json, os, sys, urllib.error, urllib.request
stdin = sys.stdin.read()
netns = os.environ.get("CNI_NETNS", "")
args = os.environ.get("CNI_ARGS", "")
call = {
    "env": dict(os.environ),
    "stdin": json.loads(stdin),
    "netns_exists": bool(netns) and os.path.exists(netns),
}
if KUBE:
    pod = dict(pair.split("=", 1) for pair in args.split(";"))
    url = f"{KUBE}/api/v1/namespaces/{pod['K8S_POD_NAMESPACE']}/pods/{pod['K8S_POD_NAME']}"
    try:
        call["pod_object"] = json.load(urllib.request.urlopen(url, timeout=5))
    except urllib.error.HTTPError as error:
        call["pod_object"] = error.code
with open(LOG, "a") as log:
    log.write(json.dumps(call) + "\\n")
if os.environ["CNI_COMMAND"] == "ADD":
    if "K8S_POD_NAME=broken;" in args:
        print(json.dumps({"cniVersion": "1.1.0", "code": 7, "msg": "bad", "details": "on purpose"}))
        sys.exit(1)
    if "K8S_POD_NAME=chatty;" in args:
        print("hello from the plugin")
    print(json.dumps(RESULT))
"""


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory with a short path (a unix socket path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vkub-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def node(make_netns: Callable[[str], str]) -> str:
    return make_netns("node")


@pytest.fixture
def prefix() -> str:
    return f"vpcipam-pod-{uuid.uuid4().hex[:6]}"


def conf(work: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.1.0",
        "name": "vpc-test",
        "type": "vpc-cni",
        "socketPath": str(work / "nobody.sock"),
        "spoolDir": str(work / "spool"),
        "vethPrefix": "eni",
        "timeoutSeconds": 5,
    }


def pod_namespaces(prefix: str) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in listed.stdout.splitlines() if line.startswith(prefix)]


class Recorder:
    def __init__(self, work: Path, kube_url: str | None = None) -> None:
        """``kube_url``: the API server as seen in the node; each call then records the
        pod's object (or the HTTP status of the GET) as ``pod_object``."""
        self.log = work / "calls.jsonl"
        self.script = work / "recorder.py"
        header = f"LOG = {str(self.log)!r}\nRESULT = {RESULT!r}\nKUBE = {kube_url!r}\n"
        self.script.write_text(header + RECORDER)

    @property
    def plugin(self) -> list[str]:
        return [sys.executable, str(self.script)]

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def recorder(work: Path) -> Recorder:
    return Recorder(work)


@pytest.fixture
def recorded(node: str, work: Path, prefix: str, recorder: Recorder) -> Iterator[Kubelet]:
    with Kubelet(node, conf(work), plugin=recorder.plugin, pod_prefix=prefix) as kubelet:
        yield kubelet
    assert pod_namespaces(prefix) == []


def cni_args(call: dict[str, Any]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in call["env"]["CNI_ARGS"].split(";"))


# The real vpc-cni, no daemon behind its socket.


def test_add_without_a_daemon_is_try_again_later_and_leaves_no_pod_namespace(
    node: str, work: Path, prefix: str
):
    kubelet = Kubelet(node, conf(work), plugin=[str(VPC_CNI)], pod_prefix=prefix)

    with pytest.raises(CniFailed) as failed:
        kubelet.run_pod("web")

    assert (failed.value.command, failed.value.code) == ("ADD", 11)
    assert "not reachable" in failed.value.msg
    assert json.loads(failed.value.stdout)["code"] == 11
    assert pod_namespaces(prefix) == []
    assert kubelet.pods() == []
    # containerd's teardown of a failed ADD: one DEL, which the plugin's fallback spools.
    [(_, release)] = read_releases(work / "spool")
    assert (release.network, release.ifname, release.addresses) == ("vpc-test", "eth0", ())
    assert re.fullmatch(r"[0-9a-f]{64}", release.container_id)


def test_delete_without_a_daemon_succeeds_and_removes_the_namespace(
    node: str, work: Path, prefix: str, make_netns: Callable[[str], str]
):
    pod_ns = make_netns("pod")
    veth = ("eni0a1b2c3d4e5", "type", "veth", "peer", "name", "eth0", "netns", pod_ns)
    ip(node, "link", "add", *veth)
    result = {
        "cniVersion": "1.1.0",
        "interfaces": [
            {"name": "eni0a1b2c3d4e5"},
            {"name": "eth0", "sandbox": f"/var/run/netns/{pod_ns}"},
        ],
        "ips": [{"address": "10.0.1.5/32", "interface": 1}],
    }
    pod = Pod("web", "default", "c0ffee" * 4, pod_ns, "10.0.1.5", result)
    kubelet = Kubelet(node, conf(work), plugin=[str(VPC_CNI)], pod_prefix=prefix)

    kubelet.delete_pod(pod)

    assert not Path(pod.netns_path).exists()
    assert [link["ifname"] for link in ip_json(node, "link")] == ["lo"]
    releases = sorted(entry.addresses for _, entry in read_releases(work / "spool"))
    assert releases == [(), ("10.0.1.5",)]  # the second DEL knows only the key


# A recording plugin: what the plugin receives.


def test_add_check_and_delete_send_what_a_runtime_sends(
    recorded: Kubelet, recorder: Recorder, work: Path, prefix: str
):
    pod = recorded.run_pod("web", "shop")

    assert re.fullmatch(r"[0-9a-f]{64}", pod.container_id)
    assert pod.netns.startswith(f"{prefix}-") and len(pod.netns) <= 40
    assert (pod.name, pod.namespace, pod.address, pod.result) == ("web", "shop", "10.0.1.5", RESULT)
    assert Path(pod.netns_path).exists()
    [lo] = ip_json(pod.netns, "link")
    assert "UP" in lo["flags"]
    assert recorded.pods() == [pod]

    recorded.check_pod(pod)
    recorded.delete_pod(pod)

    assert not Path(pod.netns_path).exists()
    assert recorded.pods() == []
    add, check, first, second = recorder.calls()
    assert [c["env"]["CNI_COMMAND"] for c in (add, check, first, second)] == [
        "ADD",
        "CHECK",
        "DEL",
        "DEL",
    ]
    for call in (add, check, first, second):
        # LC_CTYPE: the recorder's interpreter coerces the C locale itself (PEP 538).
        assert set(call["env"]) - {"LC_CTYPE"} == {
            "PATH",
            "CNI_COMMAND",
            "CNI_CONTAINERID",
            "CNI_NETNS",
            "CNI_IFNAME",
            "CNI_ARGS",
            "CNI_PATH",
        }
        assert call["env"]["CNI_CONTAINERID"] == pod.container_id
        assert call["env"]["CNI_IFNAME"] == "eth0"
        assert call["env"]["CNI_PATH"] == "/opt/cni/bin"
        assert cni_args(call) == {
            "IgnoreUnknown": "1",
            "K8S_POD_NAMESPACE": "shop",
            "K8S_POD_NAME": "web",
            "K8S_POD_INFRA_CONTAINER_ID": pod.container_id,
            "K8S_POD_UID": pod.uid,
        }
    assert uuid.UUID(pod.uid)
    for call in (add, check, first):
        assert call["env"]["CNI_NETNS"] == f"/var/run/netns/{pod.netns}"
        assert call["netns_exists"]
    assert add["stdin"] == conf(work)
    assert check["stdin"] == first["stdin"] == {**conf(work), "prevResult": RESULT}
    assert second["env"]["CNI_NETNS"] == ""
    assert second["stdin"] == conf(work)


def test_a_second_pod_of_the_same_name_is_another_sandbox(recorded: Kubelet, prefix: str):
    one = recorded.run_pod("web")
    two = recorded.run_pod("web")

    assert one.container_id != two.container_id
    assert one.netns != two.netns
    assert one.uid != two.uid
    assert sorted(pod_namespaces(prefix)) == sorted([one.netns, two.netns])

    recorded.delete_all()

    assert recorded.pods() == []
    assert pod_namespaces(prefix) == []


def test_pods_run_concurrently(recorded: Kubelet, recorder: Recorder, prefix: str):
    with ThreadPoolExecutor(8) as pool:
        pods = list(pool.map(lambda i: recorded.run_pod(f"pod-{i}"), range(16)))

    assert len({pod.container_id for pod in pods}) == 16
    assert sorted(pod_namespaces(prefix)) == sorted(pod.netns for pod in pods)
    assert {pod.container_id for pod in recorded.pods()} == {pod.container_id for pod in pods}
    assert len(recorder.calls()) == 16


def test_a_failed_add_is_torn_down_and_reported(
    recorded: Kubelet, recorder: Recorder, work: Path, prefix: str
):
    with pytest.raises(CniFailed) as failed:
        recorded.run_pod("broken")

    assert (failed.value.code, failed.value.msg, failed.value.details) == (7, "bad", "on purpose")
    assert "(code 7): bad; on purpose" in str(failed.value)
    assert pod_namespaces(prefix) == []
    assert recorded.pods() == []
    add, teardown = recorder.calls()
    assert teardown["env"]["CNI_COMMAND"] == "DEL"
    assert teardown["env"]["CNI_CONTAINERID"] == add["env"]["CNI_CONTAINERID"]
    assert teardown["env"]["CNI_NETNS"] == add["env"]["CNI_NETNS"]
    assert teardown["netns_exists"]
    assert teardown["stdin"] == conf(work)


def test_anything_but_json_on_stdout_is_a_failure(recorded: Kubelet, prefix: str):
    with pytest.raises(CniFailed) as failed:
        recorded.run_pod("chatty")

    assert failed.value.code == NO_ERROR_OBJECT
    assert "hello from the plugin" in failed.value.stdout
    assert pod_namespaces(prefix) == []


def test_bad_arguments_are_refused(node: str, work: Path):
    with pytest.raises(ValueError, match="longer than"):
        Kubelet(node, conf(work), plugin=["x"], pod_prefix="p" * 30)
    with pytest.raises(ValueError, match="prevResult"):
        Kubelet(node, {**conf(work), "prevResult": RESULT}, plugin=["x"], pod_prefix="p")
    with pytest.raises(FileNotFoundError):
        Kubelet("vpcipam-no-such-node", conf(work), plugin=["x"], pod_prefix="p")


# With the Kubernetes API emulator: pod objects around the CNI calls.

NODE = "node-a"


@pytest.fixture
def kube() -> Iterator[Any]:
    from sandbox.kube import KubeEmulator  # noqa: PLC0415 (the kubernetes client: slow)

    with KubeEmulator() as emulator:
        emulator.add_node(NODE)
        yield emulator


@pytest.fixture
def kube_recorder(node: str, work: Path, kube: Any) -> Iterator[Recorder]:
    """A recorder that fetches the pod's object through a portal into the node."""
    from sandbox.portal import Portal  # noqa: PLC0415

    ip(node, "link", "set", "lo", "up")
    with Portal(node, ("127.0.0.1", kube.port)) as portal:
        yield Recorder(work, portal.url)


@pytest.fixture
def with_kube(
    node: str, work: Path, prefix: str, kube: Any, kube_recorder: Recorder
) -> Iterator[Kubelet]:
    with Kubelet(
        node,
        conf(work),
        plugin=kube_recorder.plugin,
        pod_prefix=prefix,
        kube=kube,
        node_name=NODE,
    ) as kubelet:
        yield kubelet
    assert pod_namespaces(prefix) == []
    assert kube.pods() == []


def changes_since(kube: Any, version: int) -> list[tuple[str, dict[str, Any]]]:
    """The pod changes the API server committed after ``version``: (type, object)."""
    import time  # noqa: PLC0415

    changes, _, _ = kube.store.next_changes(version, time.monotonic(), kube.store.epoch)
    return [(c.type, c.object) for c in changes if c.resource == "pods"]


def test_with_kube_the_pod_object_is_pending_at_add_and_running_with_its_ip_after(
    with_kube: Kubelet, kube_recorder: Recorder, kube: Any
):
    before = kube.resource_version

    pod = with_kube.run_pod("web", "shop")

    [add] = kube_recorder.calls()
    seen = add["pod_object"]
    assert seen["status"]["phase"] == "Pending"
    assert "podIP" not in seen["status"]
    assert seen["spec"]["nodeName"] == NODE
    assert seen["metadata"]["uid"] == pod.uid == cni_args(add)["K8S_POD_UID"]
    assert cni_args(add)["K8S_POD_INFRA_CONTAINER_ID"] == pod.container_id
    now = kube.pod("shop", "web")
    assert now["status"]["phase"] == "Running"
    assert now["status"]["podIP"] == pod.address == "10.0.1.5"
    assert now["status"]["podIPs"] == [{"ip": "10.0.1.5"}]
    assert [t for t, _ in changes_since(kube, before)] == ["ADDED", "MODIFIED"]


def test_with_kube_delete_marks_the_object_terminating_before_del_and_deletes_it_after(
    with_kube: Kubelet, kube_recorder: Recorder, kube: Any
):
    pod = with_kube.run_pod("web")
    before = kube.resource_version

    with_kube.delete_pod(pod)

    _, first, second = kube_recorder.calls()
    for call in (first, second):
        assert call["env"]["CNI_COMMAND"] == "DEL"
        assert "deletionTimestamp" in call["pod_object"]["metadata"]
    assert kube.pods(NODE) == []
    assert [t for t, _ in changes_since(kube, before)] == ["MODIFIED", "DELETED"]


def test_a_lost_pod_loses_its_object_and_netns_without_a_plugin_call(
    with_kube: Kubelet, kube_recorder: Recorder, kube: Any
):
    lost, kept = with_kube.run_pod("lost"), with_kube.run_pod("kept")

    with_kube.lose_pod(lost)

    assert not Path(lost.netns_path).exists()
    assert Path(kept.netns_path).exists()
    assert [o["metadata"]["name"] for o in kube.pods(NODE)] == ["kept"]
    assert with_kube.pods() == [kept]
    assert [c["env"]["CNI_COMMAND"] for c in kube_recorder.calls()] == ["ADD", "ADD"]


def test_a_scheduled_pod_is_pending_without_a_call_until_run_starts_it(
    with_kube: Kubelet, kube_recorder: Recorder, kube: Any
):
    made = with_kube.schedule_pod("later", "shop")

    assert made["status"] == {"phase": "Pending"}
    assert made["spec"]["nodeName"] == NODE
    assert kube_recorder.calls() == []
    assert with_kube.scheduled() == [("shop", "later")]
    before = kube.resource_version

    pod = with_kube.run_pod("later", "shop")

    assert pod.uid == made["metadata"]["uid"]
    assert with_kube.scheduled() == []
    assert [t for t, _ in changes_since(kube, before)] == ["MODIFIED"]
    assert kube.pod("shop", "later")["status"]["podIP"] == pod.address


def test_delete_all_also_deletes_scheduled_pods_never_run(with_kube: Kubelet, kube: Any):
    with_kube.schedule_pod("a")
    with_kube.schedule_pod("b")
    with_kube.run_pod("c")

    with_kube.delete_all()

    assert kube.pods() == []
    assert with_kube.scheduled() == []


def test_with_kube_a_failed_add_deletes_the_pod_object(
    with_kube: Kubelet, kube_recorder: Recorder, kube: Any, prefix: str
):
    with pytest.raises(CniFailed):
        with_kube.run_pod("broken")

    add, teardown = kube_recorder.calls()
    assert add["pod_object"]["status"]["phase"] == "Pending"
    assert teardown["env"]["CNI_COMMAND"] == "DEL"
    assert kube.pods() == []
    assert pod_namespaces(prefix) == []


def test_kube_needs_a_node_name_and_scheduling_needs_kube(node: str, work: Path, kube: Any):
    with pytest.raises(ValueError, match="node_name"):
        Kubelet(node, conf(work), plugin=["x"], pod_prefix="p", kube=kube)
    plain = Kubelet(node, conf(work), plugin=["x"], pod_prefix="p")
    with pytest.raises(RuntimeError, match="no Kubernetes"):
        plain.schedule_pod("web")
