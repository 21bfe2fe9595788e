"""Leads (线索管理): create, score, qualify, convert to customer + contact + opportunity, invalidate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from ..errors import RequiredFieldError, UnknownValueError, ValidationError
from .base import CRMBase, atomic, check_transition, is_integer, locale, refuse_nan
from .customers import _missing, check_region

LEAD_FIELDS = ("name", "company", "title", "mobile", "email", "province", "city", "source", "score")


@dataclass(frozen=True)
class Conversion:
    """What :meth:`LeadsMixin.convert_lead` created (or reused)."""

    lead_id: int
    customer_id: int
    contact_id: int
    opportunity_id: int | None


class LeadsMixin(CRMBase):
    def _clean_lead(self, values: dict[str, Any]) -> dict[str, Any]:
        loc = locale()
        for key in values:
            if key not in LEAD_FIELDS:
                raise UnknownValueError(field=key, value=values[key], label="字段名", table="lead",
                                        allowed=LEAD_FIELDS, reason="不是可直接修改的线索字段")
        refuse_nan("lead", values)
        out = dict(values)
        for key in ("mobile", "email", "province", "city", "company"):
            if key in out and _missing(out[key]):
                out[key] = None
        if out.get("mobile") is not None:
            out["mobile"] = loc.validate_mobile(out["mobile"])
        if out.get("email") is not None:
            out["email"] = loc.validate_email(out["email"])
        if out.get("province") is not None or out.get("city") is not None:
            if out.get("province") is None:
                raise RequiredFieldError(field="province", value=None, label="省份", allowed="填写城市时也须填写省份")
            if out.get("city") is None:
                raise RequiredFieldError(field="city", value=None, label="城市", allowed="填写省份时也须填写城市")
            out["province"], out["city"] = check_region(out["province"], out["city"])
        return out

    @atomic
    def create_lead(self, name: str, *, source: str | None = None, owner: int | str | None = None,
                    company: str | None = None, mobile: str | None = None, email: str | None = None,
                    **fields: Any) -> int:
        """Record a sales lead (status 新建); returns its id.

        A lead needs a way to reach the person: a mobile number or an e-mail.

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> rep = crm.as_user("rep1")
            >>> lead = rep.create_lead("赵敏", company="远航物流有限公司", mobile="13912345678")
            >>> rep.qualify_lead(lead)
            >>> result = rep.convert_lead(lead, province="上海", city="上海市", amount=50000)
            >>> crm.store.get("lead", lead)["status"], result.customer_id, result.opportunity_id
            ('已转化', 1, 1)
        """
        row = self._prepare_lead(name, source=source, owner=owner, company=company, mobile=mobile, email=email,
                                 **fields)
        return self._write_leads([row])[0]

    def _prepare_lead(self, name: str, *, source: str | None = None, owner: int | str | None = None,
                      company: str | None = None, mobile: str | None = None, email: str | None = None,
                      **fields: Any) -> dict[str, Any]:
        """Every check of :meth:`create_lead`; returns the row ready to write (without its code)."""
        self._require("lead", "create")
        owner_id = self.user_id if owner is None else self._employee_id(owner)
        if owner_id is not None:
            self._check_assignable(owner_id)
        values = self._clean_lead(dict(fields, name=name, company=company, mobile=mobile, email=email,
                                       source=source if source is not None else self.dictionary_default("source")))
        if values.get("mobile") is None and values.get("email") is None:
            raise RequiredFieldError(field="mobile", value=mobile, label="手机", allowed="手机号或电子邮件至少填写一项")
        clean = self.store.validate("lead", {**values, "code": "XS", "owner_id": owner_id, "status": "新建",
                                             "created_at": self.now})
        clean["code"] = None
        return clean

    def _write_leads(self, rows: list[dict[str, Any]]) -> list[int]:
        """Write rows of :meth:`_prepare_lead` (codes and audit); returns their ids."""
        with self.store.transaction():
            for r, code in zip(rows, self.next_codes("lead", len(rows))):
                r["code"] = code
            return self._insert_many("lead", rows, checked=True)

    @atomic
    def update_lead(self, lead_id: int, **fields: Any) -> None:
        """Change a lead's fields (while 新建 or 跟进中)."""
        row = self._check_row("lead", lead_id, "update", field="lead_id")
        self._open_lead(row)
        self._update("lead", lead_id, self._clean_lead(fields))

    def _open_lead(self, row: dict[str, Any]) -> None:
        if row["status"] in ("已转化", "无效"):
            from ..errors import StateTransitionError

            raise StateTransitionError(field="status", value=row["status"], label="线索状态", table="lead",
                                       allowed=("新建", "跟进中"), reason="已转化或无效的线索不能再修改")

    @atomic
    def score_lead(self, lead_id: int, score: int) -> None:
        """Give a lead a score from 0 to 100."""
        row = self._check_row("lead", lead_id, "update", field="lead_id")
        self._open_lead(row)
        if not is_integer(score) or not 0 <= score <= 100:
            raise ValidationError(field="score", value=score, label="线索评分", allowed="0–100 的整数")
        self._update("lead", lead_id, {"score": score})

    @atomic
    def assign_lead(self, lead_id: int, owner: int | str) -> None:
        """Give a lead to an (active) employee."""
        row = self._check_row("lead", lead_id, "update", field="lead_id")
        self._open_lead(row)
        owner_id = self._employee_id(owner)
        self._check_assignable(owner_id)
        self._update("lead", lead_id, {"owner_id": owner_id})

    @atomic
    def qualify_lead(self, lead_id: int) -> None:
        """Start following up a lead: 新建 → 跟进中."""
        row = self._check_row("lead", lead_id, "update", field="lead_id")
        check_transition("lead_status", row["status"], "跟进中", table="lead")
        self._update("lead", lead_id, {"status": "跟进中"}, action="状态变更")

    @atomic
    def invalidate_lead(self, lead_id: int, reason: str) -> None:
        """Mark a lead 无效 with a reason from the 线索无效原因 dictionary."""
        row = self._check_row("lead", lead_id, "update", field="lead_id")
        check_transition("lead_status", row["status"], "无效", table="lead")
        if reason is None:
            raise RequiredFieldError(field="invalid_reason", value=None, label="无效原因",
                                     allowed=self.store.dictionary_values("lead_invalid_reason"))
        self._update("lead", lead_id, {"status": "无效", "invalid_reason": reason}, action="状态变更")

    @atomic
    def convert_lead(self, lead_id: int, *, customer_id: int | None = None, kind: str | None = None,
                     province: str | None = None, city: str | None = None, opportunity: bool = True,
                     opportunity_name: str | None = None, amount: float = 0.0, stage: str | None = None,
                     expected_close=None, allow_duplicate: bool = False, **customer_fields: Any) -> Conversion:
        """Turn a lead into a customer, a contact and (by default) an opportunity in one step.

        The customer is new (name = the lead's company, or the person for an individual) unless
        ``customer_id`` names an existing one; province and city default to the lead's. The
        lead becomes 已转化 and remembers the three ids.

        Returns:
            A :class:`Conversion` with ``customer_id``, ``contact_id``, ``opportunity_id``.
        """
        row = self._check_row("lead", lead_id, "update", field="lead_id")
        check_transition("lead_status", row["status"], "已转化", table="lead")
        source = self.store.dictionary_value(row["source"])
        owner = row["owner_id"] or self.user_id
        # a classroom login that reads the lead's mobile and e-mail masked: the database copies
        # the clear values (simcrm_copy_lead_contact), the masks never reach the new records
        in_database = bool({"lead.mobile", "lead.email"} & self.store.masked_by_database)
        phone_of_lead = False
        with self.store.transaction():
            if customer_id is None:
                kind = kind or ("企业" if row["company"] else "个人")
                name = row["company"] if kind == "企业" else row["name"]
                if _missing(name):
                    raise RequiredFieldError(field="company", value=row["company"], label="公司名称",
                                             allowed="转化为企业客户时线索须有公司名称")
                args = dict(source=source, province=province or row["province"], city=city or row["city"],
                            owner=owner, allow_duplicate=allow_duplicate, **customer_fields)
                if kind == "个人" and "phone" not in customer_fields and in_database:
                    phone_of_lead = True
                    customer_id = self._create_customer_of_lead(row, name, kind, **args)
                else:
                    if kind == "个人" and "phone" not in customer_fields:
                        args["phone"] = row["mobile"]
                    customer_id = self.create_customer(name, kind, **args)
            else:
                self._check_customer(customer_id, "update")
            reach = {} if in_database else {"mobile": row["mobile"], "email": row["email"]}
            contact_id = self.add_contact(customer_id, row["name"], **reach)
            opp_id = None
            if opportunity:
                opp_id = self.create_opportunity(
                    customer_id, opportunity_name or f"{row['company'] or row['name']}-线索转化",
                    amount=amount, stage=stage, contact_id=contact_id, owner=owner, source=source,
                    expected_close=expected_close)
            self._update("lead", lead_id, {"status": "已转化", "converted_at": self.now, "customer_id": customer_id,
                                           "contact_id": contact_id, "opportunity_id": opp_id}, action="状态变更")
            if in_database:
                self.store._active.get().execute(text("SELECT simcrm_copy_lead_contact(:l, :p)"),
                                                 {"l": int(lead_id), "p": phone_of_lead})
        return Conversion(lead_id, customer_id, contact_id, opp_id)
