"""warmpool.window.SlidingMax: the highest value of the last N seconds, with bounded memory."""

from __future__ import annotations

import random

import pytest

from warmpool import SlidingMax


def test_empty_window_peaks_at_zero():
    assert SlidingMax(60).peak(0.0) == 0


def test_a_peak_lasts_exactly_its_window():
    window = SlidingMax(60)
    window.record(0.0, 10)
    window.record(5.0, 3)
    assert window.peak(60.0) == 10
    assert window.peak(60.5) == 3
    assert window.peak(65.5) == 0


def test_a_higher_value_replaces_the_lower_ones_before_it():
    window = SlidingMax(60)
    for t, value in enumerate((1, 2, 3, 7)):
        window.record(float(t), value)
    assert len(window) == 1
    assert window.peak(3.0) == 7


def test_zero_window_is_the_present():
    window = SlidingMax(0)
    window.record(1.0, 9)
    assert window.peak(1.0) == 9
    assert window.peak(1.001) == 0


def test_a_sample_from_the_past_counts_as_now():
    window = SlidingMax(10)
    window.record(100.0, 1)
    window.record(50.0, 5)  # a clock step back: never drops the sample early
    assert window.peak(110.0) == 5
    assert window.peak(110.5) == 0


def test_negative_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        SlidingMax(-1)


def test_matches_a_brute_force_maximum():
    rng = random.Random(7)
    window = SlidingMax(30)
    samples: list[tuple[float, int]] = []
    now = 0.0
    for _ in range(2000):
        now += rng.expovariate(0.5)
        value = rng.randrange(50)
        window.record(now, value)
        samples.append((now, value))
        probe = now + rng.uniform(0, 40)
        expected = max((v for t, v in samples if t + 30 >= probe), default=0)
        assert window.peak(probe) == expected
        window.record(probe, 0)  # time moved on: later samples come after the probe
        samples.append((probe, 0))
        now = probe
    assert len(window) < 100
