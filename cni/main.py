"""vpc-cni: the binary a container runtime execs per pod. Standard library only.

Reading ``CNI_*`` here is the CNI protocol itself (the spec passes a call's arguments in the
environment), which is why this and ``ipamd/main.py`` are the two places that touch
``os.environ``: everything the daemon is configured with goes through ``config/``.

The environment is validated first (one code 4 error naming every bad variable), then the
command runs (cni.plugin: configuration, then one request to vpc-ipamd). stdout carries
only the result or the error object; the exit code is 0 or 1. VERSION answers without
importing the daemon client.
"""

from __future__ import annotations

import os
import sys
import time

from cni import jsonlite
from cni.env import parse_cni_env
from cni.errors import INTERNAL, CniError
from cni.versions import LATEST_VERSION, requested_version, version_info

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def run(environ: Mapping[str, str], stdin: bytes) -> tuple[dict[str, object] | None, str]:
    """One invocation: (the object to print or None, a note for the log), or a CniError."""
    cni_env = parse_cni_env(environ)
    if cni_env.command == "VERSION":
        return version_info(requested_version(stdin)), ""
    from cni.plugin import run as run_command  # noqa: PLC0415 (VERSION does without it)

    return run_command(cni_env, stdin)


def invoke(environ: Mapping[str, str], stdin: bytes) -> tuple[int, dict[str, object] | None, str]:
    """(exit code, what to print, the outcome for the log line); never raises."""
    try:
        output, note = run(environ, stdin)
    except CniError as error:
        failure = error
    except Exception as exc:  # a bug: still answer in the protocol, never a traceback
        failure = CniError(INTERNAL, "vpc-cni failed unexpectedly", f"{type(exc).__name__}: {exc}")
    else:
        return 0, output, f"ok: {note}" if note else "ok"
    # Runtimes read the error object from stdout (libcni, SPEC.md "Error").
    version = requested_version(stdin) or LATEST_VERSION
    return 1, failure.to_json(version), f"error {failure.code}: {failure}"


def main() -> int:
    started = time.perf_counter()
    stdin = sys.stdin.buffer.read()
    code, output, outcome = invoke(os.environ, stdin)
    if output is not None:
        sys.stdout.write(jsonlite.dumps(output) + "\n")
        sys.stdout.flush()
    if b'"logFile"' in stdin:
        from cni import calllog  # noqa: PLC0415
        from cni.pluginconf import log_file_of  # noqa: PLC0415

        log_file = log_file_of(stdin)
        if log_file:
            line = calllog.format_line(
                os.environ.get("CNI_COMMAND", ""),
                os.environ.get("CNI_CONTAINERID", ""),
                os.environ.get("CNI_IFNAME", ""),
                outcome,
                time.perf_counter() - started,
            )
            calllog.append(log_file, line)
    return code


if __name__ == "__main__":
    sys.exit(main())
