"""``vpc-ipamctl doctor [--repair] [--yes]``: the doctor's findings, and the safe repairs.

Reads /v1/doctor and shows its findings. With --repair it asks before changing anything
(on a terminal; a script must say --yes, and without either it is refused with exit 2),
then sends the ids of the safe findings it showed to the daemon's socket (op ``repair``,
see :mod:`ipamd.ctl.repair`): the daemon diagnoses again and repairs only those still
present and safe. Exit 0 when nothing is found (after the repair), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ipamd.ctl import introspection, render, repair
from ipamd.ctl.render import cell, clock, items, mapping, plain


def run(args: argparse.Namespace) -> int:
    try:
        doctor = introspection.get(args.introspection, "/v1/doctor", timeout=args.timeout)
    except introspection.IntrospectionError as error:
        render.fail("doctor", str(error))
        return 1
    findings = [f for f in items(doctor, "findings") if isinstance(f, Mapping)]
    out = render.console()
    if not args.json:
        show(out, doctor, findings)
    if not args.repair:
        if args.json:
            render.print_json(doctor)
        return 1 if findings else 0
    code, answer = _repair(args, findings)
    if args.json:
        render.print_json({"doctor": doctor, "repair": answer})
    elif answer is not None:
        show_repair(out, answer)
    return code


def _repair(
    args: argparse.Namespace, findings: list[Mapping[str, Any]]
) -> tuple[int, dict[str, object] | None]:
    """(exit code, the daemon's repair answer or None when nothing was sent)."""
    if not findings:
        return 0, None
    safe = [str(f["id"]) for f in findings if f.get("safe") is True and f.get("id")]
    if not safe:
        render.fail("doctor", f"nothing to repair: none of the {len(findings)} findings is safe")
        return 1, None
    if not args.yes:
        if not sys.stdin.isatty():
            render.fail(
                "doctor",
                "refusing to repair without confirmation: stdin is not a terminal "
                "(pass --yes to repair the safe findings)",
            )
            return 2, None
        if not confirm(f"Repair {len(safe)} safe finding{'s' if len(safe) != 1 else ''}?", args):
            render.fail("doctor", "nothing repaired")
            return 1, None
    try:
        answer = repair.send(args.socket, safe, timeout=args.timeout)
    except repair.RepairFailed as error:
        render.fail("doctor", f"repair failed: {error}")
        return 1, None
    return (0 if answer.get("findings_left") == 0 else 1), answer


def confirm(question: str, args: argparse.Namespace) -> bool:
    """Ask on the terminal; only y or yes (any case) is a yes. Under --json the question goes
    to stderr so stdout stays one JSON document."""
    stream = sys.stderr if args.json else sys.stdout
    print(f"{question} [y/N] ", end="", file=stream, flush=True)
    reply = sys.stdin.readline()
    if not reply.endswith("\n"):
        print(file=stream)  # end of input: finish the prompt's line
    return reply.strip().lower() in {"y", "yes"}


def show(out: Console, doctor: Mapping[str, Any], findings: list[Mapping[str, Any]]) -> None:
    checked = mapping(doctor, "checked")
    what = ", ".join(f"{plain(n)} {k.replace('_', ' ')}" for k, n in checked.items())
    line = Text(f"checked {what or 'nothing'}", style="dim")
    line.append(
        f" (dataplane {plain(doctor.get('dataplane'))}; at {clock(doctor.get('checked_at'))}, "
        f"cloud view of {clock(doctor.get('cloud_checked_at'))})"
    )
    if doctor.get("dataplane") == "none":
        line.append("; host checks skipped: another plugin wires the pods")
    out.print(line)
    if not findings:
        out.print(Text("no findings: pool, host and cloud agree", style="bold green"))
        return
    out.print(findings_table(findings))
    safe = sum(1 for f in findings if f.get("safe") is True)
    summary = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}, {safe} safe to repair"
    if safe:
        summary += " (vpc-ipamctl doctor --repair)"
    if safe < len(findings):
        summary += f"; {len(findings) - safe} need an operator"
    out.print(Text(summary, style="bold"))


def findings_table(findings: list[Mapping[str, Any]]) -> Table:
    """KIND, ADDRESS and SAFE, then the subject, the detail and the repair as three lines of
    one wide column, so that none of them is squeezed into a narrow one."""
    out = render.table(title="findings")
    out.add_column("KIND", no_wrap=True, style="bold")
    out.add_column("ADDRESS", no_wrap=True)
    out.add_column("SAFE", no_wrap=True)
    out.add_column("SUBJECT / DETAIL / REPAIR", overflow="fold")
    for finding in findings:
        safe = finding.get("safe") is True
        explained = Text(plain(finding.get("subject")), style="bold")
        explained.append("\n" + plain(finding.get("detail")), style="")
        if finding.get("repair"):
            explained.append(f"\n-> {finding['repair']}", style="cyan" if safe else "yellow")
        out.add_row(
            cell(finding.get("kind")),
            cell(finding.get("address")),
            cell(safe, "green" if safe else "bold red"),
            explained,
        )
    return out


def show_repair(out: Console, answer: Mapping[str, Any]) -> None:
    for done in items(answer, "repaired"):
        if isinstance(done, Mapping):
            out.print(
                Text("repaired ", style="green")
                + Text(f"{plain(done.get('kind'))} {plain(done.get('id'))}: ")
                + Text(plain(done.get("action")))
            )
    for skipped in items(answer, "skipped"):
        if isinstance(skipped, Mapping):
            out.print(
                Text("skipped ", style="yellow")
                + Text(f"{plain(skipped.get('id'))}: {plain(skipped.get('reason'))}")
            )
    left = answer.get("findings_left")
    out.print(Text(f"findings left: {plain(left)}", style="bold" if left == 0 else "bold red"))
