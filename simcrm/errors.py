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
"""

from __future__ import annotations

from typing import Any

__all__ = [
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


class SimCRMError(Exception):
    """simcrm 操作出错（所有 simcrm 错误的基类）. Base class of every simcrm error."""

    #: default Chinese wording of the problem, overridden by subclasses
    problem_zh = "无效"
    problem_en = "invalid value"

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

    def _compose(self, message_en: str | None) -> str:
        name = self.field or "?"
        shown = f"{self.label}（{name}）" if self.label else name
        if self.table:
            shown = f"{self.table}.{shown}" if not self.label else f"{shown}[{self.table}]"
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


class ValidationError(SimCRMError, ValueError):
    """字段格式或取值不符合要求. A field's value has the wrong format or range."""


class RequiredFieldError(ValidationError):
    """必填字段缺失. A required field is missing or empty."""

    problem_zh = "缺失（必填字段）"
    problem_en = "missing required value"


class UnknownValueError(ValidationError):
    """取值不在允许的列表（字典或固定状态）中. The value is not in the allowed list."""

    problem_zh = "不在允许的取值中"
    problem_en = "unknown value"


class DuplicateError(SimCRMError):
    """与已有记录重复. The record duplicates an existing one."""

    problem_zh = "与已有记录重复"
    problem_en = "duplicate value"


class NotFoundError(SimCRMError, LookupError):
    """记录不存在或已删除. The record does not exist (or was deleted)."""

    problem_zh = "找不到对应记录"
    problem_en = "no such record"


class PermissionDeniedError(SimCRMError, PermissionError):
    """当前用户的角色或数据范围不允许此操作. The acting user's role or data scope forbids it."""

    problem_zh = "无权操作"
    problem_en = "permission denied"


class StateTransitionError(SimCRMError):
    """不允许的状态变化. The state change is not one the state machine lists."""

    problem_zh = "不能变更为该状态"
    problem_en = "illegal state change"


class ConstraintError(SimCRMError):
    """数据库约束拒绝了写入（外键、唯一、检查约束）. A database constraint refused the write."""

    problem_zh = "违反数据库约束"
    problem_en = "constraint violated"


class ColumnError(SimCRMError, KeyError):
    """分析函数的输入缺少列或列类型不对. An analytics input lacks a column or has a wrong type."""

    problem_zh = "列缺失或类型不对"
    problem_en = "missing or mistyped column"

    def __str__(self) -> str:  # KeyError would repr() the message
        return Exception.__str__(self)


class ImportFileError(SimCRMError):
    """导入文件无法读取（格式、编码、表头）. An import file cannot be read."""

    problem_zh = "无法导入"
    problem_en = "cannot import"


class NotebookError(SimCRMError):
    """笔记本文件损坏或不完整. A notebook is damaged or incomplete."""

    problem_zh = "笔记本损坏"
    problem_en = "damaged notebook"


class ConfigError(SimCRMError):
    """参数或配置不正确. A parameter or configuration value is wrong."""

    problem_zh = "参数不正确"
    problem_en = "bad parameter"
