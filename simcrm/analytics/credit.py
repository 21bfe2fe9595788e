"""客户信用分析：5C 评分、回款行为（逾期率、平均逾期天数、DSO）、信用额度建议."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simcrm.errors import ConfigError

from ._receivables import settle
from ._validate import as_timestamp, require_columns, require_frame

__all__ = [
    "credit_5c",
    "credit_behaviour",
    "credit_limit",
    "FIVE_C",
    "CREDIT_5C_GRADES",
    "BEHAVIOUR_GRADES",
    "CREDIT_LIMIT_FACTORS",
]

#: The five Cs: code → Chinese name.
FIVE_C: dict[str, str] = {
    "character": "品质",
    "capacity": "能力",
    "capital": "资本",
    "collateral": "抵押",
    "conditions": "条件",
}

#: 5C grade cut-offs on the 0–100 score: (lowest score, grade), best first.
CREDIT_5C_GRADES: tuple[tuple[float, str], ...] = ((90, "AAA"), (80, "AA"), (70, "A"),
                                                   (60, "B"), (-np.inf, "C"))

#: Behaviour grades: (max overdue ratio, max average days late, grade), best first; else "D".
BEHAVIOUR_GRADES: tuple[tuple[float, float, str], ...] = ((0.1, 5, "A"), (0.3, 15, "B"),
                                                          (0.5, 30, "C"))

#: Credit-limit multipliers per grade (5C grades and behaviour grades).
CREDIT_LIMIT_FACTORS: dict[str, float] = {"AAA": 1.5, "AA": 1.2, "A": 1.0, "B": 0.6,
                                          "C": 0.0, "D": 0.0}


def credit_5c(
    ratings: pd.DataFrame,
    weights: dict[str, float] | None = None,
    columns: dict[str, str] | None = None,
    scale: tuple[float, float] = (0, 100),
    grades: Sequence[tuple[float, str]] = CREDIT_5C_GRADES,
) -> pd.DataFrame:
    """5C 信用评分 (character 品质, capacity 能力, capital 资本, collateral 抵押, conditions 条件).

    Each C is rated on ``scale`` (default 0–100; e.g. ``(1, 5)`` for a 5-point rating) and
    rescaled to 0–100: ``100 · (rating − low) / (high − low)``. The score is the weighted mean
    ``Σ w_c · s_c / Σ w_c`` (weights default equal). Grade (default cut-offs, overridable):
    AAA ≥ 90, AA ≥ 80, A ≥ 70, B ≥ 60, C < 60.

    Args:
        ratings: one row per customer with the five rating columns.
        weights: weight per C code (missing codes weigh 0 when a dict is given).
        columns: C code → column name (default: the codes themselves).
        scale: (low, high) of the ratings.
        grades: ``(lowest score, grade)`` pairs, best first.

    Returns:
        Copy of ``ratings`` plus ``score`` (0–100) and ``grade``.

    Example:
        >>> r = pd.DataFrame({"character": [90, 50], "capacity": [80, 60], "capital": [100, 40],
        ...                   "collateral": [70, 50], "conditions": [90, 50]})
        >>> credit_5c(r)[["score", "grade"]]
           score grade
        0   86.0    AA
        1   50.0     C
    """
    cols = {c: c for c in FIVE_C}
    if columns:
        cols.update(columns)
    require_columns(ratings, {cols[c]: "numeric" for c in FIVE_C}, table="ratings")
    w = {c: 1.0 for c in FIVE_C} if weights is None else {c: float(weights.get(c, 0.0)) for c in FIVE_C}
    unknown = set(weights or {}) - set(FIVE_C)
    if unknown or sum(w.values()) <= 0 or min(w.values()) < 0:
        raise ConfigError(field="weights", value=weights, allowed=f"键为 {list(FIVE_C)} 的非负权重，合计大于 0",
                          reason="权重不对")
    low, high = scale
    if high <= low:
        raise ConfigError(field="scale", value=scale, allowed="(最低分, 最高分)，最高分大于最低分",
                          reason="量表不对")
    total = sum(w.values())
    score = sum(w[c] * (ratings[cols[c]].astype("float64") - low) / (high - low) * 100 for c in FIVE_C) / total
    out = ratings.copy()
    out["score"] = score.round(10)
    out["grade"] = pd.array([_grade(s, grades) for s in out["score"].tolist()], dtype="str")
    return out


def _grade(score: float, grades: Sequence[tuple[float, str]]) -> str:
    if np.isnan(score):
        return "无评分"
    for cut, g in grades:
        if score >= cut:
            return g
    return grades[-1][1]


def credit_behaviour(
    plans: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: Any,
    customer_col: str = "customer_id",
    order_col: str = "order_id",
    due_col: str = "due_date",
    plan_amount_col: str = "amount",
    paid_date_col: str = "paid_date",
    paid_amount_col: str = "amount",
    orders: pd.DataFrame | None = None,
    window_days: int = 365,
    grades: Sequence[tuple[float, float, str]] = BEHAVIOUR_GRADES,
) -> pd.DataFrame:
    """回款信用行为 (payment behaviour per customer from payment plans and payments).

    Payments are matched to instalments per order, oldest due date first (FIFO), counting only
    payments on or before ``as_of``; an instalment is settled on the payment date when the
    order's cumulative payments cover it. For instalments due on or before ``as_of``:

    * ``due_instalments`` = their number;
    * ``overdue_instalments`` = settled after the due date, or not settled and due before
      ``as_of``; ``overdue_ratio`` = overdue / due;
    * ``avg_days_late`` = mean over due instalments of days late (settled: settled − due,
      at least 0; unsettled: as_of − due, at least 0);
    * ``outstanding`` = unpaid amount of the due instalments;
    * ``dso`` (days sales outstanding) = outstanding / (amount of instalments due in the last
      ``window_days`` days) × ``window_days`` (NaN when nothing fell due in the window);
    * ``grade``: first (max ratio, max days, grade) rule met, default A (≤10%, ≤5 d),
      B (≤30%, ≤15 d), C (≤50%, ≤30 d), else D; "无记录" when nothing is due yet.

    Args:
        plans: payment_plan rows (order_id, instalment, due_date, amount[, customer_id]).
        payments: payment rows (order_id, paid_date, amount).
        as_of: reference date.
        customer_col: customer id column in ``plans`` (or in ``orders``).
        order_col: order id column in plans and payments.
        due_col: instalment due date.
        plan_amount_col: instalment amount.
        paid_date_col: payment date.
        paid_amount_col: payment amount.
        orders: optional sales_order frame (``id``, ``customer_id``) when plans lack the
            customer column.
        window_days: DSO window.
        grades: overridable grade rules.

    Returns:
        One row per customer: ``[customer_col, due_instalments, overdue_instalments,
        overdue_ratio, avg_days_late, outstanding, dso, grade]``.

    Example:
        >>> plans = pd.DataFrame({"order_id": [1, 1], "customer_id": [7, 7],
        ...                       "due_date": pd.to_datetime(["2025-01-31", "2025-02-28"]),
        ...                       "amount": [100.0, 100.0]})
        >>> pays = pd.DataFrame({"order_id": [1], "paid_date": pd.to_datetime(["2025-02-10"]),
        ...                      "amount": [100.0]})
        >>> credit_behaviour(plans, pays, as_of="2025-03-10")
           customer_id  due_instalments  overdue_instalments  overdue_ratio  avg_days_late  outstanding    dso grade
        0            7                2                    2            1.0           10.0        100.0  182.5     D
    """
    ts = as_timestamp(as_of, "as_of")
    plans = _with_customer(plans, orders, customer_col, order_col)
    s = settle(plans, payments, ts, order_col, due_col, plan_amount_col, paid_date_col,
               paid_amount_col, extra_cols=[customer_col])
    due = s[s["due"] <= ts].copy()
    late_days = np.where(
        due["settled_at"].notna(),
        (due["settled_at"] - due["due"]).dt.days,
        (ts - due["due"]).dt.days,
    ).astype("float64")
    due["late_days"] = np.clip(late_days, 0, None)
    due["overdue"] = due["late_days"] > 0
    due["recent"] = np.where(due["due"] > ts - pd.Timedelta(days=window_days), due["amount"], 0.0)
    customers = pd.Index(pd.unique(s[customer_col]), name=customer_col).sort_values()
    g = due.groupby(customer_col, sort=True)
    out = pd.DataFrame(index=customers)
    out["due_instalments"] = g.size().reindex(customers).fillna(0).astype("int64")
    out["overdue_instalments"] = g["overdue"].sum().reindex(customers).fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["overdue_ratio"] = out["overdue_instalments"] / out["due_instalments"].where(out["due_instalments"] > 0)
    out["avg_days_late"] = g["late_days"].mean().reindex(customers)
    out["outstanding"] = g["outstanding"].sum().reindex(customers).fillna(0.0)
    recent = g["recent"].sum().reindex(customers)
    out["dso"] = out["outstanding"] / recent.where(recent > 0) * window_days
    out["grade"] = pd.array(
        [_behaviour_grade(r, d, grades) for r, d in zip(out["overdue_ratio"], out["avg_days_late"])],
        dtype="str",
    )
    return out.reset_index()


def _with_customer(plans: pd.DataFrame, orders: pd.DataFrame | None, customer_col: str,
                   order_col: str) -> pd.DataFrame:
    require_frame(plans, "plans")
    if customer_col in plans.columns or orders is None:
        return plans
    require_columns(orders, {"id": "any", customer_col: "any"}, table="orders")
    mapping = pd.Series(orders[customer_col].to_numpy(), index=orders["id"].to_numpy())
    return plans.assign(**{customer_col: plans[order_col].map(mapping)})


def _behaviour_grade(ratio: float, days: float, grades: Sequence[tuple[float, float, str]]) -> str:
    if np.isnan(ratio):
        return "无记录"
    for max_ratio, max_days, g in grades:
        if ratio <= max_ratio + 1e-12 and days <= max_days + 1e-12:
            return g
    return "D"


def credit_limit(
    customers: pd.DataFrame,
    sales_col: str = "annual_sales",
    grade_col: str = "grade",
    terms_days: float = 30,
    net_worth_col: str | None = None,
    net_worth_ratio: float = 0.1,
    factors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """信用额度建议 (suggested credit limit).

    ``base = annual_sales × terms_days / 365`` — the receivable that normal trading on the
    payment terms creates — times a grade factor (default AAA 1.5, AA 1.2, A 1.0, B 0.6,
    C/D 0; unknown grades 0)::

        credit_limit = base × factor[grade]            (capped at net_worth × net_worth_ratio
                                                         when ``net_worth_col`` is given)

    Args:
        customers: one row per customer.
        sales_col: expected (or last year's) annual sales to the customer.
        grade_col: credit grade column (from :func:`credit_5c` or :func:`credit_behaviour`).
        terms_days: payment terms in days.
        net_worth_col: optional net worth / registered capital column for the cap.
        net_worth_ratio: share of net worth allowed as credit.
        factors: override of :data:`CREDIT_LIMIT_FACTORS`.

    Returns:
        Copy of ``customers`` plus ``base_limit`` and ``credit_limit``.

    Example:
        >>> df = pd.DataFrame({"annual_sales": [365_000, 730_000], "grade": ["AA", "B"]})
        >>> credit_limit(df)["credit_limit"].tolist()
        [36000.0, 36000.0]
    """
    spec = {sales_col: "numeric", grade_col: "any"}
    if net_worth_col:
        spec[net_worth_col] = "numeric"
    require_columns(customers, spec, table="customers")
    f = dict(CREDIT_LIMIT_FACTORS)
    if factors:
        f.update(factors)
    base = customers[sales_col].astype("float64") * terms_days / 365
    limit = base * customers[grade_col].map(f).astype("float64").fillna(0.0)
    if net_worth_col:
        limit = np.minimum(limit, customers[net_worth_col].astype("float64") * net_worth_ratio)
    out = customers.copy()
    out["base_limit"] = base.round(2)
    out["credit_limit"] = limit.round(2)
    return out
