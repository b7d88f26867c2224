"""vpc-cni's own configuration keys (the plugin-specific part of the network configuration).

All optional; each has the default a node installed by vpc-ipamd uses:

- ``socketPath``: vpc-ipamd's unix socket (an absolute path that fits ``sun_path``).
- ``timeoutSeconds``: how long one call to the daemon may take, a number > 0 (the daemon's
  own ADD wait is shorter, so it answers "try again later" before this runs out).
- ``spoolDir``: where DEL records releases while the daemon is unreachable (absolute).
- ``vethPrefix``: the prefix of the host-side veths vpc-ipamd creates; the DEL fallback
  removes only host interfaces named with it. The same rule as the daemon's
  ``AWS_VPC_K8S_CNI_VETHPREFIX``: 1 to 4 of ``A-Z a-z 0-9 _ . -``, not eth, vlan or lo.
- ``logFile``: one line per invocation is appended here (absolute); absent: no logging.

Every bad key is reported at once in one code 7 error, in the style of cni.netconf. Unknown
keys are left alone: a network configuration carries keys for other plugins and runtimes.
"""

from __future__ import annotations

from cni import jsonlite
from cni._base import NAME_CHARACTERS, Record, type_name
from cni.errors import INVALID_NETWORK_CONFIG, CniError
from cni.wire import DEFAULT_SOCKET_PATH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# cni.spool.DEFAULT_SPOOL_DIR, repeated so that ADD does not import cni.spool (and pathlib);
# a unit test keeps the two equal.
DEFAULT_SPOOL_DIR = "/var/lib/vpc-ipam/spool"
DEFAULT_TIMEOUT = 20.0
DEFAULT_VETH_PREFIX = "eni"
MAX_TIMEOUT = 600.0
MAX_SOCKET_PATH = 107  # sockaddr_un.sun_path is 108 bytes including the terminating NUL

SOCKET_PATH, TIMEOUT, SPOOL_DIR, VETH_PREFIX, LOG_FILE = (
    "socketPath",
    "timeoutSeconds",
    "spoolDir",
    "vethPrefix",
    "logFile",
)
MAX_VETH_PREFIX = 4
RESERVED_VETH_PREFIXES = ("eth", "vlan", "lo")


class PluginConf(Record):
    __slots__ = ("log_file", "socket_path", "spool_dir", "timeout", "veth_prefix")
    log_file: str | None
    socket_path: str
    spool_dir: str
    timeout: float
    veth_prefix: str

    def __init__(
        self,
        *,
        log_file: str | None = None,
        socket_path: str = DEFAULT_SOCKET_PATH,
        spool_dir: str = DEFAULT_SPOOL_DIR,
        timeout: float = DEFAULT_TIMEOUT,
        veth_prefix: str = DEFAULT_VETH_PREFIX,
    ) -> None:
        self.log_file, self.socket_path, self.spool_dir = log_file, socket_path, spool_dir
        self.timeout, self.veth_prefix = timeout, veth_prefix


def parse_plugin_conf(conf: Mapping[str, object]) -> PluginConf:
    """Read our keys from a network configuration object (``NetConf.extra`` will do)."""
    problems: dict[str, str] = {}
    socket_path = _path(conf, SOCKET_PATH, DEFAULT_SOCKET_PATH, problems)
    if SOCKET_PATH not in problems and len(socket_path.encode()) > MAX_SOCKET_PATH:
        problems[SOCKET_PATH] = (
            f"{socket_path!r} is longer than a unix socket path may be ({MAX_SOCKET_PATH} bytes)"
        )
    spool_dir = _path(conf, SPOOL_DIR, DEFAULT_SPOOL_DIR, problems)
    log_file = _path(conf, LOG_FILE, "", problems) or None

    timeout = conf.get(TIMEOUT)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    elif isinstance(timeout, bool) or not isinstance(timeout, int | float):
        problems[TIMEOUT] = f"must be a number of seconds, got {type_name(timeout)}"
    elif not 0 < timeout <= MAX_TIMEOUT:
        problems[TIMEOUT] = f"must be > 0 and at most {MAX_TIMEOUT:g} seconds, got {timeout!r}"

    prefix = conf.get(VETH_PREFIX)
    if prefix is None:
        prefix = DEFAULT_VETH_PREFIX
    elif not isinstance(prefix, str):
        problems[VETH_PREFIX] = f"must be a string, got {type_name(prefix)}"
    elif not (0 < len(prefix) <= MAX_VETH_PREFIX and NAME_CHARACTERS.issuperset(prefix)):
        problems[VETH_PREFIX] = f"{prefix!r}: expected 1 to 4 characters of A-Z a-z 0-9 _ . -"
    elif prefix in RESERVED_VETH_PREFIXES:
        problems[VETH_PREFIX] = f"{prefix!r} is reserved (eth, vlan and lo are refused)"

    if problems:
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"invalid vpc-cni configuration: bad keys [{', '.join(problems)}]",
            "; ".join(f"{key}: {reason}" for key, reason in problems.items()),
        )
    assert isinstance(timeout, int | float) and isinstance(prefix, str)
    return PluginConf(
        log_file=log_file,
        socket_path=socket_path,
        spool_dir=spool_dir,
        timeout=float(timeout),
        veth_prefix=prefix,
    )


def log_file_of(stdin: bytes) -> str | None:
    """The ``logFile`` a configuration names, read leniently: the invocation is logged even
    when the rest of its input is invalid. None when there is none, or it is not usable."""
    if b'"logFile"' not in stdin:
        return None
    try:
        obj = jsonlite.loads(stdin)
    except (ValueError, RecursionError):
        return None
    value = obj.get(LOG_FILE) if isinstance(obj, dict) else None
    return value if _path_problem(value) is None and isinstance(value, str) else None


def _path(conf: Mapping[str, object], key: str, default: str, problems: dict[str, str]) -> str:
    value = conf.get(key)
    if value is None:
        return default
    problem = _path_problem(value)
    if problem is not None or not isinstance(value, str):
        problems[key] = problem or "must be a string"
        return default
    return value


def _path_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type_name(value)}"
    if not value.startswith("/"):
        return f"{value!r} is not an absolute path"
    if "\x00" in value:
        return f"{value!r} contains a NUL character"
    return None
