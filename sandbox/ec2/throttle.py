"""EC2-shaped request throttling: token buckets per action class, on a controllable clock.

EC2 meters API calls with token buckets: a bucket holds up to ``burst`` tokens, refills at
``rate`` tokens per second, and a call that finds it empty fails with RequestLimitExceeded.
The classes and default sizes here (changeable per test) are:

=============  ======================================================  =====  ======
class          actions                                                 burst  rate/s
=============  ======================================================  =====  ======
``describe``   ``Describe*``                                           100    20
``eni-create`` ``AssignPrivateIpAddresses``, ``CreateNetworkInterface``  100    5
``mutating``   everything else (Attach/Detach/Delete/Unassign/Modify/    50     5
               CreateTags, ...)
=============  ======================================================  =====  ======

All actions of a class share that class's bucket; ``limit(action_name, ...)`` gives one action
a bucket of its own. Throttling is off until a bucket is switched on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sandbox.clock import Clock

DESCRIBE = "describe"
ENI_CREATE = "eni-create"
MUTATING = "mutating"
CLASSES = (DESCRIBE, ENI_CREATE, MUTATING)


@dataclass(frozen=True)
class BucketShape:
    burst: int
    rate: float


DEFAULT_SHAPES: dict[str, BucketShape] = {
    DESCRIBE: BucketShape(100, 20.0),
    ENI_CREATE: BucketShape(100, 5.0),
    MUTATING: BucketShape(50, 5.0),
}

_ENI_CREATE_ACTIONS = frozenset({"AssignPrivateIpAddresses", "CreateNetworkInterface"})


def action_class(action: str) -> str:
    if action.startswith("Describe"):
        return DESCRIBE
    if action in _ENI_CREATE_ACTIONS:
        return ENI_CREATE
    return MUTATING


class TokenBucket:
    def __init__(self, shape: BucketShape, clock: Clock) -> None:
        if shape.burst < 0 or shape.rate < 0:
            raise ValueError("burst and rate must not be negative")
        self.shape = shape
        self._clock = clock
        self._tokens = float(shape.burst)
        self._last = clock.now()

    def try_take(self) -> bool:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.shape.burst), self._tokens + elapsed * self.shape.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Throttle:
    """Which buckets are on, and the decision per call. Thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}  # class name or action name -> bucket

    def limit(self, target: str, burst: int | None = None, rate: float | None = None) -> None:
        """Switch on a bucket for an action class (``describe``, ``eni-create``,
        ``mutating``) or for one action name; unset sizes take the class's EC2 default."""
        default = DEFAULT_SHAPES[target if target in CLASSES else action_class(target)]
        shape = BucketShape(
            default.burst if burst is None else burst, default.rate if rate is None else rate
        )
        with self._lock:
            self._buckets[target] = TokenBucket(shape, self._clock)

    def limit_all_like_ec2(self) -> None:
        for name in CLASSES:
            self.limit(name)

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()

    def admit(self, action: str) -> bool:
        """Take a token for ``action``; False means throttled."""
        with self._lock:
            bucket = self._buckets.get(action) or self._buckets.get(action_class(action))
            return bucket is None or bucket.try_take()
