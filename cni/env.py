"""The ``CNI_*`` environment variables: which each command needs, and their validation.

Owns the table of required and optional variables per command (SPEC.md section 2) and
``parse_cni_env``, which reads them once and reports every missing or invalid variable in a
single CniError with code 4 (the spec requires the message to name the variables). An empty
variable counts as missing, as in libcni (Go's ``os.Getenv`` cannot tell them apart).

Deliberate differences from libcni's ``skel``: skel also requires ``CNI_PATH`` for ADD, DEL,
CHECK and STATUS; the spec lists it as optional there, and this plugin never execs a
delegate, so we follow the spec. Variables a command does not use are ignored, not
validated (skel does the same).
"""

from __future__ import annotations

import os

from cni._base import Record, is_valid_cni_name, name_length_problem
from cni.errors import INVALID_ENVIRONMENT_VARIABLES, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

CNI_COMMAND = "CNI_COMMAND"
CNI_CONTAINERID = "CNI_CONTAINERID"
CNI_NETNS = "CNI_NETNS"
CNI_IFNAME = "CNI_IFNAME"
CNI_ARGS = "CNI_ARGS"
CNI_PATH = "CNI_PATH"

# command -> (required variables, optional variables), from SPEC.md section 2.
COMMAND_VARIABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ADD": ((CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME), (CNI_ARGS, CNI_PATH)),
    "DEL": ((CNI_COMMAND, CNI_CONTAINERID, CNI_IFNAME), (CNI_NETNS, CNI_ARGS, CNI_PATH)),
    "CHECK": ((CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME), (CNI_ARGS, CNI_PATH)),
    "VERSION": ((CNI_COMMAND,), ()),
    "GC": ((CNI_COMMAND, CNI_PATH), ()),
    "STATUS": ((CNI_COMMAND,), (CNI_PATH,)),
}

# Linux's dev_valid_name(): shorter than IFNAMSIZ (16) bytes, not "." or "..", and no '/',
# ':' or byte the kernel's isspace() accepts (which includes 0xA0 in its Latin-1 table).
IFNAME_MAX_BYTES = 15
MAX_PATH = 4096  # PATH_MAX, for CNI_NETNS
_KERNEL_SPACE_BYTES = frozenset(b" \t\n\v\f\r\xa0")


class CniEnv(Record):
    """The invocation parameters. Fields a command does not use are empty."""

    __slots__ = ("args", "command", "container_id", "ifname", "netns", "path")
    command: str
    container_id: str
    netns: str
    ifname: str
    args: tuple[tuple[str, str], ...]  # CNI_ARGS pairs, in order
    path: tuple[str, ...]  # CNI_PATH directories, in order

    def __init__(
        self,
        command: str,
        *,
        container_id: str = "",
        netns: str = "",
        ifname: str = "",
        args: tuple[tuple[str, str], ...] = (),
        path: tuple[str, ...] = (),
    ) -> None:
        self.command, self.container_id, self.netns, self.ifname = (
            command,
            container_id,
            netns,
            ifname,
        )
        self.args, self.path = args, path

    def arg(self, key: str, default: str | None = None) -> str | None:
        """The value of a CNI_ARGS key (the last one if repeated), or ``default``."""
        for k, v in reversed(self.args):
            if k == key:
                return v
        return default


def parse_cni_env(environ: Mapping[str, str]) -> CniEnv:
    """Read and validate the ``CNI_*`` variables for the command named by ``CNI_COMMAND``."""
    command = environ.get(CNI_COMMAND, "")
    if not command:
        raise _env_error([CNI_COMMAND], {})
    if command not in COMMAND_VARIABLES:
        expected = ", ".join(COMMAND_VARIABLES)
        raise _env_error(
            [], {CNI_COMMAND: f"unknown command {command!r}; expected one of {expected}"}
        )
    required, optional = COMMAND_VARIABLES[command]
    missing = [name for name in required if not environ.get(name)]
    invalid: dict[str, str] = {}
    values = {name: environ.get(name, "") for name in required + optional}

    container_id = values.get(CNI_CONTAINERID, "")
    if container_id and (too_long := name_length_problem(container_id)):
        invalid[CNI_CONTAINERID] = f"{container_id[:40]!r}... is {too_long}"
    elif container_id and not is_valid_cni_name(container_id):
        invalid[CNI_CONTAINERID] = (
            f"{container_id!r} has invalid characters (must start with a letter or digit, "
            "then letters, digits, '_', '.' or '-')"
        )
    netns = values.get(CNI_NETNS, "")
    if "\x00" in netns:
        invalid[CNI_NETNS] = f"{netns!r} contains a NUL character"
    elif len(netns.encode("utf-8", "surrogateescape")) > MAX_PATH:
        invalid[CNI_NETNS] = f"{netns[:40]!r}... is longer than a path may be ({MAX_PATH} bytes)"
    ifname = values.get(CNI_IFNAME, "")
    if ifname:
        problem = interface_name_problem(ifname)
        if problem:
            invalid[CNI_IFNAME] = problem
    args: tuple[tuple[str, str], ...] = ()
    try:
        args = parse_cni_args(values.get(CNI_ARGS, ""))
        pod_args_problem(args)
    except ValueError as exc:
        invalid[CNI_ARGS] = str(exc)

    if missing or invalid:
        raise _env_error(missing, invalid)
    path = tuple(p for p in values.get(CNI_PATH, "").split(os.pathsep) if p)
    return CniEnv(
        command,
        container_id=container_id,
        netns=netns,
        ifname=ifname,
        args=args,
        path=path,
    )


def interface_name_problem(name: str) -> str | None:
    """Why Linux would refuse ``name`` as an interface name, or None if it is fine."""
    raw = name.encode("utf-8", "surrogateescape")
    if not raw:
        return "interface name is empty"
    if b"\x00" in raw:
        return f"{name!r} contains a NUL character"
    if len(raw) > IFNAME_MAX_BYTES:
        return f"{name!r} is {len(raw)} bytes long; Linux allows at most {IFNAME_MAX_BYTES}"
    if name in (".", ".."):
        return f"{name!r} is not a valid interface name"
    if b"/" in raw or b":" in raw or any(b in _KERNEL_SPACE_BYTES for b in raw):
        return f"{name!r} contains '/', ':' or whitespace"
    if any(c.isspace() for c in name):
        return f"{name!r} contains whitespace"
    return None


def parse_cni_args(value: str) -> tuple[tuple[str, str], ...]:
    """``"K=V;K2=V2"`` -> ``(("K", "V"), ("K2", "V2"))``; ``""`` -> ``()``.

    As in libcni's LoadArgs, every ``;``-separated item must contain exactly one ``=``; a
    value may be empty, a key may not. Raises ValueError naming every bad item.
    """
    if not value:
        return ()
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for item in value.split(";"):
        key, sep, val = item.partition("=")
        if not sep or not key or "=" in val:
            bad.append(repr(item))
        else:
            pairs.append((key, val))
    if bad:
        raise ValueError(f"invalid K=V pair(s) {', '.join(bad)} (expected 'K=V;K2=V2')")
    return tuple(pairs)


POD_KEYS = ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID")
"""The CNI_ARGS keys whose values the binary sends to the daemon (the pod's identity)."""
MAX_POD_FIELD = 253  # Kubernetes' longest name (a DNS subdomain); namespaces and uids are shorter


def pod_args_problem(args: tuple[tuple[str, str], ...]) -> None:
    """Raise ValueError naming each pod identity value (``K8S_POD_*``) that no Kubernetes
    object can have: longer than 253 characters, or holding a control character."""
    bad = [
        f"{key}: {problem}"
        for key, value in args
        if key in POD_KEYS and (problem := pod_field_problem(value))
    ]
    if bad:
        raise ValueError("; ".join(bad))


def pod_field_problem(value: str, limit: int | None = MAX_POD_FIELD) -> str | None:
    """Why ``value`` cannot be a pod's namespace, name or uid, or None. ``limit=None``
    checks the characters only (the daemon: its message size bounds the length)."""
    if limit is not None and len(value) > limit:
        return f"{len(value)} characters long; at most {limit} are allowed"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{value!r} contains a control character"
    return None


def _env_error(missing: list[str], invalid: dict[str, str]) -> CniError:
    parts = []
    if missing:
        parts.append(f"required env variables [{','.join(missing)}] missing")
    if invalid:
        parts.append(f"invalid env variables [{','.join(invalid)}]")
    details = "; ".join(f"{name}: {reason}" for name, reason in invalid.items())
    return CniError(INVALID_ENVIRONMENT_VARIABLES, "; ".join(parts), details)
