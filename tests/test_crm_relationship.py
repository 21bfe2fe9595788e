"""Activities, care, campaigns."""

from __future__ import annotations

import pytest

from simcrm.errors import SimCRMError

from crm_fixtures import small_world


@pytest.fixture
def world(store):
    return small_world(store)


def test_activities_and_care(world):
    w = world
    todo = w.as_rep1.log_activity(w.c1, "下周拜访", kind="待办", channel="面谈")
    w.as_rep1.complete_activity(todo, "客户同意试用")
    a = w.store.get("activity", todo)
    assert a["kind"] == "记录" and a["outcome"] == "客户同意试用"
    due = w.as_rep1.care_due("2026-12-31")
    assert w.care1 in set(due["id"])
    w.as_rep1.complete_care(w.care1, "2026-03-08", "很感动", 5)
    c = w.store.get("care", w.care1)
    assert (str(c["done_date"]), c["feedback"], c["satisfaction"]) == ("2026-03-08", "很感动", 5)
    with pytest.raises(SimCRMError):
        w.as_rep1.complete_care(w.care1, "2026-03-09")


def test_campaign_control_group_is_seeded(world):
    w = world
    ids = [w.c1, w.c2, w.c3, w.c4]
    first = w.admin.set_campaign_targets(w.camp, ids, control_share=0.5, seed=42)
    other = w.admin.create_campaign("秋季促销", "促销", cost_per_contact=10, budget=1000)
    second = w.admin.set_campaign_targets(other, ids, control_share=0.5, seed=42)
    assert first.equals(second)
    assert (first["group_name"] == "对照组").sum() == 2
    camp = w.store.get("campaign", w.camp)
    assert (camp["seed"], camp["control_share"]) == (42, 0.5)
    w.admin.start_campaign(w.camp)
    target = int(first.loc[first["group_name"] == "目标组", "customer_id"].iloc[0])
    w.admin.record_campaign_response(w.camp, target, responded=True)
    member = w.store.read("campaign_member", where={"campaign_id": w.camp, "customer_id": target})
    assert bool(member["responded"].iloc[0]) and member["contacted_at"].notna().all()
    w.admin.end_campaign(w.camp)
