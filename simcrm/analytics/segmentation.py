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
    "PYRAMID_LEVELS_FOUR",
    "PYRAMID_SHARES",
    "CLV_QUADRANTS",
    "HSBC_GRADES",
]

_EPS = 1e-12

#: Customer pyramid levels from the top down, as the course's textbook has them (第六章
#: “客户金字塔”: 关键客户 / 普通客户 / 小客户).
PYRAMID_LEVELS: tuple[str, ...] = ("关键客户", "普通客户", "小客户")
#: The four-tier variant (关键客户 split into VIP客户 and 主要客户).
PYRAMID_LEVELS_FOUR: tuple[str, ...] = ("VIP客户", "主要客户", "普通客户", "小客户")
#: Default share of customers in each level but the last, per variant: the three tiers follow
#: the 80/20 rule (关键客户 the top 20%, 普通客户 the next 30%, 小客户 the other half); the four
#: tiers are the usual 1% / 4% / 15% / 80%.
PYRAMID_SHARES: dict[tuple[str, ...], tuple[float, ...]] = {
    PYRAMID_LEVELS: (0.2, 0.3),
    PYRAMID_LEVELS_FOUR: (0.01, 0.04, 0.15),
}

#: CLV quadrant names keyed by (current value high?, potential value high?); 放弃型 is the
#: below-zero class (see :func:`clv_quadrant`), stored under (False, False).
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
    the result never depends on row order — with one exception: the largest value (and any
    value tied with it) is always A. A customer who alone holds more than 80% of the total is
    the firm's most important customer, not a B; without the exception the A class would be
    empty.

    Args:
        values: non-negative numbers (Series, list, array); total must be > 0.
        cutoffs: the (A, B) cumulative-share cut-offs, 0 < A < B ≤ 1.

    Returns:
        ``str`` Series of "A"/"B"/"C" aligned to the input index (a RangeIndex for lists).

    Example:
        >>> abc(pd.Series([50, 30, 10, 5, 5], index=list("pqrst"))).tolist()
        ['A', 'A', 'B', 'C', 'C']
        >>> abc([85, 10, 5]).tolist()
        ['A', 'B', 'C']
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
    top = v == v.max() if v.size else np.zeros(0, dtype=bool)
    cls = np.where((share <= a_cut + _EPS) | top, "A", np.where(share <= b_cut + _EPS, "B", "C"))
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
    shares: Sequence[float] | None = None,
    levels: Sequence[str] = PYRAMID_LEVELS,
) -> pd.DataFrame:
    """客户金字塔 (customer pyramid: 关键客户 / 普通客户 / 小客户 by profit).

    Customers are ranked by ``value_col`` descending — the customer's *value* (profit, i.e.
    :func:`~simcrm.analytics.financial_value`; revenue only if profit is unknown), never the
    number of orders; ``rank`` = 1 + the number of customers with a strictly higher value
    (ties share a rank). With the cumulative shares c1, c2, … of ``shares`` and n customers,
    a customer belongs to the first level i with rank ≤ ceil(ci·n), else to the last level.
    Default (three tiers): 关键客户 if rank ≤ ceil(20%·n), 普通客户 if rank ≤ ceil(50%·n),
    小客户 otherwise. The four-tier variant ``levels=PYRAMID_LEVELS_FOUR`` defaults to
    VIP客户 1%, 主要客户 4%, 普通客户 15%, 小客户 the rest.

    Ties go up together (a tied block reaching into a level belongs to it entirely).

    Args:
        customers: one row per customer.
        value_col: numeric profit (or revenue) column.
        shares: the share of customers in each level except the last (top down); default
            :data:`PYRAMID_SHARES` of ``levels`` (required for other level names).
        levels: names, one more than ``shares``.

    Returns:
        Copy of ``customers`` plus ``rank`` (int) and ``level`` (str).

    Example:
        >>> df = pd.DataFrame({"customer_id": range(1, 11),
        ...                    "profit": [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]})
        >>> customer_pyramid(df)["level"].tolist()
        ['关键客户', '关键客户', '普通客户', '普通客户', '普通客户', '小客户', '小客户', '小客户', '小客户', '小客户']
        >>> customer_pyramid(df, levels=PYRAMID_LEVELS_FOUR, shares=(0.1, 0.2, 0.3))["level"].tolist()
        ['VIP客户', '主要客户', '主要客户', '普通客户', '普通客户', '普通客户', '小客户', '小客户', '小客户', '小客户']
    """
    require_columns(customers, {value_col: "numeric"}, table="customers")
    levels = tuple(levels)
    if shares is None:
        if levels not in PYRAMID_SHARES:
            raise ConfigError(field="shares", value=None, allowed=f"{len(levels) - 1} 个比例（自定义层级名称时必须给出）",
                              reason="没有这些层级名称的默认比例")
        shares = PYRAMID_SHARES[levels]
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
    below_zero_on: str = "total",
) -> pd.DataFrame:
    """CLV 四象限 (current value × future value → 贵宾型/改进型/维持型/放弃型).

    The textbook's quadrant (邵兵家《客户关系管理》第4章, CLV 分析法) plots a customer's current
    value (historical profit) against their future value (expected future profit):

    1. 放弃型 (Below-Zero) first: customers whose value does **not cover the cost of serving
       them** — profit after service, communication and marketing costs below zero. By default
       the customer's whole CLV, ``current + potential < 0`` (``below_zero_on="total"``);
       ``"potential"`` tests the narrow CLV (future profit only), ``"current"`` the history.
       Values must therefore be *profits* (e.g. :func:`~simcrm.analytics.financial_value`),
       not revenues — a revenue is never below zero.
    2. Among the others, high ⇔ value **>** threshold; the thresholds default to the medians
       of the two columns over these customers (放弃型 excluded):
       贵宾型 (MVC, 最有价值客户) = high current, high potential; 改进型 (MGC, 最具成长性客户)
       = low current, high potential; 维持型 (普通客户: some value, but small prospects) = low
       potential, whatever the current value.

    Args:
        customers: one row per customer.
        current_col: current (historical) value, e.g. profit so far.
        potential_col: potential (future) value, e.g. expected profit of the coming years.
        current_threshold: cut-off for current value (default: median, 放弃型 excluded).
        potential_threshold: cut-off for potential value (default: median, 放弃型 excluded).
        names: override of :data:`CLV_QUADRANTS` (keys (current high, potential high);
            the 放弃型 name is the ``(False, False)`` entry).
        below_zero_on: ``"total"``, ``"potential"`` or ``"current"`` (see 1.).

    Returns:
        Copy of ``customers`` plus ``below_zero``, ``current_high``, ``potential_high`` (bool;
        both ``False`` for 放弃型) and ``quadrant``.

    Example:
        >>> df = pd.DataFrame({"current_value": [10, 1, 10, 1, -5],
        ...                    "potential_value": [9, 9, 2, 2, 1]})
        >>> clv_quadrant(df)["quadrant"].tolist()
        ['贵宾型', '改进型', '维持型', '维持型', '放弃型']
    """
    require_columns(customers, {current_col: "numeric", potential_col: "numeric"},
                    table="customers")
    if below_zero_on not in ("total", "potential", "current"):
        raise ConfigError(field="below_zero_on", value=below_zero_on,
                          allowed=["total", "potential", "current"], reason="不在可选值中")
    mapping = dict(CLV_QUADRANTS)
    if names:
        mapping.update(names)
    cur = customers[current_col].to_numpy(dtype="float64", na_value=np.nan)
    pot = customers[potential_col].to_numpy(dtype="float64", na_value=np.nan)
    basis = {"total": cur + pot, "potential": pot, "current": cur}[below_zero_on]
    below = basis < 0
    rest = ~below
    ct = (float(np.nanmedian(cur[rest])) if rest.any() else 0.0) if current_threshold is None \
        else float(current_threshold)
    pt = (float(np.nanmedian(pot[rest])) if rest.any() else 0.0) if potential_threshold is None \
        else float(potential_threshold)
    ch, ph = rest & (cur > ct), rest & (pot > pt)
    quadrant = np.where(below, mapping[(False, False)],
                        np.where(ph, np.where(ch, mapping[(True, True)], mapping[(False, True)]),
                                 mapping[(True, False)]))
    out = customers.copy()
    out["below_zero"] = below
    out["current_high"] = ch
    out["potential_high"] = ph
    out["quadrant"] = pd.array(quadrant.astype(object), dtype="str")
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
