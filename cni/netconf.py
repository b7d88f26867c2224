"""The request configuration a runtime writes to the plugin's stdin (SPEC.md sections 1 and 3).

Owns: decoding the bytes, checking the keys the protocol defines, and keeping everything
else exactly as given. Checked: ``cniVersion`` (required; one we speak, else code 1),
``name`` (required; the spec's name rule), ``type`` (required; a file name, no path
separators), ``capabilities``, ``runtimeConfig``, ``args`` (objects), ``prevResult`` (parsed
into a Result at the configuration's version) and the GC-only
``cni.dev/valid-attachments``. Every other key (``ipam``, ``dns``, ``ipMasq`` and all
plugin-specific keys) is kept untouched in ``extra``, and ``raw`` is the whole decoded object.

Errors: undecodable bytes are code 6; every bad or missing key is reported at once in one
code 7 error (names in ``msg``, reasons in ``details``). An unsupported ``cniVersion`` is
reported first, as code 1: the rest of the document cannot be judged against a version we do
not know. DEL may ask for an unreadable ``prevResult`` to be dropped instead of failing.
"""

from __future__ import annotations

from cni import jsonlite
from cni._base import Record, is_valid_cni_name, name_length_problem, type_name
from cni.errors import DECODING_FAILURE, INVALID_NETWORK_CONFIG, CniError
from cni.result import Result
from cni.versions import require_supported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

VALID_ATTACHMENTS_KEY = "cni.dev/valid-attachments"

# Keys this module interprets; everything else goes to NetConf.extra unchanged.
MODELLED_KEYS = frozenset(
    {"cniVersion", "name", "type", "capabilities", "runtimeConfig", "args", "prevResult"}
    | {VALID_ATTACHMENTS_KEY}
)


class GCAttachment(Record):
    """One still-valid attachment named by a GC request."""

    __slots__ = ("container_id", "ifname")
    container_id: str
    ifname: str

    def __init__(self, container_id: str, ifname: str) -> None:
        self.container_id, self.ifname = container_id, ifname


class NetConf(Record):
    """A parsed plugin request configuration.

    ``valid_attachments`` is None when the key is absent, which is not the same as an empty
    list (an empty list says that no attachment is valid any more).
    """

    __slots__ = (
        "args",
        "capabilities",
        "cni_version",
        "extra",
        "name",
        "prev_result",
        "raw",
        "runtime_config",
        "type",
        "valid_attachments",
    )
    cni_version: str
    name: str
    type: str
    capabilities: dict[str, Any]
    runtime_config: dict[str, Any]
    args: dict[str, Any]
    prev_result: Result | None
    valid_attachments: tuple[GCAttachment, ...] | None
    extra: dict[str, Any]
    raw: dict[str, Any]

    def __init__(
        self,
        *,
        cni_version: str,
        name: str,
        type: str,
        capabilities: dict[str, Any] | None = None,
        runtime_config: dict[str, Any] | None = None,
        args: dict[str, Any] | None = None,
        prev_result: Result | None = None,
        valid_attachments: tuple[GCAttachment, ...] | None = None,
        extra: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.cni_version, self.name, self.type = cni_version, name, type
        self.capabilities = {} if capabilities is None else capabilities
        self.runtime_config = {} if runtime_config is None else runtime_config
        self.args = {} if args is None else args
        self.prev_result = prev_result
        self.valid_attachments = valid_attachments
        self.extra = {} if extra is None else extra
        self.raw = {} if raw is None else raw


def decode_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Decode ``data`` as one JSON object, or raise CniError code 6 saying why not.

    Stricter than ``json.loads`` where Go's decoder is: ``NaN`` and ``Infinity`` are refused.
    """
    if not data.strip():
        raise CniError(DECODING_FAILURE, f"failed to decode {what}", "input is empty")
    try:
        obj = jsonlite.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CniError(DECODING_FAILURE, f"failed to decode {what}", str(exc)) from None
    if not isinstance(obj, dict):
        raise CniError(
            DECODING_FAILURE,
            f"failed to decode {what}",
            f"expected an object, got {type_name(obj)}",
        )
    return obj


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_netconf(data: bytes, *, ignore_bad_prev_result: bool = False) -> NetConf:
    """Parse the network configuration bytes a plugin receives on stdin.

    DEL is best-effort (SPEC.md section 2), so it can pass ``ignore_bad_prev_result=True``:
    an unreadable ``prevResult`` then yields ``prev_result=None`` instead of an error (the
    original stays in ``raw``).
    """
    obj = decode_json_object(data, "network configuration")
    return netconf_from_json(obj, ignore_bad_prev_result=ignore_bad_prev_result)


def netconf_from_json(obj: dict[str, Any], *, ignore_bad_prev_result: bool = False) -> NetConf:
    """Validate an already-decoded configuration object (see the module docstring)."""
    problems: dict[str, str] = {}  # key -> reason, in the order found

    version = obj.get("cniVersion")
    cni_version = ""
    if isinstance(version, str) and version:
        cni_version = require_supported(version)
    else:
        problems["cniVersion"] = _required_string_problem(version)

    name = obj.get("name")
    net_name = ""
    if not isinstance(name, str) or not name:
        problems["name"] = _required_string_problem(name)
    elif too_long := name_length_problem(name):
        problems["name"] = f"{name[:40]!r}... is {too_long}"
    elif not is_valid_cni_name(name):
        problems["name"] = (
            f"{name!r} is not a valid network name (must start with a letter or digit, "
            "then letters, digits, '_', '.' or '-')"
        )
    else:
        net_name = name

    type_ = obj.get("type")
    plugin_type = ""
    if not isinstance(type_, str) or not type_:
        problems["type"] = _required_string_problem(type_)
    elif type_ in (".", "..") or any(c in type_ for c in "/\\\x00"):
        problems["type"] = f"{type_!r} is not a plugin file name"
    else:
        plugin_type = type_

    capabilities = _optional_object(obj, "capabilities", problems)
    if capabilities and not all(isinstance(v, bool) for v in capabilities.values()):
        problems["capabilities"] = "every value must be a boolean"
    runtime_config = _optional_object(obj, "runtimeConfig", problems)
    args = _optional_object(obj, "args", problems)

    prev_result = None
    prev_problems: dict[str, str] = {}
    raw_prev = _optional_object(obj, "prevResult", prev_problems)
    # Checked when some version tells how to read it (the config's, else its own).
    if raw_prev is not None and (cni_version or raw_prev.get("cniVersion")):
        try:
            prev_result = Result.from_json(raw_prev, default_version=cni_version or None)
        except CniError as exc:
            prev_problems["prevResult"] = str(exc)
    if not ignore_bad_prev_result:
        problems.update(prev_problems)

    attachments = _valid_attachments(obj.get(VALID_ATTACHMENTS_KEY), problems)

    if problems:
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"invalid network configuration: bad or missing keys [{', '.join(problems)}]",
            "; ".join(f"{key}: {reason}" for key, reason in problems.items()),
        )
    return NetConf(
        cni_version=cni_version,
        name=net_name,
        type=plugin_type,
        capabilities=capabilities,
        runtime_config=runtime_config,
        args=args,
        prev_result=prev_result,
        valid_attachments=attachments,
        extra={k: v for k, v in obj.items() if k not in MODELLED_KEYS},
        raw=obj,
    )


def _required_string_problem(value: object) -> str:
    if value is None:
        return "missing"
    if value == "":
        return "must not be empty"
    return f"must be a string, got {type_name(value)}"


def _optional_object(
    obj: dict[str, Any], key: str, problems: dict[str, str]
) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    problems[key] = f"must be an object, got {type_name(value)}"
    return None


def _valid_attachments(value: object, problems: dict[str, str]) -> tuple[GCAttachment, ...] | None:
    if value is None:
        return None
    reasons: list[str] = []
    found: list[GCAttachment] = []
    if not isinstance(value, list):
        reasons.append(f"must be an array, got {type_name(value)}")
        value = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            reasons.append(f"[{i}] must be an object, got {type_name(item)}")
            continue
        container_id, ifname = item.get("containerID"), item.get("ifname")
        if (
            not isinstance(container_id, str)
            or not is_valid_cni_name(container_id)
            or name_length_problem(container_id)
        ):
            reasons.append(f"[{i}].containerID: not a valid container id: {container_id!r}")
        elif not isinstance(ifname, str) or not ifname:
            reasons.append(f"[{i}].ifname: must be a non-empty string, got {ifname!r}")
        else:
            found.append(GCAttachment(container_id, ifname))
    if reasons:
        problems[VALID_ATTACHMENTS_KEY] = "; ".join(reasons)
        return None
    return tuple(found)
