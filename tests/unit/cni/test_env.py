from __future__ import annotations

import pytest

from cni.env import (
    COMMAND_VARIABLES,
    CniEnv,
    interface_name_problem,
    parse_cni_args,
    parse_cni_env,
)
from cni.errors import INVALID_ENVIRONMENT_VARIABLES, CniError
from cni.versions import COMMANDS

FULL_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "3f1c2a7e9b",
    "CNI_NETNS": "/var/run/netns/cni-1234",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0",
    "CNI_PATH": "/opt/cni/bin:/usr/libexec/cni",
}


def env_error(environ: dict[str, str]) -> CniError:
    with pytest.raises(CniError) as err:
        parse_cni_env(environ)
    assert err.value.code == INVALID_ENVIRONMENT_VARIABLES
    return err.value


def test_add_with_every_variable_parses_all_of_them() -> None:
    env = parse_cni_env(FULL_ENV)

    assert env == CniEnv(
        "ADD",
        container_id="3f1c2a7e9b",
        netns="/var/run/netns/cni-1234",
        ifname="eth0",
        args=(
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", "default"),
            ("K8S_POD_NAME", "web-0"),
        ),
        path=("/opt/cni/bin", "/usr/libexec/cni"),
    )
    assert env.arg("K8S_POD_NAME") == "web-0"
    assert env.arg("K8S_POD_UID") is None


@pytest.mark.parametrize(
    ("command", "missing"),
    [
        ("ADD", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]),
        ("CHECK", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]),
        ("DEL", ["CNI_CONTAINERID", "CNI_IFNAME"]),
        ("GC", ["CNI_PATH"]),
    ],
)
def test_missing_variables_are_all_named_in_one_code_4_error(
    command: str, missing: list[str]
) -> None:
    err = env_error({"CNI_COMMAND": command})

    assert err.msg == f"required env variables [{','.join(missing)}] missing"


@pytest.mark.parametrize("command", ["VERSION", "STATUS"])
def test_version_and_status_need_only_cni_command(command: str) -> None:
    env = parse_cni_env({"CNI_COMMAND": command})

    assert env == CniEnv(command)


def test_del_does_not_need_cni_netns() -> None:
    environ = {k: v for k, v in FULL_ENV.items() if k != "CNI_NETNS"} | {"CNI_COMMAND": "DEL"}

    env = parse_cni_env(environ)

    assert env.netns == ""
    assert env.container_id == "3f1c2a7e9b"


def test_empty_variable_counts_as_missing() -> None:
    err = env_error(FULL_ENV | {"CNI_NETNS": "", "CNI_IFNAME": ""})

    assert err.msg == "required env variables [CNI_NETNS,CNI_IFNAME] missing"


def test_missing_cni_command_is_named() -> None:
    err = env_error({k: v for k, v in FULL_ENV.items() if k != "CNI_COMMAND"})

    assert err.msg == "required env variables [CNI_COMMAND] missing"


@pytest.mark.parametrize("command", ["add", "DELETE", "FOO"])
def test_unknown_command_is_an_invalid_cni_command(command: str) -> None:
    err = env_error(FULL_ENV | {"CNI_COMMAND": command})

    assert err.msg == "invalid env variables [CNI_COMMAND]"
    assert repr(command) in err.details


def test_missing_and_invalid_variables_are_reported_together() -> None:
    err = env_error(
        {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": "-bad",
            "CNI_IFNAME": "a-very-long-interface",
            "CNI_ARGS": "K8S_POD_NAME",
        }
    )

    assert err.msg == (
        "required env variables [CNI_NETNS] missing; "
        "invalid env variables [CNI_CONTAINERID,CNI_IFNAME,CNI_ARGS]"
    )
    for name in ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_ARGS"):
        assert f"{name}: " in err.details


@pytest.mark.parametrize("container_id", ["-abc", ".abc", "_abc", "ab c", "ab/c", "äbc", "ab:c"])
def test_container_id_outside_the_spec_charset_is_invalid(container_id: str) -> None:
    err = env_error(FULL_ENV | {"CNI_CONTAINERID": container_id})

    assert err.msg == "invalid env variables [CNI_CONTAINERID]"


@pytest.mark.parametrize("container_id", ["a", "9", "abc-DEF_1.2", "k8s_POD_web-0_default"])
def test_container_id_inside_the_spec_charset_is_accepted(container_id: str) -> None:
    assert parse_cni_env(FULL_ENV | {"CNI_CONTAINERID": container_id}).container_id == container_id


@pytest.mark.parametrize(
    "ifname",
    ["a" * 16, "ééééééééé", ".", "..", "eth/0", "eth:0", "eth 0", "eth\t0", "eth\u00a00"],
)
def test_interface_names_linux_refuses_are_invalid(ifname: str) -> None:
    err = env_error(FULL_ENV | {"CNI_IFNAME": ifname})

    assert err.msg == "invalid env variables [CNI_IFNAME]"
    assert interface_name_problem(ifname) is not None


@pytest.mark.parametrize("ifname", ["eth0", "a" * 15, "net1.100", "veth-x_y", "é" * 7])
def test_interface_names_linux_accepts_are_valid(ifname: str) -> None:
    assert parse_cni_env(FULL_ENV | {"CNI_IFNAME": ifname}).ifname == ifname


def test_cni_args_parse_into_ordered_pairs_with_empty_values_allowed() -> None:
    assert parse_cni_args("A=1;B=;C=x.y-z") == (("A", "1"), ("B", ""), ("C", "x.y-z"))
    assert parse_cni_args("") == ()


@pytest.mark.parametrize("value", ["A", "A=1;", ";A=1", "=1", "A=1=2", "A=1;;B=2"])
def test_cni_args_not_in_k_v_form_are_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="invalid K=V pair"):
        parse_cni_args(value)
    err = env_error(FULL_ENV | {"CNI_ARGS": value})
    assert err.msg == "invalid env variables [CNI_ARGS]"


def test_repeated_cni_arg_key_reads_as_its_last_value() -> None:
    env = parse_cni_env(FULL_ENV | {"CNI_ARGS": "A=1;A=2"})

    assert env.arg("A") == "2"
    assert env.args == (("A", "1"), ("A", "2"))


def test_variables_a_command_does_not_use_are_ignored() -> None:
    env = parse_cni_env(
        {"CNI_COMMAND": "VERSION", "CNI_IFNAME": "x" * 40, "CNI_CONTAINERID": "-bad"}
    )

    assert env == CniEnv("VERSION")


def test_gc_reads_cni_path_and_skips_empty_entries() -> None:
    env = parse_cni_env({"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin::/usr/lib/cni:"})

    assert env.path == ("/opt/cni/bin", "/usr/lib/cni")


def test_variable_table_covers_every_command_and_always_requires_cni_command() -> None:
    assert set(COMMAND_VARIABLES) == {"ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"}
    assert set(COMMAND_VARIABLES) == set(COMMANDS)
    for required, optional in COMMAND_VARIABLES.values():
        assert required[0] == "CNI_COMMAND"
        assert not set(required) & set(optional)
