"""The IMDSv2 emulator: token rules, data that matches DescribeNetworkInterfaces, and lag."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from mypy_boto3_ec2 import EC2Client

from sandbox.clock import FakeClock
from sandbox.ec2 import Ec2Emulator
from tests.emulator.conftest import Reply, http

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"
MACS = "/latest/meta-data/network/interfaces/macs/"


@dataclass
class Node:
    emulator: Ec2Emulator
    ec2: EC2Client
    vpc: str
    subnet: str
    group: str
    instance: str
    url: str

    def token(self, ttl: int = 60) -> str:
        reply = http("PUT", self.url + "/latest/api/token", {TTL: str(ttl)})
        assert reply.status == 200
        return reply.body

    def get(self, path: str, token: str | None = None) -> Reply:
        return http("GET", self.url + path, {TOKEN: token or self.token()})

    def text(self, path: str) -> str:
        reply = self.get(path)
        assert reply.status == 200, (path, reply)
        return reply.body

    def macs(self) -> list[str]:
        return [line.rstrip("/") for line in self.text(MACS).splitlines()]

    def eni(self, eni_id: str) -> dict[str, object]:
        found = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])
        return dict(found["NetworkInterfaces"][0])


@pytest.fixture
def node(emulator: Ec2Emulator, ec2: EC2Client) -> Node:
    vpc = emulator.create_vpc("10.0.0.0/16", secondary_cidrs=("100.64.0.0/16",))
    subnet = emulator.create_subnet(vpc, "10.0.0.0/24", "us-east-1a")
    group = emulator.create_security_group(vpc, "nodes")
    instance = emulator.launch_instance("m5.large", subnet, security_groups=(group,))
    return Node(emulator, ec2, vpc, subnet, group, instance, emulator.imds_url(instance))


def test_a_get_without_a_valid_token_is_401(node: Node) -> None:
    assert http("GET", node.url + "/latest/meta-data/instance-id").status == 401
    assert node.get("/latest/meta-data/instance-id", token="made-up").status == 401


@pytest.mark.parametrize("ttl", ["0", "21601", "-5", "soon", None])
def test_a_token_needs_a_ttl_between_1_and_21600_seconds(node: Node, ttl: str | None) -> None:
    headers = {} if ttl is None else {TTL: ttl}
    assert http("PUT", node.url + "/latest/api/token", headers).status == 400


def test_a_token_expires_after_its_ttl(node: Node, clock: FakeClock) -> None:
    token = node.token(ttl=10)
    assert node.get("/latest/meta-data/instance-id", token).status == 200
    clock.advance(9.9)
    assert node.get("/latest/meta-data/instance-id", token).status == 200
    clock.advance(0.1)
    assert node.get("/latest/meta-data/instance-id", token).status == 401
    assert node.token(ttl=21600)


def test_unknown_paths_are_404(node: Node) -> None:
    assert node.get("/latest/meta-data/no-such-thing").status == 404
    assert node.get(MACS + "02:00:00:00:00:00/local-ipv4s").status == 404


def test_instance_data_matches_describe(node: Node) -> None:
    instance = node.ec2.describe_instances(InstanceIds=[node.instance])["Reservations"][0][
        "Instances"
    ][0]
    primary = instance["NetworkInterfaces"][0]
    assert node.text("/latest/meta-data/instance-id") == node.instance
    assert node.text("/latest/meta-data/instance-type") == "m5.large"
    assert node.text("/latest/meta-data/local-ipv4") == instance["PrivateIpAddress"]
    assert node.text("/latest/meta-data/mac") == primary["MacAddress"]
    assert node.text("/latest/meta-data/placement/availability-zone") == "us-east-1a"
    assert node.text("/latest/meta-data/placement/region") == "us-east-1"
    assert node.text("/latest/meta-data/security-groups") == "nodes"
    document = json.loads(node.text("/latest/dynamic/instance-identity/document"))
    assert document["instanceId"] == node.instance
    assert document["instanceType"] == "m5.large"
    assert document["region"] == "us-east-1"
    assert document["availabilityZone"] == "us-east-1a"
    assert document["accountId"] == node.emulator.account_id
    assert document["privateIp"] == instance["PrivateIpAddress"]


def test_interface_data_matches_describe(node: Node) -> None:
    ec2 = node.ec2
    eni = ec2.create_network_interface(SubnetId=node.subnet, Groups=[node.group])[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=node.instance, DeviceIndex=1)
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=2)
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    described = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [node.instance]}]
    )["NetworkInterfaces"]
    assert sorted(node.macs()) == sorted(e["MacAddress"] for e in described)
    for interface in described:
        base = MACS + interface["MacAddress"] + "/"
        assert node.text(base + "interface-id") == interface["NetworkInterfaceId"]
        assert node.text(base + "device-number") == str(interface["Attachment"]["DeviceIndex"])
        assert node.text(base + "subnet-id") == node.subnet
        assert node.text(base + "subnet-ipv4-cidr-block") == "10.0.0.0/24"
        assert node.text(base + "vpc-id") == node.vpc
        assert node.text(base + "vpc-ipv4-cidr-block") == "10.0.0.0/16"
        assert node.text(base + "vpc-ipv4-cidr-blocks").splitlines() == [
            "10.0.0.0/16",
            "100.64.0.0/16",
        ]
        assert node.text(base + "owner-id") == node.emulator.account_id
        assert node.text(base + "security-group-ids").splitlines() == [
            g["GroupId"] for g in interface["Groups"]
        ]
        addresses = node.text(base + "local-ipv4s").splitlines()
        assert addresses[0] == interface["PrivateIpAddress"]
        assert sorted(addresses) == sorted(
            a["PrivateIpAddress"] for a in interface["PrivateIpAddresses"]
        )
    secondary = next(e for e in described if e["NetworkInterfaceId"] == eni)
    assert node.text(MACS + secondary["MacAddress"] + "/ipv4-prefix").splitlines() == [
        p["Ipv4Prefix"] for p in secondary["Ipv4Prefixes"]
    ]


def test_ipv4_prefix_is_404_until_a_prefix_is_assigned(node: Node) -> None:
    mac = node.text("/latest/meta-data/mac")
    eni = node.text(MACS + mac + "/interface-id")
    assert node.get(MACS + mac + "/ipv4-prefix").status == 404
    node.ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert node.text(MACS + mac + "/ipv4-prefix") == "10.0.0.16/28"


def test_lag_hides_a_new_interface_and_new_addresses_until_it_passes(
    node: Node, clock: FakeClock
) -> None:
    node.emulator.set_imds_lag(5.0)
    clock.advance(10)  # the launch itself is old news
    primary_mac = node.text("/latest/meta-data/mac")
    primary_eni = node.text(MACS + primary_mac + "/interface-id")
    eni = node.ec2.create_network_interface(SubnetId=node.subnet)["NetworkInterface"]
    node.ec2.attach_network_interface(
        NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=node.instance, DeviceIndex=1
    )
    new = node.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=primary_eni, SecondaryPrivateIpAddressCount=1
    )["AssignedPrivateIpAddresses"][0]["PrivateIpAddress"]
    assert node.macs() == [primary_mac]
    assert new not in node.text(MACS + primary_mac + "/local-ipv4s").splitlines()
    assert node.get(MACS + eni["MacAddress"] + "/local-ipv4s").status == 404
    clock.advance(4.9)
    assert node.macs() == [primary_mac]
    clock.advance(0.1)
    assert sorted(node.macs()) == sorted([primary_mac, eni["MacAddress"]])
    assert new in node.text(MACS + primary_mac + "/local-ipv4s").splitlines()
    assert node.text(MACS + eni["MacAddress"] + "/local-ipv4s") == eni["PrivateIpAddress"]


def test_each_instance_gets_its_own_imds(node: Node) -> None:
    other = node.emulator.launch_instance("m5.large", node.subnet)
    other_url = node.emulator.imds_url(other)
    assert other_url != node.url
    assert node.emulator.imds_url(other) == other_url
    token = http("PUT", other_url + "/latest/api/token", {TTL: "60"}).body
    reply = http("GET", other_url + "/latest/meta-data/instance-id", {TOKEN: token})
    assert reply == Reply(200, other)
