"""Writers of the duplicate rule's keys lock only the keys they write (PostgreSQL).

The duplicate rule (a company's normalised name, anyone's phone or e-mail, crm.customers) has no
row that stands for "this key is taken", so a writer takes a transaction-level advisory lock per
key before its check. These tests hold one user's transaction open (a real PostgreSQL server, as
the other ``postgres`` tests) and let a second user, whose connection gives up on any lock after
``lock_timeout``, write at the same time: a different key goes through without waiting (with one
lock per firm it could not), the same key waits and, once the first user committed, is refused
as a duplicate. No wall-clock time is asserted: a wait shows as PostgreSQL's ``lock_not_available``.

Writers of different keys commit in any order, so an id or audit id below the highest one a
process has seen may still appear; the last test commits out of order and checks that the
per-process name index (crm.customers._NameIndex) still learns the late row.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from simcrm.crm import CRM, normalise_name
from simcrm.errors import DuplicateError
from simcrm.store import Store

from crm_fixtures import NOW

pytestmark = pytest.mark.postgres

WHERE = {"province": "北京", "city": "北京市"}


@pytest.fixture
def world(pg_server):
    url = pg_server.fresh_schema_url()
    store = Store(url)
    admin = CRM.system(store, now=NOW)
    admin.setup_demo_org()
    rep1 = admin.as_user("rep1")
    ids = {"x": rep1.create_customer("起点商贸有限公司", **WHERE, phone="13800000001"),
           "y": rep1.create_customer("另一家商贸有限公司", **WHERE)}
    stores = []

    def user(login: str) -> CRM:
        # this user's connections give up on any lock after 1.5 s (lock_not_available): a user
        # who would wait for the other one's open transaction fails instead of hanging the test
        s = Store(url + "%20-clock_timeout%3D1500")
        stores.append(s)
        return CRM.system(s, now=NOW).as_user(login)

    yield user, ids, store
    for s in stores:
        s.close()
    store.close()


def _is_lock_timeout(exc: BaseException) -> bool:
    cause = exc if isinstance(exc, OperationalError) else exc.__cause__
    return isinstance(cause, OperationalError) and getattr(cause.orig, "sqlstate", None) == "55P03"


def _names(store: Store) -> list[str]:
    c = store.read("customer", columns=["name", "deleted"])
    return list(c.loc[~c["deleted"], "name"].map(normalise_name))


def test_writers_of_different_keys_do_not_wait_for_each_other(world):
    user, ids, store = world
    a, b = user("rep1"), user("boss")
    with a.store.transaction():  # A's rename (name key locked, duplicate check done) stays uncommitted
        a.update_customer(ids["x"], name="甲方科技有限公司", phone="13900000002")
        # B writes other keys meanwhile: no lock of A's is in the way
        new = b.create_customer("乙方科技有限公司", **WHERE, phone="13700000003", email="yi@example.com")
        b.update_customer(ids["y"], name="丙方科技有限公司")
        b.update_customer(new, phone="13700000004")
    assert sorted(_names(store)) == sorted(normalise_name(n) for n in
                                           ("甲方科技有限公司", "乙方科技有限公司", "丙方科技有限公司"))


@pytest.mark.parametrize("other", [
    {"name": "甲方科技股份有限公司"},           # the same normalised name
    {"name": "别的名字有限公司", "phone": "13900000002"},  # the same phone
])
def test_a_writer_of_the_same_key_waits_and_is_then_refused(world, other):
    user, ids, store = world
    a, b = user("rep1"), user("boss")
    before = store.count("customer")
    with a.store.transaction():
        a.update_customer(ids["x"], name="甲方科技有限公司", phone="13900000002")
        with pytest.raises(Exception) as info:  # B waits for A's key lock, and gives up
            b.create_customer(other["name"], **WHERE, **{k: v for k, v in other.items() if k != "name"})
        assert _is_lock_timeout(info.value), repr(info.value)
        with pytest.raises(Exception) as info:  # a rename onto A's key waits too
            b.update_customer(ids["y"], **other)
        assert _is_lock_timeout(info.value), repr(info.value)
    # A committed: B now sees A's row and is refused; nothing of B's was written
    with pytest.raises(DuplicateError):
        b.create_customer(other["name"], **WHERE, **{k: v for k, v in other.items() if k != "name"})
    with pytest.raises(DuplicateError):
        b.update_customer(ids["y"], **other)
    assert store.count("customer") == before
    assert store.get("customer", ids["y"])["name"] == "另一家商贸有限公司"


def test_a_rename_committed_after_a_later_one_is_still_a_duplicate(world):
    """A renames first and commits last (its audit rows have the lower ids); B creates with its own
    code (no code counter shared with A) and commits first. C's name index read in between
    must still learn A's name and A's late insert."""
    user, ids, store = world
    a, b, c = user("rep1"), user("rep2"), user("boss")
    c.create_customer("丁方科技有限公司", **WHERE)  # C's index has read the names once
    with a.store.transaction():
        a.update_customer(ids["x"], name="戊方科技有限公司")
        a.create_customer("己方科技有限公司", **WHERE, code="KH-LATE-1")
        b.create_customer("庚方科技有限公司", **WHERE, code="KH-EARLY-1")  # commits before A
        c.create_customer("辛方科技有限公司", **WHERE)  # C's index learns what is committed now
    for name in ("戊方科技股份有限公司", "己方科技股份有限公司", "庚方科技股份有限公司"):
        with pytest.raises(DuplicateError):
            c.create_customer(name, **WHERE)
    keys = _names(store)
    assert len(keys) == len(set(keys))
