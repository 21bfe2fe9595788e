"""Benchmark the grading pipeline on a class of 30 submissions of the fixture assignment.

Grades the same 30 submissions (two thirds correct, one third with a wrong answer) twice, in
two copies of one course:

1. ``simcrm.lab.grading.autograde`` — repair, then nbgrader's API, one student at a time;
2. plain ``nbgrader autograde mini --force`` — nbgrader's command line, one call for the class.

Prints wall time and seconds per submission for each, and checks that both give the same
scores. Run: ``python benchmarks/bench_autograde.py [n_students]``
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


def cli_scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="simcrm") as gb:
        return {s.student.id: float(s.code_score) for s in gb.assignment_submissions("mini")}


def main(n: int = 30) -> None:
    course, twin, expected = make_class(n)

    t0 = time.perf_counter()
    table = grading.autograde(course, "mini", progress=False)
    ours = time.perf_counter() - t0
    got = dict(zip(table["student"], table["auto_score"]))
    assert got == expected, {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "mini", "--force"], cwd=twin, check=True,
                   capture_output=True)
    cli = time.perf_counter() - t0
    assert cli_scores(twin) == expected

    print(f"class of {n} submissions of tests/data/nb/mini ({sum(v == 10 for v in expected.values())} correct)")
    print(f"  simcrm autograde (repair + NbGraderAPI): {ours:6.1f} s  = {ours / n:.2f} s/submission")
    print(f"  nbgrader autograde CLI (one call)      : {cli:6.1f} s  = {cli / n:.2f} s/submission")
    print(f"  ratio simcrm / CLI: {ours / cli:.2f}; both give the same scores")
    shutil.rmtree(_TMP, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
