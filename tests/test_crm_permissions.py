"""Administration, roles, rights and data scope: who sees and changes what."""

from __future__ import annotations

import re

import pytest

from simcrm.crm import CRM
from simcrm.errors import PermissionDeniedError, UnknownValueError, ValidationError
from simcrm.store import Store

from crm_fixtures import small_world


@pytest.fixture
def world(store):
    return small_world(store)


def _ids(frame):
    return set(int(i) for i in frame["id"])


def test_data_scope_by_role(world):
    w = world
    assert _ids(w.as_rep1.customers()) == {w.c1, w.c2}
    assert _ids(w.as_rep2.customers()) == {w.c3}
    assert _ids(w.as_rep3.customers()) == {w.c4}
    assert _ids(w.as_mgr1.customers()) == {w.c1, w.c2, w.c3}          # 销售一组 only
    assert _ids(w.as_boss.customers()) == {w.c1, w.c2, w.c3, w.c4}    # merged c5 is deleted


def test_manager_sees_sub_departments(world):
    w = world
    mgr2 = w.admin.hire("黄经理", "mgr2", w.sales, w.role_manager)
    assert _ids(w.admin.as_user(mgr2).customers()) == {w.c1, w.c2, w.c3, w.c4}
    sub = w.admin.add_department("销售一组-华东", parent=w.team1)
    rep5 = w.admin.hire("新人", "rep5", sub, w.role_rep)
    c = w.admin.as_user(rep5).create_customer("苏州新锐科技有限公司", province="江苏", city="苏州市")
    assert c in _ids(w.as_mgr1.customers())


def test_related_records_follow_customer_visibility(world):
    w = world
    assert _ids(w.as_rep2.list("contact")) == {w.k3}
    assert set(w.as_rep2.list("order_line")["order_id"]) <= {w.order_big, w.order_rejected}
    assert w.as_rep2.list("opportunity_stage_history")["opportunity_id"].isin([w.o3]).all()
    assert set(w.as_rep1.list("opportunity")["customer_id"]) <= {w.c1, w.c2}
    assert len(w.as_boss.list("contact")) == w.store.count("contact")


def test_sharing_gives_access(world):
    w = world
    with pytest.raises(PermissionDeniedError):
        w.as_rep2.update_customer(w.c1, address="朝阳区 1 号")
    w.as_rep1.share_customer(w.c1, "rep2")
    assert w.c1 in _ids(w.as_rep2.customers())
    assert w.k1 in _ids(w.as_rep2.list("contact"))
    w.as_rep2.update_customer(w.c1, address="朝阳区 1 号")
    w.as_rep1.unshare_customer(w.c1, "rep2")
    assert w.c1 not in _ids(w.as_rep2.customers())


def test_left_employee_cannot_act_or_be_assigned_but_keeps_history(world):
    w = world
    w.admin.leave("rep1", "2025-07-15")
    with pytest.raises(PermissionDeniedError, match="离职"):
        CRM(w.store, "rep1")
    emp = w.store.get("employee", w.rep1)
    assert emp["status"] == "离职" and str(emp["leave_date"]) == "2025-07-15"
    assert w.store.get("customer", w.c1)["owner_id"] == w.rep1
    with pytest.raises(ValidationError):
        w.admin.transfer_customer(w.c2, "rep4")
    w.as_mgr1.transfer_customer(w.c1, "rep2", reason="原负责人离职")
    hist = w.store.read("owner_history", where={"customer_id": w.c1})
    assert list(hist["owner_id"]) == [w.rep1, w.rep2]
    assert hist["to_date"].notna().tolist() == [True, False]


def test_module_rights(world):
    w = world
    w.admin.set_role_rights("销售代表", "customer", create=False)
    with pytest.raises(PermissionDeniedError, match="客户管理"):
        w.as_rep1.create_customer("新公司有限公司", province="北京", city="北京市")
    with pytest.raises(PermissionDeniedError, match="系统管理"):
        w.as_rep1.list("employee")
    rights = w.as_rep1.rights()
    assert not rights.set_index("module").loc["customer", "create"]
    assert w.as_boss.can("system", "delete")


def test_department_tree_refuses_cycles(world):
    w = world
    with pytest.raises(ValidationError, match="循环"):
        w.admin.move_department(w.hq, parent=w.team2)
    with pytest.raises(ValidationError):
        w.admin.move_department(w.team1, parent=w.team1)
    w.admin.move_department(w.team2, parent=w.hq)
    w.admin.rename_department(w.team2, "大客户部")
    assert w.store.get("department", w.team2)["name"] == "大客户部"


def test_dictionaries_keep_exactly_one_default(world):
    w = world
    w.admin.add_dictionary_value("source", "短视频")
    w.admin.set_dictionary_default("source", "短视频")
    d = w.store.read("dictionary", where={"list_name": "source"})
    assert d["is_default"].sum() == 1 and w.admin.dictionary_default("source") == "短视频"
    w.admin.disable_dictionary_value("source", "展会")
    with pytest.raises(UnknownValueError, match="停用"):
        w.as_rep1.create_customer("展会客户有限公司", province="北京", city="北京市", source="展会")
    w.admin.add_dictionary_value("industry", "航天", default=True)
    assert w.admin.dictionary_default("industry") == "航天"


def test_numbering_rules(store):
    import datetime as dt

    admin = CRM.system(store, now=dt.datetime(2025, 7, 9))
    org = admin.setup_demo_org()
    codes = [admin.create_customer(f"客户{i}有限公司", province="北京", city="北京市", owner=org["rep1"])
             for i in range(3)]
    got = [store.get("customer", c)["code"] for c in codes]
    assert got == ["KH2025070001", "KH2025070002", "KH2025070003"]
    admin.set_numbering_rule("customer", "C-", date_format=None, width=6, next_value=100)
    c = admin.create_customer("另一家有限公司", province="北京", city="北京市", owner=org["rep1"])
    assert store.get("customer", c)["code"] == "C-000100"
    assert all(re.fullmatch(r"YG\d{4}", x) for x in store.read("employee")["code"])


def test_system_bypasses_rights_not_validation(store):
    admin = CRM.system(store)
    with pytest.raises(ValidationError):
        admin.add_department("x", parent=None) and admin.move_department(1, parent=1)


def test_clock_is_the_given_one(store):
    import datetime as dt

    clock = dt.datetime(2031, 1, 2, 3, 4)
    admin = CRM.system(store, now=clock)
    assert admin.today == dt.date(2031, 1, 2) and admin.as_user  # as_user keeps the clock
    org = admin.setup_demo_org()
    assert admin.as_user(org["rep1"]).now == clock
    assert str(store.get("employee", org["rep1"])["hire_date"]) == "2024-01-02"


def test_with_store_file(tmp_path):
    store = Store(tmp_path / "crm.db")
    try:
        w = small_world(store)
        assert len(w.as_boss.customers()) == 4
    finally:
        store.close()
