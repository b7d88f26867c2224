"""Effective settings as rows and text, and the variable reference, from the one table.

Descriptions are the attribute docstrings of :mod:`config.settings`, read from its source,
so the docs in the code, ``vpc-ipamd --check-config`` and the generated reference say the
same thing. Secret values are never shown.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from config.env import LoadedConfig, Source
from config.errors import ConfigWarning
from config.settings import SECTIONS
from config.table import VARIABLES, Variable

REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class Row:
    """One variable's effective value."""

    variable: str
    value: str
    """In the form the environment takes; ``<redacted>`` for a secret set in the env."""
    source: Source
    description: str
    """First line of the field's docstring."""


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> attribute docstring of a settings dataclass ({} without source)."""
    try:
        tree = ast.parse(inspect.getsource(inspect.getmodule(cls) or cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            body = node.body
            for current, following in itertools.pairwise(body):
                if (
                    isinstance(current, ast.AnnAssign)
                    and isinstance(current.target, ast.Name)
                    and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                ):
                    docs[current.target.id] = inspect.cleandoc(following.value.value)
    return docs


def variable_doc(variable: Variable[Any]) -> str:
    """The full docstring of the field a variable fills."""
    return field_docs(SECTIONS[variable.section]).get(variable.field, "")


def _summary(variable: Variable[Any]) -> str:
    return variable_doc(variable).split("\n", 1)[0]


def describe(loaded: LoadedConfig) -> list[Row]:
    """One row per variable of the table, in table order."""
    rows = []
    for variable in VARIABLES:
        value = getattr(getattr(loaded.settings, variable.section), variable.field)
        source = loaded.sources[variable.name]
        shown = variable.parser.render(value)
        if variable.secret and source is Source.ENV:
            shown = REDACTED
        rows.append(Row(variable.name, shown, source, _summary(variable)))
    return rows


def render_text(rows: Iterable[Row], warnings: Iterable[ConfigWarning] = ()) -> str:
    """Aligned plain text: variable, value, source, description; then the warnings."""
    rows = list(rows)
    cells = [(row.variable, row.value or '""', str(row.source), row.description) for row in rows]
    header = ("VARIABLE", "VALUE", "SOURCE", "DESCRIPTION")
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line[:3], widths, strict=True))
        + "  "
        + line[3]
        for line in [header, *cells]
    ]
    warnings = list(warnings)
    lines.append("")
    lines.append(f"warnings: {len(warnings) or 'none'}")
    lines += [f"  {warning}" for warning in warnings]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_reference() -> str:
    """Markdown reference of every variable: default, what is accepted, full description."""
    out = ["# Environment variables", ""]
    for section, cls in SECTIONS.items():
        out += [f"## {section} ({cls.__name__})", ""]
        for variable in (v for v in VARIABLES if v.section == section):
            default = variable.render_default() or "(unset)"
            scope = (
                f" Only with `VPC_IPAM_PROVIDER={variable.provider}`." if variable.provider else ""
            )
            out += [
                f"### `{variable.name}`",
                "",
                f"Default: `{default}`. Accepts {variable.parser.expected}.{scope}",
                "",
                variable_doc(variable),
                "",
            ]
    return "\n".join(out)
