"""The teacher's grading pipeline: repair → nbgrader autograde, per student, never stopping.

nbgrader grades one student at a time and trusts what it is given; in a class of a hundred a
few notebooks are always damaged, and one that hangs or crashes must not cost the other
ninety-nine their grades. :func:`autograde` therefore, for each submission:

1. keeps the original as submitted in ``simcrm_repair/<assignment>/<student>/`` (so a re-run
   repairs the original again, not its own output);
2. repairs it against the release notebook (:mod:`simcrm.lab.repair`): restored tests, cell
   types and metadata; a file that is not a notebook is replaced by the blank release so the
   student is in the gradebook with 0 points and a report says why;
3. runs nbgrader's autograde for that student, with a per-cell timeout (an endless loop is
   interrupted; the following cells still run);
4. records the report (``report.json``) next to the original, with any timeout found in the
   autograded notebook, and catches every failure of that student's run.

It also builds the committed student versions of the labs (:func:`generate_labs`) and checks
that they are current (:func:`labs_are_current`). The other teacher operations (create,
roster, release, collect, feedback, export) live in :mod:`simcrm.lab.course` and are
re-exported here.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from .course import (
    CODE_STUB,
    DEFAULT_CELL_TIMEOUT,
    REPAIR_DIR,
    TEXT_STUB,
    _course,
    assignment_notebooks,
    collect,
    create_course,
    export_grades,
    feedback,
    grade_table,
    import_roster,
    nbgrader_env,
    open_api,
    release,
)
from .repair import Report, repair_submission

__all__ = [
    "CODE_STUB",
    "TEXT_STUB",
    "DEFAULT_CELL_TIMEOUT",
    "create_course",
    "import_roster",
    "release",
    "collect",
    "autograde",
    "autograde_student",
    "feedback",
    "export_grades",
    "grade_table",
    "generate_labs",
    "labs_are_current",
]


# --- autograde -----------------------------------------------------------------------------------


def _make_writable(path: Path) -> None:
    if path.exists() and not os.access(path, os.W_OK):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _prepare_submission(course: Path, assignment: str, student: str, notebooks: list[str],
                        report: Report) -> None:
    """Back up the originals, repair each notebook in place, stand in the blank release for a dead one."""
    sub_dir = course / "submitted" / student / assignment
    keep = course / REPAIR_DIR / assignment / student
    keep.mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        rel_nb = course / "release" / assignment / f"{name}.ipynb"
        sub = sub_dir / f"{name}.ipynb"
        orig = keep / "original" / f"{name}.ipynb"
        prefix = f"{name}: " if len(notebooks) > 1 else ""
        if not orig.exists():
            if not sub.exists():
                report.add("missing_notebook", name,
                           f"{prefix}没有提交 {name}.ipynb，按空白作业评分（0 分）。", fatal=True)
                sub.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(rel_nb, sub)
                _make_writable(sub)
                continue
            orig.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(sub, orig)
        _make_writable(sub)
        part = repair_submission(orig, rel_nb, sub)
        for p in part.problems:
            detail = prefix + p.detail_zh
            if p.fatal:
                detail += f"原文件保存在 {orig.relative_to(course)}，以空白作业代替评分。"
            report.add(p.kind, p.cell or (name if len(notebooks) > 1 else None), detail, p.fatal)
        if part.fatal:
            shutil.copy2(rel_nb, sub)
            _make_writable(sub)


def _scan_autograded(course: Path, assignment: str, student: str, notebooks: list[str],
                     report: Report, timeout: int) -> None:
    """Find cells nbgrader interrupted (timeouts) or that died with the kernel."""
    for name in notebooks:
        path = course / "autograded" / student / assignment / f"{name}.ipynb"
        if not path.exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.read(str(path), as_version=4)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"第 {i + 1} 个单元格"
                if out.get("ename") == "CellTimeoutError":
                    report.add("cell_timeout", where,
                               f"{where} 运行超过 {timeout} 秒被中断（可能是死循环或计算过慢）；"
                               "其后的单元格照常运行，依赖它的测试按失败计。")
                elif out.get("ename") in ("DeadKernelError", "DeadKernel"):
                    report.add("kernel_died", where, f"{where} 运行时内核崩溃；其后的单元格没有得分。")


def _crashing_cell(path: Path, student: str, assignment: str, timeout: int) -> int | None:
    """Run a notebook as autograde would; the index of the cell that killed the kernel, if one did."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.read(str(path), as_version=4)
    current: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="simcrm-crash-") as tmp:
        workdir = Path(tmp) / "autograded" / student / assignment
        shutil.copytree(path.parent, workdir)
        client = NotebookClient(nb, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                                kernel_name="python3", resources={"metadata": {"path": str(workdir)}},
                                on_cell_start=lambda cell, cell_index: current.update(index=cell_index))
        old = os.environ.get("NBGRADER_EXECUTION")
        os.environ["NBGRADER_EXECUTION"] = "autograde"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client.execute()
        except DeadKernelError:
            return current.get("index")
        except Exception:  # noqa: BLE001 - anything else: no crash found
            return None
        finally:
            if old is None:
                os.environ.pop("NBGRADER_EXECUTION", None)
            else:
                os.environ["NBGRADER_EXECUTION"] = old
    return None


def _disable_crashing_cells(course: Path, assignment: str, student: str, notebooks: list[str],
                            report: Report, timeout: int) -> bool:
    """When a student's cell kills the kernel, turn that cell into a comment so the rest can be graded.

    Only cells the student wrote (answers and free cells) are disabled; a crash inside a test
    cell leaves the submission ungraded (the report says so).
    """
    disabled = False
    for name in notebooks:
        path = course / "submitted" / student / assignment / f"{name}.ipynb"
        index = _crashing_cell(path, student, assignment, timeout)
        if index is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.read(str(path), as_version=4)
        cell = nb.cells[index]
        meta = cell.metadata.get("nbgrader", {})
        where = meta.get("grade_id") or f"第 {index + 1} 个单元格"
        if meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            report.add("kernel_died", where, f"{where} 运行时内核崩溃（测试单元格），无法自动评分，请人工查看。")
            continue
        cell.source = "# simcrm: 此单元格使内核崩溃，评分时已停用\n" + "\n".join(
            "# " + line for line in cell.source.splitlines())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.write(nb, str(path))
        report.add("kernel_died", where,
                   f"{where} 运行时内核崩溃（如调用了 os._exit 或耗尽内存），评分时已停用该单元格，其余部分照常评分。")
        disabled = True
    return disabled


def autograde_student(api: Any, course: Path, assignment: str, student: str, notebooks: list[str],
                      timeout: int) -> Report:
    """Repair and autograde one student's submission; every failure ends up in the report."""
    report = Report(path=str(course / "submitted" / student / assignment))
    try:
        _prepare_submission(course, assignment, student, notebooks, report)
        with nbgrader_env(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = api.autograde(assignment, student)
        if not result.get("success") and _disable_crashing_cells(course, assignment, student, notebooks,
                                                                 report, timeout):
            with nbgrader_env(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = api.autograde(assignment, student)
        if not result.get("success"):
            error = (result.get("error") or result.get("log") or "").strip().splitlines()
            last = next((line for line in reversed(error) if "Error" in line), error[-1] if error else "未知错误")
            kind = "kernel_died" if "DeadKernel" in "\n".join(error) else "autograde_failed"
            report.add(kind, None, f"nbgrader 无法为该提交评分（{last.strip()[:300]}）；按 0 分计，请人工查看。",
                       fatal=True)
        else:
            _scan_autograded(course, assignment, student, notebooks, report, timeout)
    except Exception as exc:  # noqa: BLE001 - one student's failure must never stop the batch
        report.add("autograde_failed", None,
                   f"评分过程出错（{type(exc).__name__}: {exc}）；按 0 分计，请人工查看。", fatal=True)
        keep = course / REPAIR_DIR / assignment / student
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    keep = course / REPAIR_DIR / assignment / student
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return report


def autograde(course_dir: str | Path, assignment: str, *, students: list[str] | None = None,
              progress: bool = True, timeout: int | None = None) -> pd.DataFrame:
    """Repair and autograde every submission of an assignment; a damaged one never stops the batch.

    Args:
        course_dir: the course directory (see :func:`create_course`).
        assignment: the assignment name, e.g. ``"ch04_customers"``.
        students: only these student ids (default: everyone in ``submitted/``).
        progress: show a tqdm progress bar.
        timeout: seconds per cell (default: the course's ``Execute.timeout``).

    Returns:
        One row per student graded: ``student``, ``name``, ``score``, ``max_score``,
        ``auto_score``, ``auto_max_score``, ``needs_manual_grade``, ``problems`` (Chinese,
        one line), ``kinds`` (the problem keys) and ``fatal`` (nothing could be graded).
    """
    from tqdm.auto import tqdm

    course = _course(course_dir)
    notebooks = assignment_notebooks(course, assignment)
    release_dir = course / "release" / assignment
    if not all((release_dir / f"{n}.ipynb").exists() for n in notebooks):
        release(course, assignment, to_exchange=False)
    overrides = {"Execute.timeout": int(timeout)} if timeout else {}
    api = open_api(course, **overrides)
    cell_timeout = int(timeout or api.config.Execute.get("timeout", DEFAULT_CELL_TIMEOUT))
    submitted = course / "submitted"
    if students is None:
        students = sorted(p.parent.name for p in submitted.glob(f"*/{assignment}") if p.is_dir()) if submitted.exists() else []
    reports: dict[str, Report] = {}
    for student in tqdm(students, desc=f"自动评分 {assignment}", unit="份", disable=not progress):
        reports[student] = autograde_student(api, course, assignment, student, notebooks, cell_timeout)
    table = grade_table(course, assignment)
    table = table[table["student"].isin(students)].set_index("student").reindex(students).reset_index()
    table["kinds"] = [reports[s].kinds() for s in students]
    table["fatal"] = [reports[s].fatal for s in students]
    table["problems"] = [reports[s].one_line_zh() for s in students]
    return table.drop(columns=["assignment", "submitted"])


# --- the committed student versions -----------------------------------------------------------


def _normalise_release(path: Path) -> bytes:
    """A release notebook as stable bytes: no outputs, counts, widget state or run timings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "widgets", "ExecuteTime"):
            cell.metadata.pop(key, None)
    text = nbformat.writes(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def _render_labs(solutions_dir: Path, assignments: list[str] | None) -> dict[str, bytes]:
    names = assignments or sorted(p.name for p in solutions_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="simcrm-labs-") as tmp:
        course = create_course(Path(tmp) / "course", solutions_dir, assignments=names)
        api = open_api(course)
        for name in names:
            with nbgrader_env(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = api.generate_assignment(name)
            if not result.get("success"):
                from ..errors import NotebookError

                raise NotebookError(f"无法从 {solutions_dir / name} 生成学生版：\n{(result.get('error') or '')[-3000:]}",
                                    message_en=f"generate_assignment failed for {name}")
            out = course / "release" / name
            for path in sorted(out.rglob("*")):
                if not path.is_file():
                    continue
                rel = f"{name}/{path.relative_to(out).as_posix()}"
                files[rel] = _normalise_release(path) if path.suffix == ".ipynb" else path.read_bytes()
    return files


def _existing(labs_dir: Path, names: list[str]) -> set[str]:
    found = set()
    for name in names:
        base = labs_dir / name
        if base.is_dir():
            for path in base.rglob("*"):
                rel = path.relative_to(labs_dir)
                if path.is_file() and not any(p in (".ipynb_checkpoints", "__pycache__") for p in rel.parts):
                    found.add(rel.as_posix())
    return found


def generate_labs(solutions_dir: str | Path, labs_dir: str | Path,
                  assignments: list[str] | None = None) -> list[Path]:
    """Write the student versions ``labs/<assignment>/`` from the sources in ``solutions/``.

    Each assignment goes through nbgrader's ``generate_assignment`` (Chinese stubs
    ``# 在此编写代码`` / ``在此作答``, hidden tests removed), then is normalised so the bytes
    only change when the source does: no outputs, execution counts, saved widget state or run
    timings; keys sorted (``nbformat.writes``). Non-notebook files are copied; files in
    ``labs/<assignment>/`` that generation no longer produces are removed. Files whose bytes do
    not change are not rewritten.

    Returns:
        The files written or removed.
    """
    solutions, labs = Path(solutions_dir), Path(labs_dir)
    files = _render_labs(solutions, assignments)
    names = sorted({rel.split("/")[0] for rel in files})
    changed: list[Path] = []
    for rel, data in files.items():
        target = labs / rel
        if target.exists() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        changed.append(target)
    for rel in sorted(_existing(labs, names) - set(files)):
        (labs / rel).unlink()
        changed.append(labs / rel)
    return changed


def labs_are_current(solutions_dir: str | Path, labs_dir: str | Path,
                     assignments: list[str] | None = None) -> list[str]:
    """The files of ``labs/`` that differ from what :func:`generate_labs` would write now.

    Returns:
        Relative paths (``"ch04_customers/ch04_customers.ipynb"``): stale, missing or no longer
        generated. An empty list means the labs are current.
    """
    labs = Path(labs_dir)
    files = _render_labs(Path(solutions_dir), assignments)
    names = sorted({rel.split("/")[0] for rel in files})
    stale = [rel for rel, data in files.items() if not (labs / rel).exists() or (labs / rel).read_bytes() != data]
    stale += sorted(_existing(labs, names) - set(files))
    return sorted(stale)
