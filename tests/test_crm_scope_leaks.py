"""Data-scope leaks of issue 17 ("Data scope and roles"), each closed and shown by a test.

Org of ``small_world``: boss (老板, 全部), mgr1 (销售主管, 本部门 = 销售一组: rep1, rep2),
rep1 / rep2 (销售代表, 本人) in 销售一组, rep3 in 销售二组. Customers c1, c2 (rep1), c3 (rep2),
c4 (rep3).
"""

from __future__ import annotations

import pytest

from crm_fixtures import VALID_ID, small_world
from simcrm.crm import CRM
from simcrm.errors import DuplicateError, NotFoundError, PermissionDeniedError
from simcrm.store import snapshot_equal
from simcrm.ui import screen


@pytest.fixture
def world(store):
    return small_world(store)


def refusals(world, login=None):
    log = world.admin.access_log()
    log = log[log["action"] == "拒绝"]
    if login is not None:
        log = log[log["employee_id"] == int(world.store.read("employee", where={"login": login})["id"].iloc[0])]
    return log


# -- audit(table, id) outside the scope ---------------------------------------------------------

@pytest.mark.parametrize("table, attr", [("payment", "pay1"), ("invoice", "inv1"), ("activity", "act1"),
                                         ("care", "care1"), ("order_line", "lines1"), ("shipment", "ship1"),
                                         ("payment_plan", "plan1"), ("sales_order", "order1")])
def test_audit_of_a_record_outside_the_scope_is_refused(world, table, attr):
    row_id = getattr(world, attr)
    row_id = row_id[0] if isinstance(row_id, list) else row_id
    owner_view = world.as_rep1.audit(table, row_id)
    assert len(owner_view) >= 1 and set(owner_view["row_id"]) == {row_id}
    with pytest.raises(PermissionDeniedError) as err:
        world.as_rep3.audit(table, row_id)
    assert err.value.field == "row_id" and "数据范围" in str(err.value)
    assert len(world.as_boss.audit(table, row_id)) == len(owner_view)


def test_whole_table_history_lists_only_records_in_scope(world):
    mgr = world.as_mgr1  # 主管 of 销售一组: has the 系统管理 read right, not rep3's customers
    ids = set(mgr.audit("customer")["row_id"])
    assert world.c1 in ids and world.c3 in ids
    assert world.c4 not in ids and world.c5 not in ids
    assert {world.c4, world.c5} <= set(world.as_boss.audit("customer")["row_id"])
    log = mgr.list("audit_log")
    assert not ((log["table_name"] == "customer") & log["row_id"].isin([world.c4, world.c5])).any()
    assert ((log["table_name"] == "product") & (log["row_id"] == world.printer)).any()  # no row scope there


def test_history_of_a_deleted_record_only_with_full_scope(world):
    world.as_rep1.share_customer(world.c1, "rep2")
    share_id = int(world.store.read("customer_share")["id"].iloc[0])
    world.as_rep1.unshare_customer(world.c1, "rep2")
    with pytest.raises(NotFoundError):
        world.as_rep1.audit("customer_share", share_id)
    assert set(world.as_boss.audit("customer_share", share_id)["action"]) == {"新建", "删除"}


# -- a 主管 reading ID numbers through the audit log ------------------------------------------

def test_audit_masks_personal_data_as_exports_do(world):
    world.as_rep1.update_customer(world.c2, id_number=None, phone="13912349999")
    def row(crm, field):
        log = crm.audit("customer", world.c2)
        return log[log["field"] == field].iloc[0]

    assert row(world.as_boss, "id_number")["old_value"] == VALID_ID
    masked = row(world.as_mgr1, "id_number")["old_value"]
    assert masked != VALID_ID and "*" in masked and masked[:3] == VALID_ID[:3]
    assert row(world.as_mgr1, "phone")["new_value"] == "13912349999"  # a 主管's exports show phones
    assert row(world.as_rep1, "phone")["new_value"] == "139****9999"  # a rep's do not
    log = world.as_mgr1.list("audit_log")
    assert VALID_ID not in set(log["old_value"].dropna()) | set(log["new_value"].dropna())
    assert VALID_ID in set(world.as_boss.list("audit_log")["old_value"].dropna())


# -- the employee list for a rep without 系统管理 ----------------------------------------------

def test_admin_screen_hides_the_staff_list_without_the_system_right(world):
    rep_view = screen("admin", world.as_rep1)
    assert "rep2" not in rep_view.employees.value and "无权查看" in rep_view.employees.value
    assert "rep2" in screen("admin", world.as_boss).employees.value
    with pytest.raises(PermissionDeniedError):
        world.as_rep1.list("employee")


# -- list('stock_move') and the product right -------------------------------------------------

def test_stock_moves_need_the_product_right(world):
    world.admin.set_role_rights("销售代表", "product", read=False)
    rep = world.admin.as_user("rep1")
    with pytest.raises(PermissionDeniedError) as err:
        rep.list("stock_move")
    assert err.value.value == "product"
    assert len(world.as_boss.list("stock_move")) >= 2
    assert len(refusals(world, "rep1")) == 1


# -- DuplicateError naming another rep's customer ----------------------------------------------

def test_duplicate_error_does_not_name_a_customer_outside_the_scope(world):
    code = world.store.get("customer", world.c1)["code"]
    before = world.store.snapshot()
    with pytest.raises(DuplicateError) as err:
        world.as_rep3.create_customer("北京星辰科技股份有限公司", province="北京", city="北京市")
    text = str(err.value)
    assert code not in text and "北京星辰科技有限公司" not in text and f"编号 {world.c1}" not in text
    assert "不在你数据范围内" in text
    assert snapshot_equal(before, world.store.snapshot()) == []
    with pytest.raises(DuplicateError) as own:
        world.as_rep1.create_customer("北京星辰科技股份有限公司", province="北京", city="北京市")
    assert code in str(own.value)  # the owner is told which customer it is


# -- a sharee transferring a shared customer to themself ---------------------------------------

def test_a_sharee_cannot_take_over_a_shared_customer(world):
    world.as_rep1.share_customer(world.c1, "rep3")
    world.as_rep3.update_customer(world.c1, address="朝阳区 1 号")  # sharing lets rep3 work on it
    before = world.store.snapshot()
    with pytest.raises(PermissionDeniedError) as err:
        world.as_rep3.transfer_customer(world.c1, "rep3")
    assert "共享" in str(err.value)
    assert snapshot_equal(before, world.store.snapshot()) == []
    assert world.store.get("customer", world.c1)["owner_id"] == world.store.read(
        "employee", where={"login": "rep1"})["id"].iloc[0]
    world.as_mgr1.transfer_customer(world.c1, "rep2")  # the owner's manager still can
    assert world.store.get("customer", world.c1)["owner_id"] == int(
        world.store.read("employee", where={"login": "rep2"})["id"].iloc[0])


# -- as_user / CRM.system record who did it; refused attempts leave a trace --------------------

def test_switching_user_and_system_access_are_recorded(world):
    ids = world.store.read("employee", columns=["id", "login"]).set_index("login")["id"]
    rep = world.admin.as_user("rep1")
    before = len(world.admin.access_log())
    boss = rep.as_user("boss")
    system = CRM.system(world.store)
    log = world.admin.access_log().iloc[before:]
    switch = log[log["action"] == "切换用户"].iloc[0]
    assert switch["employee_id"] == ids["rep1"] and switch["acting_as"] == ids["boss"] == boss.user_id
    assert "rep1" in switch["detail"] and "boss" in switch["detail"]
    sys_row = log[log["action"] == "系统管理员"].iloc[0]
    assert sys_row["operation"] == "CRM.system" and "进程" in sys_row["detail"] and system.is_system


def test_refused_attempts_leave_a_trace(world):
    before = len(refusals(world))
    snapshot = world.store.snapshot()
    attempts = [
        lambda: world.as_rep2.update_customer(world.c1, address="x"),
        lambda: world.as_rep2.transfer_customer(world.c1, "rep2"),
        lambda: world.as_rep3.record_payment(world.order1, 100),
        lambda: world.as_rep3.audit("payment", world.pay1),
        lambda: world.as_rep1.list("employee"),
        lambda: world.as_rep1.add_role("影子角色", "老板", "全部"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError):
            attempt()
    assert snapshot_equal(snapshot, world.store.snapshot()) == []  # the trace is not in the world's tables
    log = refusals(world).iloc[before:]
    assert len(log) == len(attempts)
    assert list(log["operation"]) == ["update_customer", "transfer_customer", "record_payment", "audit", "list",
                                      "add_role"]
    assert log.iloc[0]["row_id"] == world.c1 and "不能修改这个客户" in log.iloc[0]["detail"]
    with pytest.raises(PermissionDeniedError):
        world.as_rep1.access_log()  # reading the trail needs the 系统管理 right
