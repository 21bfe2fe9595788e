"""One exception hierarchy for simcrm.

Every error a student, teacher or caller can meet is a :class:`SimCRMError`. A message names
the field, the bad value and what is allowed, in Chinese first (the students' language) with a
short English line after it, e.g.::

    >>> err = ValidationError(field="mobile", value="1381234", label="手机",
    ...                       allowed="以 1 开头的 11 位数字，如 13812345678",
    ...                       reason="位数不对")
    >>> print(err)
    手机（mobile）的值 '1381234' 无效：位数不对。允许：以 1 开头的 11 位数字，如 13812345678
    [en] invalid value '1381234' for field 'mobile'; allowed: 以 1 开头的 11 位数字，如 13812345678
    >>> err.field, err.value
    ('mobile', '1381234')

The structured attributes (``field``, ``value``, ``allowed``, ``table``) let the widgets show the
message next to the right input, and tests assert on them instead of parsing text.

In a notebook an error shows itself as one short Chinese message (IPython calls
``_render_traceback_``), without the traceback and without the English line; the cell still
fails, so nbgrader sees it. The full traceback is one flag away for teachers and developers:
``simcrm.debug(True)``, ``%xmode Verbose`` or ``SIMCRM_TRACEBACK=1``; ``SIMCRM_LANG=en`` adds
the English line::

    >>> err.message_zh
    "手机（mobile）的值 '1381234' 无效：位数不对。允许：以 1 开头的 11 位数字，如 13812345678"
    >>> short_message("输入有误", err.message_zh, colour=False)[0]
    "✘ 输入有误：手机（mobile）的值 '1381234' 无效：位数不对。允许：以 1 开头的 11 位数字，如 13812345678"
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "add_hint",
    "debug",
    "short_message",
    "wants_traceback",
    "SimCRMError",
    "ValidationError",
    "RequiredFieldError",
    "UnknownValueError",
    "DuplicateError",
    "NotFoundError",
    "PermissionDeniedError",
    "StateTransitionError",
    "ConstraintError",
    "ColumnError",
    "ImportFileError",
    "NotebookError",
    "ConfigError",
]


def _fmt_allowed(allowed: Any) -> str:
    if allowed is None:
        return ""
    if isinstance(allowed, str):
        return allowed
    try:
        items = list(allowed)
    except TypeError:
        return str(allowed)
    if len(items) > 30:
        shown = "、".join(str(x) for x in items[:30])
        return f"{shown} …（共 {len(items)} 个）"
    return "、".join(str(x) for x in items)


_DEBUG: bool | None = None  # None: follow $SIMCRM_TRACEBACK and %xmode


def debug(on: bool = True) -> None:
    """Show (``True``) or hide (``False``) the full traceback of simcrm errors in notebooks.

    By default a notebook shows simcrm's errors and failed checks as one short Chinese message;
    teachers and developers who want the traceback run ``simcrm.debug(True)`` (or set
    ``SIMCRM_TRACEBACK=1`` before starting Jupyter, or use ``%xmode Verbose``).
    """
    global _DEBUG
    _DEBUG = bool(on)


def wants_traceback() -> bool:
    """Whether the user asked for full tracebacks (see :func:`debug`)."""
    if _DEBUG is not None:
        return _DEBUG
    if os.environ.get("SIMCRM_TRACEBACK", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and getattr(shell.InteractiveTB, "mode", "") == "Verbose"
    except Exception:  # noqa: BLE001 - no IPython: plain Python shows tracebacks anyway
        return False


def wants_english() -> bool:
    """Whether the user chose English error lines too (``SIMCRM_LANG=en``)."""
    return os.environ.get("SIMCRM_LANG", "").strip().lower().startswith("en")


_HINTS: list[Any] = []


def add_hint(provider: Any) -> None:
    """Register ``provider(exc) -> str | None``: a line added under an error in a notebook
    (a lab session explains how to redo an exercise after a duplicate, for instance)."""
    if provider not in _HINTS:
        _HINTS.append(provider)


def _hints(exc: BaseException) -> list[str]:
    out = []
    for provider in _HINTS:
        try:
            line = provider(exc)
        except Exception:  # noqa: BLE001 - a hint must never hide the error itself
            line = None
        if line:
            out.append(line)
    return out


_HOW_TO_SEE_ALL = "（需要完整的错误追踪：先运行 simcrm.debug(True)，再重新运行本单元格）"


def short_message(title: str, text: str, *, details: list[str] | None = None, colour: bool = True,
                  footer: bool = False) -> list[str]:
    """The lines of a short error box: ``✘ title：text``, details, and optionally how to see more."""
    head = f"✘ {title}：{text}" if title else f"✘ {text}"
    lines = head.split("\n")
    if colour:
        lines[0] = f"\x1b[1;31m{lines[0]}\x1b[0m"
    lines += [f"  · {d}" for d in (details or [])]
    if footer:
        lines.append(f"\x1b[2m{_HOW_TO_SEE_ALL}\x1b[0m" if colour else _HOW_TO_SEE_ALL)
    return lines


def full_traceback(exc: BaseException) -> list[str]:
    """IPython's own structured traceback of ``exc`` (used when the user asked for it)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        import traceback

        return traceback.format_exception(type(exc), exc, exc.__traceback__)
    return shell.InteractiveTB.structured_traceback(type(exc), exc, exc.__traceback__)


class SimCRMError(Exception):
    """simcrm 操作出错（所有 simcrm 错误的基类）. Base class of every simcrm error."""

    #: default Chinese wording of the problem, overridden by subclasses
    problem_zh = "无效"
    problem_en = "invalid value"
    #: the heading of the short message a notebook shows
    title_zh = "操作出错"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        value: Any = None,
        allowed: Any = None,
        label: str | None = None,
        table: str | None = None,
        reason: str | None = None,
        message_en: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.label = label
        self.table = table
        self.reason = reason
        if message is None:
            message = self._compose(message_en)
        elif message_en:
            message = f"{message}\n[en] {message_en}"
        super().__init__(message)

    def _shown_field(self) -> str:
        name = self.field or "?"
        shown = f"{self.label}（{name}）" if self.label else name
        if self.table:
            shown = f"{self.table}.{shown}" if not self.label else f"{shown}[{self.table}]"
        return shown

    def _compose(self, message_en: str | None) -> str:
        name = self.field or "?"
        shown = self._shown_field()
        zh = f"{shown}的值 {self.value!r} {self.problem_zh}"
        if self.reason:
            zh += f"：{self.reason}"
        allowed = _fmt_allowed(self.allowed)
        if allowed:
            zh += f"。允许：{allowed}"
        en = message_en or f"{self.problem_en} {self.value!r} for field '{name}'"
        if allowed and not message_en:
            en += f"; allowed: {allowed}"
        return f"{zh}\n[en] {en}"

    @property
    def message_zh(self) -> str:
        """The Chinese message alone (without the ``[en]`` line)."""
        return str(self).split("\n[en] ", 1)[0]

    @property
    def message_en(self) -> str:
        """The English line ('' when there is none)."""
        parts = str(self).split("\n[en] ", 1)
        return parts[1] if len(parts) > 1 else ""

    def short(self) -> str:
        """One line for a terminal: the Chinese message (plus English when chosen)."""
        text = self.message_zh.replace("\n", " ")
        if wants_english() and self.message_en:
            text += f" [en] {self.message_en}"
        return text

    def _render_traceback_(self) -> list[str]:
        """How IPython shows this error: one short Chinese message (see :func:`debug`)."""
        if wants_traceback():
            return full_traceback(self)
        text = self.message_zh
        if wants_english() and self.message_en:
            text += f"\n[en] {self.message_en}"
        return short_message(self.title_zh, text, details=_hints(self), footer=True)


class ValidationError(SimCRMError, ValueError):
    """字段格式或取值不符合要求. A field's value has the wrong format or range."""

    title_zh = "输入有误"


class RequiredFieldError(ValidationError):
    """必填字段缺失. A required field is missing or empty."""

    title_zh = "缺少必填项"
    problem_zh = "缺失（必填字段）"
    problem_en = "missing required value"

    def _compose(self, message_en: str | None) -> str:
        """An empty value reads "客户名称（name）不能为空", not "的值 None 缺失"."""
        blank = self.value is None or (isinstance(self.value, str) and not self.value.strip())
        if not blank:
            try:
                blank = bool(self.value != self.value)  # NaN
            except Exception:  # noqa: BLE001 - arrays and other containers are not blank
                blank = False
        if not blank:
            return super()._compose(message_en)
        name = self.field or "?"
        zh = f"{self._shown_field()}不能为空（必填）"
        if self.reason:
            zh += f"：{self.reason}"
        allowed = _fmt_allowed(self.allowed)
        if allowed:
            zh += f"。允许：{allowed}"
        return f"{zh}\n[en] {message_en or f'missing required value {self.value!r} for field {name!r}'}"


class UnknownValueError(ValidationError):
    """取值不在允许的列表（字典或固定状态）中. The value is not in the allowed list."""

    title_zh = "取值不在允许范围内"
    problem_zh = "不在允许的取值中"
    problem_en = "unknown value"


class DuplicateError(SimCRMError):
    """与已有记录重复. The record duplicates an existing one."""

    title_zh = "记录重复"
    problem_zh = "与已有记录重复"
    problem_en = "duplicate value"


class NotFoundError(SimCRMError, LookupError):
    """记录不存在或已删除. The record does not exist (or was deleted)."""

    title_zh = "找不到记录"
    problem_zh = "找不到对应记录"
    problem_en = "no such record"


class PermissionDeniedError(SimCRMError, PermissionError):
    """当前用户的角色或数据范围不允许此操作. The acting user's role or data scope forbids it."""

    title_zh = "无权操作"
    problem_zh = "无权操作"
    problem_en = "permission denied"


class StateTransitionError(SimCRMError):
    """不允许的状态变化. The state change is not one the state machine lists."""

    title_zh = "状态不能这样变更"
    problem_zh = "不能变更为该状态"
    problem_en = "illegal state change"


class ConstraintError(SimCRMError):
    """数据库约束拒绝了写入（外键、唯一、检查约束）. A database constraint refused the write."""

    title_zh = "数据库拒绝了写入"
    problem_zh = "违反数据库约束"
    problem_en = "constraint violated"


class ColumnError(SimCRMError, KeyError):
    """分析函数的输入缺少列或列类型不对. An analytics input lacks a column or has a wrong type."""

    title_zh = "数据列有误"
    problem_zh = "列缺失或类型不对"
    problem_en = "missing or mistyped column"

    def __str__(self) -> str:  # KeyError would repr() the message
        return Exception.__str__(self)


class ImportFileError(SimCRMError):
    """导入文件无法读取（格式、编码、表头）. An import file cannot be read."""

    title_zh = "文件无法导入"
    problem_zh = "无法导入"
    problem_en = "cannot import"


class NotebookError(SimCRMError):
    """笔记本文件损坏或不完整. A notebook is damaged or incomplete."""

    title_zh = "笔记本损坏"
    problem_zh = "笔记本损坏"
    problem_en = "damaged notebook"


class ConfigError(SimCRMError):
    """参数或配置不正确. A parameter or configuration value is wrong."""

    title_zh = "参数有误"
    problem_zh = "参数不正确"
    problem_en = "bad parameter"
