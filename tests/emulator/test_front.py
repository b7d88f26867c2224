"""The HTTP front: call counts, injected latency, EC2-shaped throttling, one-shot faults."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from mypy_boto3_ec2 import EC2Client
from mypy_boto3_ec2.type_defs import TagTypeDef

from providers.ratelimit import classify_ec2
from sandbox.clock import FakeClock
from sandbox.ec2 import Ec2Emulator
from tests.emulator.conftest import NO_RETRIES, error_of
from tests.fake_aws import REGION


@pytest.fixture
def subnet(emulator: Ec2Emulator) -> str:
    return emulator.create_subnet(emulator.create_vpc("10.0.0.0/16"), "10.0.0.0/24")


def test_calls_are_counted_per_action_and_reset(
    emulator: Ec2Emulator, ec2: EC2Client, subnet: str
) -> None:
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
    ec2.describe_network_interfaces()
    ec2.describe_network_interfaces()
    assert emulator.call_counts() == {
        "CreateNetworkInterface": 1,
        "AssignPrivateIpAddresses": 1,
        "DescribeNetworkInterfaces": 2,
    }
    emulator.reset_counts()
    assert emulator.call_counts() == {}


def test_failed_calls_count_too_and_setup_calls_do_not(
    emulator: Ec2Emulator, ec2: EC2Client, subnet: str
) -> None:
    emulator.launch_instance("m5.large", subnet)  # internal: not counted
    with pytest.raises(ClientError):
        ec2.delete_network_interface(NetworkInterfaceId="eni-0123456789abcdef0")
    assert emulator.call_counts() == {"DeleteNetworkInterface": 1}


def test_throttling_is_off_by_default(emulator: Ec2Emulator, ec2: EC2Client) -> None:
    for _ in range(120):
        ec2.describe_network_interfaces()
    assert emulator.throttled_counts() == {}


def test_an_empty_bucket_answers_request_limit_exceeded_503(
    emulator: Ec2Emulator, ec2: EC2Client, clock: FakeClock, subnet: str
) -> None:
    emulator.throttle("mutating", burst=2, rate=1.0)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    tags: list[TagTypeDef] = [{"Key": "k", "Value": "v"}]
    ec2.create_tags(Resources=[eni], Tags=tags)
    ec2.create_tags(Resources=[eni], Tags=tags)
    with pytest.raises(ClientError) as excinfo:
        ec2.create_tags(Resources=[eni], Tags=tags)
    assert error_of(excinfo) == ("RequestLimitExceeded", 503)
    assert emulator.throttled_counts() == {"CreateTags": 1}
    assert emulator.call_counts()["CreateTags"] == 3
    clock.advance(1.0)
    ec2.create_tags(Resources=[eni], Tags=tags)  # one token came back
    with pytest.raises(ClientError):
        ec2.create_tags(Resources=[eni], Tags=tags)


def test_buckets_are_per_action_class(emulator: Ec2Emulator, ec2: EC2Client, subnet: str) -> None:
    emulator.throttle("describe", burst=1, rate=0.0)
    ec2.describe_network_interfaces()
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_subnets()  # same class, same bucket
    assert error_of(excinfo)[0] == "RequestLimitExceeded"
    ec2.create_network_interface(SubnetId=subnet)  # another class: not throttled
    emulator.unthrottle()
    ec2.describe_subnets()


def test_one_action_can_get_a_bucket_of_its_own(
    emulator: Ec2Emulator, ec2: EC2Client, subnet: str
) -> None:
    emulator.throttle("AssignPrivateIpAddresses", burst=1, rate=0.0)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.create_network_interface(SubnetId=subnet)  # same class, other action: free
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
    with pytest.raises(ClientError) as excinfo:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
    assert error_of(excinfo) == ("RequestLimitExceeded", 503)


def test_ec2_shaped_defaults_allow_the_burst_then_throttle(
    emulator: Ec2Emulator, ec2: EC2Client
) -> None:
    emulator.throttle_like_ec2()
    for _ in range(100):
        ec2.describe_subnets()
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_subnets()
    assert error_of(excinfo)[0] == "RequestLimitExceeded"


def test_actions_fall_into_ec2_classes() -> None:
    assert classify_ec2("DescribeNetworkInterfaces") == "describe"
    assert classify_ec2("AssignPrivateIpAddresses") == "allocate"
    assert classify_ec2("CreateNetworkInterface") == "allocate"
    for action in ("AttachNetworkInterface", "UnassignPrivateIpAddresses", "CreateTags"):
        assert classify_ec2(action) == "mutating"


def test_latency_is_applied_through_the_clock(
    emulator: Ec2Emulator, ec2: EC2Client, clock: FakeClock
) -> None:
    emulator.set_latency("DescribeSubnets", 2.5)
    before = clock.now()
    ec2.describe_subnets()
    ec2.describe_vpcs()
    assert clock.slept == [2.5]
    assert clock.now() - before == pytest.approx(2.5)


def test_latency_delays_a_real_call() -> None:
    with Ec2Emulator(region=REGION) as emulator:
        client = emulator.client(NO_RETRIES)
        client.describe_vpcs()
        emulator.set_latency("DescribeVpcs", 0.2)
        started = time.monotonic()
        client.describe_vpcs()
        assert time.monotonic() - started >= 0.2


def test_fail_next_answers_one_injected_error_then_recovers(
    emulator: Ec2Emulator, ec2: EC2Client
) -> None:
    emulator.fail_next("DescribeSubnets", "UnauthorizedOperation", "You are not authorized.")
    emulator.fail_next("DescribeSubnets", "InternalError", "An internal error.", status=500)
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_subnets()
    assert error_of(excinfo) == ("UnauthorizedOperation", 400)
    assert excinfo.value.response["Error"]["Message"] == "You are not authorized."
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_subnets()
    assert error_of(excinfo) == ("InternalError", 500)
    assert ec2.describe_subnets()["Subnets"]
    assert emulator.call_counts() == {"DescribeSubnets": 3}


def test_concurrent_callers_still_get_unique_addresses(emulator: Ec2Emulator, subnet: str) -> None:
    def grab(_: int) -> list[str]:
        client = emulator.client(NO_RETRIES)
        eni = client.create_network_interface(SubnetId=subnet, SecondaryPrivateIpAddressCount=2)
        eni_id = eni["NetworkInterface"]["NetworkInterfaceId"]
        more = client.assign_private_ip_addresses(
            NetworkInterfaceId=eni_id, SecondaryPrivateIpAddressCount=3
        )["AssignedPrivateIpAddresses"]
        held = [a["PrivateIpAddress"] for a in eni["NetworkInterface"]["PrivateIpAddresses"]]
        return held + [a["PrivateIpAddress"] for a in more]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(grab, range(16)))
    everything = [address for held in results for address in held]
    assert len(everything) == 16 * 6
    assert len(set(everything)) == len(everything)
    assert emulator.call_counts() == {"CreateNetworkInterface": 16, "AssignPrivateIpAddresses": 16}
