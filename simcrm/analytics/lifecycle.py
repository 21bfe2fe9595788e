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
from ..errors import ConfigError
from ._validate import as_datetime, as_timestamp, check_choice, check_range, require_columns

__all__ = ["status_types", "STATUS_TYPES", "lifecycle_stages", "LIFECYCLE_SCHEMES"]

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


# --- customer lifecycle theory ---------------------------------------------------------------------

#: the two textbook schemes of lifecycle stages (reference.toml [lifecycle_stages]):
#: ``acquisition`` 潜在客户期 → 客户获取期 → 客户成长期 → 客户成熟期 → 客户衰退期 (衰退/流失期);
#: ``termination`` 潜在获取期 → 客户成长期 → 客户成熟期 → 客户衰退期 → 客户终止期
LIFECYCLE_SCHEMES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in reference.LIFECYCLE_STAGES.items()}


def lifecycle_stages(customers: pd.DataFrame, orders: pd.DataFrame, *, as_of, scheme: str = "acquisition",
                     amount_col: str = "total_amount", period_days: int = 365, mature_days: int = 365,
                     decline_ratio: float = 2.0, end_ratio: float = 4.0, rise: float = 0.2, drop: float = 0.3,
                     min_rhythm_orders: int = 3, population_rhythm_days: float | None = None) -> pd.DataFrame:
    """Each customer's theoretical lifecycle stage (客户生命周期阶段), derived from its order history.

    The theory describes a relationship that is first a prospect, then acquired, grows, matures
    and declines (and, in the second scheme, ends). This function places each customer on that
    path from what the records show. It is **not** the CRM's stored 生命周期 field (潜在 / 签约 /
    重复购买 / 失效), which records events (a first contract, a second order, the 180-day rule);
    the two usually agree in direction but a 重复购买 customer whose spending is falling is in
    衰退期 long before the CRM sets 失效, and a 签约 customer who just bought is in 获取期.

    Only approved orders (``approval == "同意"``) dated on or before ``as_of`` count. For each
    customer: ``orders`` (n), ``tenure_days`` = as_of − first order, ``recency_days`` = as_of − last
    order, and the purchase **rhythm** ``rhythm_days``: its own mean gap between purchase days
    ((last − first) / (purchase days − 1)) when it has at least ``min_rhythm_orders`` purchase
    days, otherwise the population's rhythm (the median of the own rhythms, or
    ``population_rhythm_days`` when given) — a customer without a rhythm of its own is judged
    against everyone's. ``overdue`` = recency / rhythm. ``spend_recent`` is its spending in the
    last ``period_days`` (as_of − period, as_of], ``spend_previous`` in the period before that.

    Rules, in order (the first that matches wins), scheme ``"acquisition"``:

    1. no order → **潜在客户期**;
    2. ``overdue ≥ decline_ratio`` (far later than its rhythm) → **客户衰退期**;
    3. a single purchase day → **客户获取期** (bought once, not yet overdue);
    4. ``spend_previous > 0`` and ``spend_recent < (1 − drop) · spend_previous`` → **客户衰退期**
       (spending falls);
    5. ``tenure_days < mature_days`` or ``spend_recent > (1 + rise) · spend_previous`` →
       **客户成长期**;
    6. otherwise (a steady customer of some standing) → **客户成熟期**.

    Scheme ``"termination"`` uses the same rules with rules 1 and 3 giving **潜在获取期**, and
    rule 2 giving **客户终止期** when ``overdue ≥ end_ratio`` (the relationship has ended)
    and **客户衰退期** below that.

    Args:
        customers: the ``customer`` table (``id``; ``lifecycle`` is copied as ``crm_lifecycle``
            when present, to compare).
        orders: the ``sales_order`` table (``customer_id``, ``approval``, ``order_date``,
            ``amount_col``).
        as_of: the date of the analysis.
        scheme: ``"acquisition"`` or ``"termination"`` (see :data:`LIFECYCLE_SCHEMES`).
        period_days, mature_days, decline_ratio, end_ratio, rise, drop, min_rhythm_orders,
            population_rhythm_days: the thresholds of the rules above.

    Returns:
        One row per customer, in the order of ``customers``: ``customer_id``, ``orders``,
        ``tenure_days``, ``recency_days``, ``rhythm_days``, ``rhythm_source`` (own / population),
        ``overdue``, ``spend_recent``, ``spend_previous``, [``crm_lifecycle``], ``stage``.
        ``attrs["population_rhythm_days"]`` is the rhythm used for customers without their own.

    Example (population rhythm 30 days, given):

        >>> import pandas as pd
        >>> customers = pd.DataFrame({"id": [1, 2, 3]})
        >>> orders = pd.DataFrame({"customer_id": [2, 3, 3, 3], "approval": ["同意"] * 4,
        ...     "order_date": pd.to_datetime(["2025-12-01", "2025-01-10", "2025-02-10", "2025-03-10"]),
        ...     "total_amount": [100.0, 50.0, 50.0, 50.0]})
        >>> out = lifecycle_stages(customers, orders, as_of="2025-12-31", population_rhythm_days=30)
        >>> out[["customer_id", "orders", "recency_days", "rhythm_days", "stage"]]
           customer_id  orders  recency_days  rhythm_days  stage
        0            1       0           NaN          NaN  潜在客户期
        1            2       1          30.0         30.0  客户获取期
        2            3       3         296.0         29.5  客户衰退期
    """
    require_columns(customers, {"id": "numeric"}, "customers")
    require_columns(orders, {"customer_id": "numeric", "approval": "any", "order_date": "datetime",
                             amount_col: "numeric"}, "orders")
    check_choice(scheme, "scheme", LIFECYCLE_SCHEMES)
    for name, value in (("period_days", period_days), ("mature_days", mature_days)):
        check_range(value, name, 1, 36500, "1–36500 天")
    check_range(decline_ratio, "decline_ratio", 1e-9, 1e6, "大于 0 的倍数")
    check_range(end_ratio, "end_ratio", float(decline_ratio), 1e6, f"不小于 decline_ratio（{decline_ratio}）的倍数")
    check_range(rise, "rise", 0, 1e6, "不小于 0 的比例")
    check_range(drop, "drop", 0, 1, "0–1 之间的比例")
    check_range(min_rhythm_orders, "min_rhythm_orders", 2, 1e6, "不小于 2 的整数")
    if population_rhythm_days is not None:
        check_range(population_rhythm_days, "population_rhythm_days", 1e-9, 1e6, "大于 0 的天数")
    as_of = as_timestamp(as_of, "as_of")
    names = LIFECYCLE_SCHEMES[scheme]
    potential, acquired, growth, mature, decline = names if scheme == "acquisition" else (names[0], names[0], *names[1:4])
    ended = names[4] if scheme == "termination" else decline

    dates = as_datetime(orders["order_date"], "order_date", "orders").dt.normalize()
    ok = (orders["approval"] == "同意").to_numpy() & (dates <= as_of).to_numpy()
    o = pd.DataFrame({"customer_id": orders["customer_id"].to_numpy()[ok], "day": dates.to_numpy()[ok],
                      "amount": orders[amount_col].to_numpy(dtype="float64")[ok]})
    start_recent = as_of - pd.Timedelta(days=period_days)
    start_previous = start_recent - pd.Timedelta(days=period_days)
    o["recent"] = np.where(o["day"] > start_recent, o["amount"], 0.0)
    o["previous"] = np.where((o["day"] > start_previous) & (o["day"] <= start_recent), o["amount"], 0.0)
    per = o.groupby("customer_id").agg(orders=("day", "size"), days=("day", "nunique"), first=("day", "min"),
                                       last=("day", "max"), spend_recent=("recent", "sum"),
                                       spend_previous=("previous", "sum"))
    span = (per["last"] - per["first"]).dt.days.astype("float64")
    own = (span / (per["days"] - 1).where(per["days"] >= min_rhythm_orders)).astype("float64")
    need_population = own.isna().any()
    if population_rhythm_days is not None:
        pop = float(population_rhythm_days)
    elif own.notna().any():
        pop = float(own.median())
    elif need_population:
        raise ConfigError(field="population_rhythm_days", value=None, allowed="大于 0 的天数",
                          reason=f"没有任何客户有至少 {min_rhythm_orders} 个购买日，无法得到总体购买节奏，请直接给出")
    else:
        pop = float("nan")

    ids = customers["id"].to_numpy()
    per = per.reindex(ids)
    n = per["orders"].fillna(0).astype("int64").to_numpy()
    once = (per["days"] == 1).to_numpy()
    own = own.reindex(ids).to_numpy()
    rhythm = np.where(np.isnan(own), np.where(n > 0, pop, np.nan), own)
    tenure = (as_of - per["first"]).dt.days.to_numpy(dtype="float64", na_value=np.nan)
    recency = (as_of - per["last"]).dt.days.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        overdue = recency / rhythm
    recent = per["spend_recent"].fillna(0.0).to_numpy()
    previous = per["spend_previous"].fillna(0.0).to_numpy()
    late = np.nan_to_num(overdue, nan=0.0)
    stage = np.select(
        [n == 0, late >= end_ratio, late >= decline_ratio, once,
         (previous > 0) & (recent < (1 - drop) * previous),
         (tenure < mature_days) | (recent > (1 + rise) * previous)],
        [potential, ended, decline, acquired, decline, growth],
        default=mature,
    )
    out = pd.DataFrame({
        "customer_id": ids, "orders": n, "tenure_days": tenure, "recency_days": recency, "rhythm_days": rhythm,
        "rhythm_source": pd.array(np.where(n == 0, None, np.where(np.isnan(own), "population", "own")), dtype="str"),
        "overdue": overdue, "spend_recent": recent, "spend_previous": previous,
    })
    if "lifecycle" in customers.columns:
        out["crm_lifecycle"] = customers["lifecycle"].to_numpy()
    out["stage"] = pd.array(stage, dtype="str")
    out.attrs["population_rhythm_days"] = pop
    out.attrs["scheme"] = scheme
    return out
