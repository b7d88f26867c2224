"""The process that execs CNI plugins inside a node namespace and times them there.

``bench.refplugins.Launcher`` starts this file once per benchmark with ``ip netns exec
<node> python -I -S`` (standard library only, no site), so it lives in the node's network
and mount namespaces exactly as a plugin the sandbox's kubelet execs would. It then runs
every plugin call, ours and the reference's alike, the same way: fork and exec of the
plugin's argv with the given environment and stdin, read its stdout and stderr, reap it.
The clock starts just before the fork and stops once the plugin is reaped, so the cost of
``ip netns exec`` (a mount namespace, a remount of /sys: several milliseconds) is paid once
here and never lands in a sample, on either side.

Protocol (one JSON object a line, one request at a time): a request is ``{"calls": [{"argv",
"env", "stdin"}, ...]}``; every call of a request is released at once by a barrier (a burst
is one request), and the answer is ``{"results": [{"rc", "stdout", "stderr", "start",
"end"}, ...]}`` in request order, times in seconds of this process's perf_counter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

TIMEOUT = 60.0


def run_call(call: dict[str, Any], barrier: threading.Barrier, out: dict[str, Any]) -> None:
    barrier.wait()
    out["start"] = time.perf_counter()
    try:
        done = subprocess.run(
            call["argv"],
            input=call["stdin"].encode(),
            env=call["env"],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        out["rc"] = done.returncode
        out["stdout"] = done.stdout.decode(errors="replace")
        out["stderr"] = done.stderr.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        out.update(rc=-1, stdout="", stderr=f"{type(e).__name__}: {e}")
    out["end"] = time.perf_counter()


def serve() -> None:
    for line in sys.stdin:
        calls = json.loads(line)["calls"]
        barrier = threading.Barrier(len(calls))
        results: list[dict[str, Any]] = [{} for _ in calls]
        threads = [
            threading.Thread(target=run_call, args=(call, barrier, out))
            for call, out in zip(calls, results, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sys.stdout.write(json.dumps({"results": results}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
