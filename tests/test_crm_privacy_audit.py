"""Privacy exports masked by role, and the audit trail."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_fixtures import VALID_ID, small_world


@pytest.fixture
def world(store):
    return small_world(store)


def test_masking_by_role(world, tmp_path):
    w = world
    boss = w.as_boss.export_customers(purpose="年度分析").set_index("id")
    mgr = w.as_mgr1.export_customers().set_index("id")
    rep = w.as_rep1.export_customers(tmp_path / "mine.csv", purpose="回访").set_index("id")
    assert boss.loc[w.c2, "id_number"] == VALID_ID and boss.loc[w.c2, "phone"] == "13812341234"
    assert mgr.loc[w.c2, "id_number"] != VALID_ID and mgr.loc[w.c2, "phone"] == "13812341234"
    assert rep.loc[w.c2, "phone"] == "138****1234"
    assert rep.loc[w.c2, "id_number"] != VALID_ID and rep.loc[w.c2, "address"] != "南山区科技园 1 号"
    assert rep.loc[w.c1, "email"] != "info@xingchen.cn"
    assert set(rep.index) == {w.c1, w.c2}
    on_disk = pd.read_csv(tmp_path / "mine.csv", dtype=str, encoding="utf-8-sig")
    assert list(on_disk["phone"].fillna("")) == [x or "" for x in rep["phone"].tolist()]
    log = w.store.read("export_log")
    assert list(log["employee_id"]) == [w.boss, w.mgr1, w.rep1]
    assert log["masked_fields"].iloc[2] == "address,phone,email,id_number" or set(
        log["masked_fields"].iloc[2].split(",")) == {"address", "phone", "email", "id_number"}
    assert pd.isna(log["masked_fields"].iloc[0]) or log["masked_fields"].iloc[0] in ("", "None")
    assert list(log["row_count"]) == [4, 3, 2]


def test_audit_trail(world):
    w = world
    w.as_rep1.update_customer(w.c1, address="海淀区 8 号", level="VIP客户")
    w.as_rep1.advance_opportunity(w.o1, "需求分析")
    hist = w.as_rep1.audit("customer", w.c1)
    assert {"at", "employee", "action", "field", "old_value", "new_value"} <= set(hist.columns)
    assert hist["action"].iloc[0] == "新建"
    change = hist[hist["field"] == "level"].iloc[-1]
    assert (change["old_value"], change["new_value"], change["employee"]) == (None, "VIP客户", "张伟") or (
        pd.isna(change["old_value"]) and change["new_value"] == "VIP客户" and change["employee"] == "张伟")
    opp = w.as_rep1.audit("opportunity", w.o1)
    stage = opp[opp["field"] == "stage"].iloc[-1]
    assert (stage["old_value"], stage["new_value"]) == ("初期沟通", "需求分析")
    assert (w.admin.audit("sales_order", w.order1)["action"] == "状态变更").any()
    with pytest.raises(Exception):
        w.as_rep2.audit("customer", w.c1)
