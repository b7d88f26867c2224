"""How the cloud API has been treating this node: per action counts and latency, the last
success and the last errors. Fed by ``providers.retry.CallPolicy``'s observer, read by
``vpc-ipamctl status`` (through introspection) when an operator asks "is EC2 the problem?".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from providers.ratelimit import RateLimiterStats
from providers.retry import CallOutcome

KEEP_ERRORS = 20
MESSAGE_CAP = 300


@dataclass(slots=True)
class _Action:
    calls: int = 0
    errors: int = 0
    throttles: int = 0
    retries: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class CloudError:
    at: float
    action: str
    code: str
    message: str


class CloudHealth:
    """A ``CallObserver``; thread-safe."""

    def __init__(
        self,
        provider: str,
        *,
        limiter: Callable[[], RateLimiterStats] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.limiter = limiter
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._actions: dict[str, _Action] = {}
        self._errors: deque[CloudError] = deque(maxlen=KEEP_ERRORS)
        self.last_success_at: float | None = None

    def __call__(self, outcome: CallOutcome) -> None:
        now = self._wall()
        with self._lock:
            row = self._actions.setdefault(outcome.action, _Action())
            row.calls += 1
            row.throttles += outcome.throttles
            row.retries += max(0, outcome.attempts - 1)
            row.seconds += outcome.seconds
            if outcome.ok:
                self.last_success_at = now
                return
            row.errors += 1
            message = str(outcome.error)[:MESSAGE_CAP]
            self._errors.append(CloudError(now, outcome.action, outcome.error_code, message))

    @property
    def last_error(self) -> CloudError | None:
        with self._lock:
            return self._errors[-1] if self._errors else None

    def errors(self) -> list[CloudError]:
        with self._lock:
            return list(self._errors)

    def actions(self) -> dict[str, tuple[int, int, int, int, float]]:
        """action -> (calls, errors, throttles, retries, mean seconds)."""
        with self._lock:
            return {
                name: (r.calls, r.errors, r.throttles, r.retries, r.seconds / r.calls)
                for name, r in sorted(self._actions.items())
            }
