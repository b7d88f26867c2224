"""Renders deploy/configmap.yaml from the settings table (config/table.py).

Every warm-pool and datapath variable the daemon reads, at its default, each under a comment
with its one-line description (the first line of the settings field's docstring, as in
docs/configuration.md). test_deploy.py keeps the committed file equal to this output::

    .venv/bin/python -m tests.unit.deploy.configmap_gen > deploy/configmap.yaml

Lives on the test side because deploy/ holds no Python and config/ is not ours to extend.
"""

from __future__ import annotations

import json
from typing import Any

from config.describe import variable_doc
from config.table import VARIABLES, Variable

SECTIONS = ("warm_pool", "datapath")
"""The sections of the settings table the ConfigMap carries."""
NAME = "vpc-ipam-config"
NAMESPACE = "kube-system"
REGENERATE = ".venv/bin/python -m tests.unit.deploy.configmap_gen > deploy/configmap.yaml"


def variables() -> list[Variable[Any]]:
    """The variables the ConfigMap carries, in table order."""
    return [v for v in VARIABLES if v.section in SECTIONS]


def value(variable: Variable[Any]) -> str:
    """The default as the daemon reads it from the environment.

    A default derived from another variable (``POD_MTU`` follows ``AWS_VPC_ENI_MTU``) is
    the empty string: empty means "the default", and Kubernetes would not expand ``$X``.
    """
    return "" if variable.default_from is not None else variable.render_default()


def comment(variable: Variable[Any]) -> str:
    summary = variable_doc(variable).split("\n", 1)[0].replace("``", "")
    notes = []
    if variable.default_from is not None:
        notes.append(f"empty: follows {variable.default_from}")
    if variable.provider is not None:
        notes.append(f"only with VPC_IPAM_PROVIDER={variable.provider}")
    return f"{summary} ({'; '.join(notes)})" if notes else summary


def render() -> str:
    """The whole YAML document."""
    lines = [
        "# Generated from the settings table (config/table.py); do not edit by hand.",
        f"# Regenerate: {REGENERATE}",
        "# Every warm-pool and datapath variable vpc-ipamd reads, at its default; the DaemonSet",
        "# takes them with envFrom. Reference: docs/configuration.md.",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {NAME}",
        f"  namespace: {NAMESPACE}",
        "  labels:",
        "    app.kubernetes.io/name: vpc-ipam",
        "data:",
    ]
    for variable in variables():
        # json.dumps of a str is a valid YAML double-quoted scalar, so every value stays text
        lines += [f"  # {comment(variable)}", f"  {variable.name}: {json.dumps(value(variable))}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
