"""Pure speed-ups give exactly what the slower code gave (benchmarks/world_hashes.py checks whole worlds)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from sqlalchemy import create_engine

from simcrm.sim import identities
from simcrm.sim.firm import codes
from simcrm.store import Store, schema, summaries


def test_faker_lists_read_from_source_equal_the_imported_provider():
    from faker.providers.company.zh_CN import Provider as Company
    from faker.providers.person.zh_CN import Provider as Person

    person, company = identities._faker_data()
    for k, v in person.items():
        assert list(getattr(Person, k).items() if isinstance(v, dict) else getattr(Person, k)) == \
            list(v.items() if isinstance(v, dict) else v), k
    assert list(company["company_prefixes"]) == list(Company.company_prefixes)
    assert identities._provider_data("person.zh_CN", {"no_such_list"}) is None  # → import Faker instead


def test_codes_are_the_zero_filled_serials():
    serials = np.array([1, 9, 10, 999, 12345, 1234567])
    for entity, total in (("customer", None), ("customer", 60_000), ("sales_order", 10 ** 7)):
        prefix, width = __import__("simcrm.sim.firm", fromlist=["CODE_FORMATS"]).CODE_FORMATS[entity]
        if total is not None:
            width = max(width, len(str(total)))
        expected = [prefix + str(s).zfill(width) for s in serials]
        assert codes(entity, serials, total).tolist() == expected


def _master(con: sqlite3.Connection) -> list[tuple]:
    return con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()


def test_the_sqlite_schema_short_path_makes_what_create_all_makes(tmp_path):
    fast = Store(tmp_path / "fast.sqlite")
    fast.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'slow.sqlite'}")
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        summaries.install(conn)  # what the general path adds: the summaries and their triggers
    engine.dispose()
    a, b = sqlite3.connect(tmp_path / "fast.sqlite"), sqlite3.connect(tmp_path / "slow.sqlite")
    assert _master(a) == _master(b)
    assert {r[1] for r in _master(a) if r[0] == "table"} >= set(summaries.names())
    assert len(_master(a)) > len(schema.TABLES)
    # the dictionaries as the general path loads them
    slow = Store(tmp_path / "slow.sqlite", check=False)  # tables there, no dictionary rows: the general path fills them
    slow.close()
    b = sqlite3.connect(tmp_path / "slow.sqlite")
    assert a.execute("SELECT * FROM dictionary ORDER BY id").fetchall() == b.execute("SELECT * FROM dictionary ORDER BY id").fetchall()
    a.close()
    b.close()


def _department_ddl() -> str:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'department'").scalar_one()
    engine.dispose()
    return sql


def test_a_postgresql_schema_made_earlier_in_the_process_leaves_sqlite_worlds_unchanged():
    """PostgreSQL adds the department → employee key by ALTER TABLE; SQLAlchemy then marks that
    constraint in the shared metadata as never-inside-CREATE-TABLE, and every SQLite world made
    later in the process lost it (a CI failure). schema.create_all undoes the mark."""
    from sqlalchemy import create_mock_engine

    before = _department_ddl()
    assert "fk_department_manager_id" in before
    statements: list[str] = []
    postgres = create_mock_engine("postgresql://", lambda sql, *a, **k: statements.append(type(sql).__name__))
    schema.create_all(postgres, checkfirst=False)
    assert "AddConstraint" in statements  # the path that used to leave the mark was taken
    assert _department_ddl() == before


def test_pick_draws_what_rng_choice_draws():
    """model._pick replaces rng.choice(len(p), size=n, p=p): same indices, same generator state after."""
    from simcrm.sim.model import _pick

    for seed in range(30):
        for p in ([0.12, 0.33, 0.55], [0.25, 0.35, 0.15, 0.15, 0.10], [1.0], [0.0, 0.5, 0.5, 0.0],
                  np.random.default_rng(seed).dirichlet(np.ones(40))):
            p = np.asarray(p) / np.sum(p)
            for n in (0, 1, 7, 300):
                a, b = np.random.default_rng(seed), np.random.default_rng(seed)
                want = a.choice(len(p), size=n, p=p)
                got = _pick(b, n, p)
                assert got.dtype == want.dtype and got.tolist() == want.tolist()
                assert a.bit_generator.state == b.bit_generator.state
    with pytest.raises(ValueError):
        _pick(np.random.default_rng(0), 3, [0.5, 0.6])
