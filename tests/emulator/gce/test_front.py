"""The API front: per-method call counts, injected latency (on the clock), the project's token
bucket (403 ``rateLimitExceeded`` in Google's shape) and one-shot faults.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from google.api_core import exceptions

from sandbox.clock import FakeClock
from sandbox.gce import ComputeEmulator
from tests.emulator.gce.conftest import ZONE, Compute, alias


def test_calls_are_counted_per_method(gce: ComputeEmulator, compute: Compute):
    op = compute.update([alias("/28")])  # one instances.get for the fingerprint
    compute.wait(op)
    compute.operation(op)
    compute.subnetworks.get(project=gce.project, region="us-central1", subnetwork="nodes")
    assert gce.call_counts() == {
        "instances.get": 1,
        "instances.updateNetworkInterface": 1,
        "zoneOperations.wait": 1,
        "zoneOperations.get": 1,
        "subnetworks.get": 1,
    }
    gce.reset_counts()
    assert gce.call_counts() == {}


def test_throttled_calls_are_403_rate_limit_exceeded(
    gce: ComputeEmulator, compute: Compute, clock: FakeClock
):
    gce.throttle(burst=3, rate=1.0)
    for _ in range(3):
        compute.get()
    with pytest.raises(exceptions.Forbidden) as caught:
        compute.get()
    error = caught.value
    assert error.code == 403
    assert [e["reason"] for e in error.errors] == ["rateLimitExceeded"]
    assert error.errors[0]["domain"] == "usageLimits"
    assert error.reason == "RATE_LIMIT_EXCEEDED"  # the ErrorInfo detail Google adds
    # one bucket for the whole project: other methods are refused too
    with pytest.raises(exceptions.Forbidden):
        compute.subnetworks.get(project=gce.project, region="us-central1", subnetwork="nodes")
    assert gce.throttled_counts() == {"instances.get": 1, "subnetworks.get": 1}

    clock.advance(1.0)  # one token back
    compute.get()
    with pytest.raises(exceptions.Forbidden):
        compute.get()
    gce.unthrottle()
    for _ in range(10):
        compute.get()


def test_fail_next_answers_one_call_with_the_error(gce: ComputeEmulator, compute: Compute):
    gce.fail_next("instances.updateNetworkInterface", 503, "backendError", "try again")
    fingerprint = compute.nic().fingerprint
    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        compute.update([alias("/28")], fingerprint=fingerprint)
    assert caught.value.errors[0]["reason"] == "backendError"
    assert "try again" in caught.value.message
    assert compute.aliases() == []
    compute.update([alias("/28")], fingerprint=fingerprint)
    assert compute.aliases() == ["10.4.0.0/28"]


def test_faults_queue_per_method(gce: ComputeEmulator, compute: Compute):
    gce.fail_next("instances.get", 500, "backendError", "one")
    gce.fail_next("instances.get", 404, "notFound", "two")
    with pytest.raises(exceptions.InternalServerError):
        compute.get()
    with pytest.raises(exceptions.NotFound):
        compute.get()
    assert compute.get().name == "node-a"


def test_latency_is_slept_on_the_clock(gce: ComputeEmulator, compute: Compute, clock: FakeClock):
    gce.set_latency("instances.get", 0.25)
    start = clock.now()
    compute.get()
    compute.subnetworks.get(project=gce.project, region="us-central1", subnetwork="nodes")
    assert clock.slept == [0.25]
    assert clock.now() - start == pytest.approx(0.25)
    gce.set_latency("instances.get", 0)
    compute.get()
    assert clock.slept == [0.25]


def test_unknown_methods_are_refused_by_the_python_api(gce: ComputeEmulator):
    with pytest.raises(ValueError, match="unknown method"):
        gce.fail_next("instances.insert", 500, "backendError", "x")
    with pytest.raises(ValueError, match="unknown method"):
        gce.set_latency("GetInstance", 1.0)


def test_unknown_paths_are_404_in_googles_shape(gce: ComputeEmulator):
    url = f"{gce.endpoint}/compute/v1/projects/{gce.project}/zones/{ZONE}/instances"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(url, timeout=10)
    assert caught.value.code == 404
    body = json.loads(caught.value.read())
    assert body["error"]["errors"][0]["reason"] == "notFound"
    assert gce.call_counts() == {}


def test_the_endpoint_is_plain_http_on_loopback(gce: ComputeEmulator):
    assert gce.endpoint.startswith("http://127.0.0.1:")
