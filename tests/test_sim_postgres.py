"""A world generated straight onto PostgreSQL is the world SQLite gets (any SQLAlchemy URL works)."""

from __future__ import annotations

import pandas as pd
import pytest

import simcrm
from simcrm.store import schema


@pytest.mark.postgres
def test_a_world_generated_on_postgresql_equals_the_sqlite_one(pg_url, tmp_path):
    # departments name their managers before the employees exist (department ↔ employee):
    # SQLite checks that key at commit, PostgreSQL got it set after the inserts; it used to fail
    pg = simcrm.generate(seed=3, customers=150, db=pg_url, cache=False)
    lite = simcrm.generate(seed=3, customers=150, db=tmp_path / "w.sqlite", cache=False)
    try:
        assert pg.store.read("department")["manager_id"].notna().any()
        for name in schema.TABLES:
            a = pg.store.read(name).sort_values("id").reset_index(drop=True) if "id" in schema.metadata.tables[name].c else pg.store.read(name)
            b = lite.store.read(name).sort_values("id").reset_index(drop=True) if "id" in schema.metadata.tables[name].c else lite.store.read(name)
            assert len(a) == len(b), name
            pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9, obj=name)
    finally:
        pg.store.close()
        lite.store.close()
