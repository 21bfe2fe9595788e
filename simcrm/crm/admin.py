"""System administration (系统管理): departments, employees, dictionaries.

Roles and rights are in :mod:`simcrm.crm.permissions`, numbering rules in
:mod:`simcrm.crm.numbering`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from .. import reference
from ..errors import ConstraintError, DuplicateError, NotFoundError, ValidationError
from .base import CRMBase, atomic, locale, tbl


class AdminMixin(CRMBase):
    # -- departments ---------------------------------------------------------------------

    @atomic
    def add_department(self, name: str, parent: int | None = None, *, code: str | None = None) -> int:
        """Add a department under ``parent`` (``None``: a top-level department); returns its id.

        Example:
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store())
            >>> hq = crm.add_department("总经理办公室")
            >>> sales = crm.add_department("销售部", parent=hq)
            >>> crm.move_department(hq, parent=sales)
            Traceback (most recent call last):
            ...
            simcrm.errors.ValidationError: 上级部门（parent_id）的值 2 无效：部门不能移到自己或自己的下级部门之下（会形成循环）。允许：不在 1 的下级部门中的部门
            [en] invalid value 2 for field 'parent_id'; allowed: 不在 1 的下级部门中的部门
        """
        self._require("system", "create")
        if parent is not None:
            self._row("department", parent, field="parent_id")
        self._refuse_sibling_name(name, parent)
        with self.store.transaction():
            return self._insert("department", {"code": code or self.next_code("department"), "name": name,
                                               "parent_id": parent})

    def _refuse_sibling_name(self, name: str, parent: int | None, exclude: int | None = None) -> None:
        """Two departments under one parent may not share a name (re-running a cell must not
        create a second one)."""
        from ..errors import DuplicateError

        d = self.store.read("department", columns=["id", "name", "parent_id"])
        same = d[(d["name"] == str(name).strip()) & (d["id"] != (exclude or 0))
                 & ((d["parent_id"] == parent) if parent is not None else d["parent_id"].isna())]
        if len(same):
            raise DuplicateError(field="name", value=name, label="部门名称", table="department",
                                 reason=f"同一上级部门下已有该部门（编号 {int(same.iloc[0]['id'])}）",
                                 allowed="同一上级部门下不重名的部门名称")

    @atomic
    def rename_department(self, department_id: int, name: str) -> None:
        """Give a department a new name."""
        self._require("system", "update")
        self._row("department", department_id, field="department_id")
        self._update("department", department_id, {"name": name})

    @atomic
    def move_department(self, department_id: int, parent: int | None) -> None:
        """Move a department under another one; refuses moves that would make a cycle."""
        self._require("system", "update")
        self._row("department", department_id, field="department_id")
        if parent is not None:
            self._row("department", parent, field="parent_id")
            if parent in self._department_subtree(department_id):
                raise ValidationError(field="parent_id", value=parent, label="上级部门",
                                      allowed=f"不在 {department_id} 的下级部门中的部门",
                                      reason="部门不能移到自己或自己的下级部门之下（会形成循环）")
        self._update("department", department_id, {"parent_id": parent})

    @atomic
    def set_department_manager(self, department_id: int, manager: int | str) -> None:
        """Make an active employee the manager of a department."""
        self._require("system", "update")
        self._row("department", department_id, field="department_id")
        self._update("department", department_id, {"manager_id": self._employee_id(manager, field="manager_id",
                                                                                    label="部门负责人")})

    @atomic
    def setup_demo_org(self, *, hire_date: dt.date | str = "2024-01-02") -> dict[str, int]:
        """Build a small firm to practise on: departments, three roles, five employees.

        总经理办公室 (boss ``boss``, 老板, data scope 全部); 销售部 with 销售一组 (manager ``mgr1``,
        主管, 本部门; reps ``rep1``, ``rep2``, 一般人员, 本人) and 销售二组 (rep ``rep3``).

        Returns:
            ``{"hq", "sales", "team1", "team2", "boss", "mgr1", "rep1", "rep2", "rep3",
            "role_boss", "role_manager", "role_rep"}`` → ids.
        """
        with self.store.transaction():
            ids = {"hq": self.add_department("总经理办公室")}
            ids["sales"] = self.add_department("销售部", parent=ids["hq"])
            ids["team1"] = self.add_department("销售一组", parent=ids["sales"])
            ids["team2"] = self.add_department("销售二组", parent=ids["sales"])
            ids["role_boss"] = self.add_role("总经理", "老板", "全部")
            ids["role_manager"] = self.add_role("销售主管", "主管", "本部门")
            ids["role_rep"] = self.add_role("销售代表", "一般人员", "本人")
            for key, name, dept, role in (("boss", "王总", "hq", "role_boss"), ("mgr1", "李主管", "team1", "role_manager"),
                                          ("rep1", "张伟", "team1", "role_rep"), ("rep2", "刘芳", "team1", "role_rep"),
                                          ("rep3", "陈静", "team2", "role_rep")):
                ids[key] = self.hire(name, key, ids[dept], ids[role], hire_date=hire_date)
            self.set_department_manager(ids["team1"], ids["mgr1"])
        return ids

    # -- employees ----------------------------------------------------------------------

    @atomic
    def hire(self, name: str, login: str, department: int, role: int | str, *,
             hire_date: dt.date | str | None = None, gender: str | None = None, title: str | None = None,
             mobile: str | None = None, email: str | None = None, code: str | None = None) -> int:
        """Hire an employee (status 正常) into ``department`` with ``role``; returns the id.

        The employee's role type (老板 / 主管 / 一般人员) is the role's.
        """
        self._require("system", "create")
        self._row("department", department, field="department_id")
        role_id = self._role_id(role)
        role_row = self.store.get("role", role_id)
        loc = locale()
        if mobile not in (None, ""):
            mobile = loc.validate_mobile(mobile)
        if email not in (None, ""):
            email = loc.validate_email(email)
        if isinstance(login, str) and not login.strip().replace("_", "").replace(".", "").isalnum():
            raise ValidationError(field="login", value=login, label="登录名", allowed="字母、数字、下划线或点")
        with self.store.transaction():
            return self._insert("employee", {
                "code": code or self.next_code("employee"), "name": name, "login": login, "gender": gender,
                "department_id": department, "role_id": role_id, "role_type": role_row["role_type"],
                "title": title, "mobile": mobile, "email": email, "hire_date": hire_date or self.today,
                "status": "正常"})

    @atomic
    def leave(self, employee: int | str, leave_date: dt.date | str | None = None) -> None:
        """Record that an employee left (status 离职, leave date).

        Their customers keep them as owner (and in the owner history) until transferred with
        :meth:`transfer_customer`; a left employee can no longer act or be assigned.
        """
        self._require("system", "update")
        emp = self._employee(employee)
        from .base import check_transition

        check_transition("employee_status", emp["status"], "离职", table="employee")
        leave_date = leave_date or self.today
        self._update("employee", emp["id"], {"status": "离职", "leave_date": leave_date}, action="状态变更")

    @atomic
    def change_role(self, employee: int | str, role: int | str) -> None:
        """Give an employee another role (and so its role type, rights and data scope)."""
        self._require("system", "update")
        emp = self._employee(employee, active=True)
        role_id = self._role_id(role)
        self._update("employee", emp["id"], {"role_id": role_id,
                                             "role_type": self.store.get("role", role_id)["role_type"]})

    @atomic
    def transfer_employee(self, employee: int | str, department: int) -> None:
        """Move an employee to another department."""
        self._require("system", "update")
        emp = self._employee(employee, active=True)
        self._row("department", department, field="department_id")
        self._update("employee", emp["id"], {"department_id": department})

    # -- dictionaries -----------------------------------------------------------------------

    def _dict_row(self, list_name: str, value: str) -> dict:
        if list_name not in reference.DICTIONARIES:
            raise ValidationError(field="list_name", value=list_name, label="字典名称",
                                  allowed=list(reference.DICTIONARIES))
        t = tbl("dictionary")
        with self.store._reader() as conn:
            row = conn.execute(select(t).where(t.c.list_name == list_name, t.c.value == value)).mappings().first()
        if row is None:
            raise NotFoundError(field="value", value=value, label=reference.DICTIONARIES[list_name]["label"],
                                allowed=self.store.dictionary_values(list_name, include_disabled=True))
        return dict(row)

    @atomic
    def add_dictionary_value(self, list_name: str, value: str, *, default: bool = False) -> int:
        """Add a value to a user-extendable list (e.g. a new 客户来源); returns its id."""
        self._require("system", "create")
        if list_name not in reference.DICTIONARIES:
            raise ValidationError(field="list_name", value=list_name, label="字典名称",
                                  allowed=list(reference.DICTIONARIES))
        existing = self.store.dictionary_values(list_name, include_disabled=True)
        if value in existing:
            raise DuplicateError(field="value", value=value, label=reference.DICTIONARIES[list_name]["label"],
                                 allowed=f"不在已有值中：{'、'.join(existing)}")
        with self.store.transaction():
            new_id = self._insert("dictionary", {"list_name": list_name, "value": value, "is_default": False,
                                                 "in_use": True, "sort_order": len(existing)})
            if default:
                self.set_dictionary_default(list_name, value)
        self.store.invalidate_dictionary_cache()
        return new_id

    @atomic
    def disable_dictionary_value(self, list_name: str, value: str) -> None:
        """Stop offering a value (existing records keep it); the default cannot be disabled."""
        self._require("system", "update")
        row = self._dict_row(list_name, value)
        if row["is_default"]:
            raise ConstraintError(field="value", value=value, label="字典值",
                                  allowed="非默认值（请先把别的值设为默认）", reason="默认值不能停用")
        self._update("dictionary", row["id"], {"in_use": False})
        self.store.invalidate_dictionary_cache()

    @atomic
    def enable_dictionary_value(self, list_name: str, value: str) -> None:
        """Offer a disabled value again."""
        self._require("system", "update")
        self._update("dictionary", self._dict_row(list_name, value)["id"], {"in_use": True})
        self.store.invalidate_dictionary_cache()

    @atomic
    def set_dictionary_default(self, list_name: str, value: str) -> None:
        """Make ``value`` the one default of its list (in use; the previous default is cleared)."""
        self._require("system", "update")
        row = self._dict_row(list_name, value)
        if not row["in_use"]:
            raise ValidationError(field="value", value=value, label="字典值",
                                  allowed=self.store.dictionary_values(list_name), reason="停用的值不能设为默认")
        t = tbl("dictionary")
        with self.store.transaction() as conn:
            for old in conn.execute(select(t.c.id).where(t.c.list_name == list_name, t.c.is_default)).scalars():
                if old != row["id"]:
                    self._update("dictionary", old, {"is_default": False})
            self._update("dictionary", row["id"], {"is_default": True})
        self.store.invalidate_dictionary_cache()

    def dictionary_default(self, list_name: str) -> str | None:
        """The default value of a list."""
        def look() -> str | None:
            d = self.store.read("dictionary", where={"list_name": list_name, "is_default": True})
            return None if d.empty else str(d["value"].iloc[0])

        return self._remember(("dictionary_default", list_name), look)


__all__ = ["AdminMixin"]
