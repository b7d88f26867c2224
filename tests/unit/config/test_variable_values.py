"""Each variable: a valid value lands in its field; each kind of bad value is refused by name."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from config import BindAddress, InvalidConfig, LogLevel, Provider, RandomizeSnat, load_settings

NEEDS_TARGET = {"WARM_PREFIX_TARGET": "1"}
GCE = {"VPC_IPAM_PROVIDER": "gce", "GCE_POD_RANGE_NAME": "pods", "WARM_PREFIX_TARGET": "1"}
IN_A_POD = {"MY_NODE_NAME": "node-a", "KUBERNETES_SERVICE_HOST": "10.100.0.1"}

VALID: list[tuple[str, str, str, Any, dict[str, str]]] = [
    ("WARM_ENI_TARGET", "3", "warm_pool.warm_eni_target", 3, {}),
    ("WARM_IP_TARGET", "5", "warm_pool.warm_ip_target", 5, {}),
    ("MINIMUM_IP_TARGET", "30", "warm_pool.minimum_ip_target", 30, {}),
    ("WARM_PREFIX_TARGET", "2", "warm_pool.warm_prefix_target", 2, {}),
    ("ENABLE_PREFIX_DELEGATION", "true", "warm_pool.enable_prefix_delegation", True, NEEDS_TARGET),
    ("MAX_ENI", "3", "warm_pool.max_eni", 3, {}),
    ("MAX_ENI", "0", "warm_pool.max_eni", None, {}),
    ("MAX_ENI", "-1", "warm_pool.max_eni", None, {}),
    ("IP_COOLDOWN_PERIOD", "0", "warm_pool.ip_cooldown_period", 0, {}),
    ("AWS_VPC_K8S_CNI_EXTERNALSNAT", "TRUE", "datapath.external_snat", True, {}),
    (
        "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS",
        " 10.0.0.0/8 , 192.168.1.0/24",
        "datapath.exclude_snat_cidrs",
        (IPv4Network("10.0.0.0/8"), IPv4Network("192.168.1.0/24")),
        {},
    ),
    (
        "AWS_VPC_K8S_CNI_RANDOMIZESNAT",
        "hashrandom",
        "datapath.randomize_snat",
        RandomizeSnat.HASHRANDOM,
        {},
    ),
    ("AWS_VPC_K8S_CNI_RANDOMIZESNAT", "none", "datapath.randomize_snat", RandomizeSnat.NONE, {}),
    ("AWS_VPC_K8S_CNI_CONNMARK", "0x200", "datapath.connmark", 512, {}),
    ("AWS_VPC_K8S_CNI_CONNMARK", "512", "datapath.connmark", 512, {}),
    ("AWS_VPC_K8S_CNI_CONNMARK", "0xFFFFFFFF", "datapath.connmark", 0xFFFFFFFF, {}),
    ("AWS_VPC_ENI_MTU", "1500", "datapath.eni_mtu", 1500, {}),
    ("AWS_VPC_ENI_MTU", "1500", "datapath.pod_mtu", 1500, {}),
    ("POD_MTU", "1500", "datapath.pod_mtu", 1500, {}),
    ("POD_MTU", "1500", "datapath.eni_mtu", 9001, {}),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "pod", "datapath.veth_prefix", "pod", {}),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "ethX", "datapath.veth_prefix", "ethX", {}),
    ("CLUSTER_NAME", "prod-eu-1", "aws.cluster_name", "prod-eu-1", {}),
    (
        "ADDITIONAL_ENI_TAGS",
        '{"team": "net", "a": ""}',
        "aws.additional_eni_tags",
        (("a", ""), ("team", "net")),
        {},
    ),
    ("MANAGE_UNTAGGED_ENI", "false", "aws.manage_untagged_eni", False, {}),
    ("DISABLE_LEAKED_ENI_CLEANUP", "1", "aws.disable_leaked_eni_cleanup", True, {}),
    ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "t", "aws.custom_networking", True, IN_A_POD),
    ("GCE_POD_RANGE_NAME", "pods", "gce.pod_range_name", "pods", GCE),
    ("GCE_ALIAS_BLOCK_PREFIXLEN", "24", "gce.alias_block_prefixlen", 24, GCE),
    (
        "MY_NODE_NAME",
        "ip-10-0-1-23.ec2.internal",
        "kubernetes.node_name",
        "ip-10-0-1-23.ec2.internal",
        {"KUBERNETES_SERVICE_HOST": "10.100.0.1"},
    ),
    (
        "VPC_IPAM_KUBE_API_SERVER",
        "https://10.100.0.1:6443",
        "kubernetes.api_server",
        "https://10.100.0.1:6443",
        {},
    ),
    ("KUBERNETES_SERVICE_HOST", "10.100.0.1", "kubernetes.service_host", "10.100.0.1", {}),
    ("KUBERNETES_SERVICE_PORT", "6443", "kubernetes.service_port", 6443, {}),
    ("VPC_IPAM_POD_GONE_GRACE", "60", "kubernetes.pod_gone_grace", 60.0, IN_A_POD),
    (
        "ENI_CONFIG_LABEL_DEF",
        "topology.kubernetes.io/zone",
        "kubernetes.eni_config_label",
        "topology.kubernetes.io/zone",
        {},
    ),
    ("ENI_CONFIG_ANNOTATION_DEF", "eniConfig", "kubernetes.eni_config_annotation", "eniConfig", {}),
    ("VPC_IPAM_PROVIDER", "gce", "daemon.provider", Provider.GCE, GCE),
    ("VPC_IPAM_SOCKET_PATH", "/tmp/d.sock", "daemon.socket_path", Path("/tmp/d.sock"), {}),
    (
        "VPC_IPAM_CHECKPOINT_PATH",
        "/data/c.json",
        "daemon.checkpoint_path",
        Path("/data/c.json"),
        {},
    ),
    ("VPC_IPAM_SPOOL_DIR", "/data/spool", "daemon.spool_dir", Path("/data/spool"), {}),
    ("VPC_IPAM_POOL_INTERVAL", "2.5", "daemon.pool_interval", 2.5, {}),
    ("VPC_IPAM_SHRINK_INTERVAL", "45", "daemon.shrink_interval", 45.0, {}),
    ("VPC_IPAM_RECONCILE_INTERVAL", "120", "daemon.reconcile_interval", 120.0, {}),
    ("VPC_IPAM_CAPACITY_ERROR_BACKOFF", "300", "daemon.capacity_error_backoff", 300.0, {}),
    ("VPC_IPAM_MIN_INTERFACE_LIFETIME", ".5", "daemon.min_interface_lifetime", 0.5, {}),
    ("AWS_VPC_K8S_CNI_LOGLEVEL", "info", "daemon.log_level", LogLevel.INFO, {}),
    ("AWS_VPC_K8S_CNI_LOGLEVEL", "Warn", "daemon.log_level", LogLevel.WARN, {}),
    ("DISABLE_METRICS", "true", "daemon.disable_metrics", True, {}),
    (
        "VPC_IPAM_METRICS_BIND_ADDRESS",
        "127.0.0.1:9100",
        "daemon.metrics_bind_address",
        BindAddress(host="127.0.0.1", port=9100),
        {},
    ),
    ("DISABLE_INTROSPECTION", "False", "daemon.disable_introspection", False, {}),
    (
        "INTROSPECTION_BIND_ADDRESS",
        "unix:/run/vpc-ipam/i.sock",
        "daemon.introspection_bind_address",
        BindAddress(unix_path="/run/vpc-ipam/i.sock"),
        {},
    ),
    (
        "INTROSPECTION_BIND_ADDRESS",
        "[::1]:61679",
        "daemon.introspection_bind_address",
        BindAddress(host="::1", port=61679),
        {},
    ),
    (
        "INTROSPECTION_BIND_ADDRESS",
        "localhost:61679",
        "daemon.introspection_bind_address",
        BindAddress(host="localhost", port=61679),
        {},
    ),
    ("VPC_IPAM_EC2_MUTATING_RATE", "0.5", "rate_limits.ec2_mutating_rate", 0.5, {}),
    ("VPC_IPAM_EC2_MUTATING_BURST", "20", "rate_limits.ec2_mutating_burst", 20, {}),
    ("VPC_IPAM_EC2_DESCRIBE_RATE", "1e1", "rate_limits.ec2_describe_rate", 10.0, {}),
    ("VPC_IPAM_EC2_DESCRIBE_BURST", "1", "rate_limits.ec2_describe_burst", 1, {}),
    ("VPC_IPAM_GCE_RATE", "0.2", "rate_limits.gce_rate", 0.2, GCE),
    ("VPC_IPAM_GCE_BURST", "3", "rate_limits.gce_burst", 3, GCE),
    ("VPC_IPAM_EC2_ALLOCATE_RATE", "2.5", "rate_limits.ec2_allocate_rate", 2.5, {}),
    ("VPC_IPAM_EC2_ALLOCATE_BURST", "7", "rate_limits.ec2_allocate_burst", 7, {}),
    ("VPC_IPAM_CLOUD_RETRY_ATTEMPTS", "1", "rate_limits.cloud_retry_attempts", 1, {}),
    ("VPC_IPAM_CLOUD_RETRY_DEADLINE", "90", "rate_limits.cloud_retry_deadline", 90.0, {}),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", "aws.endpoint_url", "http://127.0.0.1:5000", {}),
    (
        "AWS_ENDPOINT_URL_EC2",
        "https://ec2.x.test/p",
        "aws.ec2_endpoint_url",
        "https://ec2.x.test/p",
        {},
    ),
    ("AWS_REGION", "ap-southeast-2", "aws.region", "ap-southeast-2", {}),
    (
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "http://[::1]:80",
        "aws.imds_endpoint",
        "http://[::1]:80",
        {},
    ),
    ("VPC_IPAM_LEAK_SWEEP_GRACE", "60", "aws.leak_sweep_grace", 60.0, {}),
    ("VPC_IPAM_LEAK_SWEEP_INTERVAL", "600", "aws.leak_sweep_interval", 600.0, {}),
    ("VPC_IPAM_LEAK_SWEEP_MAX", "3", "aws.leak_sweep_max", 3, {}),
    ("VPC_IPAM_DATAPLANE", "none", "daemon.dataplane", "none", {}),
    ("VPC_IPAM_ADD_WAIT", "2.5", "daemon.add_wait", 2.5, {}),
    ("AWS_VPC_K8S_CNI_LOG_FILE", "/var/log/x.log", "daemon.log_file", "/var/log/x.log", {}),
    ("AWS_VPC_K8S_CNI_LOG_FILE", "stdout", "daemon.log_file", "stdout", {}),
    ("VPC_IPAM_INSTALL_CNI", "true", "daemon.install_cni", True, {}),
    (
        "VPC_IPAM_CNI_BIN_DIR",
        "/home/kubernetes/bin",
        "cni.bin_dir",
        Path("/home/kubernetes/bin"),
        {},
    ),
    (
        "VPC_IPAM_CNI_CONF_DIR",
        "/host/etc/cni/net.d",
        "cni.conf_dir",
        Path("/host/etc/cni/net.d"),
        {},
    ),
    (
        "VPC_IPAM_CNI_CONFLIST_NAME",
        "05-vpc-ipam.conflist",
        "cni.conflist_name",
        "05-vpc-ipam.conflist",
        {},
    ),
    ("VPC_IPAM_CNI_CONFLIST_NAME", "vpc.conflist", "cni.conflist_name", "vpc.conflist", {}),
    ("AWS_VPC_K8S_PLUGIN_LOG_FILE", "/var/log/p.log", "cni.log_file", Path("/var/log/p.log"), {}),
    ("VPC_IPAM_CNI_TIMEOUT", "12.5", "cni.timeout", 12.5, {}),
    ("VPC_IPAM_CNI_TIMEOUT", "600", "cni.timeout", 600.0, {}),
    ("VPC_IPAM_CNI_PORTMAP", "false", "cni.portmap", False, {}),
]


def _field(settings: object, path: str) -> object:
    section, field = path.split(".")
    return getattr(getattr(settings, section), field)


@pytest.mark.parametrize(("name", "raw", "path", "expected", "extra"), VALID)
def test_valid_value_lands_in_its_field(name, raw, path, expected, extra):
    settings = load_settings({**extra, name: raw})
    assert _field(settings, path) == expected


INVALID: list[tuple[str, str, str]] = [
    ("WARM_ENI_TARGET", "-1", "WARM_ENI_TARGET='-1': expected an integer >= 0"),
    ("WARM_ENI_TARGET", "two", "WARM_ENI_TARGET='two': expected an integer >= 0"),
    ("WARM_ENI_TARGET", " 1", "expected an integer >= 0"),
    ("WARM_IP_TARGET", "1.5", "WARM_IP_TARGET='1.5': expected an integer >= 0"),
    ("MINIMUM_IP_TARGET", "-3", "MINIMUM_IP_TARGET='-3': expected an integer >= 0"),
    ("WARM_PREFIX_TARGET", "x", "WARM_PREFIX_TARGET='x': expected an integer >= 0"),
    ("ENABLE_PREFIX_DELEGATION", "yes", "ENABLE_PREFIX_DELEGATION='yes': expected a boolean"),
    ("MAX_ENI", "three", "MAX_ENI='three': expected an integer (0 or less: no cap)"),
    ("IP_COOLDOWN_PERIOD", "-5", "IP_COOLDOWN_PERIOD='-5': expected an integer >= 0"),
    ("IP_COOLDOWN_PERIOD", "30s", "expected an integer >= 0"),
    ("AWS_VPC_K8S_CNI_EXTERNALSNAT", "on", "expected a boolean: true or false"),
    ("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "10.0.0.0/8,foo", "item 'foo' is not an IPv4 CIDR"),
    (
        "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS",
        "10.0.0.1/8",
        "host bits set (did you mean 10.0.0.0/8?)",
    ),
    ("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "fd00::/8", "item 'fd00::/8' is not an IPv4 CIDR"),
    ("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "10.0.0.0/33", "item '10.0.0.0/33' is not an IPv4"),
    ("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "10.0.0.5", "(address/prefix length)"),
    ("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "10.0.0.0/8,", "empty item"),
    ("AWS_VPC_K8S_CNI_RANDOMIZESNAT", "PRNG", "expected one of prng, hashrandom, none"),
    ("AWS_VPC_K8S_CNI_RANDOMIZESNAT", "random", "expected one of prng, hashrandom, none"),
    ("AWS_VPC_K8S_CNI_CONNMARK", "0", "expected an integer from 1 to 0xFFFFFFFF"),
    ("AWS_VPC_K8S_CNI_CONNMARK", "0x100000000", "expected an integer from 1 to 0xFFFFFFFF"),
    ("AWS_VPC_K8S_CNI_CONNMARK", "-1", "expected an integer from 1 to 0xFFFFFFFF"),
    ("AWS_VPC_K8S_CNI_CONNMARK", "0o200", "decimal or 0x hex"),
    ("AWS_VPC_K8S_CNI_CONNMARK", "0200", "leading zero (aws-node reads it as octal)"),
    ("AWS_VPC_ENI_MTU", "575", "AWS_VPC_ENI_MTU='575': expected an integer from 576 to 9001"),
    ("AWS_VPC_ENI_MTU", "9002", "AWS_VPC_ENI_MTU='9002': expected an integer from 576 to 9001"),
    ("AWS_VPC_ENI_MTU", "jumbo", "expected an integer from 576 to 9001"),
    ("POD_MTU", "100", "POD_MTU='100': expected an integer from 576 to 9001"),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "eth", "AWS_VPC_K8S_CNI_VETHPREFIX='eth': reserved name"),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "vlan", "reserved name; expected 1 to 4 characters"),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "lo", "reserved name"),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "toolong", "expected 1 to 4 characters"),
    ("AWS_VPC_K8S_CNI_VETHPREFIX", "a/b", "expected 1 to 4 characters"),
    ("CLUSTER_NAME", "x" * 257, "longer than 256 characters"),
    ("ADDITIONAL_ENI_TAGS", "not json", "not valid JSON"),
    ("ADDITIONAL_ENI_TAGS", "[]", "not a JSON object"),
    ("ADDITIONAL_ENI_TAGS", '{"a": 1}', "value of 'a' is not a string"),
    ("ADDITIONAL_ENI_TAGS", '{"k8s.amazonaws.com/x": "y"}', "contains the reserved"),
    ("ADDITIONAL_ENI_TAGS", '{"cluster.k8s.amazonaws.com/name": "y"}', "reserved"),
    ("ADDITIONAL_ENI_TAGS", '{"aws:x": "y"}', "prefix 'aws:', reserved by AWS"),
    ("ADDITIONAL_ENI_TAGS", '{"": "y"}', "empty key"),
    ("ADDITIONAL_ENI_TAGS", '{"%s": "y"}' % ("k" * 129), "longer than 128 characters"),
    ("ADDITIONAL_ENI_TAGS", '{"k": "%s"}' % ("v" * 257), "longer than 256 characters"),
    ("ADDITIONAL_ENI_TAGS", '{"a": "1", "a": "2"}', "key 'a' appears twice"),
    ("MANAGE_UNTAGGED_ENI", "no", "MANAGE_UNTAGGED_ENI='no': expected a boolean"),
    ("DISABLE_LEAKED_ENI_CLEANUP", "2", "expected a boolean"),
    ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "enabled", "expected a boolean"),
    ("GCE_POD_RANGE_NAME", "Pods", "expected a lowercase RFC 1035 name"),
    ("GCE_POD_RANGE_NAME", "1pods", "expected a lowercase RFC 1035 name"),
    ("GCE_ALIAS_BLOCK_PREFIXLEN", "23", "expected an integer from 24 to 28"),
    ("GCE_ALIAS_BLOCK_PREFIXLEN", "/28", "expected an integer from 24 to 28"),
    ("MY_NODE_NAME", "Node_1", "expected a lowercase DNS subdomain"),
    ("ENI_CONFIG_LABEL_DEF", "bad key!", "is not 1..63 of"),
    ("ENI_CONFIG_LABEL_DEF", "Example.COM/x", "prefix 'Example.COM' is not a DNS subdomain"),
    ("ENI_CONFIG_ANNOTATION_DEF", "-x", "expected a label key"),
    ("VPC_IPAM_PROVIDER", "azure", "VPC_IPAM_PROVIDER='azure': expected one of aws, gce"),
    ("VPC_IPAM_PROVIDER", "AWS", "expected one of aws, gce"),
    ("VPC_IPAM_SOCKET_PATH", "relative.sock", "expected an absolute path of at most 107 bytes"),
    ("VPC_IPAM_SOCKET_PATH", "/" + "a" * 107, "longer than 107 bytes"),
    ("VPC_IPAM_CHECKPOINT_PATH", "data/c.json", "expected an absolute path"),
    ("VPC_IPAM_SPOOL_DIR", "spool", "expected an absolute path"),
    ("VPC_IPAM_POOL_INTERVAL", "0", "VPC_IPAM_POOL_INTERVAL='0': expected a number > 0"),
    ("VPC_IPAM_POOL_INTERVAL", "5s", "expected a number > 0 (seconds)"),
    ("VPC_IPAM_SHRINK_INTERVAL", "-1", "expected a number > 0 (seconds)"),
    ("VPC_IPAM_RECONCILE_INTERVAL", "inf", "expected a number > 0 (seconds)"),
    ("VPC_IPAM_CAPACITY_ERROR_BACKOFF", "nan", "expected a number > 0 (seconds)"),
    ("VPC_IPAM_MIN_INTERFACE_LIFETIME", "1e999", "expected a number > 0 (seconds)"),
    ("AWS_VPC_K8S_CNI_LOGLEVEL", "verbose", "expected one of DEBUG, INFO, WARN, ERROR, FATAL"),
    ("DISABLE_METRICS", "yes", "expected a boolean"),
    ("VPC_IPAM_METRICS_BIND_ADDRESS", "61678", "expected host:port"),
    ("VPC_IPAM_METRICS_BIND_ADDRESS", "unix:/x.sock", "unix sockets are not supported here"),
    ("VPC_IPAM_METRICS_BIND_ADDRESS", "host:0", "port out of range"),
    ("VPC_IPAM_METRICS_BIND_ADDRESS", "host:65536", "port out of range"),
    ("VPC_IPAM_METRICS_BIND_ADDRESS", "1.2.3.999:80", "host '1.2.3.999' is not an IPv4"),
    ("DISABLE_INTROSPECTION", "off", "expected a boolean"),
    ("INTROSPECTION_BIND_ADDRESS", "unix:relative.sock", "must be absolute"),
    ("INTROSPECTION_BIND_ADDRESS", "unix:/" + "a" * 120, "107 bytes at most"),
    ("INTROSPECTION_BIND_ADDRESS", "[1.2.3.4]:80", "in brackets is not an IPv6 address"),
    ("INTROSPECTION_BIND_ADDRESS", "::1:61679", "is not an IPv4 address or host name"),
    ("VPC_IPAM_EC2_MUTATING_RATE", "0", "expected a number > 0 (calls per second)"),
    ("VPC_IPAM_EC2_MUTATING_BURST", "0", "expected an integer >= 1"),
    ("VPC_IPAM_EC2_DESCRIBE_RATE", "fast", "expected a number > 0 (calls per second)"),
    ("VPC_IPAM_EC2_DESCRIBE_BURST", "1.5", "expected an integer >= 1"),
    ("VPC_IPAM_GCE_RATE", "-1", "expected a number > 0 (calls per second)"),
    ("VPC_IPAM_GCE_BURST", "x", "expected an integer >= 1"),
    ("VPC_IPAM_EC2_ALLOCATE_BURST", "0", "expected an integer >= 1"),
    ("VPC_IPAM_CLOUD_RETRY_ATTEMPTS", "0", "expected an integer >= 1"),
    ("VPC_IPAM_CLOUD_RETRY_DEADLINE", "soon", "expected a number > 0 (seconds)"),
    ("AWS_ENDPOINT_URL", "127.0.0.1:5000", "the scheme must be http or https"),
    ("AWS_ENDPOINT_URL_EC2", "ftp://x", "the scheme must be http or https"),
    ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://", "needs a host"),
    ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://h:99999", "bad port"),
    ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://h/?x=1", "no query or fragment"),
    ("AWS_REGION", "Europe", "expected an AWS region name such as eu-west-1"),
    ("VPC_IPAM_LEAK_SWEEP_MAX", "-2", "expected an integer >= 1"),
    ("VPC_IPAM_DATAPLANE", "ebpf", "expected one of kernel, none"),
    ("VPC_IPAM_ADD_WAIT", "0", "expected a number > 0 (seconds)"),
    ("AWS_VPC_K8S_CNI_LOG_FILE", "ipamd.log", "expected stderr, stdout or an absolute file"),
    ("VPC_IPAM_INSTALL_CNI", "yes", "VPC_IPAM_INSTALL_CNI='yes': expected a boolean"),
    ("VPC_IPAM_CNI_BIN_DIR", "opt/cni/bin", "expected an absolute path"),
    ("VPC_IPAM_CNI_CONF_DIR", "net.d", "expected an absolute path"),
    (
        "VPC_IPAM_CNI_CONFLIST_NAME",
        "10-vpc-ipam.conf",
        "VPC_IPAM_CNI_CONFLIST_NAME='10-vpc-ipam.conf': expected a file name ending in .conflist",
    ),
    ("VPC_IPAM_CNI_CONFLIST_NAME", "/etc/cni/net.d/10.conflist", "a file name, not a path"),
    ("VPC_IPAM_CNI_CONFLIST_NAME", "../10.conflist", "a file name, not a path"),
    ("VPC_IPAM_CNI_CONFLIST_NAME", ".conflist", "expected a file name ending in .conflist"),
    ("VPC_IPAM_CNI_CONFLIST_NAME", ".10.conflist", "letter or digit first"),
    ("VPC_IPAM_CNI_CONFLIST_NAME", "10 vpc.conflist", "A-Z a-z 0-9 _ . - only"),
    ("VPC_IPAM_CNI_CONFLIST_NAME", "x" * 247 + ".conflist", "longer than 255 bytes"),
    ("AWS_VPC_K8S_PLUGIN_LOG_FILE", "stderr", "expected an absolute path"),
    ("AWS_VPC_K8S_PLUGIN_LOG_FILE", "plugin.log", "expected an absolute path"),
    ("VPC_IPAM_CNI_TIMEOUT", "0", "VPC_IPAM_CNI_TIMEOUT='0': expected a number of seconds > 0"),
    ("VPC_IPAM_CNI_TIMEOUT", "20s", "expected a number of seconds > 0 and <= 600"),
    ("VPC_IPAM_CNI_TIMEOUT", "600.5", "more than vpc-cni accepts (600)"),
    ("VPC_IPAM_CNI_PORTMAP", "on", "expected a boolean"),
]


@pytest.mark.parametrize(("name", "raw", "fragment"), INVALID)
def test_bad_value_is_refused_naming_the_variable_and_what_is_accepted(name, raw, fragment):
    with pytest.raises(InvalidConfig) as caught:
        load_settings({name: raw})
    assert caught.value.variables == (name,)
    message = str(caught.value.problems[0])
    assert message.startswith(f"{name}=")
    assert fragment in message
    assert "expected " in message


def test_every_go_parsebool_spelling_is_accepted_and_nothing_else():
    for raw in ("1", "t", "T", "TRUE", "true", "True"):
        assert load_settings({"DISABLE_METRICS": raw}).daemon.disable_metrics is True
    for raw in ("0", "f", "F", "FALSE", "false", "False"):
        assert load_settings({"DISABLE_METRICS": raw}).daemon.disable_metrics is False
    for raw in ("yes", "no", "on", "off", "tRuE", " true", "2"):
        with pytest.raises(InvalidConfig):
            load_settings({"DISABLE_METRICS": raw})
