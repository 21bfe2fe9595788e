"""Customer service (客户服务、投诉管理): service requests with SLA, complaints, return visits.

Service request 新建 → 处理中 → 已解决 → 已关闭 (已解决 → 处理中 when reopened). SLA policies
give per urgency the first-response and resolution targets in hours (defaults
:data:`DEFAULT_SLA`, created on first use). Complaints go through the one state machine
已记录 → 调查中 → 已分派 → 方案待批 → 处理中 → 已回访 → 已归档, each change writing a
``complaint_history`` row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from .. import reference
from ..store import schema
from ..errors import RequiredFieldError, StateTransitionError, UnknownValueError, ValidationError
from .base import CRMBase, atomic, check_transition, tbl

#: urgency → (first-response hours, resolution hours)
DEFAULT_SLA: dict[str, tuple[float, float]] = {"非常紧急": (2, 24), "紧急": (4, 48), "一般": (24, 120)}
COMPLAINT_FIELDS = ("department_id", "handler_id", "handling_notes", "solution", "customer_feedback",
                    "satisfaction", "gap_type")


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class ServiceMixin(CRMBase):
    # -- SLA --------------------------------------------------------------------------------

    @atomic
    def set_sla_policy(self, urgency: str, first_response_hours: float, resolution_hours: float) -> int:
        """Set the SLA targets of an urgency (first response, resolution, in hours)."""
        self._require("service", "update")
        if urgency not in reference.state_values("urgency"):
            raise UnknownValueError(field="urgency", value=urgency, label="紧急程度", allowed=reference.state_values("urgency"))
        values = self.store.validate("sla_policy", {"urgency": urgency, "first_response_hours": first_response_hours,
                                                    "resolution_hours": resolution_hours})
        if values["first_response_hours"] > values["resolution_hours"]:
            raise ValidationError(field="first_response_hours", value=first_response_hours, label="首次响应时限(小时)",
                                  allowed=f"不大于解决时限 {resolution_hours}")
        t = tbl("sla_policy")
        with self.store.transaction() as conn:
            sid = conn.execute(select(t.c.id).where(t.c.urgency == urgency)).scalar()
            if sid is None:
                return self._insert("sla_policy", values)
            self._update("sla_policy", sid, {k: v for k, v in values.items() if k != "urgency"})
            return int(sid)

    def _sla(self) -> dict[str, tuple[float, float]]:
        t = tbl("sla_policy")
        with self.store.transaction() as conn:
            have = {r["urgency"]: (r["first_response_hours"], r["resolution_hours"])
                    for r in conn.execute(select(t)).mappings()}
            for urgency, (fr, res) in DEFAULT_SLA.items():
                if urgency not in have:
                    self._insert("sla_policy", {"urgency": urgency, "first_response_hours": fr, "resolution_hours": res})
                    have[urgency] = (fr, res)
        return have

    # -- the complaint-handling policy (服务策略 / 投诉处理规则) -----------------------------------------

    @atomic
    def set_complaint_policy(self, category: str, *, response_days: int, resolve_days: int, remedy: str,
                             handler: int | str | None = None, note: str | None = None) -> int:
        """Set the handling rule of a complaint category (投诉处理规则); returns its id.

        The service manager (主管) or the boss decides, for each 投诉类别, within how many days a
        complaint is first answered (``response_days``, 0–30: 调查中) and return-visited as
        resolved (``resolve_days``, 1–180, more than ``response_days``: 已回访), the remedy
        (``remedy``: 致歉说明 / 维修或更换 / 更换并补偿, from the least to the most generous) and,
        optionally, who handles it (``handler``: an employee in post, id or login). Setting a
        category again replaces its rule. The rules act on the complaints the firm receives
        from the next quarter run on (:meth:`simcrm.sim.World.step`); the customer's reaction
        depends on how fast and how well the complaint is put right.
        """
        self._require("complaint", "update")
        self._require_role(("主管", "老板"), "设定投诉处理规则")
        cats = self.store.dictionary_values("complaint_category")
        if not isinstance(category, str) or category not in cats:
            raise UnknownValueError(field="category", value=category, label="投诉类别", allowed=cats)
        for field, value, lo, hi in (("response_days", response_days, 0, 30), ("resolve_days", resolve_days, 1, 180)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
                raise ValidationError(field=field, value=value, label=schema.column_label("complaint_policy", field),
                                      allowed=f"{lo} 到 {hi} 之间的整数（天）")
        if int(resolve_days) <= int(response_days):
            raise ValidationError(field="resolve_days", value=resolve_days, label="回访解决时限(天)",
                                  allowed=f"大于首次响应时限 {int(response_days)} 天（先响应，后回访）")
        remedies = reference.state_values("complaint_remedy")
        if not isinstance(remedy, str) or remedy not in remedies:
            raise UnknownValueError(field="remedy", value=remedy, label="处理方式", allowed=remedies)
        handler_id = None if handler is None else self._employee_id(handler, field="handler", label="处理人")
        values = {"category": category, "response_days": int(response_days), "resolve_days": int(resolve_days),
                  "remedy": remedy, "handler_id": handler_id, "note": note}
        self.store.validate("complaint_policy", values)
        t = tbl("complaint_policy")
        with self.store.transaction() as conn:
            cat_id = self.store.dictionary_id("complaint_category", category)
            pid = conn.execute(select(t.c.id).where(t.c.category == cat_id)).scalar()
            if pid is None:
                return self._insert("complaint_policy", values)
            self._update("complaint_policy", int(pid), {k: v for k, v in values.items() if k != "category"})
            return int(pid)

    # -- service requests ------------------------------------------------------------------------

    @atomic
    def open_service_request(self, customer_id: int, description: str, *, urgency: str = "一般",
                             product_id: int | None = None, order_id: int | None = None,
                             contact_id: int | None = None, assignee: int | str | None = None,
                             channel: str | None = None, opened_at: dt.datetime | str | None = None) -> int:
        """Open a service request (新建); ``in_warranty`` comes from the product's warranty months
        counted from the order date (the given order, else the customer's latest order of it).

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> cid = crm.create_customer("远航物流有限公司", province="上海", city="上海市", owner="rep1")
            >>> sr = crm.open_service_request(cid, "扫码枪无法连接", urgency="紧急")
            >>> later = crm.__class__.system(crm.store, now=dt.datetime(2025, 7, 1, 15, 0))
            >>> later.respond_service_request(sr)
            >>> later.sla_status()[["response_due", "response_met"]].values.tolist()
            [[Timestamp('2025-07-01 13:00:00'), False]]
        """
        self._check_customer(customer_id, "create", module="service")
        if urgency not in reference.state_values("urgency"):
            raise UnknownValueError(field="urgency", value=urgency, label="紧急程度", allowed=reference.state_values("urgency"))
        self._contact_of(customer_id, contact_id)
        opened = self.store.validate("service_request", {"opened_at": opened_at or self.now}, partial=True)["opened_at"]
        in_warranty = False
        order_date = None
        if order_id is not None:
            order = self._row("sales_order", order_id, field="order_id")
            if order["customer_id"] != customer_id:
                raise ValidationError(field="order_id", value=order_id, label="合同/订单", allowed=f"客户 {customer_id} 的合同/订单")
            order_date = order["order_date"]
        if product_id is not None:
            product = self._row("product", product_id, field="product_id")
            if order_date is None:
                orders = self.store.read("sales_order", where={"customer_id": customer_id})
                lines = self.store.read("order_line", where={"product_id": product_id})
                dates = orders.loc[orders["id"].isin(lines["order_id"]) & (orders["approval"] == "同意"), "order_date"]
                order_date = dates.max().date() if len(dates) else None
            if order_date is not None and product["warranty_months"] is not None:
                in_warranty = opened.date() <= _add_months(order_date, int(product["warranty_months"]))
        assignee_id = None
        if assignee is not None:
            assignee_id = self._employee_id(assignee, field="assignee_id", label="处理人")
        with self.store.transaction():
            self._sla()
            return self._insert("service_request", {
                "code": self.next_code("service_request"), "customer_id": customer_id, "contact_id": contact_id,
                "product_id": product_id, "order_id": order_id, "assignee_id": assignee_id, "channel": channel,
                "urgency": urgency, "description": description, "in_warranty": bool(in_warranty),
                "opened_at": opened, "status": "新建"})

    def _sr(self, request_id: int, expected: str | None = None, new: str | None = None) -> dict[str, Any]:
        row = self._check_row("service_request", request_id, "update", field="service_request_id")
        if expected is not None and row["status"] != expected:
            # the machine allows 处理中 from both 新建 (respond) and 已解决 (reopen): keep them apart
            raise StateTransitionError(field="status", value=new, label="服务状态", table="service_request",
                                       allowed=reference.allowed_transitions("service_status", row["status"]) or "（终态）",
                                       reason=f"当前状态为“{row['status']}”，这一操作只适用于“{expected}”的服务请求")
        return row

    @atomic
    def respond_service_request(self, request_id: int, *, at: dt.datetime | str | None = None,
                                assignee: int | str | None = None) -> None:
        """First response: 新建 → 处理中 (records the first-response time)."""
        row = self._sr(request_id, "新建", "处理中")
        extra: dict[str, Any] = {"first_response_at": at or self.now}
        if assignee is not None:
            extra["assignee_id"] = self._employee_id(assignee, field="assignee_id", label="处理人")
        elif row["assignee_id"] is None and self.user_id is not None:
            extra["assignee_id"] = self.user_id
        self._transition("service_request", row, "service_status", "处理中", extra=extra)

    @atomic
    def resolve_service_request(self, request_id: int, *, at: dt.datetime | str | None = None,
                                satisfaction: int | None = None) -> None:
        """处理中 → 已解决 (records the resolution time)."""
        row = self._sr(request_id)
        self._transition("service_request", row, "service_status", "已解决",
                         extra={"resolved_at": at or self.now, "satisfaction": satisfaction})

    @atomic
    def reopen_service_request(self, request_id: int) -> None:
        """已解决 → 处理中 (the problem came back; the resolution time is cleared)."""
        row = self._sr(request_id, "已解决", "处理中")
        self._transition("service_request", row, "service_status", "处理中", extra={"resolved_at": None})

    @atomic
    def close_service_request(self, request_id: int, *, at: dt.datetime | str | None = None) -> None:
        """已解决 → 已关闭."""
        row = self._sr(request_id)
        self._transition("service_request", row, "service_status", "已关闭", extra={"closed_at": at or self.now})

    def sla_status(self, at: dt.datetime | str | None = None) -> pd.DataFrame:
        """Each visible service request against its SLA targets at time ``at`` (default now).

        Returns:
            DataFrame ``id, code, urgency, status, opened_at, first_response_at, resolved_at,
            response_due, resolution_due, response_met, resolution_met, breached`` — a target
            is met when done by its due time; ``breached`` when a target is missed or its due
            time has passed undone.
        """
        return self._sla_table(self.list("service_request"), at)

    def _sla_table(self, sr: pd.DataFrame, at: dt.datetime | str | None = None) -> pd.DataFrame:
        """:meth:`sla_status` of the service-request rows ``sr`` (a screen passes only the rows it
        shows, read by ``list(where=…, limit=…)``, instead of every request)."""
        at = pd.Timestamp(at or self.now)
        sla = self._sla() if self.store.count("sla_policy") < len(DEFAULT_SLA) else {
            r.urgency: (r.first_response_hours, r.resolution_hours) for r in self.store.read("sla_policy").itertuples()}
        fr = sr["urgency"].map({k: v[0] for k, v in sla.items()}).astype("float64")
        res = sr["urgency"].map({k: v[1] for k, v in sla.items()}).astype("float64")
        out = sr[["id", "code", "urgency", "status", "opened_at", "first_response_at", "resolved_at"]].copy()
        out["response_due"] = sr["opened_at"] + pd.to_timedelta(fr, unit="h")
        out["resolution_due"] = sr["opened_at"] + pd.to_timedelta(res, unit="h")
        out["response_met"] = (sr["first_response_at"].notna() & (sr["first_response_at"] <= out["response_due"])).astype(bool)
        out["resolution_met"] = (sr["resolved_at"].notna() & (sr["resolved_at"] <= out["resolution_due"])).astype(bool)
        late_response = (sr["first_response_at"].notna() & ~out["response_met"]) | (
            sr["first_response_at"].isna() & (out["response_due"] < at))
        late_resolution = (sr["resolved_at"].notna() & ~out["resolution_met"]) | (
            sr["resolved_at"].isna() & (out["resolution_due"] < at))
        out["breached"] = (late_response | late_resolution).astype(bool)
        return out.reset_index(drop=True)

    # -- complaints ------------------------------------------------------------------------------

    @atomic
    def record_complaint(self, customer_id: int, description: str, *, category: str | None = None,
                         urgency: str = "一般", channel: str | None = None, contact_id: int | None = None,
                         order_id: int | None = None, product_id: int | None = None,
                         first_receiver: int | str | None = None, received_at: dt.datetime | str | None = None) -> int:
        """Record a complaint (已记录); the acting user is the first receiver (首问负责) by default."""
        cust = self._check_customer(customer_id, "create", module="complaint")
        if first_receiver is not None:
            receiver = self._employee_id(first_receiver, field="first_receiver_id", label="首问接待人")
        else:
            receiver = self.user_id or cust["owner_id"]
        for field, table in (("contact_id", "contact"), ("order_id", "sales_order")):
            value = {"contact_id": contact_id, "order_id": order_id}[field]
            if value is not None and self._row(table, value, field=field)["customer_id"] != customer_id:
                raise ValidationError(field=field, value=value, label=table, allowed=f"客户 {customer_id} 的记录")
        at = received_at or self.now
        with self.store.transaction():
            cid = self._insert("complaint", {
                "code": self.next_code("complaint"), "customer_id": customer_id, "contact_id": contact_id,
                "order_id": order_id, "product_id": product_id,
                "category": category or self.dictionary_default("complaint_category"), "urgency": urgency,
                "channel": channel, "description": description, "first_receiver_id": receiver,
                "return_visit_confirmed": False, "status": "已记录", "received_at": at})
            self._insert("complaint_history", {"complaint_id": cid, "status": "已记录", "at": at,
                                               "employee_id": self.user_id, "note": "受理投诉"})
        return cid

    @atomic
    def advance_complaint(self, complaint_id: int, status: str, *, note: str | None = None, **fields: Any) -> None:
        """Move a complaint one step along its state machine, recording what was done.

        Args:
            complaint_id: the complaint.
            status: the next state (调查中 / 已分派 / 方案待批 / 处理中 / 已回访 / 已归档).
            note: what was done (complaint_history).
            **fields: department_id, handler_id, handling_notes, solution, customer_feedback,
                satisfaction, gap_type. 已分派 needs a responsible department; 处理中 needs a
                solution; 已回访 needs a confirmed return visit (:meth:`record_return_visit`).
        """
        row = self._check_row("complaint", complaint_id, "update", field="complaint_id")
        check_transition("complaint_status", row["status"], status, table="complaint")
        for key in fields:
            if key not in COMPLAINT_FIELDS:
                raise UnknownValueError(field=key, value=fields[key], label="字段名", table="complaint",
                                        allowed=COMPLAINT_FIELDS)
        if "department_id" in fields and fields["department_id"] is not None:
            self._row("department", fields["department_id"], field="department_id")
        if fields.get("handler_id") is not None:
            fields["handler_id"] = self._employee_id(fields["handler_id"], field="handler_id", label="处理人")
        merged = {**row, **fields}
        if status == "已分派" and merged.get("department_id") is None:
            raise RequiredFieldError(field="department_id", value=None, label="责任部门", allowed="已存在的部门编号")
        if status == "方案待批" and not merged.get("solution"):
            raise RequiredFieldError(field="solution", value=merged.get("solution"), label="处理方案",
                                     allowed="提交审批前须写明处理方案")
        if status == "处理中":
            self._require_role(("主管", "老板"), "批准投诉处理方案")
        if status == "已回访" and not merged.get("return_visit_confirmed"):
            raise RequiredFieldError(field="return_visit_confirmed", value=False, label="回访确认",
                                     allowed="先用 record_return_visit(..., confirmed=True) 记录回访")
        at = self.now
        with self.store.transaction():
            extra = dict(fields)
            if status == "已归档":
                extra["closed_at"] = at
            self._transition("complaint", row, "complaint_status", status, extra=extra)
            self._insert("complaint_history", {"complaint_id": complaint_id, "status": status, "at": at,
                                               "employee_id": self.user_id, "note": note})

    @atomic
    def record_return_visit(self, customer_id: int, *, complaint_id: int | None = None,
                            service_request_id: int | None = None, satisfaction: int | None = None,
                            notes: str | None = None, channel: str | None = None, confirmed: bool = True,
                            visit_date: dt.date | str | None = None) -> int:
        """Record a return visit (回访) after a complaint or service request; returns its id.

        A confirmed visit of a complaint sets ``complaint.return_visit_confirmed`` (and its
        satisfaction and feedback), which the step 处理中 → 已回访 requires.
        """
        cust = self._check_customer(customer_id, "create", module="service")
        for value, table, field in ((complaint_id, "complaint", "complaint_id"),
                                    (service_request_id, "service_request", "service_request_id")):
            if value is not None and self._row(table, value, field=field)["customer_id"] != customer_id:
                raise ValidationError(field=field, value=value, label=table, allowed=f"客户 {customer_id} 的记录")
        with self.store.transaction():
            vid = self._insert("return_visit", {
                "customer_id": customer_id, "complaint_id": complaint_id, "service_request_id": service_request_id,
                "employee_id": self.user_id or cust["owner_id"], "visit_date": visit_date or self.today,
                "channel": channel, "satisfaction": satisfaction, "notes": notes})
            if complaint_id is not None and confirmed:
                values: dict[str, Any] = {"return_visit_confirmed": True}
                if satisfaction is not None:
                    values["satisfaction"] = satisfaction
                if notes:
                    values["customer_feedback"] = notes
                self._update("complaint", complaint_id, values)
        return vid
