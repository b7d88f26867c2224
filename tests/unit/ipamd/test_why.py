"""``why``: each verdict and each form of query, answered from a real datastore and a real
request log that CNI requests reached through ``RequestLog.timed``, as on the daemon; the
wiring, the pool's state and the Kubernetes API's view are what ``WhyContext`` is given."""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Callable, Iterator, Mapping
from ipaddress import IPv4Address
from typing import Any

import pytest

from cni.errors import INTERNAL, TRY_AGAIN_LATER, CniError
from cni.wire import PodArgs, Request
from config import BindAddress
from ipamd.datastore import Datastore
from ipamd.introspect import BadQuery, IntrospectionServer
from ipamd.model import Allocation, AllocationKey, PodRef
from ipamd.requestlog import RequestLog
from ipamd.views import stamp
from ipamd.why import WhyContext, Wiring, explain
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import cloud_iface, new_store

WALL = 1_700_000_000.0
NETWORK = "vpc-ipam"
ENI = "eni-2"
BLOCK = "10.0.1.16/28"
MAX_PODS_MESSAGE = "no free address on this node: max pods reached (29)"


class Node:
    """A datastore with one /28 and the request log in front of a small CNI handler, on one
    fake wall clock that moves a second per request."""

    def __init__(self) -> None:
        self.wall = FakeClock(WALL)
        self.store: Datastore = new_store(self.wall)
        self.store.add_interface(cloud_iface("eni-1", 0, primary_ip="10.0.1.4"))
        self.store.add_interface(cloud_iface(ENI, 1, BLOCK))
        self.requests = RequestLog(clock=self.wall, wall_clock=self.wall)
        self.refusal: CniError | None = None
        self.blocked: str | None = None
        self.handle = self.requests.timed(self._serve)

    def _serve(self, request: Request) -> Mapping[str, object]:
        args = request.args
        assert isinstance(args, PodArgs)
        key = AllocationKey(args.network, args.container_id, args.ifname)
        if request.op == "add":
            if self.refusal is not None:
                raise self.refusal
            pod = PodRef(args.pod_namespace, args.pod_name, args.pod_uid)
            allocation = self.store.assign(key, pod)
            return {"cniVersion": "1.0.0", "ips": [{"address": f"{allocation.address}/28"}]}
        if request.op == "del":
            self.store.release(key)
        return {}

    def ask(self, op: str, container_id: str, pod: str = "default/web-1") -> None:
        namespace, _, name = pod.partition("/")
        args = PodArgs(
            network=NETWORK,
            container_id=container_id,
            ifname="eth0",
            pod_namespace=namespace,
            pod_name=name,
            pod_uid=f"uid-{name}",
        )
        try:
            self.handle(Request(op=op, args=args, request_id="r", deadline_ms=30_000))
        finally:
            self.wall.advance(1)

    def add(self, container_id: str, pod: str = "default/web-1") -> str:
        self.ask("add", container_id, pod)
        held = self.store.allocation(AllocationKey(NETWORK, container_id, "eth0"))
        assert held is not None
        return str(held.address)

    def refused_add(self, container_id: str, pod: str = "default/web-1") -> None:
        with pytest.raises(CniError):
            self.ask("add", container_id, pod)

    def context(
        self,
        *,
        wiring: Callable[[Allocation], Wiring] | None = None,
        pending: Callable[[str, str], bool] | None = None,
    ) -> WhyContext:
        return WhyContext(
            allocations=self.store.allocations,
            requests=self.requests,
            blocked=lambda: self.blocked,
            available=lambda: self.store.counts().available,
            wiring=wiring,
            pending=pending,
            max_pods=lambda: 29,
        )


@pytest.fixture
def node() -> Node:
    return Node()


def complete_wiring(allocation: Allocation) -> Wiring:
    return Wiring(
        veth="vpc1a2b3c4d5e", route=True, rule_to=True, rule_from=True, table=3, problems=()
    )


def text(answer: Mapping[str, Any]) -> str:
    return " ".join(answer["details"])


# -- holding an address ------------------------------------------------------------------


def test_a_pod_whose_wiring_is_complete_is_wired(node: Node):
    address = node.add("abc123def")
    asked: list[Allocation] = []

    def wiring(allocation: Allocation) -> Wiring:
        asked.append(allocation)
        return complete_wiring(allocation)

    answer = explain("default/web-1", node.context(wiring=wiring))
    assert [str(a.address) for a in asked] == [address]
    assert answer["query"] == "default/web-1"
    assert answer["verdict"] == "wired"
    assert answer["summary"] == (
        f"default/web-1 has {address} from {ENI} ({BLOCK}), "
        "wired on veth vpc1a2b3c4d5e, replies through table 3"
    )
    assert answer["allocation"]["address"] == address
    assert answer["allocation"]["container_id"] == "abc123def"
    assert answer["allocation"]["pod"] == {
        "namespace": "default",
        "name": "web-1",
        "uid": "uid-web-1",
    }
    assert answer["wiring"] == {
        "veth": "vpc1a2b3c4d5e",
        "route": True,
        "rule_to": True,
        "rule_from": True,
        "table": 3,
        "problems": [],
    }
    assert [r["op"] for r in answer["requests"]] == ["add"]
    assert answer["pending_in_kubernetes"] is False
    assert answer["details"][0] == (
        f"default/web-1 holds {address} from {ENI} ({BLOCK}) since {stamp(WALL)} "
        f"(attachment {NETWORK}/abc123def/eth0)"
    )
    assert "rule 1536" in text(answer)


def test_a_pod_on_the_primary_interface_is_wired_without_rule_1536_or_table(node: Node):
    node.add("abc123def")

    def primary(allocation: Allocation) -> Wiring:
        return Wiring(veth="vpc0", route=True, rule_to=True, rule_from=None, table=None)

    answer = explain("web-1", node.context(wiring=primary))
    assert answer["verdict"] == "wired"
    assert answer["summary"].endswith("wired on veth vpc0")
    assert "rule 1536" not in text(answer)
    assert answer["wiring"]["rule_from"] is None


def test_a_pod_with_wiring_problems_is_miswired_and_each_problem_is_a_detail(node: Node):
    node.add("abc123def")
    problems = ("no route to the veth", "rule 512 missing")

    def broken(allocation: Allocation) -> Wiring:
        return Wiring(
            veth="vpc1a2b3c4d5e",
            route=False,
            rule_to=False,
            rule_from=True,
            table=3,
            problems=problems,
        )

    answer = explain("default/web-1", node.context(wiring=broken))
    assert answer["verdict"] == "miswired"
    assert answer["summary"].endswith("but its wiring is incomplete")
    assert answer["wiring"]["problems"] == list(problems)
    assert answer["details"][-2:] == ["wiring: no route to the veth", "wiring: rule 512 missing"]


def test_a_pod_holding_an_address_with_the_none_dataplane_is_assigned(node: Node):
    address = node.add("abc123def")
    answer = explain("default/web-1", node.context(wiring=None))
    assert answer["verdict"] == "assigned"
    assert (
        answer["summary"]
        == f"default/web-1 has {address} from {ENI} ({BLOCK}); the dataplane is none"
    )
    assert answer["wiring"] is None
    assert answer["allocation"]["address"] == address
    assert "another plugin wires the pod" in text(answer)


def test_an_allocation_rebuilt_from_the_host_says_so(node: Node):
    key, address = AllocationKey("", "recovered-10.0.1.20", ""), IPv4Address("10.0.1.20")
    held = node.store.block_of(address)
    assert held is not None
    interface_id, block = held
    node.store.restore_allocation(
        Allocation(key, PodRef(), address, interface_id, block, WALL, recovered=True)
    )
    answer = explain("10.0.1.20", node.context())
    assert answer["verdict"] == "assigned"
    assert answer["allocation"]["recovered"] is True
    assert answer["summary"].startswith(f"{key} has 10.0.1.20")
    assert "rebuilt from the host's wiring" in text(answer)


# -- refused -----------------------------------------------------------------------------


def test_a_refused_add_while_at_max_pods_says_the_node_runs_at_most_max_pods(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, MAX_PODS_MESSAGE)
    node.blocked = "max pods reached (29)"
    node.refused_add("abc123def")
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "refused"
    assert answer["summary"] == f"default/web-1 has no address: {MAX_PODS_MESSAGE}"
    assert answer["allocation"] is None and answer["wiring"] is None
    assert answer["requests"][-1]["code"] == TRY_AGAIN_LATER
    assert answer["details"][0] == (
        f"ADD refused 1 time(s) since {stamp(WALL)}; the last at {stamp(WALL)}: "
        f"error {TRY_AGAIN_LATER}: {MAX_PODS_MESSAGE}"
    )
    assert "the pool cannot grow now: max pods reached (29)" in answer["details"]
    assert "this node runs at most 29 pods" in text(answer)
    assert "the runtime retries" not in text(answer)


def test_a_refused_add_while_the_subnet_is_full_names_the_block_and_not_max_pods(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node: subnet full")
    node.blocked = "subnet subnet-1 has no free address (InsufficientFreeAddressesInSubnet)"
    node.refused_add("abc123def")
    answer = explain("web-1", node.context())
    assert answer["verdict"] == "refused"
    assert f"the pool cannot grow now: {node.blocked}" in answer["details"]
    assert "max pods" not in text(answer)


def test_a_refusal_that_names_max_pods_explains_it_even_when_the_pool_is_no_longer_blocked(
    node: Node,
):
    node.refusal = CniError(TRY_AGAIN_LATER, MAX_PODS_MESSAGE)
    node.refused_add("abc123def")
    answer = explain("default/web-1", node.context())
    assert "this node runs at most 29 pods" in text(answer)


def test_a_try_again_refusal_while_not_blocked_says_the_runtime_retries(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node: the pool is growing")
    node.refused_add("abc123def")
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "refused"
    assert "the pool is not blocked now (16 addresses available)" in text(answer)
    assert "the runtime retries and the next ADD should succeed" in text(answer)


def test_another_refusal_while_not_blocked_promises_no_retry(node: Node):
    node.refusal = CniError(INTERNAL, "vpc-ipamd cannot write its checkpoint")
    node.refused_add("abc123def")
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "refused"
    assert answer["details"][-1].endswith(
        f"error {INTERNAL}: vpc-ipamd cannot write its checkpoint"
    )
    assert len(answer["details"]) == 1


def test_every_refusal_is_counted_from_the_first(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node")
    for attempt in ("sandbox1", "sandbox2", "sandbox3"):
        node.refused_add(attempt)
    answer = explain("default/web-1", node.context())
    assert answer["details"][0].startswith(
        f"ADD refused 3 time(s) since {stamp(WALL)}; the last at {stamp(WALL + 2)}"
    )
    assert len(answer["requests"]) == 3


def test_a_refused_add_followed_by_the_runtimes_cleanup_del_is_still_refused(node: Node):
    # containerd tears a sandbox down (CNI DEL) after its ADD failed, then retries
    node.refusal = CniError(TRY_AGAIN_LATER, MAX_PODS_MESSAGE)
    node.blocked = "max pods reached (29)"
    for attempt in ("sandbox1", "sandbox2"):
        node.refused_add(attempt)
        node.ask("del", attempt)
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "refused"
    assert [r["op"] for r in answer["requests"]] == ["add", "del", "add", "del"]
    assert answer["summary"] == f"default/web-1 has no address: {MAX_PODS_MESSAGE}"
    assert answer["details"][0].startswith("ADD refused 2 time(s)")


def test_a_pod_that_got_an_address_after_being_refused_is_not_refused(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node")
    node.refused_add("sandbox1")
    node.refusal = None
    address = node.add("sandbox2")
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "assigned"
    assert answer["allocation"]["address"] == address


# -- released ----------------------------------------------------------------------------


def test_a_pod_deleted_by_the_runtime_is_released_after_its_del(node: Node):
    node.add("abc123def")
    node.ask("del", "abc123def")
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "released"
    assert answer["summary"] == f"default/web-1 held an address until a DEL at {stamp(WALL + 1)}"
    assert answer["details"] == [f"DEL at {stamp(WALL + 1)} answered ok"]
    assert [r["op"] for r in answer["requests"]] == ["add", "del"]
    assert answer["allocation"] is None


def test_an_address_asked_after_its_pods_del_is_released_by_that_del(node: Node):
    address = node.add("abc123def")
    node.ask("del", "abc123def")
    answer = explain(address, node.context())
    assert answer["verdict"] == "released"
    assert answer["summary"] == f"{address} held an address until a DEL at {stamp(WALL + 1)}"
    assert [r["op"] for r in answer["requests"]] == ["add", "del"]


def test_an_address_released_without_a_del_says_what_else_releases_addresses(node: Node):
    address = node.add("abc123def")
    node.store.release(AllocationKey(NETWORK, "abc123def", "eth0"))  # the leak sweep, say
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "released"
    assert answer["summary"] == (
        f"default/web-1 got {address} at {stamp(WALL)}; it has been released since"
    )
    assert answer["details"][0] == f"ADD at {stamp(WALL)} answered ok ({address})"
    assert "released without a DEL" in answer["details"][1]


def test_a_check_after_the_add_does_not_hide_which_address_the_pod_got(node: Node):
    address = node.add("abc123def")
    node.store.release(AllocationKey(NETWORK, "abc123def", "eth0"))
    node.ask("check", "abc123def")
    answer = explain("default/web-1", node.context())
    assert answer["verdict"] == "released"
    assert answer["summary"].startswith(f"default/web-1 got {address} at {stamp(WALL)}")
    assert answer["details"][0] == f"CHECK at {stamp(WALL + 1)} answered ok"


# -- pending and unknown -----------------------------------------------------------------


def test_a_pod_the_api_shows_pending_with_no_add_seen_is_pending():
    node = Node()
    seen: list[tuple[str, str]] = []

    def pending(namespace: str, name: str) -> bool:
        seen.append((namespace, name))
        return (namespace, name) == ("default", "web-9")

    answer = explain("default/web-9", node.context(pending=pending))
    assert answer["verdict"] == "pending"
    assert answer["pending_in_kubernetes"] is True
    assert answer["summary"] == (
        "default/web-9 is Pending on this node; its runtime has not asked yet"
    )
    assert set(seen) == {("default", "web-9")}


def test_a_bare_name_the_api_shows_pending_is_pending_in_its_namespace(node: Node):
    pods = {("shop", "web-9"), ("default", "api-1"), ("batch", "api-1")}

    def pending(namespace: str, name: str) -> bool:
        return (namespace, name) in pods

    context = dataclasses.replace(
        node.context(pending=pending),
        pending_named=lambda name: [ns for ns, n in pods if n == name],
    )
    answer = explain("web-9", context)
    assert answer["verdict"] == "pending"
    assert answer["summary"].startswith("shop/web-9 is Pending")
    with pytest.raises(BadQuery) as ambiguous:
        explain("api-1", context)
    assert ambiguous.value.extra["candidates"] == ["batch/api-1", "default/api-1"]


def test_a_pod_the_api_does_not_show_pending_is_unknown(node: Node):
    answer = explain("default/web-9", node.context(pending=lambda _ns, _name: False))
    assert answer["verdict"] == "unknown"
    assert answer["pending_in_kubernetes"] is False


def test_a_refused_pod_that_is_also_pending_says_both(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node")
    node.refused_add("abc123def")
    answer = explain("default/web-1", node.context(pending=lambda _ns, _name: True))
    assert answer["verdict"] == "refused"
    assert answer["pending_in_kubernetes"] is True


def test_nothing_matching_is_unknown_and_the_details_say_what_was_searched(node: Node):
    node.add("abc123def")
    answer = explain("nobody-here", node.context())
    assert answer == {
        "query": "nobody-here",
        "allocation": None,
        "wiring": None,
        "requests": [],
        "pending_in_kubernetes": False,
        "verdict": "unknown",
        "summary": "nothing on this node matches 'nobody-here'",
        "details": answer["details"],
    }
    assert "container id (prefix of 6+), namespace/name, pod name and address" in text(answer)


# -- query forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "0123456789abcdef",  # the container id
        "012345",  # a prefix of 6
        "0123456789ab",  # a longer prefix
        "default/web-1",
        "web-1",
        "10.0.1.16",
        "  default/web-1\n",  # surrounding space is ignored
    ],
)
def test_every_query_form_finds_the_pod(node: Node, query: str):
    node.add("0123456789abcdef")
    answer = explain(query, node.context())
    assert answer["verdict"] == "assigned"
    assert answer["allocation"]["address"] == "10.0.1.16"
    assert answer["query"] == query.strip()


def test_a_container_prefix_shorter_than_6_matches_nothing(node: Node):
    node.add("0123456789abcdef")
    assert explain("01234", node.context())["verdict"] == "unknown"


def test_a_container_id_is_found_in_the_requests_when_no_allocation_holds_it(node: Node):
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node")
    node.refused_add("0123456789abcdef", "prod/api-7")
    answer = explain("0123456789", node.context(pending=lambda _ns, _name: True))
    assert answer["verdict"] == "refused"
    assert answer["summary"].startswith("prod/api-7 has no address")
    assert answer["pending_in_kubernetes"] is True


def test_namespace_and_name_must_both_match(node: Node):
    node.add("abc123def", "default/web-1")
    assert explain("prod/web-1", node.context())["verdict"] == "unknown"
    assert explain("default/web-2", node.context())["verdict"] == "unknown"


def test_an_address_no_pod_holds_or_was_given_is_unknown(node: Node):
    node.add("abc123def")
    assert explain("10.0.1.30", node.context())["verdict"] == "unknown"


def test_a_bare_name_in_two_namespaces_is_ambiguous_and_lists_the_candidates(node: Node):
    node.add("abc123def", "default/web-1")
    node.refusal = CniError(TRY_AGAIN_LATER, "no free address on this node")
    node.refused_add("fed321cba", "prod/web-1")
    with pytest.raises(BadQuery) as ambiguous:
        explain("web-1", node.context())
    assert "2 namespaces" in str(ambiguous.value)
    assert ambiguous.value.extra == {"candidates": ["default/web-1", "prod/web-1"]}
    assert explain("prod/web-1", node.context())["verdict"] == "refused"


def test_a_container_prefix_matching_two_containers_is_ambiguous(node: Node):
    node.add("abcdef0001", "default/web-1")
    node.add("abcdef0002", "default/web-2")
    with pytest.raises(BadQuery) as ambiguous:
        explain("abcdef", node.context())
    assert ambiguous.value.extra == {"candidates": ["abcdef0001", "abcdef0002"]}
    assert explain("abcdef0002", node.context())["allocation"]["pod"]["name"] == "web-2"


@pytest.mark.parametrize("query", ["", "   ", "\n"])
def test_an_empty_query_is_a_bad_query(node: Node, query: str):
    with pytest.raises(BadQuery, match="say which pod"):
        explain(query, node.context())


# -- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def served(node: Node) -> Iterator[int]:
    context = node.context()
    routes = {"/v1/why": lambda q: explain(q.get("q", ""), context)}
    server = IntrospectionServer(BindAddress(host="127.0.0.1", port=0), routes).start()
    try:
        yield int(server.address.rsplit(":", 1)[1])
    finally:
        server.stop()


def get(port: int, path: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_an_ambiguous_name_reaches_a_client_as_400_with_the_candidates(node: Node, served: int):
    node.add("abc123def", "default/web-1")
    node.add("fed321cba", "prod/web-1")
    status, answer = get(served, "/v1/why?q=web-1")
    assert status == 400
    assert answer["candidates"] == ["default/web-1", "prod/web-1"]
    status, answer = get(served, "/v1/why?q=prod%2Fweb-1")
    assert (status, answer["verdict"]) == (200, "assigned")
    status, answer = get(served, "/v1/why")
    assert status == 400 and "say which pod" in answer["error"]
