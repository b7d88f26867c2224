"""Which CNI spec versions we speak, how they compare, and what each one allows.

Owns: the supported version list (what VERSION reports), version comparison, the VERSION
command's output, the rule that picks the version of a network configuration
(``cniVersion`` plus the 1.1.0 ``cniVersions`` list: the highest one we support), and which
commands exist in which version (CHECK from 0.4.0, GC and STATUS from 1.1.0). The 0.1.0 and
0.2.0 result formats are not supported: no runtime in use today needs them.
"""

from __future__ import annotations

from cni import jsonlite
from cni._base import type_name
from cni.errors import (
    DECODING_FAILURE,
    INCOMPATIBLE_CNI_VERSION,
    INVALID_ENVIRONMENT_VARIABLES,
    INVALID_NETWORK_CONFIG,
    CniError,
)

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]

COMMANDS: tuple[str, ...] = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")

# The first spec version in which a command exists; commands not listed exist in all.
COMMAND_SINCE: dict[str, str] = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}


def parse_version(version: str) -> tuple[int, int, int]:
    """``"1.0.0"`` -> ``(1, 0, 0)``. Missing minor/patch parts count as 0, as in libcni.

    Raises CniError code 6 (failed to decode) for anything that is not 1-3 dot-separated
    non-negative decimal numbers.
    """
    parts = version.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise CniError(DECODING_FAILURE, "invalid CNI version", repr(version))
    numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
    return numbers[0], numbers[1], numbers[2]


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b``."""
    pa, pb = parse_version(a), parse_version(b)
    return (pa > pb) - (pa < pb)


def version_at_least(version: str, minimum: str) -> bool:
    return compare_versions(version, minimum) >= 0


def is_supported(version: str) -> bool:
    return version in SUPPORTED_VERSIONS


def require_supported(version: str) -> str:
    """Return ``version`` if we speak it, else raise CniError code 1 (incompatible)."""
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            f"config is {version!r}, plugin supports {', '.join(SUPPORTED_VERSIONS)}",
        )
    return version


def select_version(cni_version: object, cni_versions: object = None) -> str:
    """The version a network configuration is used at.

    SPEC.md section 1: the highest version we support out of ``cniVersion`` and the
    ``cniVersions`` list (1.1.0). A value of the wrong JSON type is an invalid configuration
    (code 7); no supported version at all is code 1.
    """
    candidates: list[str] = []
    problems: list[str] = []
    if isinstance(cni_version, str):
        candidates.append(cni_version)
    elif cni_version is not None:
        problems.append(f"cniVersion: must be a string, got {type_name(cni_version)}")
    if isinstance(cni_versions, list):
        for i, item in enumerate(cni_versions):
            if isinstance(item, str):
                candidates.append(item)
            else:
                problems.append(f"cniVersions[{i}]: must be a string, got {type_name(item)}")
    elif cni_versions is not None:
        problems.append(f"cniVersions: must be an array of strings, got {type_name(cni_versions)}")
    if problems:
        raise CniError(INVALID_NETWORK_CONFIG, "invalid network configuration", "; ".join(problems))
    if not candidates:
        raise CniError(
            INVALID_NETWORK_CONFIG, "invalid network configuration", "cniVersion: missing"
        )
    usable = [v for v in candidates if v in SUPPORTED_VERSIONS]
    if not usable:
        raise CniError(
            INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            f"config offers {', '.join(candidates)}, "
            f"plugin supports {', '.join(SUPPORTED_VERSIONS)}",
        )
    return max(usable, key=parse_version)


def check_command(command: str, cni_version: str) -> None:
    """Raise unless ``command`` may be run with a configuration at ``cni_version``.

    Unknown command: code 4 (CNI_COMMAND is an invalid environment variable). Command newer
    than the configuration's version (CHECK before 0.4.0, GC or STATUS before 1.1.0), or a
    version we do not speak: code 1.
    """
    if command not in COMMANDS:
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES,
            "invalid env variables [CNI_COMMAND]",
            f"unknown CNI_COMMAND {command!r}; expected one of {', '.join(COMMANDS)}",
        )
    if command == "VERSION":
        return
    require_supported(cni_version)
    since = COMMAND_SINCE.get(command)
    if since is not None and not version_at_least(cni_version, since):
        raise CniError(
            INCOMPATIBLE_CNI_VERSION,
            f"config version does not allow {command}",
            f"{command} needs cniVersion {since} or later, config is {cni_version!r}",
        )


def requested_version(stdin: bytes) -> str | None:
    """The ``cniVersion`` a VERSION request asks about, or None if it names none.

    VERSION input is only ``{"cniVersion": ...}`` and older runtimes send nothing at all, so
    this never fails: anything unreadable means "no version requested".
    """
    try:
        obj = jsonlite.loads(stdin) if stdin.strip() else None
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict):
        value = obj.get("cniVersion")
        if isinstance(value, str) and value:
            return value
    return None


def version_info(requested: str | None = None) -> dict[str, object]:
    """The VERSION command's output.

    ``cniVersion`` echoes the version specified on input (SPEC.md section 5), or our latest
    when none was given. (libcni's skel always answers with its own latest instead.)
    """
    return {
        "cniVersion": requested or LATEST_VERSION,
        "supportedVersions": list(SUPPORTED_VERSIONS),
    }
