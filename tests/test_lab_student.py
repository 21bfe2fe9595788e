"""A course student sets their 学号 once (simcrm student set / set_student): remembered, shown in
the banner, the teacher's ticket wins, self-learners unchanged, mismatches reported at autograde."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from simcrm.cli import main
from simcrm.errors import ConfigError
from simcrm.lab import set_student, start
from simcrm.lab.grading import _check_world_used, _prepare_submission, worlds_used
from simcrm.lab.identity import DEFAULT_SEED, world_seed
from simcrm.lab.repair import Report

SID = "230101001"
SMALL = 300  # customers: a small world keeps the tests quick

_IDENTITY_VARS = ("SIMCRM_COURSE_SALT", "SIMCRM_STUDENT", "JUPYTERHUB_USER", "NBGRADER_EXECUTION",
                  "SIMCRM_REFEREE", "SIMCRM_WORLD")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """An empty student folder ($SIMCRM_HOME), no identity from the environment, a cwd without tickets."""
    for var in _IDENTITY_VARS:
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "simcrm-home"
    monkeypatch.setenv("SIMCRM_HOME", str(path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return path


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _IDENTITY_VARS}
    env["SIMCRM_HOME"] = str(home)
    return env


def test_set_is_remembered_in_a_new_process(home, tmp_path):
    env = _clean_env(home)
    set_cmd = [sys.executable, "-c", "from simcrm.cli import main; main()", "student", "set", SID]
    done = subprocess.run(set_cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert SID in done.stdout
    ask = ("from simcrm.lab.identity import resolve_student; s = resolve_student(); "
           "print(s.id, s.source)")
    again = subprocess.run([sys.executable, "-c", ask], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [SID, "saved"]
    shown = CliRunner().invoke(main, ["student", "show"], env={"SIMCRM_HOME": str(home)})
    assert shown.exit_code == 0 and SID in shown.output and "练习世界" in shown.output


def test_banner_shows_the_saved_id_and_says_practice_world(home, capsys):
    set_student(SID)
    lab = start("ch04", customers=SMALL)
    out = capsys.readouterr().out
    assert lab.student.id == SID and lab.student.source == "saved"
    assert lab.seed == world_seed(SID, "simcrm-course") and lab.practice
    assert f"学号 {SID}" in out and "已保存的学号" in out and str(home / "student.json") in out
    assert "练习世界" in out and "计分作业以教师" in out
    assert "默认世界" not in out


def test_the_teachers_ticket_wins(home, tmp_path, capsys):
    seed = 987654321  # any seed the teacher's ticket names; no salt is involved
    ticket = tmp_path / "simcrm_world.json"
    ticket.write_text(json.dumps({"student": SID, "seed": seed}), encoding="utf-8")
    set_student(SID, ticket)
    assert (home / "simcrm_world.json").is_file()
    lab = start("ch04", customers=SMALL)
    out = capsys.readouterr().out
    assert lab.student.source == "ticket" and lab.seed == seed and not lab.practice
    assert f"学号 {SID}" in out and "教师发放的世界文件" in out and "练习世界" not in out
    # another 学号 set later without a ticket: the old ticket must not stay the world start() opens
    set_student("230101002", quiet=True)
    assert not (home / "simcrm_world.json").exists()


def test_a_ticket_of_another_student_is_refused_and_nothing_saved(home, tmp_path):
    ticket = tmp_path / "simcrm_world.json"
    ticket.write_text(json.dumps({"student": "230101099", "seed": 5}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        set_student(SID, ticket)
    assert "世界文件" in str(info.value) and "230101099" in str(info.value)
    assert not home.exists() or not any(home.iterdir())


def test_default_world_when_nothing_is_set(home, capsys):
    lab = start("ch04", customers=SMALL)
    out = capsys.readouterr().out
    assert lab.student.id is None and lab.seed == DEFAULT_SEED and not lab.practice
    assert "默认世界（自学模式）" in out and "练习世界" not in out


@pytest.mark.parametrize("bad", ["", "   ", "2301 01", "x" * 65, "学号一"])
def test_bad_id_is_refused_in_chinese_naming_the_field(home, bad):
    with pytest.raises(ConfigError) as info:
        set_student(bad)
    assert "学号" in str(info.value) and "空格" in str(info.value)
    assert not (home / "student.json").exists()
    result = CliRunner().invoke(main, ["student", "set", bad], env={"SIMCRM_HOME": str(home)})
    assert result.exit_code == 2, result.output
    assert "错误" in result.output and "学号" in result.output and "Traceback" not in result.output
    assert not (home / "student.json").exists()


def _notebook_with_outputs(texts: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for text in texts:
        cell = nbformat.v4.new_code_cell("lab = start('ch04')")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    return nb


def test_autograde_reports_a_world_of_another_id(home, tmp_path):
    set_student(SID, quiet=True)
    banner = start("ch04", customers=SMALL, quiet=True).banner()  # the real banner, as a student saw it
    path = tmp_path / "nb.ipynb"
    nbformat.write(_notebook_with_outputs([banner]), path)
    assert worlds_used(path) == [SID]
    same, other = Report(), Report()
    _check_world_used(path, None, SID, same, "")
    _check_world_used(path, None, "230101777", other, "")
    assert same.problems == []
    assert other.kinds() == ["student_mismatch"] and SID in other.one_line_zh() and "230101777" in other.one_line_zh()


def test_autograde_pipeline_puts_the_mismatch_in_the_report(home, tmp_path):
    default_banner = start("ch04", customers=SMALL, quiet=True).banner()
    course = tmp_path / "course"
    release = course / "release" / "a1" / "lab.ipynb"
    release.parent.mkdir(parents=True)
    nbformat.write(_notebook_with_outputs([""]), release)
    submitted = course / "submitted" / "230101005" / "a1" / "lab.ipynb"
    submitted.parent.mkdir(parents=True)
    nbformat.write(_notebook_with_outputs([default_banner]), submitted)
    report = Report()
    _prepare_submission(course, "a1", "230101005", ["lab"], report)
    assert "student_mismatch" in report.kinds(), report.summary_zh()
    assert "默认世界" in report.one_line_zh()
