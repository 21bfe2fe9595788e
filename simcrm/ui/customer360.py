"""客户视图 (customer 360°): everything about one customer on one screen.

Basic information on top, then tabs with Chinese titles and counts: 联系人, 沟通与关怀,
销售机会, 报价单, 订单与回款, 服务与投诉. Every table is read through ``crm.list`` so the
logged-in user's module rights and data scope apply: a rep does not see another rep's
unshared customer here either.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import SimCRMError
from ..store import schema
from ._base import Screen, _cell, frame_html
from ._scope import can_read

__all__ = ["Customer360", "SECTIONS"]

#: tab title → the tables shown in it and their columns
SECTIONS: dict[str, dict[str, list[str]]] = {
    "联系人": {"contact": ["name", "gender", "title", "department", "mobile", "email", "birthday", "buying_role",
                         "status"]},
    "沟通与关怀": {"activity": ["activity_time", "channel", "kind", "subject", "outcome"],
                  "care": ["care_type", "subject", "planned_date", "done_date", "feedback", "satisfaction"]},
    "销售机会": {"opportunity": ["code", "name", "stage", "probability", "amount", "expected_close", "status"]},
    "报价单": {"quote": ["code", "quote_date", "valid_until", "total_amount", "status"]},
    "订单与回款": {"sales_order": ["code", "kind", "order_date", "total_amount", "status", "approval", "shipping"],
                     "payment_plan": ["order_id", "instalment", "due_date", "amount"],
                     "payment": ["code", "order_id", "paid_date", "amount", "method"],
                     "invoice": ["invoice_no", "order_id", "invoice_date", "amount"]},
    "服务与投诉": {"service_request": ["code", "urgency", "description", "opened_at", "resolved_at", "status"],
                  "complaint": ["code", "category", "urgency", "description", "status", "received_at"],
                  "return_visit": ["visit_date", "channel", "satisfaction", "notes"]},
}

_BASIC = ["code", "name", "kind", "industry", "size", "source", "province", "city", "address", "phone", "email",
          "level", "credit_rating", "relationship_level", "lifecycle", "first_contract_date", "hot"]
_VIA_ORDER = {"payment_plan", "payment", "invoice"}


class Customer360(Screen):
    """The 360° view of customer ``customer_id`` as the user of ``crm`` may see it.

    Attributes:
        customer: the customer's row (``None`` when not visible).
        frames: ``{table: DataFrame}`` of every related table shown.
        tabs: the ``ipywidgets.Tab`` (titles like ``"联系人（2）"``).
    """

    def __init__(self, crm: Any, customer_id: int):
        super().__init__()
        self.crm, self.customer_id = crm, int(customer_id)
        self.customer: dict[str, Any] | None = None
        self.frames: dict[str, pd.DataFrame] = {}
        self.show_call(f"crm.list('customer', where={{'id': {self.customer_id}}})")
        found = crm.list("customer", where={"id": self.customer_id}) if can_read(crm, "customer") else pd.DataFrame()
        self.tabs = w.Tab()
        if len(found) == 0:
            self.say(f"客户 {self.customer_id} 不存在，或不在当前用户的数据范围内（无权查看）。", error=True)
            self.widget = w.VBox([w.HTML("<h4>客户视图</h4>"), self.status, self.code])
            return
        self.customer = found.iloc[0].to_dict()
        owner = _employee_name(crm, self.customer.get("owner_id"))
        info = "".join(
            f"<div style='display:inline-block;width:30%;min-width:220px'><span style='color:#666'>"
            f"{html.escape(schema.column_label('customer', c))}：</span>{html.escape(_cell(self.customer.get(c)))}</div>"
            for c in _BASIC) + (f"<div style='display:inline-block;width:30%'><span style='color:#666'>负责人：</span>"
                                f"{html.escape(owner)}</div>")
        header = w.HTML(f"<h3>客户视图 · {html.escape(str(self.customer['name']))}</h3><div>{info}</div>")
        pages, titles = [], []
        order_ids: list[int] = []
        for title, tables in SECTIONS.items():
            parts, count = [], 0
            for table, cols in tables.items():
                frame = self._related(table, order_ids)
                if table == "sales_order":
                    order_ids = [int(i) for i in frame["id"]] if len(frame) else []
                self.frames[table] = frame
                count += len(frame)
                shown = frame[[c for c in cols if c in frame.columns]] if len(frame) else frame
                shown = shown.rename(columns=schema.labels(table))
                parts.append(w.HTML(f"<b>{html.escape(schema.table_label(table))}（{len(frame)}）</b>"
                                    + frame_html(shown)))
            pages.append(w.VBox(parts))
            titles.append(f"{title}（{count}）")
        self.tabs.children = pages
        for i, t in enumerate(titles):
            self.tabs.set_title(i, t)
        self.titles = titles
        self.widget = w.VBox([header, self.tabs, self.status, self.code])

    def _related(self, table: str, order_ids: list[int]) -> pd.DataFrame:
        if not can_read(self.crm, table):
            return pd.DataFrame()
        try:
            # one indexed query per table, with the user's data scope in its WHERE
            if table in _VIA_ORDER:
                return self.crm.list(table, where={"order_id": order_ids})
            return self.crm.list(table, where={"customer_id": self.customer_id})
        except SimCRMError:
            return pd.DataFrame()


def _employee_name(crm: Any, emp_id: Any) -> str:
    if emp_id is None or pd.isna(emp_id):
        return ""
    try:
        return str(crm.store.get("employee", int(emp_id))["name"])
    except SimCRMError:
        return str(emp_id)
