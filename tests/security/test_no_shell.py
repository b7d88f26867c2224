"""No command of this project goes through a shell or is built as one string.

Every Python file of the repository is parsed and each call that starts a process is
checked: ``shell=`` anything but False, the shell-only helpers (``os.system``,
``os.popen``, ``subprocess.getoutput``/``getstatusoutput``,
``asyncio.create_subprocess_shell``), and a command given as one string (a literal, an
f-string, ``+``/``%`` concatenation or ``str.format``) rather than an argument list.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", ".git", "build", "dist", "node_modules", ".mypy_cache", ".ruff_cache"}
PROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}
SHELL_ONLY = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("asyncio", "create_subprocess_shell"),
}
EXEC_FAMILY = {"execl", "execlp", "execle", "execv", "execvp", "execvpe", "spawnl", "spawnlp"}


def python_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not SKIP.intersection(path.relative_to(ROOT).parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
    )


def string_built(node: ast.expr) -> bool:
    """True for a command that is one string: a literal, an f-string, a concatenation or
    formatting of strings."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return string_built(node.left) or string_built(node.right)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
        and isinstance(node.func.value, ast.Constant)
    )


def violations(source: str, name: str = "<source>") -> list[str]:
    tree = ast.parse(source, name)
    imported: dict[str, tuple[str, str]] = {}  # local name -> (module, function)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "os", "asyncio"):
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        target: tuple[str, str] | None = None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            target = (func.value.id, func.attr)
        elif isinstance(func, ast.Name) and func.id in imported:
            target = imported[func.id]
        if target is None:
            continue
        where = f"{name}:{node.lineno}"
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append(f"{where}: shell={ast.unparse(keyword.value)}")
        if target in SHELL_ONLY:
            found.append(f"{where}: {'.'.join(target)} runs a shell")
            continue
        module, function = target
        process = (module == "subprocess" and function in PROCESS_CALLS) or (
            module == "os" and function in EXEC_FAMILY
        )
        if not process:
            continue
        command = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "args":
                command = keyword.value
        if command is not None and string_built(command):
            found.append(f"{where}: {'.'.join(target)} with a command built as a string")
    return found


def test_the_scanner_finds_each_kind_of_shell_use():
    sample = """
import os, subprocess, asyncio
from subprocess import run as r
subprocess.run("ip link", shell=True)
subprocess.Popen(["ip"], shell=flag)
os.system("ip link")
os.popen("ls")
subprocess.check_output("ip " + name)
r(f"ip {name}")
subprocess.call(args="ip %s" % name)
subprocess.run("ip {}".format(name))
asyncio.create_subprocess_shell(cmd)
subprocess.run(["ip", "link"], shell=False)
subprocess.run([*prefix, "ip"], check=True)
"""
    assert len(violations(sample)) == 10


def test_no_python_file_runs_a_shell_or_a_string_built_command():
    files = python_files()
    assert len(files) > 100 and ROOT / "cni" / "main.py" in files
    found = [v for path in files for v in violations(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == []
