"""Cheap input checks shared by the analytics functions (internal).

Every check looks at column names and dtypes only (no copy of the frame, no scan of the data
unless a conversion is needed), so validating a 10-million-row frame costs microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from simcrm.errors import ColumnError, ConfigError

_KIND_ZH = {
    "any": "任意类型的列",
    "numeric": "数值类型的列（int 或 float）",
    "datetime": "日期类型的列（datetime64，或可解析为日期的文本）",
    "bool": "布尔类型的列",
}


def require_frame(df: Any, name: str = "df") -> pd.DataFrame:
    """Raise :class:`ColumnError` unless ``df`` is a DataFrame."""
    if not isinstance(df, pd.DataFrame):
        raise ColumnError(
            field=name,
            value=type(df).__name__,
            allowed="pandas.DataFrame",
            reason="输入不是 DataFrame",
            message_en=f"{name} must be a pandas DataFrame, got {type(df).__name__}",
        )
    return df


def require_columns(df: pd.DataFrame, spec: dict[str, str], table: str | None = None) -> None:
    """Check that each column in ``spec`` exists and has the wanted kind.

    ``spec`` maps column name → kind (``"any"``, ``"numeric"``, ``"datetime"``, ``"bool"``).
    A ``"datetime"`` column may also be text; :func:`as_datetime` converts it later.
    """
    require_frame(df, table or "df")
    columns = df.columns
    for col, kind in spec.items():
        if col not in columns:
            raise ColumnError(
                field=col,
                value=[str(c) for c in columns],
                allowed=_KIND_ZH[kind],
                table=table,
                reason="缺少列",
                message_en=(
                    f"missing column '{col}'; given columns: {[str(c) for c in columns]}; "
                    f"needed: a {kind} column"
                ),
            )
        dtype = df[col].dtype
        ok = True
        if kind == "numeric":
            ok = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        elif kind == "datetime":
            ok = (
                pd.api.types.is_datetime64_any_dtype(dtype)
                or pd.api.types.is_string_dtype(dtype)
                or dtype == object
            )
        elif kind == "bool":
            ok = pd.api.types.is_bool_dtype(dtype)
        if not ok:
            raise ColumnError(
                field=col,
                value=str(dtype),
                allowed=_KIND_ZH[kind],
                table=table,
                reason="列类型不对",
                message_en=f"column '{col}' has dtype {dtype}; needed: a {kind} column",
            )


def as_datetime(series: pd.Series, col: str, table: str | None = None) -> pd.Series:
    """Return ``series`` as datetime64 (no copy when it already is one)."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dtype, "tz", None) is not None:
            return series.dt.tz_localize(None)
        return series
    try:
        return pd.to_datetime(series, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ColumnError(
            field=col,
            value=str(series.dtype),
            allowed=_KIND_ZH["datetime"],
            table=table,
            reason="无法解析为日期",
            message_en=f"column '{col}' cannot be parsed as dates: {exc}",
        ) from None


def as_timestamp(value: Any, name: str) -> pd.Timestamp:
    """Parse a scalar date argument (``as_of`` …) or raise :class:`ConfigError`."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise ConfigError(
            field=name,
            value=value,
            allowed="日期，如 '2025-06-30' 或 pandas.Timestamp",
            reason="无法解析为日期",
        )
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    return ts


def require_numeric_array(values: Any, name: str = "values") -> pd.Series:
    """Return ``values`` as a float Series (index kept) or raise :class:`ColumnError`."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise ColumnError(
            field=name,
            value=str(s.dtype),
            allowed=_KIND_ZH["numeric"],
            reason="类型不对",
            message_en=f"{name} must be numeric, got dtype {s.dtype}",
        )
    return s.astype("float64")


def check_choice(value: Any, name: str, allowed: Iterable[Any]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(field=name, value=value, allowed=allowed, reason="不在可选值中")


def check_range(value: Any, name: str, low: float, high: float, text: str) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high``."""
    try:
        ok = low <= float(value) <= high
    except (TypeError, ValueError):
        ok = False
    if not ok or (isinstance(value, float) and np.isnan(value)):
        raise ConfigError(field=name, value=value, allowed=text, reason="超出范围")
