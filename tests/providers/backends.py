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

from providers.base import Provider
from providers.fake import FakeNode, FakeProvider
from providers.models import InstanceLimits

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
    extras: dict[str, object] = field(default_factory=dict)


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

    yield Backend("fake", fake, clock, leak, exists)


FACTORIES: dict[str, BackendFactory] = {"fake": fake_backend}
