"""The architecture's rules, checked on the source: import direction and who reads the env.

DESIGN.md section 2: warmpool and config import nothing of ours; cni imports only the
standard library; providers may use config and warmpool; ipamd may use all of those;
sandbox and bench may use everything. Only the two entry points read the process
environment (the daemon's, handed to config/, and the CNI protocol's CNI_* variables).
What the daemon and the plugin run never imports the official ``kubernetes`` client (with
it the daemon held 127 MiB with 250 pods, budget 80; ipamd/k8s speaks HTTP with urllib3):
only the Kubernetes API emulator's tests use it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"config", "warmpool", "providers", "ipamd", "cni", "sandbox", "bench"}
ALLOWED: dict[str, set[str]] = {
    "warmpool": set(),
    "config": set(),
    "cni": set(),
    "providers": {"config", "warmpool"},
    "ipamd": {"config", "warmpool", "providers", "cni"},
    "sandbox": OURS,
    "bench": OURS,
}
ENVIRON_READERS = {Path("ipamd/main.py"), Path("cni/main.py")}
RUNTIME = ("config", "warmpool", "providers", "ipamd", "cni")
"""The packages the daemon and the CNI plugin run from (sandbox and bench are tooling)."""


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layering(package: str):
    for path in modules(package):
        ours = (imported_roots(path) & OURS) - {package}
        assert ours <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {ours}"


def test_cni_imports_only_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"cni", "__future__"}
    for path in modules("cni"):
        foreign = imported_roots(path) - allowed
        assert not foreign, f"{path.relative_to(ROOT)} imports {foreign}"


@pytest.mark.parametrize("package", RUNTIME)
def test_the_daemon_never_imports_the_kubernetes_client(package: str):
    # any import counts, lazy ones inside a function too: the daemon's memory budget
    for path in modules(package):
        assert "kubernetes" not in imported_roots(path), f"{path.relative_to(ROOT)}"


def reads_environment(path: Path) -> bool:
    """True when the code touches os.environ / os.getenv / environ imported from os."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "environb", "getenv"}:
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {a.name for a in node.names} & {"environ", "environb", "getenv"}
        ):
            return True
    return False


def test_only_the_entry_points_read_the_process_environment():
    readers = {
        path.relative_to(ROOT)
        for package in OURS
        for path in modules(package)
        if reads_environment(path)
    }
    assert readers <= ENVIRON_READERS, readers - ENVIRON_READERS
    assert readers, "the entry points read the environment; the check must see them"
