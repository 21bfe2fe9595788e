"""A lab session: the student's own world, who they are in it, and the checks.

``start("ch04")`` builds the student's world afresh from its seed (the simulation's cache may
serve it), so autograde — which re-executes the notebook — sees exactly what the student saw.

* ``lab.crm`` — the CRM acting as the student's employee in the firm (a role per chapter);
* ``lab.table(name)`` — a table as a DataFrame; ``lab.screen(name)`` — a CRM screen;
* ``lab.files`` — files made for this world (e.g. the ch04 expo lead list);
* ``lab.check(key, answer)`` — the visible check: immediate feedback with a Chinese hint;
* ``lab.grade(key, answer)`` — the hidden check: the reference answer is recomputed in a
  separate Python process on a freshly built copy of the same world, so nothing the
  notebook does to this kernel (redefining functions, patching simcrm) can change it;
* ``lab.undo(key)`` — take back what one operation exercise wrote (to redo it after a wrong or
  partial attempt; other exercises keep their data, see :mod:`simcrm.lab.undo`);
* ``lab.reset()`` — a fresh copy of the world, as generated.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import types
import weakref
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UnknownValueError
from ..errors import add_hint as _add_hint
from .checks import CheckFailed, CheckResult, install_notebook_errors
from .identity import Student, resolve_student, world_seed
from .questions import Context, evaluate, get_question

__all__ = ["Lab", "start", "CHAPTER_TITLES"]

CHAPTER_TITLES = {
    "ch01": "认识客户关系管理软件",
    "ch02": "系统管理及基础设置",
    "ch03": "企业产品管理",
    "ch04": "客户与联系人管理",
    "ch05": "客户信息管理与统计分析",
    "ch06": "客户分级管理",
    "ch07": "客户沟通与客户关怀管理",
    "ch08": "销售漏斗及合同/订单操作",
    "ch09": "客服记录与投诉处理操作",
    "ch10": "利用客户关系管理系统进行客户流失管理",
}

#: default role of the student in each chapter's scenario
CHAPTER_ROLES = {
    "ch01": "一般人员", "ch02": "老板", "ch03": "主管", "ch04": "一般人员", "ch05": "主管",
    "ch06": "主管", "ch07": "一般人员", "ch08": "一般人员", "ch09": "一般人员", "ch10": "主管",
}

DEFAULT_CUSTOMERS = 2000


def _chapter_module(chapter: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"simcrm.lab.chapters.{chapter}")
    except ModuleNotFoundError:
        return None


def _copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (WAL included) through the backup API."""
    if dst.exists():
        dst.unlink()
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def build_world(seed: int, chapter: str, directory: Path, customers: int | None = None) -> Any:
    """Generate the chapter's world for ``seed`` into ``directory/world.sqlite``."""
    from ..sim import generate

    module = _chapter_module(chapter)
    n = customers or getattr(module, "CUSTOMERS", DEFAULT_CUSTOMERS)
    path = directory / "world.sqlite"
    if path.exists():
        path.unlink()
    world = generate(seed=seed, customers=n, db=str(path))
    prepare = getattr(module, "prepare_world", None)
    if prepare is not None:
        prepare(world)
    return world


def pick_employee(store: Any, role_type: str) -> dict[str, Any]:
    """The employee a student plays: the first active one of ``role_type`` (sales first)."""
    emp = store.read("employee")
    dept = store.read("department")[["id", "name"]].rename(columns={"id": "department_id", "name": "department"})
    emp = emp.merge(dept, on="department_id", how="left")
    active = emp[(emp["status"] == "正常") & (emp["role_type"] == role_type)]
    if active.empty:
        raise ConfigError(field="role_type", value=role_type, label="角色类型",
                          allowed=sorted(emp.loc[emp["status"] == "正常", "role_type"].unique()))
    sales = active[active["department"].astype(str).str.contains("销售")]
    row = (sales if not sales.empty else active).sort_values("id").iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.to_dict().items()}


class Lab:
    """One student's lab session (see the module docstring)."""

    def __init__(self, chapter: str, student: Student, seed: int, *, customers: int | None = None,
                 salt: str | None = None, quiet: bool = False):
        if chapter not in CHAPTER_TITLES:
            raise UnknownValueError(field="chapter", value=chapter, label="章节", allowed=list(CHAPTER_TITLES))
        self.chapter = chapter
        self.title = CHAPTER_TITLES[chapter]
        self.student = student
        self.seed = seed
        self.salt = salt
        self.customers = customers
        self.dir = Path(tempfile.mkdtemp(prefix=f"simcrm-{chapter}-"))
        # the world files (tens of MB) go when the kernel ends; a restarted kernel starts afresh
        atexit.register(_cleanup, self.dir)
        self._build()
        if not quiet:
            print(self.banner())

    # -- the world ------------------------------------------------------------------------------

    def _build(self) -> None:
        from ..crm import CRM

        self.world = build_world(self.seed, self.chapter, self.dir, self.customers)
        self.store = self.world.store
        self.world.store.engine.dispose()
        _copy_sqlite(self.dir / "world.sqlite", self.dir / "pristine.sqlite")
        self.today = self.world.today
        self.firm = self.world.firm
        self.me = pick_employee(self.store, CHAPTER_ROLES[self.chapter])
        self.now = dt.datetime.combine(self.today, dt.time(9, 0))
        self.crm = CRM(self.store, user=self.me["login"], now=self.now)
        self.admin = CRM.system(self.store, now=self.now)
        module = _chapter_module(self.chapter)
        files: dict[str, Any] = {}
        builder = getattr(module, "build_files", None)
        if builder is not None:
            files = builder(self.world, self.dir)
        self.files = types.SimpleNamespace(**files)
        self._pristine = None
        from .undo import Journal

        self.journal = Journal(self.store)  # which writes belong to which exercise (lab.undo)

    @property
    def pristine(self) -> Any:
        """The world exactly as generated (a separate copy; your operations do not touch it)."""
        from ..store import Store

        if self._pristine is None:
            self._pristine = Store(self.dir / "pristine.sqlite", create=False)
        return self._pristine

    def reset(self) -> None:
        """Throw away every change and start again from the world as generated.

        Prints what it did (and returns nothing, so a notebook shows no ``<Lab …>`` line). To
        redo one exercise only, use :meth:`undo`.
        """
        self.store.close()
        if self._pristine is not None:
            self._pristine.close()
        self._build()  # the referee keeps its own copy of the world as generated: nothing to redo
        print(f"已重置：{self.firm['name']} 的全部数据恢复为初始状态（今天 {self.today}），"
              "你在本实训中做的所有操作都已撤销。请从第一个练习重新运行。")

    def banner(self) -> str:
        who = f"学号 {self.student.id}" if self.student.id else "默认世界（自学模式）"
        return (f"实训 {self.chapter} · {self.title}\n"
                f"  学生：{who}（来源：{_SOURCE_ZH[self.student.source]}），世界种子 {self.seed}\n"
                f"  企业：{self.firm['name']}（{self.firm['industry']}，{self.firm['city']}）\n"
                f"  你的身份：{self.me['name']}，{self.me['department']}，{self.me['role_type']}（登录名 {self.me['login']}）\n"
                f"  模拟中的“今天”：{self.today}")

    def table(self, name: str, *, labels: bool = False) -> Any:
        """A table of your world as a DataFrame (``labels=True`` for Chinese column names)."""
        return self.store.read(name, labels=labels)

    def new_rows(self, table: str) -> Any:
        """Rows of ``table`` added in this session (ids beyond the world as generated)."""
        from .chapters import max_id

        frame = self.store.read(table)
        return frame[frame["id"] > max_id(self.pristine, table)].reset_index(drop=True)

    def screen(self, name: str, **kwargs: Any) -> Any:
        """Open a CRM screen on your world, acting as you (see :func:`simcrm.ui.screen`)."""
        from .. import ui

        return ui.screen(name, self.crm, **kwargs)

    # -- checks -----------------------------------------------------------------------------------

    def context(self) -> Context:
        return Context(pristine=self.pristine, store=self.store, world=self.world, me=self.me,
                       files=vars(self.files), chapter=self.chapter)

    def check(self, key: str, answer: Any) -> None:
        """The visible check: compare with the reference on your world and explain a mistake.

        Prints ``✔ 正确`` or raises :class:`~simcrm.lab.checks.CheckFailed` (an
        ``AssertionError`` a notebook shows as one short Chinese message). It returns nothing on
        purpose: nbgrader reads a grade cell's displayed value as partial credit.
        """
        operation = get_question(key).kind == "operation"
        if operation:  # only operations write: calculation checks leave pending writes pending
            self.journal.checked(key)
        result = evaluate(key, self.context(), answer)
        if not result.ok:
            raise CheckFailed(key, result, redo=operation)
        print(f"{key}: {result.message()}")

    def undo(self, key: str) -> Any:
        """Take back what operation exercise ``key`` wrote, to redo it; other exercises keep theirs.

        The writes since the previous check cell belong to the exercise whose check runs next,
        and writes not yet checked belong to the exercise undone (see :mod:`simcrm.lab.undo`).
        Prints what was taken back.
        """
        from .undo import check_key

        check_key(key)
        report = self.journal.undo(key)
        print(report)

    def grade(self, key: str, answer: Any) -> None:
        """The hidden check: recompute the reference in a separate process and compare.

        Raises ``AssertionError`` when the answer is wrong; prints nothing when it is right.
        """
        get_question(key)
        answer_path = self.dir / f"answer-{key}.pkl"
        with open(answer_path, "wb") as fh:
            pickle.dump(answer, fh)
        request = {
            "question": key, "chapter": self.chapter, "student": self.student.id,
            "source": self.student.source, "salt": self.salt, "customers": self.customers,
            "store": str(self.dir / "world.sqlite"), "answer": str(answer_path),
        }
        verdict = self._ask_referee(request)
        if verdict.get("error"):
            raise AssertionError(f"{key}: {verdict.get('hint', '')}\n" + "\n".join(verdict.get("details", [])))
        if not verdict["ok"]:
            raise AssertionError(f"{key}: {verdict.get('hint', '')}")

    def _ask_referee(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request to this session's referee process (started on first use)."""
        proc = getattr(self, "_referee", None)
        if proc is None or proc.poll() is not None:
            log = open(self.dir / "referee.log", "a", encoding="utf-8")  # noqa: SIM115 - lives with the process
            proc = subprocess.Popen([sys.executable, "-m", "simcrm.lab.referee"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, text=True, encoding="utf-8",
                                    cwd=os.getcwd())
            log.close()
            self._referee = proc
        try:
            proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
            proc.stdin.flush()
            while True:
                line = proc.stdout.readline()
                if not line:
                    err = (self.dir / "referee.log").read_text(encoding="utf-8")[-2000:]
                    raise AssertionError(f"{request['question']}: 评分程序意外退出 (referee exited)\n{err}")
                if line.startswith("{"):
                    return json.loads(line)
        except BrokenPipeError as exc:
            raise AssertionError(f"{request['question']}: 评分程序意外退出 (referee exited)") from exc

    def __del__(self) -> None:
        proc = getattr(self, "_referee", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                proc.kill()


_SOURCE_ZH = {"autograde": "自动评分目录", "jupyterhub": "JupyterHub 用户", "explicit": "start() 参数",
              "env": "环境变量 SIMCRM_STUDENT", "default": "默认"}


def start(chapter: str, student: str | None = None, *, customers: int | None = None,
          salt: str | None = None, quiet: bool = False) -> Lab:
    """Open the student's own world for ``chapter`` and say who and where they are.

    Args:
        chapter: ``"ch01"`` … ``"ch10"``.
        student: your student id (学号) when working outside JupyterHub and nbgrader; during
            autograde the id always comes from the autograde directory.
        customers: world size (default: the chapter's, usually 2,000).
        salt: the course salt (default ``$SIMCRM_COURSE_SALT``), set by the teacher.
    """
    install_notebook_errors()  # a blank exercise's NameError / NotImplementedError in Chinese
    who = resolve_student(student)
    seed = world_seed(who.id, salt)
    lab = Lab(chapter, who, seed, customers=customers, salt=salt, quiet=quiet)
    _redo_hint.lab = weakref.ref(lab)  # the latest session explains its duplicates (not kept alive)
    return lab


def _redo_hint(exc: Any) -> str | None:
    """For a DuplicateError on a record this session created: how to redo the exercise."""
    import re

    from ..errors import DuplicateError

    ref = getattr(_redo_hint, "lab", None)
    lab = ref() if ref is not None else None
    if lab is None or not isinstance(exc, DuplicateError) or exc.table != "customer":
        return None
    for cid in re.findall(r"编号 (\d+)", exc.reason or ""):
        owner = lab.journal.owner_of("customer", int(cid))
        if owner is None:
            continue
        key = owner if not owner.startswith("（") else "题号"
        return (f"客户 #{cid} 是你在本次实训中刚创建的（重复运行了单元格？）。不要用 allow_duplicate=True："
                f"运行 lab.undo(\"{key}\") 撤销这个练习的操作，再重新运行答案单元格。")
    return None


_redo_hint.lab = None
_add_hint(_redo_hint)


def _cleanup(path: Path) -> None:
    """Remove a session's folder (registered with atexit: runs when the kernel ends)."""
    shutil.rmtree(path, ignore_errors=True)
