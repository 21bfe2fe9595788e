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
