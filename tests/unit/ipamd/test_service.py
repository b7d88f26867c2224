"""The service's answers: idempotent ADD, safe DEL, CHECK, GC, STATUS, and the empty pool."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest

from cni.errors import (
    INTERNAL,
    PLUGIN_NOT_AVAILABLE,
    TRY_AGAIN_LATER,
    UNKNOWN_CONTAINER,
    CniError,
)
from cni.netconf import GCAttachment
from cni.wire import GcArgs, HealthArgs, PodArgs, Request, StatusArgs
from ipamd.dataplane import NoDataplane
from ipamd.dataplane.nsfd import NotANetworkNamespace
from ipamd.dataplane.rtnl import WiringFailed
from ipamd.model import AllocationKey
from ipamd.service import IpamService
from tests.unit.ipamd.test_poolloop import make_node


def pod(n: int, **extra: object) -> PodArgs:
    return PodArgs(network="net", container_id=f"c{n}", ifname="eth0", netns="/ns", **extra)  # type: ignore[arg-type]


def request(op: str, args: object, deadline_ms: int = 10_000) -> Request:
    return Request(op=op, args=args, request_id="t", deadline_ms=deadline_ms)  # type: ignore[arg-type]


def prev(address: str) -> dict[str, object]:
    return {"cniVersion": "1.1.0", "ips": [{"address": f"{address}/32"}]}


@pytest.fixture
def service() -> IpamService:
    node = make_node()
    node.loop.tick()
    return IpamService(
        node.store,
        lambda: node.checkpoint.save(node.store.to_state()),
        node.loop,
        NoDataplane(),
        add_wait=0.3,  # the budget runs on the real clock: a fake one would never run out
    )


def address_of(result: dict[str, object]) -> str:
    ips: list[dict[str, str]] = result["ips"]  # type: ignore[assignment]
    return ips[0]["address"].split("/")[0]


def test_add_is_idempotent_and_distinct_pods_get_distinct_addresses(service: IpamService):
    first = address_of(service.handle(request("add", pod(1))))
    assert address_of(service.handle(request("add", pod(1)))) == first
    assert address_of(service.handle(request("add", pod(2)))) != first


def test_del_without_a_known_key_frees_only_an_address_held_by_that_attachment(
    service: IpamService,
):
    mine = address_of(service.handle(request("add", pod(1))))
    other = address_of(service.handle(request("add", pod(2))))
    # a late DEL of a long-gone pod naming pod 2's address must not free it
    service.handle(request("del", pod(9, prev_result=prev(other))))
    assert service.store.allocation(AllocationKey("net", "c2", "eth0")) is not None
    service.handle(request("del", pod(1, prev_result=prev(mine))))
    assert service.store.allocation(AllocationKey("net", "c1", "eth0")) is None


def test_del_twice_succeeds_twice(service: IpamService):
    service.handle(request("add", pod(1)))
    assert service.handle(request("del", pod(1))) == {}
    assert service.handle(request("del", pod(1))) == {}


def test_check_knows_the_attachment_and_its_address(service: IpamService):
    address = address_of(service.handle(request("add", pod(1))))
    assert service.handle(request("check", pod(1, prev_result=prev(address)))) == {}
    with pytest.raises(CniError) as unknown:
        service.handle(request("check", pod(2)))
    assert unknown.value.code == UNKNOWN_CONTAINER
    with pytest.raises(CniError):
        service.handle(request("check", pod(1, prev_result=prev("10.9.9.9"))))


def test_gc_releases_attachments_the_runtime_no_longer_lists(service: IpamService):
    for n in range(3):
        service.handle(request("add", pod(n)))
    service.handle(request("gc", GcArgs(network="net", valid_attachments=None)))
    assert len(service.store.allocations()) == 3  # "not given" releases nothing
    keep = (GCAttachment(container_id="c1", ifname="eth0"),)
    service.handle(request("gc", GcArgs(network="net", valid_attachments=keep)))
    assert [a.key.container_id for a in service.store.allocations()] == ["c1"]
    service.handle(request("gc", GcArgs(network="other", valid_attachments=())))
    assert len(service.store.allocations()) == 1  # another network's GC touches nothing


def test_empty_pool_waits_within_budget_then_says_why(service: IpamService):
    service.pool.limits = service.pool.limits.__class__(
        max_interfaces=1, blocks_per_interface=9, block_size=1, max_pods=9
    )
    for n in range(9):
        service.handle(request("add", pod(n)))
    service.pool.tick()
    with pytest.raises(CniError) as failed:
        service.handle(request("add", pod(99)))
    assert failed.value.code == TRY_AGAIN_LATER
    assert "max pods reached (9)" in failed.value.msg
    with pytest.raises(CniError) as status:
        service.handle(request("status", StatusArgs(network="net")))
    assert status.value.code == PLUGIN_NOT_AVAILABLE


def test_health_reports_the_pool(service: IpamService):
    service.handle(request("add", pod(1)))
    health = service.handle(request("health", HealthArgs()))
    assert health["addresses"] == {"total": 9, "assigned": 1, "cooling": 0, "available": 8}
    assert health["interfaces"] == 1
    pool: Any = health["pool"]
    (primary,) = pool
    assert primary["primary"] is True and primary["wired"] is True
    assert sum(b["assigned"] for b in primary["blocks"]) == 1
    assert sum(b["size"] for b in primary["blocks"]) == 9


def test_a_checkpoint_that_cannot_be_written_gives_no_address_out(service: IpamService):
    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    service.persist = full_disk
    with pytest.raises(CniError) as failed:
        service.handle(request("add", pod(1)))
    assert "checkpoint" in failed.value.msg
    assert service.store.allocation(AllocationKey("net", "c1", "eth0")) is None


class Refusing(NoDataplane):
    """A dataplane whose wiring fails the way the kernel one can; records unwires."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.unwired: list[tuple[AllocationKey, object]] = []

    def wire(self, allocation, netns, ifname):
        raise self.error

    def unwire(self, key, netns, *, address=None):
        self.unwired.append((key, address))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotANetworkNamespace("/tmp/x is a regular file, not a network namespace"), 4),
        (WiringFailed("adding the host route failed: File exists"), 999),
    ],
)
def test_wiring_failures_give_the_address_back_with_the_right_code(
    service: IpamService, error: Exception, code: int
):
    service.dataplane = Refusing(error)
    with pytest.raises(CniError) as failed:
        service.handle(request("add", pod(1)))
    assert failed.value.code == code
    assert str(error) in failed.value.details
    assert service.store.allocation(AllocationKey("net", "c1", "eth0")) is None


def test_del_hands_the_released_address_to_the_dataplane(service: IpamService):
    address = address_of(service.handle(request("add", pod(1))))
    plane = Refusing(RuntimeError("unused"))
    service.dataplane = plane
    service.handle(request("del", pod(1)))
    service.handle(request("del", pod(1)))  # a second DEL: nothing held, still unwired
    key = AllocationKey("net", "c1", "eth0")
    assert plane.unwired == [(key, IPv4Address(address)), (key, None)]


def test_a_repeated_add_writes_nothing_and_a_failing_disk_cannot_take_its_address(
    service: IpamService,
):
    first = address_of(service.handle(request("add", pod(1))))
    writes: list[str] = []

    def broken_disk() -> None:
        writes.append("tried")
        raise OSError("disk full")

    service.persist = broken_disk
    assert address_of(service.handle(request("add", pod(1)))) == first
    assert writes == []
    assert service.store.allocation(AllocationKey("net", "c1", "eth0")) is not None
    with pytest.raises(CniError) as refused:  # a new pod is refused: its address is not saved
        service.handle(request("add", pod(2)))
    assert refused.value.code == INTERNAL and writes == ["tried"]
    assert service.store.allocation(AllocationKey("net", "c2", "eth0")) is None


class Recording(NoDataplane):
    """Wires as NoDataplane does; records what it wired and unwired."""

    def __init__(self) -> None:
        self.wired: list[AllocationKey] = []
        self.unwired: list[tuple[AllocationKey, object]] = []

    def wire(self, allocation, netns, ifname):
        self.wired.append(allocation.key)
        return super().wire(allocation, netns, ifname)

    def unwire(self, key, netns, *, address=None):
        self.unwired.append((key, address))


def test_an_add_whose_checkpoint_write_fails_is_unwired_and_gives_its_address_back(
    service: IpamService,
):
    # the write runs beside the wiring: when it fails, the pod was wired and is unwired
    plane = Recording()
    service.dataplane = plane
    writes: list[str] = []

    def full_disk() -> None:
        writes.append("tried")
        raise OSError(28, "No space left on device")

    service.persist = full_disk
    with pytest.raises(CniError) as failed:
        service.handle(request("add", pod(1)))
    key = AllocationKey("net", "c1", "eth0")
    assert failed.value.code == INTERNAL and "checkpoint" in failed.value.msg
    assert service.store.allocation(key) is None
    assert plane.wired == [key]
    assert [k for k, _ in plane.unwired] == [key]
    assert writes == ["tried"]


def test_a_del_whose_checkpoint_write_fails_still_unwires_and_reports_the_failure(
    service: IpamService,
):
    service.handle(request("add", pod(1)))
    plane = Recording()
    service.dataplane = plane

    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    service.persist = full_disk
    with pytest.raises(OSError):
        service.handle(request("del", pod(1)))
    assert [k for k, _ in plane.unwired] == [AllocationKey("net", "c1", "eth0")]
