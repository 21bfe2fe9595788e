"""线索导入与查重: the upload's report is crm.import_leads's; the merge button merges."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest

from crm_fixtures import small_world
from simcrm.store import Store
from simcrm.store.store import snapshot_equal
from simcrm.ui import screen
from simcrm.ui.leads import LeadImport

CSV = ("联系人姓名,公司名称,手机,电子邮件,省份,城市,线索来源\n"
       "钱一,苏州园林文化有限公司,13511112222,,江苏,苏州市,展会\n"
       "孙二,,12345,,江苏,苏州市,展会\n"
       "李三,无锡太湖科技有限公司,,li3@taihu.cn,江苏,火星市,展会\n"
       "周四,常州龙城机械有限公司,13622223333,,江苏,常州市,不存在的来源\n")


def _upload(screen_: LeadImport, name: str, data: bytes) -> None:
    screen_.upload.value = ({"name": name, "type": "text/csv", "size": len(data), "content": memoryview(data),
                             "last_modified": dt.datetime(2025, 7, 1)},)
    screen_.import_button.click()


def test_report_matches_crm_import_leads(store, tmp_path):
    world = small_world(store)
    twin = small_world(Store())  # the same world, built the same way
    path = tmp_path / "expo_leads.csv"
    path.write_text(CSV, encoding="utf-8")
    expected = twin.as_rep1.import_leads(path)
    view = screen("lead_import", world.as_rep1)
    _upload(view, "expo_leads.csv", CSV.encode("utf-8"))
    pd.testing.assert_frame_equal(view.report, expected)
    assert view.last_call == "crm.import_leads('expo_leads.csv')"
    # rows as the spreadsheet numbers them, reasons in Chinese, rejected rows highlighted
    assert view.report["row"].min() == 2 and not view.report["accepted"].all()
    assert view.report_html.value.count("background:#fde7e7") == int((~view.report["accepted"]).sum())
    assert "导入 <b>1</b> 行" in view.report_summary.value
    assert set(store.read("lead")["name"]) == set(twin.store.read("lead")["name"])


def test_gbk_and_excel_uploads(store):
    world = small_world(store)
    view = LeadImport(world.as_rep1)
    _upload(view, "gbk.csv", CSV.encode("gbk"))
    assert int(view.report.drop_duplicates("row")["accepted"].sum()) == 1
    buf = io.BytesIO()
    pd.read_csv(io.StringIO(CSV), dtype=str).to_excel(buf, index=False)
    _upload(view, "leads.xlsx", buf.getvalue())
    assert view.last_call == "crm.import_leads('leads.xlsx')" and view.report["row"].max() == 5


def test_bad_file_shows_chinese_error(store):
    world = small_world(store)
    view = LeadImport(world.as_rep1)
    before = store.count("lead")
    _upload(view, "bad.csv", "foo,bar\n1,2\n".encode())
    assert view.report is None and "foo" in view.message and store.count("lead") == before
    view.upload.value = ()
    view.import_button.click()
    assert "请先选择" in view.message


def test_merge_button_merges_a_duplicate_group(store):
    world = small_world(store)
    rep = world.as_rep1
    dup = rep.create_customer("北京星辰科技（有限公司）", province="北京", city="北京市", allow_duplicate=True)
    rep.add_contact(dup, "孔九", mobile="13900001111")
    # a rep may not delete customers, so may not merge: refused in Chinese, nothing changes
    refused = LeadImport(rep)
    before = store.snapshot()
    refused.groups[0].merge_button.click()
    assert "删除" in refused.message and snapshot_equal(before, store.snapshot()) == []
    mgr = world.as_mgr1
    view = LeadImport(mgr)
    report = mgr.duplicate_report()
    assert len(view.groups) == report["group"].nunique() == 1
    group = view.groups[0]
    assert group.customer_ids == [world.c1, dup]
    group.keep.value = world.c1
    group.merge_button.click()
    assert "已将" in view.message, view.message
    assert view.last_call == f"crm.merge_customers({world.c1}, [{dup}])"
    assert store.get("customer", dup)["merged_into"] == world.c1
    assert store.get("contact", int(store.read("contact", where={"name": "孔九"})["id"][0]))["customer_id"] == world.c1
    assert view.groups == [] and mgr.duplicate_report().empty


def test_rep_only_sees_duplicates_in_scope(store):
    world = small_world(store)
    world.as_rep2.create_customer("上海远航物流", province="上海", city="上海市", allow_duplicate=True)
    assert LeadImport(world.as_rep1).groups == []
    assert len(LeadImport(world.as_rep2).groups) == 1


def test_a_rep_sees_look_alikes_of_their_customers_outside_their_scope(store):
    """A rep's duplicate groups include customers of colleagues that look like the rep's own,
    masked (no name, phone or e-mail) and announced as outside the rep's data scope."""
    from crm_fixtures import small_world
    from simcrm.ui import screen

    world = small_world(store)
    # rep1 enters a customer rep2 already has (same phone): rep1 cannot see rep2's customer
    twin = world.as_rep1.create_customer("远航物流（上海）", province="上海", city="上海市", phone="021-52345678",
                                         allow_duplicate=True)
    assert world.as_rep1.duplicate_report().empty  # the rep's own report compares only what they see
    view = screen("lead_import", world.as_rep1)
    assert len(view.groups) == 1
    group = view.duplicates
    assert set(group["customer_id"]) == {twin, world.c3}
    other = group.set_index("customer_id").loc[world.c3]
    assert other["name"] == "（无权查看）" and other["phone"] == "（无权查看）"
    assert "上海远航物流有限公司" not in view.dup_box.children[0].children[0].value
    assert "不在你的数据范围内" in view.dup_summary.value
    # the boss sees the same group unmasked
    boss = screen("lead_import", world.as_boss)
    assert "上海远航物流有限公司" in " ".join(boss.duplicates["name"])


def test_duplicate_groups_are_drawn_a_page_at_a_time(store, monkeypatch):
    """A large firm has thousands of look-alike groups (about 1,000 on a 20,000-customer world:
    the screen took 15 s building their widgets); the screen draws one page of groups, the
    summary counts them all, and the pager walks through every group once, in the report's order."""
    world = small_world(store)
    boss = world.as_boss
    for base in ("甲乙丙贸易", "丁戊己物流", "庚辛壬科技"):  # three new pairs of look-alikes
        for name in (f"{base}有限公司", f"{base}（股份有限公司）"):
            boss.create_customer(name, province="北京", city="北京市", allow_duplicate=True)
    report = boss.duplicate_report()
    n = report["group"].nunique()
    assert n >= 3
    monkeypatch.setattr(LeadImport, "PAGE_SIZE", 2)
    view = LeadImport(boss)
    assert view.pages == -(-n // 2) and view.page == 0 and len(view.groups) == 2
    assert f"发现 {n} 组" in view.dup_summary.value and f"第 1 / {view.pages} 页" in view.page_label.value
    assert view.prev_button.disabled and not view.next_button.disabled
    seen = []
    while True:
        seen += [g.customer_ids for g in view.groups]
        assert len(view.dup_box.children) == len(view.groups) <= 2
        if view.next_button.disabled:
            break
        view.next_button.click()
    assert seen == [[int(i) for i in rows["customer_id"]] for _g, rows in report.groupby("group", sort=True)]
    assert view.page == view.pages - 1 and not view.prev_button.disabled
    view.show_page(99)  # beyond the last page: the last page
    assert view.page == view.pages - 1
    # a merge on the last page redraws the report and keeps the reader on a page that exists
    last = view.groups[-1]
    last.merge_button.click()
    assert "已将" in view.message and view.page <= view.pages - 1 and view.groups
