"""Identities for the simulated world, sampled vectorised from Faker's own locale data.

Faker's providers keep their locale data in class-level tuples and dicts (surnames with
frequencies, given names, company name parts). Calling ``fake.name()`` once per field per row
costs about 250 µs a record; reading those tuples once and sampling them with numpy costs a
fraction of a microsecond a record and stays deterministic under one numpy ``Generator``.

Locale-specific data sits behind :func:`get_identities`, keyed by locale, so another locale can be
added next to ``zh_CN`` without touching the simulation. Phone numbers and ID numbers come from
:mod:`simcrm.locales` (the same rules the CRM validates with) when it is installed; the fallback
here implements the same formats.

    >>> import numpy as np
    >>> ids = get_identities("zh_CN")
    >>> names = ids.person_names(np.random.default_rng(1), np.array([0, 1]))
    >>> len(names), all(2 <= len(n) <= 4 for n in names)
    (2, True)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

__all__ = ["Identities", "get_identities", "LOCALES", "birth_dates", "credit_code_check", "id_number_check"]

_MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158,
     159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198,
     199]
)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])

#: e-mail domains used by Chinese individuals (Faker zh_CN lists only gmail/yahoo/hotmail)
_FREE_EMAIL = np.array(["qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com", "aliyun.com"])
_FREE_EMAIL_P = np.array([0.42, 0.24, 0.12, 0.07, 0.06, 0.05, 0.04])

#: an organisation's trade words; Faker's company suffixes name only tech firms
_COMPANY_SUFFIXES = {
    "制造业": ["机械制造有限公司", "电子科技有限公司", "精密制造股份有限公司", "工业有限公司"],
    "批发和零售业": ["商贸有限公司", "贸易有限公司", "百货有限公司", "供应链有限公司"],
    "信息技术服务": ["科技有限公司", "网络有限公司", "信息技术有限公司", "软件有限公司"],
    "金融业": ["投资管理有限公司", "融资租赁有限公司", "资产管理有限公司"],
    "房地产业": ["置业有限公司", "房地产开发有限公司", "物业管理有限公司"],
    "建筑业": ["建设工程有限公司", "建筑装饰工程有限公司", "市政工程有限公司"],
    "交通运输和物流": ["物流有限公司", "运输有限公司", "快运有限公司"],
    "住宿和餐饮业": ["酒店管理有限公司", "餐饮管理有限公司", "餐饮有限公司"],
    "教育": ["教育科技有限公司", "培训学校", "职业技术学校"],
    "卫生和医疗": ["医疗器械有限公司", "医药有限公司", "健康管理有限公司"],
    "文化和娱乐": ["文化传媒有限公司", "传媒有限公司", "影视文化有限公司"],
    "农林牧渔业": ["农业科技有限公司", "生态农业有限公司", "农牧有限公司"],
    "能源和公用事业": ["能源有限公司", "新能源科技有限公司", "环保科技有限公司"],
    "政府和公共组织": ["服务中心", "管理中心", "事务中心"],
    "其他": ["实业有限公司", "服务有限公司", "发展有限公司"],
}


def _weighted(mapping_or_seq: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(mapping_or_seq, "items"):
        keys = np.array(list(mapping_or_seq.keys()))
        w = np.array(list(mapping_or_seq.values()), dtype=float)
    else:
        keys = np.array(list(mapping_or_seq))
        w = np.ones(len(keys))
    return keys, w / w.sum()


def _choice(rng: np.random.Generator, values: np.ndarray, p: np.ndarray | None, n: int) -> np.ndarray:
    idx = rng.choice(len(values), size=n, p=p)
    return values[idx]


def _concat(*parts: np.ndarray) -> np.ndarray:
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = out + p.astype(object)
    return out


def id_number_check(first17: np.ndarray) -> np.ndarray:
    """Check characters of 18-digit resident ID numbers (GB 11643), vectorised.

    Args:
        first17: an ``(n, 17)`` integer array of the first 17 digits.

    >>> str(id_number_check(np.array([[1,1,0,1,0,5,1,9,4,9,1,2,3,1,0,0,2]]))[0])
    'X'
    """
    return _ID_CHECK[(first17 * _ID_WEIGHTS).sum(axis=1) % 11]


def credit_code_check(first17: np.ndarray) -> np.ndarray:
    """Check characters of unified social credit codes (GB 32100), vectorised.

    Args:
        first17: an ``(n, 17)`` array of indices into ``0123456789ABCDEFGHJKLMNPQRTUWXY``.
    """
    c = (31 - (first17 * _USCC_WEIGHTS).sum(axis=1) % 31) % 31
    return np.array(list(_USCC_CHARS))[c]


@dataclass
class Identities:
    """Locale data for people and organisations, and vectorised generators over it.

    Attributes:
        locale: the Faker locale whose data is sampled (e.g. ``"zh_CN"``).
    """

    locale: str
    last_names: np.ndarray = field(repr=False)
    last_p: np.ndarray = field(repr=False)
    first_male: np.ndarray = field(repr=False)
    first_female: np.ndarray = field(repr=False)
    company_prefixes: np.ndarray = field(repr=False)
    roman_last: np.ndarray = field(repr=False)
    roman_first: np.ndarray = field(repr=False)

    # -- people ---------------------------------------------------------------------------

    def person_names(self, rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
        """Full names: surname by frequency, one- or two-character given name by gender.

        Args:
            rng: the generator to draw from.
            gender: ``0`` male, ``1`` female, one per name.
        """
        n = len(gender)
        last = _choice(rng, self.last_names, self.last_p, n)
        m1 = _choice(rng, self.first_male, None, n)
        m2 = _choice(rng, self.first_male, None, n)
        f1 = _choice(rng, self.first_female, None, n)
        f2 = _choice(rng, self.first_female, None, n)
        given = np.where(gender == 1, f1, m1).astype(object)
        second = np.where(gender == 1, f2, m2).astype(object)
        single = np.char.str_len(given.astype(str)) == 1
        two = single & (np.char.str_len(second.astype(str)) == 1) & (rng.random(n) < 0.55)
        given = np.where(two, given + second, given)
        return (last.astype(object) + given).astype(object)

    def emails(self, rng: np.random.Generator, n: int, domains: np.ndarray | None = None) -> np.ndarray:
        """Personal e-mail addresses (QQ numbers or romanised names), or at given domains."""
        qq = rng.integers(10_000_000, 3_999_999_999, size=n).astype(str).astype(object)
        nm = _concat(_choice(rng, self.roman_first, None, n), _choice(rng, self.roman_last, None, n))
        nm = np.char.lower(nm.astype(str)).astype(object)
        digits = rng.integers(1, 9999, size=n).astype(str).astype(object)
        use_qq = rng.random(n) < 0.4
        dom = _choice(rng, _FREE_EMAIL, _FREE_EMAIL_P, n).astype(object)
        if domains is not None:
            dom = domains.astype(object)
            use_qq = np.zeros(n, dtype=bool)
        local = np.where(use_qq, qq, nm + digits)
        dom = np.where(use_qq, "qq.com", dom)
        return (local + "@" + dom).astype(object)

    def mobiles(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Valid 11-digit mainland mobile numbers."""
        loc = _locale_module(self.locale)
        if loc is not None and hasattr(loc, "generate_mobile"):
            return np.asarray(loc.generate_mobile(rng, n), dtype=object)
        pre = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), size=n)]
        rest = rng.integers(0, 100_000_000, size=n)
        return np.char.add(pre.astype(str), np.char.zfill(rest.astype(str), 8)).astype(object)

    def id_numbers(self, rng: np.random.Generator, birth: np.ndarray, gender: np.ndarray,
                   city_code: np.ndarray) -> np.ndarray:
        """Valid 18-character resident ID numbers.

        Args:
            rng: the generator.
            birth: ``datetime64[D]`` birth dates.
            gender: ``0`` male, ``1`` female.
            city_code: 6-digit prefecture codes (a district ``01``–``05`` is drawn under it).
        """
        n = len(birth)
        loc = _locale_module(self.locale)
        district = rng.integers(1, 6, size=n)
        region = (city_code.astype(np.int64) // 100) * 100 + district
        if loc is not None and hasattr(loc, "generate_id_number"):
            try:
                return np.asarray(loc.generate_id_number(rng, birth, np.where(gender == 0, "男", "女"), region.astype(str)),
                                  dtype=object)
            except TypeError:  # pragma: no cover - signature drift in a sibling module
                pass
        ymd = np.char.replace(np.datetime_as_string(birth.astype("datetime64[D]"), unit="D"), "-", "")
        seq = rng.integers(0, 500, size=n) * 2 + np.where(gender == 0, 1, 0)
        body = np.char.add(np.char.add(region.astype(str), ymd), np.char.zfill(seq.astype(str), 3))
        digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
        return np.char.add(body, id_number_check(digits.astype(np.int64))).astype(object)

    def landlines(self, rng: np.random.Generator, area_codes: np.ndarray) -> np.ndarray:
        """Office numbers ``0571-88123456`` (7 digits after 4-digit area codes, 8 after 3)."""
        n = len(area_codes)
        loc = _locale_module(self.locale)
        if loc is not None and hasattr(loc, "generate_landline"):
            try:
                return np.asarray(loc.generate_landline(rng, area_codes), dtype=object)
            except TypeError:  # pragma: no cover
                pass
        short = np.char.str_len(area_codes.astype(str)) == 3
        eight = rng.integers(20_000_000, 99_999_999, size=n)
        seven = rng.integers(2_000_000, 9_999_999, size=n)
        num = np.where(short, eight, seven).astype(str)
        return np.char.add(np.char.add(area_codes.astype(str), "-"), num).astype(object)

    # -- organisations ----------------------------------------------------------------------

    def company_names(self, rng: np.random.Generator, city_short: np.ndarray, industry: np.ndarray) -> np.ndarray:
        """Company names ``<city><trade name><industry suffix>``, e.g. 杭州鑫博科技有限公司.

        Names can repeat (as real ones do across cities); callers de-duplicate if needed.
        """
        n = len(city_short)
        pre = _choice(rng, self.company_prefixes, None, n)
        out = np.empty(n, dtype=object)
        u = rng.random(n)
        for ind, suffixes in _COMPANY_SUFFIXES.items():
            m = industry == ind
            if m.any():
                s = np.array(suffixes)
                out[m] = s[(u[m] * len(s)).astype(int)]
        out[out == None] = "有限公司"  # noqa: E711 - numpy elementwise
        return (city_short.astype(object) + pre.astype(object) + out).astype(object)

    def credit_codes(self, rng: np.random.Generator, city_code: np.ndarray) -> np.ndarray:
        """Unified social credit codes (18 characters with a valid check character)."""
        n = len(city_code)
        loc = _locale_module(self.locale)
        if loc is not None and hasattr(loc, "generate_credit_code"):
            return np.asarray(loc.generate_credit_code(rng, city_code.astype(str)), dtype=object)
        head = np.tile(np.array([9, 1]), (n, 1))  # 9 = 工商, 1 = 企业
        region = np.frombuffer(city_code.astype(str).astype("S6").tobytes(), dtype=np.uint8).reshape(n, 6) - 48
        org = rng.integers(0, 31, size=(n, 9))
        org[:, 8] = rng.integers(0, 10, size=n)
        first = np.concatenate([head, region.astype(np.int64), org], axis=1)
        chars = np.array(list(_USCC_CHARS))
        body = chars[first]
        text = np.array(["".join(r) for r in body], dtype=object)
        return (text + credit_code_check(first)).astype(object)


def _locale_module(locale: str):
    try:
        from simcrm import locales  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        return locales.get_locale(locale)
    except Exception:  # noqa: BLE001 - a sibling module still being written
        return None


def _provider_data(provider: str, names: set[str]) -> dict[str, Any] | None:
    """Literal class attributes ``names`` of Faker's provider ``provider`` (e.g. ``"person.zh_CN"``),
    read from its installed source without importing Faker (whose import discovers every locale,
    ≈0.1 s); ``None`` when the source is not found or an attribute is not a plain literal."""
    import ast
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec("faker")
        if spec is None or spec.origin is None:
            return None
        path = os.path.join(os.path.dirname(spec.origin), "providers", *provider.split("."), "__init__.py")
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        out: dict[str, Any] = {}
        for node in tree.body:
            if not (isinstance(node, ast.ClassDef) and node.name == "Provider"):
                continue
            for st in node.body:
                target = st.targets[0] if isinstance(st, ast.Assign) and len(st.targets) == 1 else getattr(st, "target", None)
                if not (isinstance(target, ast.Name) and target.id in names) or st.value is None:
                    continue
                v = st.value
                if isinstance(v, ast.Call) and getattr(v.func, "id", None) == "OrderedDict" and len(v.args) == 1 and not v.keywords:
                    out[target.id] = dict(ast.literal_eval(v.args[0]))
                else:
                    out[target.id] = ast.literal_eval(v)
    except (OSError, ValueError, SyntaxError, TypeError):
        return None
    return out if set(out) == names else None


def _faker_data() -> tuple[dict[str, Any], dict[str, Any]]:
    person_names = {"last_names", "first_names_male", "first_names_female", "last_romanized_names", "first_romanized_names"}
    person = _provider_data("person.zh_CN", person_names)
    company = _provider_data("company.zh_CN", {"company_prefixes"})
    if person is None or company is None:  # another layout of Faker: import it
        from faker.providers.company.zh_CN import Provider as Company
        from faker.providers.person.zh_CN import Provider as Person

        person = {k: getattr(Person, k) for k in person_names}
        company = {"company_prefixes": Company.company_prefixes}
    return person, company


@cache
def _zh_cn() -> Identities:
    person, company = _faker_data()
    last, last_p = _weighted(person["last_names"])
    return Identities(
        locale="zh_CN",
        last_names=last,
        last_p=last_p,
        first_male=np.array(list(person["first_names_male"])),
        first_female=np.array(list(person["first_names_female"])),
        company_prefixes=np.array(list(company["company_prefixes"])),
        roman_last=np.array(list(person["last_romanized_names"])),
        roman_first=np.array(list(person["first_romanized_names"])),
    )


#: locale → factory of its :class:`Identities`
LOCALES = {"zh_CN": _zh_cn}


def get_identities(locale: str = "zh_CN") -> Identities:
    """The :class:`Identities` of a locale (``ConfigError`` for one not yet supported)."""
    if locale not in LOCALES:
        from ..errors import ConfigError

        raise ConfigError(field="locale", value=locale, allowed=sorted(LOCALES), label="语言区域")
    return LOCALES[locale]()


def birth_dates(rng: np.random.Generator, n: int, lo: dt.date, hi: dt.date) -> np.ndarray:
    """Birth dates uniform in fixed bounds (never relative to the real clock)."""
    a = np.datetime64(lo, "D").astype(np.int64)
    b = np.datetime64(hi, "D").astype(np.int64)
    return rng.integers(a, b + 1, size=n).astype("datetime64[D]")
