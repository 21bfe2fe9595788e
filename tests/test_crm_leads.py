"""Leads: qualify, convert in one step without losing anything, invalidate."""

from __future__ import annotations

import pytest

from simcrm.errors import StateTransitionError
from simcrm.store import schema

from crm_fixtures import small_world


@pytest.fixture
def world(store):
    return small_world(store)


def test_convert_lead_creates_customer_contact_opportunity(world):
    w = world
    before = {t: w.store.count(t) for t in schema.TABLES}
    w.as_rep1.qualify_lead(w.lead)
    result = w.as_rep1.convert_lead(w.lead, amount=80000, stage="需求分析")
    after = {t: w.store.count(t) for t in schema.TABLES}
    grown = {t: after[t] - before[t] for t in schema.TABLES if after[t] != before[t]}
    assert grown.pop("customer") == 1 and grown.pop("contact") == 1 and grown.pop("opportunity") == 1
    assert set(grown) <= {"audit_log", "owner_history", "opportunity_stage_history", "numbering_rule"}
    lead = w.store.get("lead", w.lead)
    assert lead["status"] == "已转化" and lead["converted_at"] is not None
    assert (lead["customer_id"], lead["contact_id"], lead["opportunity_id"]) == (
        result.customer_id, result.contact_id, result.opportunity_id)
    cust = w.store.get("customer", result.customer_id)
    assert cust["name"] == "南京金陵电子有限公司" and cust["city"] == "南京市" and cust["owner_id"] == w.rep1
    contact = w.store.get("contact", result.contact_id)
    assert contact["name"] == "孙丽" and contact["mobile"] == "15912345678" and contact["status"] == "主联系人"
    opp = w.store.get("opportunity", result.opportunity_id)
    assert opp["stage"] == "需求分析" and opp["probability"] == 30 and opp["amount"] == 80000
    with pytest.raises(StateTransitionError):
        w.as_rep1.convert_lead(w.lead)


def test_convert_into_existing_customer(world):
    w = world
    result = w.as_rep1.convert_lead(w.lead, customer_id=w.c1, opportunity=False)
    assert result.customer_id == w.c1 and result.opportunity_id is None
    assert w.store.get("contact", result.contact_id)["customer_id"] == w.c1


def test_failed_conversion_leaves_the_lead_open(world):
    w = world
    before = w.store.snapshot()
    with pytest.raises(Exception):
        w.as_rep1.convert_lead(w.lead, stage="不存在的阶段")
    assert w.store.snapshot() == before
    assert w.store.get("lead", w.lead)["status"] == "新建"


def test_invalidate_and_score(world):
    w = world
    w.as_rep1.score_lead(w.lead, 35)
    w.as_rep1.invalidate_lead(w.lead, "无购买需求")
    lead = w.store.get("lead", w.lead)
    assert lead["status"] == "无效" and lead["score"] == 35 and lead["invalid_reason"] == "无购买需求"
    with pytest.raises(StateTransitionError):
        w.as_rep1.qualify_lead(w.lead)
    with pytest.raises(StateTransitionError):
        w.as_rep1.score_lead(w.lead, 50)
