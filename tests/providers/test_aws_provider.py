"""AwsProvider against the EC2 + IMDS emulator over HTTP: retries, error mapping end to end,
interfaces that vanish mid-operation, IMDS lag, malformed metadata."""

from __future__ import annotations

import pytest

from config import load_settings
from providers.aws.errors import BY_CODE
from providers.aws.factory import ec2_client
from providers.aws.imds import ImdsClient
from providers.aws.limits import clear_cache
from providers.aws.provider import AwsOptions, AwsProvider
from providers.errors import InvalidRequest, MetadataError, NotFound, ProviderError, Throttled
from providers.ratelimit import RateLimiter
from providers.retry import CallPolicy
from sandbox.clock import FakeClock
from sandbox.ec2 import Ec2Emulator
from tests.fake_aws import REGION
from tests.providers.backends import NodeSpec, WallClock, _aws_world

ATTEMPTS = 3


def make_provider(emulator: Ec2Emulator, clock: FakeClock, **options: object) -> AwsProvider:
    ec2 = ec2_client(REGION, emulator.endpoint_url)
    instance_id, _, _ = _aws_world(ec2, NodeSpec())
    rates = load_settings({}).rate_limits
    # Backoff sleeps move the emulator's clock, so its token buckets refill as in real time.
    policy = CallPolicy(
        RateLimiter.for_ec2(rates, clock=clock.now, sleep=clock.sleep),
        attempts=ATTEMPTS,
        deadline=60,
        clock=clock.now,
        sleep=clock.sleep,
    )
    return AwsProvider(
        ec2,
        ImdsClient(emulator.imds_url(instance_id)),
        policy,
        AwsOptions(**options),  # type: ignore[arg-type]
        wall_clock=WallClock(),
        sleep=clock.sleep,
    )


@pytest.fixture
def provider(emulator: Ec2Emulator, clock: FakeClock) -> AwsProvider:
    provider = make_provider(emulator, clock)
    provider.discover()
    emulator.reset_counts()
    return provider


def test_throttled_call_is_retried_by_us_alone_never_by_botocore_too(
    emulator: Ec2Emulator, provider: AwsProvider
):
    primary = provider.discover().primary_interface_id
    emulator.throttle("AssignPrivateIpAddresses", burst=1, rate=1e-9)  # one call, then none
    provider.grow(primary, 1)
    with pytest.raises(Throttled) as failed:
        provider.grow(primary, 1)
    assert failed.value.code == "RequestLimitExceeded"
    # 1 success + exactly ATTEMPTS throttled tries: botocore's retries would multiply these.
    assert emulator.call_counts()["AssignPrivateIpAddresses"] == 1 + ATTEMPTS
    assert emulator.throttled_counts()["AssignPrivateIpAddresses"] == ATTEMPTS


def test_throttling_that_ends_is_ridden_out(emulator: Ec2Emulator, provider: AwsProvider):
    primary = provider.discover().primary_interface_id
    emulator.throttle("AssignPrivateIpAddresses", burst=1, rate=1e-9)
    provider.grow(primary, 1)
    slept: list[float] = []

    def storm_ends_while_we_wait(seconds: float) -> None:
        slept.append(seconds)
        emulator.unthrottle()

    provider._policy._sleep = storm_ends_while_we_wait
    given = provider.grow(primary, 2)
    assert len(given) == 2
    assert len(slept) == 1  # one backoff, then success
    assert emulator.throttled_counts()["AssignPrivateIpAddresses"] == 1


@pytest.mark.parametrize("code", sorted(BY_CODE))
def test_every_mapped_code_arrives_as_its_provider_error(
    emulator: Ec2Emulator, provider: AwsProvider, code: str
):
    primary = provider.discover().primary_interface_id
    kind = BY_CODE[code]
    status = 503 if kind.retryable else 400
    emulator.fail_next("AssignPrivateIpAddresses", code, f"injected {code}", status)
    if kind.retryable:
        assert len(provider.grow(primary, 1)) == 1  # one failure, then the retry succeeds
        assert emulator.call_counts()["AssignPrivateIpAddresses"] == 2
    else:
        with pytest.raises(kind) as failed:
            provider.grow(primary, 1)
        assert failed.value.code == code
        assert isinstance(failed.value.__cause__, Exception)  # chained to botocore's error
        assert emulator.call_counts()["AssignPrivateIpAddresses"] == 1  # never retried


def test_interface_that_vanishes_between_list_and_act_is_not_found(provider: AwsProvider):
    created = provider.create_interface(2)
    ec2 = provider._ec2  # another actor removes it behind the provider's back
    ec2.detach_network_interface(AttachmentId=str(created.attachment_id))
    ec2.delete_network_interface(NetworkInterfaceId=created.id)
    with pytest.raises(NotFound):
        provider.release(created.id, created.blocks)
    with pytest.raises(NotFound):
        provider.remove_interface(created.id)
    with pytest.raises(NotFound):
        provider.grow(created.id, 1)


def test_metadata_lags_but_the_cloud_view_does_not(
    emulator: Ec2Emulator, clock: FakeClock, provider: AwsProvider
):
    clock.advance(60.0)  # the node has been up a while: its primary interface shows
    emulator.set_imds_lag(5.0)
    created = provider.create_interface(1)
    assert created.id in {i.id for i in provider.cloud_interfaces()}
    assert created.id not in {i.id for i in provider.local_interfaces()}
    clock.advance(6.0)
    assert created.id in {i.id for i in provider.local_interfaces()}


def test_new_interface_costs_three_mutating_calls(emulator: Ec2Emulator, provider: AwsProvider):
    provider.create_interface(3)
    counts = emulator.call_counts()
    mutating = {
        a: n for a, n in counts.items() if not a.startswith("Describe") and a != "DescribeSubnets"
    }
    assert mutating == {
        "CreateNetworkInterface": 1,
        "AttachNetworkInterface": 1,
        "ModifyNetworkInterfaceAttribute": 1,
    }


def test_failed_attach_deletes_the_interface_it_just_created(
    emulator: Ec2Emulator, provider: AwsProvider
):
    emulator.fail_next("AttachNetworkInterface", "AttachmentLimitExceeded", "full")
    with pytest.raises(ProviderError):
        provider.create_interface(1)
    assert emulator.call_counts().get("DeleteNetworkInterface") == 1
    described = provider._ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert len(described) == 1  # only the primary is left


def test_unknown_instance_type_is_a_clear_error(emulator: Ec2Emulator, clock: FakeClock):
    clear_cache()  # earlier tests have looked m5.large up already
    provider = make_provider(emulator, clock)
    emulator.fail_next("DescribeInstanceTypes", "InvalidInstanceType", "no such type")
    with pytest.raises(InvalidRequest) as failed:
        provider.discover()
    assert failed.value.code == "InvalidInstanceType"


def test_unreachable_metadata_service_is_a_metadata_error():
    imds = ImdsClient("http://127.0.0.1:9", timeout=0.5)  # the discard port: nothing listens
    with pytest.raises(MetadataError) as failed:
        imds.get("meta-data/instance-id")
    assert "unreachable" in str(failed.value)


def test_metadata_token_is_reused_until_near_expiry(emulator: Ec2Emulator, clock: FakeClock):
    ec2 = ec2_client(REGION, emulator.endpoint_url)
    instance_id, _, _ = _aws_world(ec2, NodeSpec())
    now = [0.0]
    imds = ImdsClient(emulator.imds_url(instance_id), token_ttl=120, clock=lambda: now[0])
    assert imds.get("meta-data/instance-id") == instance_id
    assert imds.get("meta-data/instance-type") == "m5.large"
    assert imds.requests == 3  # one token, two reads
    now[0] = 61.0  # within the refresh margin of the 120 s token
    imds.get("meta-data/instance-id")
    assert imds.requests == 5


def test_metadata_token_forgotten_by_the_service_is_fetched_again(
    emulator: Ec2Emulator, clock: FakeClock
):
    ec2 = ec2_client(REGION, emulator.endpoint_url)
    instance_id, _, _ = _aws_world(ec2, NodeSpec())
    imds = ImdsClient(emulator.imds_url(instance_id), token_ttl=60)
    imds.get("meta-data/instance-id")
    clock.advance(120)  # the service's copy of the token expires; ours thinks it is fresh
    assert imds.get("meta-data/instance-id") == instance_id
    assert imds.requests == 4  # read, 401, new token, read


def test_missing_metadata_path_is_named_in_the_error(emulator: Ec2Emulator, clock: FakeClock):
    ec2 = ec2_client(REGION, emulator.endpoint_url)
    instance_id, _, _ = _aws_world(ec2, NodeSpec())
    imds = ImdsClient(emulator.imds_url(instance_id))
    assert imds.get_optional("meta-data/no-such-thing") is None
    with pytest.raises(MetadataError) as failed:
        imds.get("meta-data/no-such-thing")
    assert "no-such-thing" in str(failed.value)
