"""Run a command with a small tmpfs over one directory, in a private mount namespace.

    unshare --mount --propagation slave -- \\
        python -m tests.reliability.mountns --tmpfs DIR --size 256k -- COMMAND...

The tmpfs exists only in the new mount namespace (and goes with its last process); this
refuses to mount anything when it finds itself in the mount namespace of the process that
started it (``unshare`` execs, so that is the test).
The PID stays the command's (exec), so a test can ``kill -9`` it, and reach the tmpfs
through ``/proc/<pid>/root`` or ``nsenter --target <pid> --mount``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mountns")
    parser.add_argument("--tmpfs", required=True)
    parser.add_argument("--size", default="256k")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run")
    try:
        shared = os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt")
    except OSError:
        shared = True
    if shared:
        print("mountns: refusing to mount in the mount namespace of its parent", file=sys.stderr)
        return 2
    os.makedirs(args.tmpfs, mode=0o700, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={args.size},mode=0700", "vpc-ipam-state", args.tmpfs],
        check=True,
    )
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
