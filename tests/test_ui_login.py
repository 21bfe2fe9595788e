"""登录为 and the app: every screen shows what the chosen role and data scope allow."""

from __future__ import annotations

import pytest

from crm_fixtures import small_world
from simcrm.ui import SCREENS, screen
from simcrm.ui.login import APP_SCREENS, CRMApp, LoginBar


@pytest.fixture
def world(store):
    return small_world(store)


def test_login_bar_lists_employees_in_service(world):
    bar = LoginBar(world.admin)
    assert len(bar.options) == 5  # 吴离 left
    assert "吴离" not in " ".join(bar.options)
    assert "张伟 · 销售一组 · 一般人员" in bar.options
    crm = bar.login("rep2")
    assert crm.user["login"] == "rep2" and "本人" in bar.scope_label.value
    assert bar.last_call == "crm = CRM(store, 'rep2', now=now)"


def test_app_rebuilds_screens_for_the_logged_in_user(world):
    app = CRMApp(world.admin)
    app.login("rep2")
    customers = app.current
    assert set(customers.page["客户名称"]) == {"上海远航物流有限公司"}
    app.login("boss")
    assert app.current.total == 4
    app.login("rep1")
    app.menu.value = "销售机会看板"
    assert set(app.current.cards) == {world.o1}
    app.login("rep2")
    assert set(app.current.cards) == {world.o3}
    app.login("mgr1")  # 本部门: both reps of 销售一组
    assert set(app.current.cards) == {world.o1, world.o3}


@pytest.mark.parametrize("label", list(APP_SCREENS))
def test_every_menu_entry_opens_for_a_rep(world, label):
    app = CRMApp(world.as_rep1, start=label)
    assert app.current is not None and app.current.widget is not None


def test_factory_names(world):
    for name in ["list", "customers", "form", "board", "funnel", "lead_import", "login", "app", "admin", "products",
                 "order_flow", "service_desk", "care", "dashboard"]:
        assert screen(name, world.admin).widget is not None, name
    assert type(screen("客户视图", world.store, customer_id=world.c1)).__name__ == "Customer360"
    assert set(SCREENS) >= {"list", "form", "customer360", "admin", "products", "lead_import", "board", "funnel",
                            "order_flow", "service_desk", "care", "dashboard", "login"}
    with pytest.raises(ValueError, match="没有名为"):
        screen("nope", world.admin)


def test_a_forbidden_menu_entry_says_so_in_the_app(world):
    """A rep without the service right clicking 服务台 sees 无权查看 in the app, not nothing."""
    from simcrm.ui import Blocked

    world.admin.set_role_rights("销售代表", "service", read=False)
    app = CRMApp(world.as_rep1)
    app.menu.value = "服务台"
    assert isinstance(app.current, Blocked) and app.current.widget in app.area.children
    shown = app.current.widget.children[0].value
    assert "无权查看" in shown and "服务" in shown and "[en]" not in shown
    assert "无权查看" in app.message
    # the boss may: the same entry opens the screen
    app.login("boss")
    assert type(app.current).__name__ == "ServiceDesk" and app.message == ""
    # lab.screen(...) of a forbidden screen returns the same message instead of raising
    blocked = screen("service_desk", world.as_rep1)
    assert isinstance(blocked, Blocked) and blocked.title == "无权查看"
