"""Customer grading operations (simcrm.crm.levels): levels in bulk, key accounts, visits per level.

Every bad input refuses the whole operation with a Chinese error naming field, value and what
is allowed, and leaves every table as it was (SQLite here; PostgreSQL in the marked test).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from simcrm.errors import (
    NotFoundError,
    PermissionDeniedError,
    SimCRMError,
    UnknownValueError,
    ValidationError,
)
from simcrm.store import Store, snapshot_equal

from crm_fixtures import small_world

V, N, P, U = ValidationError, NotFoundError, PermissionDeniedError, UnknownValueError

CASES = [
    # -- set_customer_levels ---------------------------------------------------------------------
    ("levels-unknown-level", lambda w: w.as_mgr1.set_customer_levels({w.c1: "金牌客户"}), V, "level"),
    ("levels-one-bad-level-of-two", lambda w: w.as_mgr1.set_customer_levels({w.c1: "VIP客户", w.c3: "钻石"}), V, "level"),
    ("levels-level-not-text", lambda w: w.as_mgr1.set_customer_levels({w.c1: 1}), V, "level"),
    ("levels-unknown-customer", lambda w: w.as_mgr1.set_customer_levels({w.c1: "VIP客户", 999: "小客户"}), N,
     "customer_id"),
    ("levels-id-not-int", lambda w: w.as_mgr1.set_customer_levels({"c1": "VIP客户"}), N, "customer_id"),
    ("levels-deleted-customer", lambda w: w.as_mgr1.set_customer_levels({w.c5: "VIP客户"}), N, "customer_id"),
    ("levels-out-of-scope", lambda w: w.as_rep1.set_customer_levels({w.c1: "VIP客户", w.c3: "小客户"}), P,
     "customer_id"),
    ("levels-twice", lambda w: w.as_mgr1.set_customer_levels(
        pd.DataFrame({"customer_id": [w.c1, w.c1], "level": ["VIP客户", "小客户"]})), V, "customer_id"),
    ("levels-empty", lambda w: w.as_mgr1.set_customer_levels({}), V, "customer_id"),
    ("levels-frame-without-level", lambda w: w.as_mgr1.set_customer_levels(pd.DataFrame({"customer_id": [w.c1]})),
     V, "level"),
    ("levels-a-list", lambda w: w.as_mgr1.set_customer_levels([w.c1, "VIP客户"]), V, "levels"),
    # -- assign_key_accounts -----------------------------------------------------------------------
    ("key-unknown-department", lambda w: w.as_mgr1.assign_key_accounts([w.c1], "rep2", department="大客户部"), N,
     "department"),
    ("key-owner-not-in-department", lambda w: w.as_mgr1.assign_key_accounts([w.c1], "rep2", department=w.team2), V,
     "owner_id"),
    ("key-owner-left", lambda w: w.as_mgr1.assign_key_accounts([w.c1], "rep4"), V, "owner_id"),
    ("key-owner-unknown", lambda w: w.as_mgr1.assign_key_accounts([w.c1], "nobody"), N, "owner_id"),
    ("key-owner-out-of-scope", lambda w: w.as_mgr1.assign_key_accounts([w.c1, w.c3], "rep3"), P, "owner_id"),
    ("key-unknown-customer", lambda w: w.as_mgr1.assign_key_accounts([w.c1, 999], "rep2"), N, "customer_id"),
    ("key-customer-out-of-scope", lambda w: w.as_rep1.assign_key_accounts([w.c1, w.c3], "rep1"), P, "customer_id"),
    # -- plan_level_visits ---------------------------------------------------------------------------
    ("visits-unknown-level", lambda w: w.as_mgr1.plan_level_visits({"金牌客户": 30}, until="2025-12-31"), V,
     "intervals"),
    ("visits-zero-days", lambda w: w.as_mgr1.plan_level_visits({"VIP客户": 30, "小客户": 0}, until="2025-12-31"), V,
     "intervals['小客户']"),
    ("visits-days-as-text", lambda w: w.as_mgr1.plan_level_visits({"VIP客户": "每月"}, until="2025-12-31"), V,
     "intervals['VIP客户']"),
    ("visits-until-before-start", lambda w: w.as_mgr1.plan_level_visits({"VIP客户": 30}, until="2025-06-01"), V,
     "until"),
    ("visits-three-years", lambda w: w.as_mgr1.plan_level_visits({"VIP客户": 30}, until="2028-07-01"), V, "until"),
    ("visits-unknown-channel", lambda w: w.as_mgr1.plan_level_visits({"VIP客户": 30}, until="2025-12-31",
                                                                       channel="飞鸽传书"), U, "channel"),
    ("visits-empty", lambda w: w.as_mgr1.plan_level_visits({}, until="2025-12-31"), V, "intervals"),
]


def _check(world, op, expected, field) -> None:
    before = world.store.snapshot()
    with pytest.raises(SimCRMError) as info:
        op(world)
    err = info.value
    assert isinstance(err, expected), f"{type(err).__name__}: {err}"
    assert err.field == field, str(err)
    message = str(err)
    assert field in message
    assert repr(err.value) in message or str(err.value) in message
    assert err.allowed, f"no 'allowed' in {message}"
    assert not message.isascii(), "the message should be Chinese"
    assert snapshot_equal(before, world.store.snapshot()) == []


@pytest.fixture(scope="module")
def world():
    store = Store()
    w = small_world(store)
    # levels the bad-input cases would change if they were not refused
    w.as_mgr1.set_customer_levels({w.c1: "普通客户", w.c3: "普通客户"})
    yield w
    store.close()


@pytest.fixture()
def fresh():
    store = Store()
    yield small_world(store)
    store.close()


@pytest.mark.parametrize("op, expected, field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_changes_nothing(world, op, expected, field):
    _check(world, op, expected, field)


def test_disabled_level_is_refused(fresh):
    fresh.admin.disable_dictionary_value("customer_level", "主要客户")
    _check(fresh, lambda w: w.as_mgr1.set_customer_levels({w.c1: "主要客户"}), V, "level")


def test_levels_written_in_bulk_and_audited_per_row(fresh):
    w = fresh
    w.admin.add_dictionary_value("customer_level", "关键客户")
    n = w.as_mgr1.set_customer_levels(pd.Series({w.c1: "关键客户", w.c2: "小客户", w.c3: "小客户"}))
    assert n == 3
    got = w.store.read("customer").set_index("id")["level"]
    assert (got[w.c1], got[w.c2], got[w.c3]) == ("关键客户", "小客户", "小客户")
    audit = w.store.read("audit_log")
    rows = audit[(audit["table_name"] == "customer") & (audit["field"] == "level")]
    assert sorted(rows["row_id"]) == sorted([w.c1, w.c2, w.c3])
    assert set(rows["new_value"]) == {"关键客户", "小客户"}
    assert (rows["employee_id"] == w.mgr1).all()
    # a second run changes one customer only: one more audit row, no rewrite of the others
    assert w.as_mgr1.set_customer_levels({w.c1: "关键客户", w.c2: "普通客户", w.c3: "小客户"}) == 1
    again = w.store.read("audit_log")
    again = again[(again["table_name"] == "customer") & (again["field"] == "level")]
    assert len(again) == 4
    last = again.iloc[-1]
    assert (last["row_id"], last["old_value"], last["new_value"]) == (w.c2, "小客户", "普通客户")


def test_key_accounts_move_to_the_department_owner(fresh):
    w = fresh
    dept = w.admin.add_department("大客户部", parent=w.sales)
    kam = w.admin.hire("周大客", "kam", dept, w.role_rep)
    # mgr1's scope is 销售一组: the new department is outside it, so the boss does it
    _check(w, lambda x: x.as_mgr1.assign_key_accounts([x.c1], "kam", department="大客户部"), P, "owner_id")
    n = w.as_boss.assign_key_accounts([w.c1, w.c3], "kam", department="大客户部")
    assert n == 2
    cust = w.store.read("customer").set_index("id")
    assert cust.loc[w.c1, "owner_id"] == kam and cust.loc[w.c3, "owner_id"] == kam
    hist = w.store.read("owner_history")
    open_rows = hist[hist["to_date"].isna() & hist["customer_id"].isin([w.c1, w.c3])]
    assert set(open_rows["owner_id"]) == {kam}
    assert set(open_rows["reason"]) == {"大客户统一由大客户部管理"}
    # already theirs: nothing to do, nothing written
    before = w.store.snapshot()
    assert w.as_boss.assign_key_accounts([w.c1], "kam", department=dept) == 0
    assert snapshot_equal(before, w.store.snapshot()) == []


def test_visits_per_level_hand_worked(fresh):
    w = fresh
    w.as_mgr1.set_customer_levels({w.c1: "VIP客户", w.c2: "普通客户", w.c3: "小客户"})
    # start 2025-07-01 (today), until 2025-10-31: VIP every 30 days -> 07-31, 08-30, 09-29, 10-29;
    # 普通 every 90 days -> 09-29; 小客户 not in the plan
    plan = w.as_mgr1.plan_level_visits({"VIP客户": 30, "普通客户": 90}, until="2025-10-31")
    by = plan.groupby("customer_id")["planned_date"].apply(lambda s: [d.strftime("%m-%d") for d in sorted(s)])
    assert by.to_dict() == {w.c1: ["07-31", "08-30", "09-29", "10-29"], w.c2: ["09-29"]}
    care = w.store.read("care").set_index("id").loc[plan["care_id"]]
    assert (care["care_type"] == "售后回访").all() and care["done_date"].isna().all()
    owners = w.store.read("customer").set_index("id")["owner_id"]
    assert (care["employee_id"].to_numpy() == plan["customer_id"].map(owners).to_numpy()).all()
    audit = w.store.read("audit_log")
    assert set(plan["care_id"]) <= set(audit.loc[audit["table_name"] == "care", "row_id"])
    # the care planner sees them when due; planning again adds nothing
    due = w.as_rep1.care_due(until="2025-08-31")
    assert {(r.customer_id, r.planned_date.strftime("%m-%d")) for r in due.itertuples()
            if r.care_type == "售后回访"} >= {(w.c1, "07-31"), (w.c1, "08-30")}
    assert w.as_mgr1.plan_level_visits({"VIP客户": 30, "普通客户": 90}, until="2025-10-31").empty
    # a rep plans only for the customers in their own scope
    rep = w.as_rep2.plan_level_visits({"小客户": 60}, until="2025-10-31", start=dt.date(2025, 7, 1))
    assert set(rep["customer_id"]) == {w.c3}


@pytest.mark.postgres
def test_operations_on_postgresql(pg_url):
    store = Store(pg_url)
    try:
        w = small_world(store)
        assert w.as_mgr1.set_customer_levels({w.c1: "VIP客户", w.c2: "小客户"}) == 2
        plan = w.as_mgr1.plan_level_visits({"VIP客户": 30}, until="2025-09-30")
        assert len(plan) == 3 and set(plan["care_id"]) <= set(store.read("care")["id"])
        for case_id, op, expected, field in CASES[:3] + CASES[-3:]:
            _check(w, op, expected, field)
    finally:
        store.close()
