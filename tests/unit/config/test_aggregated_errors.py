"""One InvalidConfig lists every bad variable at once, with value and what is accepted."""

from __future__ import annotations

import dataclasses

import pytest

import config.env
from config import InvalidConfig, load_config, table
from config.env import shown_value
from config.table import BY_NAME


def test_several_bad_variables_are_reported_together_in_table_order():
    env = {
        "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "yes",
        "WARM_ENI_TARGET": "-1",
        "AWS_VPC_ENI_MTU": "9002",
        "ADDITIONAL_ENI_TAGS": "{",
    }
    with pytest.raises(InvalidConfig) as caught:
        load_config(env)
    error = caught.value
    assert error.variables == (
        "WARM_ENI_TARGET",
        "AWS_VPC_K8S_CNI_RANDOMIZESNAT",
        "AWS_VPC_ENI_MTU",
        "ADDITIONAL_ENI_TAGS",
    )
    text = str(error)
    assert text.splitlines()[0] == "invalid configuration (4 problems):"
    assert "  WARM_ENI_TARGET='-1': expected an integer >= 0" in text.splitlines()
    assert (
        "  AWS_VPC_K8S_CNI_RANDOMIZESNAT='yes': expected one of prng, hashrandom, none"
        in text.splitlines()
    )
    assert "AWS_VPC_ENI_MTU='9002': expected an integer from 576 to 9001" in text
    assert "ADDITIONAL_ENI_TAGS='{': not valid JSON" in text


def test_a_bad_log_format_joins_the_other_problems_naming_what_is_accepted():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"AWS_VPC_K8S_CNI_LOGLEVEL": "loud", "VPC_IPAM_LOG_FORMAT": "xml"})
    assert caught.value.variables == ("AWS_VPC_K8S_CNI_LOGLEVEL", "VPC_IPAM_LOG_FORMAT")
    assert str(caught.value).splitlines() == [
        "invalid configuration (2 problems):",
        "  AWS_VPC_K8S_CNI_LOGLEVEL='loud': expected one of DEBUG, INFO, WARN, ERROR, FATAL "
        "(any case)",
        "  VPC_IPAM_LOG_FORMAT='xml': expected one of logfmt, json (any case)",
    ]


def test_cross_field_problems_join_the_parse_problems():
    env = {"VPC_IPAM_PROVIDER": "gce", "WARM_PREFIX_TARGET": "1", "POD_MTU": "70000"}
    with pytest.raises(InvalidConfig) as caught:
        load_config(env)
    assert caught.value.variables == ("POD_MTU", "GCE_POD_RANGE_NAME")
    assert str(caught.value).startswith("invalid configuration (2 problems):")


def test_invalid_eni_mtu_does_not_also_blame_the_pod_mtu_derived_from_it():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"AWS_VPC_ENI_MTU": "big"})
    assert caught.value.variables == ("AWS_VPC_ENI_MTU",)


def test_a_single_problem_says_problem_in_the_singular():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"MAX_ENI": "x"})
    assert str(caught.value).startswith("invalid configuration (1 problem):")


def test_warnings_travel_with_the_error_since_a_typo_often_explains_it():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGT": "1"})
    assert [(w.variable, w.suggestion) for w in caught.value.warnings] == [
        ("WARM_PREFIX_TARGT", "WARM_PREFIX_TARGET")
    ]


def test_long_values_are_cut_in_messages():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"CLUSTER_NAME": "n" * 1000})
    message = caught.value.problems[0].message
    assert "n" * 120 + "'..." in message
    assert "n" * 121 not in message


def test_a_secret_value_never_appears_in_an_error(monkeypatch):
    secret = dataclasses.replace(BY_NAME["CLUSTER_NAME"], secret=True)
    patched = tuple(secret if v.name == "CLUSTER_NAME" else v for v in table.VARIABLES)
    monkeypatch.setattr(config.env, "VARIABLES", patched)
    with pytest.raises(InvalidConfig) as caught:
        load_config({"CLUSTER_NAME": "hunter2" * 50})
    assert "hunter2" not in str(caught.value)
    assert "CLUSTER_NAME=<redacted>: longer than 256 characters" in str(caught.value)
    assert shown_value(secret, "hunter2") == "<redacted>"
