"""A teacher's course directory for nbgrader: create, roster, release, collect, feedback, export.

Thin over nbgrader's own API (:class:`nbgrader.apps.NbGraderAPI` driven by a traitlets
``Config``); what this module adds is what a Chinese classroom needs around it — Chinese stubs,
a roster read from the registrar's Excel or CSV (学号 with leading zeros kept, GBK or UTF-8),
submissions collected from a folder or a zip downloaded from the LMS (GBK file names
included), and a grade sheet that Excel opens with Chinese headers.

A course directory is the nbgrader layout::

    course/
      nbgrader_config.py     written by create_course(); also read by `jupyter lab` (formgrader)
      gradebook.db           nbgrader's gradebook (SQLite)
      source/<assignment>/   teacher versions (solutions and hidden tests)
      release/<assignment>/  student versions (generated)
      submitted/<student_id>/<assignment>/
      autograded/…, feedback/…
      simcrm_repair/<assignment>/<student_id>/   originals and repair reports (see grading.py)

nbgrader is imported only inside the functions, so ``import simcrm.lab.course`` stays cheap.
nbgrader creates its gradebook by running the ``alembic`` program: :func:`nbgrader_env` puts the
running interpreter's ``bin/`` on ``PATH`` first.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ..errors import ConfigError, ImportFileError, NotFoundError
from .repair import KINDS_ZH, Report

__all__ = [
    "CODE_STUB",
    "TEXT_STUB",
    "DEFAULT_CELL_TIMEOUT",
    "create_course",
    "course_config",
    "course_settings",
    "world_tickets",
    "open_api",
    "import_roster",
    "read_roster",
    "release",
    "collect",
    "feedback",
    "export_grades",
    "grade_table",
    "assignment_notebooks",
    "nbgrader_env",
]

#: What replaces a code solution in the student version.
CODE_STUB = '# 在此编写代码（写好后删除下面这一行）\nraise NotImplementedError("还没有作答：请删除这一行，在此编写代码")'
#: What replaces a written (markdown) answer in the student version.
TEXT_STUB = "在此作答"
#: Seconds a single cell may run during autograde before it is interrupted.
DEFAULT_CELL_TIMEOUT = 60

REPAIR_DIR = "simcrm_repair"
#: the course's own settings (salt, world size): ``simcrm_course.json``, never given to students
SETTINGS_FILE = "simcrm_course.json"
#: private question definitions and hidden tests that only the referee loads (``*.py``)
PRIVATE_DIR = "simcrm_private"

_CONFIG_TEMPLATE = '''\
# nbgrader 课程配置 — 由 `simcrm course create` 生成，可以手工修改。
# nbgrader course configuration written by simcrm; `jupyter lab` started in this folder reads it
# too (Formgrader), so the paths below are relative to this file.
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
_here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = _here
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")

# 学生版中替换答案的中文提示 (Chinese stubs in the student version)
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
c.ClearSolutions.text_stub = {text_stub!r}

# 自动评分: 每个单元格最多运行 {timeout} 秒, 超时则中断并继续下一个单元格
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
{exchange}'''


# --- environment and configuration ---------------------------------------------------------


@contextmanager
def nbgrader_env() -> Iterator[None]:
    """Put this interpreter's ``bin/`` first on ``PATH`` (nbgrader runs ``alembic``) for a while."""
    bindir = str(Path(sys.executable).parent)
    old = os.environ.get("PATH", "")
    if old.split(os.pathsep)[:1] != [bindir]:
        os.environ["PATH"] = bindir + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old


def _course(course_dir: str | Path) -> Path:
    course = Path(course_dir).resolve()
    if not (course / "nbgrader_config.py").exists():
        raise NotFoundError(
            f"{course} 不是课程目录（没有 nbgrader_config.py）。请先运行 simcrm course create。",
            message_en=f"{course} is not a course directory (no nbgrader_config.py); run `simcrm course create` first",
        )
    return course


@functools.lru_cache(maxsize=1)
def _blank_gradebook() -> bytes:
    """An empty gradebook, made once per process.

    A new nbgrader gradebook records its alembic version by running the ``alembic`` program
    (seconds of start-up); copying a blank one made earlier in the same run avoids paying that
    again for every temporary course (``generate_labs``).
    """
    import sqlite3

    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="simcrm-gradebook-") as tmp:
        db = Path(tmp) / "gradebook.db"
        with nbgrader_env(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Gradebook(f"sqlite:///{db}").close()
        con = sqlite3.connect(db)
        with con:
            con.execute("DELETE FROM course")
        con.close()
        return db.read_bytes()


def create_course(course_dir: str | Path, solutions_dir: str | Path | None = None, course_id: str = "simcrm",
                  *, exchange_dir: str | Path | None = None, timeout: int = DEFAULT_CELL_TIMEOUT,
                  assignments: list[str] | None = None) -> Path:
    """Create (or update) a course directory ready for nbgrader.

    Copies ``solutions/<assignment>/`` to ``source/<assignment>/`` for every assignment (or
    only ``assignments``) and writes ``nbgrader_config.py`` with Chinese stubs, a SQLite
    gradebook in the course directory and a per-cell timeout. ``exchange_dir`` configures the
    nbgrader exchange (a shared folder on one Linux machine or JupyterHub; the exchange does
    not work on Windows). Existing source folders are replaced; the gradebook is kept.

    Returns:
        The course directory (absolute).
    """
    course = Path(course_dir).resolve()
    if solutions_dir is not None and not Path(solutions_dir).is_dir():
        raise NotFoundError(f"找不到答案目录 {solutions_dir}", message_en=f"no solutions directory {solutions_dir}")
    course.mkdir(parents=True, exist_ok=True)
    exchange = ""
    if exchange_dir is not None:
        exchange = (f"\n# nbgrader exchange（仅 Linux/macOS；JupyterHub 上所有用户可写的共享目录）\n"
                    f"c.Exchange.root = {str(Path(exchange_dir).resolve())!r}\n")
    (course / "nbgrader_config.py").write_text(
        _CONFIG_TEMPLATE.format(course_id=course_id, code_stub=CODE_STUB, text_stub=TEXT_STUB,
                                timeout=int(timeout), exchange=exchange),
        encoding="utf-8",
    )
    if solutions_dir is not None:
        solutions = Path(solutions_dir)
        names = assignments or sorted(p.name for p in solutions.iterdir()
                                      if p.is_dir() and any(p.glob("*.ipynb")))
        for name in names:
            src = solutions / name
            if not src.is_dir():
                raise NotFoundError(f"答案目录中没有作业 {name}", message_en=f"no assignment {name} in {solutions}")
            dest = course / "source" / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"))
    (course / "source").mkdir(exist_ok=True)
    settings = course / SETTINGS_FILE
    if not settings.exists():
        import json
        import secrets

        settings.write_text(json.dumps({"salt": secrets.token_hex(16), "customers": None}, indent=1) + "\n",
                            encoding="utf-8")
        try:
            settings.chmod(0o600)
        except OSError:  # pragma: no cover - file systems without modes
            pass
    if not (course / "gradebook.db").exists():
        (course / "gradebook.db").write_bytes(_blank_gradebook())
    return course


def course_settings(course_dir: str | Path) -> dict[str, Any]:
    """The course's ``simcrm_course.json``: ``salt`` (random, made by :func:`create_course`) and
    ``customers`` (world size, ``None`` = each chapter's). A course without a salt is an error:
    autograde never falls back to the public default salt."""
    import json

    course = _course(course_dir)
    path = course / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except ValueError as exc:
        raise ConfigError(field=SETTINGS_FILE, value=str(exc), label="课程设置文件",
                          allowed="有效的 JSON，如 {\"salt\": \"…\"}") from exc
    salt = data.get("salt")
    if not isinstance(salt, str) or not salt.strip():
        raise ConfigError(field=f"{SETTINGS_FILE}: salt", value=repr(salt), label="课程盐值",
                          allowed="非空文本；运行 simcrm course create 生成（不能用公开的默认值）")
    customers = data.get("customers")
    if customers is not None and (not isinstance(customers, int) or customers < 50):
        raise ConfigError(field=f"{SETTINGS_FILE}: customers", value=repr(customers), label="客户数",
                          allowed="null（按章节默认）或不小于 50 的整数")
    return {"salt": salt, "customers": customers}


def course_config(course_dir: str | Path, **overrides: Any):
    """The traitlets ``Config`` of a course: its ``nbgrader_config.py`` with the root made absolute.

    ``overrides`` are ``"Section.name": value`` pairs, e.g. ``{"Execute.timeout": 5}``.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    course = _course(course_dir)
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    merged = Config()
    merged.merge(cfg)
    merged.CourseDirectory.root = str(course)
    merged.NbGraderAPI.log_level = logging.WARNING
    for key, value in overrides.items():
        section, name = key.split(".")
        setattr(merged[section], name, value)
    return merged


class _SchemaCheckedOnce:
    """``jsonschema`` as nbgrader's cell-metadata validator sees it, with ``validate`` checking
    each schema against its metaschema once instead of on every cell.

    ``jsonschema.validate(instance, schema)`` first checks ``schema`` itself, then validates;
    nbgrader calls it for every cell of every notebook it reads, with its own constant schema,
    and the schema check was most of the time (about 0.2 s CPU of each ch04 submission).
    Here the validator is made once per schema object; a cell raises the same best-matching
    ``ValidationError`` as before (``tests/test_grading_batch.py``)."""

    def __init__(self) -> None:
        import jsonschema

        self._module = jsonschema
        self._validators: dict[int, tuple[Any, Any]] = {}

    def validate(self, instance: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            return self._module.validate(instance, schema, *args, **kwargs)
        known = self._validators.get(id(schema))
        if known is None or known[0] is not schema:  # keeps the schema: its id is not reused
            cls = self._module.validators.validator_for(schema)
            cls.check_schema(schema)
            known = self._validators[id(schema)] = (schema, cls(schema))
        error = self._module.exceptions.best_match(known[1].iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _check_metadata_schema_once() -> None:
    """Give nbgrader's cell-metadata validator a :class:`_SchemaCheckedOnce` (once per process)."""
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _SchemaCheckedOnce):
        common.jsonschema = _SchemaCheckedOnce()


def open_api(course_dir: str | Path, **overrides: Any):
    """An ``NbGraderAPI`` for the course (see :func:`course_config` for ``overrides``)."""
    from nbgrader.apps import NbGraderAPI

    _check_metadata_schema_once()
    cfg = course_config(course_dir, **overrides)
    with nbgrader_env(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return NbGraderAPI(config=cfg)


def _check(result: dict, what_zh: str, what_en: str) -> dict:
    if not result or not result.get("success"):
        detail = (result or {}).get("error") or (result or {}).get("log") or ""
        raise ConfigError(f"{what_zh}失败：\n{detail.strip()[-3000:]}", message_en=f"{what_en} failed")
    return result


def assignment_notebooks(course_dir: str | Path, assignment: str) -> list[str]:
    """Notebook names (without ``.ipynb``) of an assignment's source version."""
    course = _course(course_dir)
    src = course / "source" / assignment
    if not src.is_dir():
        known = sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
        raise NotFoundError(f"课程中没有作业 {assignment}（已有：{'、'.join(known) or '无'}）",
                            message_en=f"no assignment {assignment} in the course (have: {', '.join(known)})")
    return sorted(p.stem for p in src.glob("*.ipynb"))


# --- roster ----------------------------------------------------------------------------------

_ID_COLUMNS = ("学号", "id", "student_id", "学生学号", "studentid")
_NAME_COLUMNS = ("姓名", "name", "学生姓名", "full_name")
_EMAIL_COLUMNS = ("邮箱", "email", "电子邮件", "e-mail")


def _cell_text(cell: Any) -> tuple[str, bool]:
    """An Excel cell as the text Excel shows; ``(text, sure)`` — ``sure`` is False for a number
    whose display format this cannot reproduce exactly (so a 学号 could silently change)."""
    value = cell.value
    if value is None:
        return "", True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value), True
    fmt = str(cell.number_format or "General")
    if isinstance(value, float):
        if not value.is_integer():
            return repr(value), fmt == "General"
        value = int(value)
    if fmt in ("General", "0", "@"):
        return str(value), True
    if re.fullmatch(r"0+", fmt):  # e.g. "0000000000": Excel pads with zeros to the width
        return str(value).zfill(len(fmt)), True
    return str(value), False


def _read_xlsx(path: Path) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """The first sheet as text, as Excel displays it; per column, the rows whose numbers have a
    display format that cannot be reproduced (row numbers as Excel shows them)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = list(wb.worksheets[0].iter_rows())
    finally:
        wb.close()
    if not rows:
        return pd.DataFrame(), {}
    header = [str(c.value).strip() if c.value is not None else f"列{i + 1}" for i, c in enumerate(rows[0])]
    data, unsure = [], {h: [] for h in header}
    for r, row in enumerate(rows[1:], start=2):
        texts = []
        for h, c in zip(header, row):
            text, sure = _cell_text(c)
            if not sure:
                unsure[h].append(r)
            texts.append(text)
        texts += [""] * (len(header) - len(texts))
        if any(texts):
            data.append(texts)
    return pd.DataFrame(data, columns=header, dtype=str), {h: v for h, v in unsure.items() if v}


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            table, unsure = _read_xlsx(path)
            table.attrs["unsure"] = unsure
            return table
        if suffix == ".xls":
            return pd.read_excel(path, dtype=str)
        last: Exception | None = None
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return pd.read_csv(path, dtype=str, encoding=encoding)
            except UnicodeDecodeError as exc:
                last = exc
        raise ImportFileError(f"{path.name} 的编码无法识别（试过 UTF-8 与 GBK）",
                              message_en=f"cannot decode {path.name}") from last
    except (OSError, ValueError) as exc:
        raise ImportFileError(f"无法读取名单 {path.name}：{exc}", message_en=f"cannot read roster {path.name}") from exc


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {str(c).strip().lower(): c for c in columns}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def read_roster(path: str | Path, *, extra: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """A roster file (CSV or Excel) as text: columns ``学号``, ``姓名``, ``邮箱`` and ``extra``.

    Columns ``学号`` and ``姓名`` (or ``id`` and ``name``; an optional ``邮箱``/``email``;
    ``extra`` maps further output columns to the headers that may hold them, empty where the
    file has none). 学号 are read as text, so leading zeros survive; an Excel number whose
    display format cannot be reproduced (leading zeros Excel hid) is refused, naming the rows.
    CSV may be UTF-8 or GBK (Excel's default on Chinese Windows). Rows without a 学号 are
    dropped; 学号 of other characters than letters, digits, ``_ . -`` and repeated 学号 are refused.
    """
    path = Path(path)
    table = _read_table(path)
    id_col, name_col = _pick(list(table.columns), _ID_COLUMNS), _pick(list(table.columns), _NAME_COLUMNS)
    if id_col is None or name_col is None:
        missing = "学号" if id_col is None else "姓名"
        raise ImportFileError(
            f"名单 {path.name} 缺少“{missing}”列（现有列：{'、'.join(map(str, table.columns))}；"
            "需要 学号 和 姓名，或 id 和 name）",
            message_en=f"roster {path.name} lacks a {missing} column (need 学号/姓名 or id/name)",
        )
    unsure = table.attrs.get("unsure", {}).get(id_col)
    if unsure:
        rows = "、".join(str(r) for r in unsure[:10])
        raise ImportFileError(
            f"名单 {path.name} 第 {rows} 行的学号是数字，并带有无法准确还原的显示格式（可能丢失开头的 0）："
            "请在 Excel 中把学号列设置为“文本”格式并重新输入，或另存为 CSV 后再导入。",
            message_en=f"roster {path.name}: student ids in rows {rows} are numbers with a display format "
                       "that cannot be reproduced; store them as text")

    def column(names: tuple[str, ...]) -> Any:
        picked = _pick(list(table.columns), names)
        return table[picked].fillna("").astype(str).str.strip() if picked is not None else ""

    roster = pd.DataFrame({"学号": column((id_col,)), "姓名": column((name_col,)), "邮箱": column(_EMAIL_COLUMNS),
                           **{out: column(names) for out, names in (extra or {}).items()}})
    roster = roster[roster["学号"] != ""].reset_index(drop=True)
    bad = [s for s in roster["学号"] if not re.fullmatch(r"[A-Za-z0-9_.\-]+", s)]
    if bad:
        raise ImportFileError(f"学号只能由字母、数字、_ . - 组成：{'、'.join(bad[:10])}",
                              message_en=f"bad student ids: {', '.join(bad[:10])}")
    dups = sorted(set(roster["学号"][roster["学号"].duplicated()]))
    if dups:
        raise ImportFileError(f"名单中学号重复：{'、'.join(dups[:10])}", message_en=f"duplicate ids: {', '.join(dups[:10])}")
    return roster


def import_roster(course_dir: str | Path, path: str | Path) -> pd.DataFrame:
    """Add or update the students of a roster (CSV or Excel, see :func:`read_roster`) in the gradebook.

    Returns:
        The roster as imported: columns ``学号``, ``姓名``.
    """
    from nbgrader.api import Gradebook

    course = _course(course_dir)
    roster = read_roster(path)
    cfg = course_config(course)
    with nbgrader_env(), Gradebook(cfg.CourseDirectory.db_url) as gb:
        for row in roster.itertuples(index=False):
            gb.update_or_create_student(row[0], last_name=row[1], first_name="", email=row[2] or None)
    return roster[["学号", "姓名"]]


def world_tickets(course_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write each student's world ticket, ``<out_dir>/<学号>/simcrm_world.json``.

    A ticket holds the student id and their world seed (from the course salt), so students
    work in their own world without the salt. Put it next to the released notebooks, in the
    student's hub home (``~/.simcrm/simcrm_world.json``) or name it in ``$SIMCRM_WORLD``.
    """
    import json

    from nbgrader.api import Gradebook

    from .identity import world_seed

    course = _course(course_dir)
    salt = course_settings(course)["salt"]
    cfg = course_config(course)
    out = Path(out_dir)
    written = []
    with nbgrader_env(), warnings.catch_warnings(), Gradebook(cfg.CourseDirectory.db_url) as gb:
        warnings.simplefilter("ignore")
        ids = sorted(st.id for st in gb.students)
    for sid in ids:
        path = out / sid / "simcrm_world.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"student": sid, "seed": world_seed(sid, salt)}) + "\n", encoding="utf-8")
        written.append(path)
    return written


# --- release -----------------------------------------------------------------------------------


def release(course_dir: str | Path, assignment: str, *, to_exchange: bool | None = None) -> dict[str, Any]:
    """Generate the student version of an assignment, and put it in the exchange if there is one.

    ``generate_assignment`` writes ``release/<assignment>/`` (Chinese stubs, hidden tests and
    outputs removed) and records the assignment in the gradebook. When the course has a working
    nbgrader exchange (Linux/macOS only: nbgrader's exchange does not run on Windows) and
    ``to_exchange`` is not False, the assignment is also released to it so that students see it
    in the Assignments tab of JupyterHub.

    Returns:
        ``{"release_dir": Path, "exchange": bool, "message_zh": str}``.
    """
    course = _course(course_dir)
    assignment_notebooks(course, assignment)
    api = open_api(course)
    with nbgrader_env():
        _check(api.generate_assignment(assignment), f"生成作业 {assignment} 的学生版", f"generate_assignment {assignment}")
        exchanged = False
        if sys.platform == "win32":
            message = "Windows 上没有 nbgrader exchange：请把 release 目录中的文件发给学生。"
            if to_exchange:
                raise ConfigError(message, message_en="the nbgrader exchange does not work on Windows")
        elif to_exchange is False:
            message = "已生成学生版（未发布到 exchange）。"
        elif api.exchange_missing:
            message = "未配置可用的 nbgrader exchange：请把 release 目录中的文件发给学生（或用 JupyterHub）。"
            if to_exchange:
                raise ConfigError(message, message_en="no working nbgrader exchange is configured")
        else:
            _check(api.release_assignment(assignment), f"发布作业 {assignment}", f"release_assignment {assignment}")
            exchanged = True
            message = f"已发布到 exchange（{api.exchange_root}）。"
    return {"release_dir": course / "release" / assignment, "exchange": exchanged, "message_zh": message}


# --- collect -----------------------------------------------------------------------------------

_SKIP_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}


def _extract_zip(zip_path: Path, dest: Path) -> None:
    """Extract a zip, decoding file names written by Chinese Windows (GBK) and refusing ``..``."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename
            if not info.flag_bits & 0x800:  # no UTF-8 flag: the bytes were decoded as cp437
                raw = name.encode("cp437", errors="replace")
                for encoding in ("utf-8", "gb18030"):
                    try:
                        name = raw.decode(encoding)
                        break
                    except UnicodeDecodeError:
                        continue
            parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".", "..")]
            if not parts or info.is_dir():
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            stamp = datetime(*info.date_time).timestamp()
            os.utime(target, (stamp, stamp))


def _student_of(rel: Path, assignment: str, notebooks: list[str]) -> str | None:
    parts = rel.parts
    if assignment in parts[:-1]:
        i = parts.index(assignment)
        if i > 0:
            return parts[i - 1]
    stem = rel.stem
    m = re.match(r"^([A-Za-z0-9.]+)[_\-\s]", stem)
    if m and stem not in notebooks and m.group(1) not in notebooks:
        return m.group(1)
    if len(parts) >= 2:
        return parts[-2]
    return None


def _notebook_of(stem: str, notebooks: list[str]) -> str | None:
    if stem in notebooks:
        return stem
    contained = [nb for nb in notebooks if nb in stem]
    if contained:
        return max(contained, key=len)
    if len(notebooks) == 1:
        return notebooks[0]
    return None


def collect(course_dir: str | Path, assignment: str, folder_or_zip: str | Path) -> pd.DataFrame:
    """Import submissions into ``submitted/<student_id>/<assignment>/``.

    Accepted layouts (a folder, or a zip of it):

    * ``<student_id>/<assignment>/*.ipynb`` — what nbgrader's own collect produces (other files
      in that folder, such as ``timestamp.txt``, are copied too);
    * ``<student_id>/*.ipynb``;
    * flat files named ``<student_id>_<anything>.ipynb`` (what most LMS downloads look like).

    A file is renamed to the assignment's notebook name when the assignment has one notebook
    (or when its name contains exactly one). When a student sent several files for the same
    notebook the newest one is kept. A new submission replaces the old one and its repair record.

    Returns:
        One row per file seen: ``student``, ``notebook``, ``source`` (the file), ``status``
        (``imported``, ``older_duplicate``, ``skipped``) and ``detail_zh``.
    """
    course = _course(course_dir)
    notebooks = assignment_notebooks(course, assignment)
    origin = Path(folder_or_zip)
    if not origin.exists():
        raise NotFoundError(f"找不到提交文件 {origin}", message_en=f"no such file or folder {origin}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="simcrm-collect-") as tmp:
        if origin.is_file():
            if not zipfile.is_zipfile(origin):
                raise ImportFileError(f"{origin.name} 不是文件夹也不是 zip 压缩包", message_en=f"{origin.name} is not a folder or zip")
            root = Path(tmp)
            _extract_zip(origin, root)
        else:
            root = origin
        chosen: dict[tuple[str, str], tuple[float, Path]] = {}
        for path in sorted(root.rglob("*.ipynb")):
            rel = path.relative_to(root)
            if any(p in _SKIP_PARTS or p.startswith("._") for p in rel.parts):
                continue
            student = _student_of(rel, assignment, notebooks)
            nb_name = _notebook_of(path.stem, notebooks)
            if student is None or nb_name is None:
                why = "无法从路径或文件名识别学号" if student is None else "无法判断是作业中的哪个笔记本"
                rows.append({"student": student, "notebook": None, "source": str(rel), "status": "skipped",
                             "detail_zh": why})
                continue
            mtime = path.stat().st_mtime
            key = (student, nb_name)
            if key in chosen:
                old_mtime, old = chosen[key]
                newer, older = ((path, old) if mtime >= old_mtime else (old, path))
                chosen[key] = (max(mtime, old_mtime), newer)
                rows.append({"student": student, "notebook": nb_name, "source": str(older.relative_to(root)),
                             "status": "older_duplicate",
                             "detail_zh": f"同一学生提交了多份 {nb_name}，保留最新的 {newer.name}"})
            else:
                chosen[key] = (mtime, path)
        done: set[str] = set()
        for (student, nb_name), (_, path) in sorted(chosen.items()):
            dest_dir = course / "submitted" / student / assignment
            if student not in done:
                done.add(student)
                if dest_dir.exists():
                    shutil.rmtree(dest_dir)
                shutil.rmtree(course / REPAIR_DIR / assignment / student, ignore_errors=True)
                dest_dir.mkdir(parents=True)
                if assignment in path.relative_to(root).parts[:-1]:
                    for extra in path.parent.iterdir():
                        if extra.is_file() and extra.suffix != ".ipynb":
                            shutil.copy2(extra, dest_dir / extra.name)
            shutil.copy2(path, dest_dir / f"{nb_name}.ipynb")
            rows.append({"student": student, "notebook": nb_name, "source": str(path.relative_to(root)),
                         "status": "imported", "detail_zh": ""})
    return pd.DataFrame(rows, columns=["student", "notebook", "source", "status", "detail_zh"])


# --- feedback and grades -----------------------------------------------------------------------


def feedback(course_dir: str | Path, assignment: str, *, to_exchange: bool | None = None) -> list[Path]:
    """Generate HTML feedback (``feedback/<student>/<assignment>/*.html``) and release it to
    the exchange when one works. Returns the feedback files."""
    course = _course(course_dir)
    _explain_in_feedback(course, assignment)
    api = open_api(course)
    with nbgrader_env():
        _check(api.generate_feedback(assignment), f"生成作业 {assignment} 的反馈", f"generate_feedback {assignment}")
        if to_exchange is not False and sys.platform != "win32" and not api.exchange_missing:
            _check(api.release_feedback(assignment), f"发布作业 {assignment} 的反馈", f"release_feedback {assignment}")
    return sorted((course / "feedback").glob(f"*/{assignment}/*.html"))


FEEDBACK_CELL_ID = "simcrm-feedback"


def feedback_text(report: Report) -> str:
    """What the student's feedback says about their file: what was wrong, what was repaired,
    and the referee's hints for wrong answers (Markdown, Chinese)."""
    lines = ["## 评分说明（自动生成）", ""]
    if report.fatal:
        lines.append("**你提交的文件无法按笔记本评分**，以空白作业代替评分（自动评分部分 0 分）。原因：")
    elif report.problems:
        lines.append("评分前发现并处理了以下问题：")
    for p in report.problems:
        lines.append(f"- **{KINDS_ZH.get(p.kind, p.kind)}**{f'（{p.cell}）' if p.cell else ''}：{p.detail_zh}")
    if report.verdicts:
        lines += ["", "评分进程对答错的题给出的提示："]
        lines += [f"- {v}" for v in report.verdicts]
    if not report.problems and not report.verdicts:
        lines.append("提交的文件完好，没有需要说明的问题。")
    return "\n".join(lines)


def _explain_in_feedback(course: Path, assignment: str) -> None:
    """Put the repair/grading report at the top of each autograded notebook (so in the feedback)."""
    for folder in sorted((course / "autograded").glob(f"*/{assignment}")):
        report = _load_report(course, assignment, folder.parent.name)
        if report is None or (not report.problems and not report.verdicts):
            continue
        for path in sorted(folder.glob("*.ipynb")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import nbformat

                nb = nbformat.read(str(path), as_version=4)
                nb.cells = [c for c in nb.cells if c.get("id") != FEEDBACK_CELL_ID]
                cell = nbformat.v4.new_markdown_cell(feedback_text(report))
                cell["id"] = FEEDBACK_CELL_ID
                nb.cells.insert(0, cell)
                nbformat.write(nb, str(path))


def _load_report(course: Path, assignment: str, student: str) -> Report | None:
    import json

    path = course / REPAIR_DIR / assignment / student / "report.json"
    if not path.exists():
        return None
    return Report.from_dict(json.loads(path.read_text(encoding="utf-8")))


def grade_table(course_dir: str | Path, assignment: str | None = None) -> pd.DataFrame:
    """Scores from the gradebook: one row per (student in the gradebook, assignment).

    Columns: ``student``, ``name``, ``assignment``, ``score``, ``max_score``, ``auto_score``,
    ``auto_max_score`` (code cells: what autograde decides), ``needs_manual_grade``,
    ``submitted``, ``problems`` (the repair and grading report, in Chinese).
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = _course(course_dir)
    cfg = course_config(course)
    rows = []
    with nbgrader_env(), warnings.catch_warnings(), Gradebook(cfg.CourseDirectory.db_url) as gb:
        warnings.simplefilter("ignore")
        assignments = [a.name for a in gb.assignments if assignment is None or a.name == assignment]
        for a_name in assignments:
            a = gb.find_assignment(a_name)
            for st in gb.students:
                name = " ".join(x for x in (st.last_name, st.first_name) if x)
                report = _load_report(course, a_name, st.id)
                row = {"student": st.id, "name": name, "assignment": a_name,
                       "score": 0.0, "max_score": float(a.max_score or 0), "auto_score": 0.0,
                       "auto_max_score": float(a.max_code_score or 0), "needs_manual_grade": False,
                       "submitted": False, "problems": report.one_line_zh() if report else ""}
                try:
                    sub = gb.find_submission(a_name, st.id)
                except MissingEntry:
                    if not row["problems"]:
                        row["problems"] = f"[{KINDS_ZH['not_submitted']}]"
                else:
                    row.update(score=float(sub.score or 0), max_score=float(sub.max_score or 0),
                               auto_score=float(sub.code_score or 0), auto_max_score=float(sub.max_code_score or 0),
                               needs_manual_grade=bool(sub.needs_manual_grade), submitted=True)
                rows.append(row)
    columns = ["student", "name", "assignment", "score", "max_score", "auto_score", "auto_max_score",
               "needs_manual_grade", "submitted", "problems"]
    return pd.DataFrame(rows, columns=columns)


def export_grades(course_dir: str | Path, path: str | Path, assignment: str | None = None) -> pd.DataFrame:
    """Write the grade sheet as .xlsx (the primary file: 学号 stored as text) and as a CSV for
    Excel (UTF-8 with BOM, 学号 written ``="0123"`` so that Excel keeps the leading zeros).

    ``path``'s suffix is replaced: ``grades.csv`` writes ``grades.csv`` and ``grades.xlsx``.
    Programs should read the .xlsx: ``pd.read_excel("grades.xlsx", dtype={"学号": str})``.
    Columns: 学号, 姓名, 作业, 得分, 满分, 问题 (problems found in the submission, or 未提交).

    Returns:
        The sheet as a DataFrame.
    """
    table = grade_table(course_dir, assignment)
    sheet = pd.DataFrame({
        "学号": table["student"].astype(str),
        "姓名": table["name"],
        "作业": table["assignment"],
        "得分": table["score"].round(2),
        "满分": table["max_score"].round(2),
        "问题": table["problems"],
    }).sort_values(["作业", "学号"], kind="stable").reset_index(drop=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the CSV for Excel: 学号 written as ="0123", which Excel shows as the text 0123 (a plain 0123
    # would be read as the number 123); programs should read the .xlsx (see the teacher guide)
    excel_csv = sheet.assign(学号=['="' + s.replace('"', '""') + '"' for s in sheet["学号"]])
    excel_csv.to_csv(path.with_suffix(".csv"), index=False, encoding="utf-8-sig")
    with pd.ExcelWriter(path.with_suffix(".xlsx"), engine="openpyxl") as writer:
        sheet.to_excel(writer, index=False, sheet_name="成绩")
        ws = writer.sheets["成绩"]
        for col, width in zip("ABCDEF", (14, 10, 16, 8, 8, 60)):
            ws.column_dimensions[col].width = width
        for row in ws.iter_rows(min_row=2, min_col=1, max_col=1):
            for cell in row:
                cell.number_format = "@"  # 学号 as text: keep leading zeros
        _league_sheets(writer, course_dir, assignment)
    return sheet


def _league_sheets(writer: Any, course_dir: str | Path, assignment: str | None) -> None:
    """The ch10 retention league of each exported assignment that has one (sheet 挽留联赛)."""
    from .league import league_assignments, league_table

    for name in league_assignments(course_dir):
        if assignment is not None and name != assignment:
            continue
        sheet_name = "挽留联赛" if assignment is not None else f"挽留联赛-{name}"[:31]
        league_table(course_dir, name).to_excel(writer, index=False, sheet_name=sheet_name)
