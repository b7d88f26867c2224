"""vpc-ipamctl doctor: the findings from introspection, and --repair over the daemon's socket
(asked on a terminal, or --yes), sending only the safe findings the operator saw."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from cni.errors import INTERNAL, CniError
from cni.messages import RepairArgs, Request
from ipamd import ctl
from ipamd.ctl.repair import BATCH
from tests.unit.ctl import documents
from tests.unit.ctl.support import IntrospectionServer

SAFE_IDS = ("3f9a0c1e22b7", "a81d5e0c9f42")


class Stdin(io.StringIO):
    """What the operator types; a terminal or not."""

    def __init__(self, text: str, *, tty: bool) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch):
    def set_stdin(text: str = "", *, tty: bool) -> None:
        monkeypatch.setattr(sys, "stdin", Stdin(text, tty=tty))

    set_stdin(tty=False)
    return set_stdin


def doctor(endpoint: IntrospectionServer, sock_path: Path, *extra: str) -> int:
    argv = ["doctor", "--introspection", endpoint.address, "--socket", str(sock_path)]
    return ctl.main([*argv, *extra])


def repairs_with(findings_left: int):
    def answer(request: Request) -> dict[str, object]:
        assert request.op == "repair"
        return documents.repaired(findings_left)

    return answer


def sent_ids(daemon) -> list[tuple[str, ...]]:
    ids = []
    for request in daemon.requests:
        assert isinstance(request.args, RepairArgs)
        ids.append(request.args.findings)
    return ids


def test_no_findings_exits_0(endpoint, sock_path, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR_CLEAN)
    assert doctor(endpoint, sock_path) == 0
    out = capsys.readouterr().out
    assert "checked 12 allocations, 12 veths, 3 cloud interfaces, 27 cloud blocks" in out
    assert "no findings" in out


def test_findings_are_a_table_and_exit_1(endpoint, sock_path, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    assert doctor(endpoint, sock_path) == 1
    out = capsys.readouterr().out
    for header in ("KIND", "ADDRESS", "SAFE", "SUBJECT / DETAIL / REPAIR"):
        assert header in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:1].isalpha()}
    assert rows["allocation-without-veth"] == [
        "allocation-without-veth", "10.0.1.23", "yes", "vpc-ipam/abc123/eth0", "(default/web-1)",
    ]  # fmt: skip
    assert rows["duplicate-address"] == [
        "duplicate-address", "10.0.1.7", "no", "default/web-2,", "default/web-3",
    ]  # fmt: skip
    assert "-> release 10.0.1.23 (it cools down before reuse)" in out
    assert "3 findings, 2 safe to repair (vpc-ipamctl doctor --repair); 1 need an operator" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_json_prints_the_doctors_document_unchanged(endpoint, sock_path, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    assert doctor(endpoint, sock_path, "--json") == 1
    assert json.loads(capsys.readouterr().out) == documents.DOCTOR


def test_repair_yes_sends_only_the_safe_findings(endpoint, sock_path, serve, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    daemon = serve(repairs_with(findings_left=1))
    # the duplicate address is not safe: it is still there, so exit 1
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 1
    assert sent_ids(daemon) == [SAFE_IDS]
    out = capsys.readouterr().out
    assert "repaired allocation-without-veth 3f9a0c1e22b7: released 10.0.1.23" in out
    assert "repaired missing-rule a81d5e0c9f42: added rule 512 to 10.0.1.44" in out
    assert "findings left: 1" in out


def test_repair_exits_0_when_no_finding_is_left(endpoint, sock_path, serve, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR_SAFE_ONLY)
    daemon = serve(repairs_with(findings_left=0))
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 0
    assert sent_ids(daemon) == [SAFE_IDS]
    assert "findings left: 0" in capsys.readouterr().out


def test_skipped_findings_are_shown(endpoint, sock_path, serve, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR_SAFE_ONLY)
    answer = {
        "repaired": [],
        "skipped": [{"id": "3f9a0c1e22b7", "kind": "allocation-without-veth", "reason": "gone"}],
        "findings_left": 1,
    }
    serve(lambda request: answer)
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 1
    assert "skipped 3f9a0c1e22b7: gone" in capsys.readouterr().out


def test_repair_without_a_terminal_or_yes_is_refused(endpoint, sock_path, serve, stdin, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    daemon = serve(repairs_with(findings_left=0))
    stdin("y\n", tty=False)  # piped input is not a confirmation
    assert doctor(endpoint, sock_path, "--repair") == 2
    assert daemon.requests == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "stdin is not a terminal" in err and "pass --yes" in err


@pytest.mark.parametrize("reply", ["y\n", "Y\n", "yes\n"])
def test_repair_on_a_terminal_asks_and_a_yes_repairs(
    endpoint, sock_path, serve, stdin, capsys, reply
):
    endpoint.serve("/v1/doctor", documents.DOCTOR_SAFE_ONLY)
    daemon = serve(repairs_with(findings_left=0))
    stdin(reply, tty=True)
    assert doctor(endpoint, sock_path, "--repair") == 0
    assert sent_ids(daemon) == [SAFE_IDS]
    assert "Repair 2 safe findings? [y/N] " in capsys.readouterr().out


@pytest.mark.parametrize("reply", ["n\n", "\n", "", "yep\n"])
def test_repair_on_a_terminal_without_a_yes_changes_nothing(
    endpoint, sock_path, serve, stdin, capsys, reply
):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    daemon = serve(repairs_with(findings_left=0))
    stdin(reply, tty=True)
    assert doctor(endpoint, sock_path, "--repair") == 1
    assert daemon.requests == []
    out, err = capsys.readouterr()
    assert "Repair 2 safe findings? [y/N] " in out
    assert "nothing repaired" in err


def test_repair_with_only_unsafe_findings_sends_nothing(endpoint, sock_path, serve, capsys):
    unsafe_only = {**documents.DOCTOR, "findings": documents.DOCTOR["findings"][2:]}
    endpoint.serve("/v1/doctor", unsafe_only)
    daemon = serve(repairs_with(findings_left=1))
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 1
    assert daemon.requests == []
    assert "none of the 1 findings is safe" in capsys.readouterr().err


def test_repair_with_no_findings_sends_nothing_and_exits_0(endpoint, sock_path, serve, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR_CLEAN)
    daemon = serve(repairs_with(findings_left=0))
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 0
    assert daemon.requests == []


def test_json_with_repair_prints_both_documents(endpoint, sock_path, serve, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    serve(repairs_with(findings_left=1))
    assert doctor(endpoint, sock_path, "--repair", "--yes", "--json") == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"doctor": documents.DOCTOR, "repair": documents.repaired(1)}


def test_json_on_a_terminal_asks_on_stderr(endpoint, sock_path, serve, stdin, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR_SAFE_ONLY)
    serve(repairs_with(findings_left=0))
    stdin("y\n", tty=True)
    assert doctor(endpoint, sock_path, "--repair", "--json") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["repair"]["findings_left"] == 0
    assert "Repair 2 safe findings? [y/N]" in err


def test_a_repair_the_daemon_refuses_exits_1(endpoint, sock_path, serve, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    serve(lambda request: CniError(INTERNAL, "repair failed", "netlink: EPERM"))
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 1
    assert "repair failed: repair failed; netlink: EPERM" in capsys.readouterr().err


def test_a_repair_without_the_daemons_socket_exits_1(endpoint, sock_path, capsys):
    endpoint.serve("/v1/doctor", documents.DOCTOR)
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 1
    err = capsys.readouterr().err
    assert f"vpc-ipamd is not reachable at {sock_path}" in err


def test_exit_1_when_the_endpoint_is_not_there(endpoint, sock_path, serve, capsys):
    daemon = serve(repairs_with(findings_left=0))
    endpoint.close()
    assert doctor(endpoint, sock_path, "--repair", "--yes") == 1
    assert daemon.requests == []
    assert "vpc-ipamctl doctor: cannot reach the introspection endpoint" in capsys.readouterr().err


def test_many_safe_findings_go_in_batches_whose_answers_fit_one_message(
    endpoint, sock_path, serve, capsys
):
    many = [
        {
            **documents.DOCTOR["findings"][0],
            "id": f"{n:012x}",
            "address": f"10.0.{n // 250}.{n % 250}",
        }
        for n in range(2 * BATCH + 1)
    ]
    endpoint.serve("/v1/doctor", {**documents.DOCTOR, "findings": many})
    left = iter([BATCH + 1, 1, 0])

    def answer(request: Request) -> dict[str, object]:
        assert isinstance(request.args, RepairArgs)
        repaired = [{"id": i, "kind": "allocation-without-veth", "action": "released"}
                    for i in request.args.findings]  # fmt: skip
        return {"repaired": repaired, "skipped": [], "findings_left": next(left)}

    daemon = serve(answer)
    assert doctor(endpoint, sock_path, "--repair", "--yes", "--json") == 0
    assert [len(ids) for ids in sent_ids(daemon)] == [BATCH, BATCH, 1]
    repair = json.loads(capsys.readouterr().out)["repair"]
    assert len(repair["repaired"]) == 2 * BATCH + 1
    assert repair["findings_left"] == 0
