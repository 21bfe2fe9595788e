"""Editing quotes and orders before they are sent or approved; frozen afterwards."""

from __future__ import annotations

import datetime as dt

import pytest

from simcrm.crm import CRM
from simcrm.errors import SimCRMError, StateTransitionError, ValidationError
from simcrm.store import snapshot_equal


@pytest.fixture
def crm(store):
    admin = CRM.system(store, now=dt.datetime(2025, 7, 1, 9, 0))
    admin.setup_demo_org()
    admin.pid = admin.create_product("扫码枪", admin.add_category("外设"), price=500, cost=300, stock=100)
    admin.cid = admin.create_customer("远航物流有限公司", province="上海", city="上海市", owner="rep1")
    return admin


def test_draft_quote_lines_can_change_until_sent(crm):
    q = crm.create_quote(crm.cid, [{"product_id": crm.pid, "quantity": 10}])
    crm.update_quote_lines(q, [{"product_id": crm.pid, "quantity": 4, "discount": 0.5}])
    lines = crm.store.read("quote_line", where={"quote_id": q})
    assert lines["quantity"].tolist() == [4.0]
    assert crm.store.get("quote", q)["total_amount"] == 4 * 500 * 0.5
    assert "删除" in crm.audit("quote_line")["action"].tolist()
    crm.send_quote(q)
    before = crm.store.snapshot()
    with pytest.raises(StateTransitionError) as info:
        crm.update_quote_lines(q, [{"product_id": crm.pid, "quantity": 1}])
    assert "草稿" in str(info.value) and "已发送" in str(info.value)
    assert snapshot_equal(before, crm.store.snapshot()) == []


def test_order_lines_change_only_while_pending_and_without_a_plan(crm):
    o = crm.create_order(crm.cid, [{"product_id": crm.pid, "quantity": 2}])
    crm.update_order_lines(o, [{"product_id": crm.pid, "quantity": 3}])
    assert crm.store.get("sales_order", o)["total_amount"] == 1500
    bad_cases = [
        (lambda: crm.update_order_lines(o, [{"product_id": crm.pid, "quantity": -1}]), "quantity"),
        (lambda: crm.update_order_lines(o, []), "lines"),
    ]
    before = crm.store.snapshot()
    for call, field in bad_cases:
        with pytest.raises(SimCRMError) as info:
            call()
        assert field in str(info.value)
        assert snapshot_equal(before, crm.store.snapshot()) == []
    crm.add_payment_plan(o, [("2025-08-01", 1500)])
    with pytest.raises(ValidationError):
        crm.update_order_lines(o, [{"product_id": crm.pid, "quantity": 1}])
    o2 = crm.create_order(crm.cid, [{"product_id": crm.pid, "quantity": 1}])
    crm.as_user("mgr1").approve_order(o2)
    with pytest.raises(StateTransitionError):
        crm.update_order_lines(o2, [{"product_id": crm.pid, "quantity": 5}])


def test_order_header_can_change_until_approved_then_frozen(crm):
    o = crm.create_order(crm.cid, [{"product_id": crm.pid, "quantity": 2}], kind="合同")
    crm.update_order(o, end_date="2026-06-30", payment_terms="分期付款")
    row = crm.store.get("sales_order", o)
    assert (row["end_date"], row["payment_terms"]) == (dt.date(2026, 6, 30), "分期付款")
    changed = crm.audit("sales_order")
    assert {"end_date", "payment_terms"} <= set(changed.loc[changed["action"] == "修改", "field"])
    crm.as_user("mgr1").approve_order(o)
    before = crm.store.snapshot()
    with pytest.raises(StateTransitionError) as info:
        crm.update_order(o, end_date="2026-12-31")
    assert "冻结" in str(info.value) and "同意" in str(info.value)
    assert snapshot_equal(before, crm.store.snapshot()) == []


def test_closed_opportunity_is_frozen(crm):
    opp = crm.create_opportunity(crm.cid, "扫码枪项目", amount=5000)
    crm.update_opportunity(opp, amount=6000, expected_close="2025-09-30")
    assert crm.store.get("opportunity", opp)["amount"] == 6000
    crm.win_opportunity(opp)
    before = crm.store.snapshot()
    with pytest.raises(StateTransitionError) as info:
        crm.update_opportunity(opp, amount=9000)
    assert "冻结" in str(info.value)
    assert snapshot_equal(before, crm.store.snapshot()) == []


def test_return_within_the_products_period_books_the_credit(store):
    """Partial shipment, then the rest; a return inside 退货期限 (7 days for a 12-month warranty,
    15 for a longer one, from the line's last shipment) books stock back and, the order being
    paid in full, a refund (the credit) that brings the outstanding amount back to 0."""
    from crm_fixtures import Clock

    clock = Clock()
    admin = CRM.system(store, now=clock)
    admin.setup_demo_org()
    cat = admin.add_category("外设")
    small = admin.create_product("扫码枪", cat, price=500, cost=300, stock=100, warranty_months=12)
    big = admin.create_product("投影机", cat, price=9000, cost=6000, stock=10, warranty_months=36)
    assert (admin.return_period(small), admin.return_period(big)) == (7, 15)
    cid = admin.create_customer("远航物流有限公司", province="上海", city="上海市", owner="rep1")
    o = admin.create_order(cid, [{"product_id": small, "quantity": 10}, {"product_id": big, "quantity": 1}])
    admin.approve_order(o)
    lines = store.read("order_line", where={"order_id": o}).set_index("product_id")["id"]
    admin.ship_order(o, {int(lines[small]): 4})
    assert store.get("sales_order", o)["shipping"] == "部分"
    clock.advance(days=5)
    admin.ship_order(o)  # the rest: 6 scanners and the projector
    assert store.get("sales_order", o)["shipping"] == "全部"
    total = store.get("sales_order", o)["total_amount"]
    admin.record_payment(o, total)
    admin.issue_invoice(o, total)
    clock.advance(days=9)  # 9 days after the last shipment: past 7, within 15
    before = store.snapshot()
    with pytest.raises(ValidationError) as info:
        admin.return_goods(o, {int(lines[small]): 1}, "不想要了")
    assert info.value.field == "return_date" and "7 天" in str(info.value)
    assert snapshot_equal(before, store.snapshot()) == []
    stock = store.get("product", big)["stock"]
    rid = admin.return_goods(o, {int(lines[big]): 1}, "投影亮度不达标")
    assert store.get("product", big)["stock"] == stock + 1
    refund = store.read("refund", where={"return_id": rid})
    assert len(refund) == 1 and refund["amount"].iloc[0] == pytest.approx(9000)
    assert admin.order_balance(o)["outstanding"] == 0
