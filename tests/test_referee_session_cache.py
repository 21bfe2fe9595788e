"""The referee's session cache never judges an answer on a stale read of the student's database.

The referee keeps one evaluation context per chapter and the student's tables while SQLite says
the database is unchanged (``PRAGMA data_version`` of a read-only watcher connection, and the
file's identity). Each test first shows the cache at work (an answer judged again with nothing
changed reads none of the student's tables), then makes one kind of change and checks that the
very next answer is judged on the new state: the answer that was right before is now wrong, and
the answer computed afresh on the kernel's side is right. A cache that ignored the change would
still accept the old answer.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CUSTOMERS = 200


@pytest.fixture()
def session(tmp_path, monkeypatch):
    from simcrm.lab.identity import Student
    from simcrm.lab.referee import Referee
    from simcrm.lab.session import Lab
    from simcrm.store import Store

    monkeypatch.setenv("SIMCRM_CACHE_DIR", str(tmp_path / "cache"))
    lab = Lab("ch04", Student("stu_cache", "explicit"), 5151, customers=CUSTOMERS, quiet=True)
    referee = Referee("stu_cache", 5151, CUSTOMERS)
    path = str(lab.dir / "world.sqlite")
    reads: list[str] = []
    real_read = Store.read

    def counting_read(self, table, **kwargs):
        if self.path is not None and str(self.path) == path:
            reads.append(table)
        return real_read(self, table, **kwargs)

    monkeypatch.setattr(Store, "read", counting_read)
    s = _Session(lab, referee, path, reads)
    try:
        yield s
    finally:
        referee.close()
        lab.store.close()
        if lab._pristine is not None:
            lab._pristine.close()


class _Session:
    def __init__(self, lab, referee, path, reads) -> None:
        self.lab, self.referee, self.path, self.reads = lab, referee, path, reads

    def answer(self):
        """The status-type table computed afresh on the kernel's own store (nothing kept there)."""
        from simcrm.lab.chapters import ch04

        out = ch04.status_type_table(self.lab.context())
        self.reads.clear()
        return out

    def ok(self, answer) -> bool:
        return self.referee.judge("ch04.status_types", answer, self.path)["ok"]

    def judged_again_without_reading(self, answer) -> None:
        """The cache is at work: nothing changed, the same answer is judged without a read."""
        assert self.ok(answer)
        self.reads.clear()
        assert self.ok(answer)
        assert self.reads == [], self.reads

    def customer_to_drop(self, answer, *, nth: int = 0) -> int:
        return int(answer["customer_id"].iloc[nth])


def _other_process(path: str, sql: str) -> None:
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10); "
            "[c.execute(s) for s in sys.argv[2].split(';') if s.strip()]; c.close()")
    subprocess.run([sys.executable, "-c", code, path, sql], check=True, capture_output=True, text=True)


def test_an_in_place_update_from_another_process_is_seen(session):
    a0 = session.answer()
    session.judged_again_without_reading(a0)
    victim = session.customer_to_drop(a0)
    # same row count, same file size: only SQLite's own bookkeeping says something changed
    _other_process(session.path, f"UPDATE customer SET deleted = 1 WHERE id = {victim}")
    assert not session.ok(a0)  # one customer too many now
    a1 = session.answer()
    assert victim not in set(a1["customer_id"]) and len(a1) == len(a0) - 1
    assert session.ok(a1)


def test_a_crm_write_in_the_kernel_process_is_seen(session):
    a0 = session.answer()
    session.judged_again_without_reading(a0)
    cid = session.lab.crm.create_customer("星河数据科技有限公司", kind="企业", industry="信息技术服务", source="展会",
                                          province="浙江省", city="杭州市", phone="0571-88886666")
    assert not session.ok(a0)  # the new customer is missing from the old answer
    a1 = session.answer()
    assert cid in set(a1["customer_id"]) and session.ok(a1)
    assert session.referee.judge("ch04.new_person", None, session.path)["ok"] is False


def test_a_rolled_back_transaction_is_not_seen_and_a_commit_with_it_is(session):
    a0 = session.answer()
    session.judged_again_without_reading(a0)
    committed, rolled_back = session.customer_to_drop(a0, nth=0), session.customer_to_drop(a0, nth=1)
    _other_process(session.path, f"UPDATE customer SET deleted = 1 WHERE id = {committed}")

    def drop_then_fail():
        with session.lab.store.transaction() as conn:  # the kernel's own connection
            conn.exec_driver_sql(f"UPDATE customer SET deleted = 1 WHERE id = {rolled_back}")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        drop_then_fail()
    a1 = session.answer()
    assert committed not in set(a1["customer_id"]) and rolled_back in set(a1["customer_id"])
    assert not session.ok(a0)  # the committed change is seen
    assert session.ok(a1)  # and the rolled-back one is not
    wrong = a1[a1["customer_id"] != rolled_back]
    assert not session.ok(wrong)
    session.judged_again_without_reading(a1)  # a rollback alone changes nothing: kept


def test_a_checkpointed_wal_is_seen(session):
    a0 = session.answer()
    session.judged_again_without_reading(a0)
    victim = session.customer_to_drop(a0)
    con = sqlite3.connect(session.path, isolation_level=None)
    try:
        con.execute("UPDATE customer SET deleted = 1 WHERE id = ?", (victim,))
        # the change folded into the database file and the WAL emptied before the next answer
        assert con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    finally:
        con.close()
    assert not session.ok(a0)
    a1 = session.answer()
    assert session.ok(a1)
    session.judged_again_without_reading(a1)


def test_a_replaced_file_is_seen_and_the_new_files_wal_survives_the_old_watcher(session):
    """``lab.reset()`` builds a new file at the same path. The referee's watcher of the old file
    is closed when the next answer sees the new file; closing it must not touch the new file's
    ``-wal`` (same name), and the new file must not replay the old file's WAL."""
    lab = session.lab
    cid = lab.crm.create_customer("林晓", kind="个人", source="客户介绍", province="浙江省", city="宁波市",
                                  phone="13800571234")
    a0 = session.answer()
    assert cid in set(a0["customer_id"])
    session.judged_again_without_reading(a0)
    assert session.referee.judge("ch04.new_person", None, session.path)["ok"] is True
    lab.reset()
    # the new world is the world as generated: nothing of the old file's WAL in it
    assert cid not in set(lab.table("customer")["id"])
    assert len(lab.table("customer")) == len(lab.pristine.read("customer"))
    assert not session.ok(a0)
    assert session.referee.judge("ch04.new_person", None, session.path)["ok"] is False
    # a write to the new file, still in its WAL (the kernel keeps its connection), while the
    # referee drops its watcher of the old file
    cid2 = lab.crm.create_customer("林晓", kind="个人", source="客户介绍", province="浙江省", city="宁波市",
                                   phone="13800571234")
    assert session.referee.judge("ch04.new_person", None, session.path)["ok"] is True
    a1 = session.answer()
    assert cid2 in set(a1["customer_id"]) and session.ok(a1)
    assert len(session.referee._stores) == 1
    con = sqlite3.connect(session.path)
    try:  # any new connection still sees the kernel's committed write
        assert con.execute("SELECT count(*) FROM customer WHERE id = ?", (cid2,)).fetchone()[0] == 1
    finally:
        con.close()


def test_a_change_while_an_answer_is_judged_keeps_nothing(session, monkeypatch):
    """A commit between the referee's look before an answer and its look after it: what was
    read for that answer is not kept, so the next answer reads again."""
    from simcrm.lab.chapters import ch04

    a0 = session.answer()
    victim = session.customer_to_drop(a0)
    real = ch04.status_types

    def committing(*args, **kwargs):  # another process commits in the middle of the judging
        _other_process(session.path, f"UPDATE customer SET deleted = 1 WHERE id = {victim}")
        return real(*args, **kwargs)

    monkeypatch.setattr(ch04, "status_types", committing)
    assert session.ok(a0)  # judged on what it read before the commit
    monkeypatch.setattr(ch04, "status_types", real)
    assert not session.ok(a0)  # not kept: read again, the change seen
    assert session.ok(session.answer())


def test_kept_values_are_handed_out_as_copies():
    """A question that changes what ``ctx.once`` or a kept read gave it cannot change what the
    next question gets."""
    import pandas as pd

    from simcrm.lab.questions import Context

    ctx = Context(pristine=None, store=None)
    frame = ctx.once("f", lambda: {"t": pd.DataFrame({"x": [1, 2]}), "l": [1, 2]})
    frame["t"].loc[0, "x"] = 99
    frame["l"].append(3)
    again = ctx.once("f", lambda: None)
    assert again["t"]["x"].tolist() == [1, 2] and again["l"] == [1, 2]
    kept = ctx.once("p", lambda: pd.Series([1, 2]), pristine=True)
    kept[0] = 5
    assert ctx.once("p", lambda: None, pristine=True).tolist() == [1, 2]


def test_a_pristine_only_value_may_not_read_the_students_database():
    """``ctx.once(..., pristine=True)`` values outlive the student's changes, so a build that
    uses the student's database is refused instead of kept."""
    from simcrm.lab.questions import Context

    ctx = Context(pristine=object(), store=object())
    store = ctx.store
    assert ctx.once("k", lambda: 1, pristine=True) == 1
    with pytest.raises(RuntimeError, match="k2"):
        ctx.once("k2", lambda: ctx.store.read("customer"), pristine=True)
    assert "k2" not in ctx.kept and ctx.store is store
    ctx.cache.clear()
    assert ctx.once("k", lambda: 2, pristine=True) == 1  # kept whatever the student does


def test_values_computed_from_the_students_database_are_dropped_at_a_change(session):
    """``ctx.once`` values (without ``pristine=True``) live in the session's context only while
    the student's database is unchanged."""
    from simcrm.lab.questions import QUESTIONS, calculation

    built: list[int] = []

    def count(ctx):
        def build():
            built.append(1)
            return {"n": int((~ctx.store.read("customer")["deleted"]).sum())}
        return ctx.once("test.live_customers", build)["n"]

    calculation("ch04.test_live_customers", points=1)(count)
    try:
        n0 = len(session.lab.table("customer").query("not deleted"))
        judge = lambda n: session.referee.judge("ch04.test_live_customers", n, session.path)["ok"]  # noqa: E731
        assert judge(n0) and judge(n0) and len(built) == 1  # kept while unchanged
        _other_process(session.path, "UPDATE customer SET deleted = 1 WHERE id = (SELECT min(id) FROM customer "
                                     "WHERE deleted = 0)")
        assert not judge(n0) and judge(n0 - 1) and len(built) == 2
    finally:
        QUESTIONS.pop("ch04.test_live_customers", None)


def test_a_damaged_students_database_gets_the_clear_message(session):
    """The student's file is still checked page by page when the referee first opens it: a
    damaged one is refused with simcrm's Chinese message, not SQLite's own error."""
    from simcrm.store import WorldFileError

    lab = session.lab
    lab.store.close()
    size = os.path.getsize(session.path)
    with open(session.path, "r+b") as fh:  # garbage over pages in the middle, the header intact
        fh.seek(size // 2 - (size // 2) % 4096)
        fh.write(b"\xff" * 8192)
    with pytest.raises(WorldFileError, match="文件已损坏"):
        session.referee.judge("ch04.status_types", [], session.path)


def test_kept_reads_are_named_by_their_values_and_a_condition_is_never_kept(session):
    """A read is kept under a name of its arguments' values: reads that differ only in a value
    (a numpy integer, a date, a set) are different reads, and a read with an SQL condition —
    whose text leaves out the value it compares with — is read afresh every time."""
    import datetime as dt

    import numpy as np

    from simcrm.lab.referee import _read_key, _ReadOnce
    from simcrm.store import schema

    kept = _ReadOnce(session.lab.pristine)
    c = schema.metadata.tables["customer"].c
    assert len(kept.read("customer", condition=c.id > 10)) != len(kept.read("customer", condition=c.id > 150))
    assert _read_key(("customer",), {"condition": c.id > 10}) is None
    assert _read_key(("x",), {"where": {"id": np.int64(3)}}) == _read_key(("x",), {"where": {"id": 3}})
    assert _read_key(("x",), {"where": {"d": dt.date(2025, 1, 2)}}) != _read_key(("x",), {"where": {"d": "2025-01-02"}})
    assert _read_key(("x",), {"where": {"id": {1, 2}}}) != _read_key(("x",), {"where": {"id": {1, 3}}})
    one = kept.read("customer", where={"id": np.int64(5)})
    assert one["id"].tolist() == [5] and kept.read("customer", where={"id": 6})["id"].tolist() == [6]
