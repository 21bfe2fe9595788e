"""Row-level security of a shared PostgreSQL world: the database, not simcrm's Python, enforces roles.

A small firm (``crm_fixtures.small_world``: boss 全部, mgr1 本部门 over rep1/rep2, rep3 in another
team) is put on the real PostgreSQL server of ``tests/conftest.py``; ``pg_security.install`` adds
the policies, grants and triggers and each employee gets their own LOGIN role. Then each person
connects as that role and uses raw SQL (no simcrm code between them and the database):

* what each sees, table by table, equals what crm's own scope condition selects for them
  (the two computed independently: SQL policies as the role vs. ``CRM.scope_condition`` as owner);
* another rep's customers and their records cannot be read, changed, deleted or added to;
* ``audit_log`` cannot be written, changed or deleted, and the organisation (roles, employees …)
  cannot be changed, so nobody grants themself a wider scope;
* a change made by raw SQL is audited by the database with the acting employee and role.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from simcrm.crm import CRM
from simcrm.crm.base import PARENT, TABLE_MODULE, _SCOPED
from simcrm.store import Store, pg_security, schema

from crm_fixtures import small_world

pytestmark = pytest.mark.postgres

from simcrm import reference

KIND = reference.state_values("activity_kind")[0]
LOGINS = ("boss", "mgr1", "rep1", "rep2", "rep3")


@pytest.fixture(scope="module")
def shared(pg_server):
    """The small world on PostgreSQL with RLS installed and one login per employee (one for the
    module: each test leaves it consistent; the refusals change nothing, which they assert)."""
    url = pg_server.fresh_schema_url()
    schema_name = url.rsplit("%3D", 1)[1]
    store = Store(url)
    w = small_world(store)
    group = pg_security.group_name(schema_name)
    roles = {login: pg_security.role_name(schema_name, login) for login in LOGINS}
    with store.engine.begin() as conn:
        pg_security.install(conn, group)
        for login, role in roles.items():
            emp = conn.execute(sa.text("SELECT id FROM employee WHERE login = :l"), {"l": login}).scalar_one()
            pg_security.create_login(conn, group, role, f"pw-{login}", emp, student=login)
    engines: dict[str, sa.Engine] = {}

    def engine_of(login: str) -> sa.Engine:
        if login not in engines:
            u = sa.engine.make_url(pg_server.url).set(username=roles[login], password=f"pw-{login}")
            engines[login] = sa.create_engine(u, connect_args={"options": f"-csearch_path={schema_name}"})
        return engines[login]

    w.roles, w.engine_of, w.url, w.schema_name = roles, engine_of, url, schema_name
    yield w
    for e in engines.values():
        e.dispose()
    store.close()
    owner = sa.create_engine(pg_server.url)
    with owner.begin() as conn:
        conn.exec_driver_sql(f"SET search_path = {schema_name}")
        pg_security.drop_logins(conn, group)
    owner.dispose()


def _ids(engine: sa.Engine, table: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(f'SELECT id FROM "{table}"')).scalars())


def _owner_ids(store: Store, table: str, condition=None) -> set[int]:
    t = schema.metadata.tables[table]
    q = sa.select(t.c.id) if condition is None else sa.select(t.c.id).where(condition)
    with store.engine.connect() as conn:
        return set(conn.execute(q).scalars())


def _history_condition(crm: CRM, table: str):
    """crm's rule for reading rows of ``table``: its scope condition; for the audit log also the
    module rule of ``audit``: a record's history needs the read right on the record's module,
    all history the 系统管理 read right."""
    cond = crm.scope_condition(table)
    if table != "audit_log" or crm.can("system", "read"):
        return cond
    log = schema.metadata.tables["audit_log"]
    readable = log.c.table_name.in_([t for t in schema.TABLES if crm.can(TABLE_MODULE[t], "read")])
    return readable if cond is None else sa.and_(cond, readable)


def test_each_role_sees_by_sql_what_crm_scope_selects(shared):
    """For every login and every table with a data scope, raw SQL as the role returns exactly the
    ids that crm's scope condition selects when the owner evaluates it for that employee (the
    audit log: also only the history of modules the role may read)."""
    store = shared.store
    tables = sorted({*_SCOPED, "audit_log"})
    for login in LOGINS:
        crm = CRM(store, user=login)
        for table in tables:
            expected = _owner_ids(store, table, _history_condition(crm, table))
            got = _ids(shared.engine_of(login), table)
            assert got == expected, (login, table, sorted(got ^ expected)[:10])
    # the rule is not vacuous: reps see only part of the customers, the boss all of them
    every = _owner_ids(store, "customer")
    rep1, rep3, mgr1 = (_ids(shared.engine_of(x), "customer") for x in ("rep1", "rep3", "mgr1"))
    assert rep1 and rep1 < every and not rep1 & rep3
    assert rep1 < mgr1 and not mgr1 & rep3
    assert _ids(shared.engine_of("boss"), "customer") == every


def test_audit_rows_each_login_reads_are_the_per_table_rule(shared):
    """The audit rows each login reads by SQL (the policy's CASE on the row's table) are exactly
    those of the rule written out table by table, computed here without crm's audit_log
    condition: history of modules the role may read (all with 系统管理 read); of a table without
    a scope, every row; of a scoped table, the rows of the records that table's own scope
    condition selects; a role seeing every customer, all. crm.audit of one record through the
    login gives the same rows as the teacher's connection."""
    store = shared.store
    with store.engine.connect() as conn:
        log = conn.execute(sa.text("SELECT id, table_name, row_id FROM audit_log")).all()
    sizes = {}
    for login in LOGINS:
        crm = CRM(store, user=login)
        readable = {t for t in schema.TABLES if crm.can("system", "read") or crm.can(TABLE_MODULE[t], "read")}
        every = crm.scope_condition("customer") is None
        visible = {t: _owner_ids(store, t, crm.scope_condition(t)) for t in _SCOPED}
        expected = {i for i, table, row in log if table in readable
                    and (every or table not in _SCOPED or row in visible[table])}
        got = _ids(shared.engine_of(login), "audit_log")
        assert got == expected, (login, sorted(got ^ expected)[:10])
        sizes[login] = len(got)
        if crm.can("customer", "read"):
            cid = min(visible["customer"])
            u = sa.engine.make_url(shared.url).set(username=shared.roles[login], password=f"pw-{login}", query={})
            through = CRM(Store(u.render_as_string(hide_password=False), create=False), user=login)  # own search_path
            try:
                pd.testing.assert_frame_equal(through.audit("customer", cid), crm.audit("customer", cid))
            finally:
                through.store.close()
    assert sizes["rep1"] < sizes["mgr1"] < sizes["boss"] == len(log)  # not vacuous


def test_sharing_a_customer_shows_it_to_the_sharee(shared):
    """A customer shared with rep3 becomes visible to rep3's raw SQL, with its records."""
    before = _ids(shared.engine_of("rep3"), "customer")
    assert shared.c1 not in before
    shared.as_rep1.share_customer(shared.c1, "rep3")
    assert _ids(shared.engine_of("rep3"), "customer") == before | {shared.c1}
    contacts = _owner_ids(shared.store, "contact", sa.text(f"customer_id = {int(shared.c1)}"))
    assert contacts and contacts <= _ids(shared.engine_of("rep3"), "contact")


def test_another_reps_customers_cannot_be_read_changed_or_added_to(shared):
    store, c1 = shared.store, shared.c1  # c1 is rep1's customer
    before = store.snapshot()
    rep2 = shared.engine_of("rep2")
    with rep2.begin() as conn:
        assert conn.execute(sa.text("SELECT id, name FROM customer WHERE id = :i"), {"i": c1}).first() is None
        assert conn.execute(sa.text("SELECT count(*) FROM contact WHERE customer_id = :i"), {"i": c1}).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM payment WHERE order_id = :o"),
                            {"o": shared.order1}).scalar() == 0
        assert conn.execute(sa.text("UPDATE customer SET name = 'x', owner_id = :me WHERE id = :i"),
                            {"i": c1, "me": shared.rep2}).rowcount == 0
        assert conn.execute(sa.text("UPDATE sales_order SET total_amount = 1 WHERE customer_id = :i"),
                            {"i": c1}).rowcount == 0
        assert conn.execute(sa.text("UPDATE payment SET amount = 1 WHERE order_id = :o"), {"o": shared.order1}).rowcount == 0
    for table in ("contact", "activity"):  # deleting: refused outright without the module's delete right
        with rep2.begin() as conn:
            delete = sa.text(f"DELETE FROM {table} WHERE customer_id = :i")
            if CRM(store, user="rep2").can(TABLE_MODULE[table], "delete"):
                assert conn.execute(delete, {"i": c1}).rowcount == 0
            else:
                with pytest.raises(DBAPIError, match="permission denied"):
                    conn.execute(delete, {"i": c1})
    # adding a record under rep1's customer, or moving rep2's own record there, is refused
    with pytest.raises(DBAPIError, match="row-level security"):
        with rep2.begin() as conn:
            conn.execute(sa.text("INSERT INTO contact (customer_id, name, status, created_at) "
                                 "VALUES (:i, '钱七', '联系人', now())"), {"i": c1})
    with pytest.raises(DBAPIError, match="row-level security"):
        with rep2.begin() as conn:
            conn.execute(sa.text("UPDATE contact SET customer_id = :i WHERE id = :k"), {"i": c1, "k": shared.k3})
    # nor share rep1's customer with themself, nor create a customer in another rep's name
    with pytest.raises(DBAPIError, match="row-level security"):
        with rep2.begin() as conn:
            conn.execute(sa.text("INSERT INTO customer_share (customer_id, employee_id, shared_at, shared_by) "
                                 "VALUES (:i, :me, now(), :me)"), {"i": c1, "me": shared.rep2})
    with pytest.raises(DBAPIError, match="row-level security"):
        with rep2.begin() as conn:
            conn.execute(sa.text("INSERT INTO customer (code, name, kind, source, province, city, owner_id, hot, "
                                 "lifecycle, created_at, deleted) SELECT 'KH-X', 'x', kind, source, province, city, "
                                 ":other, hot, lifecycle, now(), deleted FROM customer WHERE id = :mine"),
                         {"other": shared.rep1, "mine": shared.c3})
    assert store.snapshot() == before


@pytest.mark.parametrize("sql", [
    "INSERT INTO audit_log (at, employee_id, action, table_name, row_id) VALUES (now(), 1, '删除', 'customer', 1)",
    "UPDATE audit_log SET new_value = 'forged'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "UPDATE role SET data_scope = '全部'",
    "UPDATE employee SET role_id = (SELECT role_id FROM employee WHERE login = 'boss')",
    "INSERT INTO role_right (role_id, module, can_create, can_read, can_update, can_delete) "
    "VALUES (1, 'customer', true, true, true, true)",
    "DELETE FROM department",
    "INSERT INTO classroom_login (db_role, employee_id) VALUES ('x', 1)",
    "UPDATE classroom_login SET employee_id = 1",
    "DROP TABLE customer",
    "ALTER TABLE customer DISABLE ROW LEVEL SECURITY",
    "SET ROLE postgres",
])
def test_history_and_organisation_cannot_be_rewritten(shared, sql):
    """Each statement is refused for a student login, and nothing changes."""
    before = shared.store.snapshot()
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner|学生账号不能修改|insufficient"):
        with shared.engine_of("rep1").begin() as conn:
            conn.exec_driver_sql(sql)
    assert shared.store.snapshot() == before


def test_raw_sql_change_is_audited_by_the_database(shared):
    store = shared.store
    old_phone = store.get("customer", shared.c1)["phone"]
    last = _owner_ids(store, "audit_log")
    with shared.engine_of("rep1").begin() as conn:
        conn.execute(sa.text("UPDATE customer SET phone = '010-88886666' WHERE id = :i"), {"i": shared.c1})
        conn.execute(sa.text("UPDATE customer SET phone = '010-1' WHERE id = :i"), {"i": shared.c3})  # rep2's: no row
        channel = conn.execute(sa.text("SELECT id FROM dictionary WHERE list_name = 'channel' ORDER BY id")).first()[0]
        new_id = conn.execute(sa.text("INSERT INTO activity (customer_id, employee_id, channel, kind, subject, activity_time) "
                                      "VALUES (:i, :e, :c, :k, '回访', now()) RETURNING id"),
                              {"i": shared.c1, "e": shared.rep1, "c": channel, "k": KIND}).scalar_one()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT employee_id, db_role, action, table_name, row_id, field, old_value, new_value "
                                    "FROM audit_log WHERE id > :m ORDER BY id"), {"m": max(last)}).mappings().all()
    assert [dict(r) for r in rows] == [
        {"employee_id": shared.rep1, "db_role": shared.roles["rep1"], "action": "修改", "table_name": "customer",
         "row_id": shared.c1, "field": "phone", "old_value": old_phone, "new_value": "010-88886666"},
        {"employee_id": shared.rep1, "db_role": shared.roles["rep1"], "action": "新建", "table_name": "activity",
         "row_id": new_id, "field": None, "old_value": None, "new_value": "回访"},
    ]
    assert store.get("customer", shared.c3)["phone"] != "010-1"


def test_simcrm_through_a_student_login_is_held_to_the_login(shared, pg_server):
    """simcrm itself, connected as rep1's login: its operations work and are audited once, by the
    database; claiming to be the boss in Python still shows only rep1's customers."""
    u = sa.engine.make_url(pg_server.url).set(username=shared.roles["rep1"], password="pw-rep1")
    student = Store(u.render_as_string(hide_password=False), create=False)
    try:
        assert student.audited_by_database
        rep1 = CRM(student, user="rep1")
        cid = rep1.create_customer("成都蓉城软件有限公司", province="四川", city="成都市")
        rep1.log_activity(cid, "首次拜访", channel="面谈")
        with shared.store.engine.connect() as conn:
            made = conn.execute(sa.text("SELECT employee_id, db_role FROM audit_log WHERE table_name = 'customer' "
                                        "AND row_id = :i AND action = '新建'"), {"i": cid}).all()
        assert made == [(shared.rep1, shared.roles["rep1"])]
        pretender = CRM(student, user="boss")  # Python believes it; the database does not
        seen = set(pretender.list("customer")["id"])
        assert seen == _ids(shared.engine_of("rep1"), "customer") - _deleted(shared.store)
        assert seen < _owner_ids(shared.store, "customer")
    finally:
        student.close()


def _deleted(store: Store) -> set[int]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT id FROM customer WHERE deleted")).scalars())


def test_every_scoped_table_has_policies(shared):
    with shared.store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT tablename, cmd FROM pg_policies WHERE schemaname = :s"),
                            {"s": shared.schema_name}).all()
    have: dict[str, set[str]] = {}
    for table, cmd in rows:
        have.setdefault(table, set()).add(cmd)
    for table in {*_SCOPED, *PARENT}:
        assert have.get(table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
    assert have["audit_log"] == {"SELECT"}


def test_batch_level_changes_through_a_manager_login_are_audited_once_by_the_database(shared, pg_server):
    """``set_customer_levels`` writes its rows in one statement; in a shared world the database
    writes their audit rows (one per customer, with the old and new level), simcrm none."""
    u = sa.engine.make_url(pg_server.url).set(username=shared.roles["mgr1"], password="pw-mgr1")
    student = Store(u.render_as_string(hide_password=False),
                    create=False)
    try:
        mgr = CRM(student, user="mgr1")
        team = sorted(set(mgr.list("customer")["id"]))
        before = {c: shared.store.get("customer", c, resolve=True)["level"] for c in team}
        target = {c: ("VIP客户" if before[c] != "VIP客户" else "小客户") for c in team}
        base = max(_owner_ids(shared.store, "audit_log"))
        assert mgr.set_customer_levels(target) == len(team)
        with shared.store.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT row_id, employee_id, old_value, new_value FROM audit_log "
                                        "WHERE id > :b AND table_name = 'customer' AND field = 'level'"),
                                {"b": base}).all()
        assert sorted(rows) == sorted((c, shared.mgr1, before[c], target[c]) for c in team)
    finally:
        student.close()


def test_the_students_group_is_found_with_or_without_its_note(shared):
    """``group_of`` reads the group from the note install leaves on classroom_login; a world
    installed before the note is found by membership (not a role's group)."""
    group = pg_security.group_name(shared.schema_name)
    with shared.store.engine.begin() as conn:
        assert pg_security.group_of(conn) == group
        conn.exec_driver_sql(f"COMMENT ON TABLE {pg_security.LOGIN_TABLE} IS NULL")
        assert pg_security.group_of(conn) == group
        conn.exec_driver_sql(f"COMMENT ON TABLE {pg_security.LOGIN_TABLE} IS 'simcrm classroom group: {group}'")
