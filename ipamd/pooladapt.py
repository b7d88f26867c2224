"""WARM_POOL_MODE=adaptive inside the pool loop: what the loop observes, fed to warmpool.adaptive.

The estimators are pure (warmpool.adaptive); this module owns their inputs and outputs in
the daemon: the datastore's count of assignments read once per tick (every ADD wakes the
loop), the measured time of each grow (the AssignPrivateIpAddresses call; for a new
interface, from its creation until its link serves pods), the targets each tick decides
with, and the regret of a shrink that a grow undid, which lengthens the scale-down window.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Iterable

import warmpool
from ipamd.decisions import ActionKind, PoolAction

log = logging.getLogger("ipamd.poolloop")

GROWTH = frozenset({ActionKind.GROW, ActionKind.CREATE_INTERFACE})


class PoolAdaptation:
    def __init__(self, base_window: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.warm = warmpool.AdaptiveWarm()
        self.window = warmpool.AdaptiveWindow(base_window)
        self.estimate: warmpool.WarmEstimate | None = None
        """The adaptive warm target of the last tick."""
        self._creating: dict[str, float] = {}
        """Interfaces created but not serving yet -> when their creation began."""

    def targets(
        self, snapshot: warmpool.PoolSnapshot, now: float, assignments: int
    ) -> warmpool.PoolSnapshot:
        """The snapshot with this tick's adaptive targets."""
        self.warm.observe_assignments(now, assignments)
        limits = snapshot.limits
        room = sum(
            max(limits.blocks_per_interface - len(i.blocks), 0)
            for i in snapshot.interfaces
            if i.pods_allowed
        )
        self.estimate = self.warm.estimate(
            now,
            room_blocks=room,
            block_size=limits.block_size,
            can_create=len(snapshot.interfaces) < limits.max_interfaces,
            window=self.window.window(now),
        )
        targets = warmpool.adaptive_targets(snapshot.targets, self.estimate)
        return dataclasses.replace(snapshot, targets=targets)

    def explain(self, decision: warmpool.Decision) -> warmpool.Decision:
        if self.estimate is None:
            return decision
        return dataclasses.replace(decision, reasons=(self.estimate.reason, *decision.reasons))

    def grew_blocks(self, seconds: float) -> None:
        self.warm.grew(seconds, new_interface=False)

    def creating(self, interface_id: str, started: float) -> None:
        self._creating[interface_id] = started

    def serving(self, pending: Collection[str]) -> None:
        """New interfaces whose links appeared (not in ``pending``): creation to serving."""
        if not self._creating:
            return
        now = self._clock()
        for interface_id, started in list(self._creating.items()):
            if interface_id not in pending:
                del self._creating[interface_id]
                self.warm.grew(now - started, new_interface=True)

    def acted(self, now: float, actions: Iterable[PoolAction]) -> None:
        """Tell the window of this tick's growth or shrink."""
        kinds = {a.kind for a in actions}
        if not kinds:
            return
        if kinds & GROWTH:
            if self.window.grew(now):
                log.info(
                    "pool: a shrink was undone; scale-down window now %.0fs",
                    self.window.window(now),
                )
        else:
            self.window.shrank(now)
