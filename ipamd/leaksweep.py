"""The sweep for interfaces this project created that nobody uses any more.

A node that dies between creating an ENI and attaching it (or whose detach succeeded but
whose delete did not) leaves a detached, tagged ENI behind; it costs an address of the
subnet for as long as it exists. Every node sweeps its VPC (or cluster, with CLUSTER_NAME)
for such ENIs now and then, as aws-node does; the provider decides what is safe to delete
(tagged as ours, detached, older than the grace period) and bounds each sweep. The first
sweep waits a while after start, so a fleet restarting at once does not sweep at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from providers.base import Provider
from providers.errors import ProviderError

log = logging.getLogger(__name__)

INTERVAL = 600.0
"""Seconds between two sweeps of one node."""
FIRST_AFTER = 120.0
"""The first sweep comes between this and twice this many seconds after start (jitter)."""


class InterfaceSweep:
    """Call it every pool tick; it sweeps when a sweep is due and says how many it deleted."""

    def __init__(
        self,
        provider: Provider,
        *,
        deleted: Callable[[int], None] | None = None,
        interval: float = INTERVAL,
        first_after: float = FIRST_AFTER,
        clock: Callable[[], float] = time.monotonic,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._provider = provider
        self._deleted = deleted
        self._interval = interval
        self._clock = clock
        self._next = clock() + uniform(first_after, 2 * first_after)
        self.swept: tuple[str, ...] = ()
        """Interfaces the last sweep deleted."""

    def __call__(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval
        try:
            self.swept = self._provider.sweep_leaks()
        except ProviderError as error:
            log.warning("leak sweep failed: %s; next in %.0fs", error, self._interval)
            return
        if self.swept:
            log.info("leak sweep deleted %s", ", ".join(self.swept))
            if self._deleted is not None:
                self._deleted(len(self.swept))
