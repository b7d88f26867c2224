"""vpc-ipamctl why: the daemon's verdict on one pod, and an exit code scripts can test."""

from __future__ import annotations

import json

import pytest

from ipamd import ctl
from tests.unit.ctl import documents
from tests.unit.ctl.support import IntrospectionServer


def why(endpoint: IntrospectionServer, query: str, *extra: str) -> int:
    return ctl.main(["why", query, "--introspection", endpoint.address, *extra])


def test_a_wired_pod_exits_0_with_its_allocation_and_wiring(endpoint, capsys):
    endpoint.serve("/v1/why?q=default%2Fweb-1", documents.WHY_WIRED)
    assert why(endpoint, "default/web-1") == 0
    out = capsys.readouterr().out
    assert endpoint.paths == ["/v1/why?q=default%2Fweb-1"]
    assert out.startswith("default/web-1: wired\n")
    assert "wired on veth vpc1a2b3c4d5e" in out
    assert "  - route 10.0.1.43 dev vpc1a2b3c4d5e, rule 512" in out
    assert "eni-0b2e4d6f8a1c3e5b7" in out
    assert "vpc-ipam/abc123def4567890aa11bb22cc33dd44ee55ff66/eth0" in out
    assert "rule 1536 (from)  ok" in out
    [request] = [line.split() for line in out.splitlines() if line.startswith("10:00:07Z")]
    assert request == ["10:00:07Z", "add", "0", "10.0.1.43", "-"]


def test_an_assigned_pod_exits_0(endpoint, capsys):
    assigned = {**documents.WHY_WIRED, "verdict": "assigned", "wiring": None}
    endpoint.serve("/v1/why?q=default%2Fweb-1", assigned)
    assert why(endpoint, "default/web-1") == 0
    assert "default/web-1: assigned" in capsys.readouterr().out


def test_a_refused_pod_exits_1_with_the_daemons_reasons(endpoint, capsys):
    endpoint.serve("/v1/why?q=job-7", documents.WHY_REFUSED)
    assert why(endpoint, "job-7") == 1
    out = capsys.readouterr().out
    assert "batch/job-7: refused" in out
    assert "Kubernetes shows the pod Pending on this node" in out
    assert "the node is at max pods (29)" in out
    assert "no free address: 29 of 29 pods (max pods)" in out


@pytest.mark.parametrize("verdict", ["miswired", "released", "pending", "unknown"])
def test_every_other_verdict_exits_1(endpoint, verdict, capsys):
    endpoint.serve("/v1/why?q=10.0.1.99", {**documents.WHY_REFUSED, "verdict": verdict})
    assert why(endpoint, "10.0.1.99") == 1
    assert f": {verdict}" in capsys.readouterr().out


def test_a_miswired_pod_shows_what_is_missing(endpoint, capsys):
    miswired = {
        **documents.WHY_WIRED,
        "verdict": "miswired",
        "wiring": {
            **documents.WHY_WIRED["wiring"],
            "rule_to": False,
            "problems": ["no rule 512 to 10.0.1.43"],
        },
    }
    endpoint.serve("/v1/why?q=default%2Fweb-1", miswired)
    assert why(endpoint, "default/web-1") == 1
    out = capsys.readouterr().out
    assert "rule 512 (to)     missing" in out
    assert "no rule 512 to 10.0.1.43" in out


def test_the_query_is_url_encoded(endpoint, capsys):
    assert why(endpoint, "a b&c=d/é") == 1  # the fake answers 404 for what it does not know
    assert endpoint.paths == ["/v1/why?q=a%20b%26c%3Dd%2F%C3%A9"]


def test_an_ambiguous_query_exits_2_with_the_candidates(endpoint, capsys):
    endpoint.serve("/v1/why?q=web-1", documents.WHY_AMBIGUOUS, status=400)
    assert why(endpoint, "web-1") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "HTTP 400: pod name 'web-1' is in 2 namespaces; ask for namespace/name" in err
    assert "candidates: default/web-1, staging/web-1" in err


def test_json_prints_the_daemons_document_and_keeps_the_exit_code(endpoint, capsys):
    endpoint.serve("/v1/why?q=job-7", documents.WHY_REFUSED)
    assert why(endpoint, "job-7", "--json") == 1
    assert json.loads(capsys.readouterr().out) == documents.WHY_REFUSED


def test_json_of_an_ambiguous_query_is_the_daemons_error_document(endpoint, capsys):
    endpoint.serve("/v1/why?q=web-1", documents.WHY_AMBIGUOUS, status=400)
    assert why(endpoint, "web-1", "--json") == 2
    assert json.loads(capsys.readouterr().out) == documents.WHY_AMBIGUOUS


def test_exit_1_when_the_endpoint_is_not_there(endpoint, capsys):
    endpoint.close()
    assert why(endpoint, "web-1") == 1
    assert "cannot reach the introspection endpoint" in capsys.readouterr().err
