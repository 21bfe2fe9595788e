"""客户关怀计划 (care planner): what is due (``crm.care_due``), mark done with feedback, plan more.

Upcoming birthdays, holidays, after-sales follow-ups and care activities planned up to the
chosen date and not yet done; 完成 records the feedback and satisfaction through
``crm.complete_care``; the small form below plans a new one with ``crm.plan_care``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as w
import pandas as pd

from .. import reference
from ._base import Screen, api_call, frame_html

__all__ = ["CarePlanner"]

#: due care actions shown (the earliest; a firm of 100,000 customers has tens of thousands)
_MAX_ROWS = 200


class CarePlanner(Screen):
    """Care actions due, with 完成 (feedback, satisfaction) and 新建关怀.

    Attributes:
        until: date picker (default: today + 30 days); ``due``: the ``max_rows`` earliest rows of
            ``crm.care_due`` (read with ``LIMIT``); ``due_total``: how many are due in all.
        picker, feedback, satisfaction, done_button: complete one care action.
        plan_customer, plan_type, plan_subject, plan_date, plan_button: plan a new one.
    """

    def __init__(self, crm: Any, *, days: int = 30, max_rows: int = _MAX_ROWS):
        super().__init__()
        self.crm = crm
        self.max_rows = int(max_rows)
        self.until = w.DatePicker(value=crm.today + dt.timedelta(days=days), description="截至")
        self.until.observe(self.guard(lambda _c: self.refresh()), names="value")
        self.table_html = w.HTML()
        self.picker = w.Dropdown(description="关怀事项", layout=w.Layout(width="460px"))
        self.feedback = w.Text(description="客户反馈", layout=w.Layout(width="460px"))
        self.satisfaction = w.Dropdown(options=[("", None)] + [(str(i), i) for i in range(1, 6)], description="满意度")
        self.done_button = w.Button(description="完成", button_style="success", icon="check")
        self.done_button.on_click(self.guard(lambda _b: self.complete()))
        # the first 500 customers the user may see (LIMIT in the database, not the whole list)
        customers = crm.list("customer", order_by="id", limit=500)
        self.plan_customer = w.Dropdown(options=[(f"{n}（{i}）", int(i)) for i, n in
                                                 zip(customers["id"], customers["name"])], description="客户")
        self.plan_type = w.Dropdown(options=list(reference.state_values("care_type")), description="关怀类型")
        self.plan_subject = w.Text(description="主题")
        self.plan_date = w.DatePicker(value=crm.today + dt.timedelta(days=7), description="计划日期")
        self.plan_button = w.Button(description="新建关怀", icon="plus")
        self.plan_button.on_click(self.guard(lambda _b: self.plan()))
        self.widget = w.VBox([
            w.HTML("<h4>客户关怀计划</h4>"), self.until, self.table_html,
            w.HBox([self.picker, self.satisfaction]), w.HBox([self.feedback, self.done_button]),
            w.HTML("<b>新建关怀</b>"), w.HBox([self.plan_customer, self.plan_type]),
            w.HBox([self.plan_subject, self.plan_date, self.plan_button]), self.status, self.code])
        self.refresh()

    def refresh(self, record: bool = True) -> None:
        """Re-read the care actions due up to :attr:`until` (``record``: show it as the last call)."""
        until = self.until.value or self.crm.today
        if record:
            self.show_call(api_call("care_due", until))
        due = self.crm.care_due(until, limit=self.max_rows)
        self.due_total = int(due.attrs.get("total", len(due)))
        ids = sorted(set(int(i) for i in due["customer_id"].dropna()))
        names = (self.crm.store.read("customer", columns=["id", "name"], where={"id": ids}).set_index("id")["name"]
                 if ids else pd.Series(dtype="str"))
        due = due.assign(customer=due["customer_id"].map(names))
        self.due = due.sort_values(["planned_date", "id"]).reset_index(drop=True)
        today = pd.Timestamp(self.crm.today)
        shown = pd.DataFrame({"编号": self.due["id"], "客户": self.due["customer"], "关怀类型": self.due["care_type"],
                              "主题": self.due["subject"], "计划日期": self.due["planned_date"]})
        more = (f"<div>共 {self.due_total:,} 项待办，显示计划日期最早的 {len(self.due):,} 项。</div>"
                if self.due_total > len(self.due) else "")
        self.table_html.value = more + frame_html(shown, highlight=self.due["planned_date"] < today,
                                                  empty="（这段时间没有待办的关怀）")
        self.picker.options = [(f"{r.planned_date:%Y-%m-%d} {r.care_type} · {r.customer} · {r.subject}", int(r.id))
                               for r in self.due.itertuples()]

    def complete(self) -> None:
        """Mark the chosen care action done with the feedback (``crm.complete_care``)."""
        if self.picker.value is None:
            self.say("请先选择一项关怀。", error=True)
            return
        cid = int(self.picker.value)
        kw = dict(feedback=self.feedback.value.strip() or None, satisfaction=self.satisfaction.value)
        if self.run(api_call("complete_care", cid, **kw), lambda: self.crm.complete_care(cid, **kw) or True,
                    f"关怀 {cid} 已完成。"):
            self.feedback.value = ""
            self.refresh(record=False)

    def plan(self) -> Any:
        """Plan a care action (``crm.plan_care``)."""
        args = (self.plan_customer.value, self.plan_type.value, self.plan_subject.value.strip() or None,
                self.plan_date.value)
        result = self.run(api_call("plan_care", *args), lambda: self.crm.plan_care(*args), "已新建关怀。")
        if result is not None:
            self.refresh(record=False)
        return result
