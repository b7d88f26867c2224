"""Pod churn traces: what happens on which node when, and their CSV form.

A trace is a list of events ``(time, node, pod, event)`` with ``event`` ``add`` (the CNI
ADD: the pod wants an address) or ``del`` (the pod is gone), times in seconds from the
start. The CSV has exactly the header ``time,node,pod,event``; blank lines and lines
starting with ``#`` are skipped. Events are replayed in time order (ties in file order).

This module parses and formats text only; reading and writing files is the caller's job.
Any mistake is a ``TraceError`` naming the line: a bad field, a pod added twice while it
lives, a pod deleted that was never added.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HEADER = ("time", "node", "pod", "event")
ADD = "add"
DEL = "del"


class TraceError(ValueError):
    """A trace that cannot be replayed; ``line`` is its 1-based line number (0: none)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True, slots=True)
class TraceEvent:
    time: float
    node: str
    pod: str
    event: str
    """``add`` or ``del``."""


@dataclass(frozen=True, slots=True)
class Trace:
    events: tuple[TraceEvent, ...]
    """In replay order: by time, ties in the order given."""
    horizon: float
    """Seconds to simulate: at least the last event's time."""

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted({e.node for e in self.events}))

    @property
    def churn_events(self) -> int:
        return len(self.events)


def make_trace(
    events: Iterable[TraceEvent],
    horizon: float | None = None,
    *,
    lines: Sequence[int] | None = None,
) -> Trace:
    """Sort and check events: each pod is added before it is deleted, and not added again
    while it lives. ``lines`` (the events' line numbers) make errors name the line."""
    given = list(events)
    numbers = list(lines) if lines is not None else [0] * len(given)
    order = sorted(range(len(given)), key=lambda k: given[k].time)
    alive: dict[tuple[str, str], int] = {}
    for k in order:
        event, line = given[k], numbers[k]
        key = (event.node, event.pod)
        if event.event == ADD:
            if key in alive:
                first = f" (added at line {alive[key]})" if alive[key] else ""
                raise TraceError(
                    line,
                    f"pod {event.pod!r} on node {event.node!r} is added again while it "
                    f"lives{first}",
                )
            alive[key] = line
        elif key in alive:
            del alive[key]
        else:
            raise TraceError(
                line, f"pod {event.pod!r} on node {event.node!r} is deleted but was not added"
            )
    ordered = tuple(given[k] for k in order)
    last = ordered[-1].time if ordered else 0.0
    end = last if horizon is None else horizon
    if end < last:
        raise TraceError(0, f"horizon {end:g}s ends before the last event at {last:g}s")
    return Trace(ordered, end)


def parse_trace(text: str | Iterable[str], horizon: float | None = None) -> Trace:
    """A trace from CSV text (a string, or lines as a file yields them)."""
    lines = io.StringIO(text) if isinstance(text, str) else text
    events: list[TraceEvent] = []
    numbers: list[int] = []
    header_seen = False
    for number, row in _rows(lines):
        if not header_seen:
            if tuple(f.strip().lower() for f in row) != HEADER:
                expected, got = ",".join(HEADER), ",".join(row)
                raise TraceError(number, f"expected the header {expected!r}, got {got!r}")
            header_seen = True
            continue
        events.append(_event(number, row))
        numbers.append(number)
    if not header_seen:
        raise TraceError(0, f"empty trace: expected the header {','.join(HEADER)!r}")
    return make_trace(events, horizon, lines=numbers)


def _rows(lines: Iterable[str]) -> Iterable[tuple[int, list[str]]]:
    number = 0
    for raw in lines:
        number += 1
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            row = next(csv.reader([text]))
        except csv.Error as error:
            raise TraceError(number, f"not CSV: {error}") from None
        yield number, row


def _event(number: int, row: list[str]) -> TraceEvent:
    if len(row) != len(HEADER):
        raise TraceError(
            number,
            f"expected {len(HEADER)} fields (time,node,pod,event), got {len(row)}: "
            f"{','.join(row)!r}",
        )
    time_text, node, pod, event = (f.strip() for f in row)
    try:
        time = float(time_text)
    except ValueError:
        raise TraceError(number, f"time {time_text!r} is not a number of seconds") from None
    if not math.isfinite(time) or time < 0:
        raise TraceError(number, f"time {time_text!r} must be a finite number >= 0")
    if not node or not pod:
        raise TraceError(number, "node and pod must not be empty")
    if event not in (ADD, DEL):
        raise TraceError(number, f"event {event!r} must be 'add' or 'del'")
    return TraceEvent(time, node, pod, event)


def format_trace(trace: Trace) -> str:
    """The trace as CSV text; ``parse_trace`` of it gives the same events back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for e in trace.events:
        writer.writerow((repr(e.time), e.node, e.pod, e.event))
    return out.getvalue()
