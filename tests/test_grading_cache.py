"""The world cache never unpickles what someone else could have written (issue 16)."""

from __future__ import annotations

import os
import pickle
import sqlite3
import stat

import pytest

from simcrm.sim import cache


class _Boom:
    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "c"
    monkeypatch.setenv("SIMCRM_CACHE_DIR", str(d))
    monkeypatch.delenv("SIMCRM_CACHE", raising=False)
    return d


def _db():
    con = sqlite3.connect(":memory:")
    con.execute("create table t (x int)")
    con.execute("insert into t values (42)")
    con.commit()
    return con


def _load(k):
    target = sqlite3.connect(":memory:")
    state = cache.load(k, target)
    return state, target


def test_round_trip_and_private_files(cache_dir):
    cache.save("k1", _db(), {"a": 1})
    state, target = _load("k1")
    assert state == {"a": 1} and target.execute("select x from t").fetchone() == (42,)
    key_mode = stat.S_IMODE((cache_dir / ".key").stat().st_mode)
    assert key_mode == 0o600
    assert stat.S_IMODE((cache_dir / "k1.pkl").stat().st_mode) == 0o600


def test_a_planted_entry_is_never_unpickled(cache_dir, tmp_path):
    cache.save("k1", _db(), {"a": 1})  # the folder and the user's key exist
    marker = tmp_path / "pwned"
    boom = _Boom()
    boom.marker = str(marker)
    # someone writes an entry for another key: a valid store, a malicious state, a made-up manifest
    (cache_dir / "k2.sqlite").write_bytes((cache_dir / "k1.sqlite").read_bytes())
    (cache_dir / "k2.pkl").write_bytes(pickle.dumps(boom))
    (cache_dir / "k2.sha256").write_text("0" * 64)
    assert _load("k2")[0] is None
    assert not marker.exists()
    # a copy of a genuine manifest does not vouch for other content either
    (cache_dir / "k2.sha256").write_text((cache_dir / "k1.sha256").read_text())
    assert _load("k2")[0] is None and not marker.exists()


def test_files_others_may_write_are_refused(cache_dir):
    cache.save("k1", _db(), {"a": 1})
    assert _load("k1")[0] == {"a": 1}
    os.chmod(cache_dir / "k1.pkl", 0o666)
    assert _load("k1")[0] is None
    os.chmod(cache_dir / "k1.pkl", 0o600)
    os.chmod(cache_dir, 0o777)
    assert _load("k1")[0] is None
    cache.save("k3", _db(), {"b": 2})  # nor is anything written into such a folder
    assert not (cache_dir / "k3.pkl").exists()
    os.chmod(cache_dir, 0o700)
    assert _load("k1")[0] == {"a": 1}
