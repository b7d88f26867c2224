"""A discrete-event engine on virtual time: a heap of timed callbacks and generator processes.

Time is a float of seconds that only moves when the engine takes the next event; nothing
here reads a clock. Events at the same time run in the order they were scheduled (a
sequence number breaks ties), so a run is a pure function of its inputs and its seeds.

A *process* is a generator that yields what it waits for:

- a number: resume after that many seconds (0 resumes after the events already due now);
- ``Wait(signal, timeout)``: resume when the signal is set, or after ``timeout`` seconds,
  whichever comes first; the generator receives True when the signal woke it.

Sub-steps compose with ``yield from`` (a cloud call is one), as in SimPy, without its cost.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass


class Signal:
    """A flag one process waits on and anyone may set (the pool loop's wake event)."""

    __slots__ = ("_engine", "_waiter", "flag")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiter: tuple[Process, int] | None = None
        self.flag = False

    def set(self) -> None:
        self.flag = True
        if self._waiter is not None:
            process, token = self._waiter
            self._waiter = None
            self._engine.at(self._engine.now, lambda: process.resume(token, True))

    def clear(self) -> None:
        self.flag = False


@dataclass(frozen=True, slots=True)
class Wait:
    """Yielded by a process: wait for ``signal`` at most ``timeout`` seconds."""

    signal: Signal
    timeout: float


Proc = Generator["float | Wait", "bool | None", None]
"""A process body: yields delays or waits, receives whether a wait was woken."""


class Process:
    """A running generator. A resume carries the token of the wait it ends; a stale one
    (the timeout of a wait a signal already ended) is ignored."""

    __slots__ = ("_engine", "_gen", "_token", "done")

    def __init__(self, engine: Engine, gen: Proc) -> None:
        self._engine = engine
        self._gen = gen
        self._token = 0
        self.done = False

    def resume(self, token: int, value: bool | None = None) -> None:
        if token != self._token or self.done:
            return
        self._token += 1
        try:
            step = self._gen.send(value)
        except StopIteration:
            self.done = True
            return
        engine, token = self._engine, self._token
        if isinstance(step, Wait):
            if step.signal.flag:
                engine.at(engine.now, lambda: self.resume(token, True))
                return
            step.signal._waiter = (self, token)
            engine.at(engine.now + step.timeout, lambda: self.resume(token, False))
        else:
            if step < 0:
                raise ValueError(f"a process cannot wait a negative time ({step})")
            engine.at(engine.now + step, lambda: self.resume(token))


class Engine:
    """The event queue and the virtual clock."""

    __slots__ = ("_queue", "_seq", "now")

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def at(self, time: float, action: Callable[[], None]) -> None:
        """Run ``action`` at ``time`` (never before now)."""
        self._seq += 1
        heapq.heappush(self._queue, (max(time, self.now), self._seq, action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.now + delay, action)

    def spawn(self, gen: Proc, at: float | None = None) -> Process:
        """Start a process at ``at`` (default: now, after the events already due)."""
        process = Process(self, gen)
        self.at(self.now if at is None else at, lambda: process.resume(0))
        return process

    def run(self, until: float) -> None:
        """Run every event due at or before ``until``; the clock ends at ``until``."""
        queue = self._queue
        while queue and queue[0][0] <= until:
            time, _, action = heapq.heappop(queue)
            self.now = time
            action()
        self.now = max(self.now, until)

    @property
    def pending(self) -> int:
        return len(self._queue)
