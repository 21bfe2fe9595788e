"""Compare a student's answer with the reference answer, and say in Chinese what went wrong.

:func:`compare` handles numbers, text, collections, Series and DataFrames sensibly (tolerances,
column order, dtypes, row order unless it matters) and, when the answer is wrong, guesses the
likely mistake — weeks instead of days, percent instead of fraction, rounding too early, rows
missing or extra — rather than only saying "wrong":

    >>> compare(3.0, 21.0, what="recency").hint
    '数值是正确答案的 1/7：recency 应按天计算，你的结果似乎按周计算。'
    >>> compare(85.0, 0.85, what="占比").hint
    '数值是正确答案的 100 倍：答案应是小数（如 0.85），不是百分数（如 85）。'
    >>> r = compare([3, 5, 9], [3, 5, 7, 8])
    >>> r.ok, r.hint
    (False, '你给出了 3 项，正确答案有 4 项：多了 1 项（如 9），漏了 2 项（如 7、8）。')
    >>> compare(0.8333333, 5 / 6).ok
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CheckResult", "CheckFailed", "compare", "install_notebook_errors"]

_UNIT_RATIOS = [
    (7.0, "数值是正确答案的 7 倍：{what} 应按周计算，你的结果似乎按天计算。"),
    (1 / 7.0, "数值是正确答案的 1/7：{what} 应按天计算，你的结果似乎按周计算。"),
    (100.0, "数值是正确答案的 100 倍：答案应是小数（如 0.85），不是百分数（如 85）。"),
    (0.01, "数值是正确答案的 1/100：答案应是百分数，不是小数。"),
    (30.0, "数值约是正确答案的 30 倍：请检查按天还是按月计算。"),
    (1 / 30.0, "数值约是正确答案的 1/30：请检查按天还是按月计算。"),
    (365.0, "数值约是正确答案的 365 倍：请检查按天还是按年计算。"),
    (1 / 365.0, "数值约是正确答案的 1/365：请检查按天还是按年计算。"),
    (1000.0, "数值是正确答案的 1000 倍：请检查金额单位（元与千元）。"),
    (0.001, "数值是正确答案的 1/1000：请检查金额单位（元与千元）。"),
    (10000.0, "数值是正确答案的 10000 倍：请检查金额单位（元与万元）。"),
    (0.0001, "数值是正确答案的 1/10000：请检查金额单位（元与万元）。"),
]


@dataclass
class CheckResult:
    """The outcome of a comparison: ``ok``, a Chinese ``hint`` when wrong, and details."""

    ok: bool
    hint: str = ""
    details: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def message(self) -> str:
        if self.ok:
            return "✔ 正确"
        lines = [f"✘ {self.hint}"] + [f"  · {d}" for d in self.details[:5]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#e6f4ea" if self.ok else "#fdecea"
        body = self.message().replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>")
        return f'<div style="background:{colour};padding:6px 10px;border-radius:4px">{body}</div>'

    def __repr__(self) -> str:
        return self.message()


class CheckFailed(AssertionError):
    """A failed check: an ``AssertionError`` (nbgrader sees the cell fail) that a notebook shows
    as one short Chinese message — the hint and its details, no traceback.

        >>> err = CheckFailed("ch04.dup_rows", CheckResult(False, "漏了 2 行。", ["如第 3 行"]))
        >>> str(err)
        'ch04.dup_rows: 漏了 2 行。'
        >>> err._render_traceback_()[1:]
        ['  · 如第 3 行']
    """

    def __init__(self, key: str, result: CheckResult, *, redo: bool = False) -> None:
        self.key = key
        self.result = result
        self.redo = redo
        super().__init__(f"{key}: {result.hint}")

    def _render_traceback_(self) -> list[str]:
        from ..errors import full_traceback, short_message, wants_traceback

        if wants_traceback():
            return full_traceback(self)
        details = self.result.details[:5]
        if self.redo:  # an operation: the database already holds the attempt
            details = [*details, f"要重做本练习：先运行 lab.undo(\"{self.key}\") 撤销它写入的数据，"
                                 "再改正并重新运行上面的答案单元格（其他练习的数据不受影响）。"]
        return short_message(f"检查未通过（{self.key}）", self.result.hint, details=details)


# --- how a notebook shows the errors a student meets before any check runs --------------------

#: what an unanswered exercise's stub raises (nbgrader's release writes it: see simcrm.lab.course)
UNANSWERED = "还没有作答：请删除这一行，在此编写代码，然后运行本单元格"


def _failing_line(tb: Any) -> tuple[str, str]:
    """The file and source line where a traceback ends (the innermost frame)."""
    import linecache

    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "", ""
    filename = tb.tb_frame.f_code.co_filename
    return filename, linecache.getline(filename, tb.tb_lineno).strip()


def _is_cell(shell: Any, filename: str) -> bool:
    """Whether ``filename`` is a notebook cell's code (not a library file)."""
    if filename.startswith("<ipython-input"):
        return True
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    return bool(names) and filename in names


def explain_cell_error(shell: Any, etype: type, value: BaseException, tb: Any) -> list[str] | None:
    """The short Chinese message for a blank exercise's error, or ``None`` for a real bug.

    * ``NameError`` in a check cell (``lab.check(key, name)`` before the answer ran):
      "还没有作答：请先在上面的单元格中计算 name";
    * ``NameError: lab``: the set-up cell has not run (e.g. after a kernel restart);
    * ``NotImplementedError`` raised by an answer stub in a cell.
    """
    from ..errors import short_message

    filename, line = _failing_line(tb)
    if not _is_cell(shell, filename):
        return None
    if isinstance(value, NameError):
        name = getattr(value, "name", None) or ""
        if name == "lab":
            return short_message("还没有打开实训", "请先运行最上面的 lab = start(...) 单元格"
                                 "（重启内核后要从头运行）")
        if ".check(" in line or ".grade(" in line:
            return short_message("", f"还没有作答：请先在上面的单元格中计算 {name}，再运行本检查单元格")
        return None
    if isinstance(value, NotImplementedError) and "NotImplementedError" in line:
        return short_message("", UNANSWERED)
    return None


def _handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    from ..errors import wants_traceback

    stb = None if wants_traceback() else explain_cell_error(shell, etype, value, tb)
    if stb is None:  # a real bug: IPython's usual traceback
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
    else:  # IPython ignores a custom handler's return value: show it the way showtraceback would
        shell._showtraceback(etype, value, stb)
    return []


def install_notebook_errors(shell: Any = None) -> bool:
    """Make IPython explain a blank exercise's ``NameError`` / ``NotImplementedError`` in Chinese.

    Called by :func:`simcrm.lab.start`. Other errors keep IPython's usual traceback; simcrm's own
    errors and failed checks render themselves (``_render_traceback_``). Returns whether a
    handler was installed (``False`` outside IPython).
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((NameError, NotImplementedError), _handler)
    return True


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol)


def _examples(items: Iterable[Any], n: int = 3) -> str:
    items = list(items)
    shown = "、".join(str(x) for x in items[:n])
    return shown + ("…" if len(items) > n else "")


def _compare_numbers(value: Any, expected: Any, what: str, rtol: float, atol: float) -> CheckResult:
    if _close(value, expected, rtol, atol):
        return CheckResult(True)
    v, e = float(value), float(expected)
    if math.isnan(v):
        return CheckResult(False, "你的结果是 NaN：计算中可能除以了 0，或用到了缺失值。")
    if e != 0 and v != 0:
        ratio = v / e
        for target, text in _UNIT_RATIOS:
            if math.isclose(ratio, target, rel_tol=0.03):
                return CheckResult(False, text.format(what=what or "结果"))
        if math.isclose(v, -e, rel_tol=rtol, abs_tol=atol):
            return CheckResult(False, "符号相反：请检查减法的顺序（例如“感知 − 期望”而不是“期望 − 感知”）。")
        if abs(ratio - 1) < 0.01:
            return CheckResult(False, f"很接近但不完全相同（你的 {v:g}，相差 {abs(v - e):.3g}）：是否过早四舍五入，"
                                      "或漏掉/多算了少量记录？")
    return CheckResult(False, f"数值不对：你的结果是 {v:g}。请对照题目的定义检查计算步骤。")


def _compare_collections(value: Any, expected: Any, universe: Sequence[Any] | None, what: str) -> CheckResult:
    got, want = list(value), list(expected)
    sg, sw = set(got), set(want)
    details = []
    if len(sg) != len(got):
        details.append(f"你的答案中有重复项（共 {len(got)} 项，不重复的 {len(sg)} 项）")
    if sg == sw:
        if details:
            return CheckResult(False, "内容正确，但有重复项：请去重（例如用 sorted(set(...)) 或 .unique()）。",
                               details)
        return CheckResult(True)
    if universe is not None and sg >= set(universe) and len(sw) < len(set(universe)):
        return CheckResult(False, f"不能把全部 {len(set(universe))} 项都算作{what or '答案'}：请按题目的规则筛选。")
    extra, missing = sorted(sg - sw, key=str), sorted(sw - sg, key=str)
    parts = [f"你给出了 {len(sg)} 项，正确答案有 {len(sw)} 项"]
    sub = []
    if extra:
        sub.append(f"多了 {len(extra)} 项（如 {_examples(extra)}）")
    if missing:
        sub.append(f"漏了 {len(missing)} 项（如 {_examples(missing)}）")
    return CheckResult(False, parts[0] + "：" + "，".join(sub) + "。", details)


def _compare_frames(value: pd.DataFrame, expected: pd.DataFrame, key: str | Sequence[str] | None,
                    rtol: float, atol: float) -> CheckResult:
    missing_cols = [c for c in expected.columns if c not in value.columns]
    if missing_cols:
        return CheckResult(False, f"缺少列：{_examples(missing_cols, 10)}。你的列：{_examples(list(value.columns), 10)}。")
    keys = [key] if isinstance(key, str) else list(key or [])
    v = value[list(expected.columns)].copy()
    e = expected.copy()
    if keys:
        dup = v.duplicated(keys)
        if dup.any():
            first = v.loc[dup, keys].iloc[0].tolist()
            shown = first[0] if len(first) == 1 else tuple(first)
            return CheckResult(False, f"有 {int(dup.sum())} 行的 {'、'.join(keys)} 重复（如 {shown}）："
                                      "每个键只应出现一次，请检查合并（merge）是否产生了重复行，或先去重。")
        v_keys = set(map(tuple, v[keys].astype(str).to_numpy()))
        e_keys = set(map(tuple, e[keys].astype(str).to_numpy()))
        if v_keys != e_keys:
            extra, missing = v_keys - e_keys, e_keys - v_keys
            sub = []
            if extra:
                sub.append(f"多了 {len(extra)} 行（如 {_examples(sorted(k[0] if len(k) == 1 else k for k in extra))}）")
            if missing:
                sub.append(f"漏了 {len(missing)} 行（如 {_examples(sorted(k[0] if len(k) == 1 else k for k in missing))}）")
            return CheckResult(False, f"行数不对：你的结果 {len(v)} 行，正确答案 {len(e)} 行；" + "，".join(sub) + "。")
        v = v.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
        e = e.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    else:
        if len(v) != len(e):
            return CheckResult(False, f"行数不对：你的结果 {len(v)} 行，正确答案 {len(e)} 行。")
        v = v.reset_index(drop=True)
        e = e.reset_index(drop=True)
    details = []
    first_hint = None
    for c in e.columns:
        a, b = v[c], e[c]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            if not pd.api.types.is_numeric_dtype(a):
                details.append(f"列 {c} 应是数字")
                continue
            av = a.to_numpy(dtype="float64", na_value=np.nan)
            bv = b.to_numpy(dtype="float64", na_value=np.nan)
            bad = ~(np.isclose(av, bv, rtol=rtol, atol=atol) | (np.isnan(av) & np.isnan(bv)))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                details.append(f"列 {c} 有 {int(bad.sum())} 行不同，如第 {i} 行：你的 {av[i]:g}，应为 {bv[i]:g}")
                if first_hint is None:
                    sub = _compare_numbers(av[i], bv[i], str(c), rtol, atol)
                    first_hint = f"列 {c}：{sub.hint}"
        else:
            # missing text (None, NaN, pd.NA) counts as equal to missing, never to "nan"
            av = a.astype(object).where(a.notna(), "\x00<NA>").astype(str).to_numpy()
            bv = b.astype(object).where(b.notna(), "\x00<NA>").astype(str).to_numpy()
            bad = av != bv
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                details.append(f"列 {c} 有 {int(bad.sum())} 行不同，如第 {i} 行：你的 {a.iloc[i]!r}，应为 {b.iloc[i]!r}")
    if details:
        return CheckResult(False, first_hint or details[0], details)
    return CheckResult(True)


def compare(value: Any, expected: Any, *, what: str = "", rtol: float = 1e-6, atol: float = 1e-6,
            key: str | Sequence[str] | None = None, ordered: bool = False,
            universe: Sequence[Any] | None = None) -> CheckResult:
    """Compare ``value`` (the student's) with ``expected`` (the reference).

    Args:
        what: a name for the quantity, used in hints (e.g. ``"recency"``).
        rtol, atol: tolerances for numbers.
        key: for DataFrames, the column(s) identifying a row; rows are matched on it, so row
            order does not matter. Without a key, rows are compared in order.
        ordered: for lists, whether order matters (default: compared as sets).
        universe: for collections, every candidate item; an answer listing them all gets a
            specific hint.
    """
    if value is None or value is Ellipsis or value is NotImplemented:
        return CheckResult(False, "还没有作答：请把计算结果赋值给题目指定的变量。")
    if isinstance(expected, pd.DataFrame):
        if isinstance(value, pd.Series):
            value = value.reset_index()
        if not isinstance(value, pd.DataFrame):
            return CheckResult(False, f"答案应是一个 DataFrame（表格），你给出的是 {type(value).__name__}。")
        return _compare_frames(value, expected, key, rtol, atol)
    if isinstance(expected, pd.Series):
        if isinstance(value, Mapping):
            value = pd.Series(value)
        if not isinstance(value, pd.Series):
            return CheckResult(False, f"答案应是一个 Series（带索引的一列），你给出的是 {type(value).__name__}。")
        e = expected.rename("value").rename_axis("key").reset_index()
        v = value.rename("value").rename_axis("key").reset_index()
        return _compare_frames(v, e, "key", rtol, atol)
    if _is_number(expected):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return CheckResult(False, f"答案应是数字，你给出的是文本 {value!r}。")
        if not _is_number(value):
            return CheckResult(False, f"答案应是数字，你给出的是 {type(value).__name__}。")
        return _compare_numbers(value, expected, what, rtol, atol)
    if isinstance(expected, str):
        if not isinstance(value, str):
            return CheckResult(False, f"答案应是文本，如 {expected[:1]!r}…，你给出的是 {type(value).__name__}。")
        if value.strip() == expected:
            return CheckResult(True)
        if value.strip().lower() == expected.lower():
            return CheckResult(True)
        return CheckResult(False, f"答案是 {value!r}，不对。请再对照题目中的定义。")
    if isinstance(expected, Mapping):
        if not isinstance(value, Mapping):
            return CheckResult(False, f"答案应是一个字典（dict），你给出的是 {type(value).__name__}。")
        missing = [k for k in expected if k not in value]
        if missing:
            return CheckResult(False, f"缺少这些键：{_examples(missing, 8)}。")
        for k, exp in expected.items():
            sub = compare(value[k], exp, what=str(k), rtol=rtol, atol=atol)
            if not sub.ok:
                return CheckResult(False, f"“{k}”：{sub.hint}", sub.details)
        return CheckResult(True)
    if isinstance(expected, (list, tuple, set, frozenset, np.ndarray, pd.Index)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            return CheckResult(False, f"答案应是一个列表，你给出的是 {type(value).__name__}。")
        got = [x.item() if isinstance(x, np.generic) else x for x in value]
        want = [x.item() if isinstance(x, np.generic) else x for x in expected]
        if ordered:
            base = _compare_collections(got, want, universe, what)
            if not base.ok:
                return base
            if got != want:
                return CheckResult(False, "内容正确，但顺序不对：请按题目要求排序。")
            return CheckResult(True)
        return _compare_collections(got, want, universe, what)
    if isinstance(expected, bool):
        return CheckResult(value is expected or value == expected, "" if value == expected else "判断不对。")
    ok = value == expected
    return CheckResult(bool(ok), "" if ok else f"答案 {value!r} 不对。")
