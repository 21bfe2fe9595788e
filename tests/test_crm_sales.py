"""Quotes → contracts/orders → shipments, payment plans, payments, invoices, returns."""

from __future__ import annotations

import pytest

from simcrm.crm import CRM
from simcrm.errors import StateTransitionError

from crm_fixtures import Clock, small_world


@pytest.fixture
def world(store):
    return small_world(store)


def test_convert_quote_copies_lines_exactly(world):
    w = world
    q = w.as_rep1.create_quote(w.c1, [{"product_id": w.printer, "quantity": 3, "unit_price": 1899.5, "discount": 0.1},
                                      {"product_id": w.toner, "quantity": 7, "tax_rate": 0.06}], opportunity_id=w.o1)
    w.as_rep1.send_quote(q)
    quote_lines = w.store.read("quote_line", where={"quote_id": q})
    n_quote_lines = w.store.count("quote_line")
    order = w.as_rep1.convert_quote_to_order(q, kind="订单")
    order_lines = w.store.read("order_line", where={"order_id": order})
    cols = ["product_id", "quantity", "unit_price", "discount", "tax_rate", "amount"]
    assert quote_lines[cols].equals(order_lines[cols])
    assert w.store.count("quote_line") == n_quote_lines                 # the quote keeps its lines
    o = w.store.get("sales_order", order)
    assert o["total_amount"] == w.store.get("quote", q)["total_amount"] == round(order_lines["amount"].sum(), 2)
    assert (o["kind"], o["status"], o["approval"], o["shipping"]) == ("订单", "执行中", "待审", "未出库")
    assert o["code"].startswith("DD") and o["quote_id"] == q and o["opportunity_id"] == w.o1
    assert w.store.get("quote", q)["status"] == "已转订单"


def test_shipping_partial_then_full_and_stock(world):
    w = world
    stock = w.store.get("product", w.printer)["stock"]
    assert stock == 46                                                  # 4 shipped in the world
    w.as_rep1.ship_order(w.order1, {w.lines1[0]: 6})
    assert w.store.get("sales_order", w.order1)["shipping"] == "部分"
    w.as_rep1.ship_order(w.order1)                                       # the rest
    assert w.store.get("sales_order", w.order1)["shipping"] == "全部"
    assert w.store.get("product", w.printer)["stock"] == 40
    assert w.store.get("product", w.toner)["stock"] == 80
    moves = w.store.read("stock_move", where={"kind": "出库"})
    assert moves["shipment_id"].notna().all() and (moves["quantity"] < 0).all()
    with pytest.raises(StateTransitionError):
        w.as_rep1.ship_order(w.order1)


def test_payments_invoices_returns(store):
    clock = Clock()
    w = small_world(store, clock)
    balance = w.as_rep1.order_balance(w.order1)
    assert balance["paid"] == 5000 and balance["outstanding"] == balance["total"] - 5000
    w.as_rep1.record_payment(w.order1, 3000)
    rid = w.as_rep1.return_goods(w.order1, {w.lines1[0]: 1}, "外壳破损")
    assert w.store.get("product", w.printer)["stock"] == 47
    ret = w.store.get("sales_return", rid)
    line = w.store.get("order_line", w.lines1[0])
    assert ret["amount"] == round(line["amount"] / line["quantity"], 2)
    with pytest.raises(Exception):
        w.as_rep1.return_goods(w.order1, {w.lines1[0]: 4}, "再退")     # only 3 left that were shipped
    balance = w.as_rep1.order_balance(w.order1)
    w.as_rep1.record_payment(w.order1, balance["outstanding"])
    assert w.as_rep1.order_balance(w.order1)["outstanding"] == 0
    w.as_rep1.issue_invoice(w.order1, balance["total"] - 5000)
    assert w.as_rep1.order_balance(w.order1)["invoiced"] == balance["total"]
    w.as_rep1.finish_order(w.order1)
    assert w.store.get("sales_order", w.order1)["status"] == "结束"


def test_receivables_overdue(store):
    clock = Clock()
    w = small_world(store, clock)
    clock.advance(days=45)          # 2025-08-15: first instalment (due 07-31) partly paid → overdue
    rec = CRM.system(store, now=clock).receivables()
    assert list(rec["overdue"]) == [True, False]
    assert rec["paid"].iloc[0] == 5000


def test_rejected_order_ends(world):
    w = world
    assert w.store.get("sales_order", w.order_rejected)["status"] == "意外中止"
    with pytest.raises(StateTransitionError):
        w.as_rep2.ship_order(w.order_rejected)
