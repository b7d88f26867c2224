"""Crash soak: ADD/DEL against one vpc-ipamd with a kill -9 about every 100 operations.

What a container runtime and vpc-cni would do is what the driver does: an ADD that gets no
answer is followed by a DEL; a DEL that cannot reach the daemon is recorded in the spool
(and always succeeds). Kills land while a request is in flight, so some land mid-request or
mid-checkpoint. At the end, after a clean stop, the checkpoint is compared with the pods the
driver believes live: no address may be held twice, none leaked (held for a pod that is
gone) and none lost (a live pod's address not held for it).

    python -m tests.daemon.soak [operations] [seed]
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cni.errors import CniError
from cni.spool import write_release
from sandbox.clock import SystemClock
from sandbox.ec2 import Ec2Emulator
from tests.daemon.harness import NETWORK, Daemon, Node
from tests.fake_aws import REGION

MAX_LIVE = 20


@dataclass
class SoakReport:
    operations: int
    kills: int
    duplicates: int
    leaked: int
    lost: int
    failed_adds: int

    def __str__(self) -> str:
        return (
            f"{self.operations} operations, {self.kills} kill -9: "
            f"duplicates={self.duplicates} leaked={self.leaked} lost={self.lost} "
            f"(ADDs that failed and were deleted: {self.failed_adds})"
        )


def _delete(daemon: Daemon, container_id: str, address: str | None) -> None:
    """DEL as vpc-cni does it: through the daemon, else into the spool."""
    try:
        daemon.delete(container_id, address)
    except CniError:
        write_release(
            daemon.spool,
            network=NETWORK,
            container_id=container_id,
            ifname="eth0",
            addresses=(address,) if address else (),
        )


def run_soak(daemon: Daemon, operations: int = 1000, seed: int = 1) -> SoakReport:
    rng = random.Random(seed)
    live: dict[str, str] = {}
    kills = failed_adds = 0
    next_kill = rng.randint(80, 120)
    for op in range(operations):
        killer = None
        if op == next_kill:
            delay = rng.uniform(0, 0.01)
            process = daemon.process
            assert process is not None
            killer = threading.Timer(delay, process.kill)
            killer.start()
            next_kill += rng.randint(80, 120)
        if live and (len(live) >= MAX_LIVE or rng.random() < 0.45):
            container_id = rng.choice(sorted(live))
            _delete(daemon, container_id, live.pop(container_id))
        else:
            container_id = f"c{op}"
            try:
                live[container_id] = daemon.add(container_id, timeout=8.0)
            except CniError:
                failed_adds += 1
                _delete(daemon, container_id, None)
        if killer is not None:
            killer.join()
            daemon.process.wait(30)  # type: ignore[union-attr]
            kills += 1
            daemon.start()
    daemon.stop()

    held = daemon.checkpoint_allocations()
    addresses = Counter(held.values())
    duplicates = sum(n - 1 for n in addresses.values() if n > 1)
    duplicates += sum(n - 1 for n in Counter(live.values()).values() if n > 1)
    leaked = sum(1 for c in held if c not in live)
    lost = sum(1 for c, a in live.items() if held.get(c) != a)
    return SoakReport(operations, kills, duplicates, leaked, lost, failed_adds)


def main() -> int:
    operations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=str(Path(scratch) / "none"),
            MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        )
        with Ec2Emulator(region=REGION, clock=SystemClock()) as emulator:
            daemon = Daemon(Node.launch(emulator))
            try:
                daemon.start()
                report = run_soak(daemon, operations, seed)
            finally:
                daemon.close()
    print(f"seed {seed}: {report}")
    return 0 if report.duplicates == report.leaked == report.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
