"""Checks across variables: fatal ones join the aggregated error, the rest come back as warnings."""

from __future__ import annotations

import pytest

from config import InvalidConfig, load_config


def _warnings(env: dict[str, str]) -> list[str]:
    return [str(w) for w in load_config(env).warnings]


def test_gce_without_pod_range_name_is_an_error():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"VPC_IPAM_PROVIDER": "gce", "WARM_PREFIX_TARGET": "1"})
    assert caught.value.variables == ("GCE_POD_RANGE_NAME",)
    assert "required when VPC_IPAM_PROVIDER=gce" in str(caught.value)


def test_prefix_delegation_without_any_target_is_an_error_as_in_aws_node():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"ENABLE_PREFIX_DELEGATION": "true"})
    assert caught.value.variables == ("WARM_PREFIX_TARGET",)
    assert "all 0 with ENABLE_PREFIX_DELEGATION=true" in str(caught.value)


@pytest.mark.parametrize("target", ["WARM_PREFIX_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET"])
def test_prefix_delegation_with_any_one_target_is_valid(target):
    loaded = load_config({"ENABLE_PREFIX_DELEGATION": "true", target: "1"})
    assert loaded.settings.warm_pool.enable_prefix_delegation is True


def test_gce_without_any_target_is_an_error_because_it_always_hands_out_blocks():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"VPC_IPAM_PROVIDER": "gce", "GCE_POD_RANGE_NAME": "pods"})
    assert "all 0 with VPC_IPAM_PROVIDER=gce" in str(caught.value)


def test_warm_eni_target_ignored_when_ip_targets_set_is_a_warning():
    env = {"WARM_ENI_TARGET": "2", "WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "10"}
    assert _warnings(env) == [
        "WARM_ENI_TARGET: ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set"
    ]


def test_warm_eni_target_left_at_its_default_value_is_not_worth_a_warning():
    assert _warnings({"WARM_ENI_TARGET": "1", "WARM_IP_TARGET": "5"}) == []


def test_warm_prefix_target_without_prefix_delegation_is_a_warning_not_an_error():
    loaded = load_config({"WARM_PREFIX_TARGET": "1"})
    assert loaded.settings.warm_pool.warm_prefix_target == 1
    assert [str(w) for w in loaded.warnings] == [
        "WARM_PREFIX_TARGET: has no effect unless ENABLE_PREFIX_DELEGATION=true"
    ]


def test_warm_prefix_target_overridden_by_ip_targets_in_prefix_mode_is_a_warning():
    env = {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1", "WARM_IP_TARGET": "5"}
    assert _warnings(env) == [
        "WARM_PREFIX_TARGET: overridden by WARM_IP_TARGET / MINIMUM_IP_TARGET"
    ]


def test_minimum_ip_target_without_warm_ip_target_warns_that_the_pool_stops_growing():
    (warning,) = load_config({"MINIMUM_IP_TARGET": "30"}).warnings
    assert warning.variable == "MINIMUM_IP_TARGET"
    assert "never grows past MINIMUM_IP_TARGET" in warning.message


def test_pod_mtu_above_eni_mtu_is_allowed_as_in_aws_node_but_warned():
    loaded = load_config({"AWS_VPC_ENI_MTU": "1500", "POD_MTU": "9001"})
    assert loaded.settings.datapath.pod_mtu == 9001
    assert [w.variable for w in loaded.warnings] == ["POD_MTU"]
    assert "exceeds AWS_VPC_ENI_MTU=1500" in loaded.warnings[0].message


def test_pod_mtu_below_eni_mtu_is_quiet():
    assert _warnings({"AWS_VPC_ENI_MTU": "9001", "POD_MTU": "1500"}) == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "AWS_VPC_K8S_CNI_EXTERNALSNAT": "true",
                "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "10.9.0.0/16",
            },
            "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: has no effect with "
            "AWS_VPC_K8S_CNI_EXTERNALSNAT=true",
        ),
        (
            {"AWS_VPC_K8S_CNI_EXTERNALSNAT": "true", "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "none"},
            "AWS_VPC_K8S_CNI_RANDOMIZESNAT: has no effect with AWS_VPC_K8S_CNI_EXTERNALSNAT=true",
        ),
        (
            {"ENI_CONFIG_LABEL_DEF": "topology.kubernetes.io/zone"},
            "ENI_CONFIG_LABEL_DEF: has no effect with AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=false",
        ),
        (
            {"DISABLE_METRICS": "true", "VPC_IPAM_METRICS_BIND_ADDRESS": "127.0.0.1:1"},
            "VPC_IPAM_METRICS_BIND_ADDRESS: has no effect with DISABLE_METRICS=true",
        ),
        (
            {"DISABLE_INTROSPECTION": "true", "INTROSPECTION_BIND_ADDRESS": "127.0.0.1:1"},
            "INTROSPECTION_BIND_ADDRESS: has no effect with DISABLE_INTROSPECTION=true",
        ),
        (
            {"VPC_IPAM_CNI_CONF_DIR": "/host/etc/cni/net.d"},
            "VPC_IPAM_CNI_CONF_DIR: has no effect with VPC_IPAM_INSTALL_CNI=false",
        ),
        (
            {"VPC_IPAM_CNI_BIN_DIR": "/host/opt/cni/bin"},
            "VPC_IPAM_CNI_BIN_DIR: has no effect with VPC_IPAM_INSTALL_CNI=false",
        ),
        (
            {"VPC_IPAM_CNI_CONFLIST_NAME": "05-vpc-ipam.conflist"},
            "VPC_IPAM_CNI_CONFLIST_NAME: has no effect with VPC_IPAM_INSTALL_CNI=false",
        ),
        (
            {"GCE_ALIAS_BLOCK_PREFIXLEN": "26"},
            "GCE_ALIAS_BLOCK_PREFIXLEN: has no effect with VPC_IPAM_PROVIDER=aws",
        ),
        (
            {"MAX_ENI": "0"},
            "MAX_ENI: '0' (0 or less) means no cap: the instance max",
        ),
        (
            {"INTROSPECTION_BIND_ADDRESS": ":61679"},
            "INTROSPECTION_BIND_ADDRESS: :61679 is reachable from other hosts; "
            "introspection shows node state",
        ),
    ],
)
def test_setting_made_pointless_by_another_is_a_warning(env, expected):
    assert _warnings(env) == [expected]


def test_aws_only_settings_under_gce_are_warned():
    env = {
        "VPC_IPAM_PROVIDER": "gce",
        "GCE_POD_RANGE_NAME": "pods",
        "WARM_PREFIX_TARGET": "1",
        "WARM_ENI_TARGET": "2",
        "ADDITIONAL_ENI_TAGS": '{"a": "b"}',
    }
    assert _warnings(env) == [
        "WARM_ENI_TARGET: has no effect with VPC_IPAM_PROVIDER=gce",
        "ADDITIONAL_ENI_TAGS: has no effect with VPC_IPAM_PROVIDER=gce",
    ]


IN_A_POD = {"MY_NODE_NAME": "ip-10-0-1-5.ec2.internal", "KUBERNETES_SERVICE_HOST": "10.100.0.1"}


def test_custom_networking_makes_eni_config_keys_meaningful():
    env = {
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
        "ENI_CONFIG_LABEL_DEF": "a.io/b",
        **IN_A_POD,
    }
    assert _warnings(env) == []


def test_custom_networking_without_the_node_name_is_an_error_naming_it():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"})
    assert caught.value.variables == ("MY_NODE_NAME",)
    assert "spec.nodeName" in str(caught.value)


def test_a_node_name_without_any_api_server_is_an_error_naming_both_ways_to_fix_it():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"MY_NODE_NAME": "node-a"})
    assert caught.value.variables == ("VPC_IPAM_KUBE_API_SERVER",)
    assert "KUBERNETES_SERVICE_HOST" in str(caught.value)


def test_in_a_pod_the_api_server_is_the_kubelets_service_address():
    settings = load_config(IN_A_POD).settings.kubernetes
    assert settings.enabled
    assert settings.api_url == "https://10.100.0.1:443"
    v6 = load_config({**IN_A_POD, "KUBERNETES_SERVICE_HOST": "fd00::1"}).settings.kubernetes
    assert v6.api_url == "https://[fd00::1]:443"
    explicit = {**IN_A_POD, "VPC_IPAM_KUBE_API_SERVER": "http://127.0.0.1:8001/"}
    assert load_config(explicit).settings.kubernetes.api_url == "http://127.0.0.1:8001"


def test_kubernetes_knobs_without_a_node_name_warn_that_they_do_nothing():
    env = {"VPC_IPAM_POD_GONE_GRACE": "60", "VPC_IPAM_KUBE_API_SERVER": "http://127.0.0.1:1"}
    assert {w.variable for w in load_config(env).warnings} == set(env)


@pytest.mark.parametrize("address", [":61678", "0.0.0.0:61678", "[::]:9100"])
def test_metrics_on_every_address_warn_that_other_hosts_can_read_node_state(address):
    (warning,) = load_config({"VPC_IPAM_METRICS_BIND_ADDRESS": address}).warnings
    assert warning.variable == "VPC_IPAM_METRICS_BIND_ADDRESS"
    assert warning.message.startswith(f"{address} listens on every address, so /metrics is ")
    assert "reachable from other hosts" in warning.message
    assert "metrics carry no secrets but reveal node state" in warning.message
    assert "bind the node's own IP for Prometheus" in warning.message


@pytest.mark.parametrize("address", ["", "127.0.0.1:61678", "10.0.1.23:61678", "[::1]:9100"])
def test_metrics_on_loopback_or_the_node_ip_are_quiet(address):
    assert _warnings({"VPC_IPAM_METRICS_BIND_ADDRESS": address}) == []


def test_metrics_switched_off_only_warn_that_their_address_has_no_effect():
    env = {"DISABLE_METRICS": "true", "VPC_IPAM_METRICS_BIND_ADDRESS": ":61678"}
    assert _warnings(env) == [
        "VPC_IPAM_METRICS_BIND_ADDRESS: has no effect with DISABLE_METRICS=true"
    ]


def test_introspection_on_a_unix_socket_or_loopback_is_quiet():
    assert _warnings({"INTROSPECTION_BIND_ADDRESS": "unix:/run/vpc-ipam/i.sock"}) == []
    assert _warnings({"INTROSPECTION_BIND_ADDRESS": "[::1]:61679"}) == []


@pytest.mark.parametrize("timeout", ["10", "5", "9.5"])
def test_cni_timeout_not_above_the_add_wait_is_an_error_naming_both(timeout):
    with pytest.raises(InvalidConfig) as caught:
        load_config({"VPC_IPAM_CNI_TIMEOUT": timeout})
    assert caught.value.variables == ("VPC_IPAM_CNI_TIMEOUT",)
    message = str(caught.value.problems[0])
    assert message.startswith(
        f"VPC_IPAM_CNI_TIMEOUT={timeout} is not more than VPC_IPAM_ADD_WAIT=10: "
    )
    assert (
        "expected VPC_IPAM_CNI_TIMEOUT > VPC_IPAM_ADD_WAIT, e.g. VPC_IPAM_CNI_TIMEOUT=20" in message
    )


def test_add_wait_raised_past_the_default_cni_timeout_names_the_add_wait():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"VPC_IPAM_ADD_WAIT": "25"})
    assert caught.value.variables == ("VPC_IPAM_ADD_WAIT",)
    assert "VPC_IPAM_CNI_TIMEOUT=20 is not more than VPC_IPAM_ADD_WAIT=25" in str(caught.value)


def test_add_wait_beyond_any_cni_timeout_suggests_a_shorter_add_wait():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"VPC_IPAM_ADD_WAIT": "900", "VPC_IPAM_CNI_TIMEOUT": "600"})
    assert caught.value.variables == ("VPC_IPAM_CNI_TIMEOUT",)
    assert "e.g. VPC_IPAM_ADD_WAIT=300" in str(caught.value)


def test_cni_timeout_above_the_add_wait_is_valid():
    loaded = load_config({"VPC_IPAM_ADD_WAIT": "25", "VPC_IPAM_CNI_TIMEOUT": "30"})
    assert (loaded.settings.daemon.add_wait, loaded.settings.cni.timeout) == (25.0, 30.0)
    assert loaded.warnings == ()


def test_cni_timeout_error_joins_the_other_problems_in_one_invalid_config():
    with pytest.raises(InvalidConfig) as caught:
        load_config({"VPC_IPAM_CNI_TIMEOUT": "5", "VPC_IPAM_CNI_CONFLIST_NAME": "x.conf"})
    assert caught.value.variables == ("VPC_IPAM_CNI_CONFLIST_NAME", "VPC_IPAM_CNI_TIMEOUT")


def test_cni_paths_set_with_install_on_are_quiet():
    env = {
        "VPC_IPAM_INSTALL_CNI": "true",
        "VPC_IPAM_CNI_BIN_DIR": "/host/opt/cni/bin",
        "VPC_IPAM_CNI_CONF_DIR": "/host/etc/cni/net.d",
        "VPC_IPAM_CNI_CONFLIST_NAME": "05-vpc-ipam.conflist",
    }
    assert _warnings(env) == []
