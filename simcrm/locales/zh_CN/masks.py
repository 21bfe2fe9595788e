"""Privacy masks (脱敏) for exports and screens, following common Chinese practice.

=================  ===========================================  ============================
field              rule                                         example
=================  ===========================================  ============================
手机号码            keep the first 3 and last 4 digits           ``138****1234``
身份证号码          keep the first 6 (region) and last 4 —       ``110105********002X``
                   the birth date is hidden
电子邮件            first character + ``***`` + ``@domain``      ``z***@163.com``
地址               keep province and city, mask the rest         ``广东省广州市****``
姓名               keep the surname (复姓 whole), one ``*`` per   ``张*``, ``张**``, ``欧阳*``
                   other character
=================  ===========================================  ============================

The ID rule "first 6, last 4" is the form most Chinese apps and banks show (it hides the
birth date, the most sensitive part); ``keep_start=3`` gives the stricter "first 3" variant.
A masked address always ends in exactly ``****`` so its length reveals nothing.

Every scalar mask has a ``*_series`` twin that returns the same strings for a pandas Series
(missing values stay missing): the positional masks (mobile, ID, name) work on numpy
code-point arrays; the e-mail and address masks apply the scalar rule to each value.
Masks do not validate: a malformed value is masked by the same rule as far as it applies.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._common import (
    BLANKS,
    is_missing,
    mask_middle,
    mask_middle_series,
    star_columns,
    text_series,
    text_values,
)
from ._data import COMPOUND_SURNAMES, MUNICIPALITIES, region_rows

__all__ = [
    "mask_mobile",
    "mask_id_number",
    "mask_email",
    "mask_address",
    "mask_name",
    "mask_mobile_series",
    "mask_id_number_series",
    "mask_email_series",
    "mask_address_series",
    "mask_name_series",
]

_ADDRESS_STARS = "****"


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value).strip(BLANKS)


def _map_text(values: Any, mask: Any) -> pd.Series:
    """Apply a scalar mask to each present value (for rules that are not positional)."""
    texts, index = text_values(values)
    masked = np.array([None if v is None else mask(v) for v in texts], dtype=object)
    return text_series(masked, index)


def mask_mobile(value: Any) -> Any:
    """Mask a mobile number: first 3 and last 4 digits kept.

    Example:
        >>> mask_mobile("13812341234")
        '138****1234'
        >>> mask_mobile(None) is None
        True
    """
    text = _text(value)
    return value if text is None else mask_middle(text, 3, 4)


def mask_mobile_series(values: Any) -> pd.Series:
    """Vectorised :func:`mask_mobile`.

    Example:
        >>> mask_mobile_series(pd.Series(["13812341234", "13912345678"])).tolist()
        ['138****1234', '139****5678']
    """
    return mask_middle_series(values, 3, 4)


def mask_id_number(value: Any, *, keep_start: int = 6, keep_end: int = 4) -> Any:
    """Mask an ID number: first ``keep_start`` and last ``keep_end`` characters kept.

    Example:
        >>> mask_id_number("11010519491231002X")
        '110105********002X'
        >>> mask_id_number("11010519491231002X", keep_start=3)
        '110***********002X'
    """
    text = _text(value)
    return value if text is None else mask_middle(text, keep_start, keep_end)


def mask_id_number_series(values: Any, *, keep_start: int = 6, keep_end: int = 4) -> pd.Series:
    """Vectorised :func:`mask_id_number`.

    Example:
        >>> mask_id_number_series(pd.Series(["11010519491231002X"])).tolist()
        ['110105********002X']
    """
    return mask_middle_series(values, keep_start, keep_end)


def mask_email(value: Any) -> Any:
    """Mask an e-mail address: first character of the user name, ``***``, then ``@domain``.

    A value without ``@`` keeps only its first character.

    Example:
        >>> mask_email("zhangsan@163.com")
        'z***@163.com'
        >>> mask_email("no-at-sign")
        'n***'
    """
    text = _text(value)
    if text is None:
        return value
    local, at, domain = text.rpartition("@")
    if not at:
        local, domain = text, ""
    return local[:1] + "***" + at + domain


def mask_email_series(values: Any) -> pd.Series:
    """Vectorised :func:`mask_email`.

    Example:
        >>> mask_email_series(pd.Series(["zhangsan@163.com", "x", None])).tolist()
        ['z***@163.com', 'x***', nan]
    """
    return _map_text(values, mask_email)


@cache
def _address_pattern() -> re.Pattern[str]:
    """``^(kept part)``: a municipality; a province and maybe a city; or a city alone.

    Names come from the regions table, longest first so that no name stops at a prefix of a
    longer one; a city unknown to the table (Faker invents some) is recognised by its suffix.
    """
    rows = region_rows()

    def alternatives(names: set[str]) -> str:
        return "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))

    municipalities = alternatives(set(MUNICIPALITIES))
    provinces = alternatives({r["province"] for r in rows} - set(MUNICIPALITIES))
    cities = alternatives({r["city"] for r in rows if r["province"] not in MUNICIPALITIES})
    fallback_city = "[\u4e00-\u9fff]{1,5}?(?:市|地区|盟|自治州)"
    return re.compile(
        f"(?:{municipalities}|(?:{provinces})(?:{cities}|{fallback_city})?|(?:{cities}))"
    )


def mask_address(value: Any) -> Any:
    """Mask an address: keep the province and the prefecture-level city, replace the rest.

    The province and city must be written in full (``广东省广州市…``, ``北京市朝阳区…``); a
    municipality counts as both. When neither is recognised the whole address is masked.

    Example:
        >>> mask_address("广东省广州市天河区体育西路 123 号")
        '广东省广州市****'
        >>> mask_address("北京市朝阳区建国路 88 号")
        '北京市****'
        >>> mask_address("延边朝鲜族自治州延吉市人民路 1 号")
        '延边朝鲜族自治州****'
        >>> mask_address("天河区体育西路")
        '****'
    """
    text = _text(value)
    if text is None:
        return value
    match = _address_pattern().match(text)
    kept = match.group(0) if match else ""
    return kept + (_ADDRESS_STARS if len(text) > len(kept) else "")


def mask_address_series(values: Any) -> pd.Series:
    """Vectorised :func:`mask_address`.

    Example:
        >>> mask_address_series(pd.Series(["广东省广州市天河区", "上海市", None])).tolist()
        ['广东省广州市****', '上海市', nan]
    """
    return _map_text(values, mask_address)


def _surname_length(text: str) -> int:
    return 2 if len(text) > 2 and text[:2] in COMPOUND_SURNAMES else 1


def mask_name(value: Any) -> Any:
    """Mask a person's name: keep the surname, one ``*`` for each other character.

    Two-character surnames (复姓 such as 欧阳, 司马) are kept whole when the name is longer
    than the surname; a one-character name becomes ``*``.

    Example:
        >>> mask_name("张三"), mask_name("张三丰"), mask_name("欧阳修"), mask_name("李")
        ('张*', '张**', '欧阳*', '*')
    """
    text = _text(value)
    if text is None:
        return value
    if len(text) <= 1:
        return "*" * len(text)
    keep = _surname_length(text)
    return text[:keep] + "*" * (len(text) - keep)


def mask_name_series(values: Any) -> pd.Series:
    """Vectorised :func:`mask_name`.

    Example:
        >>> mask_name_series(pd.Series(["张三", "欧阳修", "李", None])).tolist()
        ['张*', '欧阳*', '*', nan]
    """
    names, index = text_values(values)
    keep = np.array([0 if v is None else _surname_length(v) for v in names], dtype=np.int64)
    return text_series(star_columns(names, keep, 0), index)
