"""The reference tables regions.csv and spring_festival.csv: completeness, spot checks, format."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from importlib import resources

import pytest

DATA = resources.files("simcrm").joinpath("reference", "data")

COLUMNS = [
    "province", "province_short", "province_code", "region", "city", "city_code", "tier",
    "area_code", "weight",
]  # fmt: skip

# GB/T 2260 province codes, short names, conventional regions and prefecture-level counts
PROVINCES = {
    "北京市": ("11", "北京", "华北", 1), "天津市": ("12", "天津", "华北", 1),
    "河北省": ("13", "河北", "华北", 11), "山西省": ("14", "山西", "华北", 11),
    "内蒙古自治区": ("15", "内蒙古", "华北", 12), "辽宁省": ("21", "辽宁", "东北", 14),
    "吉林省": ("22", "吉林", "东北", 9), "黑龙江省": ("23", "黑龙江", "东北", 13),
    "上海市": ("31", "上海", "华东", 1), "江苏省": ("32", "江苏", "华东", 13),
    "浙江省": ("33", "浙江", "华东", 11), "安徽省": ("34", "安徽", "华东", 16),
    "福建省": ("35", "福建", "华东", 9), "江西省": ("36", "江西", "华东", 11),
    "山东省": ("37", "山东", "华东", 16), "河南省": ("41", "河南", "华中", 17),
    "湖北省": ("42", "湖北", "华中", 13), "湖南省": ("43", "湖南", "华中", 14),
    "广东省": ("44", "广东", "华南", 21), "广西壮族自治区": ("45", "广西", "华南", 14),
    "海南省": ("46", "海南", "华南", 4), "重庆市": ("50", "重庆", "西南", 1),
    "四川省": ("51", "四川", "西南", 21), "贵州省": ("52", "贵州", "西南", 9),
    "云南省": ("53", "云南", "西南", 16), "西藏自治区": ("54", "西藏", "西南", 7),
    "陕西省": ("61", "陕西", "西北", 10), "甘肃省": ("62", "甘肃", "西北", 14),
    "青海省": ("63", "青海", "西北", 8), "宁夏回族自治区": ("64", "宁夏", "西北", 5),
    "新疆维吾尔自治区": ("65", "新疆", "西北", 14),
}  # fmt: skip
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")


def _read(name: str) -> list[dict[str, str]]:
    with DATA.joinpath(name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def regions() -> list[dict[str, str]]:
    return _read("regions.csv")


@pytest.fixture(scope="module")
def city_province(regions) -> dict[str, str]:
    return {row["city"]: row["province"] for row in regions}


def test_header(regions):
    with DATA.joinpath("regions.csv").open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == COLUMNS
    assert all(None not in row and all(row.values()) for row in regions), "empty or extra cells"


def test_31_provinces_with_codes_regions_and_short_names(regions):
    seen = {row["province"] for row in regions}
    assert seen == set(PROVINCES)
    for row in regions:
        code, short, region, _ = PROVINCES[row["province"]]
        assert (row["province_code"], row["province_short"], row["region"]) == (code, short, region)


def test_prefecture_counts_per_province(regions):
    counts = Counter(row["province"] for row in regions)
    assert counts == {name: spec[3] for name, spec in PROVINCES.items()}
    assert len(regions) == 333 + 4
    assert all(counts[p] >= 1 for p in PROVINCES)


def test_municipalities_are_their_own_single_city(regions):
    for name in MUNICIPALITIES:
        rows = [row for row in regions if row["province"] == name]
        assert [row["city"] for row in rows] == [name]


def test_no_duplicates(regions):
    pairs = Counter((row["province"], row["city"]) for row in regions)
    assert [pair for pair, n in pairs.items() if n > 1] == []
    # city names are unique across provinces too, so a city name alone identifies a row
    names = Counter(row["city"] for row in regions)
    assert [name for name, n in names.items() if n > 1] == []
    assert len({row["city_code"] for row in regions}) == len(regions)


@pytest.mark.parametrize(
    ("city", "province"),
    [
        ("广州市", "广东省"), ("深圳市", "广东省"), ("苏州市", "江苏省"), ("大连市", "辽宁省"),
        ("拉萨市", "西藏自治区"), ("延边朝鲜族自治州", "吉林省"), ("大兴安岭地区", "黑龙江省"),
        ("兴安盟", "内蒙古自治区"), ("锡林郭勒盟", "内蒙古自治区"), ("吉林市", "吉林省"),
        ("襄阳市", "湖北省"), ("三沙市", "海南省"), ("儋州市", "海南省"), ("海东市", "青海省"),
        ("海南藏族自治州", "青海省"), ("那曲市", "西藏自治区"), ("喀什地区", "新疆维吾尔自治区"),
        ("伊犁哈萨克自治州", "新疆维吾尔自治区"), ("朝阳市", "辽宁省"), ("宁波市", "浙江省"),
        ("青岛市", "山东省"), ("厦门市", "福建省"), ("遵义市", "贵州省"),
        ("凉山彝族自治州", "四川省"), ("西双版纳傣族自治州", "云南省"),
        ("恩施土家族苗族自治州", "湖北省"), ("中卫市", "宁夏回族自治区"),
    ],
)  # fmt: skip
def test_spot_checks(city_province, city, province):
    assert city_province[city] == province


@pytest.mark.parametrize(
    "gone", ["莱芜市", "襄樊市", "巢湖市", "济源市", "仙桃市", "石河子市", "香港"]
)
def test_former_or_non_prefecture_names_absent(city_province, gone):
    assert gone not in city_province


def test_codes_well_formed(regions):
    area = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})")
    for row in regions:
        assert area.fullmatch(row["area_code"]), row
        assert re.fullmatch(r"[0-9]{4}00", row["city_code"]), row
        assert row["city_code"][:2] == row["province_code"], row
    three_digit = {row["city"] for row in regions if len(row["area_code"]) == 3}
    assert three_digit == {
        "北京市", "上海市", "天津市", "重庆市", "广州市", "沈阳市", "抚顺市", "铁岭市", "南京市",
        "武汉市", "成都市", "眉山市", "资阳市", "西安市", "咸阳市",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("city", "code"),
    [("北京市", "010"), ("广州市", "020"), ("深圳市", "0755"), ("苏州市", "0512"),
     ("杭州市", "0571"), ("拉萨市", "0891"), ("乌鲁木齐市", "0991"), ("三亚市", "0898"),
     ("株洲市", "0731"), ("大连市", "0411"), ("东莞市", "0769")],
)  # fmt: skip
def test_area_code_spot_checks(regions, city, code):
    assert {row["city"]: row["area_code"] for row in regions}[city] == code


def test_tiers(regions):
    tiers = Counter(row["tier"] for row in regions)
    assert tiers == {"一线": 4, "新一线": 15, "二线": 30, "三线": 70, "四线": 90, "五线": 128}
    first = {row["city"] for row in regions if row["tier"] == "一线"}
    assert first == {"北京市", "上海市", "广州市", "深圳市"}
    tier_of = {row["city"]: row["tier"] for row in regions}
    assert tier_of["成都市"] == tier_of["杭州市"] == "新一线"
    assert tier_of["阿里地区"] == "五线"


def test_weights_positive_and_ordered_sensibly(regions):
    weight = {row["city"]: int(row["weight"]) for row in regions}
    assert all(w > 0 for w in weight.values())
    assert weight["上海市"] > weight["广州市"] > weight["兰州市"] > weight["阿里地区"]


def test_provinces_short_names_are_prefixes(regions):
    for row in regions:
        assert row["province"].startswith(row["province_short"])


# --- spring_festival.csv -----------------------------------------------------------------------

ANCHORS = {
    2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22",
    2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06",
}  # fmt: skip


@pytest.fixture(scope="module")
def festivals() -> dict[int, dt.date]:
    rows = _read("spring_festival.csv")
    return {int(r["year"]): dt.date.fromisoformat(r["spring_festival"]) for r in rows}


def test_spring_festival_years_complete(festivals):
    assert sorted(festivals) == list(range(2010, 2041))
    assert all(day.year == year for year, day in festivals.items())


@pytest.mark.parametrize(("year", "day"), ANCHORS.items())
def test_spring_festival_anchor_years(festivals, year, day):
    assert festivals[year] == dt.date.fromisoformat(day)


def test_spring_festival_between_jan_21_and_feb_20(festivals):
    for year, day in festivals.items():
        assert dt.date(year, 1, 21) <= day <= dt.date(year, 2, 20), year


def test_spring_festival_gaps_are_lunar_years(festivals):
    # a common lunar year has 12 months (353–355 days), a leap year 13 (383–385 days)
    years = sorted(festivals)
    for a, b in zip(years, years[1:], strict=False):
        gap = (festivals[b] - festivals[a]).days
        assert 353 <= gap <= 355 or 383 <= gap <= 385, (a, b, gap)
