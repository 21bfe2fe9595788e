"""Service requests with SLA and warranty, complaints through their state machine, return visits."""

from __future__ import annotations

import datetime as dt

import pytest

from simcrm.crm import CRM

from crm_fixtures import Clock, small_world


def test_service_request_lifecycle_and_sla(store):
    clock = Clock()
    w = small_world(store, clock)
    sr = w.as_rep1.open_service_request(w.c1, "无法开机", urgency="非常紧急", product_id=w.printer)
    assert w.store.get("service_request", sr)["in_warranty"]       # ordered today, 12 months warranty
    clock.advance(hours=1)
    w.as_rep1.respond_service_request(sr)
    clock.advance(hours=30)
    w.as_rep1.resolve_service_request(sr, satisfaction=4)
    w.as_rep1.reopen_service_request(sr)
    assert w.store.get("service_request", sr)["resolved_at"] is None
    w.as_rep1.resolve_service_request(sr)
    w.as_rep1.close_service_request(sr)
    status = CRM.system(store, now=clock).sla_status().set_index("id")
    row = status.loc[sr]
    assert row["response_met"] and not row["resolution_met"] and row["breached"]
    assert row["response_due"] == dt.datetime(2025, 7, 1, 11, 0)
    assert status.loc[w.sr1, "breached"]                     # 紧急: no response within 4 hours
    assert set(store.read("sla_policy")["urgency"]) == {"非常紧急", "紧急", "一般"}
    w.admin.set_sla_policy("一般", 8, 72)
    assert store.read("sla_policy", where={"urgency": "一般"})["first_response_hours"].iloc[0] == 8


def test_warranty_expires(store):
    clock = Clock()
    w = small_world(store, clock)
    clock.advance(days=400)
    sr = w.as_rep1.open_service_request(w.c1, "卡纸", product_id=w.printer)
    assert not w.store.get("service_request", sr)["in_warranty"]


def test_complaint_full_path_with_history(store):
    w = small_world(store)
    cp = w.cp1                                                  # already 调查中
    w.as_rep1.advance_complaint(cp, "已分派", department_id=w.team1, handler_id="rep1", note="转销售一组")
    w.as_rep1.advance_complaint(cp, "方案待批", solution="补偿运费 200 元")
    with pytest.raises(Exception):
        w.as_rep1.advance_complaint(cp, "处理中")               # only a manager approves the solution
    w.as_mgr1.advance_complaint(cp, "处理中", handling_notes="已安排补偿")
    with pytest.raises(Exception):
        w.as_rep1.advance_complaint(cp, "已回访")               # needs a confirmed return visit first
    w.as_rep1.record_return_visit(w.c1, complaint_id=cp, satisfaction=4, notes="满意")
    w.as_rep1.advance_complaint(cp, "已回访")
    w.as_rep1.advance_complaint(cp, "已归档")
    c = store.get("complaint", cp)
    assert c["return_visit_confirmed"] and c["satisfaction"] == 4 and c["closed_at"] is not None
    assert c["first_receiver_id"] == w.rep1 and c["department_id"] == w.team1
    hist = store.read("complaint_history", where={"complaint_id": cp})
    assert list(hist["status"]) == ["已记录", "调查中", "已分派", "方案待批", "处理中", "已回访", "已归档"]
