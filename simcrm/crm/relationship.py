"""Customer communication and care (客户沟通、客户关怀): activities and care plans."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_

from .. import reference
from ..errors import RequiredFieldError, UnknownValueError, ValidationError
from .base import TABLE_MODULE, CRMBase, atomic, tbl


class RelationshipMixin(CRMBase):
    @atomic
    def log_activity(self, customer_id: int, subject: str, *, channel: str = "电话", kind: str = "记录",
                     at: dt.datetime | str | None = None, contact_id: int | None = None, outcome: str | None = None,
                     opportunity_id: int | None = None, campaign_id: int | None = None) -> int:
        """Log a call, visit, e-mail, message … with a customer (kind 记录), or plan one (日程 / 待办).

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> rep = crm.as_user("rep1")
            >>> cid = rep.create_customer("远航物流有限公司", province="上海", city="上海市")
            >>> rep.log_activity(cid, "电话了解仓储需求", channel="电话", outcome="约定下周面谈")
            1
            >>> rep.log_activity(cid, "拜访", channel="飞鸽传书")
            Traceback (most recent call last):
            ...
            simcrm.errors.UnknownValueError: 沟通渠道（channel）的值 '飞鸽传书' 不在允许的取值中。允许：电话、面谈、信函、邮件、短信、微信、活动、网站、其他
            [en] unknown value '飞鸽传书' for field 'channel'; allowed: 电话、面谈、信函、邮件、短信、微信、活动、网站、其他
        """
        cust = self._check_customer(customer_id, "create", module="activity")
        self._contact_of(customer_id, contact_id)
        if opportunity_id is not None and self._row("opportunity", opportunity_id, field="opportunity_id")[
                "customer_id"] != customer_id:
            raise ValidationError(field="opportunity_id", value=opportunity_id, label="销售机会", allowed=f"客户 {customer_id} 的销售机会")
        if kind not in reference.state_values("activity_kind"):
            raise UnknownValueError(field="kind", value=kind, label="活动类型", allowed=reference.state_values("activity_kind"))
        return self._insert("activity", {"customer_id": customer_id, "contact_id": contact_id,
                                         "employee_id": self.user_id or cust["owner_id"], "channel": channel,
                                         "kind": kind, "subject": subject, "activity_time": at or self.now,
                                         "outcome": outcome, "opportunity_id": opportunity_id,
                                         "campaign_id": campaign_id})

    @atomic
    def complete_activity(self, activity_id: int, outcome: str | None = None) -> None:
        """A planned activity (日程 / 待办) took place: it becomes a 记录 with its outcome."""
        row = self._check_row("activity", activity_id, "update", field="activity_id")
        self._transition("activity", row, "activity_kind", "记录", field="kind", extra={"outcome": outcome})

    @atomic
    def plan_care(self, customer_id: int, care_type: str, subject: str, planned_date: dt.date | str, *,
                  contact_id: int | None = None, channel: str | None = None, employee: int | str | None = None,
                  campaign_id: int | None = None) -> int:
        """Plan a care action (生日 / 节日 / 售后回访 / 关怀活动); returns its id."""
        cust = self._check_customer(customer_id, "create", module="care")
        self._contact_of(customer_id, contact_id)
        if care_type not in reference.state_values("care_type"):
            raise UnknownValueError(field="care_type", value=care_type, label="关怀类型",
                                    allowed=reference.state_values("care_type"))
        if care_type == "生日" and contact_id is None:
            raise RequiredFieldError(field="contact_id", value=None, label="联系人", allowed="生日关怀须指定联系人")
        emp = cust["owner_id"] if employee is None and self.is_system else self.user_id
        if employee is not None:
            emp = self._employee_id(employee, field="employee_id", label="负责人")
            self._check_assignable(emp)
        return self._insert("care", {"customer_id": customer_id, "contact_id": contact_id, "employee_id": emp,
                                     "care_type": care_type, "channel": channel, "subject": subject,
                                     "planned_date": planned_date, "campaign_id": campaign_id})

    @atomic
    def complete_care(self, care_id: int, done_date: dt.date | str | None = None, feedback: str | None = None,
                      satisfaction: int | None = None) -> None:
        """Record that a planned care action was done, with the customer's feedback (1–5)."""
        row = self._check_row("care", care_id, "update", field="care_id")
        if row["done_date"] is not None:
            from ..errors import StateTransitionError

            raise StateTransitionError(field="done_date", value=row["done_date"], label="执行日期", table="care",
                                       allowed="尚未执行的关怀", reason="该关怀已执行")
        values: dict[str, Any] = {"done_date": done_date or self.today, "feedback": feedback,
                                  "satisfaction": satisfaction}
        clean = self.store.validate("care", values, partial=True)
        if clean["done_date"] < row["planned_date"] - dt.timedelta(days=366):
            raise ValidationError(field="done_date", value=done_date, label="执行日期",
                                  allowed=f"不早于计划日期 {row['planned_date']} 一年以上")
        if satisfaction is not None and (isinstance(satisfaction, bool) or not isinstance(satisfaction, int)):
            raise ValidationError(field="satisfaction", value=satisfaction, label="反馈满意度", allowed="1–5 的整数")
        self._update("care", care_id, values)

    def care_due(self, until: dt.date | str | None = None, *, limit: int | None = None):
        """Care actions planned up to ``until`` (default today) and not yet done.

        With ``limit``: only the ``limit`` earliest (by planned date, then id); ``attrs["total"]``
        of the result says how many are due in all.
        """
        until = self.store.validate("care", {"planned_date": until or self.today}, partial=True)["planned_date"]
        # the filter runs in the database with the data scope (one SELECT), not on the whole table
        c = tbl("care")
        with self._traced("list", "care"):
            self._require(TABLE_MODULE["care"], "read")
        scope = self.read_condition("care")
        cond = and_(c.c.done_date.is_(None), c.c.planned_date <= until, *([] if scope is None else [scope]))
        if limit is None:
            return self._mask_read("care", self.store.read("care", condition=cond)).reset_index(drop=True)
        due = self.store.read("care", condition=cond, order_by="planned_date", limit=limit)
        due = self._mask_read("care", due).reset_index(drop=True)
        due.attrs["total"] = self.store.count_where("care", condition=cond)
        return due

    @atomic
    def record_survey(self, customer_id: int, overall: int, *, survey_date: dt.date | str | None = None,
                      expectation: dict[str, float] | None = None, perception: dict[str, float] | None = None,
                      would_recommend: bool | None = None, comment: str | None = None) -> int:
        """Record a satisfaction survey: overall 1–5 and, optionally, SERVQUAL expectation and
        perception (1–7) per dimension (keys: tangibles, reliability, responsiveness, assurance,
        empathy — or their Chinese names 有形性 …)."""
        self._check_customer(customer_id, "create", module="care")
        names = {d["code"]: d["code"] for d in reference.SERVQUAL} | {d["name"]: d["code"] for d in reference.SERVQUAL}
        values: dict[str, Any] = {"customer_id": customer_id, "overall": overall,
                                  "survey_date": survey_date or self.today, "would_recommend": would_recommend,
                                  "comment": comment}
        for prefix, given in (("exp", expectation or {}), ("per", perception or {})):
            for key, score in given.items():
                if key not in names:
                    raise UnknownValueError(field=f"{prefix}_{key}", value=key, label="SERVQUAL 维度",
                                            allowed=list(names))
                values[f"{prefix}_{names[key]}"] = score
        return self._insert("survey", values)
