"""EC2-shaped request throttling: token buckets per action class, on a controllable clock.

EC2 meters API calls with token buckets: a bucket holds up to ``burst`` tokens, refills at
``rate`` tokens per second, and a call that finds it empty fails with RequestLimitExceeded.
The classes and default sizes here (changeable per test) are:

=============  ======================================================  =====  ======
class          actions                                                 burst  rate/s
=============  ======================================================  =====  ======
``describe``   ``Describe*``                                           100    20
``allocate``   ``AssignPrivateIpAddresses``, ``CreateNetworkInterface``  100    5
``mutating``   everything else (Attach/Detach/Delete/Unassign/Modify/    50     5
               CreateTags, ...)
=============  ======================================================  =====  ======

The buckets and the classifier are the client's own (providers.ratelimit): the emulator
meters with the same arithmetic the daemon paces itself with. All actions of a class share
that class's bucket; ``limit(action_name, ...)`` gives one action
a bucket of its own. Throttling is off until a bucket is switched on.
"""

from __future__ import annotations

import threading

from providers.ratelimit import ALLOCATE, DESCRIBE, MUTATING, TokenBucket, classify_ec2
from sandbox.clock import Clock

CLASSES = (DESCRIBE, ALLOCATE, MUTATING)

DEFAULT_SHAPES: dict[str, tuple[int, float]] = {
    DESCRIBE: (100, 20.0),
    ALLOCATE: (100, 5.0),
    MUTATING: (50, 5.0),
}
"""Class -> (burst, tokens per second), as EC2 documents its account buckets."""


class Throttle:
    """Which buckets are on, and the decision per call. Thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}  # class name or action name -> bucket

    def limit(self, target: str, burst: int | None = None, rate: float | None = None) -> None:
        """Switch on a bucket for an action class (``describe``, ``eni-create``,
        ``mutating``) or for one action name; unset sizes take the class's EC2 default."""
        default_burst, default_rate = DEFAULT_SHAPES[
            target if target in CLASSES else classify_ec2(target)
        ]
        bucket = TokenBucket(
            default_rate if rate is None else rate,
            default_burst if burst is None else burst,
            name=target,
            clock=self._clock.now,
        )
        with self._lock:
            self._buckets[target] = bucket

    def limit_all_like_ec2(self) -> None:
        for name in CLASSES:
            self.limit(name)

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()

    def admit(self, action: str) -> bool:
        """Take a token for ``action``; False means throttled."""
        with self._lock:
            bucket = self._buckets.get(action) or self._buckets.get(classify_ec2(action))
            return bucket is None or bucket.try_acquire()
