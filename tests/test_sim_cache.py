"""The world cache: lazy state, its fallback, eviction, and a lab's files kept beside the world."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest

from simcrm.sim import cache, generate


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "c"
    monkeypatch.setenv("SIMCRM_CACHE_DIR", str(d))
    monkeypatch.delenv("SIMCRM_CACHE", raising=False)
    monkeypatch.delenv("SIMCRM_CACHE_MAX_MB", raising=False)
    return d


SMALL = dict(seed=11, customers=40, start="2024-01-01", today="2024-06-30")


def _tables(world):
    return {n: world.table(n).to_csv(index=False) for n in ("customer", "sales_order", "payment", "complaint")}


def test_a_restored_world_reads_its_state_only_when_it_steps(cache_dir):
    fresh = generate(**SMALL, cache=False).step(30)
    generate(**SMALL)  # fills the cache
    restored = generate(**SMALL)
    assert "_lazy" in restored.__dict__  # the model was not unpickled
    assert restored.firm == fresh.firm  # the banner's firm comes from the manifest
    assert "_lazy" in restored.__dict__
    restored.step(30)
    assert "_lazy" not in restored.__dict__
    assert _tables(restored) == _tables(fresh)


class _Boom:
    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_state_swapped_after_restore_is_never_unpickled_and_is_rebuilt(cache_dir, tmp_path):
    fresh = generate(**SMALL, cache=False).step(30)
    generate(**SMALL)
    restored = generate(**SMALL)
    # someone replaces the state file by a malicious pickle after the store was restored
    boom = _Boom()
    boom.marker = str(tmp_path / "pwned")
    pkl = next(cache_dir.glob("*.pkl"))
    pkl.write_bytes(pickle.dumps(boom))
    restored.step(30)
    assert not (tmp_path / "pwned").exists()
    assert _tables(restored) == _tables(fresh)  # the state was rebuilt by running the model again


def test_eviction_keeps_the_newest_and_refreshes_on_a_hit(cache_dir, monkeypatch):
    worlds = [dict(SMALL, seed=s) for s in (21, 22, 23)]
    generate(**worlds[0])
    generate(**worlds[1])
    assert len(list(cache_dir.glob("*.sqlite"))) == 2
    size = sum(p.stat().st_size for p in cache_dir.iterdir() if p.name != ".key")
    # a hit on the older world makes it the most recently used
    old = {p.name for p in cache_dir.glob("*.sha256")}
    time.sleep(0.05)
    assert "_lazy" in generate(**worlds[0]).__dict__
    # room for about two worlds: the third evicts the least recently used one (worlds[1])
    monkeypatch.setenv("SIMCRM_CACHE_MAX_MB", str(size * 1.2 / 1e6))
    generate(**worlds[2])
    assert len(list(cache_dir.glob("*.sqlite"))) == 2
    assert len(old & {p.name for p in cache_dir.glob("*.sha256")}) == 1
    assert "_lazy" in generate(**worlds[0]).__dict__  # kept: it was used
    assert "_lazy" not in generate(**worlds[1]).__dict__  # evicted: built again


def test_an_evicted_state_is_rebuilt(cache_dir):
    fresh = generate(**SMALL, cache=False).step(30)
    generate(**SMALL)
    restored = generate(**SMALL)
    cache.evict(max_bytes=0)
    assert not list(cache_dir.glob("*.pkl"))
    assert _tables(restored.step(30)) == _tables(fresh)


def test_evict_removes_old_temporary_files_and_never_the_entry_kept(cache_dir):
    generate(**SMALL)
    stale = cache_dir / ".abc.x.sqlite"
    stale.write_bytes(b"half a save")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh_tmp = cache_dir / ".abd.y.sqlite"
    fresh_tmp.write_bytes(b"a save in progress")
    k = next(p for p in cache_dir.glob("*.sqlite") if not p.name.startswith(".")).stem
    assert cache.evict(keep=k, max_bytes=0) == []
    assert not stale.exists() and fresh_tmp.exists()
    assert cache.evict(max_bytes=0) == [k]
    assert not list(cache_dir.glob(f"{k}.*"))


def test_chapter_files_are_kept_verified_and_copied(cache_dir, tmp_path):
    src = tmp_path / "made"
    src.mkdir()
    (src / "leads.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    cache.save_files("f1", {"leads": src / "leads.csv"})
    out = tmp_path / "lab"
    out.mkdir()
    got = cache.load_files("f1", out)
    assert got == {"leads": out / "leads.csv"} and got["leads"].read_text(encoding="utf-8") == "a,b\n1,2\n"
    # a changed copy is a miss, not a file handed to the student
    stored = next(p for p in cache_dir.iterdir() if p.suffix == ".csv")
    stored.write_text("a,b\n9,9\n", encoding="utf-8")
    other = tmp_path / "lab2"
    other.mkdir()
    assert cache.load_files("f1", other) is None and not list(other.iterdir())
    # a manifest copied to another key does not vouch for it
    (cache_dir / "f2.sha256").write_text((cache_dir / "f1.sha256").read_text(encoding="utf-8"), encoding="utf-8")
    assert cache.load_files("f2", other) is None


def test_a_lab_reads_its_files_from_the_cache_on_a_warm_start(cache_dir, monkeypatch):
    from simcrm.lab import session

    calls = []
    module = session._chapter_module("ch04")

    def counting(world, directory):  # stands in for the chapter's own (slower) file maker
        calls.append(directory)
        path = Path(directory) / "expo_leads.csv"
        path.write_text(f"{world.seed},{world.firm['name']}\n", encoding="utf-8")
        return {"expo_leads": path}

    monkeypatch.setattr(module, "build_files", counting)
    a = session.Lab("ch04", session.Student(None, "default"), 7, customers=60, quiet=True)
    b = session.Lab("ch04", session.Student(None, "default"), 7, customers=60, quiet=True)
    assert len(calls) == 1  # the second start copied the file from the cache
    assert Path(b.files.expo_leads).read_bytes() == Path(a.files.expo_leads).read_bytes()
    assert Path(b.files.expo_leads).parent == b.dir


# --- a world opened as a file: the stored SQLite file copied as it is (issue 15) -----------------

def test_a_world_file_comes_from_the_cache_as_it_was_built(cache_dir, tmp_path):
    from simcrm.store import check_file

    fresh = generate(**SMALL, db=tmp_path / "fresh.sqlite", cache=False)
    generate(**SMALL, db=tmp_path / "a.sqlite")  # fills the cache
    restored = generate(**SMALL, db=tmp_path / "b.sqlite", durable=False)
    assert "_lazy" in restored.__dict__  # served from the cache, the model not unpickled
    check_file(tmp_path / "b.sqlite")  # complete: not marked as a world being built
    assert _tables(restored) == _tables(fresh)
    assert restored.firm == fresh.firm and restored.today == fresh.today
    assert _tables(restored.step(30)) == _tables(fresh.step(30))


def test_a_damaged_stored_file_is_a_miss_and_leaves_nothing_behind(cache_dir, tmp_path):
    fresh = generate(**SMALL, cache=False)
    generate(**SMALL, db=tmp_path / "a.sqlite")
    stored = next(p for p in cache_dir.glob("*.sqlite"))
    k = stored.stem
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    assert cache.restore_file(k, tmp_path / "b.sqlite") is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".b.sqlite", "b.sqlite"))]
    rebuilt = generate(**SMALL, db=tmp_path / "c.sqlite")
    assert "_lazy" not in rebuilt.__dict__ and _tables(rebuilt) == _tables(fresh)


def test_a_world_being_built_elsewhere_is_waited_for_not_built_twice(cache_dir, tmp_path):
    import threading

    from simcrm.sim.model import SimParams
    from simcrm.sim.world import _params

    p = _params(SMALL["customers"], SMALL["start"], SMALL["today"], {})
    assert isinstance(p, SimParams)
    k = cache.key(f"{SMALL['seed']}|zh_CN|{p.key()}")
    out: dict = {}
    with cache.building(k) as waited:  # a prebuild holds the lock of this very world
        assert waited is False
        opener = threading.Thread(target=lambda: out.setdefault("w", generate(**SMALL, db=tmp_path / "lab.sqlite")))
        opener.start()
        opener.join(0.5)
        assert opener.is_alive()  # the lab waits for the build …
        generate(**SMALL)  # … which finishes and fills the cache
    opener.join(60)
    assert "_lazy" in out["w"].__dict__  # restored from what the other build saved, not built again
    assert _tables(out["w"]) == _tables(generate(**SMALL, cache=False))


def test_package_versions_in_the_key_match_the_installed_metadata():
    from importlib.metadata import version

    for mod in ("numpy", "pandas", "faker"):
        assert cache._version(mod) == version(mod)
    assert cache._version("no_such_package_simcrm") is None


def test_chapter_files_being_made_elsewhere_are_waited_for(cache_dir, monkeypatch):
    import threading

    from simcrm.lab import session

    session.Lab("ch04", session.Student(None, "default"), 8, customers=60, quiet=True)  # world and files cached
    world_key = next(p for p in cache_dir.glob("*.pkl")).stem
    files_keys = {p.name.split(".")[0] for p in cache_dir.glob("*.sha256")} - {world_key}
    assert len(files_keys) == 1
    fk = files_keys.pop()
    saved = {p.name: p.read_bytes() for p in cache_dir.glob(f"{fk}.*")}
    for p in cache_dir.glob(f"{fk}.*"):
        p.unlink()  # as if the build ahead had not saved them yet
    calls = []
    module = session._chapter_module("ch04")
    real = module.build_files
    monkeypatch.setattr(module, "build_files", lambda w, d: calls.append(d) or real(w, d))
    import contextlib

    waits = []
    real_building = cache.building

    @contextlib.contextmanager
    def recording(k):
        with real_building(k) as waited:
            waits.append((k, waited))
            yield waited

    out = {}
    with real_building(fk):  # the build ahead is making this chapter's files
        monkeypatch.setattr(cache, "building", recording)
        opener = threading.Thread(target=lambda: out.setdefault(
            "lab", session.Lab("ch04", session.Student(None, "default"), 8, customers=60, quiet=True)))
        opener.start()
        opener.join(1.0)
        assert opener.is_alive()
        for name, data in saved.items():  # … and saves them
            (cache_dir / name).write_bytes(data)
            os.chmod(cache_dir / name, 0o600)
    opener.join(60)
    assert (fk, True) in waits  # the lab waited on the lock of these very files …
    assert calls == [] and Path(out["lab"].files.expo_leads).is_file()  # … and copied them, not made them
