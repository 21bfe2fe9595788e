"""Write nbgrader source notebooks in Python: one function per kind of cell.

Teachers (and this project) author labs as a list of cells; :func:`notebook` turns it into an
nbgrader source notebook with the right cell metadata (locked text, solution cells, autograder
tests with points, manually graded answers), unique grade ids and no outputs.

    >>> nb = notebook([md("intro", "# 标题"), solution("a1", "x = 1"), tests("t1", 5, "assert x == 1")])
    >>> [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    ['intro', 'a1', 't1']
    >>> nb.cells[2].metadata["nbgrader"]["points"]
    5
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["md", "code", "solution", "tests", "answer", "notebook", "write"]


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(grade_id: str, text: str) -> nbformat.NotebookNode:
    """Locked markdown (instructions, theory recap)."""
    return nbformat.v4.new_markdown_cell(text.strip("\n"), metadata=_meta(grade_id, grade=False, solution=False, locked=True))


def code(grade_id: str, source: str) -> nbformat.NotebookNode:
    """Locked code the student runs but does not edit (set-up, screens)."""
    return nbformat.v4.new_code_cell(source.strip("\n"), metadata=_meta(grade_id, grade=False, solution=False, locked=True))


def solution(grade_id: str, source: str) -> nbformat.NotebookNode:
    """A code answer: the part between ``### BEGIN SOLUTION`` markers is replaced by the stub.

    Without markers the whole source is treated as the solution.
    """
    body = source.strip("\n")
    if "### BEGIN SOLUTION" not in body:
        body = f"### BEGIN SOLUTION\n{body}\n### END SOLUTION"
    return nbformat.v4.new_code_cell(body, metadata=_meta(grade_id, grade=False, solution=True, locked=False))


def tests(grade_id: str, points: float, visible: str, hidden: str = "") -> nbformat.NotebookNode:
    """An autograder test cell: visible checks, then hidden tests that decide the grade."""
    body = visible.strip("\n")
    if hidden.strip():
        body += f"\n### BEGIN HIDDEN TESTS\n{hidden.strip(chr(10))}\n### END HIDDEN TESTS"
    return nbformat.v4.new_code_cell(body, metadata=_meta(grade_id, grade=True, solution=False, locked=True, points=points))


def answer(grade_id: str, points: float, mark_scheme: str) -> nbformat.NotebookNode:
    """A manually graded written answer (思考题); the mark scheme stays in the source only."""
    return nbformat.v4.new_markdown_cell(mark_scheme.strip("\n"),
                                         metadata=_meta(grade_id, grade=True, solution=True, locked=False, points=points))


def notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """An nbgrader source notebook of ``cells`` (grade ids must be unique)."""
    ids = [c.metadata["nbgrader"]["grade_id"] for c in cells]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate grade ids: {dupes}")
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    for i, cell in enumerate(nb.cells):
        cell["id"] = cell.metadata["nbgrader"]["grade_id"].replace("_", "-")[:64] or f"cell-{i}"
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def write(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    """Validate and write ``nb`` (creating folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path
