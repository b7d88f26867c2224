"""The real socket server and the real IPAM service on the fake provider, in this process.

What the fuzz tests talk to when they need many examples quickly: ``ipamd.server``'s
``SocketServer`` on a real unix socket under a short /tmp directory, answering with
``ipamd.service.IpamService`` over a datastore the fake provider filled (no dataplane: the
netns is not touched), so everything between the bytes and the allocation is the daemon's
own code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cni import client
from cni.wire import HealthArgs
from ipamd.dataplane import NoDataplane
from ipamd.server import SocketServer
from ipamd.service import IpamService
from tests.unit.ipamd.test_poolloop import Node, make_node

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0") or 0)
"""``FUZZ_EXAMPLES=20000 pytest tests/fuzz`` runs a long campaign; the default is short."""


def examples(default: int) -> int:
    """How many examples a fuzz test runs: ``default``, or more when FUZZ_EXAMPLES says so."""
    return max(default, FUZZ_EXAMPLES)


def time_budget(default: float) -> float:
    """The wall-clock seconds a fuzz loop may spend (scaled with FUZZ_EXAMPLES)."""
    return default if FUZZ_EXAMPLES == 0 else max(default, FUZZ_EXAMPLES / 50)


@dataclass
class InProcessDaemon:
    node: Node
    service: IpamService
    server: SocketServer
    workdir: Path

    @property
    def socket(self) -> str:
        return str(self.server.path)

    def allocations(self) -> int:
        return len(list(self.service.store.allocations()))

    def reset(self) -> None:
        """Release every allocation (an example that failed half-way may have left one)."""
        for allocation in list(self.service.store.allocations()):
            self.service.store.release(allocation.key)

    def health(self) -> dict[str, object]:
        request = client.new_request("health", HealthArgs(), timeout=5.0)
        return client.call(self.socket, request, timeout=5.0)


@contextmanager
def inprocess_daemon(read_timeout: float = 1.0) -> Iterator[InProcessDaemon]:
    workdir = Path(tempfile.mkdtemp(prefix="vfz-", dir="/tmp"))
    node = make_node(cooldown=0)
    node.loop.tick()
    service = IpamService(
        node.store,
        lambda: node.checkpoint.save(node.store.to_state()),
        node.loop,
        NoDataplane(),
        add_wait=0.05,
    )
    server = SocketServer(workdir / "ipamd.sock", service.handle, read_timeout=read_timeout)
    try:
        with server:
            yield InProcessDaemon(node, service, server, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
