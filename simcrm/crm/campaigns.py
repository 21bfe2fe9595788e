"""Marketing campaigns (营销活动): target list, random control group, cost and budget.

The control group is drawn with ``numpy.random.default_rng(seed)`` (never global random
state), so the same seed gives the same split. The cost of a target list is
``cost_per_contact × size of the target group`` (the control group is not contacted); a list
whose cost exceeds the budget is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import DuplicateError, RequiredFieldError, ValidationError
from .base import CRMBase, atomic, is_number, money


class CampaignsMixin(CRMBase):
    @atomic
    def create_campaign(self, name: str, campaign_type: str, *, start_date: dt.date | str | None = None,
                        end_date: dt.date | str | None = None, cost_per_contact: float = 0.0,
                        budget: float = 0.0, channel: str | None = None) -> int:
        """Plan a campaign (计划); returns its id."""
        self._require("campaign", "create")
        values = self.store.validate("campaign", {"cost_per_contact": cost_per_contact, "budget": budget,
                                                  "start_date": start_date or self.today, "end_date": end_date},
                                     partial=True)
        if values.get("end_date") is not None and values["end_date"] < values["start_date"]:
            raise ValidationError(field="end_date", value=end_date, label="结束日期",
                                  allowed=f"不早于开始日期 {values['start_date']}")
        with self.store.transaction():
            return self._insert("campaign", {"code": self.next_code("campaign"), "name": name,
                                             "campaign_type": campaign_type, "channel": channel,
                                             "owner_id": self.user_id or self._first_boss(), **values,
                                             "cost_per_contact": money(values["cost_per_contact"]),
                                             "budget": money(values["budget"]), "status": "计划"})

    def _first_boss(self) -> int:
        emp = self.store.read("employee", columns=["id", "role_type", "status"])
        emp = emp[(emp["status"] == "正常")].sort_values("id")
        bosses = emp[emp["role_type"] == "老板"]
        if len(bosses):
            return int(bosses["id"].iloc[0])
        if len(emp):
            return int(emp["id"].iloc[0])
        raise RequiredFieldError(field="owner_id", value=None, label="负责人", allowed="先录用至少一名员工")

    @atomic
    def set_campaign_targets(self, campaign_id: int, customer_ids: Iterable[int], *, control_share: float = 0.2,
                             seed: int = 0) -> pd.DataFrame:
        """Choose the target list of a planned campaign and draw a random control group.

        Args:
            campaign_id: a campaign in state 计划 without members yet.
            customer_ids: customers to target (visible to the user, not deleted).
            control_share: share held back as the control group (0 ≤ share < 1).
            seed: seed of the numpy Generator that draws the control group.

        Returns:
            DataFrame ``customer_id, group_name`` (目标组 / 对照组) of the members written.

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> ids = [crm.create_customer(f"客户{i}号有限公司", province="上海", city="上海市", owner="rep1")
            ...        for i in range(10)]
            >>> camp = crm.create_campaign("夏季促销", "促销", cost_per_contact=20, budget=200)
            >>> crm.set_campaign_targets(camp, ids, control_share=0.2, seed=7)["group_name"].value_counts().to_dict()
            {'目标组': 8, '对照组': 2}
        """
        camp = self._row("campaign", campaign_id, field="campaign_id")
        self._require("campaign", "update")
        if camp["status"] != "计划":
            from ..errors import StateTransitionError

            raise StateTransitionError(field="status", value=camp["status"], label="活动状态", table="campaign",
                                       allowed=("计划",), reason="只有计划中的活动能设置目标客户")
        if self.store.count("campaign_member", campaign_id=campaign_id):
            raise DuplicateError(field="campaign_id", value=campaign_id, label="营销活动", allowed="尚无目标客户的活动",
                                 reason="该活动已设置目标客户")
        ids = list(customer_ids)
        if not ids:
            raise RequiredFieldError(field="customer_ids", value=ids, label="目标客户", allowed="至少一个客户编号")
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DuplicateError(field="customer_ids", value=dup, label="目标客户", allowed="不重复的客户编号")
        for cid in ids:
            self._check_customer(cid, "read", field="customer_ids")
        if not is_number(control_share) or not 0 <= control_share < 1:
            raise ValidationError(field="control_share", value=control_share, label="对照组比例", allowed="0 ≤ 比例 < 1")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValidationError(field="seed", value=seed, label="随机种子", allowed="整数")
        rng = np.random.default_rng(int(seed))
        n_control = int(round(len(ids) * control_share))
        order = rng.permutation(len(ids))
        control = {ids[i] for i in order[:n_control]}
        n_target = len(ids) - n_control
        cost = money(n_target * camp["cost_per_contact"])
        if cost > camp["budget"] + 0.005:
            raise ValidationError(field="customer_ids", value=f"{n_target} 个目标客户", label="目标客户",
                                  allowed=f"接触成本不超过预算 {camp['budget']:.2f}（最多 "
                                          f"{int(camp['budget'] // camp['cost_per_contact']) if camp['cost_per_contact'] else '不限'} 个）",
                                  reason=f"接触成本 {cost:.2f} 超过预算")
        rows = [{"customer_id": int(c), "group_name": "对照组" if c in control else "目标组"} for c in ids]
        with self.store.transaction():
            for r in rows:
                self._insert("campaign_member", {"campaign_id": campaign_id, **r})
            self._update("campaign", campaign_id, {"control_share": float(control_share), "seed": int(seed)})
        return pd.DataFrame(rows, columns=["customer_id", "group_name"])

    @atomic
    def start_campaign(self, campaign_id: int) -> None:
        """计划 → 执行中."""
        self._require("campaign", "update")
        self._transition("campaign", self._row("campaign", campaign_id, field="campaign_id"), "campaign_status", "执行中")

    @atomic
    def end_campaign(self, campaign_id: int) -> None:
        """执行中 → 结束."""
        self._require("campaign", "update")
        self._transition("campaign", self._row("campaign", campaign_id, field="campaign_id"), "campaign_status", "结束")

    @atomic
    def record_campaign_response(self, campaign_id: int, customer_id: int, *, responded: bool = True,
                                 contacted_at: dt.datetime | str | None = None) -> None:
        """Record that a target was contacted and whether they responded (running campaigns)."""
        self._require("campaign", "update")
        camp = self._row("campaign", campaign_id, field="campaign_id")
        if camp["status"] != "执行中":
            from ..errors import StateTransitionError

            raise StateTransitionError(field="status", value=camp["status"], label="活动状态", table="campaign",
                                       allowed=("执行中",), reason="只能记录执行中活动的响应")
        members = self.store.read("campaign_member", where={"campaign_id": campaign_id, "customer_id": customer_id})
        if members.empty:
            raise ValidationError(field="customer_id", value=customer_id, label="客户", allowed="该活动的活动对象")
        if not isinstance(responded, bool):
            raise ValidationError(field="responded", value=responded, label="是否响应", allowed="True 或 False")
        member = members.iloc[0]
        values = {"responded": responded}
        if member["group_name"] == "目标组":
            values["contacted_at"] = contacted_at or self.now
        self._update("campaign_member", int(member["id"]), values)
