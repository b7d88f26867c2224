"""Token buckets on virtual time: the cloud's (take or refuse) and the client's (reserve and wait).

A bucket holds at most ``burst`` tokens, starts full, and refills continuously at ``rate``
per second. EC2 documents its refill as "a set number of tokens added every second"; the
continuous form is the usual approximation and never differs by more than one second's
refill.

- ``try_take`` is the cloud's side: a request takes a token or is refused
  (``RequestLimitExceeded``); a refused request takes nothing.
- ``reserve`` is the client's side, as ``providers.ratelimit.TokenBucket.acquire`` does it:
  the token is taken at once (the balance may go negative) and the caller waits until the
  balance would have covered it, so waiters are served in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass

EPSILON = 1e-9
"""Tokens short by less than this count as there: virtual times are sums of floats, and a
token due at 40.1 s must not be missed at 40.099999999999994 s."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A bucket's size and refill rate."""

    burst: float
    rate: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.rate < 0:
            raise ValueError(f"a bucket needs burst >= 1 and rate >= 0 (got {self})")

    def scaled(self, share: float) -> Shape:
        """This shape times ``share`` (a node's share of an account's bucket), burst >= 1."""
        return Shape(max(1.0, self.burst * share), self.rate * share)


class Bucket:
    """One token bucket; ``now`` is passed in by the caller, which owns time."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, shape: Shape, now: float = 0.0) -> None:
        self.burst = float(shape.burst)
        self.rate = float(shape.rate)
        self.tokens = self.burst
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def level(self, now: float) -> float:
        """Tokens there at ``now`` (negative while reservations are outstanding)."""
        self._refill(now)
        return self.tokens

    def try_take(self, now: float) -> bool:
        """Take one token if there is one; a refusal takes nothing."""
        self._refill(now)
        if self.tokens < 1.0 - EPSILON:
            return False
        self.tokens -= 1.0
        return True

    def wait_for(self, now: float) -> float:
        """Seconds until one token is there (0 if it is now; inf if it never will be)."""
        self._refill(now)
        short = 1.0 - self.tokens
        if short <= EPSILON:
            return 0.0
        return short / self.rate if self.rate > 0 else float("inf")

    def reserve(self, now: float) -> float:
        """Take one token now, whatever the balance; returns the seconds to wait for it."""
        wait = self.wait_for(now)
        self.tokens -= 1.0
        return wait
