"""Names that look like ours but are not: typos get a suggestion, aws-node-only ones a note."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from config import ConfigWarning, load_config
from config.table import BY_NAME
from config.unknown import ANCHOR_ONLY, OUR_SHAPES, SDK_STANDARD, is_ours_shaped

AWS_NODE_STOCK_ENV = {
    "ADDITIONAL_ENI_TAGS": "{}",
    "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true",
    "AWS_VPC_ENI_MTU": "9001",
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false",
    "AWS_VPC_K8S_CNI_EXTERNALSNAT": "false",
    "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
    "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log",
    "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "prng",
    "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
    "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log",
    "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "DEBUG",
    "DISABLE_INTROSPECTION": "false",
    "DISABLE_METRICS": "false",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING": "false",
    "ENABLE_IMDS_ONLY_MODE": "false",
    "ENABLE_IPv4": "true",
    "ENABLE_IPv6": "false",
    "ENABLE_MULTI_NIC": "false",
    "ENABLE_POD_ENI": "false",
    "ENABLE_PREFIX_DELEGATION": "false",
    "ENABLE_SUBNET_DISCOVERY": "true",
    "NETWORK_POLICY_ENFORCING_MODE": "standard",
    "VPC_CNI_VERSION": "v1.23.1",
    "WARM_ENI_TARGET": "1",
    "WARM_PREFIX_TARGET": "1",
    "MY_NODE_NAME": "ip-192-168-1-1.ec2.internal",
    "MY_POD_NAME": "aws-node-x7k2p",
}
"""The env of the aws-node container in aws-node's own manifest (config/master)."""


def test_typo_of_a_known_name_is_warned_with_the_closest_name():
    (warning,) = load_config({"WARM_IP_TARGT": "5"}).warnings
    assert warning == ConfigWarning(
        "WARM_IP_TARGT", "not a vpc-ipam setting; ignored", suggestion="WARM_IP_TARGET"
    )
    assert str(warning) == (
        "WARM_IP_TARGT: not a vpc-ipam setting; ignored; did you mean WARM_IP_TARGET?"
    )


def test_truncated_name_suggests_the_one_name_it_starts():
    (warning,) = load_config({"WARM_ENI": "2"}).warnings
    assert warning.suggestion == "WARM_ENI_TARGET"


def test_a_name_unlike_any_of_ours_gets_no_misleading_suggestion():
    (warning,) = load_config({"DISABLE_IPV6": "true"}).warnings
    assert warning.suggestion is None


def test_typo_warning_does_not_stop_loading_and_the_real_variable_keeps_its_default():
    loaded = load_config({"WARM_IP_TARGT": "5"})
    assert loaded.settings.warm_pool.warm_ip_target == 0


def test_wrong_case_is_called_out_as_such():
    (warning,) = load_config({"warm_ip_target": "5"}).warnings
    assert warning.suggestion == "WARM_IP_TARGET"
    assert "case-sensitive" in warning.message


def test_our_prefix_with_nothing_close_is_warned_without_suggestion():
    (warning,) = load_config({"VPC_IPAM_FROBNICATE_EVERYTHING": "1"}).warnings
    assert warning.variable == "VPC_IPAM_FROBNICATE_EVERYTHING"
    assert warning.suggestion is None
    assert "did you mean" not in str(warning)


def test_names_outside_our_shapes_are_none_of_our_business():
    env = {"PATH": "/bin", "HOME": "/root", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "WARMTH": "1"}
    assert load_config(env).warnings == ()


def test_other_software_names_with_our_prefixes_are_left_alone():
    assert load_config({"GCE_METADATA_IP": "127.0.0.1"}).warnings == ()


def test_aws_node_only_setting_away_from_its_default_is_noted_as_not_implemented():
    (warning,) = load_config({"ENABLE_POD_ENI": "true"}).warnings
    assert warning.variable == "ENABLE_POD_ENI"
    assert "aws-node setting vpc-ipam does not implement" in warning.message
    assert warning.suggestion is None


def test_aws_node_only_setting_at_its_default_is_quiet_in_any_go_bool_spelling():
    assert load_config({"ENABLE_IPv4": "True", "AWS_VPC_CNI_NODE_PORT_SUPPORT": "1"}).warnings == ()


def test_aws_node_stock_manifest_loads_with_only_the_prefix_target_note():
    # the kubelet adds KUBERNETES_SERVICE_HOST/PORT to every pod's environment
    loaded = load_config({**AWS_NODE_STOCK_ENV, "KUBERNETES_SERVICE_HOST": "10.100.0.1"})
    assert [str(w) for w in loaded.warnings] == [
        "WARM_PREFIX_TARGET: has no effect unless ENABLE_PREFIX_DELEGATION=true"
    ]
    assert loaded.settings.kubernetes.node_name == "ip-192-168-1-1.ec2.internal"


def test_no_aws_node_only_name_is_also_one_of_ours():
    assert set(ANCHOR_ONLY).isdisjoint(BY_NAME)


def test_every_name_of_ours_has_one_of_our_shapes():
    assert all(is_ours_shaped(name) or name in SDK_STANDARD for name in BY_NAME)
    assert not any(is_ours_shaped(name) for name in SDK_STANDARD)
    assert all(shape == shape.upper() for shape in OUR_SHAPES)


@given(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,30}", fullmatch=True), st.just("")))
def test_unknown_names_warn_only_when_ours_shaped_and_never_fail(env):
    loaded = load_config(env)
    for warning in loaded.warnings:
        assert warning.variable in env
        assert is_ours_shaped(warning.variable) or warning.variable in ANCHOR_ONLY
        assert warning.variable not in BY_NAME
