"""The CNI request log: real requests through ``RequestLog.timed`` around real handlers, on
fake clocks; what is kept (the ring, the latest per attachment), what the ``finished``
callback hears, and what passes through to the socket server unchanged."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from cni.errors import INTERNAL, TRY_AGAIN_LATER, UNKNOWN_CONTAINER, CniError
from cni.wire import GcArgs, HealthArgs, PodArgs, RepairArgs, Request, StatusArgs
from ipamd.model import PodRef
from ipamd.requestlog import KEEP, KEEP_ATTACHMENTS, Handler, RequestLog
from sandbox.clock import FakeClock

WALL = 1_700_000_000.0
NETWORK = "vpc-ipam"


def pod_request(
    op: str,
    container_id: str = "c0",
    *,
    name: str = "web-1",
    namespace: str = "default",
    prev_result: dict[str, object] | None = None,
) -> Request:
    args = PodArgs(
        network=NETWORK,
        container_id=container_id,
        ifname="eth0",
        netns="/var/run/netns/cni-1" if op != "del" else "",
        pod_namespace=namespace,
        pod_name=name,
        pod_uid=f"uid-{name}",
        prev_result=prev_result,
    )
    return Request(op=op, args=args, request_id=f"id-{container_id}", deadline_ms=30_000)


def cni_result(address: str) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "ips": [{"address": f"{address}/32", "gateway": "169.254.1.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
    }


class Handlers:
    """Handlers as the socket server has them, each taking ``took`` seconds of the clock."""

    def __init__(self, clock: FakeClock, took: float = 0.25) -> None:
        self.clock, self.took = clock, took

    def answer(self, result: Mapping[str, object]) -> Handler:
        def handler(request: Request) -> Mapping[str, object]:
            self.clock.advance(self.took)
            return result

        return handler

    def fail(self, error: Exception) -> Handler:
        def handler(request: Request) -> Mapping[str, object]:
            self.clock.advance(self.took)
            raise error

        return handler


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(WALL)


@pytest.fixture
def mono() -> FakeClock:
    return FakeClock(50.0)


@pytest.fixture
def finished() -> list[tuple[str, int, float]]:
    return []


@pytest.fixture
def requests(
    wall: FakeClock, mono: FakeClock, finished: list[tuple[str, int, float]]
) -> RequestLog:
    return RequestLog(
        finished=lambda op, code, seconds: finished.append((op, code, seconds)),
        clock=mono,
        wall_clock=wall,
    )


def ok(requests: RequestLog, request: Request, result: Mapping[str, object] | None = None) -> None:
    answer = result if result is not None else {}
    requests.timed(lambda _r: answer)(request)


def refused(requests: RequestLog, request: Request, error: CniError) -> None:
    def handler(_r: Request) -> Mapping[str, object]:
        raise error

    with pytest.raises(CniError):
        requests.timed(handler)(request)


def test_a_successful_add_is_recorded_with_its_pod_times_and_the_address_from_the_results_ips(
    requests: RequestLog, wall: FakeClock, mono: FakeClock
):
    result = cni_result("10.0.1.23")
    handler = Handlers(mono).answer(result)
    answered = requests.timed(handler)(pod_request("add", "abc123"))
    assert answered is result
    [record] = requests.recent()
    assert record.at == WALL
    assert (record.op, record.network, record.container_id, record.ifname) == (
        "add",
        NETWORK,
        "abc123",
        "eth0",
    )
    assert record.pod == PodRef("default", "web-1", "uid-web-1")
    assert (record.code, record.message) == (0, "")
    assert record.seconds == 0.25
    assert record.address == "10.0.1.23"
    assert record.attachment == (NETWORK, "abc123", "eth0")


def test_the_first_of_several_addresses_in_an_add_result_is_recorded(requests: RequestLog):
    result: dict[str, object] = {
        "ips": [{"address": "10.0.1.7/28"}, {"address": "10.0.1.8/28"}],
    }
    ok(requests, pod_request("add"), result)
    assert requests.recent()[0].address == "10.0.1.7"


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"ips": "10.0.1.7"},
        {"ips": [{"address": "not-an-address"}]},
        {"ips": [{"address": "fd00::7/64"}]},
    ],
)
def test_an_add_result_without_a_readable_ipv4_address_records_none(
    requests: RequestLog, result: dict[str, object]
):
    ok(requests, pod_request("add"), result)
    assert requests.recent()[0].address is None


def test_only_an_add_records_an_address_even_when_a_del_carries_a_prev_result(
    requests: RequestLog,
):
    previous = cni_result("10.0.1.23")
    ok(requests, pod_request("del", prev_result=previous), previous)
    ok(requests, pod_request("check", prev_result=previous), previous)
    assert [(r.op, r.address) for r in requests.recent()] == [("del", None), ("check", None)]


def test_a_cni_error_passes_through_unchanged_and_its_code_and_msg_are_recorded(
    requests: RequestLog, mono: FakeClock, finished: list[tuple[str, int, float]]
):
    error = CniError(TRY_AGAIN_LATER, "no free address on this node: max pods reached (29)", "x")
    handler = Handlers(mono, took=1.5).fail(error)
    with pytest.raises(CniError) as raised:
        requests.timed(handler)(pod_request("add"))
    assert raised.value is error
    [record] = requests.recent()
    assert record.code == TRY_AGAIN_LATER
    assert record.message == "no free address on this node: max pods reached (29)"
    assert record.seconds == 1.5
    assert record.address is None
    assert finished == [("add", TRY_AGAIN_LATER, 1.5)]


def test_any_other_exception_passes_through_unchanged_and_is_recorded_as_code_999(
    requests: RequestLog, mono: FakeClock, finished: list[tuple[str, int, float]]
):
    error = KeyError("container-7")
    handler = Handlers(mono).fail(error)
    with pytest.raises(KeyError) as raised:
        requests.timed(handler)(pod_request("del"))
    assert raised.value is error
    [record] = requests.recent()
    assert (record.op, record.code, record.message) == ("del", INTERNAL, str(error))
    assert finished == [("del", INTERNAL, 0.25)]


def test_finished_hears_op_code_and_seconds_of_every_op_including_health_and_status(
    requests: RequestLog, mono: FakeClock, finished: list[tuple[str, int, float]]
):
    handlers = Handlers(mono, took=0.5)
    health = Request(op="health", args=HealthArgs(), request_id="h", deadline_ms=5000)
    status = Request(op="status", args=StatusArgs(network=NETWORK), request_id="s", deadline_ms=1)
    gc = Request(op="gc", args=GcArgs(network=NETWORK), request_id="g", deadline_ms=1)
    repair = Request(
        op="repair", args=RepairArgs(findings=("3f9a",)), request_id="r", deadline_ms=1
    )
    for request in (health, status, gc, repair, pod_request("add"), pod_request("check")):
        requests.timed(handlers.answer({}))(request)
    with pytest.raises(CniError):
        error = CniError(UNKNOWN_CONTAINER, "no address is allocated")
        requests.timed(handlers.fail(error))(pod_request("del"))
    assert finished == [
        ("health", 0, 0.5),
        ("status", 0, 0.5),
        ("gc", 0, 0.5),
        ("repair", 0, 0.5),
        ("add", 0, 0.5),
        ("check", 0, 0.5),
        ("del", UNKNOWN_CONTAINER, 0.5),
    ]


def test_health_and_status_are_timed_but_never_kept(
    requests: RequestLog, finished: list[tuple[str, int, float]]
):
    ok(requests, Request(op="health", args=HealthArgs(), request_id="h", deadline_ms=5000))
    ok(
        requests,
        Request(op="status", args=StatusArgs(network=NETWORK), request_id="s", deadline_ms=1),
    )
    assert requests.recent() == [] and requests.latest() == []
    assert [op for op, _, _ in finished] == ["health", "status"]


def test_gc_and_repair_are_kept_in_order_but_belong_to_no_attachment(requests: RequestLog):
    ok(requests, Request(op="gc", args=GcArgs(network=NETWORK), request_id="g", deadline_ms=1))
    ok(requests, Request(op="repair", args=RepairArgs(), request_id="r", deadline_ms=1))
    gc, repair = requests.recent()
    assert (gc.op, gc.network, gc.container_id, gc.pod) == ("gc", NETWORK, "", PodRef())
    assert (repair.op, repair.network, repair.container_id) == ("repair", "", "")
    assert requests.latest() == []


def test_without_a_finished_callback_requests_are_still_kept(wall: FakeClock):
    requests = RequestLog(wall_clock=wall)
    ok(requests, pod_request("add"), cni_result("10.0.1.5"))
    assert [r.address for r in requests.recent()] == ["10.0.1.5"]


def test_the_ring_keeps_the_last_256_requests_oldest_first(requests: RequestLog, wall: FakeClock):
    assert KEEP == 256
    for n in range(KEEP + 44):
        ok(requests, pod_request("add", f"c{n}"))
        wall.advance(1)
    kept = requests.recent()
    assert len(kept) == KEEP
    assert [r.container_id for r in kept] == [f"c{n}" for n in range(44, KEEP + 44)]


def test_latest_keeps_one_record_per_attachment_the_newest(requests: RequestLog):
    refused(requests, pod_request("add", "c1"), CniError(TRY_AGAIN_LATER, "no free address"))
    ok(requests, pod_request("add", "c2"))
    ok(requests, pod_request("add", "c1"), cni_result("10.0.1.9"))
    latest = requests.latest()
    assert [(r.container_id, r.code, r.address) for r in latest] == [
        ("c2", 0, None),
        ("c1", 0, "10.0.1.9"),
    ]


def test_the_same_container_on_another_network_or_interface_is_another_attachment(
    requests: RequestLog,
):
    ok(requests, pod_request("add", "c1"))
    other_if = PodArgs(network=NETWORK, container_id="c1", ifname="eth1")
    other_net = PodArgs(network="other-net", container_id="c1", ifname="eth0")
    for args in (other_if, other_net):
        ok(requests, Request(op="add", args=args, request_id="x", deadline_ms=1))
    assert {r.attachment for r in requests.latest()} == {
        (NETWORK, "c1", "eth0"),
        (NETWORK, "c1", "eth1"),
        ("other-net", "c1", "eth0"),
    }


def test_latest_keeps_1024_attachments_and_evicts_the_oldest(requests: RequestLog):
    assert KEEP_ATTACHMENTS == 1024
    for n in range(KEEP_ATTACHMENTS + 3):
        ok(requests, pod_request("add", f"c{n}"))
    latest = requests.latest()
    assert len(latest) == KEEP_ATTACHMENTS
    assert latest[0].container_id == "c3"
    assert latest[-1].container_id == f"c{KEEP_ATTACHMENTS + 2}"


def test_an_attachment_asked_again_becomes_the_newest_and_survives_eviction(
    requests: RequestLog,
):
    for n in range(KEEP_ATTACHMENTS):
        ok(requests, pod_request("add", f"c{n}"))
    ok(requests, pod_request("del", "c0"))  # c0 is the newest now, c1 the oldest
    ok(requests, pod_request("add", "new"))
    containers = [r.container_id for r in requests.latest()]
    assert "c1" not in containers
    assert containers[-2:] == ["c0", "new"]
    assert requests.latest()[-2].op == "del"


def test_matching_returns_each_kept_record_once_oldest_first(requests: RequestLog, wall: FakeClock):
    for op in ("add", "del", "add"):
        ok(requests, pod_request(op, "c1"))
        wall.advance(1)
    ok(requests, pod_request("add", "c2"))
    found = requests.matching(lambda r: r.container_id == "c1")
    assert [(r.op, r.at) for r in found] == [("add", WALL), ("del", WALL + 1), ("add", WALL + 2)]
    assert len({id(r) for r in found}) == 3
    assert requests.matching(lambda r: False) == []


def test_matching_finds_the_latest_of_an_attachment_the_ring_has_forgotten(
    requests: RequestLog, wall: FakeClock
):
    refused(requests, pod_request("add", "old", name="db-0"), CniError(TRY_AGAIN_LATER, "full"))
    for n in range(KEEP):  # pushes the refusal out of the ring
        wall.advance(1)
        ok(requests, pod_request("add", f"c{n}"))
    assert all(r.container_id != "old" for r in requests.recent())
    [found] = requests.matching(lambda r: r.pod.name == "db-0")
    assert (found.container_id, found.code) == ("old", TRY_AGAIN_LATER)
    everything = requests.matching(lambda r: True)
    assert everything[0] is found  # older than everything in the ring
    assert len(everything) == KEEP + 1


def test_matching_keeps_arrival_order_when_the_wall_clock_repeats_or_steps_back():
    now = [WALL]
    requests = RequestLog(wall_clock=lambda: now[0])
    ok(requests, pod_request("add", "c1"))  # three requests in the same instant
    ok(requests, pod_request("add", "c2"))
    ok(requests, pod_request("del", "c1"))
    now[0] = WALL - 3600  # then NTP steps the clock back an hour
    ok(requests, pod_request("add", "c1"))
    found = requests.matching(lambda r: r.container_id == "c1")
    assert [(r.op, r.at) for r in found] == [("add", WALL), ("del", WALL), ("add", WALL - 3600)]
    assert [r.op for r in requests.matching(lambda r: True)] == ["add", "add", "del", "add"]


def test_a_record_is_stamped_when_the_request_arrived_not_when_it_was_answered():
    clock = FakeClock(WALL)  # one clock for both: the handler's 2 s show in both
    requests = RequestLog(clock=clock, wall_clock=clock)
    requests.timed(Handlers(clock, took=2.0).answer({}))(pod_request("add"))
    [record] = requests.recent()
    assert (record.at, record.seconds) == (WALL, 2.0)
