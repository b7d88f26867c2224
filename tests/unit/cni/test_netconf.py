from __future__ import annotations

import json
from typing import Any

import pytest

from cni.errors import (
    DECODING_FAILURE,
    INCOMPATIBLE_CNI_VERSION,
    INVALID_NETWORK_CONFIG,
    CniError,
)
from cni.netconf import GCAttachment, parse_netconf
from cni.result import Result
from tests.unit.cni.spec_examples import (
    ADD_BRIDGE_CONF,
    ADD_PORTMAP_CONF,
    ADD_TUNING_CONF,
    BRIDGE_RESULT,
)


def encode(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def invalid_config_error(obj: Any) -> CniError:
    with pytest.raises(CniError) as err:
        parse_netconf(encode(obj))
    assert err.value.code == INVALID_NETWORK_CONFIG
    return err.value


def test_spec_bridge_request_parses_and_keeps_plugin_keys_unchanged() -> None:
    conf = parse_netconf(encode(ADD_BRIDGE_CONF))

    assert (conf.cni_version, conf.name, conf.type) == ("1.1.0", "dbnet", "bridge")
    assert conf.prev_result is None
    assert conf.extra == {
        "bridge": "cni0",
        "keyA": ["some more", "plugin specific", "configuration"],
        "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "gateway": "10.1.0.1"},
        "dns": {"nameservers": ["10.1.0.1"]},
    }
    assert conf.raw == ADD_BRIDGE_CONF
    assert list(conf.raw) == list(ADD_BRIDGE_CONF)


def test_spec_tuning_request_has_runtime_config_and_parsed_prev_result() -> None:
    conf = parse_netconf(encode(ADD_TUNING_CONF))

    assert conf.runtime_config == {"mac": "00:11:22:33:44:66"}
    assert conf.prev_result == Result.from_json(BRIDGE_RESULT, default_version="1.1.0")
    assert conf.extra == {"sysctl": {"net.core.somaxconn": "500"}}
    assert "prevResult" not in conf.extra


def test_prev_result_is_read_at_the_configs_version_when_it_has_none() -> None:
    conf = parse_netconf(
        encode(
            {
                "cniVersion": "0.4.0",
                "name": "dbnet",
                "type": "tuning",
                "prevResult": {"ips": [{"version": "4", "address": "10.0.0.5/32"}]},
            }
        )
    )

    assert conf.prev_result is not None
    assert conf.prev_result.to_json("0.4.0")["ips"] == [{"version": "4", "address": "10.0.0.5/32"}]


def test_spec_portmap_request_keeps_runtime_config_verbatim() -> None:
    conf = parse_netconf(encode(ADD_PORTMAP_CONF))

    assert conf.runtime_config == ADD_PORTMAP_CONF["runtimeConfig"]
    assert conf.prev_result is not None
    assert conf.prev_result.interfaces[2].mac == "00:11:22:33:44:66"


def test_unknown_and_reserved_looking_keys_are_kept_in_order() -> None:
    doc = {
        "cniVersion": "1.0.0",
        "name": "aws-cni",
        "type": "vpc-cni",
        "zeta": {"nested": [1, 2.5, None, True]},
        "cni.dev/something-new": "x",
        "vethPrefix": "eni",
        "mtu": 9001,
        "capabilities": {"portMappings": True},
        "args": {"cni": {"ips": ["10.0.0.5"]}},
    }

    conf = parse_netconf(encode(doc))

    assert list(conf.extra.items()) == [
        ("zeta", {"nested": [1, 2.5, None, True]}),
        ("cni.dev/something-new", "x"),
        ("vethPrefix", "eni"),
        ("mtu", 9001),
    ]
    assert conf.capabilities == {"portMappings": True}
    assert conf.args == {"cni": {"ips": ["10.0.0.5"]}}


def test_absent_optional_objects_read_as_empty() -> None:
    conf = parse_netconf(b'{"cniVersion": "1.1.0", "name": "n", "type": "t", "args": null}')

    assert (conf.capabilities, conf.runtime_config, conf.args) == ({}, {}, {})
    assert conf.valid_attachments is None


def test_gc_valid_attachments_are_parsed_and_empty_list_differs_from_absent() -> None:
    base = {"cniVersion": "1.1.0", "name": "dbnet", "type": "vpc-cni"}
    attachments = [
        {"containerID": "abc123", "ifname": "eth0"},
        {"containerID": "d", "ifname": "net1"},
    ]

    listed = parse_netconf(encode({**base, "cni.dev/valid-attachments": attachments}))
    empty = parse_netconf(encode({**base, "cni.dev/valid-attachments": []}))

    assert listed.valid_attachments == (GCAttachment("abc123", "eth0"), GCAttachment("d", "net1"))
    assert empty.valid_attachments == ()
    assert "cni.dev/valid-attachments" not in listed.extra


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("cniVersion", None, "missing"),
        ("cniVersion", 1.1, "must be a string"),
        ("cniVersion", "", "must not be empty"),
        ("name", None, "missing"),
        ("name", ["dbnet"], "must be a string"),
        ("name", "-dbnet", "not a valid network name"),
        ("name", "db net", "not a valid network name"),
        ("name", "db/net", "not a valid network name"),
        ("name", "dbnét", "not a valid network name"),
        ("type", None, "missing"),
        ("type", "", "must not be empty"),
        ("type", "../bin/evil", "not a plugin file name"),
        ("type", "a\\b", "not a plugin file name"),
        ("type", "..", "not a plugin file name"),
        ("capabilities", ["portMappings"], "must be an object"),
        ("capabilities", {"portMappings": "yes"}, "must be a boolean"),
        ("runtimeConfig", "mac=1", "must be an object"),
        ("args", [], "must be an object"),
        ("prevResult", [], "must be an object"),
        ("prevResult", {"ips": [{"address": "10.0.0.5"}]}, "ips[0].address"),
        ("cni.dev/valid-attachments", {"containerID": "a"}, "must be an array"),
        ("cni.dev/valid-attachments", [{"containerID": "a"}], "ifname"),
        ("cni.dev/valid-attachments", [{"containerID": "-a", "ifname": "e"}], "containerID"),
    ],
)
def test_each_kind_of_bad_key_is_code_7_naming_the_key(key: str, value: Any, reason: str) -> None:
    doc: dict[str, Any] = {"cniVersion": "1.1.0", "name": "dbnet", "type": "vpc-cni"}
    if value is None:
        del doc[key]
    else:
        doc[key] = value

    err = invalid_config_error(doc)

    assert key in err.msg
    assert f"{key}: " in err.details and reason in err.details


@pytest.mark.parametrize("name", ["a", "dbnet", "0net", "my_net.v-2", "A.B-C_D"])
def test_names_following_the_spec_rule_are_accepted(name: str) -> None:
    conf = parse_netconf(encode({"cniVersion": "1.0.0", "name": name, "type": "bridge"}))

    assert conf.name == name


def test_every_bad_and_missing_key_is_reported_in_one_error() -> None:
    err = invalid_config_error(
        {
            "name": "-bad",
            "capabilities": 3,
            "runtimeConfig": [],
            "args": "x",
            "prevResult": {"cniVersion": "1.0.0", "ips": "nope"},
            "cni.dev/valid-attachments": "all",
        }
    )

    keys = [
        "cniVersion",
        "name",
        "type",
        "capabilities",
        "runtimeConfig",
        "args",
        "prevResult",
        "cni.dev/valid-attachments",
    ]
    assert err.msg == f"invalid network configuration: bad or missing keys [{', '.join(keys)}]"
    for key in keys:
        assert f"{key}: " in err.details


@pytest.mark.parametrize("version", ["0.2.0", "0.1.0", "1.2.0", "99"])
def test_unsupported_cni_version_is_code_1_even_with_other_problems(version: str) -> None:
    with pytest.raises(CniError) as err:
        parse_netconf(encode({"cniVersion": version, "name": "-bad"}))

    assert err.value.code == INCOMPATIBLE_CNI_VERSION
    assert version in err.value.details


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"{not json",
        b'{"cniVersion": "1.1.0",}',
        b"\xff\xfe\x00garbage",
        b'["cniVersion", "1.1.0"]',
        b'"a string"',
        b'{"cniVersion": "1.1.0", "name": "n", "type": "t", "mtu": NaN}',
    ],
)
def test_undecodable_input_is_code_6(data: bytes) -> None:
    with pytest.raises(CniError) as err:
        parse_netconf(data)

    assert err.value.code == DECODING_FAILURE
    assert err.value.msg == "failed to decode network configuration"
    assert err.value.details


def test_parsed_config_is_read_only() -> None:
    conf = parse_netconf(encode(ADD_BRIDGE_CONF))

    with pytest.raises(AttributeError):
        conf.name = "other"


@pytest.mark.parametrize("prev_result", [[], {"ips": [{"address": "10.0.0.5"}]}])
def test_bad_prev_result_can_be_ignored_for_best_effort_del(prev_result: Any) -> None:
    doc = {"cniVersion": "1.0.0", "name": "dbnet", "type": "vpc-cni", "prevResult": prev_result}

    conf = parse_netconf(encode(doc), ignore_bad_prev_result=True)

    assert conf.prev_result is None
    assert conf.raw["prevResult"] == prev_result
    invalid_config_error(doc)


def test_ignoring_bad_prev_result_still_reports_other_bad_keys() -> None:
    doc = {"cniVersion": "1.0.0", "name": "-bad", "type": "vpc-cni", "prevResult": []}

    with pytest.raises(CniError) as err:
        parse_netconf(encode(doc), ignore_bad_prev_result=True)

    assert err.value.msg == "invalid network configuration: bad or missing keys [name]"
