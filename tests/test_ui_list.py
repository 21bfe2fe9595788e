"""ListView: data scope through a CRM, search/filter/sort/paginate, and only a page in the widget."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from crm_fixtures import small_world
from simcrm.crm import CRM
from simcrm.ui import ListView, screen
from simcrm.ui._scope import scope_condition
from simcrm.ui.customer360 import Customer360
from simcrm.ui.record import RecordView


@pytest.fixture
def world(store):
    return small_world(store)


SCOPED = ["customer", "contact", "lead", "opportunity", "quote", "sales_order", "order_line", "payment",
          "payment_plan", "invoice", "activity", "care", "service_request", "complaint", "complaint_history",
          "campaign"]


@pytest.mark.parametrize("login", ["boss", "mgr1", "rep1", "rep2", "rep3"])
def test_scope_condition_matches_crm_list(world, login):
    crm = getattr(world, f"as_{login}")
    for table in SCOPED:
        if not crm.can(__import__("simcrm.crm.base", fromlist=["x"]).TABLE_MODULE[table]):
            continue
        view = ListView(crm, table, page_size=1000)
        assert sorted(view.page["编号"]) == sorted(crm.list(table)["id"]), (login, table)


def test_rep_cannot_see_other_reps_unshared_customer(world):
    rep2 = ListView(world.as_rep2, "customer", page_size=50)
    names = set(rep2.page["客户名称"])
    assert "上海远航物流有限公司" in names
    assert "北京星辰科技有限公司" not in names and "王小明" not in names
    rep2.search.value = "星辰"
    assert rep2.total == 0 and "<td" not in rep2.table_html.value
    # once shared, it appears
    world.as_rep1.share_customer(world.c1, "rep2")
    rep2.refresh()
    assert rep2.total == 1


def test_search_filter_sort_paginate(world):
    view = screen("customers", world.admin, page_size=2)
    assert view.total == 4  # the merged duplicate is not listed
    assert len(view.page) == 2 and view.pages == 2
    view.next_button.click()
    assert view.page_number == 1 and len(view.page) == 2
    view.filter_widgets["kind"].value = "个人"
    assert view.total == 1 and view.page_number == 0 and view.page["客户名称"].tolist() == ["王小明"]
    view.filter_widgets["kind"].value = None
    view.sort_by.value = "name"
    view.descending.value = True
    names = view.page["客户名称"].tolist()
    assert names == sorted(world.admin.customers()["name"], reverse=True)[:2]
    assert view.last_call == "crm.customers()"
    view.filter_widgets["lifecycle"].value = "潜在"
    assert view.last_call == "crm.list(\"customer\", where={'lifecycle': '潜在'})"


def test_opening_rows(world):
    view = ListView(world.as_rep1, "customer")
    view.row_picker.value = world.c1
    view.open_button.click()
    assert isinstance(view.opened, Customer360) and view.opened.customer["id"] == world.c1
    orders = ListView(world.as_rep1, "sales_order")
    orders.row_picker.value = world.order1
    orders.open_button.click()
    assert isinstance(orders.opened, RecordView) and orders.opened.values["id"] == world.order1


def test_no_read_right_shows_nothing(world):
    view = ListView(world.as_rep1, "employee")
    assert view.total == 0 and "权限" in view.message


def _bulk_orders(store, n: int) -> None:
    """50,000 orders straight into the table (the widget is under test, not the CRM)."""
    rng = np.random.default_rng(0)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    frame = pd.DataFrame({
        "code": [f"DD{i:07d}" for i in range(n)], "kind": "订单",
        "customer_id": rng.choice([1, 2, 3], n), "owner_id": 3,
        "order_date": dates.date, "total_amount": rng.integers(100, 100000, n).astype(float),
        "status": "执行中", "approval": "同意", "shipping": "未出库",
    })
    store.bulk_insert("sales_order", frame)


def test_large_table_loads_only_the_visible_page(store):
    admin = CRM.system(store, now=dt.datetime(2025, 7, 1, 9, 0))
    admin.setup_demo_org()
    rep = admin.as_user("rep1")
    for name in ("甲公司", "乙公司", "丙公司"):
        rep.create_customer(name, province="北京", city="北京市")
    _bulk_orders(store, 50_000)
    assert store.count("sales_order") == 50_000
    view = ListView(rep, "sales_order", page_size=25)
    assert view.total == 50_000
    assert len(view.page) == 25
    assert len(view.row_picker.options) == 25
    assert len(re.findall(r"<tr", view.table_html.value)) == 25 + 1  # header row + the page
    view.go(1999)
    assert view.page_number == 1999 and len(view.page) == 25
    assert view.page["编号"].tolist() == list(range(49976, 50001))
    view.sort_by.value = "total_amount"
    view.descending.value = True
    assert len(view.page) == 25 and view.page["总金额"].is_monotonic_decreasing
    view.search.value = "DD0049999"
    assert view.total == 1 and len(view.page) == 1
