"""The wire protocol's round trip: ``cni.client.call`` against the real daemon, and the floor
any protocol on a unix stream socket pays.

Ours is what vpc-cni does per request: a new connection, one request line of JSON, one reply
line, close, with the encoding, validation and deadlines of ``cni.client`` and ``cni.wire``;
timed against a daemon (IPAM-only, EC2 emulator, pool settled, its loops at their default
intervals, as on a node) for ``health`` (counts and the pool table), ``status`` (the cheapest
operation: an empty answer) and a repeated ``add`` of a pod it already holds (idempotent: no
new address). The reference is a bare server in its own process (as the daemon is), one per
operation, that accepts, reads one line, writes a valid reply line exactly as long as the
daemon's to that operation, and closes; its client here connects, sends a line as long as
ours, reads to the newline and closes with plain blocking calls. Between the two, our client
against that bare server splits the cost into the client's and the daemon's. The rounds
interleave every exchange in a rotating order, so drift on a shared machine hits all alike.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import Options, Ratio, Result, Stats, ms
from bench.daemonbench import NETWORK, emulated_node, pod_args, poll
from cni import client
from cni.wire import HealthArgs, StatusArgs, encode_request

if TYPE_CHECKING:
    from cni.messages import Args

NAME = "rpc"
HEADERS = ("operation", "exchange", "request B", "reply B", "p50 ms", "p99 ms", "mean ms")
DAEMON, CLIENT_ONLY, FLOOR = "cni.client -> vpc-ipamd", "cni.client -> bare", "bare -> bare"
TIMEOUT = 10.0
BARE_SERVER = """
import socket, sys
size = int(sys.argv[2])
empty = b'{"v":1,"ok":true,"result":{}}'
head, tail = b'{"v":1,"ok":true,"result":{"p":"', b'"}}\\n'
if size >= len(head) + len(tail):
    reply = head + b"x" * (size - len(head) - len(tail)) + tail
else:
    reply = empty + b" " * (size - 1 - len(empty)) + b"\\n"
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(64)
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    line = b""
    while not line.endswith(b"\\n"):
        line += conn.recv(65536)
    conn.sendall(reply)
    conn.close()
"""
"""Standard library only, started with -I -S: ``BARE_SERVER <socket> <reply size>``; its reply
is a protocol-valid success (so ``cni.client`` accepts it) of exactly that many bytes."""


def run(options: Options) -> Result:
    rounds = 100 if options.quick else 2000
    result = Result(NAME, HEADERS, [])
    requests: dict[str, tuple[str, Args]] = {
        "health": ("health", HealthArgs()),
        "status": ("status", StatusArgs(network=NETWORK)),
        "add (already held)": ("add", pod_args("rpc-held")),
    }
    timed: dict[tuple[str, str], Callable[[], object]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="rpc-", dir="/tmp") as scratch,
        emulated_node(fast=False) as (daemon, _),
        ExitStack() as servers,
    ):
        daemon.start()
        daemon.settled()
        daemon.add("rpc-held")
        for n, (what, (op, args)) in enumerate(requests.items()):
            line = encode_request(client.new_request(op, args, timeout=TIMEOUT))
            reply = _bare_exchange(daemon.socket, line)
            sizes[what] = (len(line), len(reply))
            bare = servers.enter_context(_bare_server(Path(scratch) / f"{n}.sock", len(reply)))
            timed[what, DAEMON] = _ours(daemon.socket, op, args)
            timed[what, CLIENT_ONLY] = _ours(bare, op, args)
            timed[what, FLOOR] = _floor(bare, b"-" * (len(line) - 1) + b"\n")
        for call in timed.values():  # warm-up; and every exchange answers before it is timed
            poll("a first answer", call, timeout=TIMEOUT)
        stats = _interleaved(timed, rounds)
    for (what, exchange), s in stats.items():
        result.rows.append((what, exchange, *sizes[what], s.p50, s.p99, s.mean))
        result.figures[f"{what}: {exchange}"] = {"p50": s.p50, "p99": s.p99, "mean": s.mean}
    for what in requests:
        ours, bare_stats = stats[what, DAEMON], stats[what, FLOOR]
        result.ratios.append(Ratio(f"{what} p50 vs the socket floor", ours.p50, bare_stats.p50))
        result.ratios.append(Ratio(f"{what} p99 vs the socket floor", ours.p99, bare_stats.p99))
    result.notes.append(
        f"{rounds} rounds; a new unix-socket connection per exchange on every row; vpc-ipamd "
        "answers on a thread per connection, the bare server is one single-threaded process"
    )
    return result


def _interleaved(
    timed: dict[tuple[str, str], Callable[[], object]], rounds: int
) -> dict[tuple[str, str], Stats]:
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in timed}
    keys = list(timed)
    for i in range(rounds):
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            start = time.perf_counter()
            timed[key]()
            samples[key].append(time.perf_counter() - start)
    return {key: Stats.of([ms(s) for s in runs]) for key, runs in samples.items()}


@contextmanager
def _bare_server(path: Path, reply_size: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", BARE_SERVER, str(path), str(reply_size)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the bare server for {path} did not start")
        yield str(path)
    finally:
        process.kill()  # our own child, by its PID
        process.wait(10)


def _ours(path: str, op: str, args: Args) -> Callable[[], object]:
    def call() -> object:
        return client.call(path, client.new_request(op, args, timeout=TIMEOUT), timeout=TIMEOUT)

    return call


def _floor(path: str, line: bytes) -> Callable[[], object]:
    def exchange() -> object:
        return _bare_exchange(path, line)

    return exchange


def _bare_exchange(path: str, line: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(line)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{path} closed after {len(reply)} bytes")
            reply += chunk
        return reply
