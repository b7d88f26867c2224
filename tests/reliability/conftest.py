"""Reliability fixtures: a sandbox per module (as tests/e2e), every test marked
``reliability``, and the tally of every scenario printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import sandbox_with
from tests.reliability import harness

__all__ = ["sandbox_with"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in item.nodeid:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.netns)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = harness.summary()
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)
