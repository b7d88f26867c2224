"""Token buckets on virtual time: EC2's take-or-refuse and our client's reserve-and-wait."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmpool.sim import Bucket, Shape


def test_a_bucket_starts_full_and_refuses_once_empty_without_taking():
    bucket = Bucket(Shape(3, 1.0))
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.level(0.0) == 0.0  # the refusal took nothing


def test_a_bucket_refills_at_its_rate_up_to_its_burst():
    bucket = Bucket(Shape(10, 2.0))
    for _ in range(10):
        assert bucket.try_take(0.0)
    assert bucket.level(1.5) == pytest.approx(3.0)
    assert bucket.level(100.0) == 10.0


def test_wait_for_is_the_time_until_one_token():
    bucket = Bucket(Shape(1, 4.0))
    assert bucket.wait_for(0.0) == 0.0
    assert bucket.try_take(0.0)
    assert bucket.wait_for(0.0) == pytest.approx(0.25)
    assert bucket.wait_for(0.1) == pytest.approx(0.15)


def test_reserve_goes_negative_so_waiters_are_served_in_arrival_order():
    bucket = Bucket(Shape(1, 1.0))
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == pytest.approx(1.0)
    assert bucket.reserve(0.0) == pytest.approx(2.0)
    assert bucket.level(0.0) == pytest.approx(-2.0)


def test_a_bucket_that_never_refills_never_covers_a_shortfall():
    bucket = Bucket(Shape(1, 0.0))
    bucket.try_take(0.0)
    assert math.isinf(bucket.wait_for(1e9))


def test_shapes_are_checked_and_scale_to_a_share_with_at_least_one_token():
    with pytest.raises(ValueError):
        Shape(0, 1.0)
    with pytest.raises(ValueError):
        Shape(1, -1.0)
    assert Shape(100, 5).scaled(0.1) == Shape(10, 0.5)
    assert Shape(100, 5).scaled(0.001).burst == 1.0


@settings(max_examples=200, deadline=None)
@given(
    burst=st.integers(1, 200),
    rate=st.floats(0.1, 50),
    times=st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=300),
)
def test_a_bucket_never_admits_more_than_its_burst_plus_its_refill(burst, rate, times):
    bucket = Bucket(Shape(burst, rate))
    ordered = sorted(times)
    admitted = sum(bucket.try_take(t) for t in ordered)
    assert admitted <= burst + rate * ordered[-1] + 1e-9
