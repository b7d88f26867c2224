"""The pool loop's recent decisions, kept for operators: what it did and why, or why not.

Every tick ends in one record: its outcome, the actions carried out and the reasons
(warmpool's sentences, then why growth is blocked). A pool at rest says "on target" every
few seconds with counts that move as pods come and go, so a tick that did nothing and ended
as the previous record did folds into it: ``repeats`` counts the ticks, ``last_at`` moves
on and the reasons become the latest ones. Ticks that did something never fold. The last 50
records are kept, which on a quiet node reaches back hours, and on a busy one still shows
the last minutes of growth and shrinking in full.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum


class Outcome(StrEnum):
    """How a tick ended."""

    GREW = "grew"
    SHRANK = "shrank"
    ON_TARGET = "on-target"
    BLOCKED = "blocked"
    """The pool wants to grow and cannot (max pods, subnet full, limit, permission, ...)."""
    WAITING = "waiting"
    """A wanted change is held back on purpose (shrink interval, capacity backoff)."""
    FAILED = "failed"
    """A cloud call failed; the next tick tries again."""


class ActionKind(StrEnum):
    GROW = "grow"
    CREATE_INTERFACE = "create_interface"
    RELEASE = "release"
    REMOVE_INTERFACE = "remove_interface"


@dataclass(frozen=True, slots=True)
class PoolAction:
    """One change carried out in the cloud and the datastore."""

    kind: ActionKind
    interface_id: str
    blocks: int

    def __str__(self) -> str:
        if self.kind is ActionKind.GROW:
            return f"added {self.blocks} blocks to {self.interface_id}"
        if self.kind is ActionKind.CREATE_INTERFACE:
            return f"created {self.interface_id} with {self.blocks} blocks"
        if self.kind is ActionKind.RELEASE:
            return f"released {self.blocks} blocks of {self.interface_id}"
        return f"removed {self.interface_id} ({self.blocks} blocks)"


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """One tick, or several equal ones in a row."""

    at: float
    """Wall-clock time of the first tick."""
    last_at: float
    """Wall-clock time of the latest tick folded in."""
    repeats: int
    outcome: Outcome
    actions: tuple[PoolAction, ...]
    reasons: tuple[str, ...]

    def folds(self, later: PoolEvent) -> bool:
        """``later`` only repeats this one: neither did anything, both ended the same way."""
        return not self.actions and not later.actions and self.outcome is later.outcome


class DecisionLog:
    """Bounded, thread-safe: the pool loop appends, introspection reads."""

    def __init__(self, keep: int = 50, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._events: deque[PoolEvent] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._wall = wall_clock

    def record(
        self, outcome: Outcome, actions: tuple[PoolAction, ...], reasons: tuple[str, ...]
    ) -> PoolEvent:
        now = self._wall()
        event = PoolEvent(now, now, 1, outcome, actions, reasons)
        with self._lock:
            last = self._events[-1] if self._events else None
            if last is not None and last.folds(event):
                event = replace(last, last_at=now, repeats=last.repeats + 1, reasons=reasons)
                self._events[-1] = event
            else:
                self._events.append(event)
        return event

    def events(self, last: int | None = None) -> list[PoolEvent]:
        """Oldest first; the ``last`` newest when given."""
        with self._lock:
            events = list(self._events)
        return events[-last:] if last else events
