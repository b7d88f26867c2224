"""The wire codec: exact bytes, round trips, strict validation, version skew."""

from __future__ import annotations

import json

import pytest

from cni.errors import DECODING_FAILURE, INTERNAL, PROTOCOL_MISMATCH, CniError
from cni.netconf import GCAttachment
from cni.wire import (
    MAX_MESSAGE,
    OPS,
    GcArgs,
    HealthArgs,
    PodArgs,
    RepairArgs,
    Reply,
    Request,
    StatusArgs,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)

POD = PodArgs(
    network="vpc",
    container_id="abc123",
    ifname="eth0",
    netns="/var/run/netns/cni-1",
    pod_namespace="default",
    pod_name="web-0",
    pod_uid="7f0c",
)
PREV = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.1.5/32"}]}


def request(op: str = "add", args: object = POD, **changes: object) -> Request:
    fields: dict[str, object] = {"op": op, "args": args, "request_id": "r1", "deadline_ms": 2000}
    fields.update(changes)
    return Request(**fields)  # type: ignore[arg-type]


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def valid_add() -> dict[str, object]:
    return json.loads(encode_request(request()))  # type: ignore[no-any-return]


def with_args(**changes: object) -> bytes:
    obj = valid_add()
    args = dict(obj["args"])  # type: ignore[call-overload]
    for key, value in changes.items():
        if value is ...:
            del args[key]
        else:
            args[key] = value
    obj["args"] = args
    return line(obj)


def decode_error(data: bytes) -> CniError:
    with pytest.raises(CniError) as info:
        decode_request(data)
    return info.value


# --- exact bytes ---------------------------------------------------------------------------


def test_add_request_is_one_compact_line_with_the_documented_keys():
    data = encode_request(request())

    assert data == (
        b'{"v":1,"op":"add","id":"r1","deadline_ms":2000,"args":{"network":"vpc",'
        b'"container_id":"abc123","ifname":"eth0","netns":"/var/run/netns/cni-1",'
        b'"pod_namespace":"default","pod_name":"web-0","pod_uid":"7f0c"}}\n'
    )


def test_del_request_carries_prev_result_even_when_null():
    data = encode_request(request("del", POD.replace(netns="")))

    assert json.loads(data)["args"]["prev_result"] is None
    assert json.loads(data)["args"]["netns"] == ""


def test_gc_status_and_health_args_have_the_documented_shape():
    gc = GcArgs(network="vpc", valid_attachments=(GCAttachment("abc", "eth0"),))

    assert json.loads(encode_request(request("gc", gc)))["args"] == {
        "network": "vpc",
        "valid_attachments": [{"container_id": "abc", "ifname": "eth0"}],
    }
    assert json.loads(encode_request(request("status", StatusArgs(network="vpc"))))["args"] == {
        "network": "vpc"
    }
    assert json.loads(encode_request(request("health", HealthArgs())))["args"] == {}


def test_replies_have_the_documented_shape():
    assert (
        encode_reply({"ips": ["10.0.1.5"]}) == b'{"v":1,"ok":true,"result":{"ips":["10.0.1.5"]}}\n'
    )
    assert encode_reply(CniError(11, "no addresses", "pool empty")) == (
        b'{"v":1,"ok":false,"error":{"code":11,"msg":"no addresses","details":"pool empty"}}\n'
    )


def test_non_ascii_text_is_escaped_so_the_line_has_no_raw_newline_or_high_bytes():
    data = encode_reply(CniError(7, "bad \u00e9\nline", "\u2028"))

    assert data.count(b"\n") == 1
    assert data.endswith(b"\n")
    assert data.isascii()
    assert decode_reply(data).error == CniError(7, "bad \u00e9\nline", "\u2028")


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "req",
    [
        request("add"),
        request("del", POD.replace(netns="", prev_result=PREV)),
        request("del", POD),
        request("check", POD.replace(prev_result=PREV)),
        request("gc", GcArgs(network="vpc", valid_attachments=None)),
        request("gc", GcArgs(network="vpc", valid_attachments=())),
        request("gc", GcArgs(network="vpc", valid_attachments=(GCAttachment("a-1", "eth0"),))),
        request("status", StatusArgs(network="vpc")),
        request("health", HealthArgs()),
        request("repair", RepairArgs(findings=("3f9a0c1e22b7", "a1"))),
        request("repair", RepairArgs()),
    ],
    ids=lambda r: f"{r.op}",
)
def test_every_request_kind_round_trips(req: Request):
    assert decode_request(encode_request(req)) == req


def test_gc_keeps_not_given_apart_from_empty():
    none = decode_request(encode_request(request("gc", GcArgs(network="vpc"))))
    empty = decode_request(
        encode_request(request("gc", GcArgs(network="vpc", valid_attachments=())))
    )

    assert isinstance(none.args, GcArgs) and none.args.valid_attachments is None
    assert isinstance(empty.args, GcArgs) and empty.args.valid_attachments == ()


def test_add_ignores_a_prev_result_it_does_not_use():
    req = request("add", POD.replace(prev_result=PREV))

    assert decode_request(encode_request(req)).args == POD


def test_replies_round_trip():
    assert decode_reply(encode_reply({"a": [1, None]})) == Reply(result={"a": [1, None]})
    assert decode_reply(encode_reply(CniError(3, "unknown container"))) == Reply(
        error=CniError(3, "unknown container", "")
    )


def test_decoding_accepts_the_line_without_its_newline():
    assert decode_request(encode_request(request()).rstrip(b"\n")) == request()


def test_keys_version_1_does_not_define_are_ignored():
    obj = valid_add()
    obj["trace"] = "x"
    obj["args"]["future_option"] = True  # type: ignore[index]

    assert decode_request(line(obj)) == request()


def test_reply_unwrap_returns_the_result_or_raises_the_daemon_error():
    assert Reply(result={"x": 1}).unwrap() == {"x": 1}
    with pytest.raises(CniError) as info:
        Reply(error=CniError(11, "later")).unwrap()
    assert info.value == CniError(11, "later")


def test_a_reply_has_exactly_one_of_result_and_error():
    with pytest.raises(ValueError):
        Reply()
    with pytest.raises(ValueError):
        Reply(result={}, error=CniError(1, "x"))


# --- malformed requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "Expecting value"),
        (b"\n", "Expecting value"),
        (b"{not json}\n", "Expecting property name"),
        (b'{"v":1,"op":"add"\n', "Expecting"),
        (b"\xff\xfe{}\n", "utf-8"),
        (b"[1, 2]\n", "expected an object, got array"),
        (b'"add"\n', "expected an object, got string"),
        (b'{"v": NaN}\n', "NaN is not valid JSON"),
        (b'{"v":1,\n"op":"add"}\n', "one line"),
        (b"[" * 50_000 + b"\n", "recursion"),
    ],
    ids=[
        "empty",
        "newline",
        "garbage",
        "truncated",
        "not-utf8",
        "array",
        "string",
        "nan",
        "two-lines",
        "deep",
    ],
)
def test_undecodable_requests_are_code_6(data: bytes, says: str):
    error = decode_error(data)

    assert error.code == DECODING_FAILURE
    assert "failed to decode" in error.msg
    assert says in error.details


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"v": None}, "v: must be the protocol version (an integer), got null"),
        ({"v": "1"}, 'v: must be the protocol version (an integer), got "1"'),
        ({"v": True}, "got true"),
        ({"op": 5}, "op: must be a string, got number"),
        ({"op": None}, "op: must be a string, got null"),
        ({"id": ""}, 'id: must be a non-empty string, got ""'),
        ({"id": 7}, "id: must be a non-empty string, got 7"),
        ({"deadline_ms": 0}, "deadline_ms: must be a positive integer, got 0"),
        ({"deadline_ms": -5}, "got -5"),
        ({"deadline_ms": 1.5}, "got 1.5"),
        ({"deadline_ms": True}, "deadline_ms: must be a positive integer"),
        ({"deadline_ms": None}, "got null"),
        ({"args": []}, "args: must be an object, got array"),
        ({"args": None}, "args: must be an object, got null"),
    ],
)
def test_malformed_envelopes_are_code_6_naming_the_key(change: dict[str, object], says: str):
    obj = valid_add()
    obj.update(change)

    error = decode_error(line(obj))

    assert error.code == DECODING_FAILURE
    assert says in error.details


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"network": ...}, "args.network: missing"),
        ({"network": ""}, "args.network: '' is not a valid name"),
        ({"network": "has space"}, "'has space' is not a valid name"),
        ({"container_id": 12}, "args.container_id: must be a string, got number"),
        ({"container_id": "-x"}, "args.container_id: '-x' is not a valid name"),
        ({"ifname": ...}, "args.ifname: missing"),
        ({"ifname": "a" * 16}, "args.ifname: 'aaaaaaaaaaaaaaaa' is 16 bytes long"),
        ({"ifname": "eth/0"}, "args.ifname: 'eth/0' contains '/'"),
        ({"netns": ""}, "args.netns: must not be empty"),
        ({"netns": ...}, "args.netns: missing"),
        ({"pod_name": 3}, "args.pod_name: must be a string, got number"),
        ({"pod_uid": ...}, "args.pod_uid: missing"),
    ],
)
def test_malformed_add_args_are_code_6_naming_the_key(change: dict[str, object], says: str):
    error = decode_error(with_args(**change))

    assert (error.code, error.msg) == (DECODING_FAILURE, "malformed vpc-ipamd request")
    assert says in error.details


def test_every_problem_is_reported_at_once():
    error = decode_error(with_args(network=1, ifname="", pod_name=None))

    assert "args.network" in error.details
    assert "args.ifname" in error.details
    assert "args.pod_name" in error.details


@pytest.mark.parametrize(
    ("op", "args", "says"),
    [
        (
            "del",
            {**json.loads(encode_request(request("del")))["args"], "prev_result": [1]},
            "args.prev_result: must be an object or null, got array",
        ),
        (
            "check",
            {
                k: v
                for k, v in json.loads(encode_request(request("check")))["args"].items()
                if k != "prev_result"
            },
            "args.prev_result: missing",
        ),
        (
            "check",
            {**json.loads(encode_request(request("check")))["args"], "netns": ""},
            "args.netns: must not be empty",
        ),
        ("gc", {"network": "vpc"}, "args.valid_attachments: missing"),
        ("gc", {"network": "vpc", "valid_attachments": {}}, "must be an array or null"),
        (
            "gc",
            {"network": "vpc", "valid_attachments": ["x"]},
            "args.valid_attachments[0]: must be an object, got string",
        ),
        (
            "gc",
            {"network": "vpc", "valid_attachments": [{"container_id": "a"}]},
            "args.valid_attachments[0].ifname: missing",
        ),
        (
            "gc",
            {"network": "vpc", "valid_attachments": [{"container_id": "/", "ifname": "e"}]},
            "args.valid_attachments[0].container_id: '/' is not a valid name",
        ),
        ("status", {}, "args.network: missing"),
        ("repair", {}, "args.findings: missing"),
        ("repair", {"findings": "3f9a"}, "args.findings: must be a list, got string"),
        ("repair", {"findings": ["ok", "no way"]}, 'ids are 1..64 letters or digits, got "no way"'),
        ("repair", {"findings": ["a"] * 1001}, "at most 1000 ids"),
    ],
)
def test_malformed_args_of_other_ops_are_code_6(op: str, args: object, says: str):
    obj = {"v": 1, "op": op, "id": "r", "deadline_ms": 5, "args": args}

    error = decode_error(line(obj))

    assert error.code == DECODING_FAILURE
    assert says in error.details


def test_del_accepts_an_empty_netns():
    req = request("del", POD.replace(netns=""))

    assert decode_request(encode_request(req)) == req


def test_an_oversized_request_is_refused_before_parsing():
    data = b'{"v":1,"x":"' + b"a" * MAX_MESSAGE + b'"}\n'

    error = decode_error(data)

    assert error.code == DECODING_FAILURE
    assert "too large" in error.msg


# --- version skew and unknown operations ---------------------------------------------------


def test_a_newer_client_version_is_code_100_asking_to_upgrade_the_daemon():
    obj = valid_add()
    obj["v"] = 2

    error = decode_error(line(obj))

    assert error.code == PROTOCOL_MISMATCH == 100
    assert error.msg == (
        "wire protocol version mismatch: vpc-cni speaks v2, vpc-ipamd speaks v1: upgrade vpc-ipamd"
    )


def test_an_older_client_version_is_code_100_asking_to_upgrade_the_binary():
    error = decode_error(line({"v": 0, "op": "whatever"}))

    assert error.code == PROTOCOL_MISMATCH
    assert "vpc-cni speaks v0, vpc-ipamd speaks v1: upgrade vpc-cni" in error.msg


def test_an_unknown_op_is_code_100_listing_the_known_ones():
    obj = valid_add()
    obj["op"] = "resize"

    error = decode_error(line(obj))

    assert error.code == PROTOCOL_MISMATCH
    assert "'resize'" in error.msg
    assert "upgrade vpc-ipamd" in error.msg
    assert all(op in error.details for op in OPS)


def test_a_reply_of_another_version_is_code_100_asking_to_upgrade_the_binary():
    with pytest.raises(CniError) as info:
        decode_reply(line({"v": 2, "ok": True, "result": {}}))

    assert info.value.code == PROTOCOL_MISMATCH
    assert "vpc-ipamd speaks v2, vpc-cni speaks v1: upgrade vpc-cni" in info.value.msg


def test_an_error_reply_of_another_version_still_passes_the_daemon_error_through():
    data = line({"v": 2, "ok": False, "error": {"code": 100, "msg": "daemon says", "details": ""}})

    assert decode_reply(data) == Reply(error=CniError(100, "daemon says"))


# --- malformed replies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        ({"ok": True, "result": {}}, "v: must be the protocol version"),
        ({"v": 1, "result": {}}, "ok: must be true or false, got null"),
        ({"v": 1, "ok": "yes", "result": {}}, 'ok: must be true or false, got "yes"'),
        ({"v": 1, "ok": True}, "result: must be an object, got null"),
        ({"v": 1, "ok": True, "result": [1]}, "result: must be an object, got array"),
        ({"v": 1, "ok": False}, "error: error object must be a JSON object"),
        ({"v": 1, "ok": False, "error": {"code": "11", "msg": "x"}}, "code: must be"),
        ({"v": 1, "ok": False, "error": {"code": 11}}, "msg: must be a string"),
    ],
)
def test_malformed_replies_are_code_6(obj: dict[str, object], says: str):
    with pytest.raises(CniError) as info:
        decode_reply(line(obj))

    assert info.value.code == DECODING_FAILURE
    assert says in str(info.value)


# --- encoding limits -----------------------------------------------------------------------


def test_encoding_args_of_another_op_is_a_caller_bug():
    with pytest.raises(TypeError):
        encode_request(request("gc", POD))
    with pytest.raises(TypeError):
        encode_request(request("resize", POD))


def test_a_result_too_large_for_one_message_is_an_internal_error():
    with pytest.raises(CniError) as info:
        encode_reply({"blob": "x" * MAX_MESSAGE})

    assert info.value.code == INTERNAL
    assert "too large" in info.value.msg


def test_a_result_that_is_not_json_is_an_internal_error():
    with pytest.raises(CniError) as info:
        encode_reply({"when": object()})

    assert info.value.code == INTERNAL


def test_an_error_too_large_for_one_message_is_shortened_not_lost():
    huge = CniError(999, "m" * 50_000, "\U0001f600" * 50_000)

    data = encode_reply(huge)

    assert len(data) <= MAX_MESSAGE
    error = decode_reply(data).error
    assert error is not None
    assert error.code == 999
    assert error.msg.startswith("m" * 1000)
    assert "characters cut" in error.msg and "characters cut" in error.details
