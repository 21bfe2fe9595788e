"""The schema's metadata served from the world cache is the schema built from its definitions.

``simcrm.store.schema`` unpickles a cached copy of the tables instead of building them at every
import (issue 15, start-up time). These tests compare, in fresh interpreters, the DDL and the
``info`` of every table and column of the served metadata with those built by
``simcrm.store._tables``, and check that a missing, damaged or switched-off cache builds them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# what a fresh interpreter prints: where the metadata came from and a digest of everything in it
PROBE = r"""
import hashlib, json, sys
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from simcrm.store import schema

def describe(md):
    out = []
    for d in (sqlite.dialect(), postgresql.dialect()):
        for t in md.sorted_tables:
            out.append(str(CreateTable(t).compile(dialect=d)))
            out += sorted(str(CreateIndex(i).compile(dialect=d)) for i in t.indexes)
    for name, t in sorted(md.tables.items()):
        out.append(json.dumps([name, t.info, [[c.name, c.info] for c in t.columns]], ensure_ascii=False, sort_keys=True))
    return hashlib.sha256("\n".join(out).encode()).hexdigest()

served = describe(schema.metadata)
built_here = "simcrm.store._tables" in sys.modules
from simcrm.store import _tables  # the definitions, built in this process
print(json.dumps({"built": built_here, "served": served, "definitions": describe(_tables.metadata),
                  "tables": list(schema.TABLES)}))
"""


def _probe(env: dict[str, str]) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SIMCRM_CACHE")}
    e["SIMCRM_CACHE_DIR"] = str(tmp_path / "cache")
    return e


def test_the_cached_metadata_is_the_built_one(env):
    first = _probe(env)  # an empty cache: built, and kept
    assert first["built"]
    second = _probe(env)  # served from the cache: the definitions were not run to serve it
    assert not second["built"]
    assert second["served"] == second["definitions"] == first["served"]
    assert second["tables"] == first["tables"]
    assert len(second["tables"]) == len(set(second["tables"])) > 40


def test_a_damaged_or_absent_cache_builds_the_tables(env):
    _probe(env)
    blobs = list(Path(env["SIMCRM_CACHE_DIR"]).glob("*.bin"))
    assert len(blobs) == 1
    data = bytearray(blobs[0].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed: the keyed hash no longer matches
    blobs[0].write_bytes(bytes(data))
    damaged = _probe(env)
    assert damaged["built"] and damaged["served"] == damaged["definitions"]
    off = _probe(dict(env, SIMCRM_CACHE="0"))
    assert off["built"] and off["served"] == damaged["served"]


def test_blob_entries_round_trip_and_refuse_other_kinds(env, monkeypatch):
    from simcrm.sim import cache

    monkeypatch.setenv("SIMCRM_CACHE_DIR", env["SIMCRM_CACHE_DIR"])
    k = cache.key("test-blob")
    assert cache.load_blob(k) is None
    cache.save_blob(k, b"\x00abc" * 1000)
    assert cache.load_blob(k) == b"\x00abc" * 1000
    # an entry of another kind under the same key (a lab's files) is not a blob
    src = Path(env["SIMCRM_CACHE_DIR"]) / "x.csv"
    src.write_text("a,b\n")
    k2 = cache.key("test-files")
    cache.save_files(k2, {"x": src})
    assert cache.load_blob(k2) is None
