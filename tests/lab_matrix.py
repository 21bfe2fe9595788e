"""The nbgrader grading matrix each chapter lab's test runs on a real course.

A lab's test builds its students' notebooks (the solution, blank, one wrong answer, an answer
copied from another student's world) and hands them to :meth:`MatrixCourse.grade`; the checks
every lab shares are :meth:`MatrixCourse.assert_matrix`. What is particular to a lab (which
answer is wrong, what is copied from whom) stays in that lab's test.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

_SOLUTION_MARKS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", flags=re.M)


class MatrixCourse:
    """A course with one released lab, its solution answers and its autograded points."""

    def __init__(self, tmp_path: Path, lab: str, *, timeout: int = 300) -> None:
        import nbformat

        from simcrm.lab import grading

        self.lab = lab
        self.tmp_path = tmp_path
        solutions = tmp_path / "solutions"
        shutil.copytree(ROOT / "solutions" / lab, solutions / lab)
        self.course_dir = grading.create_course(tmp_path / "course", solutions, timeout=timeout)
        released = grading.release(self.course_dir, lab)
        self.release_nb = nbformat.read(released["release_dir"] / f"{lab}.ipynb", as_version=4)
        source = nbformat.read(solutions / lab / f"{lab}.ipynb", as_version=4)
        cells = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells}
        #: the solution of every answer cell, without nbgrader's solution markers
        self.answers = {gid: _SOLUTION_MARKS.sub("", c.source).strip() for gid, c in cells.items()
                        if c.metadata["nbgrader"].get("solution") and c.cell_type == "code"}
        #: the points of every autograded test cell
        self.points = {gid: float(c.metadata["nbgrader"]["points"]) for gid, c in cells.items()
                       if c.metadata["nbgrader"].get("grade") and c.cell_type == "code"}
        self.auto_max = sum(self.points.values())
        assert sum(float(c.metadata["nbgrader"]["points"]) for c in cells.values()
                   if c.metadata["nbgrader"].get("grade")) == 100
        assert 70 <= self.auto_max <= 85

    def answered(self, overrides: dict[str, str] | None = None) -> Any:
        """The released notebook with the solution's answers, some replaced by ``overrides``."""
        nb = copy.deepcopy(self.release_nb)
        by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells}
        for gid, src in {**self.answers, **(overrides or {})}.items():
            by_id[gid].source = src
        return nb

    def grade(self, students: dict[str, Any]) -> Any:
        """Collect and autograde ``students`` (name → notebook); the result indexed by student."""
        import nbformat

        from simcrm.lab import grading

        inbox = self.tmp_path / "inbox"
        for student, nb in students.items():
            folder = inbox / student / self.lab
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{self.lab}.ipynb")
        grading.collect(self.course_dir, self.lab, inbox)
        return grading.autograde(self.course_dir, self.lab, students=list(students),
                                 progress=False).set_index("student")

    def per_question(self, student: str) -> dict[str, float]:
        """The gradebook's score of each autograded test cell for ``student``."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.course_dir / 'gradebook.db'}") as gb:
            sub = gb.find_submission_notebook(self.lab, self.lab, student)
            return {g.name: float(g.score) for g in sub.grades if g.cell.name in self.points}

    def lost(self, student: str) -> dict[str, tuple[float, float, str]]:
        """``{test cell: (score, points, its output)}`` of the cells where ``student`` lost
        points, for failure messages: which check failed, and what it printed, says why."""
        import nbformat

        path = self.course_dir / "autograded" / student / self.lab / f"{self.lab}.ipynb"
        outputs: dict[str, str] = {}
        if path.exists():
            for cell in nbformat.read(path, as_version=4).cells:
                name = cell.metadata.get("nbgrader", {}).get("grade_id")
                if name:
                    outputs[name] = "".join(o.get("text", "") or "\n".join(o.get("traceback", []))
                                            for o in cell.get("outputs", []))[-800:]
        return {k: (v, self.points[k], outputs.get(k, "") + self.referee_says(student), self.salt())
                for k, v in self.per_question(student).items() if v != self.points[k]}

    def referee_says(self, student: str) -> str:
        """The referee's own verdicts on ``student``'s failed answers (its record, which the
        kernel's output only announces): why each answer failed on that student's world."""
        import json

        from simcrm.lab.course import REPAIR_DIR

        path = self.course_dir / REPAIR_DIR / self.lab / student / "referee.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8")) or []
        except (OSError, ValueError):
            return ""
        return "".join(f"\n[referee] {e.get('question')}: {e.get('hint')}" for e in record if not e.get("ok"))

    def salt(self) -> str:
        """The course's salt: with it and the student's name, the world of a failure is rebuilt
        (``simcrm.lab.identity.world_seed(student, salt)``); every test course gets a new one."""
        from simcrm.lab.course import course_settings

        return f"salt={course_settings(self.course_dir).get('salt')}"

    def assert_matrix(self, result: Any, *, wrong: tuple[str, str], copier: tuple[str, str],
                      full: tuple[str, ...] = ("stu_a", "stu_b"), blank: str = "blank") -> None:
        """Full marks for ``full``, zero for ``blank``; the ``wrong`` and ``copier`` students
        (name, test cell) lose exactly that cell's points and keep every other."""
        for student in full:
            assert result.loc[student, "auto_score"] == pytest.approx(self.auto_max), \
                (student, self.lost(student), result.loc[student].to_dict())
        assert result.loc[blank, "auto_score"] == 0
        for student, cell in (wrong, copier):
            assert result.loc[student, "auto_score"] == pytest.approx(self.auto_max - self.points[cell]), \
                (student, cell, self.lost(student), result.loc[student].to_dict())
            scores = self.per_question(student)
            assert scores[cell] == 0, (student, cell)
            assert all(v == self.points[k] for k, v in scores.items() if k != cell), (student, scores)
