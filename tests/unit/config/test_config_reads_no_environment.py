"""config/ never reads the process environment: the caller passes the mapping."""

from __future__ import annotations

import ast
from pathlib import Path

import config
from config import load_settings

CONFIG_DIR = Path(config.__file__).parent
FORBIDDEN = {"environ", "environb", "getenv", "getenvb", "putenv"}


def _environment_reads(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "os" for a in node.names):
            found.append("import os")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"from os import {a.name}" for a in node.names if a.name in FORBIDDEN]
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN:
            found.append(f".{node.attr}")
    return found


def test_no_config_module_imports_os_or_touches_environ():
    for path in sorted(CONFIG_DIR.glob("*.py")):
        assert _environment_reads(path.read_text()) == [], path.name


def test_the_detector_does_see_an_environment_read():
    assert _environment_reads("import os\nx = os.environ['A']\n") == ["import os", ".environ"]


def test_process_environment_does_not_leak_into_loaded_settings(monkeypatch):
    monkeypatch.setenv("WARM_ENI_TARGET", "7")
    assert load_settings({}).warm_pool.warm_eni_target == 1
