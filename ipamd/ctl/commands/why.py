"""``vpc-ipamctl why QUERY``: why a pod has the address it has, or none, from /v1/why.

Prints the verdict, the daemon's summary and details, the allocation, the host wiring and
the CNI requests that match. The exit code lets a script test the answer: 0 when the pod
is wired (or assigned, another plugin wiring it), 1 otherwise, 2 when the query is
ambiguous (the daemon's 400, whose candidates are printed).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ipamd.ctl import introspection, render
from ipamd.ctl.render import cell, clock, items, mapping, plain, pod_name

GOOD_VERDICTS = frozenset({"wired", "assigned"})
REQUESTS_SHOWN = 5


def run(args: argparse.Namespace) -> int:
    path = "/v1/why?q=" + quote(args.query, safe="")
    try:
        document = introspection.get(args.introspection, path, timeout=args.timeout)
    except introspection.BadAnswer as error:
        if error.status != 400:
            render.fail("why", str(error))
            return 1
        if args.json and error.document is not None:
            render.print_json(error.document)
        render.fail("why", str(error))
        candidates = (error.document or {}).get("candidates")
        if isinstance(candidates, list) and candidates:
            render.fail("why", "candidates: " + ", ".join(_candidate(c) for c in candidates))
        return 2
    except introspection.IntrospectionError as error:
        render.fail("why", str(error))
        return 1
    if args.json:
        render.print_json(document)
    else:
        show(render.console(), document)
    return 0 if document.get("verdict") in GOOD_VERDICTS else 1


def _candidate(candidate: object) -> str:
    if isinstance(candidate, Mapping):
        if "pod" in candidate or "name" in candidate:
            who = pod_name(candidate.get("pod", candidate))
            address = candidate.get("address")
            return f"{who} ({address})" if address else who
        return plain(candidate)
    return str(candidate)


def show(out: Console, why: Mapping[str, Any]) -> None:
    verdict = str(why.get("verdict") or "unknown")
    line = Text(f"{plain(why.get('query'))}: ", style="bold")
    line.append(verdict, style=render.VERDICT_STYLES.get(verdict, ""))
    out.print(line)
    if why.get("summary"):
        out.print(Text(str(why["summary"])))
    if why.get("pending_in_kubernetes"):
        out.print(Text("Kubernetes shows the pod Pending on this node", style="yellow"))
    for detail in items(why, "details"):
        out.print(Text("  - " + plain(detail)))
    allocation = mapping(why, "allocation")
    if allocation:
        out.print(allocation_table(allocation))
    wiring = mapping(why, "wiring")
    if wiring:
        out.print(wiring_table(wiring))
    requests = [r for r in items(why, "requests") if isinstance(r, Mapping)]
    if requests:
        out.print(request_table(requests[-REQUESTS_SHOWN:]))


def _pairs(title: str, rows: list[tuple[str, Text]]) -> Table:
    out = Table.grid(padding=(0, 2))
    out.title = title
    out.title_justify = "left"
    out.title_style = "bold"
    out.add_column(style="bold", no_wrap=True)
    out.add_column(overflow="fold")
    for name, value in rows:
        out.add_row(name, value)
    return out


def allocation_table(allocation: Mapping[str, Any]) -> Table:
    attachment = "/".join(plain(allocation.get(k)) for k in ("network", "container_id", "ifname"))
    pod = Text(pod_name(allocation.get("pod")))
    if allocation.get("recovered"):
        pod.append(" (recovered from the host, pod unknown)", style="yellow")
    return _pairs(
        "allocation",
        [
            ("address", cell(allocation.get("address"))),
            ("interface", cell(allocation.get("interface_id"))),
            ("block", cell(allocation.get("block"))),
            ("pod", pod),
            ("attachment", cell(attachment)),
            ("assigned", cell(_when(allocation.get("assigned_at")))),
        ],
    )


def _when(at: object) -> str:
    if render.parse_time(at) is None:
        return plain(at)
    return f"{at} ({render.age(at)} ago)"


def _check(value: object) -> Text:
    if value is True:
        return Text("ok", style="green")
    if value is False:
        return Text("missing", style="bold red")
    return cell(value)


def wiring_table(wiring: Mapping[str, Any]) -> Table:
    problems = items(wiring, "problems")
    rows = [
        ("veth", cell(wiring.get("veth"))),
        ("route", _check(wiring.get("route"))),
        ("rule 512 (to)", _check(wiring.get("rule_to"))),
        ("rule 1536 (from)", _check(wiring.get("rule_from"))),
        ("table", cell(wiring.get("table"))),
    ]
    if problems:
        rows.append(("problems", Text("\n".join(plain(p) for p in problems), style="red")))
    return _pairs("wiring", rows)


def request_table(requests: list[Mapping[str, Any]]) -> Table:
    out = render.table(title="CNI requests (newest last)")
    out.add_column("TIME", no_wrap=True)
    out.add_column("OP", no_wrap=True)
    out.add_column("CODE", no_wrap=True, justify="right")
    out.add_column("ADDRESS", no_wrap=True)
    out.add_column("MESSAGE", overflow="fold")
    for request in requests:
        code = request.get("code")
        out.add_row(
            clock(request.get("at")),
            cell(request.get("op")),
            cell(code, "" if code == 0 else "red"),
            cell(request.get("address")),
            cell(request.get("message")),
        )
    return out
