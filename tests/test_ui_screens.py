"""Dashboard, admin, product catalogue and the quote → order → payment flow."""

from __future__ import annotations

import pytest

from crm_fixtures import small_world
from simcrm import analytics
from simcrm.store.store import snapshot_equal
from simcrm.ui import screen
from simcrm.ui.dashboard import Dashboard, kpis
from simcrm.ui.orders import OrderFlow


@pytest.fixture
def world(store):
    return small_world(store)


def test_dashboard_kpis_and_charts(world):
    boss = world.as_boss
    dash = Dashboard(boss)
    values = dash.values
    assert values["customers"] == len(boss.customers()) == 4
    orders = boss.list("sales_order")
    approved = orders[(orders["approval"] == "同意") & (orders["status"] != "意外中止")]
    assert values["revenue"] == pytest.approx(approved["total_amount"].sum())
    assert values["weighted_pipeline"] == pytest.approx(analytics.funnel(boss.list("opportunity"))["weighted_amount"].sum())
    assert values["open_complaints"] == 1 and values["overdue_receivables"] == 0
    world.clock.advance(days=60)
    # order 1 = 10 printers × 2000 × 0.95 + 20 toners × 300 = 25,000 (net of VAT); its first
    # instalment (half) is 60 days past due with 5,000 paid against it
    assert kpis(boss)["overdue_receivables"] == pytest.approx((10 * 2000 * 0.95 + 20 * 300) / 2 - 5000)
    assert set(dash.figures) == {"region", "kind", "trend", "pyramid", "funnel", "rfm"}
    for name, out in dash.charts.items():
        spec = out.outputs[0]["data"]["application/vnd.plotly.v1+json"]
        assert spec["layout"]["title"]["text"] and spec["data"], name
    region = dash.figures["region"].data[0]
    assert dict(zip(region.x, region.y)) == analytics.distribution(boss.customers(), "province").set_index(
        "province")["count"].to_dict()
    # a rep's dashboard counts only the rep's customers
    assert Dashboard(world.as_rep2).values["customers"] == 1


def test_admin_tree_scope_and_dictionaries(world):
    admin = screen("admin", world.as_boss)
    tree = admin.tree.value
    assert tree.index("销售部") < tree.index("销售一组") and "padding-left:44px" in tree
    admin.dept_name.value = "销售三组"
    admin.dept_parent.value = world.sales
    new = admin.add_department()
    assert world.store.get("department", new)["parent_id"] == world.sales and "销售三组" in admin.tree.value
    admin.role_picker.value = world.role_rep
    admin.scope_picker.value = "本部门"
    admin.scope_button.click()
    assert world.store.get("role", world.role_rep)["data_scope"] == "本部门"
    assert admin.last_call == f"crm.set_data_scope({world.role_rep}, '本部门')"
    assert len(world.as_rep1.customers()) == 3     # now sees rep2's customer too
    admin.dict_list.value = "source"
    admin.dict_value.value = "短视频"
    admin.add_value_button.click()
    assert "短视频" in world.store.dictionary_values("source")
    admin.default_button.click()
    assert world.as_boss.dictionary_default("source") == "短视频"
    admin.dict_value.value = "展会"
    admin.disable_button.click()
    assert "展会" not in world.store.dictionary_values("source") and "停用" in admin.dict_values.value


def test_admin_refused_for_a_rep(world):
    admin = screen("admin", world.as_rep1)
    before = world.store.snapshot()
    admin.dept_name.value = "私设部门"
    assert admin.add_department() is None and "系统管理" in admin.message
    assert snapshot_equal(before, world.store.snapshot()) == []


def test_product_catalogue_highlights_alerts(world):
    world.admin.stock_out(world.printer, 42)  # 4 left, lower limit 5
    cat = screen("products", world.as_mgr1)
    assert list(cat.alerts["id"]) == [world.printer]
    assert cat.table_html.value.count("background:#fde7e7") == 1
    assert "激光打印机 P1" in cat.alerts_html.value and "办公设备" in cat.tree.value
    sub = world.admin.add_category("打印耗材", world.category)
    world.admin.create_product("墨盒 M1", sub, price=80, cost=30)
    cat.refresh()
    cat.category.value = sub
    assert list(cat.products["name"]) == ["墨盒 M1"]
    cat.category.value = world.category
    assert len(cat.products) == 4


def test_quote_to_order_to_payment(world):
    rep, mgr = world.as_rep1, world.as_mgr1
    quote = rep.create_quote(world.c2, [{"product_id": world.toner, "quantity": 4}])
    flow = OrderFlow(rep, quote_id=quote)
    assert flow.state == {"quote": "草稿"}
    flow.send_button.click()
    assert flow.state["quote"] == "已发送" and flow.last_call == f"crm.send_quote({quote})"
    flow.kind.value = "合同"
    flow.convert_button.click()
    order = flow.order_id
    assert order is not None and flow.state == {"quote": "已转订单", "order": "执行中", "approval": "待审",
                                                "shipping": "未出库"}
    assert flow.last_call == f"crm.convert_quote_to_order({quote}, '合同')"
    flow.approve_button.click()        # a rep may not approve: refused
    assert "不能" in flow.message and flow.state["approval"] == "待审"
    mflow = OrderFlow(mgr, quote_id=quote)
    mflow.approve_button.click()
    assert mflow.state["approval"] == "同意"
    flow.refresh()
    flow.ship_button.click()
    assert flow.state["shipping"] == "全部"
    total = world.store.get("sales_order", order)["total_amount"]
    assert flow.instalments.value.endswith(f":{total - round(total / 2, 2):.2f}")
    flow.plan_button.click()
    assert len(world.store.read("payment_plan", where={"order_id": order})) == 2
    flow.amount.value = str(total)
    flow.pay_button.click()
    flow.invoice_button.click()
    balance = rep.order_balance(order)
    assert balance["paid"] == pytest.approx(total) and balance["outstanding"] == pytest.approx(0)
    assert balance["invoiced"] == pytest.approx(total)
    assert flow.last_call == f"crm.issue_invoice({order}, {total!r})".replace(".0)", ")")
    flow.finish_button.click()
    assert flow.state["order"] == "结束"


def test_a_rep_without_finance_rights_sees_own_receivables_and_hidden_marks(world):
    """The role of ch01/ch04 has no right on 回款开票 and 投诉管理: the dashboard opens anyway,
    shows the rep's own figures and marks what is hidden instead of raising."""
    world.admin.set_role_rights("销售代表", "finance", read=False)
    world.admin.set_role_rights("销售代表", "complaint", read=False)
    rep = world.as_rep1
    assert not rep.can("finance") and not rep.can("complaint")
    world.clock.advance(days=60)
    dash = screen("dashboard", rep)
    assert isinstance(dash, Dashboard)
    assert dash.values["open_complaints"] is None and "无权查看" in dash.hidden["open_complaints"]
    assert "投诉管理" in dash.hidden["open_complaints"]
    assert "无权查看" in dash.tiles.value and "仅本人负责的订单" in dash.tiles.value
    # the rep's own receivables: order 1 (rep1's) = 25,000 net, half due after 30 days, 5,000 paid
    assert dash.values["overdue_receivables"] == pytest.approx((10 * 2000 * 0.95 + 20 * 300) / 2 - 5000)
    assert dash.values["customers"] == len(rep.customers())
    orders = world.store.read("sales_order")
    mine = orders[orders["customer_id"].isin(rep.customers()["id"]) & (orders["approval"] == "同意")
                  & (orders["status"] != "意外中止")]
    assert dash.values["revenue"] == pytest.approx(mine["total_amount"].sum())
    # rep2 owns no order: nothing overdue of theirs, although the firm has overdue receivables
    assert screen("dashboard", world.as_rep2).values["overdue_receivables"] == 0
    assert "无权查看" in dash.message or "无权查看" in dash.tiles.value


def test_a_failing_button_shows_its_message_in_the_screen(world):
    """An error in a click handler is shown in the screen's status line (not JupyterLab's log)."""
    flow = OrderFlow(world.as_rep2)
    flow.order_id = world.order1  # rep1's order: outside rep2's data scope
    flow.approve_button.click()
    assert flow.status.value and "b3261e" in flow.status.value and flow.message.strip()
    assert "[en]" not in flow.message
