from __future__ import annotations

import pytest

from cni.errors import (
    DECODING_FAILURE,
    INCOMPATIBLE_CNI_VERSION,
    INVALID_ENVIRONMENT_VARIABLES,
    INVALID_NETWORK_CONFIG,
    CniError,
)
from cni.versions import (
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
    check_command,
    compare_versions,
    parse_version,
    requested_version,
    select_version,
    version_info,
)
from tests.unit.cni.spec_examples import CONFLIST_DBNET, VERSION_EXAMPLE


def test_supported_versions_are_the_five_result_formats_oldest_first() -> None:
    assert SUPPORTED_VERSIONS == ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
    assert LATEST_VERSION == "1.1.0"


def test_version_output_echoes_the_requested_version_in_the_spec_shape() -> None:
    out = version_info("1.0.0")

    assert out == {"cniVersion": "1.0.0", "supportedVersions": list(SUPPORTED_VERSIONS)}
    assert set(out) == set(VERSION_EXAMPLE)


def test_version_output_without_a_request_reports_the_latest_version() -> None:
    assert version_info(None)["cniVersion"] == "1.1.0"


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (b'{"cniVersion": "0.4.0"}', "0.4.0"),
        (b'{"cniVersion": "9.9.9"}', "9.9.9"),
        (b"", None),
        (b"{}", None),
        (b"not json", None),
        (b'{"cniVersion": 4}', None),
        (b'["0.4.0"]', None),
    ],
)
def test_version_request_is_read_leniently(stdin: bytes, expected: str | None) -> None:
    assert requested_version(stdin) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0.3.0", "0.3.1", -1),
        ("0.4.0", "0.3.1", 1),
        ("1.0.0", "0.4.0", 1),
        ("1.1.0", "1.1.0", 0),
        ("1.10.0", "1.9.0", 1),
        ("1", "1.0.0", 0),
    ],
)
def test_versions_compare_numerically_part_by_part(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected


@pytest.mark.parametrize("bad", ["", "1.0.0.0", "v1.0.0", "1.x.0", "1..0", "-1.0.0", "1.0.0-rc1"])
def test_unparseable_version_is_a_decoding_error(bad: str) -> None:
    with pytest.raises(CniError) as err:
        parse_version(bad)

    assert err.value.code == DECODING_FAILURE


def test_spec_conflist_selects_the_highest_version_it_lists() -> None:
    assert select_version(CONFLIST_DBNET["cniVersion"], CONFLIST_DBNET["cniVersions"]) == "1.1.0"


def test_select_version_ignores_versions_we_do_not_speak() -> None:
    assert select_version("1.0.0", ["0.4.0", "2.0.0", "1.0.0"]) == "1.0.0"
    assert select_version("3.0.0", ["0.3.1"]) == "0.3.1"
    assert select_version(None, ["0.3.0", "0.4.0"]) == "0.4.0"


def test_select_version_with_nothing_we_speak_is_code_1() -> None:
    with pytest.raises(CniError) as err:
        select_version("0.2.0", ["0.1.0", "2.0.0"])

    assert err.value.code == INCOMPATIBLE_CNI_VERSION
    assert "0.2.0, 0.1.0, 2.0.0" in err.value.details


@pytest.mark.parametrize(
    ("cni_version", "cni_versions"), [(1, None), ("1.0.0", "1.1.0"), ("1.0.0", [1]), (None, None)]
)
def test_select_version_with_malformed_fields_is_code_7(
    cni_version: object, cni_versions: object
) -> None:
    with pytest.raises(CniError) as err:
        select_version(cni_version, cni_versions)

    assert err.value.code == INVALID_NETWORK_CONFIG


@pytest.mark.parametrize(
    ("command", "oldest_allowed"),
    [("ADD", "0.3.0"), ("DEL", "0.3.0"), ("CHECK", "0.4.0"), ("GC", "1.1.0"), ("STATUS", "1.1.0")],
)
def test_each_command_is_allowed_exactly_from_its_first_spec_version(
    command: str, oldest_allowed: str
) -> None:
    for version in SUPPORTED_VERSIONS:
        if compare_versions(version, oldest_allowed) >= 0:
            check_command(command, version)
        else:
            with pytest.raises(CniError) as err:
                check_command(command, version)
            assert err.value.code == INCOMPATIBLE_CNI_VERSION
            assert err.value.msg == f"config version does not allow {command}"


def test_version_command_is_allowed_whatever_the_version() -> None:
    check_command("VERSION", "0.1.0")
    check_command("VERSION", "")


def test_unknown_command_is_code_4() -> None:
    with pytest.raises(CniError) as err:
        check_command("REMOVE", "1.1.0")

    assert err.value.code == INVALID_ENVIRONMENT_VARIABLES
    assert "CNI_COMMAND" in err.value.msg


def test_command_with_a_version_we_do_not_speak_is_code_1() -> None:
    with pytest.raises(CniError) as err:
        check_command("ADD", "0.2.0")

    assert err.value.code == INCOMPATIBLE_CNI_VERSION
