"""The CRM's 180-day churn rule and satisfaction surveys."""

from __future__ import annotations

import datetime as dt

import pytest

from simcrm.crm import CRM
from simcrm.errors import SimCRMError
from simcrm.store import snapshot_equal


@pytest.fixture
def crm(store):
    admin = CRM.system(store, now=dt.datetime(2025, 1, 10, 9, 0))
    admin.setup_demo_org()
    return admin


def _order(crm, cid, product, when):
    oid = crm.create_order(cid, [{"product_id": product, "quantity": 1, "unit_price": 100.0}], kind="订单", order_date=when)
    crm.approve_order(oid)
    return oid


def test_churn_rule_marks_only_lapsed_buyers(crm):
    cat = crm.add_category("办公设备")
    product = crm.create_product("打印机", cat, price=100.0, cost=60.0, stock=100)
    lapsed = crm.create_customer("甲公司有限公司", province="上海", city="上海市", owner="rep1")
    recent = crm.create_customer("乙公司有限公司", province="上海", city="上海市", owner="rep1")
    never = crm.create_customer("丙公司有限公司", province="上海", city="上海市", owner="rep1")
    _order(crm, lapsed, product, "2024-06-01")
    _order(crm, recent, product, "2024-12-01")
    # 2025-01-10 − 2024-06-01 = 223 days > 180; − 2024-12-01 = 40 days
    assert crm.apply_churn_rule("2025-01-10") == [lapsed]
    got = crm.store.get("customer", lapsed)
    assert got["lifecycle"] == "失效" and got["lost_reason"] == "180天未下单"
    assert crm.store.get("customer", recent)["lifecycle"] != "失效"
    assert crm.store.get("customer", never)["lifecycle"] == "潜在"
    assert crm.apply_churn_rule("2025-01-10") == []          # running it again changes nothing


def test_survey_records_servqual_and_refuses_bad_scores(crm):
    cid = crm.create_customer("丁公司有限公司", province="上海", city="上海市", owner="rep1")
    sid = crm.record_survey(cid, 4, expectation={"可靠性": 6, "empathy": 5}, perception={"reliability": 5})
    row = crm.store.get("survey", sid)
    assert (row["overall"], row["exp_reliability"], row["exp_empathy"], row["per_reliability"]) == (4, 6, 5, 5)
    before = crm.store.snapshot()
    for kwargs in ({"overall": 6}, {"overall": 3, "perception": {"速度": 5}}, {"overall": 3, "expectation": {"可靠性": 9}}):
        with pytest.raises(SimCRMError) as info:
            crm.record_survey(cid, **kwargs)
        assert info.value.field and str(info.value.value) in str(info.value)
    assert snapshot_equal(before, crm.store.snapshot()) == []
