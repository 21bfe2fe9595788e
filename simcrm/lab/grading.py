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

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterator


def _defer_rfc3987_syntax() -> None:
    """Put off building the IRI grammar of ``rfc3987_syntax`` until an IRI is validated.

    ``jsonschema`` (imported by nbformat) imports ``rfc3987_syntax`` when it is installed, and
    that module builds a Lark grammar at import: about 1.8 s of CPU in every grading process,
    worker and world builder, for the ``iri`` formats that neither nbformat's nor nbgrader's
    schemas use. A stand-in module offers ``is_valid_syntax`` (what jsonschema takes from it)
    and loads the real module on first use, so every check behaves as before.
    """
    import importlib
    import importlib.util
    import sys
    import types

    name = "rfc3987_syntax"
    if name in sys.modules or "jsonschema" in sys.modules:
        return
    try:
        if importlib.util.find_spec(name) is None:
            return
    except (ImportError, ValueError):
        return
    stub = types.ModuleType(name, "stand-in loading rfc3987_syntax on first use (simcrm.lab.grading)")

    def real() -> Any:
        if sys.modules.get(name) is stub:
            del sys.modules[name]
        return importlib.import_module(name)

    def is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
        return real().is_valid_syntax(*args, **kwargs)

    def attribute(attr: str) -> Any:
        if attr.startswith("__"):  # the import system asks for __path__ …: not a reason to load it
            raise AttributeError(attr)
        return getattr(real(), attr)

    stub.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    stub.__getattr__ = attribute  # type: ignore[attr-defined]
    sys.modules[name] = stub


_defer_rfc3987_syntax()

import nbformat  # noqa: E402 - after the stand-in above
import pandas as pd  # noqa: E402

from .course import (  # noqa: E402
    CODE_STUB,
    DEFAULT_CELL_TIMEOUT,
    PRIVATE_DIR,
    REPAIR_DIR,
    SETTINGS_FILE,
    TEXT_STUB,
    _course,
    assignment_notebooks,
    collect,
    course_config,
    course_settings,
    create_course,
    export_grades,
    feedback,
    grade_table,
    import_roster,
    nbgrader_env,
    open_api,
    release,
)
from .repair import Report, repair_submission  # noqa: E402

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
        _check_world_used(orig, name if len(notebooks) > 1 else None, student, report, prefix)
        part = repair_submission(orig, rel_nb, sub)
        for p in part.problems:
            detail = prefix + p.detail_zh
            if p.fatal:
                detail += f"原文件保存在 {orig.relative_to(course)}，以空白作业代替评分。"
            report.add(p.kind, p.cell or (name if len(notebooks) > 1 else None), detail, p.fatal)
        if part.fatal:
            shutil.copy2(rel_nb, sub)
            _make_writable(sub)


#: the line of start()'s banner that says whose world the notebook ran in (simcrm.lab.session.Lab.banner)
_BANNER_WHO = re.compile(r"学生：(?:学号 ([A-Za-z0-9_.@\-]+)|(默认世界)（自学模式）)（来源：")


def worlds_used(path: Path) -> list[str | None]:
    """The 学号 of each world ``start()`` opened when the student ran the notebook, read from
    the banners in its saved outputs, in order without repeats (``None``: the default world).
    Empty when the outputs were cleared or the file is unreadable."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8-sig"))
        cells = nb.get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    found: list[str | None] = []
    for cell in cells if isinstance(cells, list) else []:
        for out in (cell.get("outputs") or []) if isinstance(cell, dict) else []:
            text = out.get("text", "") if isinstance(out, dict) else ""
            text = "".join(text) if isinstance(text, list) else str(text)
            for sid, default in _BANNER_WHO.findall(text):
                found.append(None if default else sid)
    return list(dict.fromkeys(found))


def _check_world_used(orig: Path, name: str | None, student: str, report: Report, prefix: str) -> None:
    """Report a notebook the student ran in another 学号's world or the default world: it is
    graded on the world of its directory's 学号, where their numbers may be wrong."""
    other = [w for w in worlds_used(orig) if w != student]
    if other:
        shown = "、".join("默认世界（自学模式）" if w is None else f"学号 {w}" for w in other)
        report.add("student_mismatch", name,
                   f"{prefix}笔记本保存的输出显示学生是在 {shown} 的世界中运行的，而提交目录的学号是 {student}；"
                   f"评分按 {student} 的世界进行，答案可能因此不符，请核对学号或世界文件。")


#: characters of output kept per cell in the autograded notebook (and so in the feedback)
OUTPUT_CAP = 100_000


def _output_size(out: dict) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    if out.get("output_type") == "error":
        return sum(len(t) for t in out.get("traceback", []))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in out.get("data", {}).values())


def cap_outputs(nb: Any, cap: int = OUTPUT_CAP) -> list[tuple[int, int]]:
    """Cut every code cell's outputs to ``cap`` characters in all; ``[(cell index, size before)]``."""
    cut = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outs = cell.get("outputs", [])
        total = sum(_output_size(o) for o in outs)
        if total <= cap:
            continue
        kept, left = [], cap
        for out in outs:
            size = _output_size(out)
            if size <= left:
                kept.append(out)
                left -= size
            elif out.get("output_type") == "stream" and left > 0:
                out["text"] = out["text"][:left]
                kept.append(out)
                left = 0
            elif out.get("output_type") == "error":
                out["traceback"] = [t[:2000] for t in out.get("traceback", [])[-5:]]
                kept.append(out)
        kept.append(nbformat.v4.new_output("stream", name="stderr",
                                           text=f"\n……（输出共 {total:,} 个字符，超过 {cap:,}，评分时已截断）\n"))
        cell.outputs = kept
        cut.append((i, total))
    return cut


def _scan_autograded(course: Path, assignment: str, student: str, notebooks: list[str],
                     report: Report, timeout: int) -> None:
    """Find cells nbgrader interrupted (timeouts) or that died with the kernel; cap huge outputs."""
    for name in notebooks:
        path = course / "autograded" / student / assignment / f"{name}.ipynb"
        if not path.exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.read(str(path), as_version=4)
        cut = cap_outputs(nb)
        if cut:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nbformat.write(nb, str(path))
            for i, total in cut:
                where = nb.cells[i].get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"第 {i + 1} 个单元格"
                report.add("output_truncated", where,
                           f"{where} 的输出有 {total:,} 个字符，超过上限 {OUTPUT_CAP:,}，已截断（评分不受影响）。")
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


# --- the referee of a submission: the grade is what it received and judged ----------------------

_GRADE_CALL = re.compile(r"""\.grade\(\s*["']([\w.\-]+)["']""")


def referee_cells(course: Path, assignment: str, notebooks: list[str]) -> dict[str, dict[str, tuple[list[str], float]]]:
    """Per notebook, the autograded test cells whose hidden tests hand answers to the referee:
    ``{notebook: {grade_id: ([question keys], points)}}``, read from the teacher's source
    notebooks (never from the submission)."""
    out: dict[str, dict[str, tuple[list[str], float]]] = {}
    for name in notebooks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.read(str(course / "source" / assignment / f"{name}.ipynb"), as_version=4)
        cells: dict[str, tuple[list[str], float]] = {}
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            keys = list(dict.fromkeys(_GRADE_CALL.findall(cell.source)))
            if keys:
                cells[meta["grade_id"]] = (keys, float(meta.get("points") or 0))
        if cells:
            out[name] = cells
    return out


def private_question_modules(course: Path) -> list[str]:
    """The course's private question modules (``simcrm_private/*.py``): loaded by the referee only."""
    folder = course / PRIVATE_DIR
    return [str(p) for p in sorted(folder.glob("*.py"))] if folder.is_dir() else []


#: the referee processes of this process (one per course), reused from one submission to the next
_REFEREE_PROCS: dict[str, Any] = {}


def _referee_process(course: Path, log: Path) -> Any:
    """This process's referee process for ``course`` (started on first use, kept while it lives)."""
    import atexit
    import subprocess

    from .referee import referee_command

    proc = _REFEREE_PROCS.get(str(course))
    if proc is not None and proc.poll() is None:
        return proc
    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_FROM_KERNEL and k != "SIMCRM_REFEREE"}
    log.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory(prefix="simcrm-referee-run-")
    with open(log, "a", encoding="utf-8") as err:
        proc = subprocess.Popen(referee_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                text=True, encoding="utf-8", cwd=tmp.name, env=env)
    proc._simcrm_tmp = tmp  # the empty folder it runs in lives as long as the process
    if not _REFEREE_PROCS:
        atexit.register(close_referees)
    _REFEREE_PROCS[str(course)] = proc
    return proc


def _end_process(proc: Any, kill: bool = False) -> None:
    if proc.poll() is None:
        try:
            if kill:
                raise OSError("kill")
            proc.stdin.close()  # end of stdin: the referee ends
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - it must not outlive the batch
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        try:
            pipe.close()
        except OSError:
            pass
    tmp = getattr(proc, "_simcrm_tmp", None)
    if tmp is not None:
        tmp.cleanup()


def close_referees() -> None:
    """End this process's referee processes (after a batch, or at exit)."""
    while _REFEREE_PROCS:
        _end_process(_REFEREE_PROCS.popitem()[1])


class SubmissionReferee:
    """The referee session of one submission, started by the pipeline (see :mod:`simcrm.lab.referee`).

    The student's identity, the world seed (from the course salt) and the world size come from
    here; the process runs with ``python -I`` in an empty folder, away from the submission.
    The process itself is reused from one submission to the next (its interpreter and imports
    are paid once per grading worker); each submission gets a session of its own — a new key,
    a new socket, its own worlds and record — and the previous session's socket and connections
    are closed before the next one starts. A process that fails or says nothing in time is
    killed and the next submission starts a fresh one.
    """

    def __init__(self, course: Path, student: str, chapters: list[str], log: Path) -> None:
        import secrets

        from .identity import world_seed

        settings = course_settings(course)
        self.course = course
        self.key = secrets.token_bytes(32)
        self.seed = world_seed(student, settings["salt"], autograde=True)
        self.proc = _referee_process(course, log.parent.parent / "referee.log")
        init = {"mode": "serve", "student": student, "seed": self.seed, "customers": settings.get("customers"),
                "private": private_question_modules(course), "key": self.key.hex(), "chapters": chapters}
        try:
            self.proc.stdin.write(json.dumps(init, ensure_ascii=False) + "\n")
            self.proc.stdin.flush()
            ready = json.loads(self._readline(REFEREE_START_TIMEOUT) or "{}")
        except (OSError, ValueError):
            self.close(kill=True)
            ready = {}
        self.address = ready.get("address")
        self.error = ready.get("error") or (None if self.address else "评分进程没有启动")

    def finish(self) -> list[dict[str, Any]] | None:
        """The verified record (``None`` when the process died or the record was not authentic)."""
        from .referee import verify_record

        record = None
        try:
            self.proc.stdin.write("record\n")
            self.proc.stdin.flush()
            line = self._readline(REFEREE_START_TIMEOUT)
            record = verify_record(json.loads(line), self.key) if line else None
        except (OSError, ValueError):
            record = None
        finally:
            if record is None:
                self.close(kill=True)  # never reuse a process that failed
        return record

    def _readline(self, timeout: float) -> str:
        """One line from the referee, or ``""`` when it says nothing for ``timeout`` seconds."""
        import threading

        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.proc.kill()
            reader.join(5)
            return ""
        return box[0] if box else ""

    def close(self, kill: bool = False) -> None:
        if _REFEREE_PROCS.get(str(self.course)) is self.proc:
            del _REFEREE_PROCS[str(self.course)]
        _end_process(self.proc, kill=kill)


#: seconds the referee may take to build a world or to hand over its record
REFEREE_START_TIMEOUT = 900

#: variables the student's kernel must not see during autograde
_HIDDEN_FROM_KERNEL = ("SIMCRM_COURSE_SALT", "SIMCRM_STUDENT")


class _KernelEnv:
    """While nbgrader runs a submission: the kernel finds the referee, never the salt."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    def __enter__(self) -> None:
        self.saved = {k: os.environ.get(k) for k in (*_HIDDEN_FROM_KERNEL, "SIMCRM_REFEREE")}
        for k in _HIDDEN_FROM_KERNEL:
            os.environ.pop(k, None)
        if self.address:
            os.environ["SIMCRM_REFEREE"] = self.address
        else:
            os.environ.pop("SIMCRM_REFEREE", None)

    def __exit__(self, *exc: Any) -> None:
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def kernel_overrides() -> dict[str, Any]:
    """nbgrader settings of simcrm's autograde: kernels forked from a zygote (:mod:`simcrm.lab.kernels`)."""
    from .kernels import ForkedKernelManager

    return {"Execute.kernel_manager_class": ForkedKernelManager}


def _start_zygote(course: Path) -> None:
    """Start this process's kernel zygote now (its imports then overlap the first repair)."""
    from .kernels import zygote

    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_FROM_KERNEL and k != "SIMCRM_REFEREE"}
    log = course / REPAIR_DIR / "zygote.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    zygote(env, log)


def _run_nbgrader(api: Any, course: Path, assignment: str, student: str,
                  backed: dict[str, dict[str, tuple[list[str], float]]], report: Report
                  ) -> tuple[dict, list[dict[str, Any]] | None, str | None]:
    """One nbgrader autograde of a submission, with a fresh referee when the assignment uses one."""
    _start_zygote(course)
    referee = None
    if backed:
        chapters = sorted({k.split(".", 1)[0] for cells in backed.values() for keys, _ in cells.values() for k in keys})
        referee = SubmissionReferee(course, student, chapters, course / REPAIR_DIR / assignment / student / "referee.log")
    try:
        with _KernelEnv(referee.address if referee else None), nbgrader_env(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = api.autograde(assignment, student)
    finally:
        record = referee.finish() if referee else None
    return result, record, (referee.error if referee else None)


def _apply_record(db_url: str, course: Path, assignment: str, student: str,
                  backed: dict[str, dict[str, tuple[list[str], float]]], record: list[dict[str, Any]] | None,
                  referee_error: str | None, report: Report) -> None:
    """Set each referee-backed test's score from the referee's record, and report what never arrived."""
    from nbgrader.api import Gradebook, MissingEntry

    got = {e["question"]: e for e in (record or [])}
    keep = course / REPAIR_DIR / assignment / student
    (keep / "referee.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    if record is None:
        why = f"（{referee_error}）" if referee_error else ""
        report.add("referee_failed", None, f"评分进程没有返回可信的记录{why}：由评分进程决定的测试全部按 0 分计，请人工查看。")
    missing: list[str] = []
    wrong: list[str] = []
    repeated = sorted(q for q, e in got.items() if e.get("received", 1) > 1)
    with nbgrader_env(), warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")
        for notebook, cells in backed.items():
            for gid, (keys, points) in cells.items():
                entries = [got.get(k) for k in keys]
                ok = record is not None and all(e is not None and e["ok"] for e in entries)
                if record is not None:
                    missing += [f"{gid}（{k}）" for k, e in zip(keys, entries) if e is None]
                    wrong += [f"{gid}：{e['hint']}" for e in entries if e is not None and not e["ok"] and e["hint"]]
                try:
                    grade = gb.find_grade(gid, notebook, assignment, student)
                except MissingEntry:
                    continue
                grade.auto_score = points if ok else 0.0
        gb.db.commit()
    if missing:
        report.add("answer_not_submitted", None,
                   f"答案未提交给评分进程：{'、'.join(missing)}。这些测试按 0 分计"
                   "（测试单元格在提交答案前出错，或答案代码改动了评分调用）。")
    if repeated:
        report.add("answer_resubmitted", None,
                   f"同一题向评分进程提交了多次：{'、'.join(repeated)}；按第一次提交的答案评分。")
    report.verdicts = wrong


def autograde_student(api: Any, course: Path, assignment: str, student: str, notebooks: list[str],
                      timeout: int) -> Report:
    """Repair and autograde one student's submission; every failure ends up in the report.

    Tests whose hidden part hands answers to the referee (``lab.grade("key", …)``) are scored
    from the referee's own record, not from whether the cell raised (see :class:`SubmissionReferee`).
    """
    report = Report(path=str(course / "submitted" / student / assignment))
    keep = course / REPAIR_DIR / assignment / student
    try:
        backed = referee_cells(course, assignment, notebooks)
        _prepare_submission(course, assignment, student, notebooks, report)
        result, record, referee_error = _run_nbgrader(api, course, assignment, student, backed, report)
        if not result.get("success"):
            # once more in a kernel started the ordinary way: a failure of the forked kernel
            # (simcrm.lab.kernels) must never cost a grade; a notebook that fails again is the student's
            from .kernels import plain_kernels

            with plain_kernels():
                result, record, referee_error = _run_nbgrader(api, course, assignment, student, backed, report)
        if not result.get("success") and _disable_crashing_cells(course, assignment, student, notebooks,
                                                                 report, timeout):
            result, record, referee_error = _run_nbgrader(api, course, assignment, student, backed, report)
        if not result.get("success"):
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "nbgrader.log").write_text(f"{result.get('error') or ''}\n{result.get('log') or ''}", encoding="utf-8")
            error = (result.get("error") or result.get("log") or "").strip().splitlines()
            last = next((line for line in reversed(error) if "Error" in line), error[-1] if error else "未知错误")
            kind = "kernel_died" if "DeadKernel" in "\n".join(error) else "autograde_failed"
            report.add(kind, None, f"nbgrader 无法为该提交评分（{last.strip()[:300]}）；按 0 分计，请人工查看。",
                       fatal=True)
        else:
            _scan_autograded(course, assignment, student, notebooks, report, timeout)
            if backed:
                _apply_record(api.coursedir.db_url, course, assignment, student, backed, record, referee_error, report)
    except Exception as exc:  # noqa: BLE001 - one student's failure must never stop the batch
        report.add("autograde_failed", None,
                   f"评分过程出错（{type(exc).__name__}: {exc}）；按 0 分计，请人工查看。", fatal=True)
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return report


# --- the batch: parallel workers, one gradebook writer, resumable ----------------------------------

BATCH_FILE = "batch.json"


def fingerprint(course: Path, assignment: str, student: str, notebooks: list[str]) -> str:
    """What a submission's grade depends on: the file as submitted, the assignment (source and
    release), the course's private questions and settings, and simcrm's version."""
    import hashlib

    import simcrm

    h = hashlib.sha256(f"simcrm {simcrm.__version__}\n".encode())
    keep = course / REPAIR_DIR / assignment / student / "original"
    sub = course / "submitted" / student / assignment
    files: list[Path] = []
    for name in notebooks:
        orig = keep / f"{name}.ipynb"
        files.append(orig if orig.exists() else sub / f"{name}.ipynb")
        files += [course / "source" / assignment / f"{name}.ipynb", course / "release" / assignment / f"{name}.ipynb"]
    if sub.is_dir():
        files += sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix != ".ipynb")
    files += [Path(p) for p in private_question_modules(course)]
    files += [course / SETTINGS_FILE, course / "nbgrader_config.py"]
    for f in files:
        h.update(str(f.relative_to(course) if f.is_relative_to(course) else f).encode())
        h.update(f.read_bytes() if f.exists() else b"<missing>")
    return h.hexdigest()


def _done_path(course: Path, assignment: str, student: str) -> Path:
    return course / REPAIR_DIR / assignment / student / "done.json"


def _is_done(course: Path, assignment: str, student: str, notebooks: list[str]) -> bool:
    path = _done_path(course, assignment, student)
    if not path.exists() or not (course / REPAIR_DIR / assignment / student / "report.json").exists():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("fingerprint") == fingerprint(
            course, assignment, student, notebooks)
    except (OSError, ValueError):
        return False


def _mark_done(course: Path, assignment: str, student: str, notebooks: list[str]) -> None:
    path = _done_path(course, assignment, student)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint(course, assignment, student, notebooks)}), encoding="utf-8")
    os.replace(tmp, path)


def _load_report_file(course: Path, assignment: str, student: str) -> Report:
    path = course / REPAIR_DIR / assignment / student / "report.json"
    return Report.from_dict(json.loads(path.read_text(encoding="utf-8")))


# worker processes (``--jobs``): each grades into its own copy of the gradebook; the parent merges

_WORKER: dict[str, Any] = {}


def _worker_init(course: str, folder: str, timeout: int | None) -> None:
    import signal
    import sqlite3

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    db_copy = Path(folder) / f"gradebook-{os.getpid()}.db"
    with sqlite3.connect(Path(course) / "gradebook.db") as src, sqlite3.connect(db_copy) as dst:
        src.backup(dst)  # a consistent copy, even while the parent merges another student
    src.close()
    dst.close()
    overrides: dict[str, Any] = {"CourseDirectory.db_url": f"sqlite:///{db_copy}", **kernel_overrides()}
    if timeout:
        overrides["Execute.timeout"] = int(timeout)
    _WORKER.update(course=Path(course), db=str(db_copy), api=open_api(course, **overrides))
    _start_zygote(Path(course))


def _worker_grade(assignment: str, student: str, notebooks: list[str], cell_timeout: int) -> tuple[str, str]:
    report = autograde_student(_WORKER["api"], _WORKER["course"], assignment, student, notebooks, cell_timeout)
    return json.dumps(report.to_dict(), ensure_ascii=False), _WORKER["db"]


def _merge_submission(db_from: str, db_to: str, assignment: str, student: str) -> None:
    """Copy one student's graded submission from a worker's gradebook into the course's (the one writer)."""
    from nbgrader.api import Gradebook, MissingEntry

    with nbgrader_env(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(f"sqlite:///{db_from}") as src:
            try:
                sub = src.find_submission(assignment, student)
            except MissingEntry:
                return
            timestamp = sub.timestamp
            notebooks = []
            for nb in sub.notebooks:
                grades = {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades}
                comments = {c.name: c.auto_comment for c in nb.comments}
                notebooks.append((nb.name, nb.flagged, nb.late_submission_penalty, grades, comments))
        with Gradebook(db_to) as dst:
            try:
                dst.find_student(student)
            except MissingEntry:
                dst.add_student(student)
            dst.update_or_create_submission(assignment, student, timestamp=timestamp)
            for name, flagged, penalty, grades, comments in notebooks:
                target = dst.find_submission_notebook(name, assignment, student)
                target.flagged = flagged
                target.late_submission_penalty = penalty
                for g in target.grades:
                    if g.name in grades:
                        g.auto_score, g.needs_manual_grade = grades[g.name]
                for c in target.comments:
                    if c.name in comments:
                        c.auto_comment = comments[c.name]
            dst.db.commit()


# --- the roster's worlds, built once before grading --------------------------------------------------


def _world_cache_entry(seed: int, chapter: str, customers: int | None) -> Path | None:
    """Where the verified world cache keeps this world (``None``: caching is off)."""
    import inspect

    from ..sim import cache as world_cache
    from ..sim import world as sim_world
    from .session import DEFAULT_CUSTOMERS, _chapter_module

    folder = world_cache.cache_dir()
    if folder is None:
        return None
    n = customers or getattr(_chapter_module(chapter), "CUSTOMERS", DEFAULT_CUSTOMERS)
    defaults = {k: v.default for k, v in inspect.signature(sim_world.generate).parameters.items()}
    params = sim_world._params(n, defaults["start"], defaults["today"], {})
    k = world_cache.key(f"{int(seed)}|{defaults['locale']}|{params.key()}")
    return folder / f"{k}.sqlite"


#: room the world cache keeps for each student while a class is graded (in the cache a ch04 world
#: with its chapter files takes about 10 MB, a default-size world about 50 MB)
CLASS_CACHE_MB_PER_STUDENT = 60


@contextlib.contextmanager
def class_cache_room(n_students: int) -> Iterator[None]:
    """While a class is graded, let the world cache hold every world of the class.

    The cache keeps the most recently used entries within ``SIMCRM_CACHE_MAX_MB`` (1 GB by
    default, about 90 ch04 worlds with their files). A larger class does not fit: each world
    saved evicts the oldest, which are the prebuilt worlds of the students not yet graded, so
    every one of them was generated again (a class of 100 cost 2.5 times the CPU of its
    prebuilt worlds). For the run, the limit is raised to the default plus
    :data:`CLASS_CACHE_MB_PER_STUDENT` per student (the processes it starts inherit it), and
    set back afterwards.
    """
    from ..sim import cache as world_cache

    need = world_cache.DEFAULT_MAX_MB + max(0, int(n_students)) * CLASS_CACHE_MB_PER_STUDENT
    old = os.environ.get("SIMCRM_CACHE_MAX_MB")
    if world_cache._max_bytes() >= need * 1_000_000:
        yield
        return
    os.environ["SIMCRM_CACHE_MAX_MB"] = str(need)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SIMCRM_CACHE_MAX_MB", None)
        else:
            os.environ["SIMCRM_CACHE_MAX_MB"] = old


def _build_world_once(seed: int, chapter: str, customers: int | None) -> None:
    """Generate one world, and the chapter's files made from it (ch04's expo list …), into the
    verified cache (the referee and the kernel then load them)."""
    from .session import _chapter_files, _chapter_module, build_world

    with tempfile.TemporaryDirectory(prefix="simcrm-prebuild-") as tmp:
        world = build_world(seed, chapter, Path(tmp), customers)
        try:
            module = _chapter_module(chapter)
            builder = getattr(module, "build_files", None)
            if builder is not None:
                _chapter_files(module, builder, world, Path(tmp))
        finally:
            world.store.close()


def prebuild_worlds(course: Path, assignment: str, students: list[str], *, jobs: int = 1,
                    progress: bool = False) -> int:
    """Build, once and in parallel, the worlds the referee and the kernels of these submissions
    will open, into this user's verified world cache (:mod:`simcrm.sim.cache`); worlds already
    there are not built again (a re-grade builds nothing). Returns how many were built.

    Grading then loads each world from the cache instead of generating it in the middle of a
    submission. Nothing here decides a grade: the referee and the kernel each load a verified
    copy (a damaged or planted entry is a miss, and the world is generated again).
    """
    from tqdm.auto import tqdm

    from .identity import world_seed

    backed = referee_cells(course, assignment, assignment_notebooks(course, assignment))
    chapters = sorted({k.split(".", 1)[0] for cells in backed.values() for keys, _ in cells.values() for k in keys})
    from .session import CHAPTER_TITLES

    chapters = [c for c in chapters if c in CHAPTER_TITLES]
    if not chapters or not students:
        return 0
    settings = course_settings(course)
    customers = settings.get("customers")
    todo = []
    for student in students:
        seed = world_seed(student, settings["salt"], autograde=True)
        for chapter in chapters:
            entry = _world_cache_entry(seed, chapter, customers)
            if entry is None:
                return 0  # no cache: every session builds its own world, as before
            if not entry.exists():
                todo.append((seed, chapter, customers))
    todo = list(dict.fromkeys(todo))
    if not todo:
        return 0
    bar = tqdm(total=len(todo), desc="生成学生的模拟企业", unit="个", disable=not progress)
    try:
        with class_cache_room(len(students)):
            if jobs <= 1 or len(todo) == 1:
                for spec in todo:
                    _build_world_once(*spec)
                    bar.update(1)
            else:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor, as_completed

                with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("spawn")) as pool:
                    for future in as_completed([pool.submit(_build_world_once, *spec) for spec in todo]):
                        future.result()
                        bar.update(1)
    finally:
        bar.close()
    return len(todo)


def _default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def autograde(course_dir: str | Path, assignment: str, *, students: list[str] | None = None,
              progress: bool = True, timeout: int | None = None, jobs: int | None = 1,
              changed: bool = False) -> pd.DataFrame:
    """Repair and autograde every submission of an assignment; a damaged one never stops the batch.

    Args:
        course_dir: the course directory (see :func:`create_course`).
        assignment: the assignment name, e.g. ``"ch04_customers"``.
        students: only these student ids (default: everyone in ``submitted/``).
        progress: show a tqdm progress bar (with an ETA).
        timeout: seconds per cell (default: the course's ``Execute.timeout``).
        jobs: submissions graded at once, each in its own worker process with its own copy of
            the gradebook; this process alone writes the course's gradebook (``None``: the
            number of cores).
        changed: grade only submissions whose file, assignment or course settings changed since
            they were last graded.

    A batch is resumable: each graded submission is recorded (``simcrm_repair/<作业>/<学号>/
    done.json``) after its grades are in the gradebook, and an interrupted batch
    (``batch.json`` left behind by Ctrl-C or a crash) continues where it stopped when the same
    command runs again.

    Returns:
        One row per student: ``student``, ``name``, ``score``, ``max_score``, ``auto_score``,
        ``auto_max_score``, ``needs_manual_grade``, ``problems`` (Chinese, one line), ``kinds``
        (the problem keys), ``fatal`` (nothing could be graded) and ``skipped`` (unchanged,
        not run again).
    """
    from tqdm.auto import tqdm

    course = _course(course_dir)
    notebooks = assignment_notebooks(course, assignment)
    release_dir = course / "release" / assignment
    if not all((release_dir / f"{n}.ipynb").exists() for n in notebooks):
        release(course, assignment, to_exchange=False)
    overrides = {"Execute.timeout": int(timeout)} if timeout else {}
    api = open_api(course, **overrides, **kernel_overrides())
    cell_timeout = int(timeout or api.config.Execute.get("timeout", DEFAULT_CELL_TIMEOUT))
    if referee_cells(course, assignment, notebooks):
        course_settings(course)  # no salt → a clear error now, never the public default
    submitted = course / "submitted"
    if students is None:
        students = sorted(p.parent.name for p in submitted.glob(f"*/{assignment}") if p.is_dir()) if submitted.exists() else []
    batch = course / REPAIR_DIR / assignment / BATCH_FILE
    resuming = False
    if batch.exists():
        try:
            resuming = sorted(json.loads(batch.read_text(encoding="utf-8")).get("students", [])) == sorted(students)
        except ValueError:
            resuming = False
    skip = {s for s in students if (changed or resuming) and _is_done(course, assignment, s, notebooks)}
    todo = [s for s in students if s not in skip]
    batch.parent.mkdir(parents=True, exist_ok=True)
    batch.write_text(json.dumps({"students": students}, ensure_ascii=False), encoding="utf-8")
    reports: dict[str, Report] = {s: _load_report_file(course, assignment, s) for s in skip}
    jobs = _default_jobs() if jobs is None else max(1, int(jobs))
    builders = _default_jobs()
    room = contextlib.ExitStack()
    room.enter_context(class_cache_room(len(students)))
    if builders > jobs and len(todo) > 1:
        # cores the graders leave idle build the worlds first; when every core grades, each
        # referee builds its student's world itself (into the same cache: loading a prebuilt
        # world costs the referee more than it saves then)
        try:
            prebuild_worlds(course, assignment, todo, jobs=builders, progress=progress)
        except Exception:  # noqa: BLE001 - only an optimisation: each referee then builds its own world
            pass
    bar = tqdm(total=len(todo), desc=f"自动评分 {assignment}", unit="份", disable=not progress)
    try:
        if jobs == 1 or len(todo) <= 1:
            if todo:
                _start_zygote(course)
            for student in todo:
                reports[student] = autograde_student(api, course, assignment, student, notebooks, cell_timeout)
                _mark_done(course, assignment, student, notebooks)
                bar.update(1)
        else:
            _autograde_parallel(course, assignment, todo, notebooks, cell_timeout, timeout, min(jobs, len(todo)),
                                reports, bar)
    finally:
        bar.close()
        close_referees()
        from .kernels import close_zygote

        close_zygote()
        room.close()
    batch.unlink(missing_ok=True)  # the whole batch is done: the next run starts afresh
    table = grade_table(course, assignment)
    table = table[table["student"].isin(students)].set_index("student").reindex(students).reset_index()
    table["kinds"] = [reports[s].kinds() for s in students]
    table["fatal"] = [reports[s].fatal for s in students]
    table["problems"] = [reports[s].one_line_zh() for s in students]
    table["skipped"] = [s in skip for s in students]
    return table.drop(columns=["assignment", "submitted"])


def _autograde_parallel(course: Path, assignment: str, todo: list[str], notebooks: list[str], cell_timeout: int,
                        timeout: int | None, jobs: int, reports: dict[str, Report], bar: Any) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    main_db = course_config(course).CourseDirectory.db_url
    with tempfile.TemporaryDirectory(prefix="simcrm-jobs-") as tmp:
        pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                   initargs=(str(course), tmp, timeout))
        try:
            futures = {pool.submit(_worker_grade, assignment, s, notebooks, cell_timeout): s for s in todo}
            for future in as_completed(futures):
                student = futures[future]
                try:
                    report_json, db = future.result()
                    report = Report.from_dict(json.loads(report_json))
                    _merge_submission(db, main_db, assignment, student)
                except Exception as exc:  # noqa: BLE001 - a dead worker costs one student, reported
                    report = Report(path=str(course / "submitted" / student / assignment))
                    report.add("autograde_failed", None,
                               f"评分进程出错（{type(exc).__name__}: {exc}）；按 0 分计，请人工查看。", fatal=True)
                    keep = course / REPAIR_DIR / assignment / student
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1),
                                                      encoding="utf-8")
                else:
                    _mark_done(course, assignment, student, notebooks)
                reports[student] = report
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)


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
