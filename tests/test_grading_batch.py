"""Batches: --jobs with one gradebook writer, --changed, and resuming an interrupted batch.

On the fixture assignment ``mini`` with real nbgrader runs. The expected scores are those of
tests/test_grading_pipeline.py (correct 10, wrong q1 6, wrong q2 4, blank 0), worked out there
from the assignment's points.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from simcrm.cli_course import course as course_cli
from simcrm.lab import grading

DATA = Path(__file__).resolve().parent / "data" / "nb"
_spec = importlib.util.spec_from_file_location("mini_submissions", DATA / "mini_submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)

pytestmark = pytest.mark.slow

EXPECTED = {"b001": 10.0, "b002": 6.0, "b003": 4.0, "b004": 0.0}


@pytest.fixture()
def course(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(DATA / "mini", solutions / "mini")
    course_dir = grading.create_course(tmp_path / "course", solutions)
    released = grading.release(course_dir, "mini")
    release_nb = subs.read(released["release_dir"] / "mini.ipynb")
    notebooks = {"b001": subs.answered(release_nb), "b002": subs.answered(release_nb, q1=subs.WRONG_Q1),
                 "b003": subs.answered(release_nb, q2=subs.WRONG_Q2), "b004": release_nb}
    for sid, nb in notebooks.items():
        subs.write(nb, tmp_path / "inbox" / sid / "mini" / "mini.ipynb")
    grading.collect(course_dir, "mini", tmp_path / "inbox")
    return course_dir, release_nb, tmp_path


def _gradebook_scores(course_dir: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        return {s.student.id: float(s.code_score) for s in gb.assignment_submissions("mini")}


def test_jobs_grade_in_parallel_with_one_gradebook_writer(course):
    course_dir, _, _ = course
    table = grading.autograde(course_dir, "mini", progress=False, jobs=2, timeout=30)
    assert dict(zip(table["student"], table["auto_score"])) == EXPECTED
    assert _gradebook_scores(course_dir) == EXPECTED
    assert bool(table.set_index("student").loc["b001", "needs_manual_grade"])  # the essay waits for the teacher
    # the parallel run's grades are the sequential run's
    again = grading.autograde(course_dir, "mini", progress=False, jobs=1, timeout=30)
    assert dict(zip(again["student"], again["auto_score"])) == EXPECTED


def test_changed_regrades_only_what_changed(course, monkeypatch):
    course_dir, release_nb, tmp_path = course
    grading.autograde(course_dir, "mini", progress=False, timeout=30)
    ran: list[str] = []
    real = grading.autograde_student

    def counting(api, course, assignment, student, *a, **k):
        ran.append(student)
        return real(api, course, assignment, student, *a, **k)

    monkeypatch.setattr(grading, "autograde_student", counting)
    table = grading.autograde(course_dir, "mini", progress=False, timeout=30, changed=True)
    assert ran == [] and table["skipped"].all()
    assert dict(zip(table["student"], table["auto_score"])) == EXPECTED
    # b004 hands in the correct answers now: only b004 runs again
    subs.write(subs.answered(release_nb), tmp_path / "inbox2" / "b004" / "mini" / "mini.ipynb")
    grading.collect(course_dir, "mini", tmp_path / "inbox2")
    table = grading.autograde(course_dir, "mini", progress=False, timeout=30, changed=True)
    assert ran == ["b004"]
    assert dict(zip(table["student"], table["auto_score"])) == {**EXPECTED, "b004": 10.0}
    # without --changed everything runs again
    grading.autograde(course_dir, "mini", progress=False, timeout=30)
    assert sorted(ran[1:]) == sorted(EXPECTED)


def test_an_interrupted_batch_continues_where_it_stopped(course, monkeypatch):
    course_dir, _, _ = course
    ran: list[str] = []
    real = grading.autograde_student

    def interrupted(api, course, assignment, student, *a, **k):
        if len(ran) == 2:
            raise KeyboardInterrupt
        ran.append(student)
        return real(api, course, assignment, student, *a, **k)

    monkeypatch.setattr(grading, "autograde_student", interrupted)
    result = CliRunner().invoke(course_cli, ["autograde", "--course", str(course_dir), "mini", "--jobs", "1",
                                             "--quiet", "--timeout", "30"])
    assert result.exit_code != 0 and "再次运行同一命令会从中断处继续" in result.output
    assert ran == ["b001", "b002"]
    assert _gradebook_scores(course_dir) == {k: EXPECTED[k] for k in ran}  # nothing graded was lost

    monkeypatch.setattr(grading, "autograde_student", real)
    rerun: list[str] = []
    monkeypatch.setattr(grading, "autograde_student",
                        lambda api, c, a, s, *x, **k: rerun.append(s) or real(api, c, a, s, *x, **k))
    result = CliRunner().invoke(course_cli, ["autograde", "--course", str(course_dir), "mini", "--jobs", "1",
                                             "--quiet", "--timeout", "30"])
    assert result.exit_code == 0, result.output
    assert rerun == ["b003", "b004"]
    assert _gradebook_scores(course_dir) == EXPECTED
    assert "（未变化，沿用上次结果）" in result.output
    assert not (course_dir / "simcrm_repair" / "mini" / grading.BATCH_FILE).exists()


def test_students_get_their_world_without_the_salt(tmp_path, monkeypatch):
    """`simcrm course worlds` writes each student's seed; start() uses it, no salt in sight."""
    import pandas as pd

    from simcrm.lab import start
    from simcrm.lab.identity import world_seed

    course_dir = grading.create_course(tmp_path / "course")
    pd.DataFrame({"学号": ["0301", "0302"], "姓名": ["甲", "乙"]}).to_csv(tmp_path / "r.csv", index=False)
    grading.import_roster(course_dir, tmp_path / "r.csv")
    result = CliRunner().invoke(course_cli, ["worlds", "--course", str(course_dir), str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    salt = grading.course_settings(course_dir)["salt"]
    ticket = tmp_path / "w" / "0302" / "simcrm_world.json"
    assert salt not in ticket.read_text(encoding="utf-8")
    for var in ("SIMCRM_COURSE_SALT", "SIMCRM_STUDENT", "JUPYTERHUB_USER", "NBGRADER_EXECUTION", "SIMCRM_REFEREE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SIMCRM_WORLD", str(ticket))
    lab = start("ch04", quiet=True, customers=300)
    assert lab.student.id == "0302" and lab.student.source == "ticket"
    assert lab.seed == world_seed("0302", salt) != world_seed("0302")
    assert "教师发放的世界文件" in lab.banner()


def test_cell_metadata_is_validated_as_before_with_the_schema_checked_once(monkeypatch):
    """simcrm's nbgrader calls validate each cell's metadata with nbgrader's schema checked once
    (not once per cell): valid cells pass, and a damaged cell raises the same error, with the
    same message, as ``jsonschema.validate`` itself."""
    import jsonschema
    from nbformat.v4 import new_code_cell
    from nbgrader.nbgraderformat import MetadataValidator, common

    from simcrm.lab.course import _check_metadata_schema_once

    monkeypatch.setattr(common, "jsonschema", jsonschema)  # this test installs it itself
    _check_metadata_schema_once()
    validator = MetadataValidator()
    good = {"grade": True, "solution": False, "locked": True, "points": 5, "grade_id": "q1_test",
            "schema_version": 3, "task": False}
    bad = [dict(good, points="five"), dict(good, grade_id="第一题 !"), dict(good, grade="yes"),
           {k: v for k, v in good.items() if k != "locked"}, dict(good, extra=1)]
    checks = []
    cls = jsonschema.validators.validator_for(validator.schema)
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s, **k: checks.append(1)))
    for _ in range(40):
        validator.validate_cell(new_code_cell(metadata={"nbgrader": dict(good)}))
    assert len(checks) == 1
    for meta in bad:
        with pytest.raises(jsonschema.ValidationError) as expected:
            jsonschema.validate(meta, validator.schema)
        with pytest.raises(jsonschema.ValidationError) as got:
            validator.validate_cell(new_code_cell(metadata={"nbgrader": meta}))
        assert got.value.message == expected.value.message and list(got.value.path) == list(expected.value.path)
