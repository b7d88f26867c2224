"""vpc-ipamctl status against the introspection endpoint, over TCP and over a unix socket."""

from __future__ import annotations

import json

import pytest

from ipamd import ctl
from tests.unit.ctl import documents_status as documents
from tests.unit.ctl.support import IntrospectionServer


def status(endpoint: IntrospectionServer, *extra: str) -> int:
    return ctl.main(["status", "--introspection", endpoint.address, *extra])


def test_the_header_shows_the_node_pool_and_targets(endpoint, capsys):
    endpoint.serve("/v1/status", documents.STATUS)
    assert status(endpoint) == 0
    out = capsys.readouterr().out
    assert endpoint.paths == ["/v1/status"]
    assert "vpc-ipamd on ip-10-0-1-4.ec2.internal" in out
    assert "i-0abc1234def567890" in out
    assert "m5.large on aws" in out
    assert "up 13m32s" in out
    assert "27 total, 12 assigned, 1 cooling, 14 available" in out
    assert "29 (3 interfaces x 9 addresses)" in out
    # only the targets that are set
    assert "WARM_ENI_TARGET=1" in out
    assert "WARM_IP_TARGET" not in out
    assert "blocked" not in out


def row(out: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first``."""
    [line] = [line for line in out.splitlines() if line.lstrip().startswith(first)]
    return line.split()


def test_secondary_addresses_are_one_row_per_interface(endpoint, capsys):
    endpoint.serve("/v1/status", documents.STATUS)
    assert status(endpoint) == 0
    out = capsys.readouterr().out
    assert "INTERFACE" in out and "SERVES PODS" in out and "WIRED" in out
    assert row(out, "eni-0a1f3c5e7d9b2a4c6") == [
        "eni-0a1f3c5e7d9b2a4c6", "0", "primary", "9", "x", "/32", "9", "0", "0", "yes", "yes",
    ]  # fmt: skip
    assert row(out, "eni-0b2e4d6f8a1c3e5b7")[1:] == [
        "1", "9", "x", "/32", "3", "5", "1", "yes", "yes",
    ]  # fmt: skip
    # a new interface the host has not wired yet
    assert row(out, "eni-0c3d5f7a9b2e4c6d8")[-2:] == ["yes", "no"]


def test_prefixes_are_one_row_each_and_growth_blocked_is_shown(endpoint, capsys):
    endpoint.serve("/v1/status", documents.status_prefix_mode())
    assert status(endpoint) == 0
    out = capsys.readouterr().out
    assert "110 (3 interfaces x 9 /28 prefixes)" in out
    assert "WARM_IP_TARGET=5 MINIMUM_IP_TARGET=30" in out
    assert "blocked" in out and "no free aligned /28 (InsufficientCidrBlocks)" in out
    assert row(out, "eni-0a1f3c5e7d9b2a4c6")[3:] == ["10.0.1.16/28", "16", "0", "0", "yes", "yes"]
    assert row(out, "10.0.1.32/28") == ["10.0.1.32/28", "4", "10", "2", "yes"]
    # a block on its way back to the cloud serves no new pod
    assert row(out, "10.0.1.48/28") == ["10.0.1.48/28", "0", "16", "0", "no", "(draining)"]
    assert "kubernetes: off" in out
    assert "metrics" not in out.split("interfaces")[0]


def test_decisions_cloud_health_and_kubernetes_are_shown(endpoint, capsys):
    endpoint.serve("/v1/status", documents.STATUS)
    assert status(endpoint) == 0
    out = capsys.readouterr().out
    assert "10:00:02Z" in out and "created eni-0b2 with 9 blocks" in out
    assert "10:00:05Z x24 to 10:02:05Z" in out and "on-target" in out
    # brackets from the daemon are text, not rich markup
    assert "InsufficientFreeAddressesInSubnet [x]" in out
    assert row(out, "AssignPrivateIpAddresses ") == [
        "AssignPrivateIpAddresses", "3", "1", "2", "187", "ms",
    ]  # fmt: skip
    assert "last success 10:12:00Z" in out
    assert "last cloud error: 10:12:30Z AssignPrivateIpAddresses" in out
    assert "kubernetes: connected" in out
    assert "pending pods 1" in out


@pytest.mark.parametrize("document", [documents.STATUS, documents.status_prefix_mode()])
def test_output_fits_in_100_columns_without_colour_or_cut_headers(endpoint, document, capsys):
    endpoint.serve("/v1/status", document)
    assert status(endpoint) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "\x1b[" not in out
    assert "…" not in out


def test_json_prints_the_daemons_document_unchanged(endpoint, capsys):
    endpoint.serve("/v1/status", documents.STATUS)
    assert status(endpoint, "--json") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == documents.STATUS


def test_an_answer_from_an_older_daemon_without_some_keys_still_renders(endpoint, capsys):
    endpoint.serve("/v1/status", {"node": {"instance_id": "i-0abc"}, "interfaces": [{}]})
    assert status(endpoint) == 0
    assert "i-0abc" in capsys.readouterr().out


def test_exit_1_with_the_daemons_error_on_500(endpoint, capsys):
    endpoint.serve("/v1/status", {"error": "KeyError: 'eni-0b2'"}, status=500)
    assert status(endpoint) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert f"at {endpoint.address}" in err
    assert "HTTP 500: KeyError: 'eni-0b2'" in err


def test_exit_1_when_the_endpoint_is_not_there(endpoint, capsys):
    endpoint.close()
    assert status(endpoint) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"vpc-ipamctl status: cannot reach the introspection endpoint at "
                          f"{endpoint.address}: ")  # fmt: skip
    assert "(is vpc-ipamd running? is DISABLE_INTROSPECTION set?)" in err
