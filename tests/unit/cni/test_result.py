from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import pytest

from cni.errors import DECODING_FAILURE, INCOMPATIBLE_CNI_VERSION, CniError
from cni.result import DNS, Interface, IPConfig, Result, Route, convert_result
from cni.versions import SUPPORTED_VERSIONS
from tests.unit.cni.spec_examples import BRIDGE_RESULT, HOST_LOCAL_RESULT, PREV_RESULT_040

LEGACY = ("0.3.0", "0.3.1", "0.4.0")

# One result using every field, written out by hand in each version's shape. Interface
# index 0 and route table/scope 0 are deliberate: they are real values that must survive.
_INTERFACES_V1 = [
    {"name": "veth1a2b3c", "mac": "ee:ee:ee:ee:ee:ee"},
    {"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/var/run/netns/pod1"},
]
_INTERFACES_V11 = [
    {"name": "veth1a2b3c", "mac": "ee:ee:ee:ee:ee:ee", "mtu": 9001},
    {
        "name": "eth0",
        "mac": "0a:58:0a:01:00:05",
        "mtu": 9001,
        "sandbox": "/var/run/netns/pod1",
        "socketPath": "/run/vhost/pod1.sock",
        "pciID": "0000:00:06.0",
    },
]
_IPS_V1 = [
    {"interface": 1, "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
    {"interface": 0, "address": "fd00:10::5/64", "gateway": "fd00:10::1"},
    {"address": "169.254.1.1/32"},
]
_IPS_LEGACY = [
    {"version": "4", "interface": 1, "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
    {"version": "6", "interface": 0, "address": "fd00:10::5/64", "gateway": "fd00:10::1"},
    {"version": "4", "address": "169.254.1.1/32"},
]
_ROUTES_V1 = [
    {"dst": "0.0.0.0/0", "gw": "169.254.1.1"},
    {"dst": "fd00:20::/64"},
]
_ROUTES_V11 = [
    {"dst": "0.0.0.0/0", "gw": "169.254.1.1", "mtu": 1500, "advmss": 1460, "priority": 10},
    {"dst": "fd00:20::/64", "table": 0, "scope": 0},
]
_DNS = {
    "nameservers": ["10.0.0.2", "fd00::2"],
    "domain": "cluster.local",
    "search": ["default.svc.cluster.local", "svc.cluster.local"],
    "options": ["ndots:5"],
}

BODY_LEGACY = {
    "interfaces": _INTERFACES_V1,
    "ips": _IPS_LEGACY,
    "routes": _ROUTES_V1,
    "dns": _DNS,
}
BODY_V1 = {"interfaces": _INTERFACES_V1, "ips": _IPS_V1, "routes": _ROUTES_V1, "dns": _DNS}
BODY_V11 = {"interfaces": _INTERFACES_V11, "ips": _IPS_V1, "routes": _ROUTES_V11, "dns": _DNS}


def written_at(version: str) -> dict[str, Any]:
    """The full example as a plugin speaking ``version`` writes it."""
    if version in LEGACY:
        body = BODY_LEGACY
    elif version == "1.0.0":
        body = BODY_V1
    else:
        body = BODY_V11
    return {"cniVersion": version, **copy.deepcopy(body)}


def expected_conversion(source: str, target: str) -> dict[str, Any]:
    """What emitting ``target`` must give for the example read at ``source``: the target's
    shape, minus the 1.1.0-only fields when the source could not carry them."""
    if target == "1.1.0" and source != "1.1.0":
        return {"cniVersion": target, **copy.deepcopy(BODY_V1)}
    return written_at(target)


@pytest.mark.parametrize("target", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("source", SUPPORTED_VERSIONS)
def test_result_converts_between_every_pair_of_versions(source: str, target: str) -> None:
    out = convert_result(written_at(source), target)

    assert out == expected_conversion(source, target)
    ips = out["ips"]
    assert isinstance(ips, list)
    has_ip_version = [("version" in ip) for ip in ips]
    assert has_ip_version == [target in LEGACY] * 3


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_result_round_trips_unchanged_at_its_own_version(version: str) -> None:
    doc = written_at(version)

    assert Result.from_json(doc).to_json(version) == doc


def test_result_keys_come_out_in_the_reference_types_field_order() -> None:
    out = Result.from_json(written_at("1.1.0")).to_json("1.1.0")

    assert list(out) == ["cniVersion", "interfaces", "ips", "routes", "dns"]
    interfaces = out["interfaces"]
    ips = out["ips"]
    routes = out["routes"]
    assert isinstance(interfaces, list) and isinstance(ips, list) and isinstance(routes, list)
    assert list(interfaces[1]) == ["name", "mac", "mtu", "sandbox", "socketPath", "pciID"]
    assert list(ips[0]) == ["interface", "address", "gateway"]
    assert list(routes[0]) == ["dst", "gw", "mtu", "advmss", "priority"]
    assert list(routes[1]) == ["dst", "table", "scope"]
    legacy_ips = Result.from_json(written_at("1.1.0")).to_json("0.4.0")["ips"]
    assert isinstance(legacy_ips, list)
    assert list(legacy_ips[0]) == ["version", "interface", "address", "gateway"]


def test_result_with_ipv4_and_ipv6_gets_matching_version_fields_in_0_4_0() -> None:
    out = Result.from_json(written_at("1.0.0")).to_json("0.4.0")

    ips = out["ips"]
    assert isinstance(ips, list)
    versions = [(ip["version"], ip["address"]) for ip in ips]
    assert versions == [("4", "10.1.0.5/16"), ("6", "fd00:10::5/64"), ("4", "169.254.1.1/32")]


def test_interface_index_zero_is_written_and_absent_index_is_left_out() -> None:
    result = Result(
        interfaces=[Interface("eth0")],
        ips=[
            IPConfig(ipaddress.ip_interface("10.0.0.5/24"), interface=0),
            IPConfig(ipaddress.ip_interface("10.0.0.6/24")),
        ],
    )

    out = result.to_json("1.0.0")

    assert out["ips"] == [{"interface": 0, "address": "10.0.0.5/24"}, {"address": "10.0.0.6/24"}]


def test_empty_result_has_only_cni_version_and_no_empty_dns() -> None:
    assert Result().to_json("0.4.0") == {"cniVersion": "0.4.0"}
    assert Result(dns=DNS()).to_json("1.1.0") == {"cniVersion": "1.1.0"}


def test_interface_name_is_always_written_even_when_empty() -> None:
    out = Result(interfaces=[Interface("")]).to_json("1.1.0")

    assert out["interfaces"] == [{"name": ""}]


def test_spec_bridge_result_round_trips_at_1_1_0() -> None:
    result = Result.from_json(BRIDGE_RESULT, default_version="1.1.0")

    assert result.to_json("1.1.0") == {"cniVersion": "1.1.0", **BRIDGE_RESULT}
    assert result.interfaces[2] == Interface(
        "eth0", mac="99:88:77:66:55:44", sandbox="/var/run/netns/blue"
    )
    assert result.ips[0].address == ipaddress.ip_interface("10.1.0.5/16")
    assert result.ips[0].gateway == ipaddress.ip_address("10.1.0.1")
    assert result.routes == (Route(ipaddress.ip_network("0.0.0.0/0")),)


def test_spec_ipam_result_without_interfaces_parses_and_gains_version_field_for_0_3_1() -> None:
    out = convert_result(HOST_LOCAL_RESULT, "0.3.1", default_version="1.1.0")

    assert out == {
        "cniVersion": "0.3.1",
        "ips": [{"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.1.0.1"]},
    }


def test_spec_0_4_0_prev_result_loses_ip_version_field_at_1_0_0() -> None:
    out = convert_result(PREV_RESULT_040, "1.0.0", default_version="0.4.0")

    assert out["ips"] == [{"address": "10.0.0.5/32", "interface": 2}]
    assert out["interfaces"] == PREV_RESULT_040["interfaces"]


def test_result_cni_version_in_document_wins_over_default_version() -> None:
    doc = {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.5/32"}]}

    result = Result.from_json(doc, default_version="1.1.0")

    assert result.ips == (IPConfig(ipaddress.ip_interface("10.0.0.5/32")),)


def test_fields_newer_than_the_source_version_are_ignored_when_reading() -> None:
    doc = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mtu": 9001, "pciID": "0000:00:06.0"}],
        "routes": [{"dst": "0.0.0.0/0", "table": 100, "priority": "not even a number"}],
    }

    result = Result.from_json(doc)

    assert result.interfaces == (Interface("eth0"),)
    assert result.routes == (Route(ipaddress.ip_network("0.0.0.0/0")),)


def test_route_destination_with_host_bits_is_normalised_to_its_network() -> None:
    doc = {"cniVersion": "1.1.0", "routes": [{"dst": "10.1.0.5/16"}]}

    assert convert_result(doc, "1.1.0")["routes"] == [{"dst": "10.1.0.0/16"}]


def test_result_without_any_cni_version_is_a_decoding_error() -> None:
    with pytest.raises(CniError) as err:
        Result.from_json({"ips": []})

    assert err.value.code == DECODING_FAILURE


@pytest.mark.parametrize("version", ["0.2.0", "0.1.0", "1.2.0", "2.0.0"])
def test_unsupported_version_is_code_1_both_reading_and_writing(version: str) -> None:
    with pytest.raises(CniError) as read_err:
        Result.from_json({"cniVersion": version})
    with pytest.raises(CniError) as write_err:
        Result().to_json(version)

    assert read_err.value.code == INCOMPATIBLE_CNI_VERSION
    assert write_err.value.code == INCOMPATIBLE_CNI_VERSION
    assert version in read_err.value.details


def test_malformed_result_reports_every_problem_in_one_decoding_error() -> None:
    doc = {
        "cniVersion": "0.4.0",
        "interfaces": [{"name": 5}, "eth0"],
        "ips": [
            {"version": "4", "address": "10.0.0.5"},
            {"version": "6", "address": "10.0.0.6/24"},
            {"version": "4", "address": "10.0.0.7/24", "gateway": "fd00::1"},
            {"version": "4", "address": "10.0.0.8/24", "interface": 7},
            {"version": "4", "address": "10.0.0.9/24", "interface": -1},
        ],
        "routes": [{"gw": "10.0.0.1"}, {"dst": "fd00::/64", "gw": "10.0.0.1"}],
        "dns": {"nameservers": "10.0.0.2", "domain": 3},
    }

    with pytest.raises(CniError) as err:
        Result.from_json(doc)

    assert err.value.code == DECODING_FAILURE
    expected_paths = [
        "interfaces[0].name",
        "interfaces[1]",
        "ips[0].address",
        "ips[1].version",
        "ips[2].gateway",
        "ips[3].interface",
        "ips[4].interface",
        "routes[0].dst",
        "routes[1].gw",
        "dns.nameservers",
        "dns.domain",
    ]
    for path in expected_paths:
        assert f"{path}:" in err.value.details, path


@pytest.mark.parametrize(
    "address",
    ["10.0.0.5/255.255.255.0", "fe80::1%eth0/64", "10.0.0.5/33", "not-an-ip/24", "10.0.0.5/"],
)
def test_address_must_be_an_ip_with_a_numeric_prefix(address: str) -> None:
    with pytest.raises(CniError) as err:
        Result.from_json({"cniVersion": "1.0.0", "ips": [{"address": address}]})

    assert "ips[0].address" in err.value.details


def test_non_object_result_is_a_decoding_error() -> None:
    with pytest.raises(CniError) as err:
        Result.from_json(["not", "an", "object"], default_version="1.0.0")

    assert err.value.code == DECODING_FAILURE


def test_emitted_result_is_serialisable_json() -> None:
    out = Result.from_json(written_at("1.1.0")).to_json("1.1.0")

    assert json.loads(json.dumps(out)) == out
