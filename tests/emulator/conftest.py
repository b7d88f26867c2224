"""Fixtures for the EC2/IMDS emulator suite: fake credentials, a fake clock, the emulator over
HTTP, and the same fidelity layer in-process under ``mock_aws`` (``cloud`` runs a test on both).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from mypy_boto3_ec2 import EC2Client

from sandbox.clock import FakeClock
from sandbox.ec2 import Ec2Emulator, fidelity
from tests.fake_aws import REGION, ZONE

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def ec2(emulator: Ec2Emulator) -> EC2Client:
    """A boto3 client against the emulator that never retries (errors show as they are)."""
    return emulator.client(NO_RETRIES)


@dataclass
class Cloud:
    """One way to reach the fidelity layer (HTTP emulator or in-process mock_aws) and the
    few setup steps the tests share."""

    ec2: EC2Client
    mode: str

    def vpc(self, cidr: str = "10.0.0.0/16") -> str:
        return self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]

    def subnet(self, vpc_id: str, cidr: str, zone: str = ZONE) -> str:
        return self.ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]

    def launch(self, subnet_id: str, instance_type: str = "m5.large") -> str:
        params: dict[str, Any] = {"InstanceType": instance_type}
        reservation = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet_id, **params
        )
        return reservation["Instances"][0]["InstanceId"]

    def eni(self, subnet_id: str, **params: Any) -> str:
        return self.ec2.create_network_interface(SubnetId=subnet_id, **params)["NetworkInterface"][
            "NetworkInterfaceId"
        ]

    def describe(self, eni_id: str) -> Any:
        return self.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])[
            "NetworkInterfaces"
        ][0]

    def addresses(self, eni_id: str) -> list[str]:
        return [a["PrivateIpAddress"] for a in self.describe(eni_id)["PrivateIpAddresses"]]

    def prefixes(self, eni_id: str) -> list[str]:
        return [p["Ipv4Prefix"] for p in self.describe(eni_id).get("Ipv4Prefixes", [])]

    def primary_eni(self, instance_id: str) -> str:
        instance = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"
        ][0]
        return next(
            n["NetworkInterfaceId"]
            for n in instance["NetworkInterfaces"]
            if n["Attachment"]["DeviceIndex"] == 0
        )


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    """One session for in-process clients (a new one reloads botocore's models each time)."""
    return boto3.session.Session()


@pytest.fixture(params=["http", "in-process"])
def cloud(
    request: pytest.FixtureRequest, clock: FakeClock, boto_session: boto3.session.Session
) -> Iterator[Cloud]:
    """The fidelity layer over HTTP (moto's server) and in-process (moto's mock_aws)."""
    if request.param == "http":
        with Ec2Emulator(region=REGION, clock=clock) as emulator:
            yield Cloud(emulator.client(NO_RETRIES), "http")
    else:
        with mock_aws(), fidelity.installed(clock):
            client = boto_session.client("ec2", region_name=REGION, config=NO_RETRIES)
            yield Cloud(client, "in-process")


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """(EC2 error code, HTTP status) of a botocore ClientError."""
    response: Any = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


def http(method: str, url: str, headers: dict[str, str] | None = None) -> Reply:
    """One plain HTTP request to a loopback URL, never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode())
