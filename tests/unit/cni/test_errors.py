from __future__ import annotations

import json
import pickle

import pytest

from cni import errors
from cni.errors import CniError
from tests.unit.cni.spec_examples import ERROR_EXAMPLE


def test_error_json_is_exactly_the_spec_example() -> None:
    err = CniError(
        errors.INVALID_NETWORK_CONFIG,
        "Invalid Configuration",
        "Network 192.168.0.0/31 too small to allocate from.",
    )

    out = err.to_json("1.1.0")

    assert out == ERROR_EXAMPLE
    assert list(out) == ["cniVersion", "code", "msg", "details"]


def test_error_json_leaves_out_empty_details() -> None:
    out = CniError(errors.TRY_AGAIN_LATER, "ENI attachment in progress").to_json("0.4.0")

    assert json.dumps(out) == (
        '{"cniVersion": "0.4.0", "code": 11, "msg": "ENI attachment in progress"}'
    )


def test_spec_error_codes_have_their_spec_values() -> None:
    assert [
        errors.INCOMPATIBLE_CNI_VERSION,
        errors.UNSUPPORTED_FIELD,
        errors.UNKNOWN_CONTAINER,
        errors.INVALID_ENVIRONMENT_VARIABLES,
        errors.IO_FAILURE,
        errors.DECODING_FAILURE,
        errors.INVALID_NETWORK_CONFIG,
        errors.TRY_AGAIN_LATER,
        errors.PLUGIN_NOT_AVAILABLE,
        errors.LIMITED_CONNECTIVITY,
    ] == [1, 2, 3, 4, 5, 6, 7, 11, 50, 51]
    assert errors.INTERNAL == 999


def test_error_from_the_wire_round_trips() -> None:
    wire = {"code": 3, "msg": "container unknown", "details": "no such netns"}

    err = CniError.from_json(wire)

    assert err == CniError(errors.UNKNOWN_CONTAINER, "container unknown", "no such netns")
    assert err.to_json("1.0.0") == {"cniVersion": "1.0.0", **wire}


def test_error_from_the_wire_accepts_cni_version_and_missing_details() -> None:
    err = CniError.from_json({"cniVersion": "1.1.0", "code": 999, "msg": "boom"})

    assert (err.code, err.msg, err.details) == (999, "boom", "")


@pytest.mark.parametrize(
    ("obj", "bad_keys"),
    [
        ({"msg": "x"}, ["code"]),
        ({"code": "7", "msg": "x"}, ["code"]),
        ({"code": True, "msg": "x"}, ["code"]),
        ({"code": -1, "msg": "x"}, ["code"]),
        ({"code": 7}, ["msg"]),
        ({"code": 7, "msg": "x", "details": 3}, ["details"]),
        ({"details": []}, ["code", "msg", "details"]),
    ],
)
def test_malformed_wire_error_is_code_6_naming_every_bad_key(
    obj: dict[str, object], bad_keys: list[str]
) -> None:
    with pytest.raises(CniError) as raised:
        CniError.from_json(obj)

    assert raised.value.code == errors.DECODING_FAILURE
    for key in bad_keys:
        assert f"{key}: " in raised.value.details


def test_non_object_wire_error_is_code_6() -> None:
    with pytest.raises(CniError) as raised:
        CniError.from_json("oops")

    assert raised.value.code == errors.DECODING_FAILURE


def test_error_reads_as_message_and_details_and_survives_pickling() -> None:
    err = CniError(errors.IO_FAILURE, "failed to read stdin", "EOF")

    assert str(err) == "failed to read stdin; EOF"
    assert str(CniError(5, "only msg")) == "only msg"
    assert pickle.loads(pickle.dumps(err)) == err
