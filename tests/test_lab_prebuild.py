"""Worlds built ahead (simcrm.lab.prebuild): the first start() finds the student's world ready (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcrm.lab import prebuild as P
from simcrm.lab import session


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMCRM_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("SIMCRM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SIMCRM_CACHE", raising=False)
    monkeypatch.delenv("SIMCRM_STUDENT", raising=False)
    monkeypatch.delenv("SIMCRM_COURSE_SALT", raising=False)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _count_builds(monkeypatch):
    import simcrm.sim.world as W

    built = []
    real = W.World._run

    def counting(self, *a, **k):
        built.append(self.seed)
        return real(self, *a, **k)

    monkeypatch.setattr(W.World, "_run", counting)
    return built


def test_start_after_a_prebuild_restores_the_students_world_and_files(env, monkeypatch):
    session.set_student("pb_001", quiet=True)
    assert P.prebuild(["ch04"], customers=60) == ["ch04"]
    built = _count_builds(monkeypatch)
    lab = session.start("ch04", customers=60, quiet=True)
    assert built == []  # nothing generated: the world came from the cache
    assert lab.student.id == "pb_001" and lab.seed == session.world_seed("pb_001")
    assert Path(lab.files.expo_leads).is_file()
    # the same world as a build without any cache
    monkeypatch.setenv("SIMCRM_CACHE", "0")
    fresh = session.start("ch04", customers=60, quiet=True)
    assert built == [lab.seed]
    for t in ("customer", "contact", "employee"):
        assert lab.table(t).equals(fresh.table(t))
    assert Path(lab.files.expo_leads).read_bytes() == Path(fresh.files.expo_leads).read_bytes()


def test_a_prebuild_for_another_world_does_not_serve_this_one(env, monkeypatch):
    P.prebuild(["ch04"], customers=60)  # the default world (no 学号 saved)
    built = _count_builds(monkeypatch)
    lab = session.start("ch04", student="pb_other", customers=60, quiet=True)
    assert built == [lab.seed] and lab.seed != session.world_seed(None)


def test_bad_chapters_are_refused_and_off_switches_are_kept(env, monkeypatch):
    from simcrm.errors import UnknownValueError

    with pytest.raises(UnknownValueError) as info:
        P.prebuild(["ch99"])
    assert "ch99" in str(info.value)
    monkeypatch.setenv("SIMCRM_PREBUILD", "0")
    assert P.start_prebuild(["ch04"]) is None
    monkeypatch.setenv("SIMCRM_PREBUILD", "1")
    monkeypatch.setenv("SIMCRM_CACHE", "0")
    assert P.start_prebuild(["ch04"]) is None and P.prebuild(["ch04"]) == []
    assert not (env / "c").exists()


def test_the_cli_refuses_a_prebuild_without_a_cache(env, monkeypatch):
    from click.testing import CliRunner

    from simcrm.cli import main

    monkeypatch.setenv("SIMCRM_CACHE", "0")
    result = CliRunner().invoke(main, ["prebuild", "ch04", "--wait"])
    assert result.exit_code == 2 and "SIMCRM_CACHE" in result.output


def _count_prepares(monkeypatch, chapter):
    module = session._chapter_module(chapter)
    calls = []
    real = module.prepare_world

    def counting(world):
        calls.append(world.seed)
        return real(world)

    monkeypatch.setattr(module, "prepare_world", counting)
    return calls


def test_a_prepared_world_is_kept_and_copied_as_it_was_prepared(env, monkeypatch):
    calls = _count_prepares(monkeypatch, "ch05")
    first = session.start("ch05", customers=60, quiet=True)
    again = session.start("ch05", customers=60, quiet=True)
    assert len(calls) == 1  # the second start copied the prepared world
    assert "_lazy" in again.world.__dict__
    monkeypatch.setenv("SIMCRM_CACHE", "0")
    fresh = session.start("ch05", customers=60, quiet=True)
    assert len(calls) == 2
    for t in ("contact", "customer", "employee", "role"):
        assert again.table(t).equals(fresh.table(t)) and first.table(t).equals(fresh.table(t))
    # the world goes on from the same model state
    again.next_quarter()
    fresh.next_quarter()
    for t in ("sales_order", "contact", "complaint"):
        assert again.table(t).equals(fresh.table(t))


def test_a_chapter_that_keeps_something_on_the_world_is_prepared_each_time(env, monkeypatch):
    calls = _count_prepares(monkeypatch, "ch07")
    session.start("ch07", customers=60, quiet=True)
    lab = session.start("ch07", customers=60, quiet=True)
    assert len(calls) == 2 and hasattr(lab.world, "_ch07_response")


def test_the_first_start_builds_the_other_chapters_once_and_never_during_autograde(env, monkeypatch):
    from types import SimpleNamespace

    started = []
    monkeypatch.setattr(P, "start_prebuild", lambda chapters=None, student=None, **k: started.append((chapters, student)) or "p")
    monkeypatch.setenv("SIMCRM_PREBUILD", "1")
    (env / "c").mkdir()

    def lab(**kw):  # what after_start reads of a Lab (a full-size world is slow to build here)
        spec = dict(customers=None, salt=None, seed=123, chapter="ch04", student=session.Student("pb_002", "saved"))
        return SimpleNamespace(**{**spec, **kw})

    assert P.after_start(lab()) == "p"
    assert started == [([c for c in P.DEFAULT_CHAPTERS if c != "ch04"], "pb_002")]
    assert P.after_start(lab()) is None and len(started) == 1  # once per world
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert P.after_start(lab(seed=124)) is None
    monkeypatch.delenv("NBGRADER_EXECUTION")
    assert P.after_start(lab(seed=124, customers=60)) is None  # not the chapters' own size
    assert P.after_start(lab(seed=124, salt="s")) is None  # a salt never goes on a command line
    monkeypatch.setenv("SIMCRM_PREBUILD", "0")
    assert P.after_start(lab(seed=124)) is None
    monkeypatch.setenv("SIMCRM_PREBUILD", "1")
    assert len(started) == 1
    assert P.after_start(lab(seed=124)) == "p" and started[-1][1] == "pb_002" and len(started) == 2


def test_start_asks_for_the_build_of_the_other_chapters(env, monkeypatch):
    asked = []
    monkeypatch.setattr(P, "after_start", lambda lab: asked.append(lab.chapter))
    session.start("ch04", customers=60, quiet=True)
    assert asked == ["ch04"]
