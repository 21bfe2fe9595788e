"""Repair what students do to notebooks in the wild, before nbgrader sees a submission.

nbgrader trusts the submitted notebook's cell metadata. In a real class the metadata and the
cells get damaged: a file truncated by a bad upload, cells copied with their ids (so two cells
claim the same ``grade_id``), a test cell turned into markdown or deleted, an assert edited to
``pass``, a notebook pasted into a fresh file that lost every ``metadata.nbgrader``. nbgrader's
own answers to these (its open issues) are to drop the duplicate's metadata, crash, or silently
give the points away. This module compares a submission with the **release** notebook (the one
the student received, with nbgrader cell metadata) and puts the graded structure back:

* not valid JSON / not a notebook → a *fatal* problem: the submission scores 0, the batch goes on;
* duplicate cell ids → new ids for the copies;
* duplicate ``grade_id`` (copied cells) → the answer the student edited last keeps the metadata,
  the other copies stay as ordinary cells (copies of locked cells are dropped);
* changed cell types → test and locked cells are restored from the release; an answer cell gets
  its type back and keeps its source (commented out if it is not valid Python);
* deleted test, locked or answer cells → re-inserted from the release where they belong;
* edited test or locked cells → restored from the release (nbgrader then puts the hidden tests
  back from its gradebook, so a wrong answer can never pass by deleting or editing its test);
* cleared metadata → restored by aligning the submission with the release on cell ids, cell
  order, cell type and source similarity.

Every repair is reported as a :class:`Problem` whose ``detail_zh`` tells the teacher, in
Chinese, what was wrong and what was done::

    >>> import nbformat
    >>> from nbformat.v4 import new_notebook, new_code_cell
    >>> test = new_code_cell("assert answer == 42", id="t1")
    >>> test.metadata["nbgrader"] = {"grade": True, "grade_id": "q1_test", "locked": True,
    ...     "points": 2, "solution": False, "schema_version": 3, "task": False}
    >>> release = new_notebook(cells=[new_code_cell("answer = 0", id="a1"), test])
    >>> student = new_notebook(cells=[new_code_cell("answer = 41", id="a1")])  # test deleted
    >>> fixed, report = repair_notebook(student, release)
    >>> [p.kind for p in report.problems]
    ['deleted_test_cell']
    >>> fixed.cells[-1].source
    'assert answer == 42'
    >>> print(report.summary_zh())
    发现 1 个问题（已修复）：
      - [测试单元格被删除] q1_test：测试单元格 q1_test 被删除，已从发布版本恢复到原位置。
"""

from __future__ import annotations

import ast
import copy
import json
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

__all__ = [
    "Problem",
    "Report",
    "KINDS_ZH",
    "inspect_submission",
    "repair_submission",
    "repair_notebook",
    "read_notebook_lenient",
]

#: Chinese label of each problem kind (the ``kind`` itself is an English key).
KINDS_ZH: dict[str, str] = {
    "invalid_json": "文件不是有效的 JSON",
    "not_a_notebook": "不是 Jupyter 笔记本",
    "missing_notebook": "缺少笔记本",
    "encoding_fixed": "文件编码已修正",
    "duplicate_cell_id": "单元格 id 重复",
    "bad_cell_id": "单元格 id 无效",
    "duplicate_grade_id": "评分单元格被复制",
    "unknown_grade_id": "未知的评分单元格",
    "cell_type_changed": "单元格类型被修改",
    "deleted_test_cell": "测试单元格被删除",
    "deleted_locked_cell": "锁定单元格被删除",
    "deleted_answer_cell": "答题单元格被删除",
    "edited_test_cell": "测试单元格被修改",
    "edited_locked_cell": "锁定单元格被修改",
    "metadata_cleared": "评分元数据被清除",
    "metadata_changed": "评分元数据被修改",
    "invalid_structure": "笔记本结构无效",
    "suspected_tampering": "疑似篡改评分",
    # added by the grading pipeline (simcrm.lab.grading), not by the repair itself
    "cell_timeout": "单元格运行超时",
    "kernel_died": "内核崩溃",
    "autograde_failed": "自动评分失败",
    "not_submitted": "未提交",
    "answer_not_submitted": "答案未提交给评分进程",
    "answer_resubmitted": "重复提交答案",
    "referee_failed": "评分进程出错",
    "output_truncated": "输出过长已截断",
    "student_mismatch": "学号与提交目录不符",
}

_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

#: code in a student's cell that reaches for the grading machinery. Grades of referee-backed
#: tests come from the referee's own record (simcrm.lab.referee), so these cannot change them;
#: the report tells the teacher where a student tried. Every code cell the student can write is
#: scanned: answer cells and cells the student added.
_TAMPERING = [
    (re.compile(r"\.\s*(check|grade|evaluate|compare|referee|_ask_referee|_\w+)\s*=(?!=)"
                r"|\b(type\s*\(\s*lab\s*\)|__class__|__dict__|__globals__|__code__)"),
     "重新定义了评分函数或实验对象的类"),
    (re.compile(r"\b(sys\.modules|builtins|__builtins__|importlib|__import__|ctypes|gc\.get_objects)\b"),
     "修改了 Python 的模块或内置函数"),
    (re.compile(r"\bsubprocess\b|\bos\.(system|popen|exec\w*|spawn\w*|fork|kill|environ\s*\[|putenv|unsetenv)"
                r"|\bos\.environ\.(update|pop|setdefault|clear)|\bsocket\b|/proc/"),
     "调用了系统命令、进程、网络或修改了环境变量"),
    (re.compile(r"\b(setattr|delattr|monkeypatch|mock\.patch|unittest\.mock)\b"), "动态替换了对象的属性"),
    (re.compile(r"NBGRADER_EXECUTION|autograded|SIMCRM_(STUDENT|COURSE_SALT|REFEREE)|simcrm_course|simcrm_private"
                r"|simcrm_repair|gradebook|\breferee\b|JUPYTERHUB_USER"),
     "试图改变评分时的学生身份或读取课程设置"),
    (re.compile(r"simcrm\.lab\.(questions|chapters|referee|grading|course|checks)|\bget_question\b|\bQUESTIONS\b"
                r"|from\s+simcrm\.lab\s+import\s+[^\n]*\b(questions|chapters|referee)\b|\bevaluate\s*\("),
     "调用了评分程序内部的参考答案"),
    (re.compile(r"\b(pickle|marshal|dill|cloudpickle|__reduce\w*__)\b"), "使用了 pickle 等可执行代码的序列化"),
]


def _scan_tampering(nb: NotebookNode, report: Report) -> None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell) or {}
        if (meta.get("grade") or meta.get("locked")) and not meta.get("solution"):
            continue  # a test or locked cell: restored from the release
        found = [why for pattern, why in _TAMPERING if pattern.search(cell.source)]
        if found:
            what = "答题代码" if meta.get("solution") else "学生添加的单元格"
            report.add("suspected_tampering", _gid(cell) or _where(cell, index),
                       what + "、".join(dict.fromkeys(found)) + "。由评分进程决定的测试以它自己的记录为准，"
                       "不受影响；请教师查看该单元格。")


@dataclass
class Problem:
    """One thing wrong with a submission.

    Attributes:
        kind: an English key from :data:`KINDS_ZH` (``"deleted_test_cell"`` …).
        cell: the cell concerned — its nbgrader ``grade_id`` or ``"第 N 个单元格"``; ``None``
            for the whole file.
        detail_zh: what was wrong and what was done, in Chinese, for the teacher.
        fatal: the submission could not be graded at all (it scores 0).
    """

    kind: str
    cell: str | None
    detail_zh: str
    fatal: bool = False

    def __str__(self) -> str:
        where = f" {self.cell}" if self.cell else ""
        return f"[{KINDS_ZH.get(self.kind, self.kind)}]{where}：{self.detail_zh}"


@dataclass
class Report:
    """What :func:`inspect_submission` or :func:`repair_submission` found in one notebook."""

    path: str | None = None
    problems: list[Problem] = field(default_factory=list)
    #: the referee's hints for wrong answers (``"grade_id：hint"``), for the student's feedback
    verdicts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was wrong."""
        return not self.problems

    @property
    def fatal(self) -> bool:
        """True when the notebook could not be graded at all (it scores 0)."""
        return any(p.fatal for p in self.problems)

    def add(self, kind: str, cell: str | None, detail_zh: str, fatal: bool = False) -> None:
        self.problems.append(Problem(kind, cell, detail_zh, fatal))

    def kinds(self) -> list[str]:
        """The problem kinds, in order, without repeats."""
        return list(dict.fromkeys(p.kind for p in self.problems))

    def summary_zh(self) -> str:
        """A short report for the teacher, one line per problem."""
        if self.ok:
            return "未发现问题。"
        head = "无法评分（按 0 分计）" if self.fatal else "已修复"
        lines = [f"发现 {len(self.problems)} 个问题（{head}）："]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def one_line_zh(self) -> str:
        """The problems on one line (for a grade sheet's 问题 column)."""
        return "；".join(str(p) for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "problems": [asdict(p) for p in self.problems], "verdicts": list(self.verdicts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        return cls(path=data.get("path"), problems=[Problem(**p) for p in data.get("problems", [])],
                   verdicts=list(data.get("verdicts", [])))


# --- reading ---------------------------------------------------------------------------------


def read_notebook_lenient(path: str | Path, report: Report | None = None) -> NotebookNode | None:
    """Read a notebook as nbformat v4, or return ``None`` and record a fatal problem.

    A UTF-8 byte-order mark (Windows editors add one) is accepted and reported; a file that is
    not JSON, or JSON that is not a notebook, is a fatal problem.
    """
    path = Path(path)
    report = report if report is not None else Report(path=str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.add("missing_notebook", None, f"无法读取文件 {path.name}：{exc}", fatal=True)
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        report.add("encoding_fixed", None, "文件开头有 UTF-8 BOM（常见于 Windows 编辑器），已去除。")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        report.add("invalid_json", None,
                   f"{path.name} 不是 UTF-8 编码的文本（第 {exc.start} 字节），可能不是笔记本文件或已损坏；按 0 分计。",
                   fatal=True)
        return None
    except json.JSONDecodeError as exc:
        what = "文件为空" if not raw.strip() else f"第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}"
        report.add("invalid_json", None,
                   f"{path.name} 不是有效的 JSON（{what}），可能上传不完整或用文本编辑器改坏了；按 0 分计。"
                   "请让学生重新提交。", fatal=True)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        report.add("not_a_notebook", None, f"{path.name} 是 JSON 但不是 Jupyter 笔记本（没有 cells）；按 0 分计。",
                   fatal=True)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.from_dict(data)  # no validation here: it would silently renumber duplicate ids
            if nb.get("nbformat") != 4:
                nb = nbformat.convert(nb, 4)
    except Exception as exc:  # noqa: BLE001 - any nbformat failure means "not a notebook"
        report.add("not_a_notebook", None, f"{path.name} 无法按笔记本格式读取（{exc}）；按 0 分计。", fatal=True)
        return None
    return nb


def _as_notebook(nb_or_path: NotebookNode | str | Path) -> NotebookNode:
    if isinstance(nb_or_path, (str, Path)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.read(str(nb_or_path), as_version=4)
    return nb_or_path


# --- helpers ---------------------------------------------------------------------------------


def _meta(cell: NotebookNode) -> dict | None:
    m = cell.get("metadata", {}).get("nbgrader")
    return m if isinstance(m, dict) and m else None


def _gid(cell: NotebookNode) -> str | None:
    m = _meta(cell)
    if m is None or not (m.get("grade") or m.get("solution") or m.get("locked") or m.get("task")):
        return None
    gid = m.get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def _is_solution(cell: NotebookNode) -> bool:
    return bool((_meta(cell) or {}).get("solution"))


def _is_test(cell: NotebookNode) -> bool:
    m = _meta(cell) or {}
    return bool(m.get("grade")) and not m.get("solution")


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _lines(source: str) -> set[str]:
    return {line.strip() for line in source.splitlines() if line.strip()}


def _similarity(a: str, b: str) -> float:
    la, lb = _lines(a), _lines(b)
    if not la and not lb:
        return 1.0
    return len(la & lb) / len(la | lb)


def _where(cell: NotebookNode, index: int) -> str:
    return _gid(cell) or f"第 {index + 1} 个单元格"


def _set_type(cell: NotebookNode, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
        cell.pop("attachments", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _normalise_cells(nb: NotebookNode, report: Report) -> None:
    """Make every cell structurally valid v4.5 and give every cell a unique, valid id."""
    nb.nbformat, nb.nbformat_minor = 4, max(5, int(nb.get("nbformat_minor", 5)))
    seen: set[str] = set()
    dup_cells, bad_cells = [], []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            _set_type(cell, "raw")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
        if not isinstance(cell.get("source", ""), str):
            src = cell.get("source")
            cell["source"] = "".join(src) if isinstance(src, list) else ""
        cell.setdefault("source", "")
        _set_type(cell, cell.cell_type)
        cid = cell.get("id")
        if cid is None or not isinstance(cid, str) or not _CELL_ID.match(cid):
            if cid is not None:
                bad_cells.append(i)
            cell["id"] = None
            continue
        if cid in seen:
            dup_cells.append(i)
            cell["id"] = None
        else:
            seen.add(cid)
    for i, cell in enumerate(nb.cells):
        if cell.get("id") is None:
            base = f"cell-{i + 1}"
            new, n = base, 1
            while new in seen:
                n += 1
                new = f"{base}-{n}"
            cell["id"] = new
            seen.add(new)
    if dup_cells:
        where = "、".join(f"第 {i + 1} 个" for i in dup_cells)
        report.add("duplicate_cell_id", None,
                   f"{where}单元格与前面的单元格 id 相同（从别处复制或粘贴的单元格），已为它们分配新的 id。")
    if bad_cells:
        where = "、".join(f"第 {i + 1} 个" for i in bad_cells)
        report.add("bad_cell_id", None, f"{where}单元格的 id 不符合格式，已重新分配。")


# --- the repair ------------------------------------------------------------------------------


def _dedupe_grade_ids(nb: NotebookNode, release_by_gid: dict[str, NotebookNode], report: Report) -> None:
    groups: dict[str, list[int]] = {}
    for i, cell in enumerate(nb.cells):
        gid = _gid(cell)
        if gid is None:
            if _meta(cell) is not None and cell.metadata.nbgrader.get("grade_id"):
                pass  # metadata without any role: harmless, nbgrader ignores it
            continue
        if gid not in release_by_gid:
            del cell.metadata["nbgrader"]
            report.add("unknown_grade_id", gid,
                       f"单元格 {gid} 不属于本作业（可能从别的作业复制而来），已作为普通单元格处理。")
            continue
        groups.setdefault(gid, []).append(i)
    drop: set[int] = set()
    for gid, idxs in groups.items():
        if len(idxs) < 2:
            continue
        rel = release_by_gid[gid]
        if _is_solution(rel):
            same_type = [i for i in idxs if nb.cells[i].cell_type == rel.cell_type] or idxs
            edited = [i for i in same_type if _norm(nb.cells[i].source) != _norm(rel.source)]
            keep = (edited or same_type)[-1]
            why = "最后编辑的答案"
        else:
            exact = [i for i in idxs if _norm(nb.cells[i].source) == _norm(rel.source)
                     and nb.cells[i].cell_type == rel.cell_type]
            keep = (exact or idxs)[0]
            why = "与发布版本一致的一份"
        for i in idxs:
            if i == keep:
                continue
            cell = nb.cells[i]
            if not _is_solution(rel) and _norm(cell.source) == _norm(rel.source):
                drop.add(i)
            else:
                del cell.metadata["nbgrader"]
                for key in ("editable", "deletable"):
                    cell.metadata.pop(key, None)
        others = "；其余副本已删除" if any(i in drop for i in idxs) else "；其余副本保留为普通单元格（不计分）"
        report.add("duplicate_grade_id", gid,
                   f"单元格 {gid} 出现了 {len(idxs)} 次（复制了单元格），按第 {keep + 1} 个单元格（{why}）评分{others}。")
    if drop:
        nb.cells = [c for i, c in enumerate(nb.cells) if i not in drop]


_FORBIDDEN = float("-inf")


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _used_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _answer_names(release: list[NotebookNode]) -> dict[int, set[str]]:
    """For each code answer cell: the names its test cells read (what the answer must define)."""
    out: dict[int, set[str]] = {}
    for i, cell in enumerate(release):
        if not (_is_solution(cell) and cell.cell_type == "code"):
            continue
        names: set[str] = set()
        for later in release[i + 1:]:
            if _is_solution(later):
                break
            if _is_test(later) and later.cell_type == "code":
                names |= _used_names(later.source)
        out[i] = names
    return out


def _match_score(rel: NotebookNode, sub: NotebookNode, wanted: set[str] | None = None) -> float:
    rg, sg = _gid(rel), _gid(sub)
    if sg is not None:
        return 100.0 if sg == rg else _FORBIDDEN
    score = 0.0
    if rel.get("id") and rel.get("id") == sub.get("id"):
        score += 20.0
    if rel.cell_type == sub.cell_type:
        score += 2.0
    sim = _similarity(rel.source, sub.source)
    score += 10.0 * sim
    if rg is not None and _is_solution(rel) and sub.cell_type == rel.cell_type:
        score += 2.0  # any cell of the right type in the right place may hold the answer
        if wanted and sub.cell_type == "code" and _assigned_names(sub.source) & wanted:
            score += 4.0  # it defines what the test reads
    return score if score >= 4.0 else _FORBIDDEN


def _align(release: list[NotebookNode], sub: list[NotebookNode]) -> dict[int, int]:
    """Order-preserving alignment of release cells to submission cells (release idx → sub idx)."""
    n, m = len(release), len(sub)
    wanted = _answer_names(release)
    scores = [[_match_score(r, s, wanted.get(i)) for s in sub] for i, r in enumerate(release)]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, nxt = best[i], best[i + 1]
        for j in range(m - 1, -1, -1):
            value = max(nxt[j], row[j + 1])
            s = scores[i][j]
            if s != _FORBIDDEN:
                value = max(value, s + nxt[j + 1])
            row[j] = value
    pairs: dict[int, int] = {}
    i = j = 0
    while i < n and j < m:
        s = scores[i][j]
        if s != _FORBIDDEN and best[i][j] == s + best[i + 1][j + 1]:
            pairs[i] = j
            i += 1
            j += 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _restore_answer_type(cell: NotebookNode, rel: NotebookNode) -> str:
    old = cell.cell_type
    _set_type(cell, rel.cell_type)
    if rel.cell_type != "code":
        return f"答题单元格 {_gid(rel)} 被改成了 {old}，已改回 {rel.cell_type}，内容保留。"
    try:
        ast.parse(cell.source)
    except SyntaxError:
        cell.source = "\n".join("# " + line for line in cell.source.splitlines())
        return (f"答题单元格 {_gid(rel)} 被改成了 {old}，已改回代码单元格；其内容不是有效的 Python，"
                "已注释掉（该题按未作答评分）。")
    return f"答题单元格 {_gid(rel)} 被改成了 {old}，已改回代码单元格，代码保留并照常评分。"


def repair_notebook(nb: NotebookNode, release_nb: NotebookNode | str | Path,
                    report: Report | None = None) -> tuple[NotebookNode, Report]:
    """Repair a parsed submission against its release notebook; returns a new notebook and the report."""
    release = _as_notebook(release_nb)
    report = report if report is not None else Report()
    nb = copy.deepcopy(nb)
    _normalise_cells(nb, report)
    release_cells = list(release.cells)
    release_by_gid = {_gid(c): c for c in release_cells if _gid(c)}
    _dedupe_grade_ids(nb, release_by_gid, report)

    pairs = _align(release_cells, nb.cells)
    # a graded cell the student moved out of order still carries its grade_id: keep it where it is
    paired = set(pairs.values())
    sub_by_gid = {_gid(c): i for i, c in enumerate(nb.cells) if _gid(c)}
    for ri, rel in enumerate(release_cells):
        gid = _gid(rel)
        if gid and ri not in pairs and sub_by_gid.get(gid) is not None and sub_by_gid[gid] not in paired:
            pairs[ri] = sub_by_gid[gid]
    inserts: dict[int, list[NotebookNode]] = {}  # sub index to insert before (len = append)
    cleared: list[str] = []
    for ri, rel in enumerate(release_cells):
        gid = _gid(rel)
        if gid is None:
            continue
        rmeta = copy.deepcopy(dict(rel.metadata.nbgrader))
        if ri not in pairs:
            following = [pairs[k] for k in range(ri + 1, len(release_cells)) if k in pairs]
            at = min(following) if following else len(nb.cells)
            new = copy.deepcopy(rel)
            inserts.setdefault(at, []).append(new)
            if _is_solution(rel):
                report.add("deleted_answer_cell", gid,
                           f"答题单元格 {gid} 被删除，已按发布版本补回空白答题单元格（该题按未作答评分）。")
            elif _is_test(rel):
                report.add("deleted_test_cell", gid, f"测试单元格 {gid} 被删除，已从发布版本恢复到原位置。")
            else:
                report.add("deleted_locked_cell", gid, f"锁定单元格 {gid} 被删除，已从发布版本恢复到原位置。")
            continue
        si = pairs[ri]
        cell = nb.cells[si]
        if _gid(cell) is None:
            cell.metadata["nbgrader"] = rmeta
            cleared.append(gid)
        else:
            smeta = cell.metadata.nbgrader
            changed = [k for k in ("grade", "solution", "locked", "points", "task")
                       if k in rmeta and smeta.get(k) != rmeta.get(k)]
            if changed:
                report.add("metadata_changed", gid,
                           f"单元格 {gid} 的评分设置（{', '.join(changed)}）被修改，已恢复为发布版本。")
            cell.metadata["nbgrader"] = rmeta
        for key in ("editable", "deletable"):
            if key in rel.metadata:
                cell.metadata[key] = rel.metadata[key]
            else:
                cell.metadata.pop(key, None)
        if _is_solution(rel):
            if cell.cell_type != rel.cell_type:
                report.add("cell_type_changed", gid, _restore_answer_type(cell, rel))
            continue
        what = "测试单元格" if _is_test(rel) else "锁定单元格"
        if cell.cell_type != rel.cell_type:
            old = cell.cell_type
            _set_type(cell, rel.cell_type)
            cell.source = rel.source
            report.add("cell_type_changed", gid, f"{what} {gid} 被改成了 {old}，已从发布版本恢复。")
        elif _norm(cell.source) != _norm(rel.source):
            cell.source = rel.source
            kind = "edited_test_cell" if _is_test(rel) else "edited_locked_cell"
            report.add(kind, gid, f"{what} {gid} 的内容被修改，已恢复为发布版本（评分以原测试为准）。")

    _scan_tampering(nb, report)
    if cleared:
        report.add("metadata_cleared", cleared[0] if len(cleared) == 1 else None,
                   f"{len(cleared)} 个单元格的评分元数据被清除（如把内容粘贴到了新笔记本），"
                   f"已按单元格 id、位置和内容识别并恢复：{'、'.join(cleared)}。")
    if inserts:
        cells: list[NotebookNode] = []
        for i, cell in enumerate(nb.cells):
            cells.extend(inserts.get(i, []))
            cells.append(cell)
        cells.extend(inserts.get(len(nb.cells), []))
        nb.cells = cells
        _normalise_cells(nb, Report())  # re-inserted cells may reuse a student's id
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        report.add("invalid_structure", None, f"修复后的笔记本仍不符合格式：{str(exc).splitlines()[0]}")
    return nb, report


def inspect_submission(path: str | Path, release_nb: NotebookNode | str | Path) -> Report:
    """Report what is wrong with a submitted notebook, without changing anything.

    Args:
        path: the submitted ``.ipynb``.
        release_nb: the release notebook (a path or a parsed notebook) the student received.
    """
    report = Report(path=str(path))
    nb = read_notebook_lenient(path, report)
    if nb is not None:
        repair_notebook(nb, release_nb, report)
    return report


def repair_submission(path: str | Path, release_nb: NotebookNode | str | Path,
                      out_path: str | Path) -> Report:
    """Repair a submitted notebook against its release and write the result to ``out_path``.

    ``out_path`` may be ``path`` itself. Nothing is written when the report is fatal (the file
    is not a notebook at all): the caller decides what to grade instead (the pipeline grades
    the blank release, i.e. 0 points, and keeps the original for the teacher).
    """
    report = Report(path=str(path))
    nb = read_notebook_lenient(path, report)
    if nb is None:
        return report
    fixed, report = repair_notebook(nb, release_nb, report)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nbformat.write(fixed, str(out_path))
    return report
