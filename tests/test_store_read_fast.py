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
