"""The binary's log: one line per invocation, appended to the configuration's ``logFile``.

No file named, no logging at all: stdout carries only the result or error a runtime reads,
and stderr stays empty except for one line when the log file cannot be written. A line::

    2024-06-10T08:00:00Z pid=4242 ADD container=abc123 ifname=eth0 8.1ms ok
    2024-06-10T08:00:01Z pid=4243 DEL container=abc123 ifname=eth0 3.0ms ok: vpc-ipamd ...
    2024-06-10T08:00:02Z pid=4244 ADD container=abc124 ifname=eth0 1.2ms error 11: ...

One ``write`` per line on an ``O_APPEND`` descriptor, so concurrent invocations do not
interleave within a line. A missing parent directory is created (0755).
"""

from __future__ import annotations

import os
import sys
import time


def format_line(command: str, container_id: str, ifname: str, outcome: str, seconds: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    where = "".join(
        f" {key}={value}"
        for key, value in (("container", container_id), ("ifname", ifname))
        if value
    )
    text = f"{stamp} pid={os.getpid()} {command or '?'}{where} {seconds * 1000:.1f}ms {outcome}"
    return " ".join(text.split()) + "\n"  # one line, whatever the messages contain


def append(path: str, line: str) -> None:
    """Append ``line`` to ``path``; on failure say so on stderr (once) and carry on."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, flags, 0o640)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            fd = os.open(path, flags, 0o640)
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except OSError as exc:
        sys.stderr.write(f"vpc-cni: cannot write log file {path}: {exc}\n")
