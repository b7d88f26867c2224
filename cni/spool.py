"""Releases recorded by the binary while vpc-ipamd is down, drained by the daemon on start.

DEL must succeed when the daemon is unreachable (DESIGN.md section 3): the binary tears down
what ``prevResult`` names, then records here which addresses the daemon should free. The
spool is a directory with one file per release, so concurrent DELs never contend and the
daemon can remove each entry once it is applied:

    <epoch_ns>-<container_id>-<ifname>.json
    {"v":1,"network":"...","container_id":"...","ifname":"...","addresses":["10.0.1.5"],
     "recorded_at":1718000000.123}

Files are written atomically (temp file in the same directory, fsync, rename, fsync of the
directory), 0600 in a 0700 directory. Readers skip temp files (they start with ``.``) and
move an unreadable entry aside with a ``.corrupt`` suffix, so one bad file never blocks the
rest and is kept for an operator to look at.

Only the DEL fallback and the daemon use this module: the binary should import it lazily
(``pathlib`` costs a few milliseconds it does not need on the ADD path).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from pathlib import Path

from cni._base import Record, is_valid_cni_name, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

SPOOL_VERSION = 1
DEFAULT_SPOOL_DIR = "/var/lib/vpc-ipam/spool"  # the daemon's VPC_IPAM_SPOOL_DIR default
CORRUPT_SUFFIX = ".corrupt"
MAX_ENTRY = 64 * 1024  # bytes; a bigger file is not one of ours

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_MAX_COMPONENT = 100  # characters of a container id kept in a file name


class SpoolEntry(Record):
    __slots__ = ("addresses", "container_id", "ifname", "network", "recorded_at")
    network: str
    container_id: str
    ifname: str
    addresses: tuple[str, ...]  # bare addresses ("10.0.1.5"); may be empty
    recorded_at: float  # seconds since the epoch

    def __init__(
        self,
        *,
        network: str,
        container_id: str,
        ifname: str,
        addresses: tuple[str, ...],
        recorded_at: float,
    ) -> None:
        self.network, self.container_id, self.ifname = network, container_id, ifname
        self.addresses, self.recorded_at = addresses, recorded_at


def write_release(
    spool_dir: str | os.PathLike[str],
    *,
    network: str,
    container_id: str,
    ifname: str,
    addresses: Iterable[str] = (),
    recorded_at_ns: int | None = None,
) -> Path:
    """Record one release durably and return its file.

    ``addresses`` may be bare ("10.0.1.5") or in CIDR form as prevResult has them
    ("10.0.1.5/32"); they are stored bare. ValueError for one that is not an address.
    """
    stamp = time.time_ns() if recorded_at_ns is None else recorded_at_ns
    bare = [str(ipaddress.ip_interface(a).ip) for a in addresses]
    entry = {
        "v": SPOOL_VERSION,
        "network": network,
        "container_id": container_id,
        "ifname": ifname,
        "addresses": bare,
        "recorded_at": stamp / 1e9,
    }
    data = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
    directory = Path(spool_dir)
    ensure_private_dir(directory)
    name = f"{stamp}-{_safe(container_id)[:_MAX_COMPONENT]}-{_safe(ifname)}.json"
    final = directory / name
    temp = directory / f".{name}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, data)  # one small write to a regular file completes in full
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return final


def read_releases(
    spool_dir: str | os.PathLike[str],
    *,
    on_corrupt: Callable[[Path, str], None] | None = None,
) -> list[tuple[Path, SpoolEntry]]:
    """Every recorded release, oldest first. A missing directory is an empty spool.

    An entry that cannot be read is renamed to ``<name>.corrupt`` and passed (new path,
    reason) to ``on_corrupt``; it is never returned and never raises.
    """
    directory = Path(spool_dir)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found: list[tuple[Path, SpoolEntry]] = []
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = directory / name
        try:
            entry = _read_entry(path)
        except FileNotFoundError:  # removed meanwhile
            continue
        except (OSError, ValueError) as exc:
            aside = path.with_name(name + CORRUPT_SUFFIX)
            try:
                os.rename(path, aside)
            except OSError:
                aside = path
            if on_corrupt is not None:
                on_corrupt(aside, str(exc))
            continue
        found.append((path, entry))
    found.sort(key=lambda item: (item[1].recorded_at, item[0].name))
    return found


def remove(path: str | os.PathLike[str]) -> None:
    """Forget a release once the daemon has applied it (already gone is fine)."""
    Path(path).unlink(missing_ok=True)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700 (whatever the umask).

    Directories that already exist are left as they are.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created concurrently (another DEL or the daemon)
        os.chmod(directory, 0o700)


def _read_entry(path: Path) -> SpoolEntry:
    """Raises ValueError naming what is wrong with a file that is not a valid entry."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_ENTRY + 1)
    if len(data) > MAX_ENTRY:
        raise ValueError(f"larger than {MAX_ENTRY} bytes")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected an object, got {type_name(obj)}")
    if obj.get("v") != SPOOL_VERSION or isinstance(obj.get("v"), bool):
        raise ValueError(
            f"v: this reader knows spool version {SPOOL_VERSION}, got {obj.get('v')!r}"
        )
    problems: list[str] = []
    strings: dict[str, str] = {}
    for key in ("network", "container_id", "ifname"):
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: must be a non-empty string, got {type_name(value)}")
        elif key != "ifname" and not is_valid_cni_name(value):
            problems.append(f"{key}: {value!r} is not a valid name")
        else:
            strings[key] = value
    addresses = obj.get("addresses")
    if not isinstance(addresses, list) or not all(_is_address(a) for a in addresses):
        problems.append("addresses: must be an array of IP addresses")
        addresses = []
    recorded_at = obj.get("recorded_at")
    if isinstance(recorded_at, bool) or not isinstance(recorded_at, int | float):
        problems.append(f"recorded_at: must be a number, got {type_name(recorded_at)}")
        recorded_at = 0.0
    if problems:
        raise ValueError("; ".join(problems))
    return SpoolEntry(
        network=strings["network"],
        container_id=strings["container_id"],
        ifname=strings["ifname"],
        addresses=tuple(addresses),
        recorded_at=float(recorded_at),
    )


def _is_address(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _safe(component: str) -> str:
    return _UNSAFE.sub("_", component) or "_"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
