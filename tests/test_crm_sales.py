"""Quotes → contracts/orders → shipments, payment plans, payments, invoices, returns."""

from __future__ import annotations

import pytest

from simcrm.crm import CRM
from simcrm.errors import StateTransitionError, ValidationError
from simcrm.store import snapshot_equal

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
    # the returned printer is not invoiced: invoicing stops at the total less the return
    before = w.store.snapshot()
    with pytest.raises(ValidationError) as info:
        w.as_rep1.issue_invoice(w.order1, balance["total"] - 5000)
    assert info.value.field == "amount" and "未开票金额" in str(info.value)
    assert snapshot_equal(before, w.store.snapshot()) == []
    w.as_rep1.issue_invoice(w.order1, balance["total"] - balance["returned"] - 5000)
    assert w.as_rep1.order_balance(w.order1)["invoiced"] == pytest.approx(balance["total"] - balance["returned"])
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


def _invoiced_order(store, clock, *, invoice_parts):
    """A shipped order of 10 scanners and 1 projector, invoiced in ``invoice_parts`` (fractions
    of the total, in order) — the figures below are recomputed from the order's own lines."""
    admin = CRM.system(store, now=clock)
    admin.setup_demo_org()
    cat = admin.add_category("外设")
    small = admin.create_product("扫码枪", cat, price=500, cost=300, stock=100, warranty_months=12)
    big = admin.create_product("投影机", cat, price=9000, cost=6000, stock=10, warranty_months=36)
    cid = admin.create_customer("远航物流有限公司", province="上海", city="上海市", owner="rep1")
    o = admin.create_order(cid, [{"product_id": small, "quantity": 10, "tax_rate": 0.13},
                                 {"product_id": big, "quantity": 1, "tax_rate": 0.06}])
    admin.approve_order(o)
    admin.ship_order(o)
    total = store.get("sales_order", o)["total_amount"]
    invoices = [admin.issue_invoice(o, round(total * f, 2)) for f in invoice_parts]
    lines = store.read("order_line", where={"order_id": o}).set_index("product_id")
    return admin, o, lines, invoices


def test_return_on_an_invoiced_order_issues_the_credit_note(store):
    """红字发票: returning goods that were invoiced reverses the invoiced excess, in the same
    transaction as the return, against the newest invoice first, audited."""
    clock = Clock()
    admin, o, lines, (first, second) = _invoiced_order(store, clock, invoice_parts=(0.5, 0.5))
    total = store.get("sales_order", o)["total_amount"]
    clock.advance(days=1)
    small_line = lines.iloc[0]
    unit = small_line["amount"] / small_line["quantity"]
    rid = admin.return_goods(o, {int(small_line["id"]): 2}, "外壳破损")
    notes = store.read("credit_note", where={"order_id": o})
    assert len(notes) == 1
    note = notes.iloc[0]
    inv2 = store.get("invoice", second)
    assert note["invoice_id"] == second and note["return_id"] == rid          # the newest invoice
    assert note["amount"] == pytest.approx(2 * unit)
    assert note["tax_amount"] == pytest.approx(round(2 * unit * inv2["tax_amount"] / inv2["amount"], 2))
    assert note["code"].startswith("HZ") and "外壳破损" not in note["reason"] and "退货" in note["reason"]
    balance = admin.order_balance(o)
    assert balance["credited"] == pytest.approx(2 * unit)
    assert balance["invoiced"] == pytest.approx(total - 2 * unit) == pytest.approx(total - balance["returned"])
    log = store.read("audit_log", where={"table_name": "credit_note"})
    assert log["row_id"].tolist() == [int(note["id"])] and log["action"].tolist() == ["新建"]
    # fully invoiced net of the return: nothing more can be invoiced
    before = store.snapshot()
    with pytest.raises(ValidationError):
        admin.issue_invoice(o, 1)
    assert snapshot_equal(before, store.snapshot()) == []
    # returning the projector (more than the newest invoice has left) spreads over both invoices
    left2 = inv2["amount"] - note["amount"]
    big_line = lines.iloc[1]
    rid2 = admin.return_goods(o, {int(big_line["id"]): 1}, "亮度不达标")
    notes = store.read("credit_note", where={"return_id": rid2}).sort_values("id")
    assert notes["invoice_id"].tolist() == [second, first]
    assert notes["amount"].tolist() == pytest.approx([left2, big_line["amount"] - left2])
    balance = admin.order_balance(o)
    assert balance["invoiced"] == pytest.approx(total - balance["returned"])


def test_return_of_goods_not_yet_invoiced_needs_no_credit_note(store):
    clock = Clock()
    admin, o, lines, _ = _invoiced_order(store, clock, invoice_parts=(0.5,))
    total = store.get("sales_order", o)["total_amount"]
    small_line = lines.iloc[0]
    admin.return_goods(o, {int(small_line["id"]): 2}, "外壳破损")   # half the total is still uninvoiced
    assert store.count("credit_note", order_id=o) == 0
    balance = admin.order_balance(o)
    room = total - balance["returned"] - balance["invoiced"]
    assert room == pytest.approx(total - round(total * 0.5, 2) - small_line["amount"] / 5)
    admin.issue_invoice(o, round(room, 2))
    assert admin.order_balance(o)["invoiced"] == pytest.approx(total - balance["returned"])


def test_explicit_credit_note_lets_the_desk_reissue_a_wrong_invoice(store):
    """冲红后重开: the invoice was made out for too much; finance reverses it in full and
    invoices again."""
    clock = Clock()
    admin, o, _, (wrong,) = _invoiced_order(store, clock, invoice_parts=(0.8,))
    total = store.get("sales_order", o)["total_amount"]
    amount = store.get("invoice", wrong)["amount"]
    rep = admin.as_user("rep1")
    nid = rep.issue_credit_note(o, wrong, amount, "发票抬头有误，冲红后重开")
    note = store.get("credit_note", nid)
    assert note["created_by"] == rep.user_id
    assert note["amount"] == amount and note["return_id"] is None and note["invoice_id"] == wrong
    assert admin.order_balance(o)["invoiced"] == 0
    before = store.snapshot()
    with pytest.raises(ValidationError) as info:             # the invoice is reversed in full
        admin.issue_credit_note(o, wrong, 0.01, "再冲一次")
    assert info.value.field == "amount" and "0.00" in str(info.value)
    assert snapshot_equal(before, store.snapshot()) == []
    admin.issue_invoice(o, total)
    assert admin.order_balance(o)["invoiced"] == pytest.approx(total)
