"""Effective settings as rows and text: values as the env takes them, sources, descriptions."""

from __future__ import annotations

import dataclasses
import logging

import config.describe
from config import BindAddress, LogLevel, Source, load_config
from config.describe import REDACTED, describe, field_docs, render_text
from config.settings import WarmPoolSettings
from config.table import BY_NAME, VARIABLES


def _rows(env: dict[str, str]) -> dict[str, config.describe.Row]:
    return {row.variable: row for row in describe(load_config(env))}


def test_one_row_per_variable_in_table_order():
    assert [row.variable for row in describe(load_config({}))] == [v.name for v in VARIABLES]


def test_source_says_env_for_set_variables_and_default_for_the_rest():
    rows = _rows({"WARM_IP_TARGET": "5", "WARM_ENI_TARGET": ""})
    assert (rows["WARM_IP_TARGET"].value, rows["WARM_IP_TARGET"].source) == ("5", Source.ENV)
    assert (rows["WARM_ENI_TARGET"].value, rows["WARM_ENI_TARGET"].source) == (
        "1",
        Source.DEFAULT,
    )


def test_derived_pod_mtu_shows_the_eni_mtu_with_source_default():
    rows = _rows({"AWS_VPC_ENI_MTU": "1500"})
    assert (rows["POD_MTU"].value, rows["POD_MTU"].source) == ("1500", Source.DEFAULT)


def test_values_are_shown_in_the_form_the_environment_takes():
    rows = _rows(
        {
            "AWS_VPC_K8S_CNI_CONNMARK": "512",
            "AWS_VPC_K8S_CNI_LOGLEVEL": "info",
            "ADDITIONAL_ENI_TAGS": '{"b": "2", "a": "1"}',
            "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "10.0.0.0/8, 172.16.0.0/12",
        }
    )
    assert rows["AWS_VPC_K8S_CNI_CONNMARK"].value == "0x200"
    assert rows["AWS_VPC_K8S_CNI_LOGLEVEL"].value == "INFO"
    assert rows["ADDITIONAL_ENI_TAGS"].value == '{"a": "1", "b": "2"}'
    assert rows["AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"].value == "10.0.0.0/8,172.16.0.0/12"


def test_described_values_load_back_to_the_same_settings():
    env = {
        "WARM_IP_TARGET": "3",
        "MINIMUM_IP_TARGET": "9",
        "MAX_ENI": "2",
        "VPC_IPAM_POOL_INTERVAL": "0.25",
        "INTROSPECTION_BIND_ADDRESS": "unix:/run/x.sock",
        "ADDITIONAL_ENI_TAGS": '{"team": "net"}',
    }
    loaded = load_config(env)
    again = load_config({row.variable: row.value for row in describe(loaded)})
    assert again.settings == loaded.settings


def test_description_is_the_first_line_of_the_field_docstring():
    rows = _rows({})
    assert rows["WARM_ENI_TARGET"].description == (
        "Free interfaces, with all their addresses, to keep ready."
    )
    assert field_docs(WarmPoolSettings)["warm_eni_target"].startswith(
        rows["WARM_ENI_TARGET"].description
    )


def test_secret_set_in_env_is_redacted_in_rows_and_text(monkeypatch):
    secret = dataclasses.replace(BY_NAME["CLUSTER_NAME"], secret=True)
    table = tuple(secret if v.name == "CLUSTER_NAME" else v for v in VARIABLES)
    monkeypatch.setattr(config.describe, "VARIABLES", table)
    loaded = load_config({"CLUSTER_NAME": "hunter2"})
    (row,) = [r for r in describe(loaded) if r.variable == "CLUSTER_NAME"]
    assert row.value == REDACTED
    assert "hunter2" not in render_text(describe(loaded), loaded.warnings)


def test_text_has_a_header_aligned_columns_and_the_warnings():
    loaded = load_config({"WARM_IP_TARGET": "5", "WARM_IP_TARGT": "5"})
    text = render_text(describe(loaded), loaded.warnings)
    lines = text.splitlines()
    assert lines[0].split() == ["VARIABLE", "VALUE", "SOURCE", "DESCRIPTION"]
    row = next(line for line in lines if line.startswith("WARM_IP_TARGET "))
    assert row.split()[:3] == ["WARM_IP_TARGET", "5", "env"]
    assert lines[0].index("SOURCE") == row.index("env")
    assert "warnings: 1" in lines
    assert "  WARM_IP_TARGT: not a vpc-ipam setting; ignored; did you mean WARM_IP_TARGET?" in lines


def test_text_shows_empty_values_as_quotes_and_says_when_there_is_no_warning():
    text = render_text(describe(load_config({})))
    cluster = next(line for line in text.splitlines() if line.startswith("CLUSTER_NAME "))
    assert cluster.split()[1:3] == ['""', "default"]
    assert text.endswith("warnings: none\n")


def test_bind_addresses_print_as_the_environment_writes_them():
    assert str(BindAddress(port=61678)) == ":61678"
    assert str(BindAddress(host="127.0.0.1", port=61679)) == "127.0.0.1:61679"
    assert str(BindAddress(host="::1", port=61679)) == "[::1]:61679"
    assert str(BindAddress(unix_path="/run/i.sock")) == "unix:/run/i.sock"
    assert BindAddress(unix_path="/run/i.sock").is_unix
    assert not BindAddress(port=1).is_unix


def test_aws_node_log_levels_map_onto_python_logging():
    assert [level.python_level for level in LogLevel] == [
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
        logging.CRITICAL,
    ]
