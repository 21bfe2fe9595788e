"""Helpers shared by every locale: missing values, text conversion, errors, star masks.

The scalar and the vectorised version of each check must agree on every input (the tests
compare them on corrupted values), so both sides convert input to text the same way:

* missing values (``None``, ``NaN``, ``pd.NA``, ``NaT``) are missing — a scalar validator
  raises :class:`~simcrm.errors.RequiredFieldError`, a vectorised check gives ``False``;
* anything else becomes ``str(value)``, as ``Series.astype("str")`` does;
* only the characters in :data:`BLANKS` count as surrounding blanks.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..errors import RequiredFieldError, ValidationError

#: characters stripped from both ends of a value: space, tab, CR, LF, ideographic space
BLANKS = " \t\r\n\u3000"


def is_missing(value: Any) -> bool:
    """Whether ``value`` is a missing marker (None, NaN, pd.NA, NaT).

    >>> is_missing(None), is_missing(float("nan")), is_missing(""), is_missing("0")
    (True, True, False, False)
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers are not missing markers
        return False


def text_of(value: Any, field: str, label: str) -> str:
    """``str(value)`` stripped of :data:`BLANKS`; a missing or blank value is an error.

    >>> text_of(" 123 ", "x", "某字段")
    '123'
    >>> text_of(None, "mobile", "手机")
    Traceback (most recent call last):
    ...
    simcrm.errors.RequiredFieldError: 手机（mobile）不能为空（必填）
    [en] missing required value None for field 'mobile'
    """
    if is_missing(value):
        raise RequiredFieldError(field=field, value=value, label=label)
    text = str(value).strip(BLANKS)
    if not text:
        raise RequiredFieldError(field=field, value=value, label=label)
    return text


def invalid(field: str, value: Any, label: str, reason: str, allowed: str) -> ValidationError:
    """A :class:`ValidationError` naming the field, the value, the reason and what is allowed."""
    return ValidationError(field=field, value=value, label=label, reason=reason, allowed=allowed)


def as_text_series(values: Any) -> pd.Series:
    """``values`` as a Series of dtype ``str`` (missing values stay missing).

    >>> as_text_series([13812341234, None, " a "]).tolist()
    ['13812341234', nan, ' a ']
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if series.dtype == "str":
        return series
    return series.astype("str")


def fullmatch(series: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    """Boolean array: whether each (text) value matches ``pattern`` entirely; missing → False.

    Runs Python's ``re`` directly (whatever the Series' string storage), so the vectorised and
    the scalar checks share one regex engine, and patterns may use Python-only syntax such as
    possessive quantifiers.

    >>> fullmatch(pd.Series(["12", "1a", None], dtype="str"), re.compile("[0-9]+")).tolist()
    [True, False, False]
    """
    match = pattern.fullmatch
    values = series.to_numpy(dtype=object, na_value=None)
    return np.fromiter(
        (v is not None and match(v) is not None for v in values), dtype=bool, count=len(values)
    )


def code_points(texts: np.ndarray | list[str], width: int) -> np.ndarray:
    """Unicode code points of equal-length strings as a ``(n, width)`` uint32 array.

    >>> code_points(["ab", "c1"], 2).tolist()
    [[97, 98], [99, 49]]
    """
    arr = np.ascontiguousarray(texts, dtype=f"<U{width}")
    return arr.view(np.uint32).reshape(len(arr), width)


def from_code_points(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`code_points`: a ``(n, width)`` array of code points → ``<U{width}``.

    >>> from_code_points(np.array([[97, 98], [99, 49]])).tolist()
    ['ab', 'c1']
    """
    points = np.ascontiguousarray(points, dtype=np.uint32)
    n, width = points.shape
    return points.view(f"<U{width}").reshape(n)


def mask_middle(text: str, keep_start: int, keep_end: int) -> str:
    """Keep ``keep_start`` leading and ``keep_end`` trailing characters, star the rest.

    One ``*`` per hidden character; a text too short to keep both ends is starred entirely.

    >>> mask_middle("13812341234", 3, 4)
    '138****1234'
    >>> mask_middle("1234", 3, 4)
    '****'
    """
    n = len(text)
    if n <= keep_start + keep_end:
        return "*" * n
    return text[:keep_start] + "*" * (n - keep_start - keep_end) + text[n - keep_end :]


def text_values(values: Any) -> tuple[np.ndarray, pd.Index]:
    """Values as an object array of stripped str (``None`` where missing), plus the index.

    >>> text_values(pd.Series([" a ", None, 12]))[0].tolist()
    ['a', None, '12']
    """
    text = as_text_series(values)
    raw = text.to_numpy(dtype=object, na_value=None)
    stripped = np.array([None if v is None else v.strip(BLANKS) for v in raw], dtype=object)
    return stripped, text.index


def text_series(values: np.ndarray, index: pd.Index) -> pd.Series:
    """An object array of str/None as a Series of dtype ``str``."""
    return pd.Series(values, index=index, dtype="str")


def star_columns(values: np.ndarray, keep_start: np.ndarray | int, keep_end: int) -> np.ndarray:
    """Vectorised star masking of an object array of str (``None`` stays ``None``).

    Strings are grouped by length and masked as ``(n, length)`` code-point arrays, so the work
    is done by numpy. ``keep_start`` may differ per value.

    >>> star_columns(np.array(["13812341234", "12", None], dtype=object), 3, 4).tolist()
    ['138****1234', '**', None]
    """
    out = np.empty(len(values), dtype=object)
    present = np.array([v is not None for v in values], dtype=bool)
    lengths = np.zeros(len(values), dtype=np.int64)
    lengths[present] = [len(v) for v in values[present]]
    starts = np.broadcast_to(np.asarray(keep_start, dtype=np.int64), (len(values),))
    out[~present] = None
    for width in np.unique(lengths[present]):
        rows = np.flatnonzero(present & (lengths == width))
        if width == 0:
            out[rows] = ""
            continue
        points = code_points(values[rows], int(width)).copy()
        first = starts[rows]
        hide_all = width <= first + keep_end
        columns = np.arange(width)
        hidden = (columns >= first[:, None]) & (columns < width - keep_end)
        hidden |= hide_all[:, None]
        points[hidden] = ord("*")
        out[rows] = from_code_points(points).astype(object)
    return out


def mask_middle_series(series: Any, keep_start: int, keep_end: int) -> pd.Series:
    """Vectorised :func:`mask_middle` on stripped text; missing values stay missing.

    >>> mask_middle_series(pd.Series(["13812341234", "12", None]), 3, 4).tolist()
    ['138****1234', '**', nan]
    """
    values, index = text_values(series)
    return text_series(star_columns(values, keep_start, keep_end), index)
