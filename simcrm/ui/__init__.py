"""ipywidgets screens over the CRM: thin views, no business logic (that lives in crm/analytics).

Every screen is a :class:`Screen` with a ``widget`` to display, its inputs and buttons as
attributes (tests and curious students can drive them from code), and ``last_call`` — the
equivalent ``simcrm`` call of the last action, shown under the screen with “显示代码”.
Screens take a CRM acting as the logged-in employee, so they show and allow what that role
and data scope allow; a screen the role may not open shows “无权查看” and why (a :class:`Blocked`
screen) instead of raising. :func:`screen` opens one by name:

    >>> import datetime as dt
    >>> from simcrm.store import Store
    >>> from simcrm.crm import CRM
    >>> admin = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
    >>> _ = admin.setup_demo_org()
    >>> rep = admin.as_user("rep1")
    >>> cid = rep.create_customer("远航物流有限公司", province="上海", city="上海市")
    >>> view = screen("list", rep, table="customer")
    >>> view.total, view.last_call
    (1, 'crm.customers()')
    >>> type(screen("客户视图", rep, customer_id=cid)).__name__
    'Customer360'
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import SimCRMError
from ._base import Blocked, Screen, api_call
from .form import RecordForm
from .listview import ListView

__all__ = ["Screen", "Blocked", "ListView", "RecordForm", "screen", "screen_key", "SCREENS", "ALIASES", "api_call"]

#: factory name → (module, class, what it is)
SCREENS: dict[str, tuple[str, str, str]] = {
    "login": ("login", "LoginBar", "登录为：选择员工，各界面按其角色和数据范围显示"),
    "app": ("login", "CRMApp", "整个 CRM：登录为 + 功能菜单"),
    "list": ("listview", "ListView", "任意数据表的列表：搜索、筛选、排序、分页"),
    "customers": ("listview", "ListView", "客户列表（打开即客户视图）"),
    "record": ("record", "RecordView", "一条记录的只读视图"),
    "form": ("forms", "entity_form", "新建记录的表单（经 CRM 操作保存）"),
    "customer360": ("customer360", "Customer360", "客户视图（360°）"),
    "admin": ("admin", "AdminScreen", "系统管理：部门树、员工、角色与数据范围、数据字典"),
    "products": ("products", "ProductCatalogue", "产品目录：类别树、产品、库存预警"),
    "lead_import": ("leads", "LeadImport", "线索导入与客户查重合并"),
    "board": ("board", "OpportunityBoard", "销售机会看板：按阶段推进、赢单、输单"),
    "funnel": ("board", "FunnelChart", "销售漏斗图"),
    "order_flow": ("orders", "OrderFlow", "报价 → 订单 → 出库 → 回款 → 开票"),
    "service_desk": ("service", "ServiceDesk", "服务台：服务请求、投诉、回访与 SLA"),
    "care": ("care", "CarePlanner", "客户关怀计划：生日、节日、回访"),
    "dashboard": ("dashboard", "Dashboard", "仪表盘：关键指标与图表"),
}

#: Chinese (and a few other) names of the screens
ALIASES: dict[str, str] = {
    "登录": "login", "登录为": "login", "系统": "app", "列表": "list", "客户": "customers", "客户列表": "customers",
    "记录": "record", "表单": "form", "新建": "form", "客户视图": "customer360", "360": "customer360",
    "系统管理": "admin", "产品": "products", "产品目录": "products", "线索导入": "lead_import",
    "查重": "lead_import", "duplicates": "lead_import", "销售机会看板": "board", "商机看板": "board", "看板": "board",
    "销售漏斗": "funnel", "漏斗": "funnel", "订单流程": "order_flow", "报价订单": "order_flow",
    "服务台": "service_desk", "客服": "service_desk", "客户关怀": "care", "关怀": "care",
    "仪表盘": "dashboard", "dashboard": "dashboard", "login_bar": "login",
}


def _resolve_crm(crm_or_world: Any) -> Any:
    """A CRM from a CRM, a store (system administrator), a lab (``.crm``) or a world (``.store``)."""
    from ..crm import CRM
    from ..store import Store

    if hasattr(crm_or_world, "as_user"):
        return crm_or_world
    if isinstance(crm_or_world, Store):
        return CRM.system(crm_or_world)
    if getattr(crm_or_world, "crm", None) is not None:
        return crm_or_world.crm
    if getattr(crm_or_world, "store", None) is not None:
        today = getattr(crm_or_world, "today", None)
        return CRM.system(crm_or_world.store, now=today)
    raise TypeError(f"screen() needs a CRM, a Store or a lab/world, not {type(crm_or_world).__name__}")


def screen_key(name: str) -> str:
    """The key in :data:`SCREENS` of a screen's English or Chinese name; an unknown name is
    refused with the names there are."""
    key = ALIASES.get(name, name)
    if key not in SCREENS:
        choices = "、".join(SCREENS)
        raise ValueError(f"没有名为“{name}”的界面；可选：{choices}")
    return key


def screen(name: str, crm_or_world: Any, **kwargs: Any) -> Any:
    """Open a screen by its English or Chinese name (see :data:`SCREENS` and :data:`ALIASES`).

    Args:
        name: e.g. ``"list"``, ``"customer360"``, ``"board"``, ``"lead_import"``, ``"客户视图"``.
        crm_or_world: a CRM acting as the user, a store, or a lab / world object.
        **kwargs: the screen's own arguments, e.g. ``table="sales_order"`` for a list,
            ``customer_id=3`` for the 360° view.
    """
    key = screen_key(name)
    crm = _resolve_crm(crm_or_world)
    module, attr, _ = SCREENS[key]
    factory = getattr(importlib.import_module(f".{module}", __name__), attr)
    if key == "customers":
        kwargs.setdefault("table", "customer")
        kwargs.setdefault("columns", ["code", "name", "kind", "industry", "source", "province", "city", "phone",
                                      "level", "lifecycle", "owner_id"])
    try:
        if key in ("list", "customers"):
            table = kwargs.pop("table", "customer")
            return factory(crm, table, **kwargs)
        if key == "form":
            table = kwargs.pop("table", "customer")
            return factory(crm, table, **kwargs)
        if key == "record":
            return factory(crm, kwargs.pop("table"), kwargs.pop("row_id"), **kwargs)
        return factory(crm, **kwargs)
    except SimCRMError as exc:  # e.g. a rep opening the service desk: the screen says 无权查看
        return Blocked(key, exc)
