"""A scripted node's life against the emulator over HTTP, as an IPAM daemon would drive it:
fill the primary interface, add a second one, hit the interface limit, exhaust the subnet."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from mypy_boto3_ec2 import EC2Client

from sandbox.ec2 import Ec2Emulator
from tests.emulator.conftest import error_of


def test_an_m5_large_node_meets_ec2s_limits_in_order(emulator: Ec2Emulator, ec2: EC2Client) -> None:
    vpc = emulator.create_vpc("10.0.0.0/16")
    subnet = emulator.create_subnet(vpc, "10.0.0.0/26", "us-east-1a")  # 59 usable addresses
    node = emulator.launch_instance("m5.large", subnet)
    primary = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [node]}]
    )["NetworkInterfaces"][0]["NetworkInterfaceId"]

    # 1. Fill the primary interface: 1 primary + 9 secondaries, then the limit.
    ec2.assign_private_ip_addresses(NetworkInterfaceId=primary, SecondaryPrivateIpAddressCount=9)
    with pytest.raises(ClientError) as excinfo:
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=primary, SecondaryPrivateIpAddressCount=1
        )
    assert error_of(excinfo) == ("PrivateIpAddressLimitExceeded", 400)

    # 2. A second interface with addresses, attached at device index 1.
    second = ec2.create_network_interface(SubnetId=subnet, SecondaryPrivateIpAddressCount=9)[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=second, InstanceId=node, DeviceIndex=1)
    with pytest.raises(ClientError) as excinfo:
        ec2.attach_network_interface(NetworkInterfaceId=second, InstanceId=node, DeviceIndex=2)
    assert error_of(excinfo)[0] == "InvalidNetworkInterface.InUse"

    # 3. The third fits, the fourth does not.
    third = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=third, InstanceId=node, DeviceIndex=2)
    fourth = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    with pytest.raises(ClientError) as excinfo:
        ec2.attach_network_interface(NetworkInterfaceId=fourth, InstanceId=node, DeviceIndex=3)
    assert error_of(excinfo) == ("AttachmentLimitExceeded", 400)

    # 4. Exhaust the /26: 10 + 10 + 1 + 1 held, 37 left; an unattached interface takes them.
    held = 10 + 10 + 1 + 1
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=fourth, SecondaryPrivateIpAddressCount=59 - held
    )
    with pytest.raises(ClientError) as excinfo:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=third, SecondaryPrivateIpAddressCount=1)
    assert error_of(excinfo) == ("InsufficientFreeAddressesInSubnet", 400)
    with pytest.raises(ClientError) as excinfo:
        ec2.create_network_interface(SubnetId=subnet)
    assert error_of(excinfo)[0] == "InsufficientFreeAddressesInSubnet"

    # Throughout, every address in the subnet is held exactly once.
    everything = [
        a["PrivateIpAddress"]
        for eni in ec2.describe_network_interfaces(
            Filters=[{"Name": "subnet-id", "Values": [subnet]}]
        )["NetworkInterfaces"]
        for a in eni["PrivateIpAddresses"]
    ]
    assert len(everything) == len(set(everything)) == 59
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"] == 0
    assert emulator.call_counts()["AttachNetworkInterface"] == 4
