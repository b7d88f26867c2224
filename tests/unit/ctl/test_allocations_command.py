"""vpc-ipamctl allocations: one row per pod address, then the addresses cooling down."""

from __future__ import annotations

import json

from ipamd import ctl
from tests.unit.ctl import documents
from tests.unit.ctl.support import IntrospectionServer


def allocations(endpoint: IntrospectionServer, *extra: str) -> int:
    return ctl.main(["allocations", "--introspection", endpoint.address, *extra])


def cells(out: str, first: str) -> list[str]:
    [line] = [line for line in out.splitlines() if line.startswith(first + " ")]
    return line.split()


def test_one_row_per_allocation_sorted_by_interface_then_address(endpoint, capsys):
    endpoint.serve("/v1/allocations", documents.ALLOCATIONS)
    assert allocations(endpoint) == 0
    out = capsys.readouterr().out
    assert endpoint.paths == ["/v1/allocations"]
    assert "allocations (3)" in out
    for header in ("ADDRESS", "POD", "CONTAINER", "IFNAME", "INTERFACE", "BLOCK", "SINCE"):
        assert header in out
    # the container id is cut to 12 characters, as docker and crictl show it
    assert cells(out, "10.0.1.43")[:6] == [
        "10.0.1.43", "default/web-1", "abc123def456", "eth0", "eni-0b2e4d6f8a1c3e5b7",
        "10.0.1.43/32",
    ]  # fmt: skip
    assert cells(out, "10.0.1.5")[1] == "payments/api-0"
    assert cells(out, "10.0.1.6")[1:3] == ["-", "(recovered)"]
    rows = [line.split()[0] for line in out.splitlines() if line.startswith("10.0.1.")]
    assert rows[:3] == ["10.0.1.5", "10.0.1.6", "10.0.1.43"]


def test_the_cooling_addresses_follow_with_when_they_can_be_reused(endpoint, capsys):
    endpoint.serve("/v1/allocations", documents.ALLOCATIONS)
    assert allocations(endpoint) == 0
    out = capsys.readouterr().out
    cooling = out.split("cooling down (1)")[1]
    assert "REUSABLE AT" in cooling
    assert cells(cooling, "10.0.1.44") == ["10.0.1.44", "10:13:05Z"]
    # columns the daemon did not fill are left out
    assert "INTERFACE" not in cooling


def test_cooling_entries_with_more_keys_show_them(endpoint, capsys):
    endpoint.serve(
        "/v1/allocations",
        {
            "allocations": [],
            "cooling": [
                {
                    "address": "10.0.1.44",
                    "interface_id": "eni-0b2e4d6f8a1c3e5b7",
                    "block": "10.0.1.44/32",
                    "until": "2026-11-22T10:13:05Z",
                }
            ],
        },
    )
    assert allocations(endpoint) == 0
    out = capsys.readouterr().out
    assert "allocations (0)" in out
    assert cells(out, "10.0.1.44") == [
        "10.0.1.44", "eni-0b2e4d6f8a1c3e5b7", "10.0.1.44/32", "10:13:05Z",
    ]  # fmt: skip


def test_no_cooling_address_says_so(endpoint, capsys):
    endpoint.serve("/v1/allocations", {**documents.ALLOCATIONS, "cooling": []})
    assert allocations(endpoint) == 0
    assert "no address is cooling down" in capsys.readouterr().out


def test_json_prints_the_daemons_document_unchanged(endpoint, capsys):
    endpoint.serve("/v1/allocations", documents.ALLOCATIONS)
    assert allocations(endpoint, "--json") == 0
    assert json.loads(capsys.readouterr().out) == documents.ALLOCATIONS


def test_exit_1_when_the_endpoint_is_not_there(endpoint, capsys):
    endpoint.close()
    assert allocations(endpoint) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("vpc-ipamctl allocations: cannot reach the introspection endpoint at ")
