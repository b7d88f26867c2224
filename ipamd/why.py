"""``why``: what address a pod has and where it is wired, or why it has none.

The question operators ask most ("why did my pod get no IP?") answered from what the
daemon already knows: its allocations, the host's wiring of one of them, the CNI requests
it answered lately (``ipamd.requestlog``), why the pool cannot grow right now, and whether
the Kubernetes API shows the pod waiting. A query is a container id (or a unique prefix of
at least 6 characters), ``namespace/name``, a bare pod name, or an address; the answer's
shape is documented in docs/introspection.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from ipamd.introspect import BadQuery
from ipamd.model import Allocation
from ipamd.requestlog import RequestLog, RequestRecord
from ipamd.views import allocation_json, request_json, stamp

MIN_PREFIX = 6
TRY_AGAIN_LATER = 11


@dataclass(frozen=True, slots=True)
class Wiring:
    """The host side of one pod's wiring, as netlink shows it now."""

    veth: str | None
    route: bool
    rule_to: bool
    rule_from: bool | None
    """None when the address needs no rule 1536 (primary interface)."""
    table: int | None
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "veth": self.veth,
            "route": self.route,
            "rule_to": self.rule_to,
            "rule_from": self.rule_from,
            "table": self.table,
            "problems": list(self.problems),
        }


@dataclass
class WhyContext:
    allocations: Callable[[], Sequence[Allocation]]
    requests: RequestLog
    blocked: Callable[[], str | None]
    available: Callable[[], int]
    wiring: Callable[[Allocation], Wiring] | None = None
    """None with the ``none`` dataplane: another plugin wires pods."""
    pending: Callable[[str, str], bool] | None = None
    pending_named: Callable[[str], list[str]] | None = None
    """name -> the namespaces where the API shows a pod of that name Pending on this node."""
    """(namespace, name) -> the API shows it Pending on this node; None without the layer."""
    max_pods: Callable[[], int] = field(default=lambda: 0)


@dataclass(frozen=True, slots=True)
class _Match:
    allocations: tuple[Allocation, ...]
    records: tuple[RequestRecord, ...]
    namespace: str = ""
    name: str = ""


def explain(query: str, context: WhyContext) -> dict[str, Any]:
    """The ``/v1/why`` answer; BadQuery when the query is empty or matches several pods."""
    query = query.strip()
    if not query:
        raise BadQuery("say which pod: ?q=<container id, namespace/name, name or address>")
    match = _find(query, context)
    answer: dict[str, Any] = {
        "query": query,
        "allocation": None,
        "wiring": None,
        "requests": [request_json(r) for r in match.records],
        "pending_in_kubernetes": False,
    }
    if match.allocations:
        return {**answer, **_held(match.allocations[0], context)}
    if match.namespace and context.pending is not None:
        answer["pending_in_kubernetes"] = context.pending(match.namespace, match.name)
    return {**answer, **_not_held(query, match, context)}


def _find(query: str, context: WhyContext) -> _Match:
    allocations = context.allocations()
    try:
        address = IPv4Address(query)
    except ValueError:
        address = None
    if address is not None:
        held = tuple(a for a in allocations if a.address == address)
        # only an ADD's record names the address; the DEL that released it names the attachment
        given = {r.attachment for r in context.requests.matching(lambda r: r.address == query)}
        records = context.requests.matching(
            lambda r: r.address == query or (bool(r.container_id) and r.attachment in given)
        )
        return _Match(held, tuple(records))
    if "/" in query:
        namespace, _, name = query.partition("/")
        held = tuple(a for a in allocations if (a.pod.namespace, a.pod.name) == (namespace, name))
        records = context.requests.matching(
            lambda r: (r.pod.namespace, r.pod.name) == (namespace, name)
        )
        return _Match(held, tuple(records), namespace, name)
    by_name = _by_pod_name(query, allocations, context)
    if by_name is not None:
        return by_name
    return _by_container(query, allocations, context)


def _by_pod_name(
    query: str, allocations: Sequence[Allocation], context: WhyContext
) -> _Match | None:
    held = [a for a in allocations if a.pod.name == query]
    records = context.requests.matching(lambda r: r.pod.name == query)
    namespaces = sorted({a.pod.namespace for a in held} | {r.pod.namespace for r in records})
    if not namespaces and context.pending_named is not None:
        namespaces = sorted(context.pending_named(query))  # asked before its runtime asked us
    if not namespaces:
        return None
    if len(namespaces) > 1:
        raise BadQuery(
            f"pod name {query!r} is in {len(namespaces)} namespaces; ask for namespace/name",
            candidates=[f"{ns}/{query}" for ns in namespaces],
        )
    return _Match(tuple(held), tuple(records), namespaces[0], query)


def _by_container(query: str, allocations: Sequence[Allocation], context: WhyContext) -> _Match:
    def fits(container_id: str) -> bool:
        return container_id == query or (
            len(query) >= MIN_PREFIX and container_id.startswith(query)
        )

    held = [a for a in allocations if fits(a.key.container_id)]
    records = context.requests.matching(lambda r: fits(r.container_id))
    containers = sorted({a.key.container_id for a in held} | {r.container_id for r in records})
    if len(containers) > 1:
        raise BadQuery(
            f"{query!r} matches {len(containers)} containers; give more of the id",
            candidates=containers,
        )
    pods = {(a.pod.namespace, a.pod.name) for a in held} | {
        (r.pod.namespace, r.pod.name) for r in records
    }
    namespace, name = sorted(pods)[0] if len(pods) == 1 else ("", "")
    return _Match(tuple(held), tuple(records), namespace, name)


def _held(allocation: Allocation, context: WhyContext) -> dict[str, Any]:
    who = str(allocation.pod) if allocation.pod.name else str(allocation.key)
    source = f"{allocation.address} from {allocation.interface_id} ({allocation.block})"
    details = [
        f"{who} holds {source} since {stamp(allocation.assigned_at)} (attachment {allocation.key})"
    ]
    if allocation.recovered:
        details.append("rebuilt from the host's wiring after the checkpoint was lost")
    if context.wiring is None:
        details.append("the dataplane is 'none': another plugin wires the pod")
        return {
            "verdict": "assigned",
            "summary": f"{who} has {source}; the dataplane is none",
            "allocation": allocation_json(allocation),
            "details": details,
        }
    wiring = context.wiring(allocation)
    if wiring.problems:
        details += [f"wiring: {p}" for p in wiring.problems]
        verdict, summary = "miswired", f"{who} has {source} but its wiring is incomplete"
    else:
        where = f"veth {wiring.veth}"
        if wiring.table is not None:
            where += f", replies through table {wiring.table}"
        details.append(
            f"host wiring complete: route to {wiring.veth}, rule 512"
            + (", rule 1536" if wiring.rule_from else "")
        )
        verdict, summary = "wired", f"{who} has {source}, wired on {where}"
    return {
        "verdict": verdict,
        "summary": summary,
        "allocation": allocation_json(allocation),
        "wiring": wiring.to_json(),
        "details": details,
    }


def _not_held(query: str, match: _Match, context: WhyContext) -> dict[str, Any]:
    who = f"{match.namespace}/{match.name}" if match.name else query
    latest = match.records[-1] if match.records else None
    if latest is None:
        if (
            match.namespace
            and context.pending is not None
            and context.pending(match.namespace, match.name)
        ):
            return {
                "verdict": "pending",
                "summary": f"{who} is Pending on this node; its runtime has not asked yet",
                "details": ["the Kubernetes API shows it Pending with no IP; no ADD seen"],
            }
        return {
            "verdict": "unknown",
            "summary": f"nothing on this node matches {query!r}",
            "details": [
                "searched allocations and the last CNI requests by container id (prefix of "
                f"{MIN_PREFIX}+), namespace/name, pod name and address",
                "is the pod scheduled on this node? `kubectl get pod -o wide` says where",
            ],
        }
    last_add = next((r for r in reversed(match.records) if r.op == "add"), None)
    if last_add is not None and last_add.code != 0:  # a DEL after a failed ADD is the cleanup
        return _refused(who, match, last_add, context)
    when = stamp(latest.at)
    if latest.op in ("del", "gc"):
        return {
            "verdict": "released",
            "summary": f"{who} held an address until a {latest.op.upper()} at {when}",
            "details": [f"{latest.op.upper()} at {when} answered {_answer(latest)}"],
        }
    got = last_add or latest
    return {
        "verdict": "released",
        "summary": f"{who} got {got.address or 'an address'} at {stamp(got.at)}; "
        "it has been released since",
        "details": [
            f"{latest.op.upper()} at {when} answered {_answer(latest)}",
            "released without a DEL: by CNI GC, the leak sweep (pod gone from the API) or "
            "reconciliation (the cloud took the address back); the daemon's log says which",
        ],
    }


def _refused(who: str, match: _Match, latest: RequestRecord, context: WhyContext) -> dict[str, Any]:
    refusals = [r for r in match.records if r.op == "add" and r.code != 0]
    details = [
        f"ADD refused {len(refusals)} time(s) since {stamp(refusals[0].at)}; "
        f"the last at {stamp(latest.at)}: {_answer(latest)}"
    ]
    blocked = context.blocked()
    if blocked:
        details.append(f"the pool cannot grow now: {blocked}")
    elif latest.code == TRY_AGAIN_LATER:
        details.append(
            f"the pool is not blocked now ({context.available()} addresses available); "
            "the runtime retries and the next ADD should succeed"
        )
    if "max pods" in (blocked or latest.message):
        details.append(
            f"this node runs at most {context.max_pods()} pods (the kubelet's max pods); "
            "pods beyond it belong on another node"
        )
    return {
        "verdict": "refused",
        "summary": f"{who} has no address: {latest.message}",
        "details": details,
    }


def _answer(record: RequestRecord) -> str:
    if record.code == 0:
        return "ok" + (f" ({record.address})" if record.address else "")
    return f"error {record.code}: {record.message}"
