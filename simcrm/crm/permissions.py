"""Roles, module rights and data scope (权限管理).

A role has a role type (老板 / 主管 / 一般人员), a data scope (本人 / 本部门 / 全部) and, per
module of :data:`simcrm.reference.MODULES`, the rights create / read / update / delete.
Reads filter by the data scope, writes check both the module right and the data scope:

* 本人: customers the employee owns, plus customers shared with them;
* 本部门: customers owned by anyone in the employee's department or its sub-departments;
* 全部: every customer.

Contacts, opportunities, quotes, orders, activities … follow their customer's visibility.
Approving orders needs the role type 主管 or 老板.
"""

from __future__ import annotations

from typing import Any, Mapping

from .. import reference
from ..errors import UnknownValueError, ValidationError
from .base import ACTIONS, CRMBase, atomic, tbl

_ALL = {"create": True, "read": True, "update": True, "delete": True}
_WORK = {"create": True, "read": True, "update": True, "delete": False}
_READ = {"create": False, "read": True, "update": False, "delete": False}
_NONE = {"create": False, "read": False, "update": False, "delete": False}


def default_rights(role_type: str) -> dict[str, dict[str, bool]]:
    """The module rights a new role of ``role_type`` gets unless others are given.

    >>> default_rights("一般人员")["system"]
    {'create': False, 'read': False, 'update': False, 'delete': False}
    >>> default_rights("主管")["customer"]["delete"]
    True
    """
    out = {}
    for module in reference.MODULES:
        if role_type == "老板":
            out[module] = dict(_ALL)
        elif role_type == "主管":
            out[module] = dict(_READ if module == "system" else _ALL)
        else:
            out[module] = dict(_NONE if module == "system" else _READ if module in ("product", "analytics") else _WORK)
    return out


class PermissionsMixin(CRMBase):
    @atomic
    def add_role(self, name: str, role_type: str, data_scope: str, *,
                 rights: Mapping[str, Mapping[str, bool]] | None = None, description: str | None = None) -> int:
        """Create a role with its data scope and module rights (defaults by role type).

        Args:
            name: unique role name, e.g. ``"销售代表"``.
            role_type: 老板 / 主管 / 一般人员.
            data_scope: 本人 / 本部门 / 全部.
            rights: ``{module: {"create": bool, "read": …}}`` overriding :func:`default_rights`.

        Returns:
            The role id.
        """
        self._require("system", "create")
        if role_type not in reference.state_values("role_type"):
            raise UnknownValueError(field="role_type", value=role_type, label="角色类型",
                                    allowed=reference.state_values("role_type"))
        table = default_rights(role_type)
        for module, given in (rights or {}).items():
            self._check_rights(module, given)
            table[module].update(given)
        with self.store.transaction():
            role_id = self._insert("role", {"name": name, "role_type": role_type, "data_scope": data_scope,
                                            "description": description})
            for module, r in table.items():
                self._insert("role_right", {"role_id": role_id, "module": module,
                                            **{f"can_{a}": bool(v) for a, v in r.items()}})
        return role_id

    def _check_rights(self, module: str, given: Mapping[str, Any]) -> None:
        if module not in reference.MODULES:
            raise UnknownValueError(field="module", value=module, label="模块", allowed=list(reference.MODULES))
        for action, value in given.items():
            if action not in ACTIONS:
                raise UnknownValueError(field="right", value=action, label="权限", allowed=list(ACTIONS))
            if not isinstance(value, bool):
                raise ValidationError(field=action, value=value, label=ACTIONS[action], allowed="True 或 False")

    def _role_id(self, role: int | str) -> int:
        t = tbl("role")
        col = t.c.id if isinstance(role, int) and not isinstance(role, bool) else t.c.name
        with self.store._reader() as conn:
            found = conn.execute(t.select().where(col == role)).mappings().first()
        if found is None:
            raise UnknownValueError(field="role", value=role, label="角色",
                                    allowed=list(self.store.read("role")["name"]))
        return int(found["id"])

    @atomic
    def set_role_rights(self, role: int | str, module: str, **rights: bool) -> None:
        """Change a role's rights on one module, e.g. ``set_role_rights("销售代表", "customer", delete=True)``."""
        self._require("system", "update")
        role_id = self._role_id(role)
        self._check_rights(module, rights)
        t = tbl("role_right")
        with self.store.transaction() as conn:
            row = conn.execute(t.select().where(t.c.role_id == role_id, t.c.module == module)).mappings().first()
            values = {f"can_{a}": v for a, v in rights.items()}
            if row is None:
                self._insert("role_right", {"role_id": role_id, "module": module, **values})
            else:
                self._update("role_right", row["id"], values)

    @atomic
    def set_data_scope(self, role: int | str, data_scope: str) -> None:
        """Change a role's data scope (本人 / 本部门 / 全部)."""
        self._require("system", "update")
        self._update("role", self._role_id(role), {"data_scope": data_scope})

    def rights(self, role: int | str | None = None):
        """The module rights of ``role`` (default: the acting user's) as a DataFrame."""
        if role is None:
            if self.is_system:
                import pandas as pd

                return pd.DataFrame([{"module": m, "name": n, **_ALL} for m, n in reference.MODULES.items()])
            role = self._user["role_id"]
        frame = self.store.read("role_right", where={"role_id": self._role_id(role)})
        frame["name"] = frame["module"].map(dict(reference.MODULES))
        return frame.rename(columns={f"can_{a}": a for a in ACTIONS})[["module", "name", *ACTIONS]]
