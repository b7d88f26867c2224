"""The edge to the API server over real HTTP: against the Kubernetes API emulator for each
call's round trip, watches, compaction and outages; against a scripted server (``apiserver``)
for what the emulator does not do: tokens checked and rotated, 401/403, bookmarks, every
error status, ERROR events on demand, broken and stalled answers, TLS."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ipamd.k8s.api import KubeApi, WatchEvent
from ipamd.k8s.errors import Forbidden, Gone, KubeError, NotFound, Rejected, Unavailable
from sandbox.kube import KubeEmulator
from tests.unit.ipamd.k8s.apiserver import (
    Answer,
    ScriptedApiServer,
    certificates,
    status_document,
    stream,
)
from tests.unit.ipamd.k8s.support import NODE, WAIT, kube_settings


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., KubeApi]]:
    """KubeApi clients for a URL (no token file unless given), closed at the end."""
    made: list[KubeApi] = []

    def make(url: str, token_file: Path | None = None, **env: str) -> KubeApi:
        made.append(KubeApi(kube_settings(url, token_file or tmp_path / "no-token", **env)))
        return made[-1]

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(kube: KubeEmulator, make_api: Callable[..., KubeApi]) -> KubeApi:
    return make_api(kube.url)


@pytest.fixture
def scripted() -> Iterator[ScriptedApiServer]:
    server = ScriptedApiServer()
    yield server
    server.stop()


class Watching:
    """A watch read in a thread of its own, as a reflector reads it; what it yields (or the
    error that ends it) arrives in a queue."""

    def __init__(self, events: Iterator[WatchEvent]) -> None:
        self._events = events
        self.received: queue.Queue[WatchEvent | BaseException | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self._events:
                self.received.put(event)
            self.received.put(None)
        except BaseException as error:
            self.received.put(error)

    def next(self) -> WatchEvent | BaseException | None:
        return self.received.get(timeout=WAIT)

    def events(self, count: int) -> list[tuple[str, str]]:
        """(type, object name) of the next ``count`` events."""
        out = []
        for _ in range(count):
            item = self.next()
            assert isinstance(item, tuple), item
            out.append((item[0], item[1]["metadata"].get("name", "")))
        return out

    def end(self) -> BaseException | None:
        """What ended the stream (None: it finished cleanly)."""
        while isinstance(item := self.next(), tuple):
            pass
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return item


EVENT = {
    "metadata": {"generateName": f"{NODE}."},
    "involvedObject": {"kind": "Node", "name": NODE},
    "reason": "SubnetExhausted",
    "message": "the subnet has no room",
    "type": "Warning",
}
POD = {"metadata": {"namespace": "default", "name": "web-1", "resourceVersion": "8"}}


# -- round trips (the emulator) -----------------------------------------------------------------


def test_list_nodes_gives_this_node_and_a_resource_version(kube: KubeEmulator, api: KubeApi):
    kube.add_node(NODE, pods_capacity=17)
    nodes, version = api.list_nodes(NODE)
    assert [n["metadata"]["name"] for n in nodes] == [NODE]
    assert nodes[0]["status"]["capacity"]["pods"] == "17"
    assert version == str(kube.resource_version)
    assert kube.call_count("list", "nodes") == 1


def test_list_nodes_of_an_unregistered_node_is_empty(kube: KubeEmulator, api: KubeApi):
    assert api.list_nodes(NODE)[0] == []


def test_list_pods_gives_the_pods_of_this_node_only(kube: KubeEmulator, api: KubeApi):
    kube.add_pod("default", "web-1", NODE, phase="Pending")
    kube.add_pod("kube-system", "dns-1", NODE, ip="10.0.1.5")
    kube.add_pod("default", "web-2", "node-b")
    pods, version = api.list_pods(NODE)
    assert sorted(p["metadata"]["name"] for p in pods) == ["dns-1", "web-1"]
    assert version == str(kube.resource_version)


def test_get_eniconfig_reads_the_custom_resource(kube: KubeEmulator, api: KubeApi):
    kube.add_eniconfig("us-east-1a", "subnet-pods", ["sg-1", "sg-2"])
    found = api.get_eniconfig("us-east-1a")
    assert found["spec"] == {"subnet": "subnet-pods", "securityGroups": ["sg-1", "sg-2"]}
    assert kube.call_count("get", "eniconfigs") == 1


def test_a_missing_eniconfig_is_not_found(kube: KubeEmulator, api: KubeApi):
    with pytest.raises(NotFound) as missing:
        api.get_eniconfig("us-east-1a")
    assert missing.value.status == 404
    assert "get eniconfigs" in str(missing.value)
    assert "us-east-1a" in str(missing.value)  # the Status's message, not only "Not Found"


def test_create_event_posts_it_in_the_namespace(kube: KubeEmulator, api: KubeApi):
    api.create_event("default", EVENT)
    (created,) = kube.events("default")
    assert created["reason"] == "SubnetExhausted"
    assert created["metadata"]["name"].startswith(f"{NODE}.")
    assert kube.call_count("create", "events") == 1


def test_the_emulator_sees_each_call_as_its_rbac_verb(kube: KubeEmulator, api: KubeApi):
    kube.add_eniconfig("zone-a", "subnet-pods", [])
    api.list_nodes(NODE)
    api.list_pods(NODE)
    api.get_eniconfig("zone-a")
    api.create_event("default", EVENT)
    nodes = Watching(api.watch_nodes(NODE, str(kube.resource_version)))
    pods = Watching(api.watch_pods(NODE, str(kube.resource_version)))
    kube.add_node(NODE)
    kube.add_pod("default", "web-1", NODE)
    assert nodes.events(1) == [("ADDED", NODE)]
    assert pods.events(1) == [("ADDED", "web-1")]
    assert kube.calls() == {
        "list nodes": 1,
        "list pods": 1,
        "get eniconfigs": 1,
        "create events": 1,
        "watch nodes": 1,
        "watch pods": 1,
    }


# -- what goes on the wire (the scripted server) ------------------------------------------------


def test_a_list_asks_for_this_node_only(scripted: ScriptedApiServer, make_api):
    assert make_api(scripted.url).list_nodes(NODE) == ([], "7")
    (request,) = scripted.requests
    assert (request.method, request.path) == ("GET", "/api/v1/nodes")
    assert request.query == {"fieldSelector": f"metadata.name={NODE}"}


def test_a_watch_asks_for_bookmarks_from_its_version_for_a_bounded_time(
    scripted: ScriptedApiServer, make_api
):
    scripted.answer = Answer(body=b"")
    assert list(make_api(scripted.url).watch_pods(NODE, "42")) == []
    (request,) = scripted.requests
    assert (request.method, request.path) == ("GET", "/api/v1/pods")
    assert request.query == {
        "fieldSelector": f"spec.nodeName={NODE}",
        "watch": "true",
        "resourceVersion": "42",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "10",  # WATCH_SECONDS, shortened by conftest
    }


def test_an_event_is_posted_as_json(scripted: ScriptedApiServer, make_api):
    scripted.answer = Answer(201, {"kind": "Event", "metadata": {"name": "node-a.1"}})
    make_api(scripted.url).create_event("kube-system", EVENT)
    (request,) = scripted.requests
    assert (request.method, request.path) == ("POST", "/api/v1/namespaces/kube-system/events")
    assert request.content_type == "application/json"
    assert json.loads(request.body) == EVENT


def test_an_eniconfig_name_is_one_path_segment(scripted: ScriptedApiServer, make_api):
    scripted.answer = Answer(body={"kind": "ENIConfig", "metadata": {"name": "a/b"}})
    make_api(scripted.url).get_eniconfig("a/b")
    assert scripted.requests[0].path == "/apis/crd.k8s.amazonaws.com/v1alpha1/eniconfigs/a%2Fb"


# -- tokens -------------------------------------------------------------------------------------


def test_the_token_is_sent_as_a_bearer_token(scripted: ScriptedApiServer, make_api, tmp_path):
    token = tmp_path / "token"
    token.write_text("token-1\n")
    scripted.tokens = {"token-1"}
    assert make_api(scripted.url, token).list_nodes(NODE) == ([], "7")
    assert scripted.authorizations == ["Bearer token-1"]


def test_a_rotated_token_is_read_before_the_next_request(
    scripted: ScriptedApiServer, make_api, tmp_path
):
    token = tmp_path / "token"
    token.write_text("token-1")
    scripted.tokens = {"token-1"}
    api = make_api(scripted.url, token)
    api.list_nodes(NODE)
    token.write_text("token-2")  # the kubelet rotates it; the old one is no longer accepted
    scripted.tokens = {"token-2"}
    api.list_nodes(NODE)
    scripted.answer = Answer(body=stream({"type": "ADDED", "object": POD}))
    assert [kind for kind, _ in api.watch_pods(NODE, "7")] == ["ADDED"]
    assert scripted.authorizations == ["Bearer token-1", "Bearer token-2", "Bearer token-2"]


def test_a_token_the_server_does_not_accept_is_forbidden(
    scripted: ScriptedApiServer, make_api, tmp_path
):
    token = tmp_path / "token"
    token.write_text("expired")
    scripted.tokens = {"current"}
    with pytest.raises(Forbidden) as refused:
        make_api(scripted.url, token).list_pods(NODE)
    assert refused.value.status == 401
    assert str(refused.value) == "list pods: 401 Unauthorized"


def test_without_a_token_file_no_authorization_is_sent(scripted: ScriptedApiServer, make_api):
    make_api(scripted.url).list_nodes(NODE)
    assert scripted.authorizations == [None]


def test_a_verb_the_role_lacks_is_forbidden_with_the_servers_reason(
    scripted: ScriptedApiServer, make_api
):
    message = (
        'pods is forbidden: User "system:serviceaccount:kube-system:vpc-ipam" cannot list '
        'resource "pods" in API group "" at the cluster scope'
    )
    scripted.answer = Answer(403, status_document(403, message))
    with pytest.raises(Forbidden) as forbidden:
        make_api(scripted.url).list_pods(NODE)
    assert forbidden.value.status == 403
    assert str(forbidden.value) == f"list pods: 403 {message}"


# -- every status -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (410, Gone),
        (404, NotFound),
        (401, Forbidden),
        (403, Forbidden),
        (429, Unavailable),
        (500, Unavailable),
        (502, Unavailable),
        (503, Unavailable),
        (504, Unavailable),
        (400, Rejected),
        (409, Rejected),
        (422, Rejected),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda api: api.list_pods(NODE), id="list"),
        pytest.param(lambda api: api.create_event("default", EVENT), id="create"),
        pytest.param(lambda api: list(api.watch_pods(NODE, "7")), id="watch"),
    ],
)
def test_each_status_is_its_error(
    scripted: ScriptedApiServer,
    make_api,
    status: int,
    kind: type[KubeError],
    call: Callable[[KubeApi], object],
):
    scripted.answer = Answer(status, status_document(status, "Because"))
    with pytest.raises(KubeError) as failed:
        call(make_api(scripted.url))
    assert type(failed.value) is kind
    assert failed.value.status == status
    assert str(failed.value).endswith(f": {status} Because")


def test_an_error_without_a_status_document_carries_the_reason_phrase(
    scripted: ScriptedApiServer, make_api
):
    scripted.answer = Answer(502, b"<html>bad gateway</html>")
    with pytest.raises(Unavailable) as unavailable:
        make_api(scripted.url).list_nodes(NODE)
    assert str(unavailable.value) == "list nodes: 502 Bad Gateway"


def test_a_connection_answering_an_error_is_fit_for_the_next_request(
    scripted: ScriptedApiServer, make_api
):
    scripted.queued = [Answer(500, status_document(500, "etcd")), Answer()]
    api = make_api(scripted.url)
    with pytest.raises(Unavailable):
        list(api.watch_pods(NODE, "7"))
    assert api.list_nodes(NODE) == ([], "7")


def test_a_created_event_leaves_the_connection_fit_for_the_next_request(
    scripted: ScriptedApiServer, make_api
):
    scripted.queued = [Answer(201, {"kind": "Event"}, delay=0.2)]
    api = make_api(scripted.url)
    api.create_event("default", EVENT)
    assert api.list_nodes(NODE) == ([], "7")


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"not json",
        b'{"items": []}',
        b'{"items": null, "metadata": {"resourceVersion": "7"}}',
    ],
)
def test_a_list_that_is_not_a_list_is_unavailable(
    scripted: ScriptedApiServer, make_api, body: bytes
):
    scripted.answer = Answer(body=body)
    with pytest.raises(Unavailable):
        make_api(scripted.url).list_nodes(NODE)


# -- watches (the emulator) ---------------------------------------------------------------------


def test_watch_pods_follows_this_nodes_pods_from_the_listed_version(
    kube: KubeEmulator, api: KubeApi
):
    kube.add_pod("default", "before", NODE)
    _, version = api.list_pods(NODE)
    watching = Watching(api.watch_pods(NODE, version))
    kube.add_pod("default", "web-1", NODE, phase="Pending")
    kube.add_pod("default", "elsewhere", "node-b", phase="Pending")
    kube.update_pod("default", "elsewhere", phase="Running", ip="10.0.2.7")
    kube.update_pod("default", "web-1", phase="Running", ip="10.0.1.7")
    kube.delete_pod("default", "elsewhere")
    kube.delete_pod("default", "web-1")
    assert watching.events(3) == [
        ("ADDED", "web-1"),
        ("MODIFIED", "web-1"),
        ("DELETED", "web-1"),
    ]
    assert watching.received.empty()
    api.close()
    assert isinstance(watching.end(), Unavailable)


def test_a_watch_carries_the_objects_resource_versions(kube: KubeEmulator, api: KubeApi):
    _, version = api.list_pods(NODE)
    watching = Watching(api.watch_pods(NODE, version))
    kube.add_pod("default", "web-1", NODE)
    item = watching.next()
    assert isinstance(item, tuple)
    assert item[1]["metadata"]["resourceVersion"] == str(kube.resource_version)


def test_watch_nodes_follows_this_node_only(kube: KubeEmulator, api: KubeApi):
    _, version = api.list_nodes(NODE)
    watching = Watching(api.watch_nodes(NODE, version))
    kube.add_node("node-c")
    kube.add_node(NODE)
    kube.delete_node(NODE)
    assert watching.events(2) == [("ADDED", NODE), ("DELETED", NODE)]


def test_a_watch_from_a_compacted_version_is_gone(kube: KubeEmulator, api: KubeApi):
    """The emulator answers 200 and one ERROR event with a 410 Status, as the real server."""
    _, version = api.list_pods(NODE)
    kube.add_pod("default", "web-1", NODE)
    kube.compact()
    with pytest.raises(Gone) as gone:
        list(api.watch_pods(NODE, version))
    assert gone.value.status == 410


def test_a_watch_from_the_current_version_after_compaction_is_fine(
    kube: KubeEmulator, api: KubeApi
):
    kube.add_pod("default", "web-1", NODE)
    kube.compact()
    _, version = api.list_pods(NODE)
    watching = Watching(api.watch_pods(NODE, version))
    kube.add_pod("default", "web-2", NODE)
    assert watching.events(1) == [("ADDED", "web-2")]


def test_close_ends_an_open_watch_at_once(kube: KubeEmulator, api: KubeApi):
    _, version = api.list_pods(NODE)
    watching = Watching(api.watch_pods(NODE, version))
    kube.add_pod("default", "web-1", NODE)
    assert watching.events(1) == [("ADDED", "web-1")]  # the stream is open and read
    closer = threading.Thread(target=api.close)
    started = time.monotonic()
    closer.start()
    error = watching.end()
    closer.join(WAIT)
    assert time.monotonic() - started < 2.0
    assert isinstance(error, Unavailable)


def test_close_ends_both_watches_of_the_layer(kube: KubeEmulator, api: KubeApi):
    pods = Watching(api.watch_pods(NODE, str(kube.resource_version)))
    nodes = Watching(api.watch_nodes(NODE, str(kube.resource_version)))
    kube.add_node(NODE)
    kube.add_pod("default", "web-1", NODE)
    assert nodes.events(1) == [("ADDED", NODE)]
    assert pods.events(1) == [("ADDED", "web-1")]
    api.close()
    assert isinstance(pods.end(), Unavailable)
    assert isinstance(nodes.end(), Unavailable)


def test_a_watch_started_after_close_is_unavailable(kube: KubeEmulator, api: KubeApi):
    api.close()
    started = time.monotonic()
    with pytest.raises(Unavailable, match="closed"):
        list(api.watch_pods(NODE, str(kube.resource_version)))
    assert time.monotonic() - started < 2.0


def test_a_reader_that_stops_early_drops_the_stream(kube: KubeEmulator, api: KubeApi):
    watch = api.watch_pods(NODE, str(kube.resource_version))
    kube.add_pod("default", "web-1", NODE)
    for kind, _ in watch:  # a reflector told to stop breaks out of its loop
        assert kind == "ADDED"
        break
    del watch  # the generator closes, and with it the stream
    kube.add_pod("default", "web-2", NODE)
    assert [p["metadata"]["name"] for p in api.list_pods(NODE)[0]] == ["web-1", "web-2"]


def test_the_emulator_ending_a_watch_finishes_the_stream_cleanly(kube: KubeEmulator, api: KubeApi):
    _, version = api.list_pods(NODE)
    watching = Watching(api.watch_pods(NODE, version))
    kube.add_pod("default", "web-1", NODE)
    assert watching.events(1) == [("ADDED", "web-1")]
    kube.set_unavailable()  # open watches end, as when the server closes them
    assert watching.end() is None


# -- watches (the scripted server) --------------------------------------------------------------


def test_bookmarks_and_blank_lines_pass_through_a_watch(scripted: ScriptedApiServer, make_api):
    bookmark = {"kind": "Pod", "metadata": {"resourceVersion": "9"}}
    scripted.answer = Answer(
        body=stream({"type": "BOOKMARK", "object": bookmark}, b"", {"type": "ADDED", "object": POD})
    )
    got = list(make_api(scripted.url).watch_pods(NODE, "7"))
    assert got == [("BOOKMARK", bookmark), ("ADDED", POD)]


def test_a_410_status_answering_a_watch_is_gone(scripted: ScriptedApiServer, make_api):
    scripted.answer = Answer(410, status_document(410, "too old resource version: 7 (12)"))
    with pytest.raises(Gone) as gone:
        list(make_api(scripted.url).watch_pods(NODE, "7"))
    assert gone.value.status == 410
    assert "too old resource version" in str(gone.value)


def test_a_410_error_event_inside_the_stream_is_gone(scripted: ScriptedApiServer, make_api):
    scripted.answer = Answer(
        body=stream(
            {"type": "ADDED", "object": POD},
            {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}},
        )
    )
    watching = Watching(make_api(scripted.url).watch_pods(NODE, "7"))
    assert watching.events(1) == [("ADDED", "web-1")]
    error = watching.end()
    assert isinstance(error, Gone)
    assert error.status == 410
    assert "too old" in str(error)


def test_another_error_event_inside_the_stream_is_unavailable(
    scripted: ScriptedApiServer, make_api
):
    scripted.answer = Answer(
        body=stream(
            {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd is down"}}
        )
    )
    with pytest.raises(Unavailable) as unavailable:
        list(make_api(scripted.url).watch_pods(NODE, "7"))
    assert unavailable.value.status == 500
    assert "etcd is down" in str(unavailable.value)


@pytest.mark.parametrize(
    "line",
    [b"not json", b'{"object": {}}', b'["ADDED"]'],
)
def test_an_unreadable_watch_event_is_unavailable(
    scripted: ScriptedApiServer, make_api, line: bytes
):
    scripted.answer = Answer(body=stream({"type": "ADDED", "object": POD}, line))
    watching = Watching(make_api(scripted.url).watch_pods(NODE, "7"))
    assert watching.events(1) == [("ADDED", "web-1")]
    error = watching.end()
    assert isinstance(error, Unavailable)
    assert "unreadable event" in str(error)


def test_a_watch_cut_off_mid_stream_is_unavailable(scripted: ScriptedApiServer, make_api):
    scripted.queued = [
        Answer(body=stream(*[{"type": "ADDED", "object": POD}] * 4), cut=True),
        Answer(),
    ]
    api = make_api(scripted.url)
    watching = Watching(api.watch_pods(NODE, "7"))
    assert watching.events(2) == [("ADDED", "web-1")] * 2
    error = watching.end()
    assert isinstance(error, Unavailable)
    assert error.status is None
    assert api.list_nodes(NODE) == ([], "7")  # on a new connection


# -- outages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda api: api.list_pods(NODE), id="list pods"),
        pytest.param(lambda api: api.list_nodes(NODE), id="list nodes"),
        pytest.param(lambda api: api.get_eniconfig("zone-a"), id="get eniconfig"),
        pytest.param(lambda api: api.create_event("default", EVENT), id="create event"),
        pytest.param(lambda api: list(api.watch_pods(NODE, "1")), id="watch pods"),
        pytest.param(lambda api: list(api.watch_nodes(NODE, "1")), id="watch nodes"),
    ],
)
def test_an_unavailable_api_server_is_unavailable(
    kube: KubeEmulator, api: KubeApi, call: Callable[[KubeApi], object]
):
    kube.add_node(NODE)
    kube.set_unavailable()
    with pytest.raises(Unavailable) as unavailable:
        call(api)
    assert unavailable.value.status == 503


def test_the_api_server_back_answers_again(kube: KubeEmulator, api: KubeApi):
    kube.set_unavailable()
    with pytest.raises(Unavailable):
        api.list_pods(NODE)
    kube.set_unavailable(False)
    assert api.list_pods(NODE)[0] == []


def test_nothing_listening_is_unavailable_at_once(make_api):
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    port = reserved.getsockname()[1]
    reserved.close()
    api = make_api(f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(Unavailable) as unavailable:
        api.list_pods(NODE)
    assert time.monotonic() - started < 2.0
    assert unavailable.value.status is None
    assert str(unavailable.value).startswith("list pods: NewConnectionError")
    with pytest.raises(Unavailable):
        list(api.watch_pods(NODE, "1"))


def test_a_stalled_answer_is_unavailable_after_the_read_timeout(
    scripted: ScriptedApiServer, make_api, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("ipamd.k8s.api.READ_TIMEOUT", 0.3)
    scripted.queued = [Answer(delay=2.0)]
    started = time.monotonic()
    with pytest.raises(Unavailable) as unavailable:
        make_api(scripted.url).list_nodes(NODE)
    assert time.monotonic() - started < 1.5
    assert "ReadTimeoutError" in str(unavailable.value)


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ScriptedApiServer, Path]]:
    made = certificates(tmp_path)
    server = ScriptedApiServer(tls=made.server)
    yield server, made.ca_file
    server.stop()


def test_https_is_verified_with_the_ca_file(tls_server, make_api, tmp_path):
    server, ca_file = tls_server
    token = tmp_path / "token"
    token.write_text("secret")
    api = make_api(server.url, token, VPC_IPAM_KUBE_CA_FILE=str(ca_file))
    assert api.list_nodes(NODE) == ([], "7")
    assert server.authorizations == ["Bearer secret"]


def test_a_certificate_the_ca_file_did_not_sign_is_unavailable(tls_server, make_api, tmp_path):
    server, _ = tls_server
    (tmp_path / "other").mkdir()
    other = certificates(tmp_path / "other")  # another cluster's CA
    api = make_api(server.url, VPC_IPAM_KUBE_CA_FILE=str(other.ca_file))
    with pytest.raises(Unavailable) as unavailable:
        api.list_nodes(NODE)
    assert "SSLError" in str(unavailable.value)
    assert server.requests == []
