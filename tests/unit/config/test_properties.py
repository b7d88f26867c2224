"""Properties over whole value ranges: what is in range round-trips, what is not is refused."""

from __future__ import annotations

import json
from ipaddress import IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import InvalidConfig, load_settings
from config.parsers import GO_FALSE, GO_TRUE
from config.table import BY_NAME, CNI_TIMEOUT_MAX, VARIABLES

COUNTS = ["WARM_ENI_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET", "IP_COOLDOWN_PERIOD"]
RANGES = {
    "AWS_VPC_ENI_MTU": (576, 9001),
    "POD_MTU": (576, 9001),
    "GCE_ALIAS_BLOCK_PREFIXLEN": (24, 28),
}
SECONDS = [v.name for v in VARIABLES if v.parser.expected.endswith("(seconds)")]


def _value(name: str, env: dict[str, str]) -> object:
    variable = BY_NAME[name]
    return getattr(getattr(load_settings(env), variable.section), variable.field)


def _refused(env: dict[str, str]) -> InvalidConfig:
    with pytest.raises(InvalidConfig) as caught:
        load_settings(env)
    return caught.value


@pytest.mark.parametrize("name", COUNTS)
@given(n=st.integers(min_value=0, max_value=10**9))
def test_any_count_from_zero_up_round_trips(name, n):
    assert _value(name, {name: str(n)}) == n


@pytest.mark.parametrize("name", COUNTS)
@given(n=st.integers(max_value=-1))
def test_any_negative_count_is_refused_naming_the_variable(name, n):
    error = _refused({name: str(n)})
    assert error.variables == (name,)
    assert str(error.problems[0]) == f"{name}='{n}': expected an integer >= 0"


@pytest.mark.parametrize("name", sorted(RANGES))
@given(data=st.data())
def test_any_integer_in_range_round_trips_and_any_outside_is_refused(name, data):
    low, high = RANGES[name]
    inside = data.draw(st.integers(low, high))
    extra = {"VPC_IPAM_PROVIDER": "gce", "GCE_POD_RANGE_NAME": "p", "WARM_PREFIX_TARGET": "1"}
    env = extra if name.startswith("GCE_") else {}
    assert _value(name, {**env, name: str(inside)}) == inside
    outside = data.draw(st.integers(max_value=low - 1) | st.integers(min_value=high + 1))
    error = _refused({**env, name: str(outside)})
    assert error.variables == (name,)
    assert f"expected an integer from {low} to {high}" in str(error)


@given(mark=st.integers(1, 0xFFFFFFFF), upper=st.booleans())
def test_any_connmark_reads_the_same_in_decimal_and_hex(mark, upper):
    hex_text = hex(mark).upper().replace("0X", "0x") if upper else hex(mark)
    assert _value("AWS_VPC_K8S_CNI_CONNMARK", {"AWS_VPC_K8S_CNI_CONNMARK": str(mark)}) == mark
    assert _value("AWS_VPC_K8S_CNI_CONNMARK", {"AWS_VPC_K8S_CNI_CONNMARK": hex_text}) == mark


BOUNDED_BY = {"VPC_IPAM_ADD_WAIT": ("VPC_IPAM_CNI_TIMEOUT", CNI_TIMEOUT_MAX)}
"""Durations that must stay below another variable (a cross check): that one at its maximum."""


@pytest.mark.parametrize("name", SECONDS)
@given(data=st.data())
def test_any_positive_duration_round_trips_through_its_rendering(name, data):
    other, bound = BOUNDED_BY.get(name, (None, 1e7))
    seconds = data.draw(
        st.floats(min_value=1e-6, max_value=bound, exclude_max=other is not None, allow_nan=False)
    )
    env = {other: str(bound)} if other else {}
    rendered = BY_NAME[name].parser.render(seconds)
    assert _value(name, {**env, name: rendered}) == seconds


@given(seconds=st.floats(min_value=10, max_value=CNI_TIMEOUT_MAX, exclude_min=True))
def test_any_cni_timeout_above_the_add_wait_up_to_the_plugins_maximum_round_trips(seconds):
    name = "VPC_IPAM_CNI_TIMEOUT"
    assert _value(name, {name: BY_NAME[name].parser.render(seconds)}) == seconds


@given(raw=st.text(max_size=8).filter(lambda s: s and s not in GO_TRUE | GO_FALSE))
def test_anything_but_a_go_bool_spelling_is_refused_for_a_boolean(raw):
    error = _refused({"MANAGE_UNTAGGED_ENI": raw})
    assert error.variables == ("MANAGE_UNTAGGED_ENI",)


@given(
    st.lists(
        st.integers(0, 2**32 - 1).flatmap(
            lambda a: st.integers(0, 32).map(lambda n: IPv4Network((a, n), strict=False))
        ),
        max_size=6,
    )
)
def test_any_list_of_ipv4_networks_round_trips(networks):
    raw = ",".join(str(n) for n in networks)
    name = "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS"
    assert _value(name, {name: raw}) == tuple(networks)


_TAG_KEY = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=128
).filter(lambda k: "k8s.amazonaws.com" not in k and not k.lower().startswith("aws:"))


@given(st.dictionaries(_TAG_KEY, st.text(max_size=256), max_size=5))
def test_any_valid_tag_object_loads_as_sorted_pairs(tags):
    name = "ADDITIONAL_ENI_TAGS"
    assert _value(name, {name: json.dumps(tags)}) == tuple(sorted(tags.items()))


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_every_default_rendered_as_text_loads_back_to_itself(variable):
    rendered = variable.render_default()
    if rendered == "" or variable.default_from is not None:
        return  # empty text means unset: the default by definition
    assert variable.parser.parse(rendered) == variable.default
