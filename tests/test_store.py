"""The store: every table round-trips on SQLite and PostgreSQL; bad writes change nothing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Boolean, Date, DateTime, Float, Integer

from simcrm import reference
from simcrm.errors import ConstraintError, NotFoundError, RequiredFieldError, SimCRMError, UnknownValueError
from simcrm.store import Store, schema, snapshot_equal


def _sample_value(store: Store, table: str, column, parents: dict[str, int], n: int = 0):
    """A valid value for ``column``, derived from the schema alone (independent of the store)."""
    info = column.info
    if "dictionary" in info:
        return reference.DICTIONARIES[info["dictionary"]]["values"][n % 2]
    if "states" in info:
        return reference.state_values(info["states"])[0]
    if "states_list" in info:
        return info["states_list"][0]
    for fk in column.foreign_keys:
        return parents.get(fk.column.table.name)
    t = column.type
    if isinstance(t, Boolean):
        return bool(n % 2)
    if isinstance(t, Integer):
        return int(info.get("min", 1)) + n
    if isinstance(t, Float):
        return float(info.get("min", 0)) + 0.5 if "max" in info else 12.5 + n
    if isinstance(t, DateTime):
        return dt.datetime(2025, 3, 1, 9, 30) + dt.timedelta(days=n)
    if isinstance(t, Date):
        return dt.date(2025, 3, 1) + dt.timedelta(days=n)
    length = getattr(t, "length", None) or 50
    return f"{table[:3]}{column.name[:4]}{n}"[:length]


def _fill_every_table(store: Store) -> dict[str, dict]:
    """Insert one valid row in each table, parents first; return what was written."""
    written: dict[str, dict] = {}
    parents: dict[str, int] = {}
    for name in schema.TABLES:
        t = schema.metadata.tables[name]
        if name == "dictionary":
            row = {"list_name": "industry", "value": "新增行业", "is_default": False, "in_use": True, "sort_order": 99}
        else:
            row = {c.name: _sample_value(store, name, c, parents) for c in t.columns if not c.primary_key}
        if name == "opportunity":
            row.update(status="跟踪", probability=10)
        row_id = store.insert(name, row)
        parents[name] = row_id
        written[name] = {"id": row_id, **row}
    return written


def test_schema_labels_every_table_and_column():
    for name, t in schema.metadata.tables.items():
        assert t.info.get("label"), name
        for c in t.columns:
            assert c.info.get("label"), f"{name}.{c.name}"
            assert not c.info["label"].isascii(), f"{name}.{c.name} label should be Chinese"


def test_every_design_entity_has_a_table():
    needed = {"department", "employee", "role", "role_right", "dictionary", "product", "product_category",
              "customer", "contact", "lead", "opportunity", "opportunity_stage_history", "quote", "quote_line",
              "sales_order", "order_line", "payment_plan", "payment", "invoice", "sales_return", "return_line",
              "activity", "care", "service_request", "complaint", "survey", "campaign", "campaign_member",
              "quota", "sla_policy", "shipment", "stock_move", "audit_log", "numbering_rule", "return_visit"}
    assert needed <= set(schema.TABLES)


def test_fixed_states_are_check_constraints(store):
    for name, t in schema.metadata.tables.items():
        for column, allowed in schema.state_columns(name).items():
            names = {ck.name for ck in t.constraints if getattr(ck, "name", None)}
            assert f"ck_{name}_{column}" in names, (name, column)


def test_dictionary_loaded_with_defaults(store):
    d = store.read("dictionary")
    for list_name, spec in reference.DICTIONARIES.items():
        rows = d[d.list_name == list_name]
        assert rows.value.tolist() == list(spec["values"])
        assert rows[rows.is_default].value.tolist() == [spec["default"]]


def test_every_table_round_trips(any_store):
    written = _fill_every_table(any_store)
    for name, row in written.items():
        frame = any_store.read(name)
        assert len(frame) == (1 if name != "dictionary" else len(frame)), name
        got = frame[frame.id == row["id"]].iloc[0].to_dict()
        for key, expected in row.items():
            value = got[key]
            if isinstance(expected, dt.datetime):
                assert pd.Timestamp(value) == pd.Timestamp(expected), (name, key)
            elif isinstance(expected, dt.date):
                assert pd.Timestamp(value).date() == expected, (name, key)
            elif isinstance(expected, float):
                assert value == pytest.approx(expected), (name, key)
            else:
                assert value == expected, (name, key, value, expected)
        labelled = any_store.read(name, labels=True)
        assert list(labelled.columns) == list(schema.labels(name).values())


def _bad_rows(written: dict[str, dict]):
    """For each table, a row that breaks a rule, the field it breaks and how."""
    for name, row in written.items():
        t = schema.metadata.tables[name]
        required = [c.name for c in t.columns if not c.nullable and not c.primary_key and c.default is None]
        if required:
            bad = {k: v for k, v in row.items() if k != "id"}
            bad[required[0]] = None
            yield name, bad, required[0]
        for column in schema.state_columns(name):
            bad = {k: v for k, v in row.items() if k != "id"}
            bad[column] = "不存在的状态"
            yield name, bad, column


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bad_write_names_field_and_changes_nothing(request, backend):
    if backend == "sqlite":
        s = Store()
    else:
        s = Store(request.getfixturevalue("pg_server").fresh_schema_url())
    try:
        written = _fill_every_table(s)
        before = s.snapshot()
        cases = list(_bad_rows(written))
        assert len({c[0] for c in cases}) >= len(schema.TABLES) - 1
        for name, bad, field in cases:
            with pytest.raises(SimCRMError) as info:
                s.insert(name, bad)
            assert info.value.field == field, (name, field, str(info.value))
            assert field in str(info.value)
            assert snapshot_equal(before, s.snapshot()) == [], name
    finally:
        s.close()


def test_database_constraint_is_translated_and_rolled_back(any_store):
    written = _fill_every_table(any_store)
    before = any_store.snapshot()
    row = {k: v for k, v in written["product"].items() if k != "id"}
    row.update(code="P-NEW", price=-5.0, unit=any_store.dictionary_id("product_unit", row["unit"]))
    with pytest.raises(ConstraintError) as info:
        # skip the Python checks: the database's own CHECK must catch it
        any_store.insert("product", [row, dict(row, code="P-NEW2", price=1.0)], validate=False)
    assert info.value.field == "price"
    assert "price" in str(info.value)
    assert snapshot_equal(before, any_store.snapshot()) == []


def test_batch_insert_is_all_or_nothing(store):
    written = _fill_every_table(store)
    before = store.snapshot()
    good = {k: v for k, v in written["department"].items() if k != "id"} | {"code": "D-OK"}
    bad = dict(good, code="D-BAD", parent_id=10_000)
    with pytest.raises(NotFoundError) as info:
        store.insert("department", [good, bad])
    assert info.value.field == "parent_id" and info.value.value == 10_000
    assert snapshot_equal(before, store.snapshot()) == []


def test_unknown_dictionary_value_lists_allowed(store):
    written = _fill_every_table(store)
    row = {k: v for k, v in written["customer"].items() if k != "id"} | {"code": "C-2", "industry": "航天"}
    with pytest.raises(UnknownValueError) as info:
        store.insert("customer", row)
    msg = str(info.value)
    assert "所属行业" in msg and "航天" in msg and "制造业" in msg


def test_missing_required_field_message_is_chinese(store):
    with pytest.raises(RequiredFieldError) as info:
        store.insert("department", {"code": "D9"})
    assert "部门名称" in str(info.value) and "必填" in str(info.value)


def test_unknown_column_is_refused(store):
    with pytest.raises(UnknownValueError) as info:
        store.insert("department", {"code": "D9", "name": "x", "colour": "red"})
    assert info.value.field == "colour"


def test_file_store_persists(tmp_path):
    path = tmp_path / "world.sqlite"
    with Store(path) as s:
        s.insert("department", {"code": "D1", "name": "销售部"})
    with Store(path) as s:
        assert s.read("department").name.tolist() == ["销售部"]
        assert s.dictionary_values("source")[0] == "电话来访"
