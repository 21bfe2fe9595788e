"""The chapter labs through the real grading pipeline: nbgrader autograde on real kernels.

For every lab in ``solutions/``: the solution autogrades to full marks on the autograded part,
the blank release to zero. For the pilot lab (ch04), the full matrix: one wrong answer loses
exactly that question's points, two students are graded on their own worlds, and an answer
typed in from another student's world fails. ``labs/`` must be what generation produces now.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from simcrm.lab import grading

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
LABS = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())
PILOT = "ch04_customers"

pytestmark = pytest.mark.slow


def _cells(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def _solution_sources(lab: str) -> dict[str, str]:
    nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    out = {}
    for gid, cell in _cells(nb).items():
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[gid] = re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", cell.source, flags=re.M).strip()
    return out


def _autograded_points(lab: str) -> dict[str, float]:
    nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    return {gid: float(c.metadata["nbgrader"]["points"]) for gid, c in _cells(nb).items()
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def _answered(release, lab: str, overrides: dict[str, str] | None = None):
    nb = copy.deepcopy(release)
    cells = _cells(nb)
    for gid, src in {**_solution_sources(lab), **(overrides or {})}.items():
        cells[gid].source = src
    return nb


def test_labs_are_current():
    assert grading.labs_are_current(SOLUTIONS, ROOT / "labs") == []


def test_every_lab_is_worth_100_with_about_80_autograded():
    for lab in LABS:
        nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
        points = [(c.cell_type, float(c.metadata["nbgrader"]["points"])) for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade")]
        total = sum(p for _, p in points)
        auto = sum(p for kind, p in points if kind == "code")
        assert total == 100, lab
        assert 70 <= auto <= 85, (lab, auto)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("labs-course")
    course_dir = grading.create_course(base / "course", SOLUTIONS, timeout=300)
    released = {lab: grading.release(course_dir, lab) for lab in LABS}
    return base, course_dir, released


def _submit(base: Path, course_dir: Path, lab: str, notebooks: dict[str, nbformat.NotebookNode]):
    inbox = base / f"inbox-{lab}"
    shutil.rmtree(inbox, ignore_errors=True)
    for student, nb in notebooks.items():
        folder = inbox / student / lab
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")
    grading.collect(course_dir, lab, inbox)
    return grading.autograde(course_dir, lab, students=list(notebooks), progress=False)


def _per_question(course_dir: Path, lab: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        sub = gb.find_submission_notebook(lab, lab, student)
        return {g.name: float(g.score) for g in sub.grades if g.cell.name in _autograded_points(lab)}


@pytest.mark.parametrize("lab", [lab for lab in LABS if lab != PILOT])
def test_solution_full_marks_and_blank_zero(course, lab):
    base, course_dir, released = course
    release_nb = nbformat.read(released[lab]["release_dir"] / f"{lab}.ipynb", as_version=4)
    result = _submit(base, course_dir, lab, {"s1": _answered(release_nb, lab), "s2": release_nb}).set_index("student")
    auto_max = sum(_autograded_points(lab).values())
    assert result.loc["s1", "auto_score"] == pytest.approx(auto_max)
    assert result.loc["s2", "auto_score"] == 0


def test_pilot_full_matrix(course):
    """ch04: correct, blank, one wrong, two students' worlds, an answer copied across worlds."""
    from simcrm.lab import start
    from simcrm.lab.questions import evaluate, get_question

    base, course_dir, released = course
    lab = PILOT
    release_nb = nbformat.read(released[lab]["release_dir"] / f"{lab}.ipynb", as_version=4)
    points = _autograded_points(lab)
    auto_max = sum(points.values())

    # student B's duplicate rows, computed on B's world (as B would have typed them)
    lab_b = start("ch04", student="stu_b", quiet=True)
    b_rows = get_question("ch04.dup_rows").func(lab_b.context())
    lab_a = start("ch04", student="stu_a", quiet=True)
    a_rows = get_question("ch04.dup_rows").func(lab_a.context())
    assert a_rows != b_rows, "two students' worlds should give different answers"
    assert evaluate("ch04.dup_rows", lab_b.context(), b_rows).ok

    typed_in = f"dup_rows = {b_rows!r}"
    wrong_strategy = 'strategy = {"目标客户": "B", "初次购买客户": "A", "重复购买客户": "C", "流失客户": "D"}'
    result = _submit(base, course_dir, lab, {
        "stu_a": _answered(release_nb, lab),
        "stu_b": _answered(release_nb, lab, {"q21_answer": _solution_sources(lab)["q21_answer"]}),
        "blank": release_nb,
        "wrong": _answered(release_nb, lab, {"q42_answer": wrong_strategy}),
        # computes the right rows for later tasks, but answers 2.1 with B's list
        "copier": _answered(release_nb, lab, {
            "q21_answer": _solution_sources(lab)["q21_answer"].replace("dup_rows = sorted", "_mine = sorted")
            + "\n" + typed_in,
            "q22_answer": _solution_sources(lab)["q22_answer"].replace("dup_rows", "_mine"),
        }),
    }).set_index("student")
    assert result.loc["stu_a", "auto_score"] == pytest.approx(auto_max)
    assert result.loc["stu_b", "auto_score"] == pytest.approx(auto_max)
    assert result.loc["blank", "auto_score"] == 0
    assert result.loc["wrong", "auto_score"] == pytest.approx(auto_max - points["q42_test"])
    wrong_q = _per_question(course_dir, lab, "wrong")
    assert wrong_q["q42_test"] == 0 and all(v == points[k] for k, v in wrong_q.items() if k != "q42_test")
    # B's answer typed into another student's notebook is graded on that student's own world
    copier = _per_question(course_dir, lab, "copier")
    assert copier["q21_test"] == 0
    assert result.loc["copier", "auto_score"] == pytest.approx(auto_max - points["q21_test"])
