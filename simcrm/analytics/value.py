"""客户满意与客户价值：满意度指数、SERVQUAL 差距、客户让渡价值、基于保持率的 CLV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simcrm import reference
from simcrm.errors import ConfigError

from ._validate import check_range, require_columns

__all__ = [
    "satisfaction_index",
    "servqual_gaps",
    "delivered_value",
    "clv_retention",
    "SERVQUAL_DIMENSIONS",
]

#: SERVQUAL dimensions: code → the textbook's Chinese name (survey columns are
#: ``exp_<code>``/``per_<code>``), read from the one place the terms live (reference data).
SERVQUAL_DIMENSIONS: dict[str, str] = {d["code"]: d["name"] for d in reference.SERVQUAL}


def satisfaction_index(perception: Any, expectation: Any) -> Any:
    """客户满意度 c = b / a (b 感知 perceived performance, a 期望 expectation).

    c > 1 satisfied (perception beats expectation), c = 1 just met, c < 1 dissatisfied.
    Works element-wise on numbers, arrays or Series (the Series index is kept).

    Args:
        perception: b, the perceived performance.
        expectation: a, the expectation (must be > 0).

    Returns:
        c, a float or an array/Series like the input.

    Example:
        >>> satisfaction_index(6, 5)
        1.2
        >>> satisfaction_index(pd.Series([4, 5]), pd.Series([5, 5])).tolist()
        [0.8, 1.0]
    """
    a = np.asarray(expectation, dtype="float64")
    if (a <= 0).any() or np.isnan(a).any():
        raise ConfigError(field="expectation", value=expectation, allowed="大于 0 的数",
                          reason="期望值必须为正")
    c = np.asarray(perception, dtype="float64") / a
    if isinstance(perception, pd.Series):
        return pd.Series(c, index=perception.index, name="satisfaction")
    if c.ndim == 0:
        return float(c)
    return c


def servqual_gaps(
    surveys: pd.DataFrame,
    dimensions: Sequence[str] | None = None,
    perception_prefix: str = "per_",
    expectation_prefix: str = "exp_",
    by: str | list[str] | None = None,
) -> pd.DataFrame:
    """SERVQUAL 差距分析 (gap = perception − expectation per dimension).

    For each dimension d (default 有形性 tangibles, 可靠性 reliability, 响应性 responsiveness,
    安全性 assurance, 关怀性 empathy) the survey has ``per_<d>`` (感知) and ``exp_<d>`` (期望)
    columns. Per dimension (and per ``by`` group): mean expectation, mean perception,
    ``gap`` = mean perception − mean expectation (negative = quality shortfall),
    ``negative_share`` = share of respondents whose own perception < expectation.

    Args:
        surveys: one row per survey response.
        dimensions: dimension codes (default :data:`SERVQUAL_DIMENSIONS`).
        perception_prefix: column prefix of perceptions.
        expectation_prefix: column prefix of expectations.
        by: optional grouping column(s), e.g. a customer segment.

    Returns:
        Long DataFrame: ``[by…, dimension, dimension_name, expectation, perception, gap,
        negative_share, n]`` sorted by group then gap (worst first).

    Example:
        >>> s = pd.DataFrame({"exp_reliability": [6, 7], "per_reliability": [5, 6],
        ...                   "exp_empathy": [5, 5], "per_empathy": [6, 5]})
        >>> servqual_gaps(s, dimensions=["reliability", "empathy"])[["dimension_name", "gap"]]
          dimension_name  gap
        0            可靠性 -1.0
        1            关怀性  0.5
    """
    dims = list(dimensions) if dimensions is not None else list(SERVQUAL_DIMENSIONS)
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    spec: dict[str, str] = dict.fromkeys(by_cols, "any")
    for d in dims:
        spec[expectation_prefix + d] = "numeric"
        spec[perception_prefix + d] = "numeric"
    require_columns(surveys, spec, table="surveys")
    rows = []
    groups = surveys.groupby(by_cols, sort=True) if by_cols else [((), surveys)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        for d in dims:
            e = g[expectation_prefix + d].astype("float64")
            p = g[perception_prefix + d].astype("float64")
            both = e.notna() & p.notna()
            rows.append({
                **dict(zip(by_cols, key)),
                "dimension": d,
                "dimension_name": SERVQUAL_DIMENSIONS.get(d, d),
                "expectation": float(e.mean()),
                "perception": float(p.mean()),
                "gap": float(p.mean() - e.mean()),
                "negative_share": float((p[both] < e[both]).mean()) if both.any() else np.nan,
                "n": int(both.sum()),
            })
    out = pd.DataFrame(rows)
    out = out.sort_values([*by_cols, "gap"], kind="stable").reset_index(drop=True)
    out["dimension"] = out["dimension"].astype("str")
    out["dimension_name"] = out["dimension_name"].astype("str")
    return out


def delivered_value(
    product: Any = 0.0,
    service: Any = 0.0,
    personnel: Any = 0.0,
    image: Any = 0.0,
    money: Any = 0.0,
    time: Any = 0.0,
    energy: Any = 0.0,
    psychic: Any = 0.0,
) -> dict[str, Any]:
    """客户让渡价值 CDV = 客户总价值 − 客户总成本 (Kotler's customer delivered value).

    * 客户总价值 total value = 产品价值 product + 服务价值 service + 人员价值 personnel
      + 形象价值 image;
    * 客户总成本 total cost = 货币成本 money + 时间成本 time + 体力成本 energy
      + 精神成本 psychic;
    * ``cdv`` = total value − total cost; ``ratio`` = total value / total cost (when cost > 0).

    All arguments may be numbers or equal-length arrays/Series (element-wise).

    Returns:
        dict with ``total_value``, ``total_cost``, ``cdv`` and ``ratio``.

    Example:
        >>> delivered_value(product=500, service=100, personnel=50, image=50,
        ...                 money=400, time=50, energy=30, psychic=20)
        {'total_value': 700.0, 'total_cost': 500.0, 'cdv': 200.0, 'ratio': 1.4}
    """
    def num(x: Any) -> Any:
        arr = np.asarray(x, dtype="float64")
        return float(arr) if arr.ndim == 0 else arr

    tv = num(np.add(np.add(product, service), np.add(personnel, image)))
    tc = num(np.add(np.add(money, time), np.add(energy, psychic)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num(np.where(np.asarray(tc) > 0, np.asarray(tv) / np.where(np.asarray(tc) > 0, tc, 1), np.nan))
    return {"total_value": tv, "total_cost": tc, "cdv": num(np.subtract(tv, tc)), "ratio": ratio}


def clv_retention(margin: float, retention: float, discount: float,
                  periods: int | None = None) -> float:
    """基于保持率的客户终身价值 (simple retention CLV, margin paid at period ends).

    A customer yields margin m in each period while retained; retention rate r per period,
    discount rate d per period; the first margin arrives at the end of period 1 only if the
    customer is retained (the "m·r" convention)::

        finite horizon n:   CLV = Σ_{t=1..n} m · r^t / (1+d)^t
        infinite horizon:   CLV = m · r / (1 + d − r)

    Args:
        margin: m, margin per period.
        retention: r in [0, 1) for the infinite horizon, [0, 1] with a finite ``periods``.
        discount: d ≥ 0.
        periods: n, or ``None`` for the infinite horizon.

    Returns:
        CLV as a float.

    Example:
        >>> round(clv_retention(100, 0.8, 0.1), 2)
        266.67
        >>> round(clv_retention(100, 0.8, 0.1, periods=2), 2)
        125.62
    """
    check_range(discount, "discount", 0, 10, "0 ≤ d")
    if periods is None:
        # the closed form needs r < 1 (otherwise the sum never ends)
        check_range(retention, "retention", 0, 1 - 1e-12, "0 ≤ r < 1（无限期公式）")
        return float(margin * retention / (1 + discount - retention))
    check_range(retention, "retention", 0, 1, "0 ≤ r ≤ 1")
    if not isinstance(periods, (int, np.integer)) or periods < 0:
        raise ConfigError(field="periods", value=periods, allowed="非负整数或 None",
                          reason="期数不对")
    t = np.arange(1, periods + 1)
    return float(np.sum(margin * retention**t / (1 + discount) ** t))
