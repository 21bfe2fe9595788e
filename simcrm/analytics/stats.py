"""统计分析：分布、贡献度、增长率、应收账款账龄、数据质量."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ._receivables import settle
from ._validate import as_datetime, as_timestamp, check_choice, require_columns, require_frame

__all__ = ["distribution", "contribution", "growth", "receivables_aging", "data_quality",
           "AGING_BUCKETS"]

#: Aging buckets: (label, lowest days overdue, highest days overdue).
AGING_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("0-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), (">90", 91, np.inf))


def _cols(by: str | list[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def distribution(df: pd.DataFrame, by: str | list[str], value: str | None = None) -> pd.DataFrame:
    """分布统计 (count and share per group, optionally the summed value).

    ``count`` = rows per group, ``share`` = count / all rows; with ``value``: ``value`` =
    sum of that column per group and ``value_share`` = its share of the total. Sorted by
    ``value`` (if given) else ``count``, descending; ties by the group key.

    Example:
        >>> df = pd.DataFrame({"industry": ["制造业", "教育", "制造业", "金融业"],
        ...                    "amount": [10.0, 50.0, 30.0, 10.0]})
        >>> distribution(df, "industry", value="amount")
          industry  count  share  value  value_share
        0       教育      1   0.25   50.0          0.5
        1      制造业      2   0.50   40.0          0.4
        2      金融业      1   0.25   10.0          0.1
    """
    keys = _cols(by)
    spec = dict.fromkeys(keys, "any")
    if value:
        spec[value] = "numeric"
    require_columns(df, spec)
    g = df.groupby(keys, sort=True, dropna=False)
    out = g.size().rename("count").to_frame()
    out["share"] = out["count"] / max(len(df), 1)
    if value:
        out["value"] = g[value].sum()
        total = out["value"].sum()
        out["value_share"] = out["value"] / total if total else np.nan
    sort_col = "value" if value else "count"
    out = out.reset_index().sort_values([sort_col, *keys], ascending=[False] + [True] * len(keys),
                                        kind="stable")
    return out.reset_index(drop=True)


def contribution(df: pd.DataFrame, by: str | list[str], amount_col: str) -> pd.DataFrame:
    """贡献度分析 (amount, share, cumulative share and rank per group).

    Groups sorted by amount descending (ties by key); ``share`` = amount / total,
    ``cum_share`` = running sum of share, ``rank`` = 1 + number of groups with a strictly
    larger amount.

    Example:
        >>> df = pd.DataFrame({"product": ["a", "b", "a", "c"], "amount": [30, 50, 10, 10]})
        >>> contribution(df, "product", "amount")
          product  amount  share  cum_share  rank
        0       b      50    0.5        0.5     1
        1       a      40    0.4        0.9     2
        2       c      10    0.1        1.0     3
    """
    keys = _cols(by)
    require_columns(df, {**dict.fromkeys(keys, "any"), amount_col: "numeric"})
    out = df.groupby(keys, sort=True, dropna=False)[amount_col].sum().rename("amount").reset_index()
    out = out.sort_values(["amount", *keys], ascending=[False] + [True] * len(keys), kind="stable")
    total = out["amount"].sum()
    out["share"] = out["amount"] / total if total else np.nan
    out["cum_share"] = out["share"].cumsum()
    out["rank"] = out["amount"].rank(method="min", ascending=False).astype("int64")
    return out.reset_index(drop=True)


_FREQ = {"Q": ("Q", 4), "M": ("M", 12), "Y": ("Y", 1)}


def growth(df: pd.DataFrame, date_col: str, amount_col: str, freq: str = "Q",
           by: str | list[str] | None = None) -> pd.DataFrame:
    """增长率分析 (period amounts with period-on-period growth 环比 and year-on-year 同比).

    Amounts are summed per calendar period ("Q" quarter, "M" month, "Y" year); missing periods
    between the first and last are filled with 0. ``previous`` = amount of the preceding
    period, ``growth_rate`` = (amount − previous) / previous (环比, NaN when previous is 0 or
    absent); ``yoy_previous`` = amount in the same period a year earlier and ``yoy_rate`` =
    (amount − yoy_previous) / yoy_previous (同比; for "Y" it equals the growth rate).

    Example:
        >>> df = pd.DataFrame({"d": pd.to_datetime(["2024-01-05", "2024-04-02", "2024-05-01",
        ...                                         "2025-01-09"]), "amt": [100, 50, 100, 150]})
        >>> growth(df, "d", "amt")[["period", "amount", "growth_rate", "yoy_rate"]]  # doctest: +NORMALIZE_WHITESPACE
          period  amount  growth_rate  yoy_rate
        0 2024Q1     100          NaN       NaN
        1 2024Q2     150          0.5       NaN
        2 2024Q3       0         -1.0       NaN
        3 2024Q4       0          NaN       NaN
        4 2025Q1     150          NaN       0.5
    """
    check_choice(freq, "freq", _FREQ)
    keys = [] if by is None else _cols(by)
    require_columns(df, {date_col: "datetime", amount_col: "numeric", **dict.fromkeys(keys, "any")})
    code, lag = _FREQ[freq]
    period = as_datetime(df[date_col], date_col).dt.to_period(code)
    frame = pd.DataFrame({"period": period, "amount": df[amount_col].to_numpy(),
                          **{k: df[k].to_numpy() for k in keys}})
    parts = []
    groups = frame.groupby(keys, sort=True) if keys else [((), frame)]
    for key, g in groups:
        s = g.groupby("period")["amount"].sum()
        full = pd.period_range(s.index.min(), s.index.max(), freq=code)
        s = s.reindex(full, fill_value=0)
        part = pd.DataFrame({"period": full.astype(str), "amount": s.to_numpy()})
        part["previous"] = s.shift(1).to_numpy()
        part["yoy_previous"] = s.shift(lag).to_numpy()
        for k, v in zip(keys, key if isinstance(key, tuple) else (key,)):
            part.insert(0, k, v)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        prev = out["previous"].where(out["previous"] != 0)
        yprev = out["yoy_previous"].where(out["yoy_previous"] != 0)
        out["growth_rate"] = (out["amount"] - prev) / prev
        out["yoy_rate"] = (out["amount"] - yprev) / yprev
    out["period"] = out["period"].astype("str")
    return out[[*keys, "period", "amount", "previous", "growth_rate", "yoy_previous", "yoy_rate"]]


def receivables_aging(
    plans: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: Any,
    by: str | None = "customer_id",
    order_col: str = "order_id",
    due_col: str = "due_date",
    plan_amount_col: str = "amount",
    paid_date_col: str = "paid_date",
    paid_amount_col: str = "amount",
) -> pd.DataFrame:
    """应收账款账龄分析 (receivables aging of overdue payment-plan instalments).

    Exactly: payments with ``paid_date <= as_of`` are matched to the instalments of the same
    order, oldest due date first (FIFO, whatever ``plan_id`` says). An instalment is *past
    due* when ``due_date < as_of`` and its outstanding amount (instalment amount − matched
    payments) is > 0; ``days_overdue = (as_of − due_date).days`` (≥ 1). Its outstanding
    amount goes to bucket 0-30 (1–30 days), 31-60, 61-90 or >90. Instalments not yet due are
    reported separately as ``not_due``.

    Args:
        plans: payment_plan rows (order_id, due_date, amount, plus ``by`` if given).
        payments: payment rows (order_id, paid_date, amount).
        as_of: aging date.
        by: grouping column in ``plans`` (e.g. customer_id, owner_id) or ``None`` for one
            total row.
        order_col, due_col, plan_amount_col, paid_date_col, paid_amount_col: column names.

    Returns:
        One row per group: ``[by, not_due, 0-30, 31-60, 61-90, >90, total_overdue]``.

    Example:
        >>> plans = pd.DataFrame({"order_id": [1, 1, 2], "customer_id": [5, 5, 6],
        ...                       "due_date": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-05-01"]),
        ...                       "amount": [100.0, 100.0, 80.0]})
        >>> pays = pd.DataFrame({"order_id": [1], "paid_date": pd.to_datetime(["2025-01-20"]),
        ...                      "amount": [150.0]})
        >>> receivables_aging(plans, pays, as_of="2025-04-15")
           customer_id  not_due  0-30  31-60  61-90  >90  total_overdue
        0            5      0.0   0.0   50.0    0.0  0.0           50.0
        1            6     80.0   0.0    0.0    0.0  0.0            0.0
    """
    ts = as_timestamp(as_of, "as_of")
    extra = [by] if by else []
    s = settle(plans, payments, ts, order_col, due_col, plan_amount_col, paid_date_col,
               paid_amount_col, extra_cols=extra)
    days = (ts - s["due"]).dt.days.to_numpy()
    labels = ["not_due"] + [b[0] for b in AGING_BUCKETS]
    bucket = np.full(len(s), "not_due", dtype=object)
    for label, lo, hi in AGING_BUCKETS:
        bucket[(days >= lo) & (days <= hi)] = label
    s["bucket"] = bucket
    key = by if by else "_all"
    if not by:
        s["_all"] = "合计"
    table = s.pivot_table(index=key, columns="bucket", values="outstanding", aggfunc="sum",
                          fill_value=0.0, observed=False)
    table = table.reindex(columns=labels, fill_value=0.0).astype("float64")
    table["total_overdue"] = table[[b[0] for b in AGING_BUCKETS]].sum(axis=1)
    table.columns.name = None
    out = table.reset_index()
    if not by:
        out = out.drop(columns="_all")
    return out


def data_quality(df: pd.DataFrame, validators: dict[str, Callable[[pd.Series], Any]] | None = None,
                 key: str | list[str] | None = None) -> pd.DataFrame:
    """数据质量检查 (missing, invalid and duplicate counts per column).

    Per column: ``missing`` = null values (NaN/None/NaT, and empty or blank text);
    ``invalid`` = non-missing values for which ``validators[column](series)`` — a callable
    returning a boolean mask of *valid* values — is False (0 without a validator);
    ``duplicate`` = non-missing values equal to an earlier value in the same column. With
    ``key``, a last row ``"<key: …>"`` counts duplicated key combinations (rows whose key
    repeats an earlier row's), which is the usual "duplicate record" check.

    Example:
        >>> df = pd.DataFrame({"id": [1, 2, 2], "mobile": ["13812345678", "123", None]})
        >>> data_quality(df, {"mobile": lambda s: s.str.fullmatch(r"1\\d{10}")}, key="id")  # doctest: +NORMALIZE_WHITESPACE
               column  rows  missing  missing_rate  invalid  duplicate
        0          id     3        0      0.000000        0          1
        1      mobile     3        1      0.333333        1          0
        2  <key: id>     3        0      0.000000        0          1
    """
    require_frame(df)
    validators = validators or {}
    require_columns(df, dict.fromkeys(validators, "any"))
    keys = [] if key is None else _cols(key)
    require_columns(df, dict.fromkeys(keys, "any"))
    n = len(df)
    rows = []
    for col in df.columns:
        s = df[col]
        missing = s.isna()
        if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
            missing = missing | s.astype("str").str.strip().eq("").fillna(False).to_numpy()
        invalid = 0
        if col in validators:
            ok = pd.Series(validators[col](s), index=s.index).fillna(False).astype(bool)
            invalid = int((~ok & ~missing).sum())
        dup = int((s.duplicated(keep="first") & ~missing).sum())
        rows.append({"column": str(col), "rows": n, "missing": int(missing.sum()),
                     "missing_rate": float(missing.sum() / n) if n else 0.0,
                     "invalid": invalid, "duplicate": dup})
    if keys:
        rows.append({"column": f"<key: {', '.join(keys)}>", "rows": n, "missing": int(df[keys].isna().any(axis=1).sum()),
                     "missing_rate": float(df[keys].isna().any(axis=1).mean()) if n else 0.0,
                     "invalid": 0, "duplicate": int(df.duplicated(subset=keys, keep="first").sum())})
    out = pd.DataFrame(rows)
    out["column"] = out["column"].astype("str")
    return out
