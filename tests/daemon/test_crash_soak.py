"""1,000 ADD/DEL with a kill -9 about every 100 operations: nothing held twice, leaked or lost."""

from __future__ import annotations

from tests.daemon.harness import Daemon
from tests.daemon.soak import run_soak


def test_a_thousand_operations_with_kill_9_hold_nothing_twice_and_leak_nothing(daemon: Daemon):
    report = run_soak(daemon, operations=1000, seed=20261122)
    print(report)
    assert report.kills >= 8
    assert (report.duplicates, report.leaked, report.lost) == (0, 0, 0), daemon.tail()
