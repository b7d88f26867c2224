"""vpc-cni's own configuration keys: defaults, and one clear code 7 error for bad ones."""

from __future__ import annotations

import json

import pytest

from cni import spool, wire
from cni.errors import INVALID_NETWORK_CONFIG, CniError
from cni.pluginconf import DEFAULT_SPOOL_DIR, PluginConf, log_file_of, parse_plugin_conf
from config import load_settings


def conf_error(conf: dict[str, object]) -> CniError:
    with pytest.raises(CniError) as info:
        parse_plugin_conf(conf)
    assert info.value.code == INVALID_NETWORK_CONFIG
    return info.value


def test_absent_keys_take_the_defaults_of_a_node_set_up_by_vpc_ipamd():
    assert parse_plugin_conf({}) == PluginConf(
        log_file=None,
        socket_path=wire.DEFAULT_SOCKET_PATH,
        spool_dir=spool.DEFAULT_SPOOL_DIR,
        timeout=20.0,
        veth_prefix="eni",
    )


def test_the_defaults_are_where_the_daemon_listens_and_drains_by_default():
    daemon = load_settings({}).daemon

    assert DEFAULT_SPOOL_DIR == spool.DEFAULT_SPOOL_DIR == str(daemon.spool_dir)
    assert str(daemon.socket_path) == wire.DEFAULT_SOCKET_PATH


def test_every_key_is_read():
    conf = parse_plugin_conf(
        {
            "socketPath": "/run/x/ipamd.sock",
            "timeoutSeconds": 2.5,
            "spoolDir": "/run/x/spool",
            "vethPrefix": "pod",
            "logFile": "/var/log/x/cni.log",
            "other": {"kept": "elsewhere"},
        }
    )
    assert conf == PluginConf(
        log_file="/var/log/x/cni.log",
        socket_path="/run/x/ipamd.sock",
        spool_dir="/run/x/spool",
        timeout=2.5,
        veth_prefix="pod",
    )


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("socketPath", "run/ipamd.sock", "not an absolute path"),
        ("socketPath", 5, "must be a string, got number"),
        ("socketPath", "/" + "s" * 120, "longer than a unix socket path may be"),
        ("spoolDir", "", "not an absolute path"),
        ("logFile", "cni.log", "not an absolute path"),
        ("logFile", "/var/log/\x00", "NUL"),
        ("timeoutSeconds", "20", "must be a number of seconds, got string"),
        ("timeoutSeconds", True, "must be a number of seconds, got boolean"),
        ("timeoutSeconds", 0, "must be > 0"),
        ("timeoutSeconds", 601, "at most 600"),
        ("vethPrefix", "", "expected 1 to 4 characters"),
        ("vethPrefix", "toolong", "expected 1 to 4 characters"),
        ("vethPrefix", "a/b", "expected 1 to 4 characters"),
        ("vethPrefix", "eth", "reserved"),
        ("vethPrefix", ["eni"], "must be a string, got array"),
    ],
)
def test_a_bad_key_is_code_7_naming_the_key_and_the_reason(key, value, reason):
    error = conf_error({key: value})

    assert error.msg == f"invalid vpc-cni configuration: bad keys [{key}]"
    assert error.details.startswith(f"{key}: ")
    assert reason in error.details


def test_every_bad_key_is_reported_in_one_error():
    error = conf_error({"socketPath": "x", "timeoutSeconds": -1, "vethPrefix": "lo"})

    assert (
        error.msg
        == "invalid vpc-cni configuration: bad keys [socketPath, timeoutSeconds, vethPrefix]"
    )


def test_null_means_the_default():
    assert parse_plugin_conf({"socketPath": None, "logFile": None}) == PluginConf()


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (b'{"logFile": "/var/log/cni.log"}', "/var/log/cni.log"),
        (b'{"cniVersion": 7, "logFile": "/var/log/cni.log"}', "/var/log/cni.log"),
        (b'{"logFile": "relative.log"}', None),
        (b'{"logFile": 3}', None),
        (b'["logFile"]', None),
        (b'{"logFile": ', None),
        (b'{"name": "x"}', None),
    ],
)
def test_the_log_file_is_found_even_in_an_otherwise_invalid_configuration(stdin, expected):
    assert log_file_of(stdin) == expected


def test_the_log_file_of_a_real_configuration():
    stdin = json.dumps({"cniVersion": "1.1.0", "name": "n", "logFile": "/l/c.log"}).encode()
    assert log_file_of(stdin) == "/l/c.log"
