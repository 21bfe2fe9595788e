"""PostgreSQL row-level security for a shared (classroom) world: the database enforces the roles.

In a notebook a student holds the whole Python process, so simcrm's own checks are advice, not
security. Where several people share one world on PostgreSQL (:mod:`simcrm.classroom`), each
person connects as their own database LOGIN role, and this module makes the database itself
enforce who sees and changes what:

* **data scope by row-level security** — one policy per command on every table with a data scope
  (customers, leads and every record of a customer: contacts, orders, payments …, the audit log),
  the same rule as :meth:`simcrm.crm.CRM.scope_condition`: a customer is visible when its owner
  is in the user's scope (本人: themself; 本部门: the employees of their department and its
  sub-departments; 全部: everyone) or it is shared with them; a lead also when it is unassigned;
  a customer's record when its parent record is (up the :data:`simcrm.crm.base.PARENT` chain);
  an audit row when the audited record is (rows of tables without a scope: all).
  Rows outside the scope are invisible to ``SELECT`` and untouched by ``UPDATE``/``DELETE``; a
  row cannot be inserted into (or moved under) a customer outside the scope.
* **the audit log is written by the database** — an ``AFTER INSERT OR UPDATE OR DELETE`` trigger
  on every audited table writes ``audit_log`` (one row per changed field, old and new values,
  the acting employee from the login and the database role in ``audit_log.db_role``). Students
  may only read ``audit_log``; its rows cannot be inserted, changed or deleted by them.
* **the organisation is read-only** — employees, roles, rights, departments and dictionaries
  cannot be changed by a student login (so nobody grants themself the data scope 全部).

The owner of the tables (the teacher's connection) keeps full access: PostgreSQL does not apply
row-level security to a table's owner, and the owner holds every privilege.

Who a login is comes from ``classroom_login`` (database role → employee), read with
``session_user``, which a login cannot change; the policies call ``SECURITY DEFINER`` functions
that read the organisation tables once per statement.

    >>> from simcrm.store import pg_security
    >>> sorted(pg_security.READ_ONLY)
    ['department', 'dictionary', 'employee', 'role', 'role_right']
"""

from __future__ import annotations

import re
from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import schema

__all__ = ["install", "create_login", "drop_logins", "is_installed", "me", "role_name", "group_name",
           "READ_ONLY", "NOT_AUDITED", "LOGIN_TABLE"]

#: tables a student login may read (and lock, which needs the UPDATE privilege) but never change
READ_ONLY = frozenset({"department", "dictionary", "employee", "role", "role_right"})
#: tables whose changes the database does not audit (the logs themselves, code counters)
NOT_AUDITED = frozenset({"audit_log", "export_log", "numbering_rule"})
#: database role → employee of a classroom world
LOGIN_TABLE = "classroom_login"
#: connections one student login may hold at once (a notebook, its screens, a spare)
CONNECTION_LIMIT = 8
#: the longest one statement of a student may run (a runaway query cannot hold the server)
STATEMENT_TIMEOUT = "30s"

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _q(name: str) -> str:
    """A safe SQL identifier (simcrm makes only lower-case names of letters, digits and _)."""
    if not _IDENT.match(name):
        raise ValueError(f"not a simple SQL identifier: {name!r}")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def role_name(prefix: str, student: str) -> str:
    """The database role of ``student`` in the classroom ``prefix`` (lower case, ≤ 63 chars)."""
    base = re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{student}".lower())
    if not re.match(r"[a-z_]", base):
        base = "s_" + base
    return base[:63]


def group_name(prefix: str) -> str:
    """The NOLOGIN group role holding the privileges every student login inherits."""
    return role_name(prefix, "students")


def is_installed(conn: Connection) -> bool:
    """Whether the connected schema is a classroom world (its ``classroom_login`` table exists)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": LOGIN_TABLE}).scalar())


def me(conn: Connection) -> int | None:
    """The employee id of the connected login (``None``: not a classroom login, e.g. the teacher)."""
    return conn.execute(text("SELECT simcrm_me()")).scalar()


# --- the rule, in SQL -------------------------------------------------------------------------


def _scope_expr(table: str) -> str:
    """The data-scope condition on ``table`` for the connected login (mirror of crm's ``_scope_sql``)."""
    from ..crm.base import PARENT, _SCOPED

    every = "(SELECT simcrm_sees_all())"
    owners = "CAST((SELECT simcrm_scope_owners()) AS integer[])"
    if table == "customer":
        return f"{every} OR owner_id = ANY({owners}) OR id = ANY(CAST((SELECT simcrm_shared_customers()) AS integer[]))"
    if table == "lead":
        return f"{every} OR owner_id IS NULL OR owner_id = ANY({owners})"
    if table == "audit_log":
        scoped = sorted(_SCOPED)
        parts = [f"table_name NOT IN ({', '.join(_literal(n) for n in scoped)})"]
        parts += [f"(table_name = {_literal(n)} AND row_id IN (SELECT id FROM {_q(n)}))" for n in scoped]
        return f"{every} OR " + " OR ".join(parts)
    column, parent = PARENT[table]
    # the parent's own policy applies inside this subquery, so the rule climbs to the customer
    return f"{every} OR EXISTS (SELECT 1 FROM {_q(parent)} p WHERE p.id = {_q(table)}.{_q(column)})"


def _functions(schema_name: str) -> list[str]:
    path = f"SET search_path = {_q(schema_name)}, pg_temp"
    return [
        f"""CREATE OR REPLACE FUNCTION simcrm_me() RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT l.employee_id FROM {LOGIN_TABLE} l JOIN employee e ON e.id = l.employee_id
            WHERE l.db_role = session_user AND e.status = '正常' $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_student() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT student FROM {LOGIN_TABLE} WHERE db_role = session_user $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_is_login() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT EXISTS (SELECT 1 FROM {LOGIN_TABLE} WHERE db_role = session_user) $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_sees_all() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT coalesce((SELECT r.data_scope = '全部' FROM employee e JOIN role r ON r.id = e.role_id
                             WHERE e.id = simcrm_me()), false) $$""",
        # 本人: themself; 本部门: every employee of their department's subtree (as crm's
        # _scope_owner_ids), and themself; 全部 is simcrm_sees_all(); no login: nobody
        f"""CREATE OR REPLACE FUNCTION simcrm_scope_owners() RETURNS integer[] LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            WITH RECURSIVE who AS (
                SELECT e.id, e.department_id, r.data_scope FROM employee e JOIN role r ON r.id = e.role_id
                WHERE e.id = simcrm_me()),
            sub(id) AS (
                SELECT department_id FROM who WHERE data_scope = '本部门'
                UNION SELECT d.id FROM department d JOIN sub ON d.parent_id = sub.id)
            SELECT coalesce(array_agg(x), ARRAY[]::integer[]) FROM (
                SELECT id AS x FROM who
                UNION SELECT e.id FROM employee e WHERE e.department_id IN (SELECT id FROM sub)) o $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_shared_customers() RETURNS integer[] LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT coalesce(array_agg(customer_id), ARRAY[]::integer[]) FROM customer_share
            WHERE employee_id = simcrm_me() $$""",
        # the database writes the history: one row per changed field, who did it from the login
        f"""CREATE OR REPLACE FUNCTION simcrm_audit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            o jsonb; n jsonb; k text; ov text; nv text;
            actor integer := (SELECT employee_id FROM {LOGIN_TABLE} WHERE db_role = session_user);
            dcols text[] := string_to_array(TG_ARGV[1], ',');
        BEGIN
            IF TG_OP = 'INSERT' THEN
                n := to_jsonb(NEW);
                INSERT INTO audit_log (at, employee_id, action, table_name, row_id, field, old_value, new_value, db_role)
                VALUES (localtimestamp, actor, '新建', TG_TABLE_NAME, (n->>'id')::integer, NULL, NULL,
                        coalesce(nullif(n->>'code', ''), nullif(n->>'name', ''), nullif(n->>'subject', ''),
                                 nullif(n->>'invoice_no', ''), nullif(n->>'value', ''), TG_ARGV[0]), session_user);
            ELSIF TG_OP = 'DELETE' THEN
                o := to_jsonb(OLD);
                INSERT INTO audit_log (at, employee_id, action, table_name, row_id, field, old_value, new_value, db_role)
                VALUES (localtimestamp, actor, '删除', TG_TABLE_NAME, (o->>'id')::integer, NULL,
                        coalesce(nullif(o->>'code', ''), nullif(o->>'name', ''), nullif(o->>'subject', ''),
                                 nullif(o->>'invoice_no', ''), nullif(o->>'value', ''), TG_ARGV[0]), NULL, session_user);
            ELSE
                o := to_jsonb(OLD);
                n := to_jsonb(NEW);
                FOR k IN SELECT jsonb_object_keys(n) LOOP
                    IF (o -> k) IS DISTINCT FROM (n -> k) THEN
                        ov := o ->> k;
                        nv := n ->> k;
                        IF k = ANY(dcols) THEN
                            ov := (SELECT value FROM dictionary WHERE id = ov::integer);
                            nv := (SELECT value FROM dictionary WHERE id = nv::integer);
                        END IF;
                        INSERT INTO audit_log (at, employee_id, action, table_name, row_id, field, old_value, new_value, db_role)
                        VALUES (localtimestamp, actor, CASE WHEN k = 'status' THEN '状态变更' ELSE '修改' END,
                                TG_TABLE_NAME, (n->>'id')::integer, k, ov, nv, session_user);
                    END IF;
                END LOOP;
            END IF;
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_read_only() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        BEGIN
            IF simcrm_is_login() THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = '学生账号不能修改' || TG_TABLE_NAME || '（组织与权限由教师维护）';
            END IF;
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$""",
    ]


def install(conn: Connection, group: str) -> None:
    """Make the connected schema a shared world whose database enforces the roles.

    Run once by the owner of the tables (the teacher), inside one transaction, after the world's
    data is in place (rows already there are not audited again). ``group`` is the NOLOGIN role
    every student login inherits its privileges from (created if missing). Running it again
    replaces the functions, policies and triggers (same result).
    """
    from ..crm.base import ACCESS_LOG, PARENT, _SCOPED

    if conn.dialect.name != "postgresql":
        raise ValueError("row-level security needs PostgreSQL")
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    g = _q(group)
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}).first()
    if not exists:
        conn.exec_driver_sql(f"CREATE ROLE {g} NOLOGIN")
    ACCESS_LOG.create(conn, checkfirst=True)
    conn.exec_driver_sql(f"""CREATE TABLE IF NOT EXISTS {LOGIN_TABLE} (
        db_role text PRIMARY KEY,
        employee_id integer NOT NULL UNIQUE REFERENCES employee (id),
        student text,
        created_at timestamp NOT NULL DEFAULT localtimestamp)""")
    conn.exec_driver_sql("ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS db_role text")
    for stmt in _functions(schema_name):
        conn.exec_driver_sql(stmt)

    # privileges: everything through the group; nothing on the logs beyond reading
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_q(schema_name)} TO {g}")
    for name in schema.TABLES:
        t = _q(name)
        conn.exec_driver_sql(f"REVOKE ALL ON {t} FROM {g}")
        if name == "audit_log":
            grant = "SELECT"
        elif name == "export_log":
            grant = "SELECT, INSERT"
        elif name == "numbering_rule":
            grant = "SELECT, INSERT, UPDATE"
        elif name in READ_ONLY:
            grant = "SELECT, UPDATE"  # UPDATE only so that simcrm may lock rows it checks; refused below
        else:
            grant = "SELECT, INSERT, UPDATE, DELETE"
        conn.exec_driver_sql(f"GRANT {grant} ON {t} TO {g}")
    conn.exec_driver_sql(f"REVOKE ALL ON access_log FROM {g}")
    conn.exec_driver_sql(f"GRANT INSERT, SELECT (id) ON access_log TO {g}")  # refusals are recorded
    conn.exec_driver_sql(f"REVOKE ALL ON {LOGIN_TABLE} FROM {g}")
    conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_q(schema_name)} TO {g}")
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {_q(schema_name)} FROM PUBLIC")

    # row-level security: one policy per command, for the students' group
    for name in sorted({*_SCOPED, "audit_log"}):
        t = _q(name)
        conn.exec_driver_sql(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        for old in conn.execute(text("SELECT policyname FROM pg_policies WHERE schemaname = :s AND tablename = :t"),
                                {"s": schema_name, "t": name}).scalars().all():
            conn.exec_driver_sql(f"DROP POLICY {_q(old)} ON {t}")
        scope = _scope_expr(name)
        conn.exec_driver_sql(f"CREATE POLICY simcrm_read ON {t} FOR SELECT TO {g} USING ({scope})")
        if name == "audit_log":
            continue
        # a customer or lead may be handed to anyone (crm checks who may transfer); any other
        # record must stay under a customer in the scope
        moved = "true" if name in ("customer", "lead") else scope
        conn.exec_driver_sql(f"CREATE POLICY simcrm_insert ON {t} FOR INSERT TO {g} WITH CHECK ({scope})")
        conn.exec_driver_sql(f"CREATE POLICY simcrm_update ON {t} FOR UPDATE TO {g} USING ({scope}) WITH CHECK ({moved})")
        conn.exec_driver_sql(f"CREATE POLICY simcrm_delete ON {t} FOR DELETE TO {g} USING ({scope})")
    assert set(PARENT) <= _SCOPED

    # triggers: the history written by the database; the organisation read-only for students
    for name in schema.TABLES:
        t = _q(name)
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS simcrm_audit ON {t}")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS simcrm_read_only ON {t}")
        if name in READ_ONLY:
            conn.exec_driver_sql(f"CREATE TRIGGER simcrm_read_only BEFORE INSERT OR UPDATE OR DELETE ON {t} "
                                 "FOR EACH ROW EXECUTE FUNCTION simcrm_read_only()")
        if name in NOT_AUDITED:
            continue
        dict_cols = ",".join(schema.dictionary_columns(name))
        conn.exec_driver_sql(f"CREATE TRIGGER simcrm_audit AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW "
                             f"EXECUTE FUNCTION simcrm_audit({_literal(schema.table_label(name))}, {_literal(dict_cols)})")


def create_login(conn: Connection, group: str, db_role: str, password: str, employee_id: int,
                 student: str | None = None) -> None:
    """A new LOGIN role for one person, member of ``group``, acting as ``employee_id``.

    Roles belong to the whole server: an existing role of that name is never taken over
    (PostgreSQL refuses ``CREATE ROLE`` for it).
    """
    r = _q(db_role)
    conn.exec_driver_sql(f"CREATE ROLE {r} LOGIN "
                         f"CONNECTION LIMIT {CONNECTION_LIMIT} PASSWORD {_literal(password)}")
    conn.exec_driver_sql(f"GRANT {_q(group)} TO {r}")
    conn.exec_driver_sql(f"ALTER ROLE {r} SET statement_timeout = {_literal(STATEMENT_TIMEOUT)}")
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    conn.exec_driver_sql(f"ALTER ROLE {r} SET search_path = {_q(schema_name)}")
    conn.execute(text(f"INSERT INTO {LOGIN_TABLE} (db_role, employee_id, student) VALUES (:r, :e, :s) "
                      "ON CONFLICT (db_role) DO UPDATE SET employee_id = EXCLUDED.employee_id, student = EXCLUDED.student"),
                 {"r": db_role, "e": int(employee_id), "s": student})


def drop_logins(conn: Connection, group: str) -> list[str]:
    """Remove every login of the connected classroom world and its group role; returns their names."""
    names = conn.execute(text(f"SELECT db_role FROM {LOGIN_TABLE} ORDER BY db_role")).scalars().all()
    for name in names:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_q(name)}")
    conn.exec_driver_sql(f"DELETE FROM {LOGIN_TABLE}")
    conn.exec_driver_sql(f"DROP OWNED BY {_q(group)}")
    conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_q(group)}")
    return list(names)

