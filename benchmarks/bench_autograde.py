"""Benchmark the grading pipeline on a class of 30 submissions of the fixture assignment.

Grades the same 30 submissions (two thirds correct, one third with a wrong answer) twice, in
two copies of one course:

1. ``simcrm.lab.grading.autograde`` — repair, then nbgrader's API, one student at a time;
2. plain ``nbgrader autograde mini --force`` — nbgrader's command line, one call for the class.

Prints wall time and seconds per submission for each, and checks that both give the same
scores. Run: ``python benchmarks/bench_autograde.py [n_students] [--lab ch04_customers]``.

With ``--lab`` the class is a real chapter lab from ``solutions/``: every student gets their own
world (the id comes from the autograde directory), two thirds hand in the solution, one third
a wrong answer to the lab's last judgement question.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "nb"

# nbgrader runs `alembic`; keep Jupyter and IPython out of $HOME
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
_TMP = Path(tempfile.mkdtemp(prefix="simcrm-bench-"))
for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
    (_TMP / var).mkdir()
    os.environ[var] = str(_TMP / var)

from simcrm.lab import grading  # noqa: E402 - after the environment is set

_spec = importlib.util.spec_from_file_location("mini_submissions", DATA / "mini_submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)


def make_class(n: int) -> tuple[Path, Path, dict[str, float]]:
    solutions = _TMP / "solutions"
    shutil.copytree(DATA / "mini", solutions / "mini")
    course = grading.create_course(_TMP / "course_simcrm", solutions)
    grading.release(course, "mini")
    release = subs.read(course / "release" / "mini" / "mini.ipynb")
    expected = {}
    for i in range(n):
        sid = f"s{i:03d}"
        if i % 3 == 2:
            nb, expected[sid] = (subs.answered(release, q1=subs.WRONG_Q1), 6.0) if i % 2 else \
                (subs.answered(release, q2=subs.WRONG_Q2), 4.0)
        else:
            nb, expected[sid] = subs.answered(release), 10.0
        subs.write(nb, course / "submitted" / sid / "mini" / "mini.ipynb")
    twin = _TMP / "course_cli"
    shutil.copytree(course, twin)
    return course, twin, expected


def make_lab_class(lab: str, n: int) -> tuple[Path, Path, dict[str, float]]:
    """A class of ``n`` submissions of chapter lab ``lab`` (solution or one wrong answer)."""
    import copy
    import re

    import nbformat

    source = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    meta = [(c, c.metadata.get("nbgrader", {})) for c in source.cells]
    answers = {m["grade_id"]: re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", c.source, flags=re.M)
               for c, m in meta if m.get("solution") and c.cell_type == "code"}
    points = {m["grade_id"]: float(m["points"]) for c, m in meta if m.get("grade") and c.cell_type == "code"}
    auto_max = sum(points.values())
    # the last autograded question: its answer cell is the solution cell just before its test
    order = [m.get("grade_id") for _c, m in meta]
    last_test = [g for g in order if g in points][-1]
    last_answer = [g for g in order[: order.index(last_test)] if g in answers][-1]
    solutions = _TMP / "solutions"
    shutil.copytree(ROOT / "solutions" / lab, solutions / lab)
    course = grading.create_course(_TMP / "course_simcrm", solutions, timeout=300)
    grading.release(course, lab)
    release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
    expected = {}
    for i in range(n):
        sid = f"s{i:03d}"
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answers[gid]
        if i % 3 == 2:  # the last answer is not done at all: that question's points are lost
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == last_answer)
            cell.source = "raise ValueError('wrong on purpose')\n" + cell.source
            expected[sid] = auto_max - points[last_test]
        else:
            expected[sid] = auto_max
        folder = course / "submitted" / sid / lab
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")
    twin = _TMP / "course_cli"
    shutil.copytree(course, twin)
    return course, twin, expected


def cli_scores(course: Path, assignment: str = "mini") -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="simcrm") as gb:
        return {s.student.id: float(s.code_score) for s in gb.assignment_submissions(assignment)}


def main(n: int = 30, lab: str | None = None) -> None:
    assignment = lab or "mini"
    course, twin, expected = make_lab_class(lab, n) if lab else make_class(n)

    t0 = time.perf_counter()
    table = grading.autograde(course, assignment, progress=False)
    ours = time.perf_counter() - t0
    got = dict(zip(table["student"], table["auto_score"]))
    assert got == expected, {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"], cwd=twin, check=True,
                   capture_output=True)
    cli = time.perf_counter() - t0
    assert cli_scores(twin, assignment) == expected

    where = f"solutions/{lab}" if lab else "tests/data/nb/mini"
    print(f"class of {n} submissions of {where} ({sum(v == max(expected.values()) for v in expected.values())} correct)")
    print(f"  simcrm autograde (repair + NbGraderAPI): {ours:6.1f} s  = {ours / n:.2f} s/submission")
    print(f"  nbgrader autograde CLI (one call)      : {cli:6.1f} s  = {cli / n:.2f} s/submission")
    print(f"  ratio simcrm / CLI: {ours / cli:.2f}; both give the same scores")
    shutil.rmtree(_TMP, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=30, help="students in the class")
    parser.add_argument("--lab", default=None, help="a chapter lab of solutions/, e.g. ch04_customers")
    args = parser.parse_args()
    main(args.n, args.lab)
