"""The back ends the provider contract suite runs on, behind one small interface.

- ``fake``: providers.fake.FakeProvider, in memory (keeps the daemon's test double honest);
- ``moto``: AwsProvider on moto in-process (mock_aws) with the sandbox's fidelity layer;
- ``emulator``: AwsProvider over real HTTP to the sandbox EC2 + IMDS emulator.

Each back end gives a provider for an m5.large node in a subnet of the test's choosing, a
wall clock the test moves, and a way to leave a detached interface behind (a leak).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from config import load_settings
from providers.aws.factory import ec2_client
from providers.aws.imds import ImdsClient
from providers.aws.provider import AwsOptions, AwsProvider
from providers.aws.tags import interface_tags
from providers.base import Provider
from providers.fake import FakeNode, FakeProvider
from providers.models import InstanceLimits
from providers.ratelimit import RateLimiter
from providers.retry import CallPolicy
from sandbox.clock import SystemClock
from sandbox.ec2 import Ec2Emulator, fidelity
from sandbox.ec2.emulator import DEFAULT_IMAGE
from sandbox.imds import ImdsServer
from tests.fake_aws import REGION, ZONE

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

M5_LARGE = InstanceLimits("m5.large", 3, 10, 2, True)
LEAK_GRACE = 300.0
LEAK_SWEEP_MAX = 2
CLUSTER = "contract"


@dataclass
class WallClock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    name: str
    provider: Provider
    clock: WallClock
    leak: Callable[[bool], str]
    """Leave a detached interface behind: tagged as ours (True) or someone else's (False)."""
    exists: Callable[[str], bool]
    """Whether an interface still exists anywhere in the account."""
    grow_vpc: Callable[[IPv4Network], None]
    """The VPC gains a CIDR."""
    extras: dict[str, object] = field(default_factory=dict)


VPC = IPv4Network("10.0.0.0/16")
NODE_SUBNET = IPv4Network("10.0.1.0/24")


@dataclass(frozen=True)
class NodeSpec:
    subnet: IPv4Network = NODE_SUBNET
    prefix_delegation: bool = False


BackendFactory = Callable[[NodeSpec], AbstractContextManager[Backend]]


@contextmanager
def fake_backend(spec: NodeSpec) -> Iterator[Backend]:
    clock = WallClock()
    fake = FakeProvider(
        FakeNode(
            limits=M5_LARGE,
            subnet_cidr=spec.subnet,
            block_prefixlen=28 if spec.prefix_delegation else 32,
        ),
        clock=clock,
        cluster_name=CLUSTER,
        leak_grace=LEAK_GRACE,
        leak_sweep_max=LEAK_SWEEP_MAX,
    )

    def leak(ours: bool) -> str:
        return fake.leak_detached_interface(1, tags=None if ours else {"team": "other"})

    def exists(interface_id: str) -> bool:
        return any(e.id == interface_id for e in fake.account_interfaces())

    yield Backend("fake", fake, clock, leak, exists, fake.associate_vpc_cidr)


def _aws_provider(ec2: EC2Client, imds_url: str, clock: WallClock, spec: NodeSpec) -> AwsProvider:
    rates = load_settings({}).rate_limits
    policy = CallPolicy(RateLimiter.for_ec2(rates), attempts=3, deadline=30, sleep=_no_wait)
    options = AwsOptions(
        prefix_delegation=spec.prefix_delegation,
        cluster_name=CLUSTER,
        leak_grace=LEAK_GRACE,
        leak_sweep_max=LEAK_SWEEP_MAX,
    )
    return AwsProvider(ec2, ImdsClient(imds_url), policy, options, wall_clock=clock, sleep=_no_wait)


def _no_wait(_: float) -> None:
    return None


def _aws_world(ec2: EC2Client, spec: NodeSpec) -> tuple[str, str, str]:
    """A VPC, the node's subnet and security group, an m5.large: (instance id, subnet id,
    VPC id)."""
    vpc = ec2.create_vpc(CidrBlock=str(VPC))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=str(spec.subnet), AvailabilityZone=ZONE)[
        "Subnet"
    ]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName="node", Description="node")["GroupId"]
    reservation = ec2.run_instances(
        ImageId=DEFAULT_IMAGE,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        SubnetId=subnet,
        SecurityGroupIds=[group],
    )
    return reservation["Instances"][0]["InstanceId"], subnet, vpc


def _aws_backend(
    name: str, ec2: EC2Client, imds_url: Callable[[str], str], spec: NodeSpec
) -> Backend:
    clock = WallClock()
    instance_id, subnet, vpc = _aws_world(ec2, spec)
    provider = _aws_provider(ec2, imds_url(instance_id), clock, spec)

    def leak(ours: bool) -> str:
        tags = interface_tags(instance_id, clock(), CLUSTER) if ours else {"team": "other"}
        return ec2.create_network_interface(
            SubnetId=subnet,
            SecondaryPrivateIpAddressCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "network-interface",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )["NetworkInterface"]["NetworkInterfaceId"]

    def exists(interface_id: str) -> bool:
        found = ec2.describe_network_interfaces(
            Filters=[{"Name": "network-interface-id", "Values": [interface_id]}]
        )
        return bool(found["NetworkInterfaces"])

    def grow_vpc(cidr: IPv4Network) -> None:
        ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock=str(cidr))

    return Backend(name, provider, clock, leak, exists, grow_vpc)


@contextmanager
def moto_backend(spec: NodeSpec) -> Iterator[Backend]:
    """moto in-process (mock_aws) with the fidelity layer; IMDS reads the same backend."""
    with mock_aws(), fidelity.installed():
        ec2 = ec2_client(REGION)
        servers: list[ImdsServer] = []

        def imds_url(instance_id: str) -> str:
            server = ImdsServer(
                lambda: ec2_backends[DEFAULT_ACCOUNT_ID][REGION], instance_id, SystemClock()
            ).start()
            servers.append(server)
            return server.url

        try:
            yield _aws_backend("moto", ec2, imds_url, spec)
        finally:
            for server in servers:
                server.stop()


@contextmanager
def emulator_backend(spec: NodeSpec) -> Iterator[Backend]:
    """The sandbox EC2 emulator and IMDS over real HTTP on loopback."""
    with Ec2Emulator(region=REGION) as emulator:
        ec2 = ec2_client(REGION, emulator.endpoint_url)
        backend = _aws_backend("emulator", ec2, emulator.imds_url, spec)
        backend.extras["emulator"] = emulator
        yield backend


FACTORIES: dict[str, BackendFactory] = {
    "fake": fake_backend,
    "moto": moto_backend,
    "emulator": emulator_backend,
}
