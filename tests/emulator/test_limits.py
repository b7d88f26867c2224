"""Instance-type limits, read from DescribeInstanceTypes, enforced over HTTP and in-process."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import Cloud, error_of


@pytest.fixture
def node(cloud: Cloud) -> tuple[str, str]:
    """(subnet id, m5.large instance id) in a /24."""
    subnet = cloud.subnet(cloud.vpc(), "10.0.0.0/24")
    return subnet, cloud.launch(subnet)


def test_m5_large_limits_as_described_are_3_interfaces_of_10_addresses(cloud: Cloud) -> None:
    info = cloud.ec2.describe_instance_types(InstanceTypes=["m5.large"])["InstanceTypes"][0]
    assert info["NetworkInfo"]["MaximumNetworkInterfaces"] == 3
    assert info["NetworkInfo"]["Ipv4AddressesPerInterface"] == 10


def test_primary_interface_takes_nine_secondaries_and_refuses_the_tenth(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    _, instance = node
    eni = cloud.primary_eni(instance)
    assigned = cloud.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=9
    )
    assert len(assigned["AssignedPrivateIpAddresses"]) == 9
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1
        )
    assert error_of(excinfo) == ("PrivateIpAddressLimitExceeded", 400)
    assert len(cloud.addresses(eni)) == 10


def test_a_request_over_the_limit_assigns_nothing(cloud: Cloud, node: tuple[str, str]) -> None:
    _, instance = node
    eni = cloud.primary_eni(instance)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=10
        )
    assert error_of(excinfo)[0] == "PrivateIpAddressLimitExceeded"
    assert len(cloud.addresses(eni)) == 1


def test_each_prefix_takes_one_address_slot(cloud: Cloud, node: tuple[str, str]) -> None:
    _, instance = node
    eni = cloud.primary_eni(instance)
    cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=7)
    cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=2)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert error_of(excinfo)[0] == "PrivateIpAddressLimitExceeded"
    assert len(cloud.addresses(eni)) + len(cloud.prefixes(eni)) == 10


def test_m5_large_attaches_three_interfaces_and_refuses_the_fourth(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    subnet, instance = node
    for index in (1, 2):
        cloud.ec2.attach_network_interface(
            NetworkInterfaceId=cloud.eni(subnet), InstanceId=instance, DeviceIndex=index
        )
    fourth = cloud.eni(subnet)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.attach_network_interface(
            NetworkInterfaceId=fourth, InstanceId=instance, DeviceIndex=3
        )
    assert error_of(excinfo) == ("AttachmentLimitExceeded", 400)
    assert "m5.large" in str(excinfo.value)
    assert "Attachment" not in cloud.describe(fourth)


def test_smaller_types_get_their_own_limits(cloud: Cloud) -> None:
    subnet = cloud.subnet(cloud.vpc(), "10.0.0.0/24")
    instance = cloud.launch(subnet, "t3.nano")
    info = cloud.ec2.describe_instance_types(InstanceTypes=["t3.nano"])["InstanceTypes"][0]
    per_interface = info["NetworkInfo"]["Ipv4AddressesPerInterface"]
    eni = cloud.primary_eni(instance)
    cloud.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=per_interface - 1
    )
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1
        )
    assert error_of(excinfo)[0] == "PrivateIpAddressLimitExceeded"


def test_attaching_an_interface_fuller_than_the_type_allows_is_refused(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    subnet, instance = node
    crowded = cloud.eni(subnet, SecondaryPrivateIpAddressCount=10)  # 11 addresses
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.attach_network_interface(
            NetworkInterfaceId=crowded, InstanceId=instance, DeviceIndex=1
        )
    assert error_of(excinfo)[0] == "PrivateIpAddressLimitExceeded"
