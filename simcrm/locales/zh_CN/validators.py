"""Validators for Chinese contact and identity fields, scalar and vectorised.

Each ``validate_*`` function returns the normalised value or raises
:class:`~simcrm.errors.ValidationError` (:class:`~simcrm.errors.RequiredFieldError` when the
value is missing or blank) whose Chinese message names the field, the bad value, what is wrong
and what is allowed. Each ``*_valid`` function takes a pandas Series and returns a boolean
numpy array with the same verdict, computed with numpy and the ``str`` accessor: it is
``True`` exactly where the scalar validator would not raise.

Normalisation (what the validators accept and return):

==================  =====================================  ==========================
field               accepted forms                         normalised
==================  =====================================  ==========================
手机号码 mobile      ``+86 138-1234-1234``, ``13812341234``  ``13812341234``
固定电话 landline    ``(020)87654321``, ``0755 2345678-12``  ``020-87654321``
电子邮件 email       ``ZhangSan@Example.COM``                ``ZhangSan@example.com``
身份证号码 id_number ``11010519491231002x``                  ``11010519491231002X``
邮政编码 postcode    ``510000``                              ``510000``
统一社会信用代码      ``91350100m000100y43``                  ``91350100M000100Y43``
==================  =====================================  ==========================

Blanks (space, tab, CR, LF, ideographic space) around a value are always ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from .._common import BLANKS, as_text_series, code_points, fullmatch, invalid, text_of
from ._data import id_region_prefixes

__all__ = [
    "LABELS",
    "ALLOWED",
    "ID_WEIGHTS",
    "ID_CHECK_CHARS",
    "CREDIT_CODE_CHARS",
    "CREDIT_CODE_WEIGHTS",
    "id_check_char",
    "credit_check_char",
    "validate_mobile",
    "validate_landline",
    "validate_email",
    "validate_id_number",
    "validate_postcode",
    "validate_credit_code",
    "mobile_valid",
    "landline_valid",
    "email_valid",
    "id_number_valid",
    "postcode_valid",
    "credit_code_valid",
    "gender_from_id_number",
    "birthday_from_id_number",
    "gender_from_id_number_series",
    "birthday_from_id_number_series",
]

#: field → Chinese label used in messages
LABELS: dict[str, str] = {
    "mobile": "手机",
    "landline": "固定电话",
    "email": "电子邮件",
    "id_number": "身份证号",
    "postcode": "邮政编码",
    "credit_code": "统一社会信用代码",
}

#: field → what is allowed, in Chinese, as shown in error messages
ALLOWED: dict[str, str] = {
    "mobile": (
        "以 13–19 开头的 11 位数字，如 13812345678（可带 +86 前缀，可用空格或短横线分成 3-4-4 段）"
    ),
    "landline": (
        "区号-号码：区号为 010、02X 或 0 开头的 4 位数，号码为不以 0、1 开头的 7–8 位数字，"
        "如 020-87654321、0755-2345678；分机号可接在后面，如 020-87654321-123"
    ),
    "email": "用户名@域名，只用英文字母、数字和 . _ % + -，如 zhangsan@example.com",
    "id_number": (
        "18 位公民身份号码：6 位地址码 + 8 位出生日期 + 3 位顺序码 + 1 位校验码（数字或 X），"
        "如 11010519491231002X"
    ),
    "postcode": "6 位数字，前两位为 01–89，如 100000、510000",
    "credit_code": (
        "18 位统一社会信用代码：数字和大写字母（不用 I、O、S、V、Z），第 3–8 位为行政区划码，"
        "末位为校验码，如 91350100M000100Y43"
    ),
}

_B = f"[{BLANKS}]*"  # blanks around a value (literal characters: RE2-compatible too)

# --- mobile ------------------------------------------------------------------------------------
_MOBILE_CORE = r"(?:(?:\+|00)?86[ -]?)?(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})"
_MOBILE_RX = re.compile(_MOBILE_CORE)
_MOBILE_VEC = re.compile(_B + _MOBILE_CORE + _B)

# --- landline ----------------------------------------------------------------------------------
_LANDLINE_CORE = (
    r"(?:(?:\+|00)86[ -]?[(（]?0?|[(（]?0)"  # country code, or the trunk 0, maybe in brackets
    r"(10|2[0-9]|[3-9][0-9]{2})"  # area code without its 0
    r"[)）]?[ -]?"
    r"([2-9][0-9]{6,7})"  # local number
    r"(?: *(?:-|转|#|ext\.?) *([0-9]{1,6}))?"  # extension
)
_LANDLINE_RX = re.compile(_LANDLINE_CORE)
_LANDLINE_VEC = re.compile(_B + _LANDLINE_CORE + _B)

# --- e-mail ------------------------------------------------------------------------------------
# possessive quantifiers (Python ≥ 3.11) stop backtracking; the language is that of
# user(.user)*@(label.)+tld, labels being letters/digits joined by hyphens
_EMAIL_CORE = (
    r"([A-Za-z0-9_%+-]++(?:\.[A-Za-z0-9_%+-]++)*+)"
    r"@((?:[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+\.)++[A-Za-z]{2,24}+)"
)
_EMAIL_RX = re.compile(_EMAIL_CORE)
_EMAIL_VEC = re.compile(_B + _EMAIL_CORE + _B)
_EMAIL_MAX, _EMAIL_LOCAL_MAX, _EMAIL_LABEL_MAX = 254, 64, 63


def _email_parts(text: str) -> tuple[str, str] | None:
    """(user, domain) of a stripped address that passes the pattern and the length limits."""
    match = _EMAIL_RX.fullmatch(text)
    if not match or len(text) > _EMAIL_MAX or len(match.group(1)) > _EMAIL_LOCAL_MAX:
        return None
    if max(len(label) for label in match.group(2).split(".")) > _EMAIL_LABEL_MAX:
        return None
    return match.group(1), match.group(2)


# --- postcode ----------------------------------------------------------------------------------
_POSTCODE_CORE = r"(?:0[1-9]|[1-8][0-9])[0-9]{4}"
_POSTCODE_RX = re.compile(_POSTCODE_CORE)
_POSTCODE_VEC = re.compile(_B + _POSTCODE_CORE + _B)

# --- ID number (GB 11643-1999) -----------------------------------------------------------------
#: weights of the 17 body digits: 2**(17 - i) mod 11 for position i = 1..17
ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: check character indexed by (weighted sum mod 11)
ID_CHECK_CHARS = "10X98765432"
_ID_MIN_BIRTH = dt.date(1900, 1, 1)

# --- unified social credit code (GB 32100-2015) ------------------------------------------------
#: the 31 characters of the code, in value order 0..30 (no I, O, S, V, Z)
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: weights of the 17 body characters: 3**(i - 1) mod 31
CREDIT_CODE_WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))
_CREDIT_VALUE = {ch: i for i, ch in enumerate(CREDIT_CODE_CHARS)}
_CREDIT_LUT = np.full(128, -1, dtype=np.int64)
for _ch, _v in _CREDIT_VALUE.items():
    _CREDIT_LUT[ord(_ch)] = _v


def _label(field: str, label: str | None, kind: str) -> str:
    return label if label is not None else LABELS[kind]


# ===================================== scalar validators =====================================


def validate_mobile(value: Any, *, field: str = "mobile", label: str | None = None) -> str:
    """A mainland China mobile number (手机号码), normalised to 11 digits.

    Args:
        value: the number as typed; ``+86``/``0086``/``86`` prefix, spaces and hyphens between
            the 3-4-4 groups are accepted.
        field: field name used in the error.
        label: Chinese label used in the error (default ``手机``).

    Returns:
        The 11-digit number.

    Raises:
        ValidationError: not a mobile number; the message says why.
        RequiredFieldError: missing or blank.

    Example:
        >>> validate_mobile("+86 138-1234-1234")
        '13812341234'
        >>> validate_mobile("1381234")
        Traceback (most recent call last):
        ...
        simcrm.errors.ValidationError: 手机（mobile）的值 '1381234' 无效：应为 11 位数字，实际 7 位。允许：以 13–19 开头的 11 位数字，如 13812345678（可带 +86 前缀，可用空格或短横线分成 3-4-4 段）
        [en] invalid value '1381234' for field 'mobile'; allowed: 以 13–19 开头的 11 位数字，如 13812345678（可带 +86 前缀，可用空格或短横线分成 3-4-4 段）
    """
    label = _label(field, label, "mobile")
    text = text_of(value, field, label)
    match = _MOBILE_RX.fullmatch(text)
    if match:
        return "".join(match.groups())
    digits = re.sub(r"[ -]", "", text)
    if digits.startswith("+86") or digits.startswith("0086"):
        digits = digits[digits.index("86") + 2 :]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not digits.isascii() or not digits.isdigit():
        reason = "含有数字以外的字符"
    elif len(digits) != 11:
        reason = f"应为 11 位数字，实际 {len(digits)} 位"
    elif digits[0] != "1":
        reason = "应以 1 开头"
    elif digits[1] in "012":
        reason = f"号段 {digits[:3]} 不存在（第二位应为 3–9）"
    else:
        reason = "分隔方式不对"
    raise invalid(field, value, label, reason, ALLOWED["mobile"])


def validate_landline(value: Any, *, field: str = "landline", label: str | None = None) -> str:
    """A mainland China landline number (固定电话), normalised to ``区号-号码[-分机]``.

    Args:
        value: the number as typed, e.g. ``(020)87654321``, ``0755 2345678``, ``02087654321``,
            ``+86 20 87654321``, ``010-87654321转123``.
        field: field name used in the error.
        label: Chinese label used in the error (default ``固定电话``).

    Returns:
        ``0AA-NNNNNNNN`` or ``0AAA-NNNNNNN(N)``, plus ``-EXT`` when an extension was given.

    Raises:
        ValidationError: not a landline number.
        RequiredFieldError: missing or blank.

    Example:
        >>> validate_landline("(0755)23456789转12")
        '0755-23456789-12'
        >>> validate_landline("020-1234567")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        simcrm.errors.ValidationError: 固定电话（landline）的值 '020-1234567' 无效：区号 020 后的号码不能以 0 或 1 开头。允许：...
        ...
    """
    label = _label(field, label, "landline")
    text = text_of(value, field, label)
    match = _LANDLINE_RX.fullmatch(text)
    if not match:
        raise invalid(field, value, label, _landline_problem(text), ALLOWED["landline"])
    area, local, ext = match.groups()
    return f"0{area}-{local}" + (f"-{ext}" if ext else "")


def _landline_problem(text: str) -> str:
    """The likely mistake in a number that is not a landline, in Chinese."""
    number = re.split(r"转|#|ext", text)[0]
    digits = re.sub(r"[ ()（）-]", "", number)
    if re.match(r"(?:\+|00)86", digits):
        digits = "0" + digits[digits.index("86") + 2 :].lstrip("0")
    if not digits.isascii() or not digits.isdigit():
        return "含有不允许的字符"
    if re.fullmatch("1[3-9][0-9]{9}", digits):
        return "这是手机号码，请填在手机号码栏"
    if not digits.startswith("0"):
        return "缺少以 0 开头的区号"
    area = digits[:3] if digits[1:2] in ("1", "2") else digits[:4]
    local = digits[len(area) :]
    if not re.fullmatch("0(?:10|2[0-9]|[3-9][0-9]{2})", area):
        return f"区号 {area} 不对，应为 010、02X 或 0 开头的 4 位数"
    if local[:1] in ("0", "1"):
        return f"区号 {area} 后的号码不能以 0 或 1 开头"
    if not 7 <= len(local) <= 8:
        return f"区号 {area} 后的号码应为 7–8 位，实际 {len(local)} 位"
    return "格式不对"


def validate_email(value: Any, *, field: str = "email", label: str | None = None) -> str:
    """An e-mail address (电子邮件); the domain is lower-cased, the user name kept as typed.

    Only ASCII addresses are accepted (internationalised addresses are rare in CRM data and
    usually a typing error).

    Args:
        value: the address.
        field: field name used in the error.
        label: Chinese label used in the error (default ``电子邮件``).

    Returns:
        The address with a lower-case domain.

    Raises:
        ValidationError: not an e-mail address.
        RequiredFieldError: missing or blank.

    Example:
        >>> validate_email(" Zhang.San@QQ.com ")
        'Zhang.San@qq.com'
        >>> validate_email("zhangsan#163.com")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        simcrm.errors.ValidationError: 电子邮件（email）的值 'zhangsan#163.com' 无效：缺少 @。允许：...
        ...
    """
    label = _label(field, label, "email")
    text = text_of(value, field, label)
    parts = _email_parts(text)
    if parts:
        return f"{parts[0]}@{parts[1].lower()}"
    if text.count("@") != 1:
        reason = "缺少 @" if "@" not in text else "只能有一个 @"
    elif not text.isascii():
        reason = "含有中文或全角字符"
    elif len(text) > _EMAIL_MAX:
        reason = f"过长（最多 {_EMAIL_MAX} 个字符）"
    elif _EMAIL_RX.fullmatch(text):
        reason = "@ 前的用户名或域名的某一段过长"
        reason += f"（最多 {_EMAIL_LOCAL_MAX}、{_EMAIL_LABEL_MAX} 个字符）"
    else:
        reason = "用户名或域名格式不对"
    raise invalid(field, value, label, reason, ALLOWED["email"])


def validate_postcode(value: Any, *, field: str = "postcode", label: str | None = None) -> str:
    """A mainland China postcode (邮政编码): 6 digits, first two 01–89.

    Args:
        value: the postcode (an int is accepted when it has 6 digits).
        field: field name used in the error.
        label: Chinese label used in the error (default ``邮政编码``).

    Returns:
        The 6-digit postcode.

    Raises:
        ValidationError: not a postcode.
        RequiredFieldError: missing or blank.

    Example:
        >>> validate_postcode(" 510000 ")
        '510000'
        >>> validate_postcode("51000")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        simcrm.errors.ValidationError: 邮政编码（postcode）的值 '51000' 无效：应为 6 位数字，实际 5 位。允许：...
        ...
    """
    label = _label(field, label, "postcode")
    text = text_of(value, field, label)
    if _POSTCODE_RX.fullmatch(text):
        return text
    if not (text.isascii() and text.isdigit()):
        reason = "只能是数字"
    elif len(text) != 6:
        reason = f"应为 6 位数字，实际 {len(text)} 位"
    else:
        reason = f"前两位 {text[:2]} 不是邮政编码区"
    raise invalid(field, value, label, reason, ALLOWED["postcode"])


def id_check_char(body17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits of an ID number.

    ``sum(digit_i × weight_i) mod 11`` indexes ``"10X98765432"``.

    >>> id_check_char("11010519491231002")
    'X'
    """
    total = sum(int(ch) * w for ch, w in zip(body17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def validate_id_number(
    value: Any,
    *,
    field: str = "id_number",
    label: str | None = None,
    today: dt.date | None = None,
) -> str:
    """A resident identity number (公民身份号码, GB 11643-1999), 18 characters.

    Checked: 17 digits then a digit or X; the first two digits are a province code (the 31
    mainland provinces, 71 台湾省 of GB/T 2260, or 81/82/83 on 港澳台居民居住证); the birth
    date (digits 7–14) is a real date between 1900-01-01 and ``today``; the check character
    is right. Digits 3–6 (city and county) are not checked: codes change over time and old
    ones stay valid on ID cards.

    Args:
        value: the number; a lower-case ``x`` is accepted.
        field: field name used in the error.
        label: Chinese label used in the error (default ``身份证号``).
        today: latest allowed birth date (default: today's date).

    Returns:
        The 18-character number with an upper-case X.

    Raises:
        ValidationError: not a valid number; the message says which part is wrong.
        RequiredFieldError: missing or blank.

    Example:
        >>> validate_id_number("11010519491231002x")
        '11010519491231002X'
        >>> validate_id_number("110105194912310021")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        simcrm.errors.ValidationError: 身份证号（id_number）的值 '110105194912310021' 无效：校验码应为 X，实际为 1。允许：...
        ...
    """
    label = _label(field, label, "id_number")
    text = text_of(value, field, label).replace("x", "X")
    allowed = ALLOWED["id_number"]
    if len(text) != 18:
        if len(text) == 15 and text.isascii() and text.isdigit():
            reason = "这是 15 位的旧号码，请填写 18 位号码"
        else:
            reason = f"应为 18 位，实际 {len(text)} 位"
        raise invalid(field, value, label, reason, allowed)
    if not re.fullmatch("[0-9]{17}[0-9X]", text):
        raise invalid(field, value, label, "前 17 位应为数字，最后一位为数字或 X", allowed)
    if text[:2] not in id_region_prefixes():
        reason = f"前两位 {text[:2]} 不是省级行政区代码"
        raise invalid(field, value, label, reason, allowed)
    try:
        birth = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise invalid(field, value, label, f"出生日期 {text[6:14]} 不是有效日期", allowed) from None
    latest = today or dt.date.today()
    if not _ID_MIN_BIRTH <= birth <= latest:
        reason = f"出生日期 {birth.isoformat()} 不在 1900-01-01 至 {latest.isoformat()} 之间"
        raise invalid(field, value, label, reason, allowed)
    expected = id_check_char(text[:17])
    if text[17] != expected:
        reason = f"校验码应为 {expected}，实际为 {text[17]}"
        raise invalid(field, value, label, reason, allowed)
    return text


def credit_check_char(body17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a credit code.

    ``31 − (Σ value_i × weight_i mod 31)`` (31 → 0), where values and the result map to
    ``0-9 A-H J-N P-R T U W-Y``.

    >>> credit_check_char("91350100M000100Y4")
    '3'
    """
    total = sum(_CREDIT_VALUE[ch] * w for ch, w in zip(body17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def validate_credit_code(
    value: Any, *, field: str = "credit_code", label: str | None = None
) -> str:
    """A unified social credit code (统一社会信用代码, GB 32100-2015), 18 characters.

    Checked: 18 characters from ``0-9`` and the capital letters other than I, O, S, V, Z;
    characters 3–8 (the registering authority's region code) are digits; the check character
    is right. Lower-case letters are accepted and upper-cased.

    Args:
        value: the code.
        field: field name used in the error.
        label: Chinese label used in the error (default ``统一社会信用代码``).

    Returns:
        The upper-case code.

    Raises:
        ValidationError: not a valid code.
        RequiredFieldError: missing or blank.

    Example:
        >>> validate_credit_code("91350100m000100y43")
        '91350100M000100Y43'
        >>> validate_credit_code("91350100M000100Y44")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        simcrm.errors.ValidationError: 统一社会信用代码（credit_code）的值 '91350100M000100Y44' 无效：校验码应为 3，实际为 4。允许：...
        ...
    """
    label = _label(field, label, "credit_code")
    text = text_of(value, field, label)
    if text.isascii():
        text = text.upper()
    allowed = ALLOWED["credit_code"]
    if len(text) != 18:
        raise invalid(field, value, label, f"应为 18 位，实际 {len(text)} 位", allowed)
    bad = sorted({ch for ch in text if ch not in _CREDIT_VALUE})
    if bad:
        reason = f"含有不允许的字符 {'、'.join(bad)}"
        raise invalid(field, value, label, reason, allowed)
    if not text[2:8].isdigit():
        raise invalid(field, value, label, "第 3–8 位应为行政区划码（6 位数字）", allowed)
    expected = credit_check_char(text[:17])
    if text[17] != expected:
        reason = f"校验码应为 {expected}，实际为 {text[17]}"
        raise invalid(field, value, label, reason, allowed)
    return text


# ==================================== vectorised validity ====================================


def _stripped_to_width(text: pd.Series, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and stripped values of the entries that are ``width`` long once stripped.

    Stripping is only done where the raw length differs, which keeps the common clean case
    fast; the result equals stripping everything.
    """
    lengths = text.str.len().to_numpy(dtype="float64", na_value=np.nan)
    exact = lengths == width
    others = np.flatnonzero(~exact & ~np.isnan(lengths))
    values = text.to_numpy(dtype=object, na_value=None)
    if len(others):
        stripped = text.iloc[others].str.strip(BLANKS)
        fits = (stripped.str.len() == width).to_numpy(dtype=bool)
        values[others[fits]] = stripped.to_numpy(dtype=object)[fits]
        exact[others[fits]] = True
    positions = np.flatnonzero(exact)
    return positions, values[positions]


def mobile_valid(values: Any) -> np.ndarray:
    """Vectorised :func:`validate_mobile`: ``True`` where the value is a valid mobile number.

    Clean 11-character values are checked with numpy on their code points; the rest (prefixes,
    separators, blanks, wrong lengths) with one regular expression.

    Args:
        values: a pandas Series (or array-like) of numbers as text or integers.

    Returns:
        A boolean numpy array, one entry per value; missing values are ``False``.

    Example:
        >>> mobile_valid(pd.Series(["13812341234", "+86 138 1234 1234", "12812341234", None]))
        array([ True,  True, False, False])
    """
    text = as_text_series(values)
    result = np.zeros(len(text), dtype=bool)
    lengths = text.str.len().to_numpy(dtype="float64", na_value=np.nan)
    clean = np.flatnonzero(lengths == 11)
    if len(clean):
        points = code_points(text.iloc[clean].to_numpy(dtype=object), 11).astype(np.int64) - 48
        ok = ((points >= 0) & (points <= 9)).all(axis=1)
        ok &= (points[:, 0] == 1) & (points[:, 1] >= 3)
        result[clean] = ok
    rest = np.flatnonzero((lengths != 11) & ~np.isnan(lengths))
    if len(rest):
        result[rest] = fullmatch(text.iloc[rest], _MOBILE_VEC)
    return result


def landline_valid(values: Any) -> np.ndarray:
    """Vectorised :func:`validate_landline`.

    Example:
        >>> landline_valid(pd.Series(["020-87654321", "0755 2345678", "020-12345678", None]))
        array([ True,  True, False, False])
    """
    return fullmatch(as_text_series(values), _LANDLINE_VEC)


def email_valid(values: Any) -> np.ndarray:
    """Vectorised :func:`validate_email`.

    Example:
        >>> email_valid(pd.Series(["a@b.cn", "a@b", "张三@qq.com", None]))
        array([ True, False, False, False])
    """
    text = as_text_series(values)
    result = fullmatch(text, _EMAIL_VEC)
    # only values longer than 64 characters can break a length limit: decide those one by one
    lengths = text.str.len().to_numpy(dtype="float64", na_value=np.nan)
    for pos in np.flatnonzero(result & (lengths > _EMAIL_LOCAL_MAX)):
        result[pos] = _email_parts(text.iloc[pos].strip(BLANKS)) is not None
    return result


def postcode_valid(values: Any) -> np.ndarray:
    """Vectorised :func:`validate_postcode`.

    Example:
        >>> postcode_valid(pd.Series(["510000", 100000, "000000", "5100001"]))
        array([ True,  True, False, False])
    """
    return fullmatch(as_text_series(values), _POSTCODE_VEC)


def _id_parts(values: Any, today: dt.date | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validity of ID numbers plus birth date (yyyymmdd int) and the sequence's last digit."""
    text = as_text_series(values)
    n = len(text)
    valid = np.zeros(n, dtype=bool)
    birth = np.zeros(n, dtype=np.int64)
    sequence = np.zeros(n, dtype=np.int64)
    positions, candidates = _stripped_to_width(text, 18)
    if not len(positions):
        return valid, birth, sequence
    points = code_points(candidates, 18)
    ok = np.ones(len(points), dtype=bool)
    digits = []  # 17 int32 columns; non-digits are caught by ``ok`` and zeroed
    for k in range(17):
        column = points[:, k].astype(np.int32) - 48
        good = (column >= 0) & (column <= 9)
        ok &= good
        digits.append(np.where(good, column, 0))
    last = points[:, 17].astype(np.int32)
    last = np.where(last == ord("x"), ord("X"), last)
    ok &= ((last >= 48) & (last <= 57)) | (last == ord("X"))
    prefix = digits[0] * 10 + digits[1]
    ok &= np.isin(prefix, np.array(sorted(int(p) for p in id_region_prefixes())))
    year = digits[6] * 1000 + digits[7] * 100 + digits[8] * 10 + digits[9]
    month = digits[10] * 10 + digits[11]
    day = digits[12] * 10 + digits[13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
    days_in_month = month_days[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    ymd = year * 10000 + month * 100 + day
    latest = today or dt.date.today()
    ok &= (ymd >= 19000101) & (ymd <= latest.year * 10000 + latest.month * 100 + latest.day)
    total = np.zeros(len(points), dtype=np.int32)
    for column, weight in zip(digits, ID_WEIGHTS, strict=True):
        total += column * weight
    expected = np.array([ord(c) for c in ID_CHECK_CHARS], dtype=np.int32)[total % 11]
    ok &= last == expected
    valid[positions] = ok
    birth[positions] = ymd
    sequence[positions] = digits[16]
    return valid, birth, sequence


def id_number_valid(values: Any, *, today: dt.date | None = None) -> np.ndarray:
    """Vectorised :func:`validate_id_number`: format, province, birth date and checksum.

    The checksum is computed with numpy over an ``(n, 17)`` digit array.

    Args:
        values: a pandas Series (or array-like) of ID numbers.
        today: latest allowed birth date (default: today's date).

    Returns:
        A boolean numpy array; missing values are ``False``.

    Example:
        >>> id_number_valid(pd.Series(["11010519491231002X", "11010519491231002x",
        ...                            "110105194912310021", "11010519491331002X", None]))
        array([ True,  True, False, False, False])
    """
    return _id_parts(values, today)[0]


def credit_code_valid(values: Any) -> np.ndarray:
    """Vectorised :func:`validate_credit_code` (character set, region digits, checksum).

    Example:
        >>> credit_code_valid(pd.Series(["91350100M000100Y43", "91350100m000100y43",
        ...                              "91350100M000100Y44", "91350100M000100I43"]))
        array([ True,  True, False, False])
    """
    text = as_text_series(values)
    result = np.zeros(len(text), dtype=bool)
    positions, candidates = _stripped_to_width(text, 18)
    if not len(positions):
        return result
    points = code_points(candidates, 18).astype(np.int64)
    ascii_row = (points < 128).all(axis=1)
    lower = (points >= ord("a")) & (points <= ord("z")) & ascii_row[:, None]
    points = np.where(lower, points - 32, points)
    values_ = np.where(points < 128, _CREDIT_LUT[np.clip(points, 0, 127)], -1)
    ok = (values_ >= 0).all(axis=1) & (values_[:, 2:8] <= 9).all(axis=1)
    total = (np.where(values_[:, :17] >= 0, values_[:, :17], 0) * CREDIT_CODE_WEIGHTS).sum(axis=1)
    ok &= values_[:, 17] == (31 - total % 31) % 31
    result[positions] = ok
    return result


# ======================================= ID number facts ======================================


def gender_from_id_number(
    value: Any, *, field: str = "id_number", label: str | None = None, today: dt.date | None = None
) -> str:
    """性别 from an ID number: the 17th digit is odd for 男 and even for 女.

    Raises:
        ValidationError: the number is not valid (see :func:`validate_id_number`).

    Example:
        >>> gender_from_id_number("11010519491231002X"), gender_from_id_number("110105194912310038")
        ('女', '男')
    """
    text = validate_id_number(value, field=field, label=label, today=today)
    return "男" if int(text[16]) % 2 else "女"


def birthday_from_id_number(
    value: Any, *, field: str = "id_number", label: str | None = None, today: dt.date | None = None
) -> dt.date:
    """出生日期 from an ID number (digits 7–14).

    Raises:
        ValidationError: the number is not valid (see :func:`validate_id_number`).

    Example:
        >>> birthday_from_id_number("11010519491231002X")
        datetime.date(1949, 12, 31)
    """
    text = validate_id_number(value, field=field, label=label, today=today)
    return dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))


def gender_from_id_number_series(values: Any, *, today: dt.date | None = None) -> pd.Series:
    """Vectorised :func:`gender_from_id_number`: ``男``/``女``, missing where invalid.

    Example:
        >>> gender_from_id_number_series(pd.Series(["11010519491231002X", "bad"])).tolist()
        ['女', nan]
    """
    valid, _, sequence = _id_parts(values, today)
    labels = np.where(sequence % 2 == 1, "男", "女").astype(object)
    labels[~valid] = None
    index = values.index if isinstance(values, pd.Series) else None
    return pd.Series(labels, index=index, dtype="str")


def birthday_from_id_number_series(values: Any, *, today: dt.date | None = None) -> pd.Series:
    """Vectorised :func:`birthday_from_id_number`: a datetime Series, ``NaT`` where invalid.

    Example:
        >>> birthday_from_id_number_series(pd.Series(["11010519491231002X", "bad"])).tolist()
        [Timestamp('1949-12-31 00:00:00'), NaT]
    """
    valid, ymd, _ = _id_parts(values, today)
    ymd = np.where(valid, ymd, 19700101)
    months = (ymd // 10000 - 1970) * 12 + (ymd // 100 % 100 - 1)
    dates = months.astype("datetime64[M]").astype("datetime64[D]") + (ymd % 100 - 1)
    dates = np.where(valid, dates, np.datetime64("NaT"))
    index = values.index if isinstance(values, pd.Series) else None
    return pd.Series(dates, index=index).astype("datetime64[s]")
