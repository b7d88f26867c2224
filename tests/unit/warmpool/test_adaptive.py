"""warmpool.adaptive: the arrival rate, the latency, the quantile, the floor and the regret
window, all on explicit times."""

from __future__ import annotations

import math

import pytest

from warmpool import Targets
from warmpool.adaptive import (
    AdaptiveWarm,
    AdaptiveWindow,
    ArrivalRate,
    Latency,
    adaptive_targets,
    poisson_quantile,
)


def test_poisson_quantile_matches_the_cdf():
    assert poisson_quantile(0.0) == 0
    assert poisson_quantile(0.005) == 0  # P(0) = 0.995
    assert poisson_quantile(0.03) == 1  # P(0) = 0.970, P(<=1) = 0.9996
    assert poisson_quantile(1.0) == 4  # P(<=3) = 0.981, P(<=4) = 0.996
    assert poisson_quantile(10.0) == 18
    assert poisson_quantile(1000.0) == math.ceil(1000 + 2.33 * math.sqrt(1000))
    with pytest.raises(ValueError):
        poisson_quantile(-1.0)


def test_rate_of_a_steady_counter_converges():
    rate = ArrivalRate(tau=300)
    rate.observe(0.0, 0)
    for second in range(1, 3601):
        rate.observe(float(second), second // 10)  # one arrival every 10 s
    assert rate.rate(3600.0) == pytest.approx(0.1, rel=0.05)


def test_rate_decays_without_arrivals_and_warmup_reads_a_minute():
    rate = ArrivalRate(tau=300, warmup=60)
    rate.observe(0.0, 0)
    rate.observe(1.0, 6)
    # six in the first second, read as if the count had run a minute
    assert rate.rate(1.0) == pytest.approx(6 / (300 * -math.expm1(-60 / 300)))
    later = rate.rate(1.0 + 300)
    assert later == pytest.approx(6 * math.exp(-1) / (300 * -math.expm1(-301 / 300)))
    rate.observe(400.0, 3)  # a restarted counter: no negative arrivals
    assert rate.rate(400.0) >= 0


def test_latency_moves_towards_samples():
    latency = Latency(prior=0.5, weight=0.25)
    latency.record(1.5)
    assert latency.value == pytest.approx(0.75)
    assert latency.samples == 1


def test_no_arrivals_keeps_the_floor():
    warm = AdaptiveWarm()
    warm.observe_assignments(0.0, 0)
    estimate = warm.estimate(100.0, room_blocks=10, block_size=1)
    assert estimate.keep == 1
    assert estimate.rate == 0


def test_keep_covers_arrivals_during_one_replenish():
    warm = AdaptiveWarm(tau=300)
    warm.observe_assignments(0.0, 0)
    for second in range(1, 1201):
        warm.observe_assignments(float(second), second)  # 1 pod/s
    for _ in range(20):
        warm.grew(1.0, new_interface=False)
    estimate = warm.estimate(1200.0, room_blocks=10, block_size=16)
    # ~1 pod/s x ~1 s: Poisson(1) at 99% is 4, plus the pod that triggers the grow
    assert estimate.keep == 5
    assert not estimate.new_interface
    assert "pods/s" in estimate.reason and "keep 5 free" in estimate.reason


def test_no_room_uses_the_new_interface_latency_unless_at_the_limit():
    warm = AdaptiveWarm(tau=300, grow_prior=0.5, create_prior=3.0)
    warm.observe_assignments(0.0, 0)
    for second in range(1, 601):
        warm.observe_assignments(float(second), second // 5)  # 0.2 pods/s
    with_room = warm.estimate(600.0, room_blocks=5, block_size=1)
    full = warm.estimate(600.0, room_blocks=0, block_size=1)
    at_limit = warm.estimate(600.0, room_blocks=0, block_size=1, can_create=False)
    assert (with_room.keep, with_room.new_interface) == (2, False)  # Poisson(0.1): 1
    assert (full.keep, full.new_interface) == (4, True)  # Poisson(0.6): 3
    assert at_limit.new_interface is False


def test_keep_holds_its_peak_over_the_window():
    warm = AdaptiveWarm(tau=300)
    warm.observe_assignments(0.0, 0)
    warm.observe_assignments(10.0, 60)
    high = warm.estimate(10.0, room_blocks=10, block_size=1, window=600).keep
    assert high > 2
    warm.observe_assignments(400.0, 60)
    held = warm.estimate(400.0, room_blocks=10, block_size=1, window=600)
    assert held.keep == high and held.wanted < high
    assert warm.estimate(700.0, room_blocks=10, block_size=1, window=600).keep < high


def test_adaptive_targets_replace_warm_targets_and_keep_floors():
    base = Targets(warm_interface_target=1, warm_ip_target=0, minimum_ip_target=10)
    warm = AdaptiveWarm()
    estimate = warm.estimate(0.0, room_blocks=1, block_size=1)
    targets = adaptive_targets(base, estimate)
    assert (targets.warm_interface_target, targets.warm_ip_target) == (0, 1)
    assert targets.minimum_ip_target == 10
    assert adaptive_targets(Targets(warm_ip_target=5), estimate).warm_ip_target == 5


def test_window_lengthens_on_regret():
    window = AdaptiveWindow(600, cap=7200, factor=1.25)
    assert window.window(0.0) == 600
    assert window.grew(100.0) is False  # no shrink before: no regret
    window.shrank(1000.0)  # gave up the peak of t=400
    window.shrank(1030.0)  # the same shrink going on: still the peak of t=400
    assert window.grew(2200.0) is True
    assert window.window(2200.0) == pytest.approx(1.25 * 1800)
    assert window.regrets == 1
    assert window.grew(2300.0) is False  # a grow after a grow is no regret


def test_window_is_capped_and_too_late_is_no_regret():
    window = AdaptiveWindow(600, cap=3000, factor=1.25)
    window.shrank(1000.0)
    window.grew(3000.0)  # 2600 s after the peak: 3250 capped to 3000
    assert window.window(3000.0) == 3000
    other = AdaptiveWindow(600, cap=3000)
    other.shrank(1000.0)
    assert other.grew(5000.0) is False  # no window within the cap would have kept it
    assert other.window(5000.0) == 600


def test_window_decays_after_a_long_time_without_regret():
    window = AdaptiveWindow(600, cap=7200, factor=1.25, hold=6 * 3600, decay=3600)
    window.shrank(1000.0)
    window.grew(2200.0)
    assert window.window(2200.0 + 6 * 3600) == pytest.approx(2250)
    after = window.window(2200.0 + 7 * 3600)
    assert after == pytest.approx(600 + 1650 * math.exp(-1))
    assert window.window(2200.0 + 30 * 3600) == pytest.approx(600, abs=1)
