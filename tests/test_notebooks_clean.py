"""Committed notebooks carry no outputs, execution counts or saved widget state."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _committed_notebooks() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (e.g. an sdist): look at the folders instead
        return sorted(p for d in ("solutions", "labs") for p in (ROOT / d).rglob("*.ipynb"))
    return [ROOT / line for line in out.stdout.splitlines() if line]


@pytest.mark.parametrize("path", _committed_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, "saved widget state"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"outputs saved in {cell.metadata.get('nbgrader', {}).get('grade_id')}"
            assert cell.execution_count is None
        assert "widgets" not in cell.metadata


def test_there_are_notebooks_to_check():
    names = {p.name for p in _committed_notebooks()}
    assert {"ch04_customers.ipynb", "ch01_crm_tour.ipynb"} <= names
