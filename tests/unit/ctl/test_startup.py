"""vpc-ipamctl loads only what the command it runs needs: the probes run ``health`` every few
seconds, and boto3 alone costs most of a second, so only ``max-pods --instance-type`` pays
for it."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "rich", "http.client", "warmpool")


def loaded_by(*argv: str) -> set[str]:
    probe = (
        "import sys\n"
        "from ipamd.ctl import main\n"
        f"main({list(argv)!r})\n"
        f"print('\\n' + ' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("health", "--socket", "/nonexistent/ipamd.sock"), set()),
        (("max-pods", "--interfaces", "3", "--ipv4-per-interface", "10"), {"warmpool"}),
        (("status", "--introspection", "127.0.0.1:9", "--timeout", "0.5"),
         {"rich", "http.client"}),
        (("doctor", "--introspection", "127.0.0.1:9", "--timeout", "0.5"),
         {"rich", "http.client"}),
    ],
)  # fmt: skip
def test_each_command_loads_only_what_it_needs(argv, expected):
    assert loaded_by(*argv) == expected


def test_max_pods_from_an_instance_type_loads_boto3():
    argv = ("max-pods", "--instance-type", "m5.large", "--region", "us-east-1",
            "--endpoint-url", "http://127.0.0.1:9", "--timeout", "0.5")  # fmt: skip
    assert {"boto3", "botocore"} <= loaded_by(*argv)
