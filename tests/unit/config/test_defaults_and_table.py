"""The table and the settings agree: every field filled once, documented, defaulted as aws-node."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from config import (
    BindAddress,
    LogFormat,
    LogLevel,
    Provider,
    RandomizeSnat,
    Settings,
    Source,
    load_config,
    load_settings,
)
from config.describe import render_reference, variable_doc
from config.settings import SECTIONS
from config.table import BY_NAME, VARIABLES


def test_every_settings_field_is_filled_by_exactly_one_variable():
    fields = {(s, f.name) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    filled = [(v.section, v.field) for v in VARIABLES]
    assert sorted(filled) == sorted(fields)
    assert len(BY_NAME) == len(VARIABLES)
    assert [f.name for f in dataclasses.fields(Settings)] == list(SECTIONS)


def test_a_derived_default_comes_after_the_variable_it_derives_from():
    order = [v.name for v in VARIABLES]
    for variable in VARIABLES:
        if variable.default_from is not None:
            assert order.index(variable.default_from) < order.index(variable.name)


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_field_docstring_names_the_variable_its_default_and_an_example(variable):
    doc = variable_doc(variable)
    assert f"``{variable.name}``" in doc
    rendered = variable.render_default()
    if variable.default_from is not None:
        assert variable.default_from in doc
    elif rendered == "":
        assert "default empty" in doc or "default unset" in doc
    else:
        assert f"default ``{rendered}``" in doc
    assert "e.g." in doc


def test_reference_lists_every_variable_with_what_it_accepts():
    reference = render_reference()
    for variable in VARIABLES:
        assert f"### `{variable.name}`" in reference
        assert variable.parser.expected in reference


def test_empty_environment_gives_aws_node_warm_pool_defaults():
    pool = load_settings({}).warm_pool
    assert pool.warm_eni_target == 1
    assert pool.warm_ip_target == 0
    assert pool.minimum_ip_target == 0
    assert pool.warm_prefix_target == 0
    assert pool.enable_prefix_delegation is False
    assert pool.max_eni is None
    assert pool.ip_cooldown_period == 30
    assert pool.ip_targets_set is False


def test_empty_environment_gives_aws_node_datapath_defaults():
    datapath = load_settings({}).datapath
    assert datapath.external_snat is False
    assert datapath.exclude_snat_cidrs == ()
    assert datapath.randomize_snat is RandomizeSnat.PRNG
    assert datapath.connmark == 0x80
    assert datapath.eni_mtu == 9001
    assert datapath.pod_mtu == 9001
    assert datapath.veth_prefix == "eni"


def test_empty_environment_gives_documented_aws_gce_and_kubernetes_defaults():
    settings = load_settings({})
    assert settings.aws.cluster_name == ""
    assert settings.aws.additional_eni_tags == ()
    assert settings.aws.manage_untagged_eni is True
    assert settings.aws.disable_leaked_eni_cleanup is False
    assert settings.aws.custom_networking is False
    assert settings.gce.pod_range_name == ""
    assert settings.gce.alias_block_prefixlen == 28
    assert settings.kubernetes.node_name == ""
    assert settings.kubernetes.eni_config_label == "k8s.amazonaws.com/eniConfig"
    assert settings.kubernetes.eni_config_annotation == "k8s.amazonaws.com/eniConfig"


def test_empty_environment_gives_documented_daemon_and_rate_limit_defaults():
    settings = load_settings({})
    daemon = settings.daemon
    assert daemon.provider is Provider.AWS
    assert daemon.socket_path == Path("/run/vpc-ipam/ipamd.sock")
    assert daemon.checkpoint_path == Path("/var/lib/vpc-ipam/checkpoint.json")
    assert daemon.spool_dir == Path("/var/lib/vpc-ipam/spool")
    assert (daemon.pool_interval, daemon.shrink_interval, daemon.reconcile_interval) == (5, 30, 60)
    assert (daemon.capacity_error_backoff, daemon.min_interface_lifetime) == (120, 60)
    assert daemon.log_level is LogLevel.DEBUG
    assert daemon.log_format is LogFormat.LOGFMT
    assert daemon.disable_metrics is False
    assert daemon.metrics_bind_address == BindAddress(host="127.0.0.1", port=61678)
    assert daemon.disable_introspection is False
    assert daemon.introspection_bind_address == BindAddress(host="127.0.0.1", port=61679)
    limits = settings.rate_limits
    assert (limits.ec2_mutating_rate, limits.ec2_mutating_burst) == (5.0, 50)
    assert (limits.ec2_allocate_rate, limits.ec2_allocate_burst) == (5.0, 100)
    assert (limits.ec2_describe_rate, limits.ec2_describe_burst) == (20.0, 100)
    assert (limits.gce_rate, limits.gce_burst) == (1.0, 5)
    assert (limits.cloud_retry_attempts, limits.cloud_retry_deadline) == (5, 30.0)


def test_empty_environment_installs_nothing_and_names_the_standard_cni_paths():
    cni = load_settings({}).cni
    assert load_settings({}).daemon.install_cni is False
    assert (cni.bin_dir, cni.conf_dir) == (Path("/opt/cni/bin"), Path("/etc/cni/net.d"))
    assert cni.conflist_name == "10-vpc-ipam.conflist"
    assert cni.log_file == Path("/var/log/vpc-ipam/cni.log")
    assert cni.timeout == 20.0
    assert cni.timeout > load_settings({}).daemon.add_wait
    assert cni.portmap is True


def test_rate_limit_defaults_never_exceed_ec2_documented_buckets():
    # EC2 (per account and region): mutating 50 burst / 5 per s; AssignPrivateIpAddresses and
    # CreateNetworkInterface 100 / 5; Describe* 100 / 20. GCE: 1500 calls per minute.
    limits = load_settings({}).rate_limits
    assert limits.ec2_mutating_rate <= 5 and limits.ec2_mutating_burst <= 50
    assert limits.ec2_allocate_rate <= 5 and limits.ec2_allocate_burst <= 100
    assert limits.ec2_describe_rate <= 20 and limits.ec2_describe_burst <= 100
    assert limits.gce_rate <= 1500 / 60


def test_aws_endpoints_come_from_the_sdk_standard_variables():
    aws = load_settings(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_REGION": "eu-west-1",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1338",
        }
    ).aws
    assert aws.ec2_endpoint_url == "http://127.0.0.1:5000"  # falls back to AWS_ENDPOINT_URL
    assert aws.region == "eu-west-1"
    assert aws.imds_endpoint == "http://127.0.0.1:1338"
    assert load_settings({}).aws.imds_endpoint == "http://169.254.169.254"
    only_ec2 = load_settings({"AWS_ENDPOINT_URL_EC2": "https://ec2.example:8443/x"}).aws
    assert (only_ec2.endpoint_url, only_ec2.ec2_endpoint_url) == ("", "https://ec2.example:8443/x")


def test_empty_environment_has_every_source_default_and_no_warning():
    loaded = load_config({})
    assert set(loaded.sources) == set(BY_NAME)
    assert set(loaded.sources.values()) == {Source.DEFAULT}
    assert loaded.warnings == ()


def test_empty_string_counts_as_unset():
    loaded = load_config({"WARM_ENI_TARGET": "", "AWS_VPC_K8S_CNI_VETHPREFIX": ""})
    assert loaded.settings.warm_pool.warm_eni_target == 1
    assert loaded.settings.datapath.veth_prefix == "eni"
    assert loaded.sources["WARM_ENI_TARGET"] is Source.DEFAULT


def test_settings_are_frozen():
    settings = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.warm_pool.warm_eni_target = 5  # type: ignore[misc]


def test_settings_are_hashable_values():
    a = load_settings({"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "10.0.0.0/8"})
    b = load_settings({"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "10.0.0.0/8"})
    assert a == b and hash(a) == hash(b)
    assert a.datapath.exclude_snat_cidrs == (IPv4Network("10.0.0.0/8"),)


def test_metrics_and_introspection_listen_on_loopback_by_default():
    daemon = load_settings({}).daemon
    assert str(daemon.metrics_bind_address) == "127.0.0.1:61678"
    assert str(daemon.introspection_bind_address) == "127.0.0.1:61679"
