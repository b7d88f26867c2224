"""The protocol between vpc-cni and vpc-ipamd (version 1): the codec.

Records live in cni.messages, socket framing in cni.framing; this module turns records into
bytes and back.

Owns the bytes on the unix socket, so that the binary and the daemon cannot disagree about
them. A connection carries one request and one reply, each one line of compact UTF-8 JSON
ending in ``"\\n"``, at most ``MAX_MESSAGE`` bytes including the newline::

    {"v":1,"op":"add","id":"9f2c...","deadline_ms":30000,"args":{...}}
    {"v":1,"ok":true,"result":{...}}
    {"v":1,"ok":false,"error":{"code":11,"msg":"...","details":"..."}}

Validation is strict about what version 1 defines (every defined key present and of its
type, names obeying the CNI rules) and ignores keys it does not define, so an optional key
can be added without a version bump; any other change bumps ``v``. A message that breaks
these rules is CniError code 6. Another ``v``, or an operation this side does not know, is
code 100 (PROTOCOL_MISMATCH) with a message naming both versions and the side to upgrade.
The error reply's shape is frozen across versions: a client that reads a reply of another
version still passes the daemon's error through, so a mismatch the daemon diagnosed reaches
the runtime in the daemon's words.
"""

from __future__ import annotations

from cni import jsonlite
from cni._base import is_valid_cni_name, name_length_problem, type_name
from cni.env import interface_name_problem, pod_field_problem
from cni.errors import DECODING_FAILURE, INTERNAL, PROTOCOL_MISMATCH, CniError
from cni.messages import (
    _ARGS_TYPE,
    GcArgs,
    HealthArgs,
    PodArgs,
    RepairArgs,
    Reply,
    Request,
    StatusArgs,
)
from cni.netconf import GCAttachment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from cni.messages import Args

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "MAX_MESSAGE",
    "OPS",
    "PROTOCOL_VERSION",
    "GcArgs",
    "HealthArgs",
    "PodArgs",
    "RepairArgs",
    "Reply",
    "Request",
    "StatusArgs",
    "decode_reply",
    "decode_request",
    "encode_reply",
    "encode_request",
    "too_large",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024  # bytes per message, newline included
DEFAULT_SOCKET_PATH = "/run/vpc-ipam/ipamd.sock"

# Each op's args, in wire order, with the rule each value obeys; every key must be present.
_NAME, _IFNAME, _NETNS = "name", "ifname", "netns"
_POD, _NETNS_OR_EMPTY = "pod", "netns-or-empty"
_RESULT, _ATTACHMENTS, _IDS = "result", "attachments", "ids"
_POD_RULES = {
    "network": _NAME,
    "container_id": _NAME,
    "ifname": _IFNAME,
    "netns": _NETNS,
    "pod_namespace": _POD,
    "pod_name": _POD,
    "pod_uid": _POD,
}
_ARG_RULES: dict[str, dict[str, str]] = {
    "add": _POD_RULES,
    "del": {**_POD_RULES, "netns": _NETNS_OR_EMPTY, "prev_result": _RESULT},  # may be "" for del
    "check": {**_POD_RULES, "prev_result": _RESULT},
    "gc": {"network": _NAME, "valid_attachments": _ATTACHMENTS},
    "status": {"network": _NAME},
    "health": {},
    "repair": {"findings": _IDS},
}
MAX_NETNS = 4096
"""PATH_MAX: the longest network namespace path."""
MAX_IDS = 1000
"""Finding ids one repair request may name."""
OPS: tuple[str, ...] = tuple(_ARG_RULES)

_ERROR_TEXT_CAP = 1000  # characters of msg/details kept when a full error reply is too large


# --- encoding ----------------------------------------------------------------------------


def encode_request(request: Request) -> bytes:
    """The request's line. TypeError if its args do not belong to its op (a caller's bug)."""
    expected: object = _ARGS_TYPE.get(request.op)
    if type(request.args) is not expected:
        raise TypeError(f"op {request.op!r} cannot carry {type(request.args).__name__}")
    obj = {
        "v": PROTOCOL_VERSION,
        "op": request.op,
        "id": request.request_id,
        "deadline_ms": request.deadline_ms,
        "args": _args_json(request.op, request.args),
    }
    return _encode(obj, "request")


def encode_reply(outcome: Mapping[str, object] | CniError) -> bytes:
    """The reply line for a handler's result, or for an error.

    An error too large for one message is cut down (msg and details shortened) rather than
    lost. A result that cannot be encoded or is too large raises CniError code 999.
    """
    if not isinstance(outcome, CniError):
        return _encode({"v": PROTOCOL_VERSION, "ok": True, "result": dict(outcome)}, "reply")
    msg, details = outcome.msg, outcome.details
    try:
        return _encode(_error_envelope(outcome.code, msg, details), "reply")
    except CniError:
        # Each kept character is at most 12 bytes of escaped JSON, so this always fits.
        msg, details = _shorten(msg), _shorten(details)
        return _encode(_error_envelope(outcome.code, msg, details), "reply")


def _error_envelope(code: int, msg: str, details: str) -> dict[str, object]:
    return {
        "v": PROTOCOL_VERSION,
        "ok": False,
        "error": {"code": code, "msg": msg, "details": details},
    }


def _shorten(text: str) -> str:
    if len(text) <= _ERROR_TEXT_CAP:
        return text
    return text[:_ERROR_TEXT_CAP] + f"... ({len(text) - _ERROR_TEXT_CAP} characters cut)"


def _args_json(op: str, args: Args) -> dict[str, object]:
    out = {key: getattr(args, key) for key in _ARG_RULES[op]}
    if isinstance(args, GcArgs) and args.valid_attachments is not None:
        out["valid_attachments"] = [
            {"container_id": a.container_id, "ifname": a.ifname} for a in args.valid_attachments
        ]
    return out


def _encode(obj: dict[str, object], what: str) -> bytes:
    try:
        text = jsonlite.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CniError(INTERNAL, f"cannot encode the {what}", str(exc)) from None
    # ensure_ascii (the default) leaves no raw newline or non-ASCII byte in the line.
    data = text.encode("ascii") + b"\n"
    if len(data) > MAX_MESSAGE:
        raise CniError(
            INTERNAL,
            f"the {what} is too large for the wire protocol",
            f"{len(data)} bytes; the limit is {MAX_MESSAGE}",
        )
    return data


# --- decoding ----------------------------------------------------------------------------


def decode_request(data: bytes) -> Request:
    """Parse and validate one request line (with or without its newline)."""
    obj = _decode_object(data, "request")
    _check_version(obj, "request", local="vpc-ipamd", peer="vpc-cni")
    op = obj.get("op")
    if isinstance(op, str) and op not in OPS:
        raise CniError(
            PROTOCOL_MISMATCH,
            f"vpc-cni sent operation {op!r}, which vpc-ipamd does not know: upgrade vpc-ipamd",
            f"wire protocol v{PROTOCOL_VERSION} operations are {', '.join(OPS)}; "
            "an unknown operation means vpc-cni is newer than vpc-ipamd",
        )
    problems: list[str] = []
    if not isinstance(op, str):
        problems.append(f"op: must be a string, got {type_name(op)}")
    request_id = obj.get("id")
    if not isinstance(request_id, str) or not request_id:
        problems.append(f"id: must be a non-empty string, got {_show(request_id)}")
    deadline_ms = obj.get("deadline_ms")
    if isinstance(deadline_ms, bool) or not isinstance(deadline_ms, int) or deadline_ms <= 0:
        problems.append(f"deadline_ms: must be a positive integer, got {_show(deadline_ms)}")
    raw_args = obj.get("args")
    args: Args | None = None
    if not isinstance(raw_args, dict):
        problems.append(f"args: must be an object, got {type_name(raw_args)}")
    elif isinstance(op, str):
        args = _parse_args(op, raw_args, problems)
    if problems or args is None:
        raise CniError(DECODING_FAILURE, "malformed vpc-ipamd request", "; ".join(problems))
    assert isinstance(op, str) and isinstance(request_id, str) and isinstance(deadline_ms, int)
    return Request(op=op, args=args, request_id=request_id, deadline_ms=deadline_ms)


def decode_reply(data: bytes) -> Reply:
    """Parse and validate one reply line. The daemon's error comes back in ``Reply.error``;
    a malformed or foreign reply raises CniError (code 6 or 100)."""
    obj = _decode_object(data, "reply")
    v = obj.get("v")
    if isinstance(v, int) and not isinstance(v, bool) and v != PROTOCOL_VERSION:
        # The error envelope is the same in every version: prefer the daemon's own words.
        if obj.get("ok") is False:
            try:
                return Reply(error=CniError.from_json(obj.get("error")))
            except CniError:
                pass
        raise _version_mismatch(local="vpc-cni", peer="vpc-ipamd", peer_version=v)
    _check_version(obj, "reply", local="vpc-cni", peer="vpc-ipamd")
    ok = obj.get("ok")
    if ok is True:
        result = obj.get("result")
        if isinstance(result, dict):
            return Reply(result=result)
        problem = f"result: must be an object, got {type_name(result)}"
    elif ok is False:
        try:
            return Reply(error=CniError.from_json(obj.get("error")))
        except CniError as exc:
            problem = f"error: {exc}"
    else:
        problem = f"ok: must be true or false, got {_show(ok)}"
    raise CniError(DECODING_FAILURE, "malformed vpc-ipamd reply", problem)


def _decode_object(data: bytes, what: str) -> dict[str, object]:
    if data.endswith(b"\n"):
        data = data[:-1]
    if len(data) >= MAX_MESSAGE:
        raise too_large(f"the vpc-ipamd {what}")
    try:
        text = data.decode("utf-8")
        if "\n" in text:
            raise ValueError("a message is one line; found a newline inside it")
        obj = jsonlite.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError
        raise CniError(
            DECODING_FAILURE, f"failed to decode the vpc-ipamd {what}", str(exc)
        ) from None
    if not isinstance(obj, dict):
        raise CniError(
            DECODING_FAILURE,
            f"failed to decode the vpc-ipamd {what}",
            f"expected an object, got {type_name(obj)}",
        )
    return obj


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _check_version(obj: dict[str, object], what: str, *, local: str, peer: str) -> None:
    v = obj.get("v")
    if isinstance(v, bool) or not isinstance(v, int):
        raise CniError(
            DECODING_FAILURE,
            f"malformed vpc-ipamd {what}",
            f"v: must be the protocol version (an integer), got {_show(v)}",
        )
    if v != PROTOCOL_VERSION:
        raise _version_mismatch(local=local, peer=peer, peer_version=v)


def _version_mismatch(*, local: str, peer: str, peer_version: int) -> CniError:
    older = local if peer_version > PROTOCOL_VERSION else peer
    return CniError(
        PROTOCOL_MISMATCH,
        f"wire protocol version mismatch: {peer} speaks v{peer_version}, {local} speaks "
        f"v{PROTOCOL_VERSION}: upgrade {older}",
        "vpc-cni and vpc-ipamd must come from the same vpc-ipam release "
        "(vpc-ipamd installs its own vpc-cni when it starts)",
    )


def too_large(what: str) -> CniError:
    return CniError(
        DECODING_FAILURE,
        f"{what} is too large for the wire protocol",
        f"no end of line within {MAX_MESSAGE} bytes",
    )


def _show(value: object) -> str:
    """A scalar as JSON (so the message shows what was sent), anything else by type."""
    return jsonlite.dumps(value)[:80] if isinstance(value, int | float | str) else type_name(value)


def _parse_args(op: str, obj: dict[str, object], problems: list[str]) -> Args | None:
    before = len(problems)
    values = {key: _value(rule, obj, key, problems) for key, rule in _ARG_RULES[op].items()}
    return None if len(problems) > before else _ARGS_TYPE[op](**values)


def _value(rule: str, obj: dict[str, object], key: str, problems: list[str]) -> object:
    path = f"args.{key}"
    if rule == _RESULT:
        value = obj.get(key)
        if key not in obj:
            problems.append(f"{path}: missing (null when there is none)")
        elif value is not None and not isinstance(value, dict):
            problems.append(f"{path}: must be an object or null, got {type_name(value)}")
        return value
    if rule == _ATTACHMENTS:
        return _attachments(obj, key, path, problems)
    if rule == _IDS:
        return _ids(obj.get(key), key in obj, path, problems)
    return _text(rule, obj, key, path, problems)


def _text(rule: str, obj: dict[str, object], key: str, path: str, problems: list[str]) -> str:
    """The string at ``key`` checked against ``rule``; "" after noting a problem."""
    value = obj.get(key)
    reason: str | None = None
    if not isinstance(value, str):
        reason = "missing" if key not in obj else f"must be a string, got {type_name(value)}"
    elif rule == _NAME and (too_long := name_length_problem(value)):
        reason = f"{value[:40]!r}... is {too_long}"
    elif rule == _NAME and not is_valid_cni_name(value):
        reason = (
            f"{value!r} is not a valid name (must start with a letter or digit, "
            "then letters, digits, '_', '.' or '-')"
        )
    elif rule == _IFNAME:
        reason = interface_name_problem(value)
    elif rule == _NETNS and not value:
        reason = "must not be empty (the pod's network namespace)"
    elif rule in (_NETNS, _NETNS_OR_EMPTY) and ("\x00" in value or len(value) > MAX_NETNS):
        reason = f"{value[:80]!r} is not a path (a NUL character, or longer than {MAX_NETNS})"
    elif rule == _POD:
        reason = pod_field_problem(value, limit=None)
    if reason is None and isinstance(value, str):
        return value
    problems.append(f"{path}: {reason}")
    return ""


def _ids(value: object, present: bool, path: str, problems: list[str]) -> tuple[str, ...]:
    """A list of short printable ids (the doctor's finding ids)."""
    if not present or not isinstance(value, list):
        problems.append(
            f"{path}: " + (f"must be a list, got {type_name(value)}" if present else "missing")
        )
        return ()
    if len(value) > MAX_IDS:
        problems.append(f"{path}: at most {MAX_IDS} ids, got {len(value)}")
        return ()
    bad = [v for v in value if not (isinstance(v, str) and 0 < len(v) <= 64 and v.isalnum())]
    if bad:
        problems.append(f"{path}: ids are 1..64 letters or digits, got {_show(bad[0])}")
        return ()
    return tuple(value)


def _attachments(
    obj: dict[str, object], key: str, path: str, problems: list[str]
) -> tuple[GCAttachment, ...] | None:
    value = obj.get(key)
    if key not in obj:
        problems.append(f"{path}: missing (null when not given)")
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append(f"{path}: must be an array or null, got {type_name(value)}")
        return None
    found: list[GCAttachment] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            problems.append(f"{path}[{i}]: must be an object, got {type_name(item)}")
            continue
        container_id = _text(_NAME, item, "container_id", f"{path}[{i}].container_id", problems)
        ifname = _text(_IFNAME, item, "ifname", f"{path}[{i}].ifname", problems)
        found.append(GCAttachment(container_id, ifname))
    return tuple(found)
