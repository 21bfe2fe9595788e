"""“登录为”: pick an employee; every screen then acts as that employee (role and data scope).

    >>> import datetime as dt
    >>> from simcrm.store import Store
    >>> from simcrm.crm import CRM
    >>> admin = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
    >>> _ = admin.setup_demo_org()
    >>> bar = LoginBar(admin)
    >>> bar.options[0]
    '王总 · 总经理办公室 · 老板'
    >>> bar.login("rep1").user["login"], bar.last_call
    ('rep1', "crm = CRM(store, 'rep1', now=now)")
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..crm import CRM
from ._base import Blocked, Screen

__all__ = ["LoginBar", "CRMApp", "APP_SCREENS"]


class LoginBar(Screen):
    """A drop-down of the employees in service (正常): name · department · role type.

    Args:
        crm: any CRM on the store (its clock is kept); the bar starts logged in as its user,
            or as the first employee when it is the system administrator.
        on_login: called with the new CRM whenever the user changes.

    Attributes:
        crm: the CRM acting as the chosen employee.
    """

    def __init__(self, crm: Any, *, on_login: Callable[[Any], Any] | None = None):
        super().__init__()
        self.store = crm.store
        self._now = crm._now
        self.on_login = on_login
        emp = self.store.read("employee")
        emp = emp[emp["status"] == "正常"]
        dept = self.store.read("department", columns=["id", "name"]).set_index("id")["name"]
        choices = [(f"{r.name} · {dept.get(r.department_id, '')} · {r.role_type}", int(r.id))
                   for r in emp.itertuples()]
        self.logins = dict(zip(emp["login"], emp["id"].astype(int)))
        start = crm.user_id if crm.user_id is not None else (choices[0][1] if choices else None)
        self.dropdown = w.Dropdown(options=choices, value=start, description="登录为",
                                   layout=w.Layout(width="380px"))
        self.scope_label = w.HTML()
        self.crm = crm if crm.user_id is not None or start is None else CRM(self.store, start, now=self._now)
        self._describe()
        self.dropdown.observe(self.guard(self._changed), names="value")
        self.widget = w.VBox([w.HBox([self.dropdown, self.scope_label]), self.status, self.code])

    @property
    def options(self) -> list[str]:
        """The labels offered in the drop-down."""
        return [label for label, _ in self.dropdown.options]

    def login(self, who: int | str) -> Any:
        """Log in as an employee (id or login name), as choosing them in the drop-down does."""
        self.dropdown.value = self.logins[who] if isinstance(who, str) else int(who)
        return self.crm

    def _changed(self, change: Any) -> None:
        if change["new"] is None:
            return
        self.crm = CRM(self.store, change["new"], now=self._now)
        self._describe()
        if self.on_login is not None:
            self.on_login(self.crm)

    def _describe(self) -> None:
        if self.crm.user_id is None:
            self.scope_label.value = "系统管理员"
            return
        user = self.crm.user
        role = self.store.get("role", user["role_id"])
        self.scope_label.value = (f"&nbsp;角色：{html.escape(role['name'])}（{html.escape(role['role_type'])}），"
                                  f"数据范围：<b>{html.escape(role['data_scope'])}</b>")
        self.show_call(f"crm = CRM(store, {user['login']!r}, now=now)")


#: the screens the app offers: menu label → factory name (see :func:`simcrm.ui.screen`)
APP_SCREENS = {
    "客户": "customers", "新建客户": "form", "销售机会看板": "board",
    "销售漏斗": "funnel", "报价→订单→回款": "order_flow", "线索导入与查重": "lead_import",
    "服务台": "service_desk", "客户关怀": "care", "仪表盘": "dashboard", "产品目录": "products",
    "系统管理": "admin",
}


class CRMApp(Screen):
    """The whole CRM in one widget: “登录为” on top, a menu of screens, the chosen screen below.

    Changing the user rebuilds the shown screen for the new user, so it shows and allows
    exactly what that role and data scope allow.

    Args:
        crm_or_world: a CRM, a store, or a lab/world object (see :func:`simcrm.ui.screen`).
        start: the menu entry shown first.
    """

    def __init__(self, crm_or_world: Any, *, start: str = "客户"):
        super().__init__()
        from . import _resolve_crm

        self.login_bar = LoginBar(_resolve_crm(crm_or_world), on_login=lambda _c: self.show())
        self.menu = w.ToggleButtons(options=list(APP_SCREENS), value=start,
                                    style={"button_width": "auto"})
        self.menu.observe(self.guard(lambda _c: self.show()), names="value")
        self.area = w.VBox()
        self.current: Screen | None = None
        self.widget = w.VBox([w.HTML("<h3>simcrm 客户关系管理系统</h3>"), self.login_bar.widget, self.menu,
                              self.status, self.area])
        self.show()

    @property
    def crm(self) -> Any:
        """The CRM acting as the logged-in employee."""
        return self.login_bar.crm

    def login(self, who: int | str) -> Screen:
        """Log in as another employee; returns the rebuilt current screen."""
        self.login_bar.login(who)
        return self.current

    def open(self, label: str, **kwargs: Any) -> Screen:
        """Show the screen of menu entry ``label`` (or a factory name) for the current user."""
        from . import screen

        name = APP_SCREENS.get(label, label)
        self.say("")
        self.current = screen(name, self.crm, **kwargs)  # a Blocked screen when the role may not open it
        self.area.children = [self.current.widget]
        if isinstance(self.current, Blocked):
            self.say(f"{label}：{self.current.title}", error=True)
        return self.current

    def show(self) -> Screen:
        """Rebuild the screen chosen in the menu."""
        return self.open(self.menu.value)
