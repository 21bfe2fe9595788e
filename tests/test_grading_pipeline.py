"""The teacher's pipeline on the fixture assignment, with real nbgrader runs and real kernels.

One class is graded once (module fixture): correct, blank, wrong and damaged submissions, each
kind of damage the repair knows, an endless loop (per-cell timeout 5 s), a kernel crash and a
student who submitted nothing. The tests then read the grades, the reports, the feedback and the
exported sheet.
"""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from simcrm.cli_course import build_labs, course
from simcrm.lab import grading

DATA = Path(__file__).resolve().parent / "data" / "nb"
_spec = importlib.util.spec_from_file_location("mini_submissions", DATA / "mini_submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)

pytestmark = pytest.mark.slow

#: student → (submission, expected autograded score out of 10, problem kinds expected)
CLASS = {
    "2023001": ("correct", 10, []),
    "2023002": ("blank", 0, []),
    "2023003": ("wrong_q1", 6, []),
    "2023004": ("wrong_q2", 4, []),
    "2023005": ("invalid_json", 0, ["invalid_json"]),
    "2023006": ("duplicate_ids", 10, ["duplicate_cell_id", "duplicate_grade_id"]),
    "2023007": ("changed_types", 10, ["cell_type_changed"]),
    "2023008": ("deleted_test", 6, ["deleted_test_cell"]),
    "2023009": ("edited_test", 6, ["edited_test_cell"]),
    "2023010": ("cleared_metadata", 10, ["metadata_cleared"]),
    "2023011": ("infinite_loop", 6, ["cell_timeout"]),
    "2023012": ("kernel_crash", 6, ["kernel_died"]),
    "2023013": ("huge_output", 10, ["output_truncated"]),
}
NAMES = {sid: f"学生{i:02d}" for i, sid in enumerate(CLASS, 1)}
ABSENT = "0099"  # in the roster, submitted nothing; leading zero must survive


def _submission(kind: str, release):
    if kind == "correct":
        return subs.answered(release)
    if kind == "blank":
        return release
    if kind == "wrong_q1":
        return subs.answered(release, q1=subs.WRONG_Q1)
    if kind == "wrong_q2":
        return subs.answered(release, q2=subs.WRONG_Q2)
    if kind == "kernel_crash":
        return subs.answered(release, q1="import os\nos._exit(1)")
    if kind == "huge_output":  # 5,000,000 characters printed by a correct answer
        return subs.answered(release, q1=subs.solutions()["q1_answer"] + "\nprint('x' * 5_000_000)")
    return getattr(subs, kind)(release)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    solutions = base / "solutions"
    shutil.copytree(DATA / "mini", solutions / "mini")
    course_dir = grading.create_course(base / "course", solutions)

    roster = pd.DataFrame({"学号": [*CLASS, ABSENT], "姓名": [*NAMES.values(), "缺交同学"]})
    roster.to_csv(base / "名单.csv", index=False, encoding="gbk")  # what Excel on Chinese Windows saves
    imported = grading.import_roster(course_dir, base / "名单.csv")

    released = grading.release(course_dir, "mini")
    release_nb = subs.read(released["release_dir"] / "mini.ipynb")

    # half the class in a zip of flat LMS-style files, half in nbgrader's folder layout
    inbox, zipped = base / "inbox", base / "提交.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for i, (sid, (kind, _, _)) in enumerate(CLASS.items()):
            path = subs.write(_submission(kind, release_nb), base / "tmp" / f"{sid}_{NAMES[sid]}_mini.ipynb")
            if i % 2:
                zf.write(path, f"作业/{path.name}")
            else:
                shutil.copy(path, (inbox / sid / "mini").mkdir(parents=True, exist_ok=True) or inbox / sid / "mini" / "mini.ipynb")
    collected = pd.concat([grading.collect(course_dir, "mini", inbox), grading.collect(course_dir, "mini", zipped)])

    table = grading.autograde(course_dir, "mini", progress=False, timeout=5)
    return {"course": course_dir, "base": base, "table": table.set_index("student"), "roster": imported,
            "collected": collected, "released": released, "solutions": solutions}


def test_roster_keeps_ids_as_text(graded):
    assert list(graded["roster"]["学号"]) == [*CLASS, ABSENT]
    assert graded["roster"].set_index("学号").loc[ABSENT, "姓名"] == "缺交同学"


def test_release_has_chinese_stubs_and_no_hidden_tests(graded):
    text = (graded["released"]["release_dir"] / "mini.ipynb").read_text(encoding="utf-8")
    assert "# 在此编写代码" in text and "在此作答" in text
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    assert graded["released"]["exchange"] is False


def test_collect_found_every_student(graded):
    imported = graded["collected"][graded["collected"]["status"] == "imported"]
    assert sorted(imported["student"]) == sorted(CLASS)
    for sid in CLASS:
        assert (graded["course"] / "submitted" / sid / "mini" / "mini.ipynb").exists()


def test_the_whole_class_is_graded(graded):
    assert sorted(graded["table"].index) == sorted(CLASS)


@pytest.mark.parametrize("sid", list(CLASS))
def test_autograded_score(graded, sid):
    kind, expected, _ = CLASS[sid]
    row = graded["table"].loc[sid]
    assert row["auto_max_score"] == 10
    assert row["auto_score"] == expected, (kind, row["problems"])
    assert row["max_score"] == 15  # 5 more for the written answer, graded by hand


@pytest.mark.parametrize("sid", list(CLASS))
def test_each_damaged_submission_is_reported(graded, sid):
    kind, _, kinds = CLASS[sid]
    row = graded["table"].loc[sid]
    assert row["kinds"] == kinds, (kind, row["problems"])
    assert bool(row["fatal"]) is (kind == "invalid_json")
    if kinds:
        assert row["problems"].startswith("[")


def test_reports_say_what_was_wrong(graded):
    t = graded["table"]
    assert "JSON" in t.loc["2023005", "problems"] and "原文件保存在" in t.loc["2023005", "problems"]
    assert "q1_test" in t.loc["2023008", "problems"] and "删除" in t.loc["2023008", "problems"]
    assert "5 秒" in t.loc["2023011", "problems"] and "q1_answer" in t.loc["2023011", "problems"]
    assert "崩溃" in t.loc["2023012", "problems"]
    report = (graded["course"] / "simcrm_repair" / "mini" / "2023005" / "report.json").read_text(encoding="utf-8")
    assert "invalid_json" in report
    original = graded["course"] / "simcrm_repair" / "mini" / "2023005" / "original" / "mini.ipynb"
    assert original.exists()


def test_the_written_answer_waits_for_the_teacher(graded):
    t = graded["table"]
    assert bool(t.loc["2023001", "needs_manual_grade"])
    assert not bool(t.loc["2023002", "needs_manual_grade"])  # the untouched stub scores 0 by itself


def test_regrading_repairs_the_original_again(graded):
    again = grading.autograde(graded["course"], "mini", students=["2023008", "2023005"], progress=False, timeout=5)
    again = again.set_index("student")
    assert again.loc["2023008", "kinds"] == ["deleted_test_cell"] and again.loc["2023008", "auto_score"] == 6
    assert again.loc["2023005", "fatal"]


def test_huge_output_is_capped_and_reported(graded):
    path = graded["course"] / "autograded" / "2023013" / "mini" / "mini.ipynb"
    assert path.stat().st_size < 3 * grading.OUTPUT_CAP
    assert "已截断" in graded["table"].loc["2023013", "problems"]
    assert "5,000,0" in graded["table"].loc["2023013", "problems"]


def test_feedback_and_export(graded):
    files = grading.feedback(graded["course"], "mini")
    assert len(files) == len(CLASS)
    assert "满意度" in files[0].read_text(encoding="utf-8")
    html = {f.parent.parent.name: f.read_text(encoding="utf-8") for f in files}
    # the student's feedback says what was wrong with the file and what was repaired
    assert "无法按笔记本评分" in html["2023005"] and "不是有效的 JSON" in html["2023005"]
    assert "测试单元格被删除" in html["2023008"] and "已从发布版本恢复" in html["2023008"]
    assert "评分说明" not in html["2023001"]
    assert len(html["2023013"]) < 3 * grading.OUTPUT_CAP

    sheet = grading.export_grades(graded["course"], graded["base"] / "out" / "成绩.csv")
    csv = graded["base"] / "out" / "成绩.csv"
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to show Chinese
    text = csv.read_text(encoding="utf-8-sig")
    assert f'"=""{ABSENT}"""' in text  # ="0099": Excel shows the text 0099, never the number 99
    back = pd.read_csv(csv, dtype=str, encoding="utf-8-sig")
    assert list(back.columns) == ["学号", "姓名", "作业", "得分", "满分", "问题"]
    assert len(back) == len(CLASS) + 1
    assert set(back["学号"].str.fullmatch(r'="\w+"')) == {True}
    # the .xlsx is the primary file: 学号 stored as text, read back with its zeros by pandas
    rows = pd.read_excel(graded["base"] / "out" / "成绩.xlsx", dtype={"学号": str}).set_index("学号")
    assert rows.loc[ABSENT, "问题"] == "[未提交]" and float(rows.loc[ABSENT, "得分"]) == 0
    assert rows.loc["2023001", "姓名"] == NAMES["2023001"] and float(rows.loc["2023001", "得分"]) == 10
    assert "JSON" in rows.loc["2023005", "问题"]
    assert list(sheet.columns) == list(back.columns)

    ws = openpyxl.load_workbook(graded["base"] / "out" / "成绩.xlsx").active
    values = list(ws.values)
    assert values[0] == ("学号", "姓名", "作业", "得分", "满分", "问题")
    assert (ABSENT, "缺交同学") in {v[:2] for v in values[1:]}
    assert all(isinstance(v[0], str) for v in values[1:])


def test_xlsx_roster_with_numeric_ids_keeps_zeros_or_names_the_rows(tmp_path):
    course = grading.create_course(tmp_path / "course")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["学号", "姓名"])
    for i, (number, fmt) in enumerate([(230101001, "0000000000"), (230101002, "0000000000"),
                                       (230101003, "General"), ("0230101004", "@")]):
        ws.append([number, f"学生{i}"])
        ws.cell(row=i + 2, column=1).number_format = fmt
    wb.save(tmp_path / "名单.xlsx")
    roster = grading.import_roster(course, tmp_path / "名单.xlsx")
    assert list(roster["学号"]) == ["0230101001", "0230101002", "230101003", "0230101004"]

    ws.cell(row=3, column=1).number_format = '"23"0000000'  # a format this cannot reproduce exactly
    ws.append([230101005, "学生5"])
    ws.cell(row=6, column=1).number_format = "0.00"
    wb.save(tmp_path / "名单2.xlsx")
    from simcrm.errors import ImportFileError

    with pytest.raises(ImportFileError) as info:
        grading.import_roster(course, tmp_path / "名单2.xlsx")
    assert "第 3、6 行" in str(info.value) and "文本" in str(info.value)


def test_cli_export_and_help(graded):
    runner = CliRunner()
    out = graded["base"] / "cli" / "grades.csv"
    result = runner.invoke(course, ["export", "--course", str(graded["course"]), str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and out.with_suffix(".xlsx").exists()
    for name in course.commands:
        result = runner.invoke(course, [name, "--help"])
        assert result.exit_code == 0 and f"simcrm course {name}" in result.output.split("Example:")[1]
    assert "simcrm build-labs" in runner.invoke(build_labs, ["--help"]).output.split("Example:")[1]
    bad = runner.invoke(course, ["autograde", "--course", str(graded["base"]), "mini"])
    assert bad.exit_code != 0 and "nbgrader_config.py" in bad.output


def test_generate_labs_is_byte_stable_and_staleness_is_detected(tmp_path):
    labs = tmp_path / "labs"
    written = grading.generate_labs(DATA, labs, ["mini"])
    assert [p.relative_to(labs).as_posix() for p in written] == ["mini/mini.ipynb"]
    path = labs / "mini" / "mini.ipynb"
    first = path.read_bytes()
    nb = nbformat.reads(first.decode("utf-8"), as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert "widgets" not in nb.metadata
    sources = [c.source for c in nb.cells]
    assert sources.count(grading.CODE_STUB) == 2 and "在此作答" in sources
    # the committed release of the fixture is what generation produces now
    assert first == (DATA / "release" / "mini" / "mini.ipynb").read_bytes()

    assert grading.generate_labs(DATA, labs, ["mini"]) == []  # nothing to rewrite
    assert path.read_bytes() == first
    assert grading.labs_are_current(DATA, labs, ["mini"]) == []

    path.write_bytes(first.replace("练习 1".encode(), "练习 一".encode()))
    (labs / "mini" / "old.csv").write_text("x\n", encoding="utf-8")
    assert grading.labs_are_current(DATA, labs, ["mini"]) == ["mini/mini.ipynb", "mini/old.csv"]
    result = CliRunner().invoke(build_labs, ["--solutions", str(DATA), "--labs", str(labs), "mini"])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == first and not (labs / "mini" / "old.csv").exists()
