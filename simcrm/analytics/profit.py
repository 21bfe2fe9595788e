"""客户财务价值 (customer profitability): 财务价值 = 交易收益 − 交易成本.

The textbook (邵兵家《客户关系管理》第4章“区分客户”) splits a customer's value into a financial
and a non-financial part; the financial value is what the firm earns from the trades minus
what those trades cost: production (the goods sold), service, communication and marketing.
:func:`financial_value` computes it for every customer from the CRM's own tables, so that a
grading (ABC, the pyramid, the CLV quadrant's 放弃型 "below zero") ranks customers by profit,
not by revenue. Care actions (生日、售后回访 …) are counted as their own cost line.

The unit costs of serving (元 per service request, per activity by channel, per care action
by type …) are reference data (:data:`simcrm.reference.COST_TO_SERVE`); pass ``unit_costs`` to
override any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import reference
from ..errors import ColumnError, ConfigError
from ._validate import as_timestamp, require_columns

__all__ = ["financial_value", "default_unit_costs", "value_tables", "VALUE_COLUMNS"]

#: output columns of :func:`financial_value`, in order
VALUE_COLUMNS: tuple[str, ...] = (
    "customer_id", "revenue", "product_cost", "service_cost", "communication_cost", "care_cost",
    "marketing_cost", "total_cost", "value",
)

_NEEDED: dict[str, dict[str, str]] = {
    "customer": {"id": "any", "deleted": "any"},
    "sales_order": {"id": "any", "customer_id": "any", "order_date": "datetime", "approval": "any"},
    "order_line": {"id": "any", "order_id": "any", "product_id": "any", "quantity": "numeric", "amount": "numeric"},
    "product": {"id": "any", "cost": "numeric"},
    "sales_return": {"id": "any", "order_id": "any", "return_date": "datetime", "amount": "numeric"},
    "return_line": {"return_id": "any", "order_line_id": "any", "quantity": "numeric"},
    "service_request": {"customer_id": "any", "opened_at": "datetime"},
    "complaint": {"customer_id": "any", "received_at": "datetime"},
    "return_visit": {"customer_id": "any", "visit_date": "datetime"},
    "activity": {"customer_id": "any", "channel": "any", "kind": "any", "activity_time": "datetime"},
    "care": {"customer_id": "any", "care_type": "any", "done_date": "datetime"},
    "campaign_member": {"campaign_id": "any", "customer_id": "any", "contacted_at": "datetime"},
    "campaign": {"id": "any", "cost_per_contact": "numeric"},
}


def default_unit_costs() -> dict[str, Any]:
    """A mutable copy of :data:`simcrm.reference.COST_TO_SERVE` (元).

    Example:
        >>> costs = default_unit_costs()
        >>> costs["complaint"], costs["activity_channel"]["面谈"]
        (300.0, 300.0)
    """
    raw = reference.COST_TO_SERVE
    return {k: (dict(v) if isinstance(v, Mapping) else float(v)) for k, v in raw.items()}


def value_tables(store: Any) -> dict[str, pd.DataFrame]:
    """The columns :func:`financial_value` reads, as ``{table: DataFrame}`` — read once and pass
    it to several calls (e.g. the whole history and the last year)."""
    return {name: store.read(name, columns=list(cols)) for name, cols in _NEEDED.items()}


def _merge_costs(unit_costs: Mapping[str, Any] | None) -> dict[str, Any]:
    costs = default_unit_costs()
    for key, value in (unit_costs or {}).items():
        if key not in costs:
            raise ConfigError(field="unit_costs", value=key, allowed=list(costs),
                              reason="不是已知的成本项")
        if isinstance(costs[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(field=f"unit_costs[{key!r}]", value=value, allowed="{取值: 单位成本} 字典",
                                  reason="按渠道/类型的成本要用字典给出")
            costs[key] = {**costs[key], **{str(k): v for k, v in value.items()}}
            items = costs[key].items()
        else:
            costs[key] = value
            items = [(key, value)]
        for name, v in items:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v >= 0:
                raise ConfigError(field=f"unit_costs[{name!r}]", value=v, allowed="非负的数（元）",
                                  reason="单位成本不对")
        if isinstance(costs[key], dict):
            costs[key] = {k: float(v) for k, v in costs[key].items()}
        else:
            costs[key] = float(costs[key])
    return costs


def _table(tables: Any, name: str) -> pd.DataFrame:
    if isinstance(tables, Mapping):
        if name not in tables:
            raise ColumnError(field=name, value=sorted(tables), allowed=sorted(_NEEDED),
                              reason="缺少数据表", message_en=f"missing table '{name}'")
        frame = tables[name]
    else:
        # only the columns used: the text columns of a large activity table cost most of the time
        frame = tables.read(name, columns=list(_NEEDED[name]))
    # an empty table has no dtypes to check (a firm without complaints yet): only the columns
    spec = _NEEDED[name] if len(frame) else dict.fromkeys(_NEEDED[name], "any")
    require_columns(frame, spec, table=name)
    return frame


def _in_period(dates: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None) -> np.ndarray:
    d = pd.to_datetime(dates)
    keep = d.notna().to_numpy().copy()
    if start is not None:
        keep &= (d >= start).to_numpy()
    if end is not None:
        keep &= (d < end).to_numpy()
    return keep


def _per_customer(ids: pd.Series, values: Any, index: pd.Index) -> np.ndarray:
    s = pd.Series(np.asarray(values, dtype="float64"), index=ids.to_numpy())
    return s.groupby(level=0).sum().reindex(index, fill_value=0.0).to_numpy()


def financial_value(tables: Any, *, as_of: Any = None, start: Any = None,
                    unit_costs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """每个客户的财务价值 = 交易收益 − 交易成本 (profit after the cost of serving).

    For every customer of the ``customer`` table that is not deleted (prospects included:
    they cost money too), over the period ``start ≤ date ≤ as_of`` (both optional, whole days):

    * ``revenue`` 交易收益: the line amounts (net of VAT) of orders with ``approval == "同意"``
      signed in the period, minus the amounts of their returns (退货) dated up to ``as_of``;
    * ``product_cost`` 生产成本: (quantity − returned quantity) × the product's ``cost``;
    * ``service_cost`` 服务成本: service requests opened, complaints received and return visits
      made in the period, each × its unit cost;
    * ``communication_cost`` 沟通成本: activities that took place (``kind == "记录"``) × the unit
      cost of their channel (a face-to-face visit costs more than an e-mail);
    * ``care_cost`` 关怀成本: care actions done (``done_date`` set) × the unit cost of their type;
    * ``marketing_cost`` 营销成本: campaign members contacted (``contacted_at`` set; the control
      group is not) × the campaign's ``cost_per_contact``;
    * ``total_cost`` = the five costs; ``value`` = ``revenue − total_cost`` (may be negative:
      a customer who does not cover the cost of serving — the CLV quadrant's 放弃型).

    Args:
        tables: a :class:`~simcrm.store.Store` (anything with ``read(name)``) or a mapping
            ``{table name: DataFrame}`` holding the 13 tables listed in the module's ``_NEEDED``
            (customer, sales_order, order_line, product, sales_return, return_line,
            service_request, complaint, return_visit, activity, care, campaign_member, campaign).
        as_of: last day counted (inclusive; default: everything).
        start: first day counted (inclusive; default: everything).
        unit_costs: overrides of :data:`simcrm.reference.COST_TO_SERVE`, e.g.
            ``{"complaint": 500, "activity_channel": {"面谈": 400}}``.

    Returns:
        DataFrame with :data:`VALUE_COLUMNS`, one row per customer, sorted by ``customer_id``.

    Example:
        >>> t = {name: pd.DataFrame({c: [] for c in cols}) for name, cols in _NEEDED.items()}
        >>> t["customer"] = pd.DataFrame({"id": [1, 2], "deleted": [False, False]})
        >>> t["sales_order"] = pd.DataFrame({"id": [10], "customer_id": [1], "approval": ["同意"],
        ...                                  "order_date": pd.to_datetime(["2025-03-01"])})
        >>> t["order_line"] = pd.DataFrame({"id": [100], "order_id": [10], "product_id": [7],
        ...                                 "quantity": [2.0], "amount": [1000.0]})
        >>> t["product"] = pd.DataFrame({"id": [7], "cost": [300.0]})
        >>> t["activity"] = pd.DataFrame({"customer_id": [1, 2], "channel": ["面谈", "电话"],
        ...     "kind": ["记录", "记录"], "activity_time": pd.to_datetime(["2025-02-01", "2025-02-02"])})
        >>> financial_value(t)[["customer_id", "revenue", "product_cost", "communication_cost", "value"]]
           customer_id  revenue  product_cost  communication_cost  value
        0            1   1000.0         600.0               300.0  100.0
        1            2      0.0           0.0                20.0  -20.0
    """
    costs = _merge_costs(unit_costs)
    begin = None if start is None else as_timestamp(start, "start").normalize()
    end = None if as_of is None else as_timestamp(as_of, "as_of").normalize() + pd.Timedelta(days=1)
    if begin is not None and end is not None and begin >= end:
        raise ConfigError(field="start", value=str(begin.date()), allowed=f"不晚于 as_of（{(end - pd.Timedelta(days=1)).date()}）",
                          reason="期间的开始晚于结束")

    cust = _table(tables, "customer")
    cust = cust[~cust["deleted"].fillna(False).astype(bool)]
    index = pd.Index(sorted(int(i) for i in cust["id"]), name="customer_id")

    orders = _table(tables, "sales_order")
    orders = orders[(orders["approval"] == "同意") & _in_period(orders["order_date"], begin, end)]
    lines = _table(tables, "order_line")
    lines = lines[lines["order_id"].isin(orders["id"])]
    product_cost = lines["product_id"].map(_table(tables, "product").set_index("id")["cost"]).fillna(0.0)
    order_customer = orders.set_index("id")["customer_id"]
    line_customer = lines["order_id"].map(order_customer)

    returns = _table(tables, "sales_return")
    returns = returns[returns["order_id"].isin(orders["id"]) & _in_period(returns["return_date"], None, end)]
    rlines = _table(tables, "return_line")
    rlines = rlines[rlines["return_id"].isin(returns["id"])]
    line_cost = pd.Series(product_cost.to_numpy(), index=lines["id"].to_numpy())
    line_cust = pd.Series(line_customer.to_numpy(), index=lines["id"].to_numpy())

    revenue = (_per_customer(line_customer, lines["amount"], index)
               - _per_customer(returns["order_id"].map(order_customer), returns["amount"], index))
    goods = (_per_customer(line_customer, lines["quantity"].to_numpy() * product_cost.to_numpy(), index)
             - _per_customer(rlines["order_line_id"].map(line_cust),
                             rlines["quantity"].to_numpy() * rlines["order_line_id"].map(line_cost).fillna(0.0).to_numpy(),
                             index))

    def counted(name: str, date_col: str) -> np.ndarray:
        frame = _table(tables, name)
        frame = frame[_in_period(frame[date_col], begin, end)]
        return _per_customer(frame["customer_id"], np.ones(len(frame)), index)

    service = (counted("service_request", "opened_at") * costs["service_request"]
               + counted("complaint", "received_at") * costs["complaint"]
               + counted("return_visit", "visit_date") * costs["return_visit"])

    act = _table(tables, "activity")
    act = act[(act["kind"] == "记录") & _in_period(act["activity_time"], begin, end)]
    communication = _per_customer(act["customer_id"], act["channel"].astype(str).map(costs["activity_channel"]).fillna(
        costs["activity_channel"].get("其他", 0.0)), index)

    care = _table(tables, "care")
    care = care[_in_period(care["done_date"], begin, end)]
    care_cost = _per_customer(care["customer_id"], care["care_type"].astype(str).map(costs["care_type"]).fillna(0.0), index)

    members = _table(tables, "campaign_member")
    members = members[_in_period(members["contacted_at"], begin, end)]
    unit = members["campaign_id"].map(_table(tables, "campaign").set_index("id")["cost_per_contact"]).fillna(0.0)
    marketing = _per_customer(members["customer_id"], unit, index)

    out = pd.DataFrame({"customer_id": index.to_numpy().astype("int64"), "revenue": revenue, "product_cost": goods,
                        "service_cost": service, "communication_cost": communication, "care_cost": care_cost,
                        "marketing_cost": marketing})
    out["total_cost"] = out[["product_cost", "service_cost", "communication_cost", "care_cost",
                             "marketing_cost"]].sum(axis=1)
    out["value"] = out["revenue"] - out["total_cost"]
    money = list(VALUE_COLUMNS[1:])
    out[money] = out[money].round(2) + 0.0
    return out[list(VALUE_COLUMNS)]
