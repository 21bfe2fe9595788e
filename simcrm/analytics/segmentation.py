"""区分客户：ABC 分析、帕累托（二八）、客户金字塔、CLV 四象限、汇丰 A–F 分级.

All rules are data the caller can override (cut-offs, shares, thresholds, names).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simcrm.errors import ConfigError

from ._validate import check_range, require_columns, require_numeric_array

__all__ = [
    "abc",
    "pareto_share",
    "customer_pyramid",
    "clv_quadrant",
    "hsbc_grade",
    "PYRAMID_LEVELS",
    "CLV_QUADRANTS",
    "HSBC_GRADES",
]

_EPS = 1e-12

#: Customer pyramid levels from the top down.
PYRAMID_LEVELS: tuple[str, ...] = ("VIP客户", "主要客户", "普通客户", "小客户")

#: CLV quadrant names keyed by (current value high?, potential value high?).
CLV_QUADRANTS: dict[tuple[bool, bool], str] = {
    (True, True): "贵宾型",
    (False, True): "改进型",
    (True, False): "维持型",
    (False, False): "放弃型",
}

#: HSBC-style grades as the textbook's case describes them (邵兵家《客户关系管理》第4章).
HSBC_GRADES: dict[str, str] = {
    "A": "顶级客户（高忠诚度，高价值）",
    "B": "大中型客户（低忠诚度，高价值）",
    "C": "大中型客户（高忠诚度，低价值）",
    "D": "小型客户（低忠诚度，低价值）",
    "E": "非活跃客户",
    "F": "可能客户",
}


def _non_negative(values: Any, name: str) -> pd.Series:
    s = require_numeric_array(values, name)
    if s.isna().any() or (s < 0).any():
        raise ConfigError(field=name, value="负数或缺失值", allowed="非负且无缺失的数值",
                          reason="ABC/帕累托分析要求非负数值")
    if len(s) and s.sum() <= 0:
        raise ConfigError(field=name, value=float(s.sum()), allowed="合计大于 0",
                          reason="合计为 0，无法计算占比")
    return s


def abc(values: Any, cutoffs: tuple[float, float] = (0.8, 0.95)) -> pd.Series:
    """ABC 分类 (ABC classification by cumulative share of the total).

    Sort descending; an item's *cumulative share* is the sum of every value **greater than or
    equal to it** divided by the total — i.e. counted after adding it, and after adding every
    item tied with it. Then A ⇔ cumulative share ≤ ``cutoffs[0]``, B ⇔ ≤ ``cutoffs[1]``,
    C otherwise (a tolerance of 1e-12 absorbs float rounding).

    Ties: equal values always get the same class. A tied block that straddles a cut-off is
    placed entirely in the lower class (its cumulative share is taken at the block's end), so
    the result never depends on row order. Consequence of the rule: a single item holding more
    than 80% of the total is B, not A.

    Args:
        values: non-negative numbers (Series, list, array); total must be > 0.
        cutoffs: the (A, B) cumulative-share cut-offs, 0 < A < B ≤ 1.

    Returns:
        ``str`` Series of "A"/"B"/"C" aligned to the input index (a RangeIndex for lists).

    Example:
        >>> abc(pd.Series([50, 30, 10, 5, 5], index=list("pqrst"))).tolist()
        ['A', 'A', 'B', 'C', 'C']
    """
    a_cut, b_cut = cutoffs
    check_range(a_cut, "cutoffs[0]", 0, 1, "0 到 1 之间")
    check_range(b_cut, "cutoffs[1]", a_cut, 1, "不小于 A 类界限且不大于 1")
    s = _non_negative(values, "values")
    v = s.to_numpy()
    order = np.argsort(-v, kind="stable")
    sorted_v = v[order]
    cum = np.cumsum(sorted_v)
    # cumulative total at the END of each tied block, for every sorted position
    block_end = np.r_[sorted_v[1:] != sorted_v[:-1], True]
    end_idx = np.flatnonzero(block_end)
    ends = np.repeat(end_idx, np.diff(np.r_[-1, end_idx]))
    share_sorted = cum[ends] / cum[-1] if v.size else cum
    share = np.empty_like(share_sorted)
    share[order] = share_sorted
    cls = np.where(share <= a_cut + _EPS, "A", np.where(share <= b_cut + _EPS, "B", "C"))
    return pd.Series(cls, index=s.index, dtype="str", name="abc")


def pareto_share(values: Any, top: float = 0.2) -> float:
    """帕累托占比：前 top 比例的项目占总量的份额 (share of the total held by the top items).

    The number of top items is ``k = ceil(top × n)`` (at least 1; a 1e-9 tolerance keeps
    e.g. 0.1 × 30 at 3), the k largest values are summed and divided by the total. Ceil is
    used so that "the top 20%" of 7 customers means 2 customers, never 1.

    Args:
        values: non-negative numbers; total must be > 0.
        top: fraction of items, 0 < top ≤ 1.

    Returns:
        Share in [0, 1].

    Example:
        >>> pareto_share([100, 50, 20, 10, 10, 5, 5, 0, 0, 0], top=0.2)
        0.75
    """
    check_range(top, "top", 1e-12, 1, "0 到 1 之间（不含 0）")
    s = _non_negative(values, "values")
    n = len(s)
    k = max(1, math.ceil(top * n - 1e-9))
    v = np.sort(s.to_numpy())[::-1]
    return float(v[:k].sum() / v.sum())


def _rank_desc_min(v: np.ndarray) -> np.ndarray:
    """1 + number of strictly greater values."""
    sorted_desc = np.sort(v)[::-1]
    return np.searchsorted(-sorted_desc, -v, side="left") + 1


def customer_pyramid(
    customers: pd.DataFrame,
    value_col: str = "profit",
    shares: Sequence[float] = (0.01, 0.04, 0.15),
    levels: Sequence[str] = PYRAMID_LEVELS,
) -> pd.DataFrame:
    """客户金字塔 (customer pyramid: VIP / 主要 / 普通 / 小客户 by profit or revenue).

    Customers are ranked by ``value_col`` descending; ``rank`` = 1 + the number of customers
    with a strictly higher value (ties share a rank). With cumulative shares
    s1 = 1%, s2 = 1% + 4% = 5%, s3 = 20% and n customers, a customer is

    * VIP客户 if rank ≤ ceil(s1·n), 主要客户 if rank ≤ ceil(s2·n),
      普通客户 if rank ≤ ceil(s3·n), 小客户 otherwise.

    Ties go up together (a tied block reaching into a level belongs to it entirely).

    Args:
        customers: one row per customer.
        value_col: numeric profit or revenue column.
        shares: the share of customers in each level except the last (top down).
        levels: names, one more than ``shares``.

    Returns:
        Copy of ``customers`` plus ``rank`` (int) and ``level`` (str).

    Example:
        >>> df = pd.DataFrame({"customer_id": range(1, 11),
        ...                    "profit": [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]})
        >>> customer_pyramid(df, shares=(0.1, 0.2, 0.3))["level"].tolist()
        ['VIP客户', '主要客户', '主要客户', '普通客户', '普通客户', '普通客户', '小客户', '小客户', '小客户', '小客户']
    """
    require_columns(customers, {value_col: "numeric"}, table="customers")
    if len(levels) != len(shares) + 1:
        raise ConfigError(field="levels", value=list(levels),
                          allowed=f"{len(shares) + 1} 个名称（比 shares 多 1 个）",
                          reason="层级名称个数不对")
    cum = np.cumsum(np.asarray(shares, dtype="float64"))
    if (np.asarray(shares) < 0).any() or (cum.size and cum[-1] > 1 + 1e-9):
        raise ConfigError(field="shares", value=list(shares), allowed="非负且合计不超过 1",
                          reason="比例不对")
    v = customers[value_col].to_numpy(dtype="float64", na_value=np.nan)
    v = np.where(np.isnan(v), -np.inf, v)
    n = v.size
    rank = _rank_desc_min(v)
    limits = np.array([math.ceil(c * n - 1e-9) for c in cum])
    level_idx = np.searchsorted(limits, rank, side="left")
    out = customers.copy()
    out["rank"] = rank.astype("int64")
    out["level"] = pd.array(np.asarray(levels, dtype=object)[level_idx], dtype="str")
    return out


def clv_quadrant(
    customers: pd.DataFrame,
    current_col: str = "current_value",
    potential_col: str = "potential_value",
    current_threshold: float | None = None,
    potential_threshold: float | None = None,
    names: dict[tuple[bool, bool], str] | None = None,
) -> pd.DataFrame:
    """CLV 四象限 (current value × potential value → 贵宾型/改进型/维持型/放弃型).

    High ⇔ value **>** threshold; the thresholds default to the medians of the two columns.
    贵宾型 (MVC) = high current, high potential; 改进型 (MGC) = low current, high potential;
    维持型 = high current, low potential; 放弃型 (below-zero) = low, low.

    Args:
        customers: one row per customer.
        current_col: current (historical) value, e.g. profit so far.
        potential_col: potential (future) value, e.g. predicted CLV.
        current_threshold: cut-off for current value (default: median).
        potential_threshold: cut-off for potential value (default: median).
        names: override of :data:`CLV_QUADRANTS`.

    Returns:
        Copy of ``customers`` plus ``current_high``, ``potential_high`` and ``quadrant``.

    Example:
        >>> df = pd.DataFrame({"current_value": [10, 1, 10, 1], "potential_value": [9, 9, 2, 2]})
        >>> clv_quadrant(df)["quadrant"].tolist()
        ['贵宾型', '改进型', '维持型', '放弃型']
    """
    require_columns(customers, {current_col: "numeric", potential_col: "numeric"},
                    table="customers")
    mapping = dict(CLV_QUADRANTS)
    if names:
        mapping.update(names)
    cur = customers[current_col].to_numpy(dtype="float64", na_value=np.nan)
    pot = customers[potential_col].to_numpy(dtype="float64", na_value=np.nan)
    ct = float(np.nanmedian(cur)) if current_threshold is None else float(current_threshold)
    pt = float(np.nanmedian(pot)) if potential_threshold is None else float(potential_threshold)
    ch, ph = cur > ct, pot > pt
    out = customers.copy()
    out["current_high"] = ch
    out["potential_high"] = ph
    out["quadrant"] = pd.array([mapping[(a, b)] for a, b in zip(ch.tolist(), ph.tolist())],
                               dtype="str")
    return out


def hsbc_grade(
    customers: pd.DataFrame,
    value_col: str = "profit",
    loyalty_col: str = "loyalty",
    recency_col: str | None = None,
    inactive_days: int = 365,
    value_threshold: float | None = None,
    loyalty_threshold: float | None = None,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """汇丰银行式 A–F 客户分级 (HSBC-style grading as in the textbook's case).

    The case (邵兵家《客户关系管理》第4章, 汇丰银行的客户区分) grades customers as
    A 顶级 (高忠诚度，高价值), B 大中型 (低忠诚度，高价值), C 大中型 (高忠诚度，低价值),
    D 小型 (低忠诚度，低价值), E 非活跃客户, F 可能客户. Rules applied in this order:

    1. F — no value yet: ``value_col`` is missing (NaN), i.e. a prospect who never bought;
    2. E — inactive: ``recency_col`` given and its days > ``inactive_days`` (default 365);
    3. A–D among the rest: value high ⇔ ``value_col`` > ``value_threshold`` (profit
       contribution; default the median over these customers); loyalty high ⇔
       ``loyalty_col`` > ``loyalty_threshold`` (e.g. purchase frequency, years as customer,
       share of wallet; default median). A = high/high, B = high value/low loyalty,
       C = low value/high loyalty, D = low/low.

    Args:
        customers: one row per customer.
        value_col: profit contribution column (NaN = never bought).
        loyalty_col: loyalty measure column.
        recency_col: optional days-since-last-purchase column.
        inactive_days: recency above which a customer is E.
        value_threshold: cut-off for value (default: median of graded customers).
        loyalty_threshold: cut-off for loyalty (default: median of graded customers).
        names: override of :data:`HSBC_GRADES` descriptions.

    Returns:
        Copy of ``customers`` plus ``grade`` ("A"…"F") and ``grade_name``.

    Example:
        >>> df = pd.DataFrame({"profit": [900, 800, 10, 20, None, 500],
        ...                    "loyalty": [10, 1, 9, 2, 0, 8],
        ...                    "recency_days": [5, 30, 20, 40, None, 400]})
        >>> hsbc_grade(df, recency_col="recency_days")["grade"].tolist()
        ['A', 'B', 'C', 'D', 'F', 'E']
    """
    spec = {value_col: "numeric", loyalty_col: "numeric"}
    if recency_col is not None:
        spec[recency_col] = "numeric"
    require_columns(customers, spec, table="customers")
    desc = dict(HSBC_GRADES)
    if names:
        desc.update(names)
    value = customers[value_col].to_numpy(dtype="float64", na_value=np.nan)
    loyalty = customers[loyalty_col].to_numpy(dtype="float64", na_value=np.nan)
    prospect = np.isnan(value)
    inactive = np.zeros(value.size, dtype=bool)
    if recency_col is not None:
        rec = customers[recency_col].to_numpy(dtype="float64", na_value=np.nan)
        inactive = ~prospect & (rec > inactive_days)
    graded = ~prospect & ~inactive
    if value_threshold is None:
        value_threshold = float(np.median(value[graded])) if graded.any() else 0.0
    if loyalty_threshold is None:
        loyalty_threshold = float(np.nanmedian(loyalty[graded])) if graded.any() else 0.0
    vh = value > value_threshold
    lh = loyalty > loyalty_threshold
    grade = np.select(
        [prospect, inactive, vh & lh, vh & ~lh, ~vh & lh],
        ["F", "E", "A", "B", "C"],
        default="D",
    )
    out = customers.copy()
    out["grade"] = pd.array(grade.astype(object), dtype="str")
    out["grade_name"] = pd.array([desc[g] for g in grade.tolist()], dtype="str")
    return out
