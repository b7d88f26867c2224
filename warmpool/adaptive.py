"""WARM_POOL_MODE=adaptive: the node sizes its warm pool from what it observes.

Two estimators, shared by the daemon's pool loop and the simulator (warmpool.sim.ours):

- ``AdaptiveWarm``: how many free addresses to keep. The pool must cover the pods that
  arrive while it replenishes: with arrivals a Poisson process of rate ``r`` (ADDs per
  second) and a replenish latency ``L`` (seconds from the loop's grow to usable addresses),
  the arrivals during one replenish are Poisson(r x L). The pod whose ADD takes the pool
  below its target triggers the grow, so the pool keeps ``1 + q`` free addresses, ``q`` the
  99% quantile of Poisson(r x L): the next ``q`` arrivals are served while the grow is on
  its way, with probability 0.99. Bursts are not its business: pods the Kubernetes layer
  sees Pending already make the pool grow in one step (PoolSnapshot.pending_pods).
  - ``r``: an exponentially decayed count of assignments (time constant 300 s, about 20
    pods at the default steady churn), read from a monotonic counter each tick; the first
    minute is scaled as if the count had run a minute, so a node that just started neither
    ignores its first pods nor takes them for a flood.
  - ``L``: an exponentially weighted mean (weight 0.25 per sample) of the loop's measured
    grows, one for adding blocks to an interface (AssignPrivateIpAddresses, ~0.5 s; prior
    0.5 s) and one for a new interface until it serves (~1-3 s; prior 3 s); the estimate
    uses the second when the interfaces held have no room left for the target.
- ``AdaptiveWindow``: the scale-down window (warmpool.window), lengthened on regret. A grow
  that follows a shrink undoes it: had the window been long enough to still hold the peak
  the shrink gave up, neither call would have been made. The window becomes 1.25 x the time
  from that peak to the grow (the peak left the window ``window`` seconds before the shrink),
  at most 2 h; after 6 h without regret it decays back towards the configured window with a
  time constant of 1 h.

Pure: no clock, no I/O; every time is passed in by the caller.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from warmpool.model import Targets
from warmpool.window import SlidingMax

RATE_TIME_CONSTANT = 300.0
"""Seconds: the arrival rate's memory (an exponentially decayed count)."""
RATE_WARMUP = 60.0
"""Seconds: a younger count is read as if it had run this long."""
LATENCY_WEIGHT = 0.25
"""Weight of a new latency sample in its moving mean."""
GROW_LATENCY_PRIOR = 0.5
"""Seconds to add blocks to an interface before any was measured (AssignPrivateIpAddresses)."""
CREATE_LATENCY_PRIOR = 3.0
"""Seconds for a new interface to serve before any was measured (create, attach, link)."""
QUANTILE = 0.99
"""Probability that the arrivals during one replenish find a free address."""
FLOOR = 1
"""Free addresses kept whatever the rate: the pod that triggers the grow."""
REGRET_FACTOR = 1.25
"""A regretted shrink lengthens the window to this times the time since the peak it gave up."""
WINDOW_CAP = 7200.0
"""Seconds: the longest scale-down window regret can make."""
REGRET_HOLD = 6 * 3600.0
"""Seconds without regret before the lengthened window starts to decay."""
DECAY_TIME_CONSTANT = 3600.0
"""Seconds: the decay's time constant, towards the configured window."""


def poisson_quantile(mean: float, probability: float = QUANTILE) -> int:
    """The smallest ``k`` with P(N <= k) >= ``probability`` for N ~ Poisson(``mean``)."""
    if mean < 0 or not 0 < probability < 1:
        raise ValueError(f"need mean >= 0 and 0 < probability < 1, got {mean}, {probability}")
    if mean == 0:
        return 0
    if mean > 500:  # the normal approximation; exp(-mean) would underflow
        return math.ceil(mean + 2.33 * math.sqrt(mean))
    term = math.exp(-mean)
    cdf, k = term, 0
    while cdf < probability:
        k += 1
        term *= mean / k
        cdf += term
    return k


class ArrivalRate:
    """Arrivals per second: an exponentially decayed count of a monotonic counter's steps."""

    __slots__ = ("_count", "_first", "_last", "_total", "tau", "warmup")

    def __init__(self, tau: float = RATE_TIME_CONSTANT, warmup: float = RATE_WARMUP) -> None:
        if tau <= 0 or warmup <= 0:
            raise ValueError("tau and warmup must be > 0")
        self.tau = tau
        self.warmup = warmup
        self._count = 0.0
        self._first: float | None = None
        self._last = 0.0
        self._total: int | None = None

    def observe(self, now: float, total: int) -> None:
        """The counter reads ``total`` at ``now`` (the first reading only sets the origin; a
        counter that went backwards, a restart, starts over from there)."""
        if self._first is None or self._total is None:
            self._first, self._last, self._total = now, now, total
            return
        now = max(now, self._last)
        self._count *= math.exp(-(now - self._last) / self.tau)
        self._count += max(total - self._total, 0)
        self._last, self._total = now, total

    def rate(self, now: float) -> float:
        if self._first is None:
            return 0.0
        now = max(now, self._last)
        count = self._count * math.exp(-(now - self._last) / self.tau)
        ran = max(now - self._first, self.warmup)
        return count / (self.tau * -math.expm1(-ran / self.tau))


class Latency:
    """An exponentially weighted mean of measured seconds, starting from a prior."""

    __slots__ = ("samples", "value", "weight")

    def __init__(self, prior: float, weight: float = LATENCY_WEIGHT) -> None:
        if prior < 0 or not 0 < weight <= 1:
            raise ValueError("prior must be >= 0 and 0 < weight <= 1")
        self.value = prior
        self.weight = weight
        self.samples = 0

    def record(self, seconds: float) -> None:
        self.value += self.weight * (max(seconds, 0.0) - self.value)
        self.samples += 1


@dataclass(frozen=True, slots=True)
class WarmEstimate:
    """What the adaptive target is and why."""

    rate: float
    """Pod arrivals per second."""
    latency: float
    """Seconds one replenish takes."""
    keep: int
    """Free addresses to keep: the highest ``wanted`` of the scale-down window."""
    new_interface: bool
    """The replenish needs a new interface (its latency is the one used)."""
    wanted: int = 0
    """Free addresses this rate and latency want now (0: same as ``keep``)."""

    @property
    def reason(self) -> str:
        via = "a new interface" if self.new_interface else "a grow"
        held = f" (held: {self.wanted} now)" if self.wanted and self.wanted < self.keep else ""
        return (
            f"adaptive: {self.rate:.2g} pods/s x {self.latency:.2g} s ({via}) -> keep "
            f"{self.keep} free{held}"
        )


class AdaptiveWarm:
    """The warm target from the arrival rate and the replenish latency."""

    __slots__ = ("_wanted", "arrivals", "create_latency", "floor", "grow_latency", "quantile")

    def __init__(
        self,
        *,
        tau: float = RATE_TIME_CONSTANT,
        quantile: float = QUANTILE,
        floor: int = FLOOR,
        grow_prior: float = GROW_LATENCY_PRIOR,
        create_prior: float = CREATE_LATENCY_PRIOR,
    ) -> None:
        self.arrivals = ArrivalRate(tau)
        self.grow_latency = Latency(grow_prior)
        self.create_latency = Latency(create_prior)
        self.quantile = quantile
        self.floor = floor
        self._wanted = SlidingMax(0.0)
        """What the estimate wanted, over the scale-down window: a target that drops as the
        rate decays or as an interface made room would give back what it has just asked for
        (the grow's latency when the interfaces have room is the shorter one)."""

    def observe_assignments(self, now: float, total: int) -> None:
        """Read the monotonic count of addresses handed to pods."""
        self.arrivals.observe(now, total)

    def grew(self, seconds: float, *, new_interface: bool) -> None:
        """A grow took ``seconds`` from the call to usable addresses."""
        (self.create_latency if new_interface else self.grow_latency).record(seconds)

    def estimate(
        self,
        now: float,
        *,
        room_blocks: int,
        block_size: int,
        can_create: bool = True,
        window: float = 0.0,
    ) -> WarmEstimate:
        """The target at ``now``: the most free addresses the estimate wanted within the last
        ``window`` seconds (the scale-down window). ``room_blocks``: blocks the interfaces
        held can still take; when too few, the replenish is a new interface (if
        ``can_create``: below the interface limit) and its latency is the one used."""
        rate = self.arrivals.rate(now)
        wanted = self._keep(rate, self.grow_latency.value)
        new_interface = can_create and room_blocks * block_size < wanted
        if new_interface:
            wanted = self._keep(rate, self.create_latency.value)
        latency = (self.create_latency if new_interface else self.grow_latency).value
        self._wanted.window = window
        self._wanted.record(now, wanted)
        return WarmEstimate(rate, latency, self._wanted.peak(now), new_interface, wanted)

    def _keep(self, rate: float, latency: float) -> int:
        return max(self.floor, 1 + poisson_quantile(rate * latency, self.quantile))


def adaptive_targets(base: Targets, estimate: WarmEstimate) -> Targets:
    """The configured targets with the adaptive warm target: WARM_IP_TARGET becomes the
    estimate (a configured WARM_IP_TARGET is a floor), MINIMUM_IP_TARGET stays a floor, and
    WARM_ENI_TARGET / WARM_PREFIX_TARGET give way, as they do to any IP target."""
    return dataclasses.replace(
        base,
        warm_ip_target=max(estimate.keep, base.warm_ip_target),
        warm_interface_target=0,
        warm_block_target=0,
    )


class AdaptiveWindow:
    """The scale-down window, lengthened when a shrink is regretted, decaying back after."""

    __slots__ = (
        "_after_shrink",
        "_lengthened",
        "_regret_at",
        "base",
        "cap",
        "decay",
        "factor",
        "hold",
        "regrets",
    )

    def __init__(
        self,
        base: float,
        *,
        cap: float = WINDOW_CAP,
        factor: float = REGRET_FACTOR,
        hold: float = REGRET_HOLD,
        decay: float = DECAY_TIME_CONSTANT,
    ) -> None:
        if base < 0 or factor < 1 or hold < 0 or decay <= 0:
            raise ValueError("need base >= 0, factor >= 1, hold >= 0, decay > 0")
        self.base = base
        self.cap = max(cap, base)
        self.factor = factor
        self.hold = hold
        self.decay = decay
        self._lengthened = base
        self._regret_at = -math.inf
        self._after_shrink: float | None = None
        """When the peak the last shrink gave up was recorded; None once a grow followed."""
        self.regrets = 0

    def window(self, now: float) -> float:
        quiet = now - self._regret_at - self.hold
        if quiet <= 0:
            return self._lengthened
        return self.base + (self._lengthened - self.base) * math.exp(-quiet / self.decay)

    def shrank(self, now: float) -> None:
        """The pool gave capacity back at ``now``: what it kept for a peak that has just left
        the window, recorded ``window`` seconds ago (the first shrink since a grow counts)."""
        if self._after_shrink is None:
            self._after_shrink = now - self.window(now)

    def grew(self, now: float) -> bool:
        """The pool grew at ``now``; True when that regrets a shrink and lengthened the window."""
        peak_at, self._after_shrink = self._after_shrink, None
        if peak_at is None:
            return False
        since = now - peak_at
        if since > self.cap:
            return False  # no window within the cap would have kept it
        wanted = min(self.factor * since, self.cap)
        current = self.window(now)
        self._lengthened = max(wanted, current)
        self._regret_at = now
        self.regrets += 1
        return wanted > current
