"""Pod churn generators: steady, diurnal and deployment-rollout traces, seeded and deterministic.

- ``steady``: pods arrive as a Poisson process (``rate_per_hour``) and live an exponential
  time (mean ``mean_lifetime`` seconds). The defaults, 216 pods an hour living 4 minutes on
  average, keep about 14 pods on the node (an m5.large runs 27 with addresses) and make
  about 10,000 events a day.
- ``diurnal``: the same with a rate that follows the day, ``rate x (1 + amplitude x
  cos(2 pi (hour - peak_hour) / 24))`` (thinning of a Poisson process at the peak rate):
  busy afternoons, quiet nights. The defaults (180 pods an hour on average, amplitude 0.5)
  peak at about 18 pods at 14:00 and keep 6 at 2:00; more would fill an m5.large at the
  peak, and the pods would wait for the node's limit rather than for the pool.
- ``rollout``: a Deployment of ``replicas`` pods on the node, replaced ``rollouts_per_hour``
  times an hour as a RollingUpdate with maxSurge ``surge`` and maxUnavailable 0 does it:
  ``surge`` new pods, and once they are ready (``ready`` s) as many old ones are told to
  stop and reach their CNI DEL ``terminate`` s later, while the next ``surge`` start. The
  defaults (10 replicas, surge 3) peak at about 25 addresses with the cooling ones: they
  fit an m5.large, so what the pods wait for is the pool, not the node's limit.

Every generator draws from ``random.Random(seed)`` only, so a seed names a trace.
"""

from __future__ import annotations

import math
import random

from warmpool.sim.trace import ADD, DEL, Trace, TraceEvent, make_trace

HOUR = 3600.0
DAY = 24 * HOUR
PODS_PER_HOUR = 216.0
DIURNAL_PODS_PER_HOUR = 180.0
MEAN_LIFETIME = 240.0
ROLLOUTS_PER_HOUR = 2.0


def steady(
    *,
    hours: float,
    rate_per_hour: float = PODS_PER_HOUR,
    mean_lifetime: float = MEAN_LIFETIME,
    seed: int = 0,
    node: str = "node-0",
) -> Trace:
    return _poisson(
        hours=hours,
        rate_per_hour=rate_per_hour,
        amplitude=0.0,
        peak_hour=14.0,
        mean_lifetime=mean_lifetime,
        seed=seed,
        node=node,
    )


def diurnal(
    *,
    hours: float,
    rate_per_hour: float = DIURNAL_PODS_PER_HOUR,
    amplitude: float = 0.5,
    peak_hour: float = 14.0,
    mean_lifetime: float = MEAN_LIFETIME,
    seed: int = 0,
    node: str = "node-0",
) -> Trace:
    if not 0 <= amplitude <= 1:
        raise ValueError(f"amplitude must be in [0, 1], got {amplitude}")
    return _poisson(
        hours=hours,
        rate_per_hour=rate_per_hour,
        amplitude=amplitude,
        peak_hour=peak_hour,
        mean_lifetime=mean_lifetime,
        seed=seed,
        node=node,
    )


def _poisson(
    *,
    hours: float,
    rate_per_hour: float,
    amplitude: float,
    peak_hour: float,
    mean_lifetime: float,
    seed: int,
    node: str,
) -> Trace:
    if hours <= 0 or rate_per_hour <= 0 or mean_lifetime <= 0:
        raise ValueError("hours, rate and mean lifetime must be > 0")
    rng = random.Random(seed)
    horizon = hours * HOUR
    peak = rate_per_hour * (1 + amplitude) / HOUR
    events: list[TraceEvent] = []
    t, serial = 0.0, 0
    while True:
        t += rng.expovariate(peak)
        if t >= horizon:
            break
        phase = 2 * math.pi * (t / HOUR - peak_hour) / 24
        if rng.random() * (1 + amplitude) > 1 + amplitude * math.cos(phase):
            continue  # thinned: the rate is below its peak now
        serial += 1
        pod = f"pod-{serial}"
        events.append(TraceEvent(t, node, pod, ADD))
        end = t + rng.expovariate(1 / mean_lifetime)
        if end < horizon:
            events.append(TraceEvent(end, node, pod, DEL))
    return make_trace(events, horizon)


def rollout(
    *,
    hours: float,
    replicas: int = 10,
    rollouts_per_hour: float = ROLLOUTS_PER_HOUR,
    surge: int = 3,
    ready: float = 10.0,
    terminate: float = 5.0,
    seed: int = 0,
    node: str = "node-0",
) -> Trace:
    if hours <= 0 or replicas < 1 or surge < 1 or rollouts_per_hour <= 0:
        raise ValueError("hours, replicas, surge and rollouts per hour must be > 0")
    rng = random.Random(seed)
    horizon = hours * HOUR
    every = HOUR / rollouts_per_hour
    events: list[TraceEvent] = []

    def start(at: float, name: str) -> None:
        events.append(TraceEvent(at + rng.uniform(0.0, 1.0), node, name, ADD))

    live = [f"web-0-{i}" for i in range(replicas)]
    for name in live:
        start(0.0, name)
    generation, at = 1, every
    while at < horizon:
        batch_at, new = at, []
        for first in range(0, replicas, surge):
            names = [f"web-{generation}-{i}" for i in range(first, min(first + surge, replicas))]
            for name in names:
                start(batch_at, name)
            for old in live[first : first + len(names)]:
                gone = batch_at + ready + terminate + rng.uniform(0.0, 1.0)
                if gone < horizon:
                    events.append(TraceEvent(gone, node, old, DEL))
            new += names
            batch_at += ready
        live, generation, at = new, generation + 1, at + every
    return make_trace([e for e in events if e.time < horizon], horizon)


GENERATORS = ("steady", "diurnal", "rollout")


def generate(name: str, *, hours: float, rate: float | None = None, seed: int = 0) -> Trace:
    """One of GENERATORS with its defaults; ``rate`` is pods per hour (steady, diurnal) or
    rollouts per hour (rollout)."""
    if name == "steady":
        return steady(hours=hours, seed=seed, rate_per_hour=rate or PODS_PER_HOUR)
    if name == "diurnal":
        return diurnal(hours=hours, seed=seed, rate_per_hour=rate or DIURNAL_PODS_PER_HOUR)
    if name == "rollout":
        return rollout(hours=hours, seed=seed, rollouts_per_hour=rate or ROLLOUTS_PER_HOUR)
    raise ValueError(f"unknown generator {name!r}; known: {', '.join(GENERATORS)}")
