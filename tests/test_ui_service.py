"""服务台 and 客户关怀: only allowed next states are offered; buttons call the crm operations."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_fixtures import small_world
from simcrm import reference
from simcrm.store.store import snapshot_equal
from simcrm.ui import screen
from simcrm.ui.care import CarePlanner
from simcrm.ui.service import ServiceDesk


@pytest.fixture
def world(store):
    return small_world(store)


def test_service_request_through_its_states(world):
    desk = ServiceDesk(world.as_rep1)
    desk.request_picker.value = world.sr1
    assert set(desk.request_buttons) == set(reference.allowed_transitions("service_status", "新建")) == {"处理中"}
    assert not desk.sla["breached"].any() and desk.sla["target_hours"].iloc[0] > 0
    world.clock.advance(hours=2)
    desk.request_buttons["处理中"].click()
    assert desk.last_call == f"crm.respond_service_request({world.sr1})"
    row = world.store.get("service_request", world.sr1)
    assert row["status"] == "处理中" and row["first_response_at"] == world.clock.value
    desk.request_buttons["已解决"].click()
    assert set(desk.request_buttons) == {"已关闭", "处理中"}
    desk.request_buttons["处理中"].click()   # reopened
    assert world.store.get("service_request", world.sr1)["status"] == "处理中"
    assert desk.last_call == f"crm.reopen_service_request({world.sr1})"
    desk.request_buttons["已解决"].click()
    desk.request_buttons["已关闭"].click()
    assert world.store.get("service_request", world.sr1)["status"] == "已关闭" and desk.request_buttons == {}


def test_sla_clock_shows_breach(world):
    world.clock.advance(days=5)
    desk = ServiceDesk(world.as_rep1)
    assert bool(desk.sla.set_index("id").loc[world.sr1, "breached"])
    assert desk.sla.set_index("id").loc[world.sr1, "elapsed_hours"] == 120
    assert "background:#fde7e7" in desk.sla_html.value


def test_sla_clock_lists_only_requests_not_resolved(world):
    desk = ServiceDesk(world.as_rep1)
    code = world.store.get("service_request", world.sr1)["code"]
    assert code in desk.sla_html.value
    world.as_rep1.respond_service_request(world.sr1)
    desk.refresh()
    assert code in desk.sla_html.value
    world.as_rep1.resolve_service_request(world.sr1)
    desk.refresh()
    assert code not in desk.sla_html.value and world.sr1 in set(desk.sla["id"])


def test_complaint_workflow_with_required_fields(world):
    desk = screen("service_desk", world.as_mgr1)
    desk.complaint_picker.value = world.cp1
    assert set(desk.complaint_buttons) == {"已分派"}
    before = world.store.snapshot()
    desk.complaint_buttons["已分派"].click()        # no department chosen: refused, nothing written
    assert "责任部门" in desk.message and snapshot_equal(before, world.store.snapshot()) == []
    desk.department.value = world.sales
    desk.note.value = "转物流负责部门"
    desk.complaint_buttons["已分派"].click()
    assert world.store.get("complaint", world.cp1)["department_id"] == world.sales
    assert desk.last_call == f"crm.advance_complaint({world.cp1}, '已分派', note='转物流负责部门', department_id={world.sales})"
    desk.solution.value = "补偿运费并改用顺丰"
    desk.complaint_buttons["方案待批"].click()
    desk.complaint_buttons["处理中"].click()
    assert world.store.get("complaint", world.cp1)["status"] == "处理中"
    desk.complaint_buttons["已回访"].click()       # needs a confirmed return visit first
    assert world.store.get("complaint", world.cp1)["status"] == "处理中"
    desk.visit_satisfaction.value = 4
    desk.visit_notes.value = "客户认可处理结果"
    assert desk.record_visit() is not None
    desk.complaint_buttons["已回访"].click()
    desk.complaint_buttons["已归档"].click()
    assert world.store.get("complaint", world.cp1)["status"] == "已归档" and desk.complaint_buttons == {}
    history = world.store.read("complaint_history", where={"complaint_id": world.cp1})
    assert list(history["status"])[-1] == "已归档"


def test_rep_desk_shows_only_own_customers_records(world):
    sr = world.as_rep2.open_service_request(world.c3, "扫描仪故障")
    assert set(ServiceDesk(world.as_rep1).requests["id"]) == {world.sr1}
    assert set(ServiceDesk(world.as_rep2).requests["id"]) == {sr}


def test_care_planner_lists_due_and_completes(world):
    care = CarePlanner(world.as_rep1, days=30)
    assert care.due.empty  # the birthday is next March
    care.until.value = dt.date(2026, 3, 31)
    assert list(care.due["id"]) == [world.care1]
    assert care.last_call == "crm.care_due('2026-03-31')"
    care.plan_customer.value = world.c2
    care.plan_type.value = "售后回访"
    care.plan_subject.value = "使用回访"
    care.plan_date.value = dt.date(2025, 7, 8)
    new = care.plan()
    assert new is not None and care.last_call == f"crm.plan_care({world.c2}, '售后回访', '使用回访', '2025-07-08')"
    assert set(care.due["id"]) == {world.care1, new}
    care.picker.value = new
    care.feedback.value = "打印效果满意"
    care.satisfaction.value = 5
    care.done_button.click()
    row = world.store.get("care", new)
    assert row["feedback"] == "打印效果满意" and row["satisfaction"] == 5 and row["done_date"] is not None
    assert list(care.due["id"]) == [world.care1]
    assert list(world.as_rep1.care_due("2026-03-31")["id"]) == [world.care1]


@pytest.mark.parametrize("login", [None, "user001", "user002", "user003", "user019"])
def test_sla_clock_reads_only_the_rows_it_shows(tmp_path, login):
    """The clock table (the first max_items unresolved requests and their count, read by the
    database) shows what the whole crm.sla_status() table filtered in pandas gives, per role."""
    from simcrm.crm import CRM
    from simcrm.sim import generate

    store = generate(seed=11, customers=120, db=str(tmp_path / "w.sqlite")).store
    admin = CRM.system(store, now=dt.datetime(2025, 12, 31, 18, 0))
    crm = admin if login is None else admin.as_user(login)
    if not (crm.is_system or crm.can("service", "read")):
        pytest.skip(f"{login} has no read right on service requests")
    full = crm.sla_status()
    running = full[full["resolved_at"].isna()]
    assert len(running) > 3, "the world has too few running clocks to test paging"
    desk = ServiceDesk(crm, max_items=3)
    html = desk.sla_html.value
    assert f"共 {len(running):,} 个未解决的请求，显示前 3 个。" in html
    for code in running["code"].head(3):
        assert code in html
    for code in running["code"].iloc[3:]:
        assert code not in html
    # the lazily read full table is crm.sla_status() plus the hours
    assert desk.sla.drop(columns=["elapsed_hours", "target_hours"]).equals(full)
    assert len(desk.sla) == len(full) > len(running)
