"""Payment-plan settlement shared by receivables aging and credit behaviour (internal).

Rule (documented in both public functions): payments are matched to instalments **per
order, oldest due date first (FIFO)**, whatever their ``plan_id``, which is how receivables
are usually aged. Only payments with ``paid_date <= as_of`` count. An instalment is *settled*
on the first payment date at which the order's cumulative payments reach the cumulative amount
of its instalments up to and including this one (0.005 tolerance for cents).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._validate import as_datetime, require_columns

_TOL = 0.005


def settle(
    plans: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: pd.Timestamp,
    order_col: str,
    due_col: str,
    plan_amount_col: str,
    paid_date_col: str,
    paid_amount_col: str,
    extra_cols: list[str] | None = None,
) -> pd.DataFrame:
    """One row per instalment: due, amount, paid (as of), outstanding, settled_at (NaT if not)."""
    extra_cols = extra_cols or []
    require_columns(plans, {order_col: "any", due_col: "datetime", plan_amount_col: "numeric",
                            **dict.fromkeys(extra_cols, "any")}, table="plans")
    require_columns(payments, {order_col: "any", paid_date_col: "datetime",
                               paid_amount_col: "numeric"}, table="payments")
    p = pd.DataFrame({
        "order": plans[order_col].to_numpy(),
        "due": as_datetime(plans[due_col], due_col, "plans").to_numpy(),
        "amount": plans[plan_amount_col].to_numpy(dtype="float64"),
        **{c: plans[c].to_numpy() for c in extra_cols},
    })
    p["_row"] = np.arange(len(p))
    p = p.sort_values(["order", "due", "_row"], kind="stable")
    p["cum_due"] = p.groupby("order", sort=False)["amount"].cumsum()

    pay_dates = as_datetime(payments[paid_date_col], paid_date_col, "payments")
    pay = pd.DataFrame({"order": payments[order_col].to_numpy(), "date": pay_dates.to_numpy(),
                        "amount": payments[paid_amount_col].to_numpy(dtype="float64")})
    pay = pay[pay["date"] <= as_of].sort_values(["order", "date"], kind="stable")
    pay["cum_paid"] = pay.groupby("order", sort=False)["amount"].cumsum()
    total_paid = pay.groupby("order", sort=False)["amount"].sum()

    paid_total = p["order"].map(total_paid).fillna(0.0).to_numpy()
    cum_due = p["cum_due"].to_numpy()
    prev_due = cum_due - p["amount"].to_numpy()
    p["paid"] = np.clip(paid_total - prev_due, 0.0, p["amount"].to_numpy())
    # amounts are in yuan and cents: a float remainder below half a cent is no debt
    outstanding = np.round(p["amount"].to_numpy() - p["paid"].to_numpy(), 2)
    p["outstanding"] = np.where(outstanding < _TOL, 0.0, outstanding)

    settled: list[Any] = []
    by_order = {k: (g["cum_paid"].to_numpy(), g["date"].to_numpy())
                for k, g in pay.groupby("order", sort=False)}
    for order, need in zip(p["order"].tolist(), cum_due.tolist()):
        cp_dates = by_order.get(order)
        if cp_dates is None:
            settled.append(pd.NaT)
            continue
        cp, dates = cp_dates
        i = int(np.searchsorted(cp, need - _TOL, side="left"))
        settled.append(dates[i] if i < cp.size else pd.NaT)
    p["settled_at"] = pd.to_datetime(pd.Series(settled, index=p.index, dtype="datetime64[ns]"))
    return p.sort_values("_row").drop(columns=["_row"]).reset_index(drop=True)
