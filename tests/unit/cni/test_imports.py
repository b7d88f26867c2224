"""cni/ runs inside a binary exec'd once per pod: it may import only the standard library,
and not even the slow parts of it. Each module is imported in a fresh interpreter started
the way the binary is (-I -S: no site, no user paths, no editable-install hooks), and every
module that import brings in is checked for where it came from."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_SUBMODULES = (p.stem for p in (ROOT / "cni").glob("*.py") if p.stem != "__init__")
CNI_MODULES = [*sorted(f"cni.{stem}" for stem in _SUBMODULES), "cni"]

# Standard-library modules that cost milliseconds at start and that cni/ does not need:
# typing (~4 ms), dataclasses (~9 ms, through inspect).
SLOW_STDLIB = {"typing", "dataclasses", "inspect", "ast", "dis", "tokenize"}

_PROBE = """
import sys
sys.path.insert(0, {root!r})
before = set(sys.modules)
__import__({module!r})
new = sorted(set(sys.modules) - before)
print(repr([(name, getattr(sys.modules[name], "__file__", None)) for name in new]))
"""


def modules_imported_by(module: str) -> list[tuple[str, str | None]]:
    probe = _PROBE.format(root=str(ROOT), module=module)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # Without site-packages on the path, importing a third-party module fails outright.
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    loaded: list[tuple[str, str | None]] = ast.literal_eval(done.stdout)
    return loaded


def is_stdlib(name: str, file: str | None) -> bool:
    if name.partition(".")[0] not in sys.stdlib_module_names:
        return False
    if file is None:  # built-in or frozen
        return True
    roots = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    return any(Path(file).resolve().is_relative_to(r) for r in roots)


def test_the_module_list_covers_the_cni_package() -> None:
    assert {"cni.errors", "cni.versions", "cni.netconf", "cni.result", "cni.env"} <= set(
        CNI_MODULES
    )


@pytest.mark.parametrize("module", CNI_MODULES)
def test_module_imports_only_the_standard_library_and_cni(module: str) -> None:
    loaded = modules_imported_by(module)

    assert module in [name for name, _ in loaded]
    outside = [
        (name, file)
        for name, file in loaded
        if not (name == "cni" or name.startswith("cni.")) and not is_stdlib(name, file)
    ]
    assert outside == []
    ours = [Path(file) for name, file in loaded if name.startswith("cni") and file]
    assert all(p.resolve().is_relative_to(ROOT / "cni") for p in ours)


@pytest.mark.parametrize("module", CNI_MODULES)
def test_module_does_not_import_slow_standard_library_modules(module: str) -> None:
    loaded = {name for name, _ in modules_imported_by(module)}

    assert loaded & SLOW_STDLIB == set()


@pytest.mark.parametrize("module", ["cni.main", "cni.plugin"])
def test_the_add_path_leaves_the_del_fallback_unimported(module: str) -> None:
    # cni.spool needs pathlib, a few ms that only a DEL without the daemon should pay.
    loaded = {name for name, _ in modules_imported_by(module)}

    assert loaded & {"cni.spool", "cni.delfallback", "cni.netlink", "pathlib"} == set()


def test_version_does_not_import_the_daemon_client() -> None:
    loaded = {name for name, _ in modules_imported_by("cni.main")}

    assert loaded & {"cni.plugin", "cni.client", "socket", "ipaddress"} == set()


@pytest.mark.parametrize("module", ["cni.main", "cni.plugin"])
def test_the_add_path_imports_neither_json_nor_re_nor_socket(module: str) -> None:
    # json brings re, re and socket bring enum: together about half the binary's start
    # (cni.jsonlite and cni.client use the C modules underneath instead)
    loaded = {name for name, _ in modules_imported_by(module)}

    assert loaded & {"json", "re", "enum", "socket", "selectors"} == set()
