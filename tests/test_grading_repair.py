"""Repairing damaged submissions before nbgrader sees them (no kernel: fast).

The release notebook is the committed student version of the fixture assignment
(tests/data/nb/release/mini/mini.ipynb, kept current by test_grading_pipeline.py).
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from simcrm.lab.repair import Problem, Report, inspect_submission, repair_notebook, repair_submission

DATA = Path(__file__).resolve().parent / "data" / "nb"
RELEASE_PATH = DATA / "release" / "mini" / "mini.ipynb"

_spec = importlib.util.spec_from_file_location("mini_submissions", DATA / "mini_submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)


@pytest.fixture(scope="module")
def release():
    return subs.read(RELEASE_PATH)


def gids(nb) -> list[str | None]:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def fix(nb, release):
    return repair_notebook(json.loads(json.dumps(nb)) if not isinstance(nb, nbformat.NotebookNode) else nb, release)


def test_a_clean_submission_has_no_problems(release):
    fixed, report = repair_notebook(subs.answered(release), release)
    assert report.ok and not report.fatal
    assert report.summary_zh() == "未发现问题。"
    assert gids(fixed) == gids(release)
    assert subs.cell(fixed, "q1_answer").source == subs.solutions()["q1_answer"]


def test_repair_is_idempotent(release):
    for damage in (subs.duplicate_ids, subs.changed_types, subs.deleted_test, subs.edited_test,
                   subs.cleared_metadata):
        once, report = repair_notebook(nbformat.from_dict(json.loads(json.dumps(damage(release)))), release)
        assert not report.ok, damage.__name__
        twice, again = repair_notebook(once, release)
        assert again.ok, (damage.__name__, again.summary_zh())
        assert twice == once


@pytest.mark.parametrize("content,kind", [
    (b"", "invalid_json"),
    (b'{"cells": [', "invalid_json"),
    (b"\xff\xfe{\x00", "invalid_json"),
    (b'{"hello": "world"}', "not_a_notebook"),
    (b"[1, 2, 3]", "not_a_notebook"),
])
def test_unreadable_files_are_fatal_and_nothing_is_written(tmp_path, release, content, kind):
    path = tmp_path / "mini.ipynb"
    path.write_bytes(content)
    out = tmp_path / "out.ipynb"
    report = repair_submission(path, release, out)
    assert report.fatal and report.kinds() == [kind]
    assert "0 分" in report.problems[0].detail_zh
    assert not out.exists()
    assert "无法评分" in report.summary_zh()


def test_truncated_upload_says_where(tmp_path, release):
    path = subs.write(subs.invalid_json(release), tmp_path / "mini.ipynb")
    report = inspect_submission(path, RELEASE_PATH)
    assert report.fatal and "行" in report.problems[0].detail_zh and "mini.ipynb" in report.problems[0].detail_zh


def test_byte_order_mark_is_accepted(tmp_path, release):
    path = tmp_path / "mini.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(subs.answered(release)).encode())
    report = repair_submission(path, release, tmp_path / "out.ipynb")
    assert report.kinds() == ["encoding_fixed"] and not report.fatal
    assert nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)


def test_inspect_does_not_touch_the_file(tmp_path, release):
    path = subs.write(subs.deleted_test(release), tmp_path / "mini.ipynb")
    before = path.read_bytes()
    report = inspect_submission(path, release)
    assert report.kinds() == ["deleted_test_cell"]
    assert path.read_bytes() == before


def test_duplicate_cells_keep_the_last_edited_answer(tmp_path, release):
    path = subs.write(subs.duplicate_ids(release), tmp_path / "mini.ipynb")
    out = tmp_path / "fixed.ipynb"
    report = repair_submission(path, release, out)
    assert report.kinds() == ["duplicate_cell_id", "duplicate_grade_id"]
    fixed = nbformat.read(str(out), as_version=4)
    nbformat.validate(fixed)
    ids = [c.id for c in fixed.cells]
    assert len(ids) == len(set(ids))
    assert gids(fixed).count("q1_answer") == 1
    assert subs.cell(fixed, "q1_answer").source == subs.solutions()["q1_answer"]
    # the first try stays in the notebook as an ordinary cell
    assert any(c.source == subs.WRONG_Q1 and "nbgrader" not in c.metadata for c in fixed.cells)
    dup = next(p for p in report.problems if p.kind == "duplicate_grade_id")
    assert dup.cell == "q1_answer" and "2 次" in dup.detail_zh


def test_a_copied_test_cell_is_dropped(release):
    nb = subs.answered(release)
    i = nb.cells.index(subs.cell(nb, "q2_test"))
    nb.cells.insert(i, copy.deepcopy(nb.cells[i]))
    fixed, report = fix(nb, release)
    assert "duplicate_grade_id" in report.kinds()
    assert gids(fixed) == gids(release)


def test_changed_types_are_restored(release):
    fixed, report = fix(subs.changed_types(release), release)
    assert report.kinds() == ["cell_type_changed"]
    assert {p.cell for p in report.problems} == {"q1_test", "q2_answer"}
    test = subs.cell(fixed, "q1_test")
    assert test.cell_type == "code" and test.source == subs.cell(release, "q1_test").source
    answer = subs.cell(fixed, "q2_answer")
    assert answer.cell_type == "code" and answer.source == subs.solutions()["q2_answer"]
    assert answer.outputs == [] and answer.execution_count is None


def test_an_answer_that_does_not_parse_is_commented_out(release):
    nb = subs.answered(release)
    c = subs.cell(nb, "q1_answer")
    c.cell_type = "markdown"
    c.source = "我觉得满意度是 b 除以 a"
    del c["outputs"], c["execution_count"]
    fixed, report = fix(nb, release)
    answer = subs.cell(fixed, "q1_answer")
    assert answer.cell_type == "code" and answer.source.startswith("# ")
    assert "注释" in report.problems[0].detail_zh


def test_a_written_answer_turned_into_code_goes_back_to_markdown(release):
    nb = subs.answered(release)
    c = subs.cell(nb, "q3_answer")
    c.cell_type, c.outputs, c.execution_count = "code", [], None
    fixed, report = fix(nb, release)
    assert report.kinds() == ["cell_type_changed"]
    essay = subs.cell(fixed, "q3_answer")
    assert essay.cell_type == "markdown" and essay.source == subs.ESSAY and "outputs" not in essay


def test_a_deleted_test_cell_goes_back_to_its_place(release):
    fixed, report = fix(subs.deleted_test(release), release)
    assert report.kinds() == ["deleted_test_cell"] and report.problems[0].cell == "q1_test"
    assert gids(fixed) == gids(release)
    assert subs.cell(fixed, "q1_answer").source == subs.WRONG_Q1


def test_deleted_test_goes_after_the_students_extra_cells(release):
    nb = subs.deleted_test(release)
    i = nb.cells.index(subs.cell(nb, "q1_answer"))
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell("satisfaction = satisfaction.round(3)", id="scratch"))
    fixed, _ = fix(nb, release)
    order = [c.get("id") for c in fixed.cells]
    assert order.index("scratch") < gids(fixed).index("q1_test")


def test_deleted_answer_and_locked_cells_come_back(release):
    nb = subs.answered(release)
    nb.cells = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] not in ("setup", "q2_answer")]
    fixed, report = fix(nb, release)
    assert sorted(report.kinds()) == ["deleted_answer_cell", "deleted_locked_cell"]
    assert gids(fixed) == gids(release)
    assert subs.cell(fixed, "q2_answer").source == subs.cell(release, "q2_answer").source  # the blank stub


def test_edited_test_and_locked_cells_are_restored(release):
    nb = subs.edited_test(release)
    subs.cell(nb, "setup").source += "\nsurvey['perception'] = survey['expectation']"
    fixed, report = fix(nb, release)
    assert sorted(report.kinds()) == ["edited_locked_cell", "edited_test_cell"]
    assert subs.cell(fixed, "q1_test").source == subs.cell(release, "q1_test").source
    assert subs.cell(fixed, "setup").source == subs.cell(release, "setup").source
    assert subs.cell(fixed, "q1_answer").source == subs.SNEAKY_Q1


def test_whitespace_only_edits_are_not_problems(release):
    nb = subs.answered(release)
    subs.cell(nb, "q1_test").source += "\n\n   "
    _, report = fix(nb, release)
    assert report.ok


def test_cleared_metadata_is_restored_by_alignment(release):
    fixed, report = fix(subs.cleared_metadata(release), release)
    assert report.kinds() == ["metadata_cleared"]
    assert gids(fixed) == gids(release)
    for c, r in zip(fixed.cells, release.cells):
        assert c.metadata["nbgrader"] == r.metadata["nbgrader"]
    assert subs.cell(fixed, "q1_answer").source == subs.solutions()["q1_answer"]
    assert subs.cell(fixed, "q3_answer").source == subs.ESSAY


def test_cleared_metadata_and_new_cell_ids_with_extra_cells(release):
    """Pasted into a new notebook cell by cell: new ids, no metadata, a scratch cell added."""
    nb = subs.cleared_metadata(release)
    for i, c in enumerate(nb.cells):
        c.id = f"new-{i}"
    q2 = next(i for i, c in enumerate(nb.cells) if c.source == subs.solutions()["q2_answer"])
    nb.cells.insert(q2, nbformat.v4.new_markdown_cell("我的草稿", id="note"))
    nb.cells.insert(q2 + 1, nbformat.v4.new_code_cell("orders.head()", id="scratch"))
    fixed, report = fix(nb, release)
    assert report.kinds() == ["metadata_cleared"]
    assert [g for g in gids(fixed) if g] == gids(release)
    assert subs.cell(fixed, "q2_answer").source == subs.solutions()["q2_answer"]
    assert subs.cell(fixed, "q1_answer").source == subs.solutions()["q1_answer"]


def test_changed_points_are_reported_and_restored(release):
    nb = subs.answered(release)
    subs.cell(nb, "q1_test").metadata["nbgrader"]["points"] = 100
    fixed, report = fix(nb, release)
    assert report.kinds() == ["metadata_changed"]
    assert subs.cell(fixed, "q1_test").metadata["nbgrader"]["points"] == 4


def test_a_cell_from_another_assignment_is_ignored(release):
    nb = subs.answered(release)
    stray = nbformat.v4.new_code_cell("x = 1", id="stray")
    stray.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "ch09_q1",
                                  "schema_version": 3, "task": False}
    nb.cells.append(stray)
    fixed, report = fix(nb, release)
    assert report.kinds() == ["unknown_grade_id"]
    assert "nbgrader" not in fixed.cells[-1].metadata


def test_a_moved_test_cell_is_not_duplicated(release):
    nb = subs.answered(release)
    moved = subs.cell(nb, "q1_test")
    nb.cells.remove(moved)
    nb.cells.append(moved)
    fixed, report = fix(nb, release)
    assert sorted(g for g in gids(fixed) if g) == sorted(gids(release))
    assert report.ok


def test_old_notebooks_without_cell_ids(release):
    data = json.loads(json.dumps(subs.answered(release)))
    data["nbformat_minor"] = 4
    for c in data["cells"]:
        c.pop("id", None)
    fixed, report = repair_notebook(nbformat.from_dict(data), release)
    assert report.ok
    nbformat.validate(fixed)


def test_report_round_trips_and_prints():
    report = Report(path="x.ipynb", problems=[Problem("deleted_test_cell", "q1_test", "测试单元格被删除"),
                                             Problem("invalid_json", None, "坏了", fatal=True)])
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert report.fatal and not report.ok
    assert str(report.problems[0]) == "[测试单元格被删除] q1_test：测试单元格被删除"
    assert "；" in report.one_line_zh()
