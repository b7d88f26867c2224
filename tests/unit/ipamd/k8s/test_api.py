"""The edge to the API server against a real HTTP emulator: each call's round trip, watches,
and every failure as the one error type callers decide on."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from ipamd.k8s.api import KubeApi, WatchEvent, map_error
from ipamd.k8s.errors import Forbidden, Gone, KubeError, NotFound, Rejected, Unavailable
from sandbox.kube import KubeEmulator
from tests.unit.ipamd.k8s.support import NODE, WAIT, kube_settings


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[[str], KubeApi]]:
    """KubeApi clients for a URL, closed at the end of the test (no token file)."""
    made: list[KubeApi] = []

    def make(url: str) -> KubeApi:
        made.append(KubeApi(kube_settings(url, tmp_path / "no-token")))
        return made[-1]

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(kube: KubeEmulator, make_api: Callable[[str], KubeApi]) -> KubeApi:
    return make_api(kube.url)


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
        """(type, pod name) of the next ``count`` events."""
        out = []
        for _ in range(count):
            item = self.next()
            assert isinstance(item, tuple), item
            out.append((item[0], item[1]["metadata"]["name"]))
        return out

    def end(self) -> BaseException | None:
        """What ended the stream (None: it finished cleanly)."""
        while isinstance(item := self.next(), tuple):
            pass
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return item


# -- round trips --------------------------------------------------------------------------------


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


EVENT = {
    "metadata": {"generateName": f"{NODE}."},
    "involvedObject": {"kind": "Node", "name": NODE},
    "reason": "SubnetExhausted",
    "message": "the subnet has no room",
    "type": "Warning",
}


def test_create_event_posts_it_in_the_namespace(kube: KubeEmulator, api: KubeApi):
    api.create_event("default", EVENT)
    (created,) = kube.events("default")
    assert created["reason"] == "SubnetExhausted"
    assert created["metadata"]["name"].startswith(f"{NODE}.")
    assert kube.call_count("create", "events") == 1


# -- watches ------------------------------------------------------------------------------------


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
    item = watching.next()
    assert isinstance(item, tuple)
    assert (item[0], item[1]["metadata"]["name"]) == ("ADDED", NODE)
    item = watching.next()
    assert isinstance(item, tuple)
    assert (item[0], item[1]["metadata"]["name"]) == ("DELETED", NODE)


def test_a_watch_from_a_compacted_version_is_gone(kube: KubeEmulator, api: KubeApi):
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


def test_the_emulator_ending_a_watch_finishes_the_stream_cleanly(kube: KubeEmulator, api: KubeApi):
    _, version = api.list_pods(NODE)
    watching = Watching(api.watch_pods(NODE, version))
    kube.add_pod("default", "web-1", NODE)
    assert watching.events(1) == [("ADDED", "web-1")]
    kube.set_unavailable()  # open watches end, as when the server closes them
    assert watching.end() is None


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


def test_nothing_listening_is_unavailable_at_once(make_api: Callable[[str], KubeApi]):
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
    assert "list pods" in str(unavailable.value)
    with pytest.raises(Unavailable):
        list(api.watch_pods(NODE, "1"))


# -- a recording server: headers, and watch streams the emulator does not send ------------------


class Recorder:
    """A tiny HTTP/1.1 keep-alive server on loopback that records each request's
    Authorization header and answers GETs with ``body`` (a node list by default) and POSTs
    with ``created``, whose body it sends ``post_delay`` seconds after the headers (as a
    busy server or a slow network may)."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        self.paths: list[str] = []
        self.body = json.dumps(
            {"kind": "NodeList", "metadata": {"resourceVersion": "7"}, "items": []}
        ).encode()
        self.created = json.dumps({"kind": "Event", "metadata": {"name": "node-a.1"}}).encode()
        self.post_delay = 0.0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = WAIT

            def do_GET(self) -> None:
                self._answer(200, recorder.body, 0.0)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(201, recorder.created, recorder.post_delay)

            def _answer(self, status: int, body: bytes, delay: float) -> None:
                recorder.authorizations.append(self.headers.get("Authorization"))
                recorder.paths.append(f"{self.command} {self.path.split('?')[0]}")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.flush()
                time.sleep(delay)
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


def test_the_token_is_sent_as_a_bearer_token(recorder: Recorder, tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("token-1\n")
    api = KubeApi(kube_settings(recorder.url, token))
    try:
        assert api.list_nodes(NODE) == ([], "7")
        assert recorder.authorizations == ["Bearer token-1"]
    finally:
        api.close()


def test_a_rotated_token_is_sent_with_the_next_request(recorder: Recorder, tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("token-1")
    api = KubeApi(kube_settings(recorder.url, token))
    try:
        api.list_nodes(NODE)
        token.write_text("token-2")
        api.list_nodes(NODE)
        assert recorder.authorizations == [
            "Bearer token-1",
            "Bearer token-2",
        ]
    finally:
        api.close()


def test_without_a_token_file_no_authorization_is_sent(
    recorder: Recorder, make_api: Callable[[str], KubeApi]
):
    make_api(recorder.url).list_nodes(NODE)
    assert recorder.authorizations == [None]


def test_a_created_event_leaves_the_connection_fit_for_the_next_request(
    recorder: Recorder, make_api: Callable[[str], KubeApi]
):
    recorder.post_delay = 0.2
    api = make_api(recorder.url)
    api.create_event("default", EVENT)
    # BadStatusLine('{"kind": "Event", ...') -> Unavailable
    assert api.list_nodes(NODE) == ([], "7")


def stream(*events: Any) -> bytes:
    return b"".join((e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n" for e in events)


POD = {"metadata": {"namespace": "default", "name": "web-1", "resourceVersion": "8"}}


def test_a_410_error_event_inside_the_stream_is_gone(
    recorder: Recorder, make_api: Callable[[str], KubeApi]
):
    recorder.body = stream(
        {"type": "ADDED", "object": POD},
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}},
    )
    watching = Watching(make_api(recorder.url).watch_pods(NODE, "7"))
    assert watching.events(1) == [("ADDED", "web-1")]
    error = watching.end()
    assert isinstance(error, Gone)
    assert error.status == 410
    assert "too old" in str(error)


def test_another_error_event_inside_the_stream_is_unavailable(
    recorder: Recorder, make_api: Callable[[str], KubeApi]
):
    recorder.body = stream(
        {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd is down"}}
    )
    with pytest.raises(Unavailable) as unavailable:
        list(make_api(recorder.url).watch_pods(NODE, "7"))
    assert unavailable.value.status == 500
    assert "etcd is down" in str(unavailable.value)


@pytest.mark.parametrize(
    "line",
    [b"not json", json.dumps({"object": POD}).encode(), json.dumps(["ADDED"]).encode()],
)
def test_an_unreadable_watch_event_is_unavailable(
    recorder: Recorder, make_api: Callable[[str], KubeApi], line: bytes
):
    recorder.body = stream({"type": "ADDED", "object": POD}, line)
    watching = Watching(make_api(recorder.url).watch_pods(NODE, "7"))
    assert watching.events(1) == [("ADDED", "web-1")]
    error = watching.end()
    assert isinstance(error, Unavailable)
    assert "unreadable event" in str(error)


def test_bookmarks_and_blank_lines_pass_through_a_watch(
    recorder: Recorder, make_api: Callable[[str], KubeApi]
):
    bookmark = {"metadata": {"resourceVersion": "9"}}
    recorder.body = stream(
        {"type": "BOOKMARK", "object": bookmark}, b"", {"type": "ADDED", "object": POD}
    )
    got = list(make_api(recorder.url).watch_pods(NODE, "7"))
    assert [kind for kind, _ in got] == ["BOOKMARK", "ADDED"]


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"not json",
        json.dumps({"items": []}).encode(),
        json.dumps({"items": None, "metadata": {"resourceVersion": "7"}}).encode(),
    ],
)
def test_a_list_that_is_not_a_list_is_unavailable(
    recorder: Recorder, make_api: Callable[[str], KubeApi], body: bytes
):
    recorder.body = body
    with pytest.raises(Unavailable):
        make_api(recorder.url).list_nodes(NODE)


# -- map_error ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "kept"),
    [
        (410, Gone, 410),
        (404, NotFound, 404),
        (401, Forbidden, 401),
        (403, Forbidden, 403),
        (429, Unavailable, 429),
        (500, Unavailable, 500),
        (502, Unavailable, 502),
        (503, Unavailable, 503),
        (504, Unavailable, 504),
        (0, Unavailable, None),
        (None, Unavailable, None),
        (400, Rejected, 400),
        (409, Rejected, 409),
        (422, Rejected, 422),
    ],
)
def test_map_error_sorts_api_exceptions_by_status(
    status: int | None, kind: type[KubeError], kept: int | None
):
    error = map_error(ApiException(status=status, reason="Because"), "get nodes")
    assert type(error) is kind
    assert error.status == kept
    assert str(error).startswith("get nodes: ")


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.ProtocolError("Connection aborted."),
        urllib3.exceptions.ReadTimeoutError(None, "/api/v1/pods", "read timed out"),  # type: ignore[arg-type]
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
    ],
)
def test_map_error_makes_transport_failures_unavailable(error: BaseException):
    mapped = map_error(error, "watch pods")
    assert type(mapped) is Unavailable
    assert mapped.status is None
    assert str(mapped).startswith(f"watch pods: {type(error).__name__}")


def test_every_mapped_error_is_a_kube_error():
    for kind in (Unavailable, Gone, NotFound, Forbidden, Rejected):
        assert issubclass(kind, KubeError)
