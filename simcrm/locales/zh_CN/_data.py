"""Facts of the zh_CN locale, read from ``simcrm/reference/data/regions.csv`` or listed here.

Kept as data in one place: the provinces and cities come from the regions table (also used by
the simulation and the regional analyses); the short lists below (mobile prefixes, compound
surnames) are small enough to live beside the code that uses them.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

#: 中国大陆 mobile number prefixes (号段) drawn by the generator: the three operators' and the
#: MVNOs' common ranges; 14x data-only, 174 satellite and 16x/19x gaps left out
MOBILE_PREFIXES: tuple[int, ...] = (
    *range(130, 140),
    147,
    *range(150, 154),
    *range(155, 160),
    166,
    *range(170, 174),
    *range(175, 179),
    *range(180, 190),
    *range(190, 194),
    *range(195, 200),
)

#: ID-number region prefixes that are not among the 31 mainland provinces but are accepted:
#: 81/82/83 on 港澳台居民居住证 (residence permits for Hong Kong, Macao and Taiwan residents,
#: since 2018), and 71, the GB/T 2260 code of 台湾省, which Faker's zh_CN ``ssn()`` produces
PERMIT_PREFIXES: Mapping[str, str] = MappingProxyType(
    {"71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区", "83": "台湾地区（居住证）"}
)

#: two-character surnames (复姓) kept whole by :func:`mask_name`
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
    "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "万俟",
    "闻人", "澹台", "公冶", "宗政", "濮阳", "淳于", "单于", "太叔", "申屠", "钟离",
    "呼延", "赫连", "拓跋", "百里", "东郭", "第五", "司空", "左丘", "子车", "颛孙",
)  # fmt: skip


@cache
def region_rows() -> tuple[Mapping[str, str], ...]:
    """Rows of ``regions.csv`` (all values text)."""
    path = resources.files("simcrm").joinpath("reference", "data", "regions.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return tuple(MappingProxyType(row) for row in csv.DictReader(fh))


@cache
def province_codes() -> Mapping[str, str]:
    """GB/T 2260 two-digit code → province full name, the 31 mainland divisions."""
    return MappingProxyType({row["province_code"]: row["province"] for row in region_rows()})


@cache
def id_region_prefixes() -> frozenset[str]:
    """Two-digit prefixes accepted on an ID number: the provinces plus :data:`PERMIT_PREFIXES`."""
    return frozenset(province_codes()) | frozenset(PERMIT_PREFIXES)


MUNICIPALITIES: tuple[str, ...] = ("北京市", "天津市", "上海市", "重庆市")
