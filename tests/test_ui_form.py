"""Record forms: schema-generated inputs, Chinese messages next to fields, writes through crm."""

from __future__ import annotations

import ipywidgets as w
import pytest

from crm_fixtures import small_world
from simcrm.store.store import snapshot_equal
from simcrm.ui import RecordForm, screen
from simcrm.ui.forms import OPERATIONS, entity_form


@pytest.fixture
def world(store):
    return small_world(store)


def test_inputs_follow_the_schema(world):
    form = entity_form(world.as_rep1, "contact")
    assert isinstance(form.inputs["gender"], w.Dropdown)           # state list
    assert isinstance(form.inputs["buying_role"], w.Dropdown)      # dictionary
    assert isinstance(form.inputs["birthday"], w.DatePicker)
    # the customer drop-down offers only customers rep1 may see
    offered = {v for _label, v in form.inputs["customer_id"].options if v is not None}
    assert offered == set(world.as_rep1.customers()["id"])
    assert world.c3 not in offered


def test_invalid_form_shows_error_next_to_field_and_writes_nothing(world):
    store = world.store
    form = screen("form", world.as_rep1, table="customer")
    before = store.snapshot()
    form.set(name="", province="广东", city="深圳市", phone="12345")
    form.save_button.click()
    assert "必填" in form.errors["name"].value
    assert snapshot_equal(before, store.snapshot()) == []
    # the CRM's own rule (phone format) is shown next to the phone field, still nothing written
    form.set(name="深圳华南贸易有限公司")
    form.save_button.click()
    assert "电话" in form.errors["phone"].value and form.errors["name"].value == ""
    assert "尚未保存" in form.message
    assert snapshot_equal(before, store.snapshot()) == []
    form.set(phone="0755-86001234")
    form.save_button.click()
    new = world.as_rep1.customers().set_index("name").loc["深圳华南贸易有限公司"]
    assert new["owner_id"] == world.rep1 and new["phone"] == "0755-86001234"
    assert form.last_call == ("crm.create_customer('深圳华南贸易有限公司', province='广东', city='深圳市', "
                              "phone='0755-86001234')")


def test_one_save_shows_every_bad_field_at_once(world):
    """Three wrong fields, one click: three messages, each next to its own field, nothing written."""
    store = world.store
    form = screen("form", world.as_rep1, table="customer")
    before = store.snapshot()
    form.set(name="", province="广东", city="深圳市", phone="12345", email="zhangsan#163.com")
    form.save_button.click()
    assert "客户名称（name）不能为空" in form.errors["name"].value
    assert "值 None" not in form.errors["name"].value
    assert "12345" in form.errors["phone"].value
    assert "zhangsan#163.com" in form.errors["email"].value
    assert "3 个字段" in form.message
    assert snapshot_equal(before, store.snapshot()) == []
    # a city of another province is caught before the write too
    form.set(name="深圳华南贸易有限公司", phone="0755-86001234", email="", city="杭州市")
    form.save_button.click()
    assert "杭州市" in form.errors["city"].value and form.errors["phone"].value == ""
    assert snapshot_equal(before, store.snapshot()) == []


def test_label_and_message_use_the_same_word(world):
    """The form's label of a field is the word its error message uses (电子邮件, not 电子邮箱)."""
    from simcrm.store import schema

    for table, field, bad in (("customer", "email", "a@@b"), ("contact", "mobile", "139"),
                              ("customer", "phone", "12"), ("customer", "id_number", "123")):
        form = entity_form(world.admin, table)
        form.set(**{field: bad})
        form.check()
        label = schema.column_label(table, field)
        message = form.errors[field].value
        assert f"{label}（{field}）" in message, (label, message)
    assert "电子邮箱" not in form.errors.get("email", form.errors["name"]).value


def test_a_long_message_wraps_under_its_input(world):
    form = entity_form(world.as_rep1, "customer")
    form.set(phone="12")
    form.check()
    row = next(r for r in form.widget.children if isinstance(r, w.HBox) and form.inputs["phone"] in
               getattr(r.children[1], "children", ()))
    column = row.children[1]
    assert isinstance(column, w.VBox) and list(column.children) == [form.inputs["phone"], form.errors["phone"]]
    assert "white-space:normal" in form.errors["phone"].value and len(form.errors["phone"].value) > 100


def test_form_saves_through_the_matching_operation(world):
    rep = world.as_rep1
    contact = entity_form(rep, "contact")
    contact.set(customer_id=world.c1, name="钱七", mobile="13511112222", birthday="1990-05-01", gender="女")
    new_id = contact.save()
    assert contact.last_call == ("crm.add_contact(1, '钱七', gender='女', mobile='13511112222', "
                                 "birthday='1990-05-01')")
    row = world.store.get("contact", new_id)
    assert row["name"] == "钱七" and str(row["birthday"]) == "1990-05-01"
    lead = entity_form(rep, "lead")
    lead.set(name="郑八", company="苏州园林文化有限公司", source="互联网")
    assert lead.save() is None and "至少填写一项" in lead.errors["mobile"].value
    lead.set(mobile="13788889999")
    lid = lead.save()
    assert lead.last_call.startswith("crm.create_lead('郑八', company=") and world.store.get("lead", lid)["status"] == "新建"
    opp = entity_form(rep, "opportunity")
    opp.set(customer_id=world.c2, name="家用打印机", amount="3000")
    oid = opp.save()
    assert world.store.get("opportunity", oid)["probability"] == 10
    care = entity_form(rep, "care")
    care.set(customer_id=world.c1, care_type="节日", subject="中秋问候", planned_date="2025-10-06")
    assert care.save() is not None and care.last_call == "crm.plan_care(1, '节日', '中秋问候', '2025-10-06')"


def test_audit_and_numbering_come_from_the_crm(world):
    form = entity_form(world.as_rep1, "service_request")
    form.set(customer_id=world.c1, description="硒鼓漏粉", urgency="一般")
    sid = form.save()
    assert world.store.get("service_request", sid)["code"].startswith("FW")
    assert len(world.admin.audit("service_request", sid)) == 1


def test_other_reps_customer_cannot_be_chosen_or_typed(world):
    form = entity_form(world.as_rep2, "contact")
    with pytest.raises(Exception):
        form.set(customer_id=world.c1, name="x")  # not an option of the drop-down
    form = RecordForm(world.store, "contact", fields=["customer_id", "name"],
                      saver=lambda v: world.as_rep2.add_contact(v["customer_id"], v["name"]))
    before = world.store.snapshot()
    form.set(customer_id=world.c1, name="越权")
    assert form.save() is None and "数据范围" in (form.errors["customer_id"].value + form.message)
    assert snapshot_equal(before, world.store.snapshot()) == []


@pytest.mark.parametrize("table", sorted(OPERATIONS))
def test_every_operation_form_builds(world, table):
    form = entity_form(world.admin, table)
    assert form.fields[0] in form.inputs and "新建" in form.widget.children[0].value
