"""Installing the fidelity layer into moto, and taking it out again."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.ec2.models import EC2Backend
from moto.ec2.models.instances import Instance
from moto.ec2.models.subnets import Subnet
from moto.ec2.responses import EC2Response

from sandbox.clock import FakeClock
from sandbox.ec2 import fidelity
from tests.emulator.conftest import NO_RETRIES
from tests.fake_aws import REGION

PATCHED = [
    (EC2Response, "assign_private_ip_addresses"),
    (EC2Backend, "create_network_interface"),
    (Instance, "prep_nics"),
    (Subnet, "available_ip_address_count"),
]


def test_leaving_the_block_restores_moto_exactly() -> None:
    before = {(owner, name): owner.__dict__.get(name) for owner, name in PATCHED}
    with fidelity.installed():
        assert fidelity.is_installed()
        assert all(owner.__dict__.get(name) is not before[owner, name] for owner, name in PATCHED)
    assert not fidelity.is_installed()
    assert {(owner, name): owner.__dict__.get(name) for owner, name in PATCHED} == before


def test_the_layer_is_removed_even_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), fidelity.installed():
        raise RuntimeError("test failed")
    assert not fidelity.is_installed()


def test_nested_installs_are_counted() -> None:
    clock = FakeClock()
    with fidelity.installed(clock):
        with fidelity.installed():
            assert fidelity.is_installed()
        assert fidelity.is_installed()
        with pytest.raises(RuntimeError), fidelity.installed(FakeClock()):
            pass
    assert not fidelity.is_installed()


def test_without_the_layer_moto_ignores_prefix_counts(
    boto_session: boto3.session.Session,
) -> None:
    """Why the layer exists: plain moto accepts the call and assigns no prefix."""
    with mock_aws():
        ec2 = boto_session.client("ec2", region_name=REGION, config=NO_RETRIES)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni["NetworkInterfaceId"], Ipv4PrefixCount=1
        )
        described = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])
        assert not described["NetworkInterfaces"][0].get("Ipv4Prefixes")
        with fidelity.installed():
            ec2.assign_private_ip_addresses(
                NetworkInterfaceId=eni["NetworkInterfaceId"], Ipv4PrefixCount=1
            )
            described = ec2.describe_network_interfaces(
                NetworkInterfaceIds=[eni["NetworkInterfaceId"]]
            )
            assert described["NetworkInterfaces"][0]["Ipv4Prefixes"]
