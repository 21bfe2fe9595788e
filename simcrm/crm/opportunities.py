"""Opportunities (销售机会管理): stages, probability, closing, quotas.

THE INVARIANT (DESIGN.md), kept by :func:`opportunity_probability`, which every write path
(create, advance, override, bulk update, win, lose, shelve, resume, expire) calls through
:meth:`OpportunitiesMixin._apply_opportunity`:

* probability = :data:`simcrm.reference.STAGE_PROBABILITY` [stage], unless a manual override is
  set, in which case probability = the override;
* any stage change clears the override;
* 成功 = 100 and 失败 = 0 always;
* a closed opportunity (成功 / 失败 / 失效) no longer changes.

Stages move forward or back one or more steps only while 跟踪; 跟踪 ↔ 搁置;
跟踪 → 成功 | 失败 | 失效. Each change of stage, status or probability closes the current
``opportunity_stage_history`` row (``left_at``) and opens a new one (``entered_at``).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from sqlalchemy import select

from .. import reference
from ..errors import RequiredFieldError, StateTransitionError, UnknownValueError, ValidationError
from .base import CRMBase, atomic, check_transition, is_number, money, tbl

CLOSED = ("成功", "失败", "失效")
_UNSET = object()


def opportunity_probability(stage: str, status: str, override: float | None) -> float:
    """The probability an opportunity must have — the one rule of the invariant.

    >>> opportunity_probability("商务谈判", "跟踪", None)
    80.0
    >>> opportunity_probability("商务谈判", "跟踪", 35)
    35.0
    >>> opportunity_probability("初期沟通", "成功", 35)
    100.0
    """
    if status in reference.CLOSED_PROBABILITY:
        return float(reference.CLOSED_PROBABILITY[status])
    if override is not None:
        return float(override)
    return float(reference.STAGE_PROBABILITY[stage])


def _check_stage(stage: Any) -> str:
    if stage not in reference.STAGES:
        raise UnknownValueError(field="stage", value=stage, label="销售阶段", table="opportunity",
                                allowed=reference.STAGES)
    return stage


def _check_pct(pct: Any) -> float:
    if not is_number(pct) or not 0 <= pct <= 100 or pct != pct:
        raise ValidationError(field="probability_override", value=pct, label="手工概率(%)", allowed="0–100 的数字")
    return float(pct)


class OpportunitiesMixin(CRMBase):
    @atomic
    def create_opportunity(self, customer_id: int, name: str, *, amount: float = 0.0, stage: str | None = None,
                           owner: int | str | None = None, contact_id: int | None = None,
                           expected_close=None, source: str | None = None,
                           probability_override: float | None = None) -> int:
        """Open an opportunity (status 跟踪) for a customer; returns its id.

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> rep = crm.as_user("rep1")
            >>> cid = rep.create_customer("远航物流有限公司", province="上海", city="上海市")
            >>> opp = rep.create_opportunity(cid, "仓储系统", amount=120000)
            >>> rep.advance_opportunity(opp, "商务谈判")
            >>> rep.set_probability_override(opp, 65)
            >>> rep.store.get("opportunity", opp)["probability"]
            65.0
            >>> rep.advance_opportunity(opp, "合同签约")     # a stage change clears the override
            >>> rep.store.get("opportunity", opp)["probability"]
            90.0
            >>> rep.win_opportunity(opp)
            >>> rep.advance_opportunity(opp, "初期沟通")
            Traceback (most recent call last):
            ...
            simcrm.errors.StateTransitionError: 销售机会状态（status）[opportunity]的值 '成功' 不能变更为该状态：已结束的销售机会不能再修改（想改为阶段“初期沟通”）。允许：跟踪、搁置 状态下的销售机会
            [en] illegal state change '成功' for field 'status'; allowed: 跟踪、搁置 状态下的销售机会
        """
        cust = self._check_customer(customer_id, "create", module="opportunity")
        if owner is None:
            owner_id = cust["owner_id"] if self.is_system else self.user_id
        else:
            owner_id = self._employee_id(owner)
        self._check_assignable(owner_id)
        stage = _check_stage(stage or reference.STAGES[0])
        self._contact_of(customer_id, contact_id)
        if not is_number(amount) or amount < 0 or amount != amount:
            raise ValidationError(field="amount", value=amount, label="预计金额", allowed="不小于 0 的数字")
        override = None if probability_override is None else _check_pct(probability_override)
        now = self.now
        with self.store.transaction():
            values = {"code": self.next_code("opportunity"), "name": name, "customer_id": customer_id,
                      "contact_id": contact_id, "owner_id": owner_id, "source": source, "amount": money(amount),
                      "expected_close": expected_close, "stage": stage, "probability_override": override,
                      "probability": opportunity_probability(stage, "跟踪", override), "status": "跟踪",
                      "created_at": now}
            oid = self._insert("opportunity", values)
            self._insert("opportunity_stage_history", {
                "opportunity_id": oid, "stage": stage, "status": "跟踪", "probability": values["probability"],
                "entered_at": now, "changed_by": self.user_id})
        return oid

    def _apply_opportunity(self, row: dict[str, Any], *, stage: str | None = None, status: str | None = None,
                           override: Any = _UNSET, extra: dict[str, Any] | None = None) -> None:
        """The one write path of every opportunity change; keeps the invariant and the history."""
        current = row["status"]
        if current in CLOSED:
            wanted = f"状态“{status}”" if status else f"阶段“{stage}”" if stage else "概率"
            raise StateTransitionError(field="status", value=current, label="销售机会状态", table="opportunity",
                                       allowed="跟踪、搁置 状态下的销售机会",
                                       reason=f"已结束的销售机会不能再修改（想改为{wanted}）")
        new_status = current if status is None else status
        if status is not None:
            check_transition("opportunity_status", current, status, table="opportunity")
        new_stage = row["stage"] if stage is None else _check_stage(stage)
        if (new_stage != row["stage"] or override is not _UNSET) and new_status != "跟踪":
            raise StateTransitionError(field="stage" if stage else "probability_override",
                                       value=stage if stage else override, label="销售阶段", table="opportunity",
                                       allowed="状态为“跟踪”的销售机会",
                                       reason=f"销售机会状态为“{new_status}”，只有跟踪中的销售机会能改阶段或概率")
        new_override = row["probability_override"] if override is _UNSET else override
        if new_stage != row["stage"]:
            new_override = None
        if new_status in ("成功", "失败"):
            new_override = None
        probability = opportunity_probability(new_stage, new_status, new_override)
        values = {"stage": new_stage, "status": new_status, "probability_override": new_override,
                  "probability": probability, **(extra or {})}
        if new_status in CLOSED:
            values["closed_at"] = self.now
        changed = (new_stage != row["stage"] or new_status != current or probability != row["probability"])
        h = tbl("opportunity_stage_history")
        now = self.now
        with self.store.transaction() as conn:
            self._update("opportunity", row["id"], values,
                         action="状态变更" if new_status != current else "修改")
            if changed:
                for hid in conn.execute(select(h.c.id).where(h.c.opportunity_id == row["id"],
                                                             h.c.left_at.is_(None))).scalars():
                    self._update("opportunity_stage_history", hid, {"left_at": now})
                self._insert("opportunity_stage_history", {
                    "opportunity_id": row["id"], "stage": new_stage, "status": new_status,
                    "probability": probability, "entered_at": now, "changed_by": self.user_id})

    def _opp(self, opportunity_id: int) -> dict[str, Any]:
        return self._check_row("opportunity", opportunity_id, "update", field="opportunity_id")

    @atomic
    def advance_opportunity(self, opportunity_id: int, stage: str) -> None:
        """Move a 跟踪 opportunity to another stage (forward or back); clears a manual override."""
        row = self._opp(opportunity_id)
        _check_stage(stage)
        if stage == row["stage"] and row["status"] not in CLOSED:
            raise ValidationError(field="stage", value=stage, label="销售阶段",
                                  allowed=[s for s in reference.STAGES if s != stage], reason="已经处于该阶段")
        self._apply_opportunity(row, stage=stage)

    @atomic
    def set_probability_override(self, opportunity_id: int, pct: float | None) -> None:
        """Set (or with ``None`` clear) a manual win probability of a 跟踪 opportunity."""
        row = self._opp(opportunity_id)
        self._apply_opportunity(row, override=None if pct is None else _check_pct(pct))

    @atomic
    def clear_probability_override(self, opportunity_id: int) -> None:
        """Go back to the stage's probability."""
        self.set_probability_override(opportunity_id, None)

    @atomic
    def update_opportunity(self, opportunity_id: int, *, name: str | None = None, amount: float | None = None,
                           expected_close=None, contact_id: int | None = None) -> None:
        """Change an open opportunity's name, amount, expected close date or contact.

        A closed opportunity (成功 / 失败 / 失效) is frozen: what was won or lost stays on record.
        """
        row = self._opp(opportunity_id)
        if row["status"] in CLOSED:
            raise StateTransitionError(field="status", value=row["status"], label="销售机会状态", table="opportunity",
                                       allowed="跟踪、搁置 状态下的销售机会",
                                       reason="已结束的销售机会已冻结，不能再修改名称、金额、预计成交日期或联系人")
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if amount is not None:
            if not is_number(amount) or amount < 0:
                raise ValidationError(field="amount", value=amount, label="预计金额", allowed="不小于 0 的数字")
            values["amount"] = money(amount)
        if expected_close is not None:
            values["expected_close"] = expected_close
        if contact_id is not None:
            self._contact_of(row["customer_id"], contact_id)
            values["contact_id"] = contact_id
        self._apply_opportunity(row, extra=values)

    @atomic
    def bulk_update_opportunities(self, ids: Iterable[int], *, stage: str | None = None,
                                  probability_override: Any = _UNSET, status: str | None = None) -> int:
        """Change many opportunities at once, all or nothing, through the same rule.

        Args:
            ids: opportunity ids.
            stage: new stage for all of them (clears their overrides).
            probability_override: a manual probability (``None`` clears it).
            status: 成功 / 失败 / 失效 / 搁置 / 跟踪.

        Returns:
            The number of opportunities changed.
        """
        ids = list(ids)
        if not ids:
            raise RequiredFieldError(field="ids", value=ids, label="销售机会编号", allowed="至少一个销售机会编号")
        if stage is None and status is None and probability_override is _UNSET:
            raise RequiredFieldError(field="stage", value=None, label="销售阶段",
                                     allowed="stage、status、probability_override 至少给一个")
        if probability_override is not _UNSET and probability_override is not None:
            probability_override = _check_pct(probability_override)
        with self.store.transaction():
            for oid in ids:
                row = self._opp(oid)
                self._apply_opportunity(row, stage=stage, status=status, override=probability_override)
        return len(ids)

    @atomic
    def win_opportunity(self, opportunity_id: int) -> None:
        """Close as 成功 (probability 100)."""
        self._apply_opportunity(self._opp(opportunity_id), status="成功")

    @atomic
    def lose_opportunity(self, opportunity_id: int, reason: str) -> None:
        """Close as 失败 (probability 0) with the reason it was lost."""
        row = self._opp(opportunity_id)
        if reason is None or not str(reason).strip():
            raise RequiredFieldError(field="lost_reason", value=reason, label="失败原因",
                                     allowed="简要说明，如“价格高于竞争对手”")
        self._apply_opportunity(row, status="失败", extra={"lost_reason": reason})

    @atomic
    def shelve_opportunity(self, opportunity_id: int) -> None:
        """Put a 跟踪 opportunity on hold (搁置)."""
        self._apply_opportunity(self._opp(opportunity_id), status="搁置")

    @atomic
    def resume_opportunity(self, opportunity_id: int) -> None:
        """Take a 搁置 opportunity back to 跟踪."""
        self._apply_opportunity(self._opp(opportunity_id), status="跟踪")

    @atomic
    def expire_opportunity(self, opportunity_id: int) -> None:
        """Close as 失效 (the customer went silent; probability keeps its last value)."""
        self._apply_opportunity(self._opp(opportunity_id), status="失效")

    # -- quotas ----------------------------------------------------------------------------

    @atomic
    def set_quota(self, employee: int | str, period: str, amount: float) -> int:
        """Set a rep's sales quota for a period (``"2025Q3"``, ``"2025-07"`` or ``"2025"``)."""
        self._require("opportunity", "update")
        self._require_role(("主管", "老板"), "设置销售指标")
        emp_id = self._employee_id(employee, field="employee_id", label="销售人员")
        if not isinstance(period, str) or not re.fullmatch(r"\d{4}(Q[1-4]|-(0[1-9]|1[0-2]))?", period):
            raise ValidationError(field="period", value=period, label="期间", allowed="如 2025Q3、2025-07 或 2025")
        if not is_number(amount) or amount < 0:
            raise ValidationError(field="amount", value=amount, label="指标金额", allowed="不小于 0 的数字")
        t = tbl("quota")
        with self.store.transaction() as conn:
            qid = conn.execute(select(t.c.id).where(t.c.employee_id == emp_id, t.c.period == period)).scalar()
            if qid is None:
                return self._insert("quota", {"employee_id": emp_id, "period": period, "amount": money(amount)})
            self._update("quota", qid, {"amount": money(amount)})
            return int(qid)
