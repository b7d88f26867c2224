"""The churn generators: deterministic by seed, the rates and shapes they promise."""

from __future__ import annotations

import pytest

from warmpool.sim import diurnal, generate, rollout, steady
from warmpool.sim.churn import HOUR


def test_the_same_seed_gives_the_same_trace_and_another_seed_another():
    assert steady(hours=3, seed=5) == steady(hours=3, seed=5)
    assert steady(hours=3, seed=5) != steady(hours=3, seed=6)
    assert rollout(hours=3, seed=5) == rollout(hours=3, seed=5)


def test_a_steady_day_is_about_ten_thousand_events():
    trace = steady(hours=24, seed=1)
    assert 9_000 < trace.churn_events < 11_000
    assert trace.horizon == 24 * HOUR
    adds = [e for e in trace.events if e.event == "add"]
    assert 0.9 * 216 * 24 < len(adds) < 1.1 * 216 * 24


def test_a_diurnal_day_is_busier_in_the_afternoon_than_at_night():
    trace = diurnal(hours=24, seed=2)
    adds = [e.time / HOUR for e in trace.events if e.event == "add"]
    afternoon = sum(1 for h in adds if 12 <= h < 16)
    night = sum(1 for h in adds if 0 <= h < 4)
    assert afternoon > 2 * night


def test_a_rollout_replaces_every_replica_in_batches_of_the_surge():
    trace = rollout(hours=1, replicas=10, rollouts_per_hour=2, surge=3, seed=1)
    adds = [e for e in trace.events if e.event == "add"]
    dels = [e for e in trace.events if e.event == "del"]
    assert len(adds) == 20 and len(dels) == 10  # the first set, one rollout at 30 min
    first_new = min(e.time for e in adds if e.pod.startswith("web-1-"))
    assert 1800 <= first_new < 1801
    batch = sorted(e.time for e in adds if e.pod.startswith("web-1-"))
    assert batch[2] < 1801 and batch[3] >= 1810  # three at once, the next three once ready


@pytest.mark.parametrize("name", ["steady", "diurnal", "rollout"])
def test_generate_names_each_generator(name):
    assert generate(name, hours=1, seed=3).churn_events > 0


def test_generate_refuses_an_unknown_name_and_bad_numbers():
    with pytest.raises(ValueError, match="unknown generator"):
        generate("bursty", hours=1)
    with pytest.raises(ValueError):
        steady(hours=0)
    with pytest.raises(ValueError):
        diurnal(hours=1, amplitude=2)
