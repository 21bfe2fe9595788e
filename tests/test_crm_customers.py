"""Customers and contacts: validation, duplicates, merge without loss, owners, lifecycle."""

from __future__ import annotations

import pytest

from simcrm.crm import normalise_name
from simcrm.errors import DuplicateError
from simcrm.store import schema

from crm_fixtures import VALID_ID, small_world


@pytest.fixture
def world(store):
    return small_world(store)


def _customer_refs():
    return [(t.name, fk.parent.name) for t in schema.metadata.sorted_tables for fk in t.foreign_keys
            if fk.column.table.name == "customer" and t.name != "customer"]


def test_fields_are_normalised(world):
    w = world
    cid = w.as_rep1.create_customer("李四", "个人", province="广东", city="广州", phone="138 0013 8000",
                                    id_number=VALID_ID.lower(), email="LI@Example.cn")
    row = w.store.get("customer", cid)
    assert row["phone"] == "13800138000" and row["province"] == "广东省" and row["city"] == "广州市"
    assert row["id_number"] == VALID_ID
    assert row["lifecycle"] == "潜在" and row["owner_id"] == w.rep1
    assert w.store.get("customer", cid)["source"] == "独立开发"   # the dictionary default


def test_normalise_name_ignores_legal_form_brackets_and_width():
    assert normalise_name("ＡＢＣ科技（北京）有限公司") == normalise_name("ABC科技(北京)股份有限公司")
    assert normalise_name("星辰 科技有限责任公司") == "星辰科技"
    assert normalise_name("星辰科技") != normalise_name("星空科技")


def test_duplicate_on_create_names_the_existing_record(world):
    w = world
    with pytest.raises(DuplicateError) as info:
        w.as_mgr1.create_customer("北京星辰科技(股份)公司", province="北京", city="北京市")
    assert "KH" in str(info.value) and "北京星辰科技有限公司" in str(info.value)
    # rep2 may not see rep1's customer: told that a duplicate exists, not which (issue 17)
    with pytest.raises(DuplicateError) as info:
        w.as_rep2.create_customer("北京星辰科技(股份)公司", province="北京", city="北京市")
    assert "北京星辰科技有限公司" not in str(info.value) and "不在你数据范围内" in str(info.value)
    cid = w.as_rep2.create_customer("北京星辰科技(股份)公司", province="北京", city="北京市", allow_duplicate=True)
    assert w.store.get("customer", cid)["name"] == "北京星辰科技(股份)公司"


def test_duplicate_report_groups(world):
    w = world
    a = w.as_rep1.create_customer("北京星辰科技股份有限公司", province="北京", city="北京市", allow_duplicate=True)
    b = w.as_rep1.create_customer("星辰北京分部", province="北京", city="北京市", email="INFO@xingchen.cn",
                                  allow_duplicate=True)
    c = w.as_rep1.create_customer("王晓明", "个人", province="广东", city="深圳市", phone="13812341234",
                                  allow_duplicate=True)
    report = w.admin.duplicate_report()
    groups = report.groupby("group")["customer_id"].apply(set).tolist()
    assert {w.c1, a, b} in groups and {w.c2, c} in groups
    assert set(report.columns) == {"group", "customer_id", "code", "name", "phone", "email", "owner_id", "matched_on"}
    assert w.as_rep2.duplicate_report().empty        # rep2 sees none of them


def test_merge_loses_no_related_record(world):
    w = world
    dup = w.as_rep1.create_customer("北京星辰科技股份有限公司", province="北京", city="北京市",
                                    address="海淀区中关村大街 1 号", allow_duplicate=True)
    w.as_rep1.add_contact(dup, "钱七", mobile="13811112222")
    o = w.as_rep1.create_opportunity(dup, "重复客户的商机", amount=5000)
    w.as_rep1.create_quote(dup, [{"product_id": w.toner, "quantity": 1}], opportunity_id=o)
    w.as_rep1.log_activity(dup, "拜访")
    w.as_rep1.plan_care(dup, "节日", "中秋问候", "2025-10-06")
    w.as_rep1.open_service_request(dup, "咨询")
    w.as_rep1.record_complaint(dup, "发票抬头错误", category="价格收费")
    w.as_rep1.share_customer(dup, "rep2")
    w.admin.set_campaign_targets(w.camp, [w.c1, dup, w.c3], control_share=0)
    refs = _customer_refs()
    before_total = {t: w.store.count(t) for t, _ in refs}
    before_dup = {f"{t}.{c}": w.store.count(t, **{c: dup}) for t, c in refs}
    before_keep = {f"{t}.{c}": w.store.count(t, **{c: w.c1}) for t, c in refs}
    moved = w.admin.merge_customers(w.c1, [dup])
    after_total = {t: w.store.count(t) for t, _ in refs}
    # the campaign membership both had is kept once (the one duplicate pair); nothing else is lost
    assert {t: before_total[t] - after_total[t] for t in before_total if before_total[t] != after_total[t]} == {
        "campaign_member": 1}
    for key, n in before_dup.items():
        t, c = key.split(".")
        assert w.store.count(t, **{c: dup}) == 0, key
        expected = before_keep[key] + n - (1 if t == "campaign_member" else 0)
        assert w.store.count(t, **{c: w.c1}) == expected, key
    assert moved["contact"] == 1 and moved["opportunity"] == 1
    merged = w.store.get("customer", dup)
    assert merged["deleted"] and merged["merged_into"] == w.c1
    kept = w.store.get("customer", w.c1)
    assert kept["address"] == "海淀区中关村大街 1 号"          # empty field filled from the merged one
    assert w.store.count("contact", customer_id=w.c1, status="主联系人") == 1
    assert (w.admin.audit("customer", w.c1)["action"] == "合并").any()


def test_lifecycle_and_approval(world):
    w = world
    assert w.store.get("customer", w.c1)["lifecycle"] == "签约"          # order1 was approved
    assert str(w.store.get("customer", w.c1)["first_contract_date"]) == "2025-07-01"
    assert w.store.get("customer", w.c3)["lifecycle"] == "签约"
    w.as_rep1.set_lifecycle(w.c2, "失效", reason="转向竞争对手")
    row = w.store.get("customer", w.c2)
    assert row["lifecycle"] == "失效" and row["lost_reason"] == "转向竞争对手"


def test_contacts_one_primary(world):
    w = world
    assert w.store.get("contact", w.k1)["status"] == "主联系人"
    k = w.as_rep1.add_contact(w.c1, "孙八", mobile="13833334444", primary=True)
    assert w.store.get("contact", k)["status"] == "主联系人"
    assert w.store.get("contact", w.k1)["status"] == "联系人"
    w.as_rep1.set_contact_status(w.k1, "主联系人")
    assert w.store.count("contact", customer_id=w.c1, status="主联系人") == 1
    w.as_rep1.update_contact(w.k2, email="zhao@xingchen.cn")
    assert len(w.as_rep1.contacts(w.c1)) == 3
