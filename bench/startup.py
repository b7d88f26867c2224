"""Start-up: the CNI binary's start (exec to VERSION answered) against the Go reference
plugin, and the daemon's restart to its first address served.

The binary is exec'd once per pod, so its start is on every pod's path (DESIGN.md §8: under
20 ms). It is timed as the node really runs it: the launcher ``ipamd.installer`` installs
(``/bin/sh`` exec'ing ``python3 -I -S`` over a package directory whose bytecode the host's
python caches), exec'd with a runtime's short PATH, answering VERSION; beside it the same file
run by ``python3 -I -S`` directly (what the shell hop costs) and the virtualenv's console
script.
The reference is Debian's Go ``/usr/lib/cni/ptp`` answering the same VERSION, and
``/bin/true`` shows what the measuring itself costs (fork, exec, pipes), paid by every row
alike. Every command runs once per round, in an order rotated each round, after one untimed
warm-up each (bytecode and page cache), so drift on a shared machine hits all of them.

The restart: the real daemon (IPAM-only, EC2 emulator) fills its pool and serves a few
pods, is stopped by SIGTERM, and started again; the time runs from the process's start to
the first ADD it answers (polled over the socket every 2 ms), and the emulator counts the
EC2 calls made before that answer. DESIGN.md §8: within 2 s, with no EC2 call, when the
addresses are already attached.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Options, Ratio, Result, Stats, ms
from bench.daemonbench import emulated_node, poll
from ipamd.installer import build_plugin

NAME = "startup"
PTP = Path("/usr/lib/cni/ptp")
RUNTIME_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
VERSION_STDIN = b'{"cniVersion":"1.0.0"}'
START_BUDGET_MS = 20.0
RESTART_BUDGET_MS = 2000.0
HEADERS = ("measured", "runs", "p50 ms", "p99 ms", "max ms", "note")

LAUNCHER = "vpc-cni as installed (launcher)"
REFERENCE = "Go ptp (reference)"
FLOOR = "exec floor (/bin/true)"
INTERPRETER = "python3 -c pass (the interpreter alone)"


def run(options: Options) -> Result:
    result = Result(NAME, HEADERS, [])
    _binary_start(result, rounds=20 if options.quick else 200)
    _restart(result, restarts=1 if options.quick else 5)
    return result


# --- the binary ----------------------------------------------------------------------------


def _binary_start(result: Result, rounds: int) -> None:
    bin_dir = Path(tempfile.mkdtemp(prefix="vpc-cni-bench-", dir="/tmp"))
    try:
        launcher = bin_dir / "vpc-cni"
        build_plugin(launcher)
        # The node's python3 first, as a runtime's PATH finds it; this one only when it has none.
        env = {"PATH": f"{RUNTIME_PATH}:{Path(sys.executable).parent}", "CNI_COMMAND": "VERSION"}
        python3 = shutil.which("python3", path=env["PATH"]) or sys.executable
        commands = {
            FLOOR: ["/bin/true"],
            INTERPRETER: [python3, "-c", "pass"],
            LAUNCHER: [str(launcher)],
            "vpc-cni launcher under python3 -I -S": [python3, "-I", "-S", str(launcher)],
            "vpc-cni console script (.venv)": [str(Path(sys.executable).parent / "vpc-cni")],
        }
        if PTP.exists():
            commands[REFERENCE] = [str(PTP)]
        else:
            result.notes.append(f"{PTP} missing (make bench installs it): no reference ratio")
        for name, argv in commands.items():
            _check_version_answer(name, argv, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for i in range(rounds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                samples[name].append(_exec_seconds(commands[name], env))
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)
    stats = {name: Stats.of([ms(s) for s in runs]) for name, runs in samples.items()}
    for name, s in stats.items():
        note = "python: " + python3 if name == LAUNCHER else ""
        result.rows.append((name, s.count, s.p50, s.p99, s.max, note))
    ours = stats[LAUNCHER]
    result.figures["binary_start_ms"] = {name: _stats_json(s) for name, s in stats.items()}
    if REFERENCE in stats:
        result.ratios.append(
            Ratio("vpc-cni VERSION start p50 vs Go ptp", ours.p50, stats[REFERENCE].p50)
        )
    verdict = "ok" if ours.p50 < START_BUDGET_MS else "OVER"
    result.notes.append(
        f"vpc-cni start p50 {ours.p50:.1f} ms (p99 {ours.p99:.1f}; "
        f"{ours.p50 - stats[FLOOR].p50:.1f} net of the exec floor), DESIGN.md budget "
        f"< {START_BUDGET_MS:g} ms: {verdict}"
    )
    result.ratios.append(
        Ratio("vpc-cni start p50 vs the 20 ms budget", ours.p50, START_BUDGET_MS, budget=1.0)
    )


def _check_version_answer(name: str, argv: list[str], env: dict[str, str]) -> None:
    """One untimed run (warms caches) that must answer VERSION, so errors are never timed."""
    done = subprocess.run(argv, input=VERSION_STDIN, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}): {done.stdout!r} {done.stderr!r}")
    if name in (FLOOR, INTERPRETER):
        return
    if json.loads(done.stdout).get("cniVersion") != "1.0.0":
        raise RuntimeError(f"{name} did not answer VERSION: {done.stdout!r}")


def _exec_seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=VERSION_STDIN, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr!r}")
    return elapsed


# --- the daemon's restart ------------------------------------------------------------------


def _restart(result: Result, restarts: int) -> None:
    seconds: list[float] = []
    calls_before: list[dict[str, int]] = []
    calls_after: list[dict[str, int]] = []
    with emulated_node() as (daemon, ec2):
        daemon.start()
        daemon.settled()
        for n in range(3):
            daemon.add(f"before-{n}")
        for n in range(restarts):
            daemon.settled()  # nothing in flight: every address attached and known
            daemon.stop()
            ec2.reset_counts()
            start = time.perf_counter()
            daemon.start(wait=False)
            poll(
                "the restarted daemon's first ADD",
                functools.partial(daemon.add, f"after-{n}", 2),
                timeout=30,
                alive=daemon.running,
            )
            seconds.append(time.perf_counter() - start)
            calls_before.append(ec2.call_counts())
            daemon.settled()
            calls_after.append(ec2.call_counts())
    s = Stats.of([ms(x) for x in seconds])
    before = [sum(c.values()) for c in calls_before]
    result.rows.append(
        (
            "vpc-ipamd restart to first ADD answered",
            s.count,
            s.p50,
            s.p99,
            s.max,
            f"EC2 calls before it: {before}",
        )
    )
    result.figures["restart_ms"] = _stats_json(s)
    result.figures["restart_ec2_calls_before_first_add"] = calls_before
    result.figures["restart_ec2_calls_until_settled"] = calls_after
    result.ratios.append(
        Ratio("vpc-ipamd restart to first ADD (max) vs 2 s", s.max, RESTART_BUDGET_MS, budget=1.0)
    )
    verdict = "ok" if max(before) == 0 else "OVER"
    result.notes.append(
        f"restart: first ADD after p50 {s.p50:.0f} ms (max {s.max:.0f}); EC2 calls before it "
        f"{max(before)} at most, DESIGN.md says none: {verdict}; until the pool settled: "
        f"{[sum(c.values()) for c in calls_after]}"
    )


def _stats_json(s: Stats) -> dict[str, float]:
    return {"count": s.count, "p50": s.p50, "p90": s.p90, "p99": s.p99, "max": s.max}
