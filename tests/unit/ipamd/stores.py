"""Builders for datastore tests: interfaces as the cloud reports them, keys, a pod."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from ipamd.datastore import Datastore
from ipamd.model import AllocationKey, PodRef
from providers.models import AddressBlock, CloudInterface
from sandbox.clock import FakeClock

SUBNET = IPv4Network("10.0.0.0/16")
POD = PodRef("default", "web-0", "uid-0")
COOLDOWN = 30.0


def cloud_iface(
    interface_id: str, device_index: int, *blocks: str, primary_ip: str | None = None
) -> CloudInterface:
    return CloudInterface(
        id=interface_id,
        mac=f"02:00:00:00:00:{device_index:02x}",
        device_index=device_index,
        primary=device_index == 0,
        subnet_id="subnet-1",
        subnet_cidr=SUBNET,
        primary_ip=IPv4Address(primary_ip or f"10.0.0.{10 + device_index}"),
        blocks=block_list(*blocks),
    )


def block_list(*cidrs: str) -> tuple[AddressBlock, ...]:
    return tuple(AddressBlock(IPv4Network(c)) for c in cidrs)


def key(n: int | str) -> AllocationKey:
    return AllocationKey("pod-net", f"container-{n}", "eth0")


def ip(text: str) -> IPv4Address:
    return IPv4Address(text)


def new_store(clock: FakeClock, *, prefixlen: int = 28, cooldown: float = COOLDOWN) -> Datastore:
    return Datastore(cooldown=cooldown, serving_prefixlen=prefixlen, clock=clock)
