"""Customer grading in the CRM (客户分级管理): levels in bulk, key accounts, visits per level.

The operations a sales manager does after grading the customers (ch06):

* :meth:`LevelsMixin.set_customer_levels` writes the 客户等级 of many customers in one
  operation — the values of the ``customer_level`` dictionary (maintain it first with
  ``add_dictionary_value`` / ``disable_dictionary_value``);
* :meth:`LevelsMixin.assign_key_accounts` hands the key accounts (大客户) to one owner in the
  key-account department (大客户部), keeping the owner history;
* :meth:`LevelsMixin.plan_level_visits` applies a return-visit interval per level, as the
  SafeNet case does (“根据不同的客户级别，规定回访客户的时间间隔”): it plans the visits as
  care actions (售后回访) of each customer's owner, which the care planner (``care`` screen,
  ``care_due``) then shows when they are due.

Each is all or nothing: every id, level, interval and the data scope are checked before
anything is written, then one transaction writes every row with its ``audit_log`` rows; one
bad input refuses the whole operation with an error naming the field, the value and what is
allowed, and the database is as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, insert, update

from ..errors import NotFoundError, PermissionDeniedError, ValidationError
from .base import CRMBase, _text, tbl

__all__ = ["LevelsMixin", "VISIT_CARE_TYPE"]

#: the care type of a level's return visit (回访)
VISIT_CARE_TYPE = "售后回访"
_LEVEL_LIST = "customer_level"


def _int_id(value: Any) -> int | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


class LevelsMixin(CRMBase):
    # -- shared checks --------------------------------------------------------------------------

    def _customers_for_update(self, ids: list[Any], *, field: str = "customer_id") -> pd.DataFrame:
        """The customer rows of ``ids`` after checking rights, existence and data scope (all first)."""
        self._require("customer", "update")
        if not ids:
            raise ValidationError(field=field, value=[], label="客户", allowed="至少一个客户编号",
                                  reason="没有要修改的客户")
        bad = [x for x in ids if _int_id(x) is None]
        if bad:
            raise NotFoundError(field=field, value=bad[0], label="客户编号", allowed="已存在的客户编号（整数）",
                                reason=f"共 {len(bad)} 个编号不是整数，整批未执行")
        clean = [_int_id(x) for x in ids]
        seen: set[int] = set()
        dup = [x for x in clean if x in seen or seen.add(x)]
        if dup:
            raise ValidationError(field=field, value=dup[0], label="客户编号", allowed="每个客户只出现一次",
                                  reason="同一客户出现了两次，整批未执行")
        cust = self.store.read("customer", columns=["id", "name", "owner_id", "level", "deleted"], resolve=False)
        cust = cust.set_index("id")
        unknown = [x for x in clean if x not in cust.index]
        if unknown:
            raise NotFoundError(field=field, value=unknown[0], label="客户编号", allowed="已存在的客户编号",
                                reason=f"共 {len(unknown)} 个客户不存在（如 {unknown[:3]}），整批未执行")
        rows = cust.loc[clean]
        deleted = rows.index[rows["deleted"].astype(bool)].tolist()
        if deleted:
            raise NotFoundError(field=field, value=deleted[0], label="客户编号", allowed="未删除的客户",
                                reason=f"共 {len(deleted)} 个客户已删除（合并），整批未执行")
        visible = self._visible_customer_ids()
        if visible is not None:
            outside = [x for x in clean if x not in visible]
            if outside:
                raise PermissionDeniedError(
                    field=field, value=outside[0], label="客户",
                    allowed="本人负责、共享给本人或在本人数据范围内的客户",
                    reason=f"{self._who()} 的数据范围（{self._role()['data_scope']}）不包括其中 {len(outside)} 个客户"
                           f"（如 {outside[:3]}），整批未执行")
        return rows.reset_index()

    def _level_ids(self, levels: Iterable[Any], *, field: str = "level") -> dict[str, int]:
        """Dictionary ids of level names; refuses unknown and disabled values (all checked first)."""
        allowed = self.store.dictionary_values(_LEVEL_LIST)
        every = self.store.dictionary_values(_LEVEL_LIST, include_disabled=True)
        out = {}
        for value in dict.fromkeys(levels):
            if not isinstance(value, str) or value not in allowed:
                why = "该等级已停用" if value in every else "不是“客户等级”字典中的值（先在字典中添加）"
                raise ValidationError(field=field, value=value, label="客户等级", table="customer",
                                      allowed=allowed, reason=f"{why}，整批未执行")
            out[value] = self.store.dictionary_id(_LEVEL_LIST, value, field=field, table="customer")
        return out

    # -- 客户等级 in bulk -------------------------------------------------------------------------

    def set_customer_levels(self, levels: Mapping[Any, str] | pd.Series | pd.DataFrame) -> int:
        """Write the 客户等级 of many customers in one operation (all or nothing).

        Args:
            levels: ``{customer_id: level}``, a Series indexed by customer id, or a DataFrame
                with columns ``customer_id`` and ``level``. Levels are values of the
                ``customer_level`` dictionary that are in use.

        Returns:
            The number of customers whose level changed (unchanged ones are not rewritten and
            get no audit row).

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> admin = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = admin.setup_demo_org()
            >>> mgr = admin.as_user("mgr1")
            >>> a = mgr.create_customer("远航物流有限公司", province="上海", city="上海市")
            >>> b = mgr.create_customer("华信科技有限公司", province="广东", city="广州市")
            >>> mgr.set_customer_levels({a: "VIP客户", b: "小客户"})
            2
            >>> mgr.set_customer_levels({a: "普通客户", b: "金牌客户"})
            Traceback (most recent call last):
            ...
            simcrm.errors.ValidationError: 客户等级（level）[customer]的值 '金牌客户' 无效：不是“客户等级”字典中的值（先在字典中添加），整批未执行。允许：VIP客户、主要客户、普通客户、小客户
            [en] invalid value '金牌客户' for field 'level'; allowed: VIP客户、主要客户、普通客户、小客户
            >>> mgr.store.get("customer", a, resolve=True)["level"]
            'VIP客户'
        """
        if isinstance(levels, pd.DataFrame):
            missing = [c for c in ("customer_id", "level") if c not in levels.columns]
            if missing:
                raise ValidationError(field=missing[0], value=list(levels.columns), label="列名",
                                      allowed="customer_id 和 level 两列", reason="缺少列")
            pairs = list(zip(levels["customer_id"].tolist(), levels["level"].tolist()))
        elif isinstance(levels, pd.Series):
            pairs = list(zip(levels.index.tolist(), levels.tolist()))
        elif isinstance(levels, Mapping):
            pairs = list(levels.items())
        else:
            raise ValidationError(field="levels", value=type(levels).__name__, label="客户等级",
                                  allowed="{客户编号: 等级} 字典、以客户编号为索引的 Series，或含 customer_id、level 两列的 DataFrame")
        rows = self._customers_for_update([p[0] for p in pairs])
        ids = self._level_ids([p[1] for p in pairs])
        new = np.array([ids[p[1]] for p in pairs], dtype="int64")
        old = rows["level"].to_numpy(dtype="float64", na_value=np.nan)
        changed = np.flatnonzero(np.isnan(old) | (old != new))
        if changed.size == 0:
            return 0
        t, audit = tbl("customer"), tbl("audit_log")
        now = self.now
        params = [{"_id": int(rows["id"].iat[i]), "_level": int(new[i])} for i in changed]
        logs = [{"at": now, "employee_id": self.user_id, "action": "修改", "table_name": "customer",
                 "row_id": int(rows["id"].iat[i]), "field": "level",
                 "old_value": _text(self.store.dictionary_value(None if np.isnan(old[i]) else int(old[i]))),
                 "new_value": _text(self.store.dictionary_value(int(new[i])))} for i in changed]
        with self.store.transaction() as conn:
            conn.execute(update(t).where(t.c.id == bindparam("_id")).values(level=bindparam("_level")), params)
            if not self.store.audited_by_database:  # a classroom world: the database audits
                conn.execute(insert(audit), logs)
        return len(params)

    # -- 大客户 to the key-account department ---------------------------------------------------------

    def assign_key_accounts(self, customer_ids: Iterable[Any], owner: int | str, *,
                            department: int | str | None = None, reason: str = "大客户统一由大客户部管理") -> int:
        """Hand key accounts (大客户) to ``owner`` of the key-account department (all or nothing).

        Args:
            customer_ids: the key accounts.
            owner: the employee (id or login) who will manage them; must be active.
            department: the key-account department (id or name, e.g. ``"大客户部"``); when
                given, ``owner`` must belong to it.
            reason: written into the owner history.

        Returns:
            The number of customers transferred (those already owned by ``owner`` are kept).
        """
        rows = self._customers_for_update(list(customer_ids))
        emp = self._employee(owner, field="owner_id", label="负责人")
        if department is not None:
            dept = self._department_ref(department)
            if emp["department_id"] not in self._department_subtree(int(dept["id"])):
                raise ValidationError(field="owner_id", value=owner, label="负责人",
                                      allowed=f"“{dept['name']}”的在职员工",
                                      reason=f"{emp['name']} 不在“{dept['name']}”，整批未执行")
        self._check_assignable(int(emp["id"]))
        todo = [int(i) for i, o in zip(rows["id"], rows["owner_id"]) if int(o) != int(emp["id"])]
        with self.store.transaction():
            for cid in todo:
                self.transfer_customer(cid, int(emp["id"]), reason=reason)
        return len(todo)

    def _department_ref(self, department: int | str) -> dict[str, Any]:
        d = self.store.read("department", columns=["id", "name"])
        if isinstance(department, str):
            hit = d[d["name"] == department]
            if len(hit) != 1:
                raise NotFoundError(field="department", value=department, label="部门",
                                    allowed=d["name"].tolist(),
                                    reason="没有这个部门（先在系统管理中新建）" if hit.empty else "有多个同名部门，请用部门编号")
            return hit.iloc[0].to_dict()
        return self._row("department", department, field="department")

    # -- 回访 interval per level (SafeNet) ----------------------------------------------------------

    def plan_level_visits(self, intervals: Mapping[str, Any], *, until: dt.date | str,
                          start: dt.date | str | None = None, channel: str = "电话") -> pd.DataFrame:
        """Plan the return visits (回访) of every customer by its level's interval (all or nothing).

        For each customer the acting user may update whose 客户等级 is a key of ``intervals``,
        visits are planned on ``start + n``, ``start + 2n``, … up to ``until`` (n = the
        level's interval in days; ``start`` defaults to today), each as a care action of type
        售后回访 for the customer's owner. A visit already planned (same customer, type and
        date, not done) is not planned twice. Levels not in ``intervals`` get no visits.

        Args:
            intervals: ``{level: days}``, e.g. ``{"关键客户": 30, "普通客户": 90, "小客户": 180}``;
                levels must be in-use values of the 客户等级 dictionary, days whole numbers 1–366.
            until: last day visits may be planned on (at most two years after ``start``).
            start: the day the schedule counts from (default: today).
            channel: the channel of the visits (沟通渠道 dictionary).

        Returns:
            The planned visits: ``care_id, customer_id, level, employee_id, planned_date``.
        """
        self._require("care", "create")
        if not isinstance(intervals, Mapping) or not intervals:
            raise ValidationError(field="intervals", value=intervals, label="回访间隔",
                                  allowed="{客户等级: 天数} 字典，至少一项")
        level_ids = self._level_ids(intervals.keys(), field="intervals")
        days: dict[str, int] = {}
        for level, n in intervals.items():
            if _int_id(n) is None or not 1 <= _int_id(n) <= 366:
                raise ValidationError(field=f"intervals[{level!r}]", value=n, label="回访间隔（天）",
                                      allowed="1–366 的整数天数", reason="间隔不对，整批未执行")
            days[level] = _int_id(n)
        first = self.store.validate("care", {"planned_date": start or self.today}, partial=True)["planned_date"]
        last = self.store.validate("care", {"planned_date": until}, partial=True)["planned_date"]
        if not first < last <= first + dt.timedelta(days=731):
            raise ValidationError(field="until", value=str(until), label="截止日期",
                                  allowed=f"晚于开始日期 {first}、且不超过两年（{first + dt.timedelta(days=731)}）",
                                  reason="计划期间不对，整批未执行")
        channel_id = self.store.dictionary_id("channel", channel, field="channel", table="care")
        cust = self.list("customer")[["id", "owner_id", "level"]]
        cust = cust[cust["level"].isin(list(level_ids))]
        if not self.is_system:
            self._require("customer", "update")
            for owner in sorted(set(int(o) for o in cust["owner_id"])):
                self._check_assignable(owner)
        planned = self.store.read("care", columns=["customer_id", "care_type", "planned_date", "done_date"])
        planned = planned[(planned["care_type"] == VISIT_CARE_TYPE) & planned["done_date"].isna()]
        taken = set(zip(planned["customer_id"].astype(int), planned["planned_date"].dt.date))
        rows = []
        for cid, owner, level in zip(cust["id"], cust["owner_id"], cust["level"]):
            n = days[level]
            day = first + dt.timedelta(days=n)
            while day <= last:
                if (int(cid), day) not in taken:
                    rows.append({"customer_id": int(cid), "contact_id": None, "employee_id": int(owner),
                                 "care_type": VISIT_CARE_TYPE, "channel": channel_id,
                                 "subject": f"{level}定期回访（每 {n} 天）", "planned_date": day,
                                 "done_date": None, "feedback": None, "satisfaction": None, "campaign_id": None,
                                 "_level": level})
                day += dt.timedelta(days=n)
        columns = ["care_id", "customer_id", "level", "employee_id", "planned_date"]
        if not rows:
            return pd.DataFrame(columns=columns)
        frame = pd.DataFrame(rows)
        t, audit = tbl("care"), tbl("audit_log")
        now = self.now
        with self.store.transaction() as conn:
            result = conn.execute(insert(t).returning(t.c.id, sort_by_parameter_order=True),
                                  frame.drop(columns="_level").to_dict("records"))
            frame["id"] = [int(r[0]) for r in result]
            if not self.store.audited_by_database:  # a classroom world: the database audits
                conn.execute(insert(audit), [
                    {"at": now, "employee_id": self.user_id, "action": "新建", "table_name": "care", "row_id": int(i),
                     "field": None, "old_value": None, "new_value": s}
                    for i, s in zip(frame["id"], frame["subject"])])
        out = frame.rename(columns={"id": "care_id", "_level": "level"})[columns]
        out["planned_date"] = pd.to_datetime(out["planned_date"])
        return out.reset_index(drop=True)
