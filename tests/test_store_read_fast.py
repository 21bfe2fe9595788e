"""Store.read's faster column handling gives exactly the frames of the plain per-value rules.

``read`` turns rows into columns once (not one pass over the rows per column) and resolves
dictionary ids to their text from plain lists (not ``pd.isna`` per value). Checked on every
table of a generated world against the rules written out value by value: the resolved text
of each dictionary column, missing ids included, and the dtypes and values of every column.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from simcrm.sim import generate
from simcrm.store import schema


@pytest.fixture(scope="module")
def world():
    w = generate(seed=5, customers=60, start="2024-01-01", today="2024-06-30", cache=False)
    yield w
    w.store.close()


def test_resolved_dictionary_columns_follow_the_per_value_rule(world):
    store = world.store
    by_id = store._dictionary()["by_id"]
    checked = missing = 0
    for t in schema.metadata.sorted_tables:
        resolved = store.read(t.name)
        raw = store.read(t.name, resolve=False)
        for name in schema.dictionary_columns(t.name):
            if name not in raw.columns:
                continue
            want = pd.Series([by_id.get(int(v)) if not pd.isna(v) else None for v in raw[name]],
                             index=raw.index, dtype="str")
            assert resolved[name].dtype == want.dtype, (t.name, name)
            assert resolved[name].equals(want), (t.name, name)
            checked += 1
            missing += int(raw[name].isna().sum())
    assert checked >= 10 and missing > 0  # the rule was exercised, missing ids included


def test_every_column_is_typed_from_its_own_values(world):
    store = world.store
    for name in ("customer", "sales_order", "contact", "opportunity", "employee"):
        t = schema.metadata.tables[name]
        frame = store.read(name, resolve=False)
        with store.engine.connect() as conn:
            rows = conn.execute(t.select().order_by(t.c.id)).fetchall()
        assert len(frame) == len(rows) > 0
        for i, c in enumerate(t.columns):
            got = frame[c.name].tolist()
            for k in (0, len(rows) // 2, len(rows) - 1):
                v, g = rows[k][i], got[k]
                if v is None:
                    assert pd.isna(g), (name, c.name, k)
                elif isinstance(v, (dt.date, dt.datetime)):
                    assert pd.Timestamp(g) == pd.Timestamp(v), (name, c.name, k)
                else:
                    assert g == v, (name, c.name, k)


def test_an_empty_table_keeps_its_typed_columns(tmp_path):
    from simcrm.store import Store

    store = Store(tmp_path / "empty.sqlite")
    try:
        frame = store.read("sales_order")
        assert frame.empty and list(frame.columns) == [c.name for c in schema.metadata.tables["sales_order"].columns]
        assert str(frame["id"].dtype) == "int64"
    finally:
        store.close()


def _typed_by_sqlalchemy(store, table, **where):
    """The frame of SQLAlchemy's own typed rows (its result processors parse dates, times and
    flags value by value): what ``read`` gave before it typed SQLite's rows column by column."""
    from simcrm.store.store import _typed_frame

    t = schema.metadata.tables[table]
    q = t.select()
    for k, v in where.items():
        q = q.where(t.c[k] == v)
    with store.engine.connect() as conn:
        rows = conn.execute(q.order_by(t.c.id)).fetchall()
    return _typed_frame(list(t.columns), rows)


def test_sqlite_rows_typed_by_column_equal_sqlalchemys_typed_rows(world):
    """Every table, every column, dtype and value: SQLite's raw rows typed a column at a time
    equal SQLAlchemy's typed rows — after operations that leave dates, times, flags and
    dictionary ids missing, and for rows of a ``where`` and an empty result."""
    from simcrm.crm import CRM

    store = world.store
    crm = CRM.system(store, now=dt.datetime(2024, 6, 30, 10, 15, 30, 123456))
    crm.create_customer("读取检查科技有限公司", source=None, province="北京", city="北京市", owner=1)
    compared = 0
    for t in schema.metadata.sorted_tables:
        frame = store.read(t.name, resolve=False)
        pd.testing.assert_frame_equal(frame, _typed_by_sqlalchemy(store, t.name), check_exact=True, obj=t.name)
        compared += len(frame) * len(frame.columns)
    assert compared > 10_000
    kinds = {type(c.type).__name__ for t in schema.metadata.sorted_tables for c in t.columns}
    assert {"Date", "DateTime", "Boolean", "Float", "Integer"} <= kinds
    some = store.read("sales_order", resolve=False, where={"customer_id": 1})
    pd.testing.assert_frame_equal(some, _typed_by_sqlalchemy(store, "sales_order", customer_id=1), check_exact=True)
    none = store.read("sales_order", resolve=False, where={"customer_id": -1})
    pd.testing.assert_frame_equal(none, _typed_by_sqlalchemy(store, "sales_order", customer_id=-1), check_exact=True)


def test_sqlite_text_dates_and_missing_values_are_read_as_sqlalchemy_reads_them(tmp_path):
    """Rows written by raw SQL: times with and without microseconds, a flag missing in some rows,
    and a date column missing in every row."""
    import sqlite3

    from simcrm.store import Store

    path = tmp_path / "raw.sqlite"
    Store(path).close()
    con = sqlite3.connect(path)  # no foreign keys: the rows alone
    con.execute("INSERT INTO audit_log (id, at, table_name, row_id, field, action) VALUES "
                "(1, '2025-03-01 09:30:00', 'customer', 1, 'name', '修改'), "
                "(2, '2025-03-02 10:00:00.250000', 'customer', 1, 'name', '修改')")
    con.execute("INSERT INTO survey (id, customer_id, survey_date, overall, would_recommend) VALUES "
                "(1, 1, '2025-03-01', 4, 1), (2, 1, '2025-03-02', 5, NULL), "
                "(3, 1, '2025-03-03', 3, 0)")
    con.execute("INSERT INTO survey (id, customer_id, survey_date, overall) VALUES (4, 1, '2025-03-04', 2)")
    con.commit()
    con.close()
    store = Store(path)
    try:
        for name in ("audit_log", "survey", "care"):
            pd.testing.assert_frame_equal(store.read(name, resolve=False), _typed_by_sqlalchemy(store, name),
                                          check_exact=True, obj=name)
        assert store.read("survey")["would_recommend"].isna().sum() == 2
    finally:
        store.close()
