"""Attach/detach/delete rules and DeleteOnTermination, over HTTP and in-process."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import Cloud, error_of


@pytest.fixture
def node(cloud: Cloud) -> tuple[str, str]:
    subnet = cloud.subnet(cloud.vpc(), "10.0.0.0/24")
    return subnet, cloud.launch(subnet)


def test_deleting_an_attached_interface_is_refused_until_detached(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    subnet, instance = node
    eni = cloud.eni(subnet, SecondaryPrivateIpAddressCount=2)
    held = cloud.addresses(eni)
    attachment = cloud.ec2.attach_network_interface(
        NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1
    )["AttachmentId"]
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.delete_network_interface(NetworkInterfaceId=eni)
    assert error_of(excinfo) == ("InvalidParameterValue", 400)
    assert "currently in use" in str(excinfo.value)
    assert cloud.addresses(eni) == held
    cloud.ec2.detach_network_interface(AttachmentId=attachment)
    cloud.ec2.delete_network_interface(NetworkInterfaceId=eni)
    reuse = cloud.eni(subnet, PrivateIpAddress=held[1])  # its addresses went back
    assert cloud.addresses(reuse) == [held[1]]


def test_attaching_at_a_device_index_in_use_is_refused(cloud: Cloud, node: tuple[str, str]) -> None:
    subnet, instance = node
    first, second = cloud.eni(subnet), cloud.eni(subnet)
    cloud.ec2.attach_network_interface(NetworkInterfaceId=first, InstanceId=instance, DeviceIndex=1)
    for index in (0, 1):
        with pytest.raises(ClientError) as excinfo:
            cloud.ec2.attach_network_interface(
                NetworkInterfaceId=second, InstanceId=instance, DeviceIndex=index
            )
        assert error_of(excinfo) == ("InvalidParameterValue", 400)
        assert f"already has an interface attached at device index '{index}'" in str(excinfo.value)
    assert cloud.describe(second)["Status"] == "available"


def test_attaching_an_interface_that_is_attached_already_is_refused(cloud: Cloud) -> None:
    subnet = cloud.subnet(cloud.vpc(), "10.0.0.0/24")
    one, other = cloud.launch(subnet), cloud.launch(subnet)
    eni = cloud.eni(subnet)
    cloud.ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=one, DeviceIndex=1)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=other, DeviceIndex=1)
    assert error_of(excinfo) == ("InvalidNetworkInterface.InUse", 400)
    assert cloud.describe(eni)["Attachment"]["InstanceId"] == one


def test_the_primary_interface_cannot_be_detached(cloud: Cloud, node: tuple[str, str]) -> None:
    _, instance = node
    primary = cloud.describe(cloud.primary_eni(instance))
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.detach_network_interface(AttachmentId=primary["Attachment"]["AttachmentId"])
    assert error_of(excinfo) == ("OperationNotPermitted", 400)


def test_attaching_across_availability_zones_is_refused(cloud: Cloud) -> None:
    vpc = cloud.vpc()
    here = cloud.subnet(vpc, "10.0.0.0/24", "us-east-1a")
    there = cloud.subnet(vpc, "10.0.1.0/24", "us-east-1b")
    instance = cloud.launch(here)
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.attach_network_interface(
            NetworkInterfaceId=cloud.eni(there), InstanceId=instance, DeviceIndex=1
        )
    assert error_of(excinfo)[0] == "InvalidParameterCombination"


def test_delete_on_termination_can_be_set_and_shows_in_describe(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    subnet, instance = node
    eni = cloud.eni(subnet)
    attachment = cloud.ec2.attach_network_interface(
        NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1
    )["AttachmentId"]
    assert cloud.describe(eni)["Attachment"]["DeleteOnTermination"] is False
    cloud.ec2.modify_network_interface_attribute(
        NetworkInterfaceId=eni,
        Attachment={"AttachmentId": attachment, "DeleteOnTermination": True},
    )
    assert cloud.describe(eni)["Attachment"]["DeleteOnTermination"] is True
    with pytest.raises(ClientError) as excinfo:
        cloud.ec2.modify_network_interface_attribute(
            NetworkInterfaceId=eni,
            Attachment={"AttachmentId": "eni-attach-0000000000", "DeleteOnTermination": False},
        )
    assert error_of(excinfo)[0] == "InvalidAttachmentID.NotFound"
    assert cloud.describe(eni)["Attachment"]["DeleteOnTermination"] is True


def test_termination_deletes_what_is_marked_and_frees_its_addresses(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    subnet, instance = node
    primary = cloud.primary_eni(instance)
    assert cloud.describe(primary)["Attachment"]["DeleteOnTermination"] is True
    kept = cloud.eni(subnet)
    cloud.ec2.attach_network_interface(NetworkInterfaceId=kept, InstanceId=instance, DeviceIndex=1)
    primary_address = cloud.addresses(primary)[0]
    cloud.ec2.terminate_instances(InstanceIds=[instance])
    remaining = cloud.ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in remaining] == [kept]
    assert cloud.describe(kept)["Status"] == "available"
    assert cloud.addresses(cloud.eni(subnet, PrivateIpAddress=primary_address)) == [primary_address]


def test_attachment_filters_find_interfaces_of_an_instance(
    cloud: Cloud, node: tuple[str, str]
) -> None:
    subnet, instance = node
    eni = cloud.eni(subnet)
    cloud.ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=instance, DeviceIndex=1)
    cloud.eni(subnet)  # unattached
    found = cloud.ec2.describe_network_interfaces(
        Filters=[
            {"Name": "attachment.instance-id", "Values": [instance]},
            {"Name": "attachment.device-index", "Values": ["1"]},
        ]
    )["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in found] == [eni]
