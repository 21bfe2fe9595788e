"""The sharded big-world path: deterministic, ids unique across shards, foreign keys consistent."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from simcrm.sim.big import FIRM_TABLES, generate_sharded, read_table, shard_seeds
from simcrm.store import schema

SIZE = dict(seed=5, customers=600, shards=3, start="2024-01-01", today="2024-05-31")


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.csv.gz"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    info = generate_sharded(d, workers=1, **SIZE)
    return d, info


def test_deterministic_and_independent_of_workers(world, tmp_path):
    d, info = world
    again = generate_sharded(tmp_path, workers=2, **SIZE)
    assert again["files"] == info["files"] and again["rows"] == info["rows"]
    assert _digest(d) == _digest(tmp_path)


def test_shards_have_their_own_seeds(world):
    seeds = shard_seeds(SIZE["seed"], SIZE["shards"])
    assert len(set(seeds)) == SIZE["shards"] and seeds == shard_seeds(SIZE["seed"], SIZE["shards"])
    d, info = world
    cust = read_table(d, "customer")
    assert len(cust) == info["rows"]["customer"] > 0
    parts = sorted((d / "customer").glob("part-*"))
    assert len(parts) == SIZE["shards"]
    # every shard holds customers, and shards do not repeat each other
    names = [set(pd.read_csv(p)["name"]) - {""} for p in parts]
    assert all(names)
    # a shard that repeated another's stream would share all its names; common personal names
    # (王璐, 宋萍 …) do recur by chance among a few hundred people
    assert len(names[0] & names[1]) <= 0.05 * min(len(names[0]), len(names[1])), names[0] & names[1]


def test_ids_unique_dense_and_codes_unique(world):
    d, info = world
    for name in schema.TABLES:
        if name in ("dictionary", "export_log"):
            continue
        f = read_table(d, name)
        assert len(f) == info["rows"][name], name
        if len(f) and "id" in f.columns:
            ids = f["id"].to_numpy()
            assert (np.sort(ids) == np.arange(1, len(f) + 1)).all(), name
        for col in ("code", "invoice_no"):
            if col in f.columns and len(f):
                assert f[col].is_unique, (name, col)


def test_foreign_keys_consistent(world):
    d, _ = world
    ids = {name: set(read_table(d, name)["id"]) for name in schema.TABLES if name not in ("dictionary", "export_log")}
    checked = 0
    for name in ids:
        f = read_table(d, name)
        t = schema.metadata.tables[name]
        for c in t.columns:
            for fk in c.foreign_keys:
                target = fk.column.table.name
                if target == "dictionary" or c.name not in f.columns or name in FIRM_TABLES:
                    continue
                vals = f[c.name].dropna()
                vals = vals[vals.astype(str) != ""].astype(np.int64)
                missing = set(vals) - ids[target]
                assert not missing, (name, c.name, target, sorted(missing)[:5])
                checked += len(vals)
    assert checked > 1000
    audit = read_table(d, "audit_log")
    assert set(audit["row_id"]) <= ids["customer"]
    # a customer's orders, contacts and history stay together (same shard)
    so = read_table(d, "sales_order")
    ct = read_table(d, "contact").set_index("id")
    assert (ct.loc[so["contact_id"], "customer_id"].to_numpy() == so["customer_id"].to_numpy()).all()
