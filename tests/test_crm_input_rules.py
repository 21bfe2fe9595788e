"""Input that issue 17 found mishandled: what must now be refused (import rows) and what must now
be accepted or booked (numpy numbers, allow_duplicate on update, refunds), literal search terms
and formula-safe exports."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from crm_fixtures import small_world
from simcrm.errors import DuplicateError
from simcrm.store import snapshot_equal


@pytest.fixture
def world(store):
    return small_world(store)


# (case id, score cell of the import file, exact reason of the rejected row)
SCORES = [
    ("nan", "nan", "线索评分（score）的值 'nan' 无效：不是有限的数。允许：有限的整数"),
    ("inf", "inf", "线索评分（score）的值 'inf' 无效：不是有限的数。允许：有限的整数"),
    ("1e400", "1e400", "线索评分（score）的值 '1e400' 无效：不是有限的数。允许：有限的整数"),
]


@pytest.mark.parametrize("cell, reason", [c[1:] for c in SCORES], ids=[c[0] for c in SCORES])
def test_import_refuses_non_finite_scores_row_by_row(world, tmp_path, cell, reason):
    path = tmp_path / "leads.csv"
    path.write_text(f"联系人姓名,手机,线索评分\n坏分数,13900000001,{cell}\n", encoding="utf-8")
    before = world.store.snapshot()
    report = world.as_rep1.import_leads(path)
    assert report["accepted"].tolist() == [False]
    assert report.loc[0, "field"] == "score" and report.loc[0, "value"] == cell
    assert report.loc[0, "reason"] == reason
    assert snapshot_equal(before, world.store.snapshot()) == []
    # the same file with a good row after the bad one: the import goes on
    path.write_text(f"联系人姓名,手机,线索评分\n坏分数,13900000001,{cell}\n好分数,13900000002,70\n", encoding="utf-8")
    report = world.as_rep1.import_leads(path)
    assert report["accepted"].tolist() == [False, True]
    assert world.store.get("lead", int(report.loc[1, "id"]))["score"] == 70


def test_update_customer_allow_duplicate(world):
    taken = world.store.get("customer", world.c1)["name"]
    with pytest.raises(DuplicateError):
        world.admin.update_customer(world.c3, name=taken)
    world.admin.update_customer(world.c3, name=taken, allow_duplicate=True)
    assert world.store.get("customer", world.c3)["name"] == taken


def test_numpy_numbers_are_accepted(world):
    admin, rep1 = world.admin, world.as_rep1
    before = world.store.get("product", world.toner)["stock"]
    admin.stock_in(world.toner, np.int64(7))
    admin.stock_out(world.toner, np.float32(2))
    assert world.store.get("product", world.toner)["stock"] == before + 7 - 2
    frame = pd.DataFrame({"product_id": [world.toner], "quantity": [3]})  # int64 columns, as pandas gives
    lines = frame.to_dict("records")
    assert isinstance(lines[0]["quantity"], (int, np.integer))
    order = rep1.create_order(world.c1, [{k: np.int64(v) for k, v in line.items()} for line in lines])
    world.as_mgr1.approve_order(order)
    line_id = world.store.read("order_line", where={"order_id": order})["id"].to_numpy()[0]
    rep1.ship_order(order, {line_id: np.int64(2)})
    assert world.store.read("order_line", where={"order_id": order})["shipped_quantity"].tolist() == [2.0]
    total = world.store.get("sales_order", order)["total_amount"]
    rep1.record_payment(order, np.float64(total / 2))
    rep1.issue_invoice(order, np.int64(100))
    balance = rep1.order_balance(order)
    assert balance["paid"] == pytest.approx(total / 2) and balance["invoiced"] == 100
    rep1.score_lead(world.lead, np.int64(60))
    assert world.store.get("lead", world.lead)["score"] == 60
    with pytest.raises(Exception) as info:
        rep1.score_lead(world.lead, np.bool_(True))
    assert "score" in str(info.value)


def test_numpy_booleans_are_flags(world):
    """A flag read from a pandas column is a numpy boolean (np.bool_, named ``bool`` in numpy 2)."""
    flags = pd.DataFrame({"hot": [True, False]})["hot"].to_numpy()
    assert not isinstance(flags[0], bool)
    for flag in flags:
        world.admin.update_customer(world.c1, hot=flag)
        assert world.store.get("customer", world.c1)["hot"] is bool(flag)
    cid = world.as_rep1.create_customer("布尔标记有限公司", province="北京", city="北京市", hot=flags[0])
    assert world.store.get("customer", cid)["hot"] is True


def test_return_after_full_payment_books_a_refund(world):
    rep1 = world.as_rep1
    order = rep1.create_order(world.c1, [{"product_id": world.toner, "quantity": 4, "unit_price": 250}])
    world.as_mgr1.approve_order(order)
    line = world.store.read("order_line", where={"order_id": order}).iloc[0]
    rep1.ship_order(order)
    total = world.store.get("sales_order", order)["total_amount"]
    rep1.record_payment(order, total)
    rid = rep1.return_goods(order, {int(line["id"]): 1}, "破损")
    worth = round(float(line["amount"]) / float(line["quantity"]), 2)  # one of four units
    refunds = world.store.read("refund", where={"order_id": order})
    assert refunds["amount"].tolist() == [pytest.approx(worth)]
    assert refunds["return_id"].tolist() == [rid]
    balance = rep1.order_balance(order)
    assert balance["refunded"] == pytest.approx(worth)
    assert balance["outstanding"] == 0
    log = world.store.read("audit_log", where={"table_name": "refund"})
    assert len(log) == 1
    # a return before full payment needs no refund
    order2 = rep1.create_order(world.c1, [{"product_id": world.toner, "quantity": 2}])
    world.as_mgr1.approve_order(order2)
    rep1.ship_order(order2)
    line2 = int(world.store.read("order_line", where={"order_id": order2})["id"].iloc[0])
    rep1.return_goods(order2, {line2: 1}, "多发")
    assert world.store.count("refund", order_id=order2) == 0
    assert rep1.order_balance(order2)["outstanding"] > 0


def test_list_search_is_literal(world):
    from simcrm.ui import screen

    world.as_rep1.create_customer("百分百_科技有限公司", province="北京", city="北京市")
    view = screen("customers", world.admin, page_size=50)
    everyone = view.total
    assert everyone > 2
    view.search.value = "%"
    assert view.total == 0  # no customer has a % in any text field
    view.search.value = "_"
    assert view.page["客户名称"].tolist() == ["百分百_科技有限公司"]
    view.search.value = ""
    assert view.total == everyone


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exports_neutralise_formulas(world, tmp_path, suffix):
    hostile = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)"]
    for i, name in enumerate(hostile):
        world.as_rep1.create_customer(name, province="北京", city="北京市", address=f"=HYPERLINK(\"x{i}\")",
                                      allow_duplicate=True)
    path = tmp_path / f"out{suffix}"
    frame = world.admin.export_customers(path, purpose="测试")
    assert set(hostile) <= set(frame["name"])  # the DataFrame keeps the values
    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        names = [r["name"] for r in rows]
        addresses = [r["address"] for r in rows]
    else:
        book = pd.read_excel(path, dtype=str, keep_default_na=False)
        names, addresses = book["name"].tolist(), book["address"].tolist()
    for value in hostile:
        assert value not in names and "'" + value in names
    assert not any(str(x).startswith(("=", "+", "-", "@")) for x in names + addresses)
    assert "北京星辰科技有限公司" in names  # ordinary text unchanged


def test_import_on_both_databases(any_store):
    """The chunked import (batched writes, savepoints) on SQLite and PostgreSQL alike."""
    import datetime as dt

    from simcrm.crm import CRM

    admin = CRM.system(any_store, now=dt.datetime(2025, 7, 1, 9, 0))
    admin.setup_demo_org()
    rep = admin.as_user("rep1")
    rows = pd.DataFrame({"客户名称": ["甲贸易有限公司", "乙贸易有限公司", "甲贸易股份有限公司", "丙贸易有限公司"],
                         "省份": ["北京", "北京", "北京", "火星"], "城市": ["北京市"] * 4,
                         "电话": ["010-62345601", "010-62345602", "", "010-62345604"]})
    report = rep.import_customers(rows)
    assert report["accepted"].tolist() == [True, True, False, False]
    assert report["field"].tolist()[2:] == ["name", "province"]
    customers = any_store.read("customer")
    assert sorted(customers["name"]) == ["乙贸易有限公司", "甲贸易有限公司"]
    assert customers["code"].is_unique
    assert any_store.count("owner_history") == 2
    assert any_store.count("audit_log", table_name="customer", action="新建") == 2
    leads = pd.DataFrame({"联系人姓名": ["赵", "钱"], "手机": ["13900000001", "123"], "线索评分": ["80", "5"]})
    report = rep.import_leads(leads)
    assert report["accepted"].tolist() == [True, False]
    assert any_store.read("lead")["score"].tolist() == [80]
