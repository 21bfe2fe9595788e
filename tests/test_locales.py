"""simcrm.locales: the locale registry and zh_CN's validators, masks and generators."""

from __future__ import annotations

import csv
import datetime as dt
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from simcrm.errors import ConfigError, RequiredFieldError, ValidationError
from simcrm.locales import LOCALE_API, available_locales, get_locale

zh = get_locale("zh_CN")
TODAY = dt.date(2025, 6, 30)  # fixed, so the birth-date rule does not depend on the clock


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240210)


def _regions() -> list[dict[str, str]]:
    path = resources.files("simcrm").joinpath("reference", "data", "regions.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --- independent reference checks (written from the standards, not from the module) ---------


def reference_id_ok(text: str, today: dt.date = TODAY) -> bool:
    """GB 11643-1999, spelled out differently from the module: weights 2^(17-i) mod 11."""
    text = text.strip(" \t\r\n\u3000").replace("x", "X")
    if len(text) != 18 or not all("0" <= c <= "9" for c in text[:17]):
        return False
    if text[17] not in "0123456789X":
        return False
    if text[:2] not in {r["province_code"] for r in _REGIONS} | {"71", "81", "82", "83"}:
        return False
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= today:
        return False
    s = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(text[:17]))
    check = (12 - s % 11) % 11
    return text[17] == ("X" if check == 10 else str(check))


CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def reference_credit_ok(text: str) -> bool:
    """GB 32100-2015 with weights 3^(i-1) mod 31."""
    text = text.strip(" \t\r\n\u3000")
    if text.isascii():
        text = text.upper()
    if len(text) != 18 or any(c not in CREDIT_ALPHABET for c in text):
        return False
    if not all("0" <= c <= "9" for c in text[2:8]):
        return False
    s = sum(CREDIT_ALPHABET.index(c) * (3**i % 31) for i, c in enumerate(text[:17]))
    return text[17] == CREDIT_ALPHABET[(31 - s % 31) % 31]


_REGIONS = _regions()


# --- registry ------------------------------------------------------------------------------


def test_default_locale_is_zh_cn():
    assert get_locale() is zh
    assert zh.name == "zh_CN" and zh.faker_locale == "zh_CN"
    assert available_locales() == ("zh_CN",)
    assert get_locale("zh-CN") is zh


def test_locale_defines_the_whole_api():
    assert [name for name in LOCALE_API if not hasattr(zh, name)] == []


def test_unknown_locale_lists_the_available_ones():
    with pytest.raises(ConfigError) as info:
        get_locale("en_US")
    assert info.value.field == "locale" and info.value.value == "en_US"
    assert "en_US" in str(info.value) and "zh_CN" in str(info.value)
    assert "区域设置" in str(info.value)


# --- valid examples --------------------------------------------------------------------------


# Hand-computed ID check digit for 11010519491231002X (the example in GB 11643-1999):
#   digits   1  1  0  1  0  5  1  9  4  9  1  2  3  1  0  0  2
#   weights  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
#   products 7  9  0  5  0 20  2  9 24 27  7 18 30  5  0  0  4   → sum 167
#   167 mod 11 = 2 → "10X98765432"[2] = X
# and for 110105194912310038: the same first 16 products sum to 163, plus 3 × 2 = 169;
#   169 mod 11 = 4 → "8".
# Hand-computed credit code check for 91350100M000100Y43 (values M = 21, Y = 30):
#   9·1 + 1·3 + 3·9 + 5·27 + 1·26 + 21·20 + 1·8 + 30·30 + 4·28 = 1640; 1640 mod 31 = 28;
#   31 − 28 = 3 → "3".
VALID = [
    ("validate_mobile", "13812341234", "13812341234"),
    ("validate_mobile", "+86 138 1234 1234", "13812341234"),
    ("validate_mobile", "0086-138-1234-1234", "13812341234"),
    ("validate_mobile", "8613812341234", "13812341234"),
    ("validate_mobile", 19912345678, "19912345678"),
    ("validate_mobile", "\u3000166 0000 0000 ", "16600000000"),
    ("validate_landline", "020-87654321", "020-87654321"),
    ("validate_landline", "(0755)2345678", "0755-2345678"),
    ("validate_landline", "（010）87654321", "010-87654321"),
    ("validate_landline", "02087654321", "020-87654321"),
    ("validate_landline", "+86 20 87654321", "020-87654321"),
    ("validate_landline", "0571-87654321转808", "0571-87654321-808"),
    ("validate_landline", "0898 66123456 ext 12", "0898-66123456-12"),
    ("validate_email", "zhangsan@163.com", "zhangsan@163.com"),
    ("validate_email", " Li.Si+crm@Mail.Example.COM ", "Li.Si+crm@mail.example.com"),
    ("validate_email", "12345@qq.com", "12345@qq.com"),
    ("validate_email", "a_b-c@sub-domain.example.cn", "a_b-c@sub-domain.example.cn"),
    ("validate_id_number", "11010519491231002X", "11010519491231002X"),
    ("validate_id_number", "11010519491231002x", "11010519491231002X"),
    ("validate_id_number", "110105194912310038", "110105194912310038"),
    ("validate_postcode", "100000", "100000"),
    ("validate_postcode", 510000, "510000"),
    ("validate_postcode", "010010", "010010"),
    ("validate_credit_code", "91350100M000100Y43", "91350100M000100Y43"),
    ("validate_credit_code", "91350100m000100y43", "91350100M000100Y43"),
]


@pytest.mark.parametrize(("function", "value", "expected"), VALID)
def test_valid_values_are_normalised(function, value, expected):
    kwargs = {"today": TODAY} if function == "validate_id_number" else {}
    assert getattr(zh, function)(value, **kwargs) == expected
    assert reference_id_ok(expected) if function == "validate_id_number" else True


# --- invalid examples: (function, value, label, fragment of the reason) ----------------------

INVALID = [
    ("validate_mobile", "1381234123", "手机", "应为 11 位数字，实际 10 位"),
    ("validate_mobile", "12812341234", "手机", "号段 128 不存在"),
    ("validate_mobile", "23812341234", "手机", "应以 1 开头"),
    ("validate_mobile", "1381234123a", "手机", "数字以外"),
    ("validate_mobile", "1-3812341234", "手机", "分隔方式不对"),
    ("validate_mobile", 13812341234.0, "手机", "数字以外"),
    ("validate_landline", "020-12345678", "固定电话", "不能以 0 或 1 开头"),
    ("validate_landline", "20-87654321", "固定电话", "缺少以 0 开头的区号"),
    ("validate_landline", "0755-234567", "固定电话", "应为 7–8 位，实际 6 位"),
    ("validate_landline", "0755-234567890", "固定电话", "实际 9 位"),
    ("validate_landline", "020-8765432a", "固定电话", "不允许的字符"),
    ("validate_landline", "020-8765-4321", "固定电话", "格式不对"),
    ("validate_landline", "13812341234", "固定电话", "这是手机号码"),
    ("validate_email", "zhangsan163.com", "电子邮件", "缺少 @"),
    ("validate_email", "a@b@c.com", "电子邮件", "只能有一个 @"),
    ("validate_email", "张三@qq.com", "电子邮件", "中文或全角"),
    ("validate_email", "a..b@qq.com", "电子邮件", "格式不对"),
    ("validate_email", "ab@qq", "电子邮件", "格式不对"),
    ("validate_email", "ab@-qq.com", "电子邮件", "格式不对"),
    ("validate_email", "a" * 65 + "@qq.com", "电子邮件", "过长"),
    ("validate_email", "a@" + "b" * 64 + ".com", "电子邮件", "某一段过长"),
    ("validate_id_number", "110105194912310021", "身份证号", "校验码应为 X，实际为 1"),
    ("validate_id_number", "11010519491231002", "身份证号", "应为 18 位，实际 17 位"),
    ("validate_id_number", "110105491231002", "身份证号", "15 位的旧号码"),
    ("validate_id_number", "1101051949123100XX", "身份证号", "前 17 位应为数字"),
    ("validate_id_number", "99010519491231002X", "身份证号", "前两位 99 不是省级行政区代码"),
    ("validate_id_number", "110105194902301234", "身份证号", "出生日期 19490230 不是有效日期"),
    ("validate_id_number", "110105203001010012", "身份证号", "不在 1900-01-01 至 2025-06-30"),
    ("validate_postcode", "51000", "邮政编码", "应为 6 位数字，实际 5 位"),
    ("validate_postcode", "5100O0", "邮政编码", "只能是数字"),
    ("validate_postcode", "000000", "邮政编码", "前两位 00"),
    ("validate_postcode", "990000", "邮政编码", "前两位 99"),
    ("validate_credit_code", "91350100M000100Y44", "统一社会信用代码", "校验码应为 3，实际为 4"),
    ("validate_credit_code", "91350100M000100Y4", "统一社会信用代码", "应为 18 位，实际 17 位"),
    ("validate_credit_code", "91350100M0001I0Y43", "统一社会信用代码", "不允许的字符 I"),
    ("validate_credit_code", "913501A0M000100Y43", "统一社会信用代码", "第 3–8 位应为行政区划码"),
]


@pytest.mark.parametrize(("function", "value", "label", "reason"), INVALID)
def test_bad_values_raise_chinese_messages(function, value, label, reason):
    kwargs = {"today": TODAY} if function == "validate_id_number" else {}
    with pytest.raises(ValidationError) as info:
        getattr(zh, function)(value, **kwargs)
    message = str(info.value)
    assert label in message
    assert repr(value) in message
    assert reason in message
    assert "允许：" in message  # what is allowed is always stated
    assert info.value.value == value
    assert info.value.field == function.removeprefix("validate_")


@pytest.mark.parametrize("function", [name for name in LOCALE_API if name.startswith("validate_")])
@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, "", "  \u3000"])
def test_missing_values_are_required_field_errors(function, missing):
    with pytest.raises(RequiredFieldError) as info:
        getattr(zh, function)(missing)
    assert zh.LABELS[function.removeprefix("validate_")] in str(info.value)


def test_field_and_label_can_be_overridden():
    with pytest.raises(ValidationError) as info:
        zh.validate_mobile("123", field="contact_mobile", label="联系人手机")
    assert info.value.field == "contact_mobile"
    assert str(info.value).startswith("联系人手机（contact_mobile）的值 '123'")


# --- vectorised == scalar on generated and corrupted values ------------------------------------

NOISE = list("0123456789xX -+@._()（）转#中\u3000\tAaIOZ") + ["86", "+86 ", "ext"]


def corrupt(rng: np.random.Generator, values: list[str]) -> list[object]:
    """Each value kept, or damaged by one of several typing mistakes."""
    out: list[object] = []
    for text in values:
        kind = rng.integers(0, 12)
        pos = int(rng.integers(0, len(text) + 1))
        noise = NOISE[rng.integers(0, len(NOISE))]
        if kind == 0 or kind == 1:
            out.append(text)
        elif kind == 2:
            out.append(text[:pos] + noise + text[pos + 1 :])  # replace
        elif kind == 3:
            out.append(text[:pos] + text[pos + 1 :])  # delete
        elif kind == 4:
            out.append(text[:pos] + noise + text[pos:])  # insert
        elif kind == 5 and len(text) > 1:
            p = min(pos, len(text) - 2)
            out.append(text[:p] + text[p + 1] + text[p] + text[p + 2 :])  # swap
        elif kind == 6:
            out.append(" " * int(rng.integers(0, 3)) + text + "\u3000" * int(rng.integers(0, 2)))
        elif kind == 7:
            out.append(text[:pos])  # truncate
        elif kind == 8:
            out.append(text.lower() if rng.random() < 0.5 else text.upper())
        elif kind == 9:
            out.append(None if rng.random() < 0.5 else "")
        elif kind == 10:
            out.append(text + text[-int(rng.integers(1, 4)) :])  # repeated tail
        else:
            out.append(noise + text)
    return out


def scalar_ok(function, value, **kwargs) -> bool:
    try:
        function(value, **kwargs)
    except ValidationError:
        return False
    return True


def _sample(rng, field: str, n: int) -> list[str]:
    if field == "mobile":
        return list(zh.generate_mobile(rng, n))
    if field == "landline":
        areas = rng.choice([r["area_code"] for r in _REGIONS], n)
        return list(zh.generate_landline(rng, areas))
    if field == "id_number":
        births = np.datetime64("1930-01-01") + rng.integers(0, 34000, n)
        genders = rng.choice(["男", "女"], n)
        regions = rng.choice([r["city_code"] for r in _REGIONS], n)
        return list(zh.generate_id_number(rng, births, genders, regions))
    if field == "credit_code":
        return list(zh.generate_credit_code(rng, rng.choice([r["city_code"] for r in _REGIONS], n)))
    if field == "postcode":
        return [f"{x:06d}" for x in rng.integers(10000, 900000, n)]
    if field == "email":
        users = ["zhangsan", "li.si", "wang_wu", "x", "a-b+c", "user99", "Ming.Li"]
        domains = ["163.com", "qq.com", "example.com.cn", "sub-domain.org", "gmail.com", "yeah.NET"]
        return [f"{rng.choice(users)}@{rng.choice(domains)}" for _ in range(n)]
    raise AssertionError(field)


@pytest.mark.parametrize(
    "field", ["mobile", "landline", "email", "id_number", "postcode", "credit_code"]
)
def test_vectorised_equals_scalar_on_corrupted_values(rng, field):
    values = corrupt(rng, _sample(rng, field, 10_000))
    series = pd.Series(values, dtype=object)
    kwargs = {"today": TODAY} if field == "id_number" else {}
    vector = getattr(zh, f"{field}_valid")(series, **kwargs)
    scalar = np.array([scalar_ok(getattr(zh, f"validate_{field}"), v, **kwargs) for v in values])
    assert vector.dtype == bool and len(vector) == len(values)
    mismatches = [values[i] for i in np.flatnonzero(vector != scalar)[:10]]
    assert mismatches == []
    # the corruption produced a real mix of valid and invalid values
    assert 0.2 < scalar.mean() < 0.8
    if field == "id_number":
        reference = np.array([v is not None and reference_id_ok(v) for v in values])
        assert (reference == scalar).all()
    if field == "credit_code":
        reference = np.array([v is not None and reference_credit_ok(v) for v in values])
        assert (reference == scalar).all()


def test_vectorised_accepts_str_series_and_non_string_values():
    assert zh.mobile_valid(pd.Series(["13812341234", None], dtype="str")).tolist() == [True, False]
    assert zh.mobile_valid(pd.Series([13812341234, 2])).tolist() == [True, False]
    assert zh.mobile_valid([13812341234, None]).tolist() == [True, False]
    assert zh.id_number_valid(pd.Series([], dtype="str")).tolist() == []
    long_ones = [
        "a" * 65 + "@qq.com",
        "a" * 64 + "@qq.com",
        "a@" + "b" * 64 + ".com",
        "a@" + "b" * 63 + ".com",
        "a@" + "b." * 130 + "cn",
        " " + "a" * 64 + "@qq.com\u3000",
    ]
    vector = zh.email_valid(pd.Series(long_ones))
    assert vector.tolist() == [False, True, False, True, False, True]
    assert vector.tolist() == [scalar_ok(zh.validate_email, v) for v in long_ones]


# --- generators ------------------------------------------------------------------------------


def test_generated_values_always_validate(rng):
    mobiles = zh.generate_mobile(rng, 5000)
    assert all(zh.validate_mobile(m) == m for m in mobiles)
    assert {m[:3] for m in mobiles} <= {str(p) for p in zh.MOBILE_PREFIXES}
    areas = [r["area_code"] for r in _REGIONS]
    landlines = zh.generate_landline(rng, areas)
    assert len(landlines) == len(areas)
    assert all(zh.validate_landline(x) == x for x in landlines)
    assert [x.split("-")[0] for x in landlines] == areas
    codes = [r["city_code"] for r in _REGIONS]
    credit = zh.generate_credit_code(rng, codes)
    assert all(zh.validate_credit_code(c) == c for c in credit)
    assert [c[2:8] for c in credit] == codes


def test_generated_id_numbers_carry_the_inputs(rng):
    n = 3000
    births = np.datetime64("1900-01-01") + rng.integers(0, 45000, n)
    genders = rng.choice(["男", "女"], n)
    regions = rng.choice([r["province_code"] for r in _REGIONS] + ["440106", "4403"], n)
    ids = zh.generate_id_number(rng, births, genders, regions)
    assert zh.id_number_valid(pd.Series(ids), today=TODAY).all()
    assert all(reference_id_ok(x) for x in ids)
    assert [x[:2] for x in ids] == [r[:2] for r in regions]
    assert zh.gender_from_id_number_series(pd.Series(ids), today=TODAY).tolist() == list(genders)
    born = zh.birthday_from_id_number_series(pd.Series(ids), today=TODAY)
    assert (born.to_numpy().astype("datetime64[D]") == births).all()
    assert zh.birthday_from_id_number(ids[0], today=TODAY) == births[0].astype(dt.date)
    assert zh.gender_from_id_number(ids[0], today=TODAY) == genders[0]


def test_generate_id_number_accepts_scalars_and_dates():
    rng = np.random.default_rng(1)
    ids = zh.generate_id_number(rng, dt.date(1988, 2, 29), "F", "31")
    assert len(ids) == 1 and ids[0].startswith("31010119880229")
    assert zh.gender_from_id_number(ids[0]) == "女"
    many = zh.generate_id_number(rng, pd.Series(pd.to_datetime(["1990-01-01"] * 3)), "男", "11")
    assert len(many) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"birth_date": "1899-12-31", "gender": "男", "region_code": "11"}, "birth_date"),
        ({"birth_date": "1990-01-01", "gender": "未知", "region_code": "11"}, "gender"),
        ({"birth_date": "1990-01-01", "gender": "男", "region_code": "99"}, "region_code"),
        ({"birth_date": "1990-01-01", "gender": "男", "region_code": "4401a"}, "region_code"),
    ],
)
def test_generate_id_number_refuses_bad_inputs(kwargs, field):
    with pytest.raises(ValidationError) as info:
        zh.generate_id_number(np.random.default_rng(0), **kwargs)
    assert info.value.field == field


def test_generate_landline_refuses_bad_area_code():
    with pytest.raises(ValidationError) as info:
        zh.generate_landline(np.random.default_rng(0), ["020", "20"])
    assert info.value.value == "20" and "电话区号" in str(info.value)


def test_generators_are_deterministic():
    def draw(seed: int):
        rng = np.random.default_rng(seed)
        return (
            zh.generate_mobile(rng, 50).tolist(),
            zh.generate_id_number(rng, ["1990-01-01"] * 50, "男", "44").tolist(),
            zh.generate_landline(rng, ["020"] * 50).tolist(),
            zh.generate_credit_code(rng, ["440100"] * 50).tolist(),
        )

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


# --- masks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        ("mask_mobile", "13812341234", "138****1234"),
        ("mask_mobile", " 13812341234 ", "138****1234"),
        ("mask_id_number", "11010519491231002X", "110105********002X"),
        ("mask_email", "zhangsan@163.com", "z***@163.com"),
        ("mask_email", "a@qq.com", "a***@qq.com"),
        ("mask_address", "广东省广州市天河区体育西路 123 号", "广东省广州市****"),
        ("mask_address", "北京市海淀区中关村大街 1 号", "北京市****"),
        ("mask_address", "内蒙古自治区锡林郭勒盟锡林浩特市", "内蒙古自治区锡林郭勒盟****"),
        ("mask_address", "吉林省吉林市船营区", "吉林省吉林市****"),
        ("mask_address", "苏州市工业园区星湖街", "苏州市****"),
        ("mask_address", "广西壮族自治区南京市朝阳路", "广西壮族自治区南京市****"),
        ("mask_address", "新疆维吾尔自治区", "新疆维吾尔自治区"),
        ("mask_address", "人民路 1 号", "****"),
        ("mask_name", "张三", "张*"),
        ("mask_name", "张三丰", "张**"),
        ("mask_name", "司马相如", "司马**"),
        ("mask_name", "欧阳", "欧*"),
        ("mask_name", "李", "*"),
    ],
)
def test_masks(function, value, expected):
    assert getattr(zh, function)(value) == expected


def test_id_mask_keeps_configurable_ends():
    assert zh.mask_id_number("11010519491231002X", keep_start=3) == "110***********002X"
    assert zh.mask_id_number_series(pd.Series(["11010519491231002X"]), keep_start=3).tolist() == [
        "110***********002X"
    ]


def test_series_masks_equal_scalar_masks(rng):
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(3)
    samples = {
        "mobile": [*zh.generate_mobile(rng, 300), "123", "", " 13812341234"],
        "id_number": [*zh.generate_id_number(rng, ["1990-01-01"] * 300, "男", "11"), "12"],
        "email": [fake.email() for _ in range(300)] + ["no-at", "@x.cn", "a@b@c"],
        "address": [fake.address() for _ in range(300)]
        + [f"{r['province']}{r['city']}某路 1 号" for r in _REGIONS],
        "name": [fake.name() for _ in range(300)] + ["欧阳修", "司马", "李", "Tom Smith"],
    }
    for field, values in samples.items():
        values = [*values, None]
        scalar = getattr(zh, f"mask_{field}")
        index = range(5, 5 + len(values))
        series = getattr(zh, f"mask_{field}_series")(pd.Series(values, index=index))
        assert list(series.index) == list(range(5, 5 + len(values)))
        expected = [scalar(v) for v in values]
        got = [None if pd.isna(v) else v for v in series]
        assert got == expected, field


def test_address_mask_keeps_every_real_province_and_city():
    for r in _REGIONS:
        address = f"{r['province']}{r['city']}某区某路 8 号"
        kept = r["province"] if r["province"] == r["city"] else r["province"] + r["city"]
        assert zh.mask_address(address) == kept + "****"


def test_masks_hide_what_they_promise(rng):
    ids = zh.generate_id_number(rng, ["1985-07-09"] * 100, "女", "440106")
    masked = zh.mask_id_number_series(pd.Series(ids))
    assert not masked.str.contains("19850709").any()
    assert (masked.str.len() == 18).all()
