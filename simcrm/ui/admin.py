"""系统管理 (admin): department tree, employees, roles and data scope, dictionaries.

Changes go through the CRM's admin operations (``add_department``, ``set_data_scope``,
``add_dictionary_value``, ``disable_dictionary_value``, ``set_dictionary_default``), so a
user without rights on 系统管理 sees the refusal in Chinese and nothing changes.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from .. import reference
from ..store import schema
from ._base import Screen, api_call, frame_html
from ._scope import can_read

__all__ = ["AdminScreen", "tree_html"]


NO_RIGHT = "<p style='color:#8a5a00'>无权查看（角色没有“系统管理”模块的查看权限）</p>"


def tree_html(frame: pd.DataFrame, *, label: str = "name", extra: dict[int, str] | None = None) -> str:
    """An indented HTML tree of ``id``/``parent_id`` rows (departments, product categories).

        >>> df = pd.DataFrame({"id": [1, 2, 3], "name": ["总部", "销售部", "销售一组"], "parent_id": [None, 1, 2]})
        >>> print(tree_html(df).count("padding-left"), "销售一组" in tree_html(df))
        3 True
    """
    children: dict[Any, list[Any]] = {}
    for row in frame.sort_values("id").itertuples():
        parent = None if pd.isna(row.parent_id) else int(row.parent_id)
        children.setdefault(parent, []).append(row)
    lines: list[str] = []

    def walk(parent: Any, depth: int) -> None:
        for row in children.get(parent, []):
            note = f" <span style='color:#666'>{html.escape(extra.get(int(row.id), ''))}</span>" if extra else ""
            mark = "└─ " if depth else ""
            lines.append(f"<div style='padding-left:{depth * 22}px'>{mark}{html.escape(str(getattr(row, label)))}"
                         f" <span style='color:#999'>#{int(row.id)}</span>{note}</div>")
            walk(int(row.id), depth + 1)

    walk(None, 0)
    return "<div class='simcrm-tree'>" + "".join(lines) + "</div>"


class AdminScreen(Screen):
    """Tabs 组织结构 / 员工 / 角色与数据范围 / 数据字典.

    Attributes:
        dept_name, dept_parent, add_dept_button: add a department.
        role_picker, scope_picker, scope_button: change a role's data scope.
        dict_list, dict_value, add_value_button, disable_button, default_button: dictionaries.
    """

    def __init__(self, crm: Any):
        super().__init__()
        self.crm = crm
        store = crm.store
        self.tree = w.HTML()
        self.dept_name = w.Text(description="部门名称")
        self.dept_parent = w.Dropdown(description="上级部门")
        self.add_dept_button = w.Button(description="新增部门", icon="plus")
        self.add_dept_button.on_click(self.guard(lambda _b: self.add_department()))
        self.employees = w.HTML()
        self.roles = w.HTML()
        self.role_picker = w.Dropdown(description="角色")
        self.scope_picker = w.Dropdown(options=list(reference.state_values("data_scope")), description="数据范围")
        self.scope_button = w.Button(description="设置数据范围")
        self.scope_button.on_click(self.guard(lambda _b: self.set_scope()))
        self.dict_list = w.Dropdown(options=[(f"{v['label']}（{k}）", k) for k, v in reference.DICTIONARIES.items()],
                                    description="字典", layout=w.Layout(width="360px"))
        self.dict_values = w.HTML()
        self.dict_value = w.Text(description="字典值")
        self.add_value_button = w.Button(description="添加", icon="plus")
        self.disable_button = w.Button(description="停用")
        self.default_button = w.Button(description="设为默认")
        self.add_value_button.on_click(self.guard(lambda _b: self.dictionary("add_dictionary_value")))
        self.disable_button.on_click(self.guard(lambda _b: self.dictionary("disable_dictionary_value")))
        self.default_button.on_click(self.guard(lambda _b: self.dictionary("set_dictionary_default")))
        self.dict_list.observe(self.guard(lambda _c: self.refresh()), names="value")
        self.tabs = w.Tab(children=[
            w.VBox([self.tree, w.HBox([self.dept_name, self.dept_parent, self.add_dept_button])]),
            self.employees,
            w.VBox([self.roles, w.HBox([self.role_picker, self.scope_picker, self.scope_button])]),
            w.VBox([self.dict_list, self.dict_values,
                    w.HBox([self.dict_value, self.add_value_button, self.disable_button, self.default_button])]),
        ])
        for i, t in enumerate(["组织结构", "员工", "角色与数据范围", "数据字典"]):
            self.tabs.set_title(i, t)
        self.widget = w.VBox([w.HTML("<h4>系统管理</h4>"), self.tabs, self.status, self.code])
        self._store = store
        self.refresh()

    def refresh(self) -> None:
        """Re-read departments, employees, roles and the chosen dictionary."""
        store = self._store
        dept = store.read("department")
        emp = store.read("employee")
        heads = emp[emp["status"] == "正常"].groupby("department_id").size()
        self.tree.value = tree_html(dept, extra={int(i): f"{int(heads.get(i, 0))} 人" for i in dept["id"]})
        self.dept_parent.options = [("（顶级）", None)] + [(n, int(i)) for i, n in zip(dept["id"], dept["name"])]
        dname = dept.set_index("id")["name"]
        roles = store.read("role")
        rname = roles.set_index("id")["name"]
        if can_read(self.crm, "employee"):
            emp = self.crm.list("employee")
            shown = pd.DataFrame({"工号": emp["code"], "姓名": emp["name"], "登录名": emp["login"],
                                  "部门": emp["department_id"].map(dname), "角色": emp["role_id"].map(rname),
                                  "角色类型": emp["role_type"], "状态": emp["status"]})
            self.employees.value = frame_html(shown, highlight=emp["status"] != "正常")
            self.roles.value = frame_html(roles.drop(columns=["description"]).rename(columns=schema.labels("role")))
        else:  # the staff list (logins, roles) is for the 系统管理 right only
            self.employees.value = self.roles.value = NO_RIGHT
        keep = self.role_picker.value
        self.role_picker.options = [(n, int(i)) for i, n in zip(roles["id"], roles["name"])]
        if keep in set(roles["id"]):
            self.role_picker.value = keep
        d = store.read("dictionary", where={"list_name": self.dict_list.value})
        d = d.sort_values(["sort_order", "id"])
        self.dict_values.value = frame_html(pd.DataFrame({
            "字典值": d["value"], "默认": d["is_default"].map({True: "是", False: ""}),
            "启用": d["in_use"].map({True: "是", False: "停用"})}), highlight=~d["in_use"].astype(bool))

    def add_department(self) -> Any:
        """Add a department (``crm.add_department``)."""
        name, parent = self.dept_name.value.strip() or None, self.dept_parent.value
        result = self.run(api_call("add_department", name, parent), lambda: self.crm.add_department(name, parent),
                          f"已新增部门“{name}”。")
        if result is not None:
            self.dept_name.value = ""
            self.refresh()
        return result

    def set_scope(self) -> None:
        """Set the chosen role's data scope (``crm.set_data_scope``)."""
        role, scope = self.role_picker.value, self.scope_picker.value
        if self.run(api_call("set_data_scope", role, scope), lambda: self.crm.set_data_scope(role, scope) or True,
                    f"角色 {role} 的数据范围已设为“{scope}”。"):
            self.refresh()

    def dictionary(self, method: str) -> None:
        """Add / disable / make default the value typed in :attr:`dict_value` of the chosen list."""
        list_name, value = self.dict_list.value, self.dict_value.value.strip() or None
        if self.run(api_call(method, list_name, value), lambda: getattr(self.crm, method)(list_name, value) or True):
            self.refresh()
