"""The cloud SDKs are imported only on their own paths: google-cloud-compute costs about a
second, so an AWS node (and vpc-ipamd --check-config, and the CNI plugin) never loads it. The
official kubernetes client is loaded by nothing the daemon runs, its Kubernetes layer
included (ipamd/k8s speaks HTTP with urllib3)."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    probe = (
        f"{statement}; import sys; "
        "print(' '.join(m for m in ('google.cloud.compute_v1', 'boto3', 'kubernetes') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


def test_the_daemon_module_loads_no_cloud_sdk():
    assert loaded_after("import ipamd.daemon") == set()


def test_the_aws_path_does_not_load_the_gce_sdk():
    assert loaded_after("import providers.aws.factory") == {"boto3"}


def test_the_gce_path_does_not_load_boto3():
    assert loaded_after("import providers.gce.factory") == {"google.cloud.compute_v1"}


def test_the_kubernetes_layer_does_not_load_the_kubernetes_client():
    assert loaded_after("import ipamd.k8s.layer, ipamd.k8s.api") == set()
