"""The account: EC2's documented buckets per action, throttling, the subnet's free addresses."""

from __future__ import annotations

import pytest

from warmpool.sim import Account, CloudModel, Outcome, Shape
from warmpool.sim import cloud as ec2


@pytest.mark.parametrize(
    ("action", "filtered", "shape"),
    [
        (ec2.ASSIGN, True, Shape(100, 5)),
        (ec2.CREATE, True, Shape(100, 5)),
        (ec2.DELETE, True, Shape(100, 5)),
        (ec2.MODIFY, True, Shape(100, 5)),
        (ec2.ATTACH, True, Shape(50, 5)),
        (ec2.DETACH, True, Shape(50, 5)),
        (ec2.UNASSIGN, True, Shape(50, 5)),
        (ec2.DESCRIBE_ENIS, True, Shape(100, 20)),
        (ec2.DESCRIBE_ENIS, False, Shape(50, 10)),
        (ec2.DESCRIBE_INSTANCES, False, Shape(50, 10)),
        (ec2.DESCRIBE_SUBNETS, False, Shape(100, 20)),  # not in the unfiltered subset
        (ec2.DESCRIBE_TYPES, True, Shape(100, 20)),
    ],
)
def test_each_action_has_the_bucket_ec2_documents(action, filtered, shape):
    assert ec2.documented_shape(ec2.bucket_key(action, filtered)) == shape


def test_each_action_spends_from_its_own_bucket_shared_by_every_caller():
    account = Account(CloudModel())
    outcomes = [account.request(0.0, ec2.ATTACH, filtered=True, addresses=0) for _ in range(51)]
    assert outcomes.count(Outcome.OK) == 50 and outcomes[-1] is Outcome.THROTTLED
    # another action is not affected; the throttled one refills at 5 per second
    assert account.request(0.0, ec2.DETACH, filtered=True, addresses=0) is Outcome.OK
    assert account.request(0.1, ec2.ATTACH, filtered=True, addresses=0) is Outcome.THROTTLED
    assert account.request(0.2, ec2.ATTACH, filtered=True, addresses=0) is Outcome.OK
    assert account.throttled[ec2.ATTACH] == 2 and account.requests[ec2.ATTACH] == 53


def test_a_request_for_more_addresses_than_the_subnet_has_fails_and_takes_none():
    account = Account(CloudModel(subnet_addresses=12))
    assert account.request(0.0, ec2.ASSIGN, filtered=True, addresses=9) is Outcome.OK
    assert account.request(0.0, ec2.CREATE, filtered=True, addresses=10) is Outcome.NO_ADDRESSES
    assert account.subnet_free == 3
    account.give_back(9)
    assert account.request(0.0, ec2.CREATE, filtered=True, addresses=10) is Outcome.OK


def test_bucket_shapes_can_be_overridden():
    account = Account(CloudModel(buckets={ec2.ASSIGN: Shape(1, 0.5)}))
    assert account.request(0.0, ec2.ASSIGN, filtered=True, addresses=0) is Outcome.OK
    assert account.request(0.0, ec2.ASSIGN, filtered=True, addresses=0) is Outcome.THROTTLED


def test_latency_depends_on_the_action_and_the_outcome():
    model = CloudModel()
    assert model.call_latency(ec2.ATTACH, Outcome.OK) == 0.75
    assert model.call_latency(ec2.ASSIGN, Outcome.OK) == 0.5
    assert model.call_latency(ec2.DESCRIBE_ENIS, Outcome.OK) == 0.1
    assert model.call_latency(ec2.ATTACH, Outcome.THROTTLED) == model.throttle_latency
