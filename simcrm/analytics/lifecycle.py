"""Customer status types (客户状态类型) derived from history, never stored.

The textbook (第四章第一节) sorts people and organisations by their relationship with the firm:
非客户 (no need for, or no possibility of buying, what the firm sells), 潜在客户 (might buy,
no sale pursued yet), 目标客户 (the firm is pursuing them), 现实客户 — split into 初次购买,
重复购买 and 忠实 customers — and 流失客户 (used to buy, no longer do). The CRM stores only
the lifecycle (潜在 / 签约 / 重复购买 / 失效); the status type is computed here from the records:

1. **非客户** — the lifecycle is 失效 but the customer never had an approved order: the firm
   has written the record off without it ever buying (marked invalid), so it is not a lost
   customer but one that was never going to be one;
2. **流失客户** — the lifecycle is 失效 (the observable churn definition) after buying;
3. **忠实客户** — at least ``loyal_orders`` approved orders, the last within ``loyal_days``
   days before ``as_of``;
4. **重复购买客户** — at least 2 approved orders;
5. **初次购买客户** — exactly 1 approved order;
6. **目标客户** — no approved order, but at least one 销售机会 (opportunity);
7. **潜在客户** — neither.

An approved order is a ``sales_order`` row whose ``approval`` is 同意, dated on or before
``as_of``. Rules are applied in this order (the first that matches wins).

These status types are a snapshot of the relationship; the customer lifecycle *stages* of the
theory (潜在客户期 … 衰退期, see :func:`lifecycle_stages`) describe where a customer is on its
trajectory, and the stored 生命周期 field records the CRM's own events. ``docs/analytics.md``
says how the three relate.

    >>> import pandas as pd
    >>> customers = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6],
    ...                           "lifecycle": ["签约", "潜在", "重复购买", "失效", "潜在", "失效"]})
    >>> orders = pd.DataFrame({"customer_id": [1, 3, 3, 3, 3, 4], "approval": ["同意"] * 6,
    ...     "order_date": pd.to_datetime(["2025-01-05", "2025-01-01", "2025-04-01", "2025-08-01",
    ...                                   "2025-12-01", "2025-02-01"])})
    >>> opps = pd.DataFrame({"customer_id": [2]})
    >>> status_types(customers, orders, opps, as_of="2025-12-31")
       customer_id  orders status_type
    0            1       1      初次购买客户
    1            2       0        目标客户
    2            3       4        忠实客户
    3            4       1        流失客户
    4            5       0        潜在客户
    5            6       0         非客户
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import reference
from ._validate import require_columns

__all__ = ["status_types", "STATUS_TYPES"]

#: the seven status types, in the textbook's order (reference.toml [states.status_type])
STATUS_TYPES: tuple[str, ...] = reference.state_values("status_type")


def status_types(customers: pd.DataFrame, orders: pd.DataFrame, opportunities: pd.DataFrame, *,
                 as_of, loyal_orders: int = 4, loyal_days: int = 180) -> pd.DataFrame:
    """Each customer's status type (see the module docstring for the rules).

    Args:
        customers: the ``customer`` table (``id``, ``lifecycle``).
        orders: the ``sales_order`` table (``customer_id``, ``approval``, ``order_date``).
        opportunities: the ``opportunity`` table (``customer_id``).
        as_of: the date of the analysis ("today").
        loyal_orders: approved orders needed to be 忠实.
        loyal_days: the last order must be this recent to be 忠实.

    Returns:
        One row per customer, in the order of ``customers``: ``customer_id``, ``orders``
        (approved orders up to ``as_of``) and ``status_type``.
    """
    require_columns(customers, {"id": "numeric", "lifecycle": "any"}, "customers")
    require_columns(orders, {"customer_id": "numeric", "approval": "any", "order_date": "datetime"}, "orders")
    require_columns(opportunities, {"customer_id": "numeric"}, "opportunities")
    as_of = pd.Timestamp(as_of)
    dates = pd.to_datetime(orders["order_date"])
    ok = (orders["approval"] == "同意").to_numpy() & (dates <= as_of).to_numpy()
    approved = pd.DataFrame({"customer_id": orders["customer_id"].to_numpy()[ok], "order_date": dates.to_numpy()[ok]})
    per = approved.groupby("customer_id").agg(orders=("order_date", "size"), last=("order_date", "max"))
    ids = customers["id"]
    n = per["orders"].reindex(ids.to_numpy()).fillna(0).astype("int64").to_numpy()
    last = per["last"].reindex(ids.to_numpy()).to_numpy()
    recent = (as_of - pd.to_datetime(last)).days.to_numpy() <= loyal_days if len(ids) else np.zeros(0, bool)
    recent = np.where(pd.isna(last), False, recent)
    has_opp = ids.isin(set(opportunities["customer_id"].dropna().astype("int64"))).to_numpy()
    lost = (customers["lifecycle"] == "失效").to_numpy()
    status = np.select(
        [lost & (n == 0), lost, (n >= loyal_orders) & recent, n >= 2, n == 1, has_opp],
        ["非客户", "流失客户", "忠实客户", "重复购买客户", "初次购买客户", "目标客户"],
        default="潜在客户",
    )
    return pd.DataFrame({"customer_id": ids.to_numpy(), "orders": n, "status_type": pd.array(status, dtype="str")})
