"""Vectorised generators of valid Chinese identifiers, driven by a numpy ``Generator``.

Each function draws all its random numbers from the ``rng`` it is given, in a fixed order, so
the same seed gives the same values on every machine and every day (no global random state,
no dependence on today's date). Results are numpy arrays of ``str``; every value passes the
matching validator in :mod:`~simcrm.locales.zh_CN.validators`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ValidationError
from .._common import code_points, from_code_points
from ._data import MOBILE_PREFIXES, id_region_prefixes
from .validators import CREDIT_CODE_CHARS, CREDIT_CODE_WEIGHTS, ID_CHECK_CHARS, ID_WEIGHTS

__all__ = ["generate_id_number", "generate_mobile", "generate_landline", "generate_credit_code"]

_AREA_CODE_RX = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})")
_MIN_BIRTH = np.datetime64("1900-01-01")
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])
_X_VALUE = CREDIT_CODE_CHARS.index("X")


def _as_1d(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    return arr.reshape(1) if arr.ndim == 0 else arr.ravel()


def _region_codes(region_code: Any, field: str = "region_code") -> np.ndarray:
    """6-digit region codes as a ``<U6`` array; 2- and 4-digit codes are padded with ``01``."""
    raw = _as_1d(region_code)
    uniques, inverse = np.unique(np.array([str(x) for x in raw]), return_inverse=True)
    padded = []
    for code in uniques:
        if not (code.isascii() and code.isdigit() and len(code) in (2, 4, 6)):
            raise ValidationError(
                field=field, value=code, label="行政区划代码", reason="应为 2、4 或 6 位数字",
                allowed="GB/T 2260 代码，如 44、4401、440106",
            )  # fmt: skip
        if code[:2] not in id_region_prefixes():
            raise ValidationError(
                field=field, value=code, label="行政区划代码",
                reason=f"前两位 {code[:2]} 不是省级行政区代码",
                allowed=sorted(id_region_prefixes()),
            )  # fmt: skip
        padded.append(code + "01" * ((6 - len(code)) // 2))
    return np.array(padded, dtype="<U6")[inverse]


def _birth_dates(birth_date: Any) -> np.ndarray:
    """Birth dates as ``datetime64[D]``; missing or pre-1900 dates are refused."""
    raw = np.asarray(birth_date)
    if raw.dtype.kind == "M":
        dates = raw.astype("datetime64[D]").reshape(-1)
    else:
        dates = np.asarray(pd.to_datetime(pd.Series(raw.reshape(-1), dtype=object)))
        dates = dates.astype("datetime64[D]")
    if np.isnat(dates).any():
        raise ValidationError(field="birth_date", value=None, label="出生日期", reason="缺失",
                              allowed="1900-01-01 以后的日期")  # fmt: skip
    too_early = dates < _MIN_BIRTH
    if too_early.any():
        raise ValidationError(
            field="birth_date", value=str(dates[too_early][0]), label="出生日期",
            reason="早于 1900-01-01", allowed="1900-01-01 以后的日期",
        )  # fmt: skip
    return dates


def _genders(gender: Any) -> np.ndarray:
    """``True`` for male; accepts 男/女 and M/F (any case)."""
    raw = np.asarray(gender).reshape(-1)
    if raw.dtype.kind != "U":
        raw = raw.astype(object).astype(str)
    male = (raw == "男") | (raw == "M") | (raw == "m")
    known = male | (raw == "女") | (raw == "F") | (raw == "f")
    if not known.all():
        bad = raw[~known][0]
        raise ValidationError(field="gender", value=bad, label="性别", allowed=["男", "女"])
    return male


def generate_id_number(
    rng: np.random.Generator, birth_date: Any, gender: Any, region_code: Any
) -> np.ndarray:
    """Valid 18-digit ID numbers for the given birth dates, genders and regions.

    Scalars broadcast against arrays, so one region or one gender can serve many people.
    The 3-digit sequence is random, its last digit odd for men and even for women; the check
    character follows GB 11643-1999.

    Args:
        rng: numpy random Generator (the only source of randomness).
        birth_date: date(s): ``datetime.date``, ISO strings, ``numpy.datetime64`` or a Series.
        gender: ``"男"``/``"女"`` (or ``"M"``/``"F"``), one or one per person.
        region_code: GB/T 2260 code(s): 6 digits (county), or 2/4 digits (province/city,
            padded with ``01``), e.g. the ``province_code`` or ``city_code`` column of the
            regions table.

    Returns:
        A ``<U18`` numpy array, one number per person.

    Raises:
        ValidationError: a region code, birth date or gender is not usable.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> ids = generate_id_number(rng, ["1990-05-17", "1985-01-02"], ["男", "女"], "440106")
        >>> [i[:14] for i in ids]
        ['44010619900517', '44010619850102']
        >>> from simcrm.locales.zh_CN import gender_from_id_number
        >>> [gender_from_id_number(i) for i in ids]
        ['男', '女']
    """
    regions = _region_codes(region_code)
    dates = _birth_dates(birth_date)
    male = _genders(gender)
    regions, dates, male = np.broadcast_arrays(regions, dates, male)
    n = len(regions)
    year = dates.astype("datetime64[Y]").astype(np.int32) + 1970
    month_start = dates.astype("datetime64[M]")
    month = month_start.astype(np.int32) % 12 + 1
    day = (dates - month_start).astype(np.int32) + 1
    ymd = year * 10000 + month * 100 + day
    order = rng.integers(0, 100, size=n, dtype=np.int32)
    parity = rng.integers(0, 5, size=n, dtype=np.int32) * 2 + male
    points = np.empty((n, 18), dtype=np.uint32)
    points[:, :6] = code_points(regions, 6)
    for k in range(8):
        points[:, 6 + k] = 48 + ymd // 10 ** (7 - k) % 10
    points[:, 14] = 48 + order // 10
    points[:, 15] = 48 + order % 10
    points[:, 16] = 48 + parity
    total = np.zeros(n, dtype=np.int32)
    for k, weight in enumerate(ID_WEIGHTS):
        total += (points[:, k].astype(np.int32) - 48) * weight
    points[:, 17] = np.array([ord(c) for c in ID_CHECK_CHARS], dtype=np.uint32)[total % 11]
    return from_code_points(points)


def generate_mobile(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` valid 11-digit mobile numbers with real prefixes (号段), uniformly drawn.

    Args:
        rng: numpy random Generator.
        n: how many numbers.

    Returns:
        A ``<U11`` numpy array.

    Example:
        >>> nums = generate_mobile(np.random.default_rng(7), 3)
        >>> [len(x) for x in nums], all(x[:3] in {str(p) for p in MOBILE_PREFIXES} for x in nums)
        ([11, 11, 11], True)
    """
    prefixes = np.array(MOBILE_PREFIXES, dtype=np.int64)
    head = prefixes[rng.integers(0, len(prefixes), size=n)]
    tail = rng.integers(0, 10**8, size=n)
    return (head * 10**8 + tail).astype("<U11")


def generate_landline(rng: np.random.Generator, area_codes: Any) -> np.ndarray:
    """One landline number per area code, formatted ``区号-号码`` with an 8-digit local number.

    Most prefecture-level cities now use 8-digit local numbers; the first digit is 2–8 (0 and
    1 are trunk and service prefixes, 9 is mostly service numbers).

    Args:
        rng: numpy random Generator.
        area_codes: area code(s) with the leading 0 as text, e.g. the ``area_code`` column of
            the regions table (``"020"``, ``"0755"``).

    Returns:
        A numpy array of str such as ``"020-23456789"``.

    Raises:
        ValidationError: an area code is not of the form 010, 02X or 0XXX.

    Example:
        >>> generate_landline(np.random.default_rng(3), ["020", "0755"])[0][:4]
        '020-'
    """
    areas = np.array([str(a) for a in _as_1d(area_codes)], dtype=str)
    for code in np.unique(areas):
        if not _AREA_CODE_RX.fullmatch(code):
            raise ValidationError(field="area_code", value=code, label="电话区号",
                                  allowed="010、02X 或 0 开头的 4 位数，如 020、0755")  # fmt: skip
    local = rng.integers(2, 9, size=len(areas)) * 10**7 + rng.integers(0, 10**7, size=len(areas))
    return np.strings.add(np.strings.add(areas, "-"), local.astype("<U8"))


def generate_credit_code(rng: np.random.Generator, region_codes: Any) -> np.ndarray:
    """One valid unified social credit code (统一社会信用代码) per region code.

    Layout: ``9`` (registered with market regulation) ``1`` (enterprise), the 6-digit region
    code, an 8-digit organisation code body with its GB 11714 check character, and the
    GB 32100 check character.

    Args:
        rng: numpy random Generator.
        region_codes: GB/T 2260 code(s) of the registering authority (2, 4 or 6 digits).

    Returns:
        A ``<U18`` numpy array.

    Example:
        >>> codes = generate_credit_code(np.random.default_rng(5), ["440100", "310100"])
        >>> [c[:8] for c in codes]
        ['91440100', '91310100']
        >>> from simcrm.locales.zh_CN import validate_credit_code
        >>> all(validate_credit_code(c) == c for c in codes)
        True
    """
    regions = _region_codes(region_codes, field="region_codes")
    n = len(regions)
    body = rng.integers(0, 10, size=(n, 8))
    org_check = 11 - (body * _ORG_WEIGHTS).sum(axis=1) % 11  # GB 11714: 10 → X, 11 → 0
    values = np.empty((n, 17), dtype=np.int64)
    values[:, 0], values[:, 1] = 9, 1
    values[:, 2:8] = code_points(regions, 6).astype(np.int64) - 48
    values[:, 8:16] = body
    values[:, 16] = np.where(org_check == 11, 0, np.where(org_check == 10, _X_VALUE, org_check))
    check = (31 - (values * CREDIT_CODE_WEIGHTS).sum(axis=1) % 31) % 31
    lut = np.array([ord(c) for c in CREDIT_CODE_CHARS])
    return from_code_points(lut[np.column_stack([values, check])])
