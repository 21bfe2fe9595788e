"""World.step(): new rows never take the ids of rows a student inserted, and keep their links."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from simcrm.sim import generate

KW = dict(seed=5, customers=150, start="2024-01-01", today="2024-12-31")


def _student_rows(w):
    owner = int(w.table("employee")["id"].iloc[0])
    cust = w.store.insert("customer", {"code": "TEST0001", "name": "学生新建客户", "kind": "个人", "source": "其他",
                                       "province": "浙江省", "city": "杭州市", "owner_id": owner,
                                       "lifecycle": "潜在", "created_at": dt.datetime(2024, 12, 31, 10)})
    cid = cust["id"] if isinstance(cust, dict) else int(w.table("customer")["id"].max())
    w.store.insert("activity", {"customer_id": cid, "employee_id": owner, "channel": "电话", "kind": "记录",
                                "subject": "学生记录的拜访", "activity_time": dt.datetime(2024, 12, 31, 11)})
    return cid


def _world_rows(w, table, key):
    """The world's own rows of ``table`` with their customer's code instead of its id."""
    t = w.table(table)
    codes = w.table("customer").set_index("id")["code"]
    t = t.assign(customer_code=codes.reindex(t["customer_id"]).to_numpy())
    t = t[t["customer_code"] != "TEST0001"]
    return t[["customer_code", *key]].sort_values(["customer_code", *key]).reset_index(drop=True)


def test_step_skips_student_ids_and_remaps_links():
    plain = generate(**KW).step(days=91)
    w = generate(**KW)
    before = {n: int(w.table(n)["id"].max()) for n in ("customer", "activity")}
    cid = _student_rows(w)
    assert cid == before["customer"] + 1
    student_act = int(w.table("activity")["id"].max())
    w.step(days=91)
    cust, act = w.table("customer"), w.table("activity")
    # the student's rows are untouched
    assert cust.set_index("id").loc[cid, "name"] == "学生新建客户"
    assert act.set_index("id").loc[student_act, "subject"] == "学生记录的拜访"
    # the world's new rows come after them, and ids stay unique
    assert cust["id"].is_unique and act["id"].is_unique
    new_cust = cust[(cust["id"] > before["customer"]) & (cust["id"] != cid)]
    assert len(new_cust) and (new_cust["id"] > cid).all()
    # every foreign key points where it would have pointed without the student's rows
    pd.testing.assert_frame_equal(_world_rows(w, "activity", ["activity_time", "subject"]),
                                  _world_rows(plain, "activity", ["activity_time", "subject"]))
    pd.testing.assert_frame_equal(_world_rows(w, "sales_order", ["code", "order_date"]),
                                  _world_rows(plain, "sales_order", ["code", "order_date"]))
    so = w.table("sales_order")
    assert so["customer_id"].isin(cust["id"]).all()
