"""客户视图: everything about one customer on one screen, within the user's data scope."""

from __future__ import annotations

import pytest

from crm_fixtures import small_world
from simcrm.ui import screen
from simcrm.ui.customer360 import SECTIONS, Customer360


@pytest.fixture
def world(store):
    return small_world(store)


def test_all_sections_with_counts(world):
    view = screen("customer360", world.as_rep1, customer_id=world.c1)
    assert view.customer["name"] == "北京星辰科技有限公司"
    titles = [view.tabs.get_title(i) for i in range(len(view.tabs.children))]
    assert [t.split("（")[0] for t in titles] == list(SECTIONS)
    store = world.store
    contacts = len(store.read("contact", where={"customer_id": world.c1}))
    assert titles[0] == f"联系人（{contacts}）"
    assert len(view.frames["opportunity"]) == len(world.as_rep1.list("opportunity", where={"customer_id": world.c1}))
    assert set(view.frames["sales_order"]["id"]) == {world.order1, world.order_pending}
    assert set(view.frames["payment"]["id"]) == {world.pay1}
    assert len(view.frames["payment_plan"]) == 2 and len(view.frames["invoice"]) == 1
    assert set(view.frames["service_request"]["id"]) == {world.sr1}
    assert set(view.frames["complaint"]["id"]) == {world.cp1}
    assert set(view.frames["care"]["id"]) == {world.care1}
    assert "李娜" in view.tabs.children[0].children[0].value
    assert "负责人：</span>张伟" in view.widget.children[0].value


def test_rep_cannot_open_other_reps_unshared_customer(world):
    view = Customer360(world.as_rep2, world.c1)
    assert view.customer is None and view.frames == {}
    assert "数据范围" in view.message
    assert "李娜" not in str([c.value for c in view.widget.children if hasattr(c, "value")])
    world.as_rep1.share_customer(world.c1, "rep2")
    assert Customer360(world.as_rep2, world.c1).customer["id"] == world.c1


def test_merged_customer_is_not_found_but_its_records_moved(world):
    view = Customer360(world.admin, world.c5)
    assert view.customer is None
    kept = Customer360(world.admin, world.c4)
    assert kept.customer["name"] == "杭州西湖茶业有限公司"
