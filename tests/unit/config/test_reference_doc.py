"""docs/configuration.md is generated from the variable table and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from config.describe import render_reference
from config.table import VARIABLES

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
REGENERATE = (
    ".venv/bin/python -c 'from config.describe import render_reference; import sys; "
    "sys.stdout.write(render_reference())' > docs/configuration.md"
)


def test_reference_doc_matches_the_table():
    assert DOC.read_text() == render_reference(), f"regenerate it: {REGENERATE}"


def test_reference_doc_names_every_variable():
    text = DOC.read_text()
    missing = [v.name for v in VARIABLES if f"`{v.name}`" not in text]
    assert not missing
