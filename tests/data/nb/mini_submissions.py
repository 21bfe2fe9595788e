"""Submissions of the fixture assignment ``mini``: correct, blank, wrong, and damaged ones.

Shared by tests/test_grading_*.py and benchmarks/bench_autograde.py. Every function takes the
release notebook (what the student received) and returns a new notebook or raw bytes.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "mini" / "mini.ipynb"

WRONG_Q1 = 'satisfaction = survey.set_index("customer_id")["expectation"] / survey.set_index("customer_id")["perception"]'
# passes the visible checks (a Series of 5, C04 == 1) but not the hidden ones
SNEAKY_Q1 = 'satisfaction = pd.Series(1.0, index=survey["customer_id"])'
WRONG_Q2 = 'rfm = orders.groupby("customer_id").agg(recency=("amount", "size"), frequency=("amount", "size"), monetary=("amount", "mean"))'
ESSAY = "满意不等于忠诚：C02 可能因为转换成本而继续购买。措施：回访了解不满原因并改进服务。"


def read(path: Path = SOURCE) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def solutions() -> dict[str, str]:
    """grade_id → the solution code (without the markers) from the source notebook."""
    out = {}
    for cell in read().cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            out[gid] = re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", cell.source, flags=re.M).strip()
    return out


def cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def answered(release, q1=None, q2=None, essay=ESSAY):
    """The release with answers typed in (default: the correct ones)."""
    nb = copy.deepcopy(release)
    sol = solutions()
    cell(nb, "q1_answer").source = sol["q1_answer"] if q1 is None else q1
    cell(nb, "q2_answer").source = sol["q2_answer"] if q2 is None else q2
    if essay is not None:
        cell(nb, "q3_answer").source = essay
    return nb


def invalid_json(release) -> bytes:
    data = json.dumps(answered(release), ensure_ascii=False, indent=1).encode("utf-8")
    return data[: len(data) // 2]  # an upload cut in the middle


def duplicate_ids(release):
    """q1's answer cell copied (same cell id and grade_id): a wrong first try, the right one after."""
    nb = answered(release)
    i = nb.cells.index(cell(nb, "q1_answer"))
    first = copy.deepcopy(nb.cells[i])
    first.source = WRONG_Q1
    nb.cells.insert(i, first)
    return nb


def changed_types(release):
    """q2's answer turned into markdown (source still valid code) and q1's test into raw."""
    nb = answered(release)
    for gid, new in (("q2_answer", "markdown"), ("q1_test", "raw")):
        c = cell(nb, gid)
        c.cell_type = new
        c.pop("outputs", None)
        c.pop("execution_count", None)
    return nb


def deleted_test(release):
    """A wrong q1 answer whose test cell was deleted."""
    nb = answered(release, q1=WRONG_Q1)
    nb.cells.remove(cell(nb, "q1_test"))
    return nb


def edited_test(release):
    """A wrong q1 answer that passes the visible checks, and its test edited to ``pass``."""
    nb = answered(release, q1=SNEAKY_Q1)
    cell(nb, "q1_test").source = "pass"
    return nb


def cleared_metadata(release):
    """Correct answers pasted into a fresh notebook: every cell's nbgrader metadata is gone."""
    nb = answered(release)
    for c in nb.cells:
        c.metadata = nbformat.NotebookNode()
    return nb


def infinite_loop(release):
    """q1's answer never ends; q2 is right."""
    return answered(release, q1="while True:\n    pass")


def write(nb_or_bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_bytes, bytes):
        path.write_bytes(nb_or_bytes)
    else:
        # not nbformat.write: it would validate and quietly renumber duplicate cell ids
        path.write_text(json.dumps(nb_or_bytes, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
