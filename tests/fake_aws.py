"""A process environment in which AWS SDKs can only reach our emulators.

Fake static credentials (so botocore never walks its credential chain to a metadata
address), no metadata lookups, no shared config or profile, no proxies, and a region.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REGION = "us-east-1"
ZONE = "us-east-1a"


def use_fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "NO_PROXY": "127.0.0.1,localhost",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",  # no AMI catalogue needed; much faster
        # google-auth never goes looking for a real metadata server from a test
        "NO_GCE_CHECK": "True",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no-google-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
