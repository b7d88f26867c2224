"""vpc-cni: the binary a container runtime execs per pod. Standard library only.

Reading ``CNI_*`` here is the CNI protocol itself (the spec passes a call's arguments in the
environment), which is why this and ``ipamd/main.py`` are the two places that touch
``os.environ``: everything the daemon is configured with goes through ``config/``.

Today the binary answers VERSION and validates every other call completely (environment,
network configuration, command against its spec version) before saying plainly that the
daemon client is not built yet; it never pretends to wire a pod. STATUS already answers
with the spec's "plugin not available" (50), which is what it will say whenever the daemon
cannot serve ADD.
"""

from __future__ import annotations

import json
import os
import sys

from cni.env import parse_cni_env
from cni.errors import INTERNAL, PLUGIN_NOT_AVAILABLE, CniError
from cni.netconf import parse_netconf
from cni.versions import LATEST_VERSION, check_command, requested_version, version_info

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NOT_BUILT = (
    "vpc-cni talks to vpc-ipamd over its unix socket; that client is not built yet, so this "
    "binary only answers VERSION and validates its input"
)


def run(environ: Mapping[str, str], stdin: bytes) -> dict[str, object]:
    """One invocation: the result object to print, or a CniError."""
    cni_env = parse_cni_env(environ)
    if cni_env.command == "VERSION":
        return version_info(requested_version(stdin))
    conf = parse_netconf(stdin, ignore_bad_prev_result=cni_env.command == "DEL")
    check_command(cni_env.command, conf.cni_version)
    if cni_env.command == "STATUS":
        raise CniError(PLUGIN_NOT_AVAILABLE, "vpc-ipamd is not reachable", NOT_BUILT)
    raise CniError(INTERNAL, f"{cni_env.command} is not available yet", NOT_BUILT)


def main() -> int:
    stdin = sys.stdin.buffer.read()
    try:
        output = run(os.environ, stdin)
    except CniError as error:
        # Runtimes read the error object from stdout (libcni, SPEC.md "Error").
        version = requested_version(stdin) or LATEST_VERSION
        print(json.dumps(error.to_json(version)))
        return 1
    print(json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
