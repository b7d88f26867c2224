"""Unique addresses and aligned, disjoint /28 prefixes per subnet; EC2's shortage errors;
Create/Assign/Unassign parameters moto alone ignores. Over HTTP and in-process."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import Cloud, error_of

USABLE_IN_26 = 64 - 5  # AWS reserves the first four addresses and the last


@pytest.fixture
def subnet(cloud: Cloud) -> str:
    return cloud.subnet(cloud.vpc(), "10.0.0.0/26")


def test_addresses_are_unique_across_all_interfaces_and_instances(
    cloud: Cloud, subnet: str
) -> None:
    instance = cloud.launch(subnet)
    enis = [cloud.primary_eni(instance)]
    enis += [cloud.eni(subnet, SecondaryPrivateIpAddressCount=5) for _ in range(4)]
    cloud.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=enis[0], SecondaryPrivateIpAddressCount=9
    )
    held = [a for eni in enis for a in cloud.addresses(eni)]
    assert len(held) == 10 + 4 * 6
    assert len(set(held)) == len(held)
    assert all(IPv4Address(a) in IPv4Network("10.0.0.0/26") for a in held)


def test_instance_primary_address_comes_from_the_same_allocator(cloud: Cloud, subnet: str) -> None:
    taken = cloud.eni(subnet, PrivateIpAddress="10.0.0.4")
    instance = cloud.launch(subnet)
    primary = cloud.addresses(cloud.primary_eni(instance))[0]
    assert primary != "10.0.0.4"
    assert cloud.addresses(taken) == ["10.0.0.4"]


def test_an_explicit_address_held_elsewhere_is_refused(cloud: Cloud, subnet: str) -> None:
    first = cloud.eni(subnet, SecondaryPrivateIpAddressCount=1)
    other = cloud.eni(subnet)
    held = cloud.addresses(first)[1]
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=other, PrivateIpAddresses=[held])
    assert error_of(excinfo) == ("InvalidIPAddress.InUse", 400)
    with pytest.raises(ClientError) as excinfo:
        cloud.eni(subnet, PrivateIpAddress=held)
    assert error_of(excinfo)[0] == "InvalidIPAddress.InUse"
    assert held not in cloud.addresses(other)


def test_prefixes_are_aligned_and_disjoint_from_addresses_and_each_other(
    cloud: Cloud,
) -> None:
    subnet = cloud.subnet(cloud.vpc(), "10.0.0.0/24")
    a = cloud.eni(subnet, SecondaryPrivateIpAddressCount=3)
    b = cloud.eni(subnet, Ipv4PrefixCount=2)
    cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=a, Ipv4PrefixCount=3)
    cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=b, SecondaryPrivateIpAddressCount=4)
    prefixes = [IPv4Network(p) for eni in (a, b) for p in cloud.prefixes(eni)]
    addresses = [IPv4Address(x) for eni in (a, b) for x in cloud.addresses(eni)]
    assert len(prefixes) == 5
    for prefix in prefixes:
        assert prefix.prefixlen == 28
        assert int(prefix.network_address) % 16 == 0
        assert prefix.subnet_of(IPv4Network("10.0.0.0/24"))
        assert not any(address in prefix for address in addresses)
    assert all(not p.overlaps(q) for i, p in enumerate(prefixes) for q in prefixes[i + 1 :])


def test_an_explicit_prefix_must_be_a_free_aligned_28(cloud: Cloud, subnet: str) -> None:
    eni = cloud.eni(subnet)
    cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4Prefixes=["10.0.0.16/28"])
    assert cloud.prefixes(eni) == ["10.0.0.16/28"]
    other = cloud.eni(subnet)
    for bad in ("10.0.0.16/28", "10.0.0.20/28", "10.0.0.32/27", "10.0.1.0/28"):
        with pytest.raises(ClientError) as excinfo:
            cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=other, Ipv4Prefixes=[bad])
        assert error_of(excinfo) == ("InvalidParameterValue", 400)
    assert cloud.prefixes(other) == []


def test_an_exhausted_26_answers_insufficient_free_addresses(cloud: Cloud, subnet: str) -> None:
    eni = cloud.eni(subnet, SecondaryPrivateIpAddressCount=USABLE_IN_26 - 2)
    assert len(cloud.addresses(eni)) == USABLE_IN_26 - 1
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=2
        )
    assert error_of(excinfo) == ("InsufficientFreeAddressesInSubnet", 400)
    assert len(cloud.addresses(eni)) == USABLE_IN_26 - 1  # all or nothing
    last = cloud.eni(subnet)
    with pytest.raises(ClientError) as excinfo:
        cloud.eni(subnet)
    assert error_of(excinfo)[0] == "InsufficientFreeAddressesInSubnet"
    cloud.ec2.delete_network_interface(NetworkInterfaceId=last)
    assert cloud.eni(subnet)


def test_a_fragmented_subnet_answers_insufficient_cidr_blocks(cloud: Cloud, subnet: str) -> None:
    # 10.0.0.16/28 and 10.0.0.32/28 are the only aligned blocks free of reserved addresses.
    cloud.eni(subnet, PrivateIpAddress="10.0.0.20")
    cloud.eni(subnet, PrivateIpAddress="10.0.0.40")
    eni = cloud.eni(subnet)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert error_of(excinfo) == ("InsufficientCidrBlocks", 400)
    with pytest.raises(ClientError) as excinfo:
        cloud.eni(subnet, Ipv4PrefixCount=1)
    assert error_of(excinfo)[0] == "InsufficientCidrBlocks"
    assert cloud.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=5
    )["AssignedPrivateIpAddresses"]


def test_a_failed_create_takes_nothing_from_the_subnet(cloud: Cloud, subnet: str) -> None:
    before = cloud.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
    with pytest.raises(ClientError):
        cloud.eni(subnet, SecondaryPrivateIpAddressCount=USABLE_IN_26)
    after = cloud.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
    assert after["AvailableIpAddressCount"] == before["AvailableIpAddressCount"] == USABLE_IN_26
    assert (
        cloud.ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])[
            "NetworkInterfaces"
        ]
        == []
    )


def test_available_address_count_counts_prefixes(cloud: Cloud, subnet: str) -> None:
    cloud.eni(subnet, Ipv4PrefixCount=1, Description="prefix holder")
    count = cloud.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]
    assert count == USABLE_IN_26 - 1 - 16


def test_describe_shows_prefixes_and_unassign_frees_them(cloud: Cloud, subnet: str) -> None:
    eni = cloud.eni(subnet)
    assigned = cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=2)
    prefixes = [p["Ipv4Prefix"] for p in assigned["AssignedIpv4Prefixes"]]
    assert sorted(cloud.prefixes(eni)) == sorted(prefixes) == ["10.0.0.16/28", "10.0.0.32/28"]
    cloud.ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4Prefixes=[prefixes[0]])
    assert cloud.prefixes(eni) == [prefixes[1]]
    other = cloud.eni(subnet)
    again = cloud.ec2.assign_private_ip_addresses(NetworkInterfaceId=other, Ipv4PrefixCount=1)
    assert [p["Ipv4Prefix"] for p in again["AssignedIpv4Prefixes"]] == [prefixes[0]]


def test_unassign_frees_addresses_for_reuse(cloud: Cloud, subnet: str) -> None:
    eni = cloud.eni(subnet, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.0.0.10", "Primary": True},
        {"PrivateIpAddress": "10.0.0.11", "Primary": False},
    ])  # fmt: skip
    assert cloud.addresses(eni) == ["10.0.0.10", "10.0.0.11"]
    cloud.ec2.unassign_private_ip_addresses(
        NetworkInterfaceId=eni, PrivateIpAddresses=["10.0.0.11"]
    )
    assert cloud.addresses(eni) == ["10.0.0.10"]
    other = cloud.eni(subnet)
    cloud.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=other, PrivateIpAddresses=["10.0.0.11"]
    )
    assert "10.0.0.11" in cloud.addresses(other)


def test_unassigning_what_the_interface_does_not_hold_is_refused(cloud: Cloud, subnet: str) -> None:
    eni = cloud.eni(subnet, SecondaryPrivateIpAddressCount=1)
    primary, secondary = cloud.addresses(eni)
    for bad in (["10.0.0.50"], [primary]):
        with pytest.raises(ClientError) as excinfo:
            cloud.ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=bad)
        assert error_of(excinfo) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.unassign_private_ip_addresses(
            NetworkInterfaceId=eni, Ipv4Prefixes=["10.0.0.16/28"]
        )
    assert error_of(excinfo)[0] == "InvalidParameterValue"
    assert cloud.addresses(eni) == [primary, secondary]


def test_create_honours_counts_description_and_tags(cloud: Cloud, subnet: str) -> None:
    eni = cloud.ec2.create_network_interface(
        SubnetId=subnet,
        SecondaryPrivateIpAddressCount=3,
        Description="vpc-ipam pool",
        TagSpecifications=[
            {
                "ResourceType": "network-interface",
                "Tags": [{"Key": "vpc-ipam/node", "Value": "n1"}, {"Key": "team", "Value": "x"}],
            }
        ],
    )["NetworkInterface"]
    described = cloud.describe(eni["NetworkInterfaceId"])
    assert len(described["PrivateIpAddresses"]) == 4
    assert [a["Primary"] for a in described["PrivateIpAddresses"]] == [True, False, False, False]
    assert described["Description"] == "vpc-ipam pool"
    assert {t["Key"]: t["Value"] for t in described["TagSet"]} == {
        "vpc-ipam/node": "n1",
        "team": "x",
    }
    tagged = cloud.ec2.describe_network_interfaces(
        Filters=[{"Name": "tag:vpc-ipam/node", "Values": ["n1"]}]
    )["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in tagged] == [eni["NetworkInterfaceId"]]


def test_create_honours_prefix_count_and_explicit_prefixes(cloud: Cloud, subnet: str) -> None:
    counted = cloud.eni(subnet, Ipv4PrefixCount=1)
    explicit = cloud.eni(subnet, Ipv4Prefixes=[{"Ipv4Prefix": "10.0.0.32/28"}])
    assert cloud.prefixes(counted) == ["10.0.0.16/28"]
    assert cloud.prefixes(explicit) == ["10.0.0.32/28"]


def test_mixing_ways_of_asking_in_one_call_is_refused(cloud: Cloud, subnet: str) -> None:
    eni = cloud.eni(subnet)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, Ipv4PrefixCount=1, Ipv4Prefixes=["10.0.0.16/28"]
        )
    assert error_of(excinfo) == ("InvalidParameterCombination", 400)
    with pytest.raises(ClientError) as excinfo:
        cloud.eni(subnet, SecondaryPrivateIpAddressCount=1, Ipv4PrefixCount=1)
    assert error_of(excinfo)[0] == "InvalidParameterCombination"
    assert cloud.prefixes(eni) == []
