"""Fuzzing vpc-ipamd's socket: arbitrary bytes, truncated and oversized lines, JSON of the
wrong shape, unknown operations and versions, huge strings.

Against the real ``SocketServer`` with the real IPAM service in this process (many
examples), and against the real daemon process (a smaller sample). After every example: the
reply is exactly one line holding an error envelope with the code the protocol gives (6 for
a malformed request, 100 for another protocol version or an unknown operation), the daemon
still answers ``health``, and nothing was allocated.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cni.errors import DECODING_FAILURE, PROTOCOL_MISMATCH
from cni.wire import MAX_MESSAGE, OPS, decode_reply
from tests.daemon.harness import Daemon, wait_until
from tests.fuzz.inproc import InProcessDaemon, examples, inprocess_daemon
from tests.fuzz.test_cni_input import json_values
from tests.unit.wire.sockets import connect, exchange, read_all

POD = {
    "network": "vpc-ipam",
    "container_id": "c1",
    "ifname": "eth0",
    "netns": "/var/run/netns/x",
    "pod_namespace": "default",
    "pod_name": "p",
    "pod_uid": "u",
}
VALID_ARGS: dict[str, dict[str, Any]] = {
    "add": POD,
    "del": {**POD, "prev_result": None},
    "check": {**POD, "prev_result": None},
    "gc": {"network": "vpc-ipam", "valid_attachments": None},
    "status": {"network": "vpc-ipam"},
    "health": {},
    "repair": {"findings": []},
}
REQUIRED_POD = {"add": POD, "del": POD, "check": POD}


def envelope(op: str, args: Any) -> dict[str, Any]:
    return {"v": 1, "op": op, "id": "fuzz", "deadline_ms": 5000, "args": args}


# Values that break a key of a valid request, by key.
BAD_FIELD: dict[str, list[Any]] = {
    "network": ["", "-x", "a b", "n" * 257, 1, None, "é"],
    "container_id": ["", ".c", "c/d", "c" * 70_000, "c" * 257, 5, [], "c\x00"],
    "ifname": ["", "x" * 16, "a/b", "a:b", "eth 0", ".", "..", "e\x00", 0, "\u00a0"],
    "netns": [1, None, [], "/x\x00y", "/" + "n" * 5000],
    "pod_namespace": [1, None, "a\nb", "\x00"],
    "pod_name": [[], "p" * 70_000, "x\x7f"],
    "pod_uid": [{}, False],
    "prev_result": ["x", 1, [], True],
    "valid_attachments": ["x", [1], [{"container_id": "-", "ifname": "eth0"}], [{}]],
    "findings": [None, "x", [1], ["a b"], ["x" * 65], ["a"] * 1001],
}
BAD_ENVELOPE: dict[str, list[tuple[Any, int]]] = {
    "v": [(None, 6), ("1", 6), (True, 6), (1.0, 6), (2, 100), (0, 100), (-1, 100), (2**70, 100)],
    "op": [(None, 6), (1, 6), ([], 6), ("ADD", 100), ("nope", 100), ("", 100), ("o" * 70_000, 6)],
    "id": [(None, 6), ("", 6), (1, 6)],
    "deadline_ms": [(None, 6), (0, 6), (-5, 6), ("5", 6), (True, 6), (1.5, 6)],
    "args": [(None, 6), ([], 6), ("x", 6), (1, 6)],
}


@st.composite
def broken_requests(draw: st.DrawFn) -> tuple[bytes, set[int]]:
    """A request that a valid one was made invalid from, and the codes it may get."""
    op = draw(st.sampled_from(OPS))
    request = envelope(op, dict(VALID_ARGS[op]))
    codes: set[int] = set()
    breaks = draw(
        st.sampled_from(["envelope", "field", "missing"] if request["args"] else ["envelope"])
    )
    if breaks == "envelope":
        key = draw(st.sampled_from(sorted(BAD_ENVELOPE)))
        value, code = draw(st.sampled_from(BAD_ENVELOPE[key]))
        request[key] = value
        if value is None:
            del request[key]
        codes.add(code)
        if (key == "v" and code == 100) or (key == "op" and code == 100):
            codes = {100}
    elif breaks == "field":
        key = draw(st.sampled_from(sorted(k for k in request["args"] if k in BAD_FIELD)))
        request["args"][key] = draw(st.sampled_from(BAD_FIELD[key]))
        codes.add(6)
    else:
        key = draw(st.sampled_from(sorted(request["args"])))
        del request["args"][key]
        codes.add(6)
    # keys the protocol does not define are ignored, so any may be added
    extra = draw(st.dictionaries(st.sampled_from(["x", "extra", "ok", "error"]), json_values(4)))
    request.update(extra)
    data = json.dumps(request, ensure_ascii=draw(st.booleans())).encode() + b"\n"
    if len(data) > MAX_MESSAGE:
        codes = {6}  # refused for its size before anything else
    return data, codes


def expected_for_raw(line: bytes) -> set[int]:
    """The codes any one line may get: 6 unless it is an object that names another version
    or an unknown operation (100); a well-formed request is not generated here."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return {DECODING_FAILURE}
    if not isinstance(obj, dict):
        return {DECODING_FAILURE}
    return {DECODING_FAILURE, PROTOCOL_MISMATCH}


raw_lines = st.one_of(
    st.binary(max_size=400).map(lambda b: b.replace(b"\n", b"") + b"\n"),
    json_values().map(lambda v: json.dumps(v).encode() + b"\n"),
    st.text(max_size=300).map(
        lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass") + b"\n"
    ),
    st.sampled_from(
        [
            b"\n",
            b"\r\n",
            b"{}\n",
            b'{"v":1}\n',
            b'{"v": NaN, "op": "health"}\n',
            b"[" * 60_000 + b"\n",
            b'{"a":' * 20_000 + b"\n",
            b'{"v":1,"op":"health","id":"x","deadline_ms":1,"args":{}}\x00\n',
            b'\xef\xbb\xbf{"v":1,"op":"health","id":"x","deadline_ms":1,"args":{}}\n',
        ]
    ),
)


def one_reply(data: bytes) -> Any:
    """The reply to a line: exactly one newline-terminated error envelope."""
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data[:300]
    reply = decode_reply(data)
    assert reply.error is not None, data[:300]
    return reply.error


@pytest.fixture(scope="module")
def shared_ipamd() -> Iterator[InProcessDaemon]:
    with inprocess_daemon(read_timeout=0.5) as daemon:
        yield daemon


@pytest.fixture
def ipamd(shared_ipamd: InProcessDaemon) -> InProcessDaemon:
    shared_ipamd.reset()
    return shared_ipamd


FUZZ = settings(
    max_examples=examples(300),
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(line=raw_lines)
def test_any_line_gets_one_error_reply_and_the_daemon_keeps_serving(ipamd: InProcessDaemon, line):
    error = one_reply(exchange(Path(ipamd.socket), line))
    assert error.code in expected_for_raw(line), (line[:200], error)
    assert ipamd.health()
    assert ipamd.allocations() == 0


@FUZZ
@given(case=broken_requests())
def test_each_broken_request_gets_its_code_and_allocates_nothing(
    ipamd: InProcessDaemon, case: tuple[bytes, set[int]]
):
    data, codes = case
    error = one_reply(exchange(Path(ipamd.socket), data))
    assert error.code in codes, (data[:300], error)
    assert ipamd.health()
    assert ipamd.allocations() == 0


@FUZZ
@given(data=st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\n", b"x")))
def test_a_request_cut_short_is_a_truncated_request(ipamd: InProcessDaemon, data: bytes):
    with connect(Path(ipamd.socket)) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        error = one_reply(read_all(sock))
    assert error.code == DECODING_FAILURE and "truncated" in error.msg
    assert ipamd.allocations() == 0


def test_an_oversized_line_is_refused_after_the_limit(ipamd: InProcessDaemon):
    for blob in (b"x" * (MAX_MESSAGE + 10), b'{"v":1,"op":"add","id":"' + b"i" * MAX_MESSAGE):
        with connect(Path(ipamd.socket)) as sock:
            # the daemon may answer and close before reading it all
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(blob)
            error = one_reply(read_all(sock))
        assert error.code == DECODING_FAILURE and "too large" in error.msg
    assert ipamd.health()


def test_a_silent_client_gets_a_timeout_reply_and_frees_its_thread(ipamd: InProcessDaemon):
    with connect(Path(ipamd.socket)) as sock:
        sock.sendall(b'{"v":1,')
        error = one_reply(read_all(sock))  # read_timeout is 0.5 s here
    assert error.code == DECODING_FAILURE and "no complete request" in error.msg
    wait_until("its thread to end", lambda: ipamd.server.in_flight == 0, timeout=5)
    assert ipamd.health()


def test_a_client_that_connects_and_closes_gets_nothing_and_breaks_nothing(
    ipamd: InProcessDaemon,
):
    for _ in range(20):
        connect(Path(ipamd.socket)).close()
    assert ipamd.health()


# --- the real daemon process ----------------------------------------------------------------


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=st.one_of(broken_requests(), raw_lines.map(lambda line: (line, expected_for_raw(line))))
)
def test_the_real_daemon_answers_every_malformed_request_and_keeps_serving(
    daemon: Daemon, case: tuple[bytes, set[int]]
):
    data, codes = case
    error = one_reply(exchange(Path(daemon.socket), data))
    assert error.code in codes, (data[:300], error)
    assert daemon.running()
    daemon.health()
    if daemon.checkpoint.exists():
        assert daemon.checkpoint_allocations() == {}
