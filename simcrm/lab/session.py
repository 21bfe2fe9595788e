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
import shutil
import sqlite3
import subprocess
import tempfile
import types
import weakref
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UnknownValueError
from ..errors import add_hint as _add_hint
from .checks import CheckFailed, install_notebook_errors
from .identity import STUDENT_FILE, Student, _check_id, resolve_student, student_home, world_seed
from .questions import Context, evaluate, get_question

__all__ = ["Lab", "start", "set_student", "own_world", "CHAPTER_TITLES"]

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

#: the department the student works in, where it is not sales (the first match of the role type)
CHAPTER_DEPARTMENTS = {"ch09": "客服"}

DEFAULT_CUSTOMERS = 2000


def _chapter_module(chapter: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"simcrm.lab.chapters.{chapter}")
    except ModuleNotFoundError:
        return None


def _copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (WAL included).

    A database no connection holds open, its journal folded in (no ``-wal`` file beside it), is
    one self-contained file: copied as it is. Otherwise through SQLite's backup API.
    """
    if dst.exists():
        dst.unlink()
    if not any(src.with_name(src.name + x).exists() for x in ("-wal", "-journal")):
        shutil.copyfile(src, dst)
        return
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def _chapter_files(module: Any, builder: Any, world: Any, directory: Path) -> dict[str, Any]:
    """The chapter's files for this world: copied from the world cache when they were made before
    for the same world and the same chapter code (verified like the world), else made and kept."""
    import hashlib

    from ..sim import cache

    k = getattr(world, "_cache_key", None)
    if k is None:
        return builder(world, directory)
    source = Path(module.__file__).read_bytes()
    fk = cache.key(f"files|{k}|{module.__name__}|{hashlib.sha256(source).hexdigest()}")
    files = cache.load_files(fk, directory)
    if files is not None:
        return files
    with cache.building(fk) as waited:  # the build ahead may be making them right now: wait for it
        files = cache.load_files(fk, directory) if waited else None
        if files is not None:
            return files
        files = builder(world, directory)
        if all(isinstance(v, Path) and v.parent == Path(directory) and v.is_file() for v in files.values()):
            cache.save_files(fk, files)
    return files


def build_world(seed: int, chapter: str, directory: Path, customers: int | None = None) -> Any:
    """Generate the chapter's world for ``seed`` into ``directory/world.sqlite``.

    A chapter's ``prepare_world`` (its scenario's starting point: rights, a stock-take, damaged
    contacts …) writes tables only, so the prepared world is kept in the cache too, keyed by
    the world and by all of simcrm's code, and copied as it is the next time (with the world's
    model state, which preparing does not change). A chapter that keeps something on the world
    object instead (a new attribute) is prepared afresh each time.
    """
    from ..sim import cache, generate

    module = _chapter_module(chapter)
    n = customers or getattr(module, "CUSTOMERS", DEFAULT_CUSTOMERS)
    path = directory / "world.sqlite"
    # the old file's WAL and shared-memory index go with it: another process's connection to the
    # old file (the referee's watcher) may have kept them, and a new file must never find them
    for old in (path, *(path.with_name(path.name + x) for x in ("-wal", "-shm", "-journal"))):
        old.unlink(missing_ok=True)
    prepare = getattr(module, "prepare_world", None)
    pk = None
    if prepare is not None and cache.cache_dir() is not None:
        world, pk = _prepared_world(seed, n, module, path)
        if world is not None:
            return world
    # the session's folder goes when the kernel ends: no need to flush its world file to disk
    world = generate(seed=seed, customers=n, db=str(path), durable=False)
    if prepare is not None:
        before = set(world.__dict__)
        prepare(world)
        added = set(world.__dict__) - before - {"_model", "_firm", "_written", "_idmap"}
        if pk is not None and not added and getattr(world, "_cache_key", None) is not None:
            world.store.engine.dispose()  # the journal folded in: one self-contained file
            if not any(path.with_name(path.name + x).exists() for x in ("-wal", "-journal")):
                cache.save_files(pk, {"world": path})
    return world


def _prepared_world(seed: int, n: int, module: Any, path: Path) -> tuple[Any, str]:
    """The chapter's prepared world from the cache (``None`` on a miss) and its key."""
    from ..sim import cache
    from ..sim.world import DEFAULT_START, DEFAULT_TODAY, World, _params, world_key
    from ..store import Store

    p = _params(n, DEFAULT_START, DEFAULT_TODAY, {})
    k = world_key(seed, p)
    pk = cache.key(f"prepared|{k}|{module.__name__}|{cache.package_hash()}")
    base = cache.state_of(k)  # the model state stays the world's own entry's
    if base is None:
        return None, pk
    files = cache.load_files(pk, path.parent)
    if not files or files.get("world") != path:
        path.unlink(missing_ok=True)
        return None, pk
    world = World(seed, p, Store(path, create=False, check=False), "zh_CN", _state=base[0], _meta=base[1])
    world._cache_key = k
    return world, pk


def pick_employee(store: Any, role_type: str, department: str = "销售") -> dict[str, Any]:
    """The employee a student plays: the first active one of ``role_type`` (in ``department`` first)."""
    emp = store.read("employee")
    dept = store.read("department")[["id", "name"]].rename(columns={"id": "department_id", "name": "department"})
    emp = emp.merge(dept, on="department_id", how="left")
    active = emp[(emp["status"] == "正常") & (emp["role_type"] == role_type)]
    if active.empty:
        raise ConfigError(field="role_type", value=role_type, label="角色类型",
                          allowed=sorted(emp.loc[emp["status"] == "正常", "role_type"].unique()))
    sales = active[active["department"].astype(str).str.contains(department)]
    row = (sales if not sales.empty else active).sort_values("id").iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.to_dict().items()}


class Lab:
    """One student's lab session (see the module docstring)."""

    def __init__(self, chapter: str, student: Student, seed: int, *, customers: int | None = None,
                 salt: str | None = None, quiet: bool = False, practice: bool = False):
        if chapter not in CHAPTER_TITLES:
            raise UnknownValueError(field="chapter", value=chapter, label="章节", allowed=list(CHAPTER_TITLES))
        self.chapter = chapter
        self.title = CHAPTER_TITLES[chapter]
        self.student = student
        self.seed = seed
        self.salt = salt
        #: a 学号's world built without the course salt: for practice, not the world graded
        self.practice = practice
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
        self.me = pick_employee(self.store, CHAPTER_ROLES[self.chapter], CHAPTER_DEPARTMENTS.get(self.chapter, "销售"))
        self.now = dt.datetime.combine(self.today, dt.time(9, 0))
        clock = lambda: self.now  # noqa: E731 - the CRM's "now" follows next_quarter()
        self.crm = CRM(self.store, user=self.me["login"], now=clock)
        self.admin = CRM.system(self.store, now=clock)
        module = _chapter_module(self.chapter)
        files: dict[str, Any] = {}
        builder = getattr(module, "build_files", None)
        if builder is not None:
            files = _chapter_files(module, builder, self.world, self.dir)
        self.files = types.SimpleNamespace(**files)
        self._pristine = None
        self.quarters: list[int] = []  # the days of each next_quarter() since the world was built
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

    def next_quarter(self, days: int = 91) -> None:
        """Run your firm forward one quarter (91 days) with what you recorded in the CRM.

        Care you planned or did and the customers you put in a campaign's 目标组 act on those
        customers (the 对照组 gets nothing), and so do the complaints you handled (the return
        visit's date and satisfaction: fast and satisfying, or not) and the complaint-handling
        policy you set (``complaint_policy``: the complaints received from tomorrow on are handled
        by its rules), with an effect that depends
        on each customer's hidden state; everything else goes on as the firm would. The same decisions always give
        the same quarter, so autograde, which re-runs your notebook, sees what you saw; the
        grade of an outcome comes from the referee's own replay of your decisions
        (:mod:`simcrm.lab.loop`). ``lab.reset()`` goes back to the world as generated.
        """
        from ..errors import ConfigError

        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
            raise ConfigError(field="days", value=days, label="天数", allowed="1 到 366 之间的整数（一个季度是 91 天）")
        before = {t: self.store.count(t) for t in ("sales_order", "complaint", "survey")}
        start = self.today
        self.world.step(days)
        self.quarters.append(days)
        self.today = self.world.today
        self.now = dt.datetime.combine(self.today, dt.time(9, 0))
        grown = {t: self.store.count(t) - n for t, n in before.items()}
        print(f"已运行到下一季度：{start} → {self.today}（{days} 天）。本期新增订单 {grown['sales_order']} 张、"
              f"投诉 {grown['complaint']} 条、满意度调查 {grown['survey']} 份。")

    def banner(self) -> str:
        who = f"学号 {self.student.id}" if self.student.id else "默认世界（自学模式）"
        source = _SOURCE_ZH[self.student.source]
        if self.student.source == "saved":
            source += f" {student_home() / STUDENT_FILE}"
        note = ""
        if self.practice:
            note = (f"  注意：这是学号 {self.student.id} 的练习世界，不是计分用的世界（没有教师的世界文件或课程盐值）；"
                    f"计分作业以教师为你生成的世界为准。向教师索取 simcrm_world.json，"
                    f"用 simcrm student set {self.student.id} --ticket simcrm_world.json 安装。\n")
        return (f"实训 {self.chapter} · {self.title}\n"
                f"  学生：{who}（来源：{source}），世界种子 {self.seed}\n" + note +
                f"  企业：{self.firm['name']}（{self.firm['industry']}，{self.firm['city']}）\n"
                f"  你的身份：{self.me['name']}，{self.me['department']}，{self.me['role_type']}（登录名 {self.me['login']}）\n"
                f"  模拟中的“今天”：{self.today}" + self._change_hint())

    def _change_hint(self) -> str:
        """The banner's last line, where the 学号 was saved or asked: how to change it."""
        if self.student.source not in ("saved", "default", "ticket"):
            return ""
        from .firstrun import CHANGE_HINT

        return f"\n  {CHANGE_HINT}"

    def table(self, name: str, *, labels: bool = False) -> Any:
        """A table of your world as a DataFrame (``labels=True`` for Chinese column names)."""
        return self.store.read(name, labels=labels)

    def new_rows(self, table: str) -> Any:
        """Rows of ``table`` added in this session (ids beyond the world as generated)."""
        from .chapters import max_id, rows_after

        return rows_after(self.store, table, max_id(self.pristine, table))

    def screen(self, name: str, **kwargs: Any) -> Any:
        """Open a CRM screen on your world, acting as you (see :func:`simcrm.ui.screen`).

        During autograde nobody looks at a screen: the call returns a :class:`GradingScreen`
        that says so in the graded notebook and builds the screen only if code uses it.
        """
        from .. import ui

        if _autograde_referee() is not None:
            ui.screen_key(name)  # an unknown name is refused as in the student's own run
            return GradingScreen(name, lambda: ui.screen(name, self.crm, **kwargs))
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
        if _autograde_referee() is not None:  # autograde: the referee decides; skip the visible reference
            print(f"{key}: 自动评分中，结果以评分进程为准。")
            return
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
        """The hidden check: hand the answer to the referee, a separate process that decides.

        During autograde the referee was started by the grading pipeline and keeps its own
        record; this only hands the answer over (the grade is read from the referee's record,
        not from this cell). Elsewhere (self-study, the teacher's own run) the referee answers
        at once: ``AssertionError`` with the hint when the answer is wrong.
        """
        from .referee import AnswerTypeError, encode_answer

        try:
            payload = encode_answer(answer)
        except AnswerTypeError as exc:
            raise AssertionError(f"{key}: 答案的类型 {exc} 不能提交评分（请用数字、文本、列表、字典或 DataFrame）") from None
        request = {"op": "grade", "question": key, "answer": payload, "store": str(self.dir / "world.sqlite")}
        if _autograde_referee() is not None:
            reply = _call_autograde_referee(request)
            if reply.get("error"):
                raise AssertionError(f"{key}: {reply.get('hint', '评分进程拒收')}")
            print(f"{key}: 答案已提交给评分进程（得分见反馈）。")
            return
        verdict = self._ask_referee(request)
        if verdict.get("error"):
            raise AssertionError(f"{key}: {verdict.get('hint', '')}\n" + "\n".join(verdict.get("details", [])))
        if not verdict["ok"]:
            raise AssertionError(f"{key}: {verdict.get('hint', '')}")

    def _ask_referee(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request to this session's local referee process (started on first use,
        isolated: ``python -I`` in the session folder, see :func:`simcrm.lab.referee.referee_command`)."""
        from .referee import referee_command

        proc = getattr(self, "_referee", None)
        if proc is None or proc.poll() is not None:
            log = open(self.dir / "referee.log", "a", encoding="utf-8")  # noqa: SIM115 - lives with the process
            proc = subprocess.Popen(referee_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    text=True, encoding="utf-8", cwd=str(self.dir))
            log.close()
            self._referee = proc
            init = {"mode": "local", "student": self.student.id, "seed": self.seed, "customers": self.customers}
            proc.stdin.write(json.dumps(init, ensure_ascii=False) + "\n")
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
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()  # else an unclosed-pipe ResourceWarning when the session is collected


# -- the autograde referee (started by the grading pipeline, found through SIMCRM_REFEREE) -----------

_AUTOGRADE_CONN: dict[str, Any] = {}


class GradingScreen:
    """What :meth:`Lab.screen` returns during autograde: no widgets are built for a screen
    nobody sees (building them cost about a tenth of a ch04 submission's CPU). It shows one
    line in the graded notebook; any attribute the student's code uses builds the real screen
    and answers from it, so code that drives a screen still works."""

    def __init__(self, name: str, build: Any) -> None:
        self._name, self._build, self._screen = name, build, None

    def _real(self) -> Any:
        if self._screen is None:
            self._screen = self._build()
        return self._screen

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # display hooks and the like: not a reason to build the screen
            raise AttributeError(attr)
        return getattr(self._real(), attr)

    def __repr__(self) -> str:
        return f"（自动评分时不显示界面“{self._name}”；在 JupyterLab 中运行本单元格即可看到。）"


def _autograde_referee() -> str | None:
    """The address of the pipeline's referee during simcrm's autograde, else ``None``."""
    return os.environ.get("SIMCRM_REFEREE") or None


def _call_autograde_referee(request: dict[str, Any]) -> dict[str, Any]:
    import socket

    address = _autograde_referee()
    conn = _AUTOGRADE_CONN.get(address)
    try:
        if conn is None:
            if address.startswith("tcp:"):
                _, host, port = address.split(":")
                sock = socket.create_connection((host, int(port)))
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(address)
            conn = _AUTOGRADE_CONN[address] = (sock, sock.makefile("rb"), sock.makefile("wb"))
        _sock, rfile, wfile = conn
        wfile.write((json.dumps(request, ensure_ascii=False) + "\n").encode("utf-8"))
        wfile.flush()
        line = rfile.readline()
        if not line:
            raise ConnectionError("closed")
        return json.loads(line)
    except (OSError, ValueError) as exc:
        _AUTOGRADE_CONN.pop(address, None)
        raise AssertionError(f"无法连接评分进程（{type(exc).__name__}）：答案未提交给评分进程") from None


_SOURCE_ZH = {"ticket": "教师发放的世界文件", "autograde": "自动评分目录", "jupyterhub": "JupyterHub 用户", "explicit": "start() 参数",
              "env": "环境变量 SIMCRM_STUDENT", "saved": "已保存的学号", "default": "默认"}


def start(chapter: str, student: str | None = None, *, customers: int | None = None,
          salt: str | None = None, quiet: bool = False, shared: Any = None) -> Lab:
    """Open the student's own world for ``chapter`` and say who and where they are.

    Args:
        chapter: ``"ch01"`` … ``"ch10"``.
        student: your student id (学号) when working outside JupyterHub and nbgrader; during
            autograde the id always comes from the autograde directory.
        customers: world size (default: the chapter's, usually 2,000).
        salt: the course salt (default ``$SIMCRM_COURSE_SALT``), set by the teacher.
        shared: the class's shared world instead of your own: the connection file the teacher
            gave you (``simcrm classroom create``) or its ``postgresql://`` URL. Returns a
            :class:`simcrm.classroom.SharedLab` acting through your own database login.
    """
    install_notebook_errors()  # a blank exercise's NameError / NotImplementedError in Chinese
    if shared is not None:
        from ..classroom import join

        return join(chapter, shared, student, quiet=quiet)
    if _autograde_referee() is not None:
        # simcrm's autograde: who the student is and which world is theirs come from the grading
        # pipeline (through its referee), whatever this notebook passes or sets
        hello = _call_autograde_referee({"op": "hello"})
        who = Student(hello.get("student"), "autograde")
        lab = Lab(chapter, who, int(hello["seed"]), customers=hello.get("customers"), quiet=quiet)
    else:
        if student is None:  # the first lab in a notebook asks for the 学号 once (simcrm.lab.firstrun)
            from .firstrun import ask_once

            ask_once(quiet=quiet)
        who, seed, salt, practice = own_world(resolve_student(student), salt)
        lab = Lab(chapter, who, seed, customers=customers, salt=salt, quiet=quiet, practice=practice)
        from .prebuild import after_start

        after_start(lab)  # the student's next labs: their worlds built in the background, once
    _redo_hint.lab = weakref.ref(lab)  # the latest session explains its duplicates (not kept alive)
    return lab


def own_world(who: Student, salt: str | None = None) -> tuple[Student, int, str | None, bool]:
    """Which world a student opens outside simcrm's autograde: ``(student, seed, salt, practice)``.

    The teacher's world ticket when there is one for this student; else the seed of their 学号
    (and the course salt), or the default world. Shared by :func:`start` and the worlds built
    ahead (:mod:`simcrm.lab.prebuild`), so both open the same world.
    """
    ticket = world_ticket() if who.source != "autograde" and salt is None else None
    if ticket is not None and who.id in (None, ticket["student"]):
        # the teacher handed this student their world (``simcrm course worlds``): no salt needed
        return Student(ticket["student"], "ticket"), ticket["seed"], None, False
    seed = world_seed(who.id, salt, autograde=who.source == "autograde")
    # a 学号 without the teacher's ticket or salt gets a world of the public default salt:
    # say so, a student must not believe it is the world they are graded on
    practice = who.id is not None and salt is None and not os.environ.get("SIMCRM_COURSE_SALT")
    return who, seed, salt, practice


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


#: where a student's world ticket is looked for (``simcrm course worlds`` writes them)
TICKET_NAME = "simcrm_world.json"


def world_ticket() -> dict[str, Any] | None:
    """The student's world ticket: ``$SIMCRM_WORLD``, else ``simcrm_world.json`` in the notebook's
    folder, else ``~/.simcrm/simcrm_world.json`` (``$SIMCRM_HOME`` instead of ``~/.simcrm`` when
    set); ``None`` when there is none.

    A ticket names the student and the seed of their world, so a student works in their own
    world without ever seeing the course salt (which would let them build anyone's world).
    """
    candidates = [os.environ.get("SIMCRM_WORLD"), Path.cwd() / TICKET_NAME, student_home() / TICKET_NAME]
    for path in candidates:
        if not path or not Path(path).is_file():
            continue
        return _read_ticket(Path(path))
    return None


def _read_ticket(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"student": _check_id(data["student"], str(path)), "seed": int(data["seed"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(field=str(path), value=f"{type(exc).__name__}: {exc}", label="世界文件",
                          allowed='{"student": "学号", "seed": 整数}（由教师用 simcrm course worlds 生成）') from exc


def set_student(student: str, ticket: str | os.PathLike | None = None, *, quiet: bool = False) -> None:
    """Remember your 学号 for every later lab (``~/.simcrm/student.json``; ``$SIMCRM_HOME`` if set).

    ``ticket`` is the world file the teacher gave you (``simcrm_world.json``, made by
    ``simcrm course worlds``): it is copied to ``~/.simcrm/`` and from then on ``start()`` opens
    exactly the world you are graded on. Without a ticket (and without the course salt) your
    学号 gets a practice world (练习世界), and the banner says so. A bad 学号 or a ticket of
    another student is refused and nothing is saved. Same as ``simcrm student set``.
    """
    if student is None or not str(student).strip():
        raise ConfigError(field="student", value=student, label="学号",
                          allowed="1–64 个字母、数字或 _ . @ -（不含空格和中文），不能为空")
    sid = _check_id(student, "student")
    data = None
    if ticket is not None:
        data = _read_ticket(Path(ticket))
        if data["student"] != sid:
            raise ConfigError(field="ticket", value=f"{ticket}（学号 {data['student']}）", label="世界文件",
                              allowed=f"学号 {sid} 的世界文件（请向教师索取你自己的 simcrm_world.json）")
    home = student_home()
    home.mkdir(parents=True, exist_ok=True)
    old = home / TICKET_NAME
    said = []
    if data is not None:
        _write_atomic(old, json.dumps(data, ensure_ascii=False, indent=1))
        said.append(f"已安装世界文件：{old}")
    elif old.is_file():
        try:
            stale = json.loads(old.read_text(encoding="utf-8")).get("student")
        except (OSError, ValueError, AttributeError):
            stale = None
        if stale != sid:  # another 学号's world must not stay the world start() opens
            old.unlink()
            said.append(f"已删除学号 {stale} 的世界文件：{old}")
    _write_atomic(home / STUDENT_FILE, json.dumps({"student": sid}, ensure_ascii=False))
    if not quiet:
        print(f"已保存学号 {sid}（{home / STUDENT_FILE}），以后的实训都用这个学号。" + "".join("\n" + x for x in said))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _cleanup(path: Path) -> None:
    """Remove a session's folder (registered with atexit: runs when the kernel ends)."""
    shutil.rmtree(path, ignore_errors=True)
