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
* **module rights by privileges** — each role of the firm has a NOLOGIN group role
  (:func:`rights_group`) holding, on every table, the privileges of its module rights (read →
  SELECT, create → INSERT, update → UPDATE, delete → DELETE on the table's module, as crm's
  ``_require``), plus the :data:`SIDE_EFFECTS` simcrm's own operations need and the
  :data:`MACHINERY` every login needs (:func:`table_privileges`, :func:`apply_rights`). The key
  columns of scoped tables (:func:`key_columns`) are readable by all, for the scope walk; row locks
  use a privilege on the ``id`` column, whose changes a trigger refuses.
* **personal data in the audit log masked by role type** — as :data:`simcrm.crm.MASKING`: each
  masking level has its own pair of masked columns (filled by a trigger with the masks of
  :mod:`simcrm.locales` in SQL), a login may read only its level's columns, and an ``audit_log``
  view of its level (security invoker) comes first on its ``search_path``, so simcrm's reads work.
* **personal data of customers, contacts and employees masked by role type** — the same way: the
  tables of :data:`MASKED_TABLES` keep a masked copy per level of each column the level masks
  (``phone_m2`` …, trigger ``simcrm_row_masks``), a role's group may select the other columns and
  its level's copies only (:func:`readable_columns`), and its level's schema holds views of those
  tables showing the copies under the clear names, so a login reads by SQL what crm's exports show
  its role type. Writes through a view go to the table as the login (``simcrm_view_write``: an
  UPDATE writes only the columns it changed, so a masked value written back leaves the clear one);
  the duplicate rule compares clear phones and e-mails through ``simcrm_customer_keys`` (in the
  login's scope). Leads are masked too: converting one as such a login, the database copies the
  lead's clear mobile and e-mail into the contact (and an individual customer's phone) the
  conversion made (``simcrm_copy_lead_contact``: a converted lead in the login's scope, into its
  own contact and customer, where empty; nothing returned), and compares that phone with the
  customers' by the lead's id (``simcrm_duplicates_of``).
* **the duplicate rule's key locks hashed with a secret** — the per-key advisory locks of
  :func:`simcrm.crm.customers.customer_keys` are taken by ``simcrm_lock_keys``, which hashes
  each key with a salt no login can read (``classroom_key_salt``): every session of the world
  locks the same key alike, a masked login can lock the clear keys of a customer or lead by its
  id, and the hashes anyone can see in ``pg_locks`` do not give a phone number away.
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

from . import schema, summaries

__all__ = ["install", "apply_rights", "group_of", "create_login", "drop_logins", "is_installed", "me", "role_name", "group_name",
           "rights_group", "table_privileges", "key_columns", "mask_levels", "mask_level", "masked_schema",
           "masked_columns", "masked_for_login", "readable_columns", "shadow_columns", "MASKED_TABLES",
           "READ_ONLY", "NOT_AUDITED", "LOGIN_TABLE", "SIDE_EFFECTS", "MACHINERY", "PRIVILEGE"]

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

#: the module right behind each SQL privilege on a table (crm's ``_require(module, action)``)
PRIVILEGE = {"read": "SELECT", "create": "INSERT", "update": "UPDATE", "delete": "DELETE"}

#: privileges simcrm's own operations need beyond the module of the table they touch: a module
#: right → ``{table: privileges}`` it brings along (found by tracing every CRM operation's writes
#: against the rights it checks). E.g. shipping an order (order: update) books stock moves and
#: changes the product's stock; an order's balance (order: read) sums its payments and invoices,
#: and the dashboard shows an order reader the overdue instalments of their own orders; ending a
#: share (customer: update) deletes the share row.
SIDE_EFFECTS: dict[tuple[str, str], dict[str, frozenset[str]]] = {
    ("order", "read"): {t: frozenset({"SELECT"}) for t in ("payment", "invoice", "refund", "credit_note",
                                                            "payment_plan")},
    ("order", "update"): {"product": frozenset({"UPDATE (stock)"}), "stock_move": frozenset({"INSERT"}),
                          "shipment": frozenset({"INSERT"}), "sales_return": frozenset({"INSERT"}),
                          "return_line": frozenset({"INSERT"}), "refund": frozenset({"INSERT"}),
                          "credit_note": frozenset({"INSERT"}), "customer": frozenset({"UPDATE"})},
    ("customer", "update"): {"customer_share": frozenset({"INSERT", "DELETE"}), "owner_history": frozenset({"INSERT"})},
    ("opportunity", "update"): {"opportunity_stage_history": frozenset({"INSERT"}), "quota": frozenset({"INSERT"})},
    ("complaint", "update"): {"complaint_history": frozenset({"INSERT"})},
    ("service", "create"): {"complaint": frozenset({"UPDATE"})},
    ("finance", "update"): {t: frozenset({"INSERT"}) for t in ("payment", "invoice", "credit_note", "payment_plan", "refund")},
    ("contact", "create"): {"contact": frozenset({"UPDATE"})},
}

#: table privileges every login holds whatever its role (simcrm's machinery): the organisation
#: is read (who the user is, their rights, dictionary labels; changes refused by a trigger);
#: codes are drawn from numbering_rule; an export writes its export_log row
MACHINERY: dict[str, frozenset[str]] = {
    **{t: frozenset({"SELECT"}) for t in sorted(READ_ONLY)},
    "numbering_rule": frozenset({"SELECT", "INSERT", "UPDATE"}),
    "export_log": frozenset({"INSERT"}),
}
#: tables whose privileges are not the module rule: the organisation (teacher only) and the
#: audit log (read column by column, masked by role type, see :func:`audit_columns`)
NOT_BY_MODULE = READ_ONLY | {"audit_log"}


def table_privileges(can) -> dict[str, set[str]]:
    """``{table: SQL privileges}`` of a role, from ``can(module, action)`` (its module rights).

    A table of module *m* gets ``SELECT``/``INSERT``/``UPDATE``/``DELETE`` where the role may
    read/create/update/delete *m* (:data:`simcrm.crm.base.TABLE_MODULE`, as crm's ``_require``),
    plus :data:`SIDE_EFFECTS` of its rights and the :data:`MACHINERY` every login has. Privileges
    with a column list (``UPDATE (stock)``) are column privileges.
    """
    from ..crm.base import TABLE_MODULE

    out: dict[str, set[str]] = {name: set(MACHINERY.get(name, ())) for name in schema.TABLES}
    for name in schema.TABLES:
        if name in NOT_BY_MODULE:
            continue
        for action, privilege in PRIVILEGE.items():
            if can(TABLE_MODULE[name], action):
                out[name].add(privilege)
    for (module, action), extra in SIDE_EFFECTS.items():
        if can(module, action):
            for name, privileges in extra.items():
                out[name] |= privileges
    for name, privileges in out.items():  # a column privilege inside a table privilege says nothing more
        out[name] = {p for p in privileges if "(" not in p or p.split(" (")[0] not in privileges}
    return out


def key_columns(table: str) -> list[str]:
    """Columns of a scoped table every login may read (in its scope): the id and the links the
    data-scope rule walks (simcrm's own history query reads them for every table)."""
    from ..crm.base import PARENT

    cols = ["id"]
    if table in PARENT:
        cols.append(PARENT[table][0])
    if table in ("customer", "lead"):
        cols.append("owner_id")
    if table == "customer_share":
        cols.append("employee_id")
    return cols


# --- masking of personal data in the audit log -------------------------------------------------


def mask_levels() -> list[frozenset[str]]:
    """The distinct non-empty masking rule sets of :data:`simcrm.crm.MASKING` (level 1, 2 …)."""
    from ..crm.privacy import MASKING

    return sorted({r for r in MASKING.values() if r}, key=lambda r: (len(r), sorted(r)))


def mask_level(role_type: str) -> int:
    """0: sees audit values in clear; n: sees them masked by ``mask_levels()[n - 1]``."""
    from ..crm.privacy import MASKING

    rules = MASKING[role_type]
    return 0 if not rules else mask_levels().index(rules) + 1


def audit_columns(level: int) -> dict[str, str]:
    """``{column the login reads: column of audit_log}`` for a masking level."""
    names = [c.name for c in schema.metadata.tables["audit_log"].columns] + ["db_role"]
    suffix = f"_m{level}" if level else ""
    return {n: (n + suffix if n in ("old_value", "new_value") else n) for n in names}


def masked_schema(schema_name: str, level: int) -> str:
    """The schema holding the ``audit_log`` view of masking level ``level`` (≥ 1)."""
    return f"{schema_name}_mask{level}"[:63]


#: tables whose personal-data columns a login reads masked by its role type (as exports mask)
MASKED_TABLES = ("customer", "contact", "employee", "lead")
#: of those, the tables a login writes through its level's view (the organisation is read-only)
WRITTEN_THROUGH_VIEW = ("customer", "contact", "lead")
#: the secret salt of the duplicate rule's key locks in a classroom world (teacher only)
KEY_SALT_TABLE = "classroom_key_salt"


def masked_columns(level: int) -> dict[str, dict[str, str]]:
    """``{table: {column: masking rule}}``: the columns of :data:`MASKED_TABLES` a login of
    masking level ``level`` reads masked (none at level 0). Each has a column
    ``<column>_m<level>`` in the table holding its masked value (kept by a trigger)."""
    if level < 1:
        return {}
    rules = mask_levels()[level - 1]
    out = {}
    for table in MASKED_TABLES:
        cols = {c: r for c, r in schema.sensitive_columns(table).items() if r in rules}
        if cols:
            out[table] = cols
    return out


def shadow_columns(table: str) -> list[str]:
    """The masked copies of ``table``'s columns, every level (``phone_m2`` …), in install order."""
    return [f"{c}_m{level}" for level in range(1, len(mask_levels()) + 1)
            for c in masked_columns(level).get(table, {})]


def readable_columns(table: str, level: int) -> list[str] | None:
    """The columns of ``table`` a login of masking level ``level`` may select (its level's
    masked copies instead of the clear columns); ``None``: the whole table (nothing masked)."""
    masked = masked_columns(level).get(table)
    if not masked:
        return None
    cols = [c.name for c in schema.metadata.tables[table].columns]
    return [c for c in cols if c not in masked] + [f"{c}_m{level}" for c in masked]


def rights_group(group: str, role_id: int) -> str:
    """The NOLOGIN role holding the table privileges of one role of the firm."""
    return f"{group}_role{int(role_id)}"[:63]


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


_GROUP_NOTE = "simcrm classroom group: "


def group_of(conn: Connection) -> str | None:
    """The students' group role of the connected classroom world (``None``: not a classroom)."""
    note = conn.execute(text("SELECT obj_description(to_regclass(:t), 'pg_class')"), {"t": LOGIN_TABLE}).scalar()
    if note and note.startswith(_GROUP_NOTE):
        return note[len(_GROUP_NOTE):]
    if not is_installed(conn):
        return None
    # a world installed before the note: the group every login belongs to (not a role's group)
    return conn.execute(text(
        "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.roleid = r.oid "
        f"JOIN pg_roles u ON u.oid = m.member JOIN {LOGIN_TABLE} l ON l.db_role = u.rolname "
        "WHERE r.rolname !~ '_role[0-9]+$' GROUP BY r.rolname "
        f"HAVING count(*) = (SELECT count(*) FROM {LOGIN_TABLE}) ORDER BY r.rolname LIMIT 1")).scalar()


def masked_for_login(conn: Connection) -> frozenset[str]:
    """``{"table.column"}`` the connected login reads masked (empty: the teacher, a role type
    that sees everything, or a world installed before the tables were masked)."""
    if not conn.execute(text("SELECT to_regprocedure('simcrm_masked_columns()') IS NOT NULL")).scalar():
        return frozenset()
    return frozenset(conn.execute(text("SELECT simcrm_masked_columns()")).scalar() or ())


def has_key_locks(conn: Connection) -> bool:
    """Whether the connected classroom world hashes the duplicate rule's keys in the database
    (``simcrm_lock_keys``; a world installed before it: simcrm hashes them in Python)."""
    return bool(conn.execute(text(
        "SELECT to_regprocedure('simcrm_lock_keys(text[],text[],integer[],integer[])') IS NOT NULL")).scalar())


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
        # one test of the row's table picks the one subquery that may apply to it (a chain of
        # "table_name = t AND row_id IN (…)" arms compared every row with every scoped table);
        # rows of a table without a scope: all
        arms = " ".join(f"WHEN {_literal(n)} THEN row_id IN (SELECT id FROM {_q(n)})" for n in scoped)
        # and only of tables whose module the login may read (or all, with the 系统管理 read right)
        return (f"table_name = ANY(CAST((SELECT simcrm_history_tables()) AS text[])) AND ({every} OR "
                f"CASE table_name {arms} ELSE true END)")
    column, parent = PARENT[table]
    # the parent's own policy applies inside this subquery, so the rule climbs to the customer
    return f"{every} OR EXISTS (SELECT 1 FROM {_q(parent)} p WHERE p.id = {_q(table)}.{_q(column)})"


_BLANKS = " \t\r\n\u3000"  # what simcrm.locales strips before masking


def _address_pattern() -> str:
    from ..locales.zh_CN.masks import _address_pattern as pattern

    return pattern().pattern


def _module_json() -> str:
    import json

    from ..crm.base import TABLE_MODULE

    return json.dumps(dict(sorted(TABLE_MODULE.items())), ensure_ascii=False)


def _levels_json() -> str:
    import json

    return json.dumps([sorted(r) for r in mask_levels()])


def _sensitive_json() -> str:
    import json

    return json.dumps({n: schema.sensitive_columns(n) for n in schema.TABLES if schema.sensitive_columns(n)},
                      ensure_ascii=False, sort_keys=True)


def _masked_json() -> str:
    import json

    from ..crm.privacy import MASKING

    return json.dumps({rt: sorted(f"{t}.{c}" for t, cols in masked_columns(mask_level(rt)).items() for c in cols)
                       for rt in MASKING}, ensure_ascii=False, sort_keys=True)


def _row_mask_spec(table: str) -> str:
    return ",".join(f"{c}:{rule}:{c}_m{level}" for level in range(1, len(mask_levels()) + 1)
                    for c, rule in masked_columns(level).get(table, {}).items())


def _mask_assignments() -> str:
    lines = []
    for level in range(1, len(mask_levels()) + 1):
        for col in ("old_value", "new_value"):
            lines.append(f"            NEW.{col}_m{level} := simcrm_mask_audit({level}, NEW.table_name, NEW.field, NEW.{col});")
    return "\n".join(lines)


def _functions(schema_name: str) -> list[str]:
    from .store import ADVISORY_CUSTOMER_KEYS

    path = f"SET search_path = {_q(schema_name)}, pg_temp"
    return [
        # the helpers the policies call once per statement are plpgsql: their plans are kept for the
        # session (an SQL function's body is planned again at every call)
        f"""CREATE OR REPLACE FUNCTION simcrm_me() RETURNS integer LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
            BEGIN RETURN (SELECT l.employee_id FROM {LOGIN_TABLE} l JOIN employee e ON e.id = l.employee_id
                          WHERE l.db_role = session_user AND e.status = '正常'); END $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_student() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT student FROM {LOGIN_TABLE} WHERE db_role = session_user $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_is_login() RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
            BEGIN RETURN EXISTS (SELECT 1 FROM {LOGIN_TABLE} WHERE db_role = session_user); END $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_sees_all() RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
            BEGIN RETURN coalesce((SELECT r.data_scope = '全部' FROM employee e JOIN role r ON r.id = e.role_id
                                   WHERE e.id = simcrm_me()), false); END $$""",
        # 本人: themself; 本部门: every employee of their department's subtree (as crm's
        # _scope_owner_ids), and themself; 全部 is simcrm_sees_all(); no login: nobody
        f"""CREATE OR REPLACE FUNCTION simcrm_scope_owners() RETURNS integer[] LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
            BEGIN RETURN (WITH RECURSIVE who AS (
                SELECT e.id, e.department_id, r.data_scope FROM employee e JOIN role r ON r.id = e.role_id
                WHERE e.id = simcrm_me()),
            sub(id) AS (
                SELECT department_id FROM who WHERE data_scope = '本部门'
                UNION SELECT d.id FROM department d JOIN sub ON d.parent_id = sub.id)
            SELECT coalesce(array_agg(x), ARRAY[]::integer[]) FROM (
                SELECT id AS x FROM who
                UNION SELECT e.id FROM employee e WHERE e.department_id IN (SELECT id FROM sub)) o); END $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_shared_customers() RETURNS integer[] LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
            BEGIN RETURN (SELECT coalesce(array_agg(customer_id), ARRAY[]::integer[]) FROM customer_share
                          WHERE employee_id = simcrm_me()); END $$""",
        # the database writes the history: one row per changed field, who did it from the login
        f"""CREATE OR REPLACE FUNCTION simcrm_audit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            o jsonb; n jsonb; k text; ov text; nv text;
            actor integer := (SELECT employee_id FROM {LOGIN_TABLE} WHERE db_role = session_user);
            dcols text[] := string_to_array(TG_ARGV[1], ',');
            hidden text[] := string_to_array(coalesce(TG_ARGV[2], ''), ',');
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
                    IF (o -> k) IS DISTINCT FROM (n -> k) AND NOT k = ANY(hidden) THEN
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
        f"""CREATE OR REPLACE FUNCTION simcrm_history_tables() RETURNS text[] LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
            DECLARE me integer := simcrm_me();
            BEGIN RETURN (SELECT coalesce(array_agg(t.key), ARRAY[]::text[])
                          FROM jsonb_each_text({_literal(_module_json())}::jsonb) t
                          WHERE t.value IN (SELECT rr.module FROM employee e JOIN role_right rr ON rr.role_id = e.role_id
                                            WHERE e.id = me AND rr.can_read)
                             OR EXISTS (SELECT 1 FROM employee e JOIN role_right rr ON rr.role_id = e.role_id
                                        WHERE e.id = me AND rr.can_read AND rr.module = 'system')); END $$""",
        # the masks of simcrm.locales (zh_CN) in SQL, for the audit values a role sees masked
        f"""CREATE OR REPLACE FUNCTION simcrm_mask(rule text, v text) RETURNS text LANGUAGE plpgsql IMMUTABLE {path} AS $$
        DECLARE t text; n integer; k integer; a integer; kept text;
        BEGIN
            IF v IS NULL THEN RETURN NULL; END IF;
            t := btrim(v, {_literal(_BLANKS)});
            n := char_length(t);
            IF rule IN ('mobile', 'id_number') THEN
                k := CASE rule WHEN 'mobile' THEN 3 ELSE 6 END;
                IF n <= k + 4 THEN RETURN repeat('*', n); END IF;
                RETURN left(t, k) || repeat('*', n - k - 4) || right(t, 4);
            ELSIF rule = 'email' THEN
                a := position('@' in reverse(t));
                IF a = 0 THEN RETURN left(t, 1) || '***'; END IF;
                RETURN left(t, 1) || '***@' || right(t, a - 1);
            ELSIF rule = 'address' THEN
                kept := coalesce(substring(t from {_literal('^(' + _address_pattern() + ')')}), '');
                RETURN kept || CASE WHEN n > char_length(kept) THEN '****' ELSE '' END;
            END IF;
            RETURN v;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_mask_audit(level integer, tbl text, fld text, v text) RETURNS text
            LANGUAGE sql IMMUTABLE {path} AS $$
            SELECT CASE WHEN v IS NULL OR v = 'None' OR level < 1 THEN v
                        WHEN ({_literal(_levels_json())}::jsonb -> (level - 1)) ?
                             ({_literal(_sensitive_json())}::jsonb -> tbl ->> fld)
                        THEN simcrm_mask({_literal(_sensitive_json())}::jsonb -> tbl ->> fld, v)
                        ELSE v END $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_audit_masks() RETURNS trigger LANGUAGE plpgsql {path} AS $$
        BEGIN
{_mask_assignments()}
            RETURN NEW;
        END $$""",
        # a login may lock rows (UPDATE of the id column) but never change an id
        f"""CREATE OR REPLACE FUNCTION simcrm_keep_id() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        BEGIN
            IF NEW.id IS DISTINCT FROM OLD.id AND simcrm_is_login() THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = '学生账号不能修改记录编号（' || TG_TABLE_NAME || '.id）';
            END IF;
            RETURN NEW;
        END $$""",
        # the masked copies of a row's personal data, one column per masking level (row_masks)
        f"""CREATE OR REPLACE FUNCTION simcrm_row_masks() RETURNS trigger LANGUAGE plpgsql {path} AS $$
        DECLARE n jsonb := to_jsonb(NEW); m jsonb := '{{}}'::jsonb; i integer;
            spec text[] := string_to_array(TG_ARGV[0], ',');
        BEGIN
            -- spec: column:rule:copy, … (copy = the masked column of one level)
            FOR i IN 1 .. coalesce(array_length(spec, 1), 0) LOOP
                m := m || jsonb_build_object(split_part(spec[i], ':', 3),
                                             simcrm_mask(split_part(spec[i], ':', 2), n ->> split_part(spec[i], ':', 1)));
            END LOOP;
            NEW := jsonb_populate_record(NEW, m);
            RETURN NEW;
        END $$""",
        # writes through a masking level's view go to the table, as the login (its privileges,
        # its row-level security, the audit trigger): an INSERT gives the values written (NULLs
        # left to the table's defaults), an UPDATE the columns whose value the statement changed
        # (a masked value left as read is left as stored), a DELETE the row
        f"""CREATE OR REPLACE FUNCTION simcrm_view_write() RETURNS trigger LANGUAGE plpgsql {path} AS $$
        DECLARE base text := TG_ARGV[0]; n jsonb; cols text; sets text; rid integer; cnt integer;
        BEGIN
            IF TG_OP = 'INSERT' THEN
                n := jsonb_strip_nulls(to_jsonb(NEW));
                SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(n) k;
                EXECUTE 'INSERT INTO ' || base || ' (' || cols || ') SELECT ' || cols
                        || ' FROM jsonb_populate_record(NULL::' || base || ', $1) RETURNING id' USING n INTO rid;
                NEW.id := rid;
                RETURN NEW;
            ELSIF TG_OP = 'UPDATE' THEN
                n := to_jsonb(NEW);
                SELECT string_agg(quote_ident(k) || ' = r.' || quote_ident(k), ', ') INTO sets FROM jsonb_object_keys(n) k
                WHERE (n -> k) IS DISTINCT FROM (to_jsonb(OLD) -> k);
                IF sets IS NULL THEN RETURN NEW; END IF;
                EXECUTE 'UPDATE ' || base || ' t SET ' || sets || ' FROM jsonb_populate_record(NULL::' || base
                        || ', $1) r WHERE t.id = $2' USING n, OLD.id;
                GET DIAGNOSTICS cnt = ROW_COUNT;
                RETURN CASE WHEN cnt > 0 THEN NEW END;
            END IF;
            EXECUTE 'DELETE FROM ' || base || ' WHERE id = $1' USING OLD.id;
            GET DIAGNOSTICS cnt = ROW_COUNT;
            RETURN CASE WHEN cnt > 0 THEN OLD END;
        END $$""",
        # the masked columns of the connected login ('table.column', its role type's level)
        f"""CREATE OR REPLACE FUNCTION simcrm_masked_columns() RETURNS text[] LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT coalesce((SELECT array_agg(t.c) FROM employee e,
                                    jsonb_array_elements_text({_literal(_masked_json())}::jsonb -> e.role_type) t(c)
                             WHERE e.id = simcrm_me()), ARRAY[]::text[]) $$""",
        # the duplicate rule's phone/e-mail lookup for a login that reads them masked: the customers
        # in its scope (and only if it may read customers) with one of these phones or e-mails;
        # a phone or e-mail is returned only where it is one of those asked about
        f"""CREATE OR REPLACE FUNCTION simcrm_customer_keys(phones text[], emails text[])
            RETURNS TABLE (id integer, code text, name text, kind text, phone text, email text)
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT c.id, c.code, c.name, c.kind,
                   CASE WHEN c.phone = ANY(phones) THEN c.phone END,
                   CASE WHEN lower(c.email) = ANY(emails) THEN c.email END
            FROM customer c
            WHERE NOT c.deleted AND (c.phone = ANY(phones) OR lower(c.email) = ANY(emails))
              AND has_column_privilege(session_user, 'customer', 'name', 'SELECT')
              AND (NOT simcrm_is_login() OR (SELECT simcrm_sees_all())
                   OR c.owner_id = ANY(CAST((SELECT simcrm_scope_owners()) AS integer[]))
                   OR c.id = ANY(CAST((SELECT simcrm_shared_customers()) AS integer[]))) $$""",
        # whether a customer / a lead is in the connected login's data scope (as the policies)
        f"""CREATE OR REPLACE FUNCTION simcrm_customer_in_scope(cid integer, owner integer) RETURNS boolean
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT NOT simcrm_is_login() OR (SELECT simcrm_sees_all()) OR owner = ANY(simcrm_scope_owners())
                   OR cid = ANY(simcrm_shared_customers()) $$""",
        f"""CREATE OR REPLACE FUNCTION simcrm_lead_in_scope(owner integer) RETURNS boolean
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT NOT simcrm_is_login() OR (SELECT simcrm_sees_all()) OR owner IS NULL
                   OR owner = ANY(simcrm_scope_owners()) $$""",
        # the duplicate rule's key locks: a key's 32-bit hash with the world's secret salt (no
        # login can call it or read the salt, so the hashes other sessions hold in pg_locks do
        # not give a phone number away to a login trying the ten thousand numbers its mask leaves)
        f"""CREATE OR REPLACE FUNCTION simcrm_key_hash(kind text, key text) RETURNS integer
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT ('x' || left(encode(sha256(convert_to(
                       (SELECT salt FROM {KEY_SALT_TABLE} LIMIT 1) || kind || ':' || key, 'UTF8')), 'hex'), 8))
                   ::bit(32)::integer $$""",
        "REVOKE EXECUTE ON FUNCTION simcrm_key_hash(text, text) FROM PUBLIC",
        # lock the keys (kind, key) given, the phone and e-mail keys of existing customers and the
        # mobile (a phone key) of leads — those in the login's scope — in ascending order; returns
        # the (salted) hashes locked. A login that reads phones masked still locks their keys.
        f"""CREATE OR REPLACE FUNCTION simcrm_lock_keys(kinds text[], keys text[], customers integer[], leads integer[])
            RETURNS integer[] LANGUAGE plpgsql VOLATILE SECURITY DEFINER {path} AS $$
        DECLARE hs integer[]; h integer;
        BEGIN
            SELECT coalesce(array_agg(DISTINCT x ORDER BY x), ARRAY[]::integer[]) INTO hs FROM (
                SELECT simcrm_key_hash(k.kind, k.key) AS x FROM unnest(kinds, keys) AS k(kind, key)
                WHERE k.kind IN ('name', 'phone', 'email') AND coalesce(k.key, '') <> ''
                UNION ALL SELECT simcrm_key_hash('phone', c.phone) FROM customer c
                WHERE c.id = ANY(customers) AND coalesce(c.phone, '') <> '' AND simcrm_customer_in_scope(c.id, c.owner_id)
                UNION ALL SELECT simcrm_key_hash('email', lower(c.email)) FROM customer c
                WHERE c.id = ANY(customers) AND coalesce(c.email, '') <> '' AND simcrm_customer_in_scope(c.id, c.owner_id)
                UNION ALL SELECT simcrm_key_hash('phone', l.mobile) FROM lead l
                WHERE l.id = ANY(leads) AND coalesce(l.mobile, '') <> '' AND simcrm_lead_in_scope(l.owner_id)) s;
            FOREACH h IN ARRAY hs LOOP
                PERFORM pg_advisory_xact_lock({ADVISORY_CUSTOMER_KEYS}, h);
            END LOOP;
            RETURN hs;
        END $$""",
        # the duplicate rule for values a login reads masked, asked by record instead of by value:
        # the other customers (not deleted, in its scope, if it may read customers) with the phone
        # or e-mail of customer `rid`, or with the mobile of lead `rid` as their phone; the record
        # itself must be in the scope; no phone or e-mail is returned
        f"""CREATE OR REPLACE FUNCTION simcrm_duplicates_of(tbl text, rid integer)
            RETURNS TABLE (id integer, code text, name text, kind text, field text)
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            WITH src(phone, email) AS (
                SELECT c.phone, lower(c.email) FROM customer c
                WHERE tbl = 'customer' AND c.id = rid AND simcrm_customer_in_scope(c.id, c.owner_id)
                UNION ALL SELECT l.mobile, NULL FROM lead l
                WHERE tbl = 'lead' AND l.id = rid AND simcrm_lead_in_scope(l.owner_id))
            SELECT c.id, c.code, c.name, c.kind, CASE WHEN c.phone = s.phone THEN 'phone' ELSE 'email' END
            FROM customer c, src s
            WHERE NOT c.deleted AND (tbl <> 'customer' OR c.id <> rid)
              AND (c.phone = s.phone OR lower(c.email) = s.email)
              AND has_column_privilege(session_user, 'customer', 'name', 'SELECT')
              AND simcrm_customer_in_scope(c.id, c.owner_id)
            ORDER BY c.id $$""",
        # converting a lead as a login that reads its mobile and e-mail masked: the database
        # copies the clear values into the contact (and the individual customer's phone) the
        # conversion made — only for a converted lead in the login's scope that it may update,
        # into that lead's own contact and customer (in scope), where they are still empty;
        # nothing is returned, so no clear value reaches the login
        f"""CREATE OR REPLACE FUNCTION simcrm_copy_lead_contact(lead_id integer, set_phone boolean) RETURNS void
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER {path} AS $$
        DECLARE l record;
        BEGIN
            SELECT * INTO l FROM lead WHERE id = lead_id;
            IF NOT FOUND OR NOT simcrm_lead_in_scope(l.owner_id)
               OR NOT has_table_privilege(session_user, 'lead', 'UPDATE')
               OR NOT has_table_privilege(session_user, 'contact', 'INSERT') THEN
                RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                    MESSAGE = '线索（lead_id）的值 ' || lead_id || ' 不可用：允许本人数据范围内、有权修改的线索';
            END IF;
            IF l.status IS DISTINCT FROM '已转化' OR l.contact_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM customer c WHERE c.id = l.customer_id AND simcrm_customer_in_scope(c.id, c.owner_id)) THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation',
                    MESSAGE = '线索（lead_id）的值 ' || lead_id || ' 不可用：允许已转化、转化出的客户在本人数据范围内的线索';
            END IF;
            UPDATE contact SET mobile = l.mobile, email = l.email
            WHERE id = l.contact_id AND customer_id = l.customer_id AND mobile IS NULL AND email IS NULL;
            IF set_phone AND has_table_privilege(session_user, 'customer', 'INSERT') THEN
                UPDATE customer SET phone = l.mobile WHERE id = l.customer_id AND phone IS NULL AND kind = '个人';
            END IF;
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
    every student login inherits the common privileges from (created if missing); each role of
    the firm gets its own NOLOGIN role with its module rights (:func:`apply_rights`). Running it
    again replaces the functions, policies, triggers and privileges (same result).
    """
    from ..crm.base import ACCESS_LOG, PARENT, _SCOPED

    if conn.dialect.name != "postgresql":
        raise ValueError("row-level security needs PostgreSQL")
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    g = _q(group)
    _ensure_role(conn, group)
    ACCESS_LOG.create(conn, checkfirst=True)
    conn.exec_driver_sql(f"""CREATE TABLE IF NOT EXISTS {LOGIN_TABLE} (
        db_role text PRIMARY KEY,
        employee_id integer NOT NULL UNIQUE REFERENCES employee (id),
        student text,
        created_at timestamp NOT NULL DEFAULT localtimestamp)""")
    conn.exec_driver_sql(f"COMMENT ON TABLE {LOGIN_TABLE} IS {_literal(_GROUP_NOTE + group)}")
    # the salt of the key locks' hashes (simcrm_key_hash): kept when installed again
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {KEY_SALT_TABLE} (salt text NOT NULL)")
    conn.exec_driver_sql(f"INSERT INTO {KEY_SALT_TABLE} (salt) SELECT gen_random_uuid()::text || gen_random_uuid()::text "
                         f"WHERE NOT EXISTS (SELECT 1 FROM {KEY_SALT_TABLE})")
    conn.exec_driver_sql("ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS db_role text")
    # a record's history (crm.audit, the policy's row test) by index, not by reading the whole log
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_audit_log_table_row ON audit_log (table_name, row_id)")
    levels = range(1, len(mask_levels()) + 1)
    for level in levels:
        conn.exec_driver_sql(f"ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS old_value_m{level} text, "
                             f"ADD COLUMN IF NOT EXISTS new_value_m{level} text")
    for name in MASKED_TABLES:  # the masked copies of personal data, per level
        for col in shadow_columns(name):
            conn.exec_driver_sql(f"ALTER TABLE {_q(name)} ADD COLUMN IF NOT EXISTS {_q(col)} text")
    for stmt in _functions(schema_name):
        conn.exec_driver_sql(stmt)
    for name in MASKED_TABLES:  # the rows already there, masked once (new rows: simcrm_row_masks)
        sets = ", ".join(f"{_q(f'{c}_m{lv}')} = simcrm_mask({_literal(rule)}, {_q(c)})"
                         for lv in levels for c, rule in masked_columns(lv).get(name, {}).items())
        if sets:
            conn.exec_driver_sql(f"UPDATE {_q(name)} SET {sets}")
    # the history already there, masked once (new rows: the trigger simcrm_audit_masks)
    if levels:
        sets = ", ".join(f"{c}_m{lv} = simcrm_mask_audit({lv}, table_name, field, {c})"
                         for lv in levels for c in ("old_value", "new_value"))
        conn.exec_driver_sql(f"UPDATE audit_log SET {sets}")

    # the common privileges of every login (simcrm's machinery); the rest by role (apply_rights)
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_q(schema_name)} TO {g}")
    conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {_q(schema_name)} FROM {g}")
    for name in schema.TABLES:
        t = _q(name)
        # row locks (SELECT … FOR NO KEY UPDATE, taken by simcrm's checks inside a write) need an
        # UPDATE privilege: the id column's, whose changes a trigger refuses
        conn.exec_driver_sql(f"GRANT UPDATE (id) ON {t} TO {g}")
        if name in _SCOPED:  # the links simcrm's data-scope and history queries walk
            conn.exec_driver_sql(f"GRANT SELECT ({', '.join(key_columns(name))}) ON {t} TO {g}")
    conn.exec_driver_sql(f"GRANT INSERT, SELECT (id) ON access_log TO {g}")  # refusals are recorded
    conn.exec_driver_sql(f"GRANT SELECT (id) ON export_log TO {g}")  # an export's row (INSERT … RETURNING id)
    conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_q(schema_name)} TO {g}")
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {_q(schema_name)} FROM PUBLIC")
    # the audit log as a role sees it: a view per masking level, ahead of the table in the
    # login's search_path; it runs with the login's own rights (columns, row-level security)
    for level in levels:
        ms = _q(masked_schema(schema_name, level))
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {ms}")
        conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {ms} FROM PUBLIC")
        cols = ", ".join(f"{_q(src)} AS {_q(out)}" for out, src in audit_columns(level).items())
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {ms}.audit_log")
        conn.exec_driver_sql(f"CREATE VIEW {ms}.audit_log WITH (security_invoker = true) "
                             f"AS SELECT {cols} FROM {_q(schema_name)}.audit_log")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {ms} TO {g}")
        conn.exec_driver_sql(f"GRANT SELECT ON {ms}.audit_log TO {g}")
        # the personal data of customers, contacts and employees as the level reads it: the
        # table's columns in order, the masked copy under the clear column's name; writes go
        # through simcrm_view_write to the table (the organisation stays read-only)
        for name, masked in masked_columns(level).items():
            view = f"{ms}.{_q(name)}"
            cols = ", ".join(f"{_q(c + f'_m{level}')} AS {_q(c)}" if c in masked else _q(c)
                             for c in (col.name for col in schema.metadata.tables[name].columns))
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view}")
            conn.exec_driver_sql(f"CREATE VIEW {view} WITH (security_invoker = true) "
                                 f"AS SELECT {cols} FROM {_q(schema_name)}.{_q(name)}")
            if name in WRITTEN_THROUGH_VIEW:
                conn.exec_driver_sql(
                    f"CREATE TRIGGER simcrm_view_write INSTEAD OF INSERT OR UPDATE OR DELETE ON {view} "
                    f"FOR EACH ROW EXECUTE FUNCTION simcrm_view_write({_literal(f'{_q(schema_name)}.{_q(name)}')})")
            # as on the table: row locks for all (apply_rights: the role's own privileges)
            conn.exec_driver_sql(f"GRANT UPDATE (id) ON {view} TO {g}")

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
    # the summaries (kept by SECURITY DEFINER triggers): read under their records' scope
    for stmt in summaries.policies(conn, g):
        conn.exec_driver_sql(stmt)

    # triggers: the history written by the database; the organisation read-only for students
    for name in schema.TABLES:
        t = _q(name)
        for trigger in ("simcrm_audit", "simcrm_read_only", "simcrm_keep_id", "simcrm_audit_masks", "simcrm_row_masks"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {t}")
        conn.exec_driver_sql(f"CREATE TRIGGER simcrm_keep_id BEFORE UPDATE OF id ON {t} "
                             "FOR EACH ROW EXECUTE FUNCTION simcrm_keep_id()")
        if name in READ_ONLY:
            conn.exec_driver_sql(f"CREATE TRIGGER simcrm_read_only BEFORE INSERT OR UPDATE OR DELETE ON {t} "
                                 "FOR EACH ROW EXECUTE FUNCTION simcrm_read_only()")
        if name == "audit_log" and levels:
            conn.exec_driver_sql("CREATE TRIGGER simcrm_audit_masks BEFORE INSERT OR UPDATE ON audit_log "
                                 "FOR EACH ROW EXECUTE FUNCTION simcrm_audit_masks()")
        if _row_mask_spec(name):
            conn.exec_driver_sql(f"CREATE TRIGGER simcrm_row_masks BEFORE INSERT OR UPDATE ON {t} "
                                 f"FOR EACH ROW EXECUTE FUNCTION simcrm_row_masks({_literal(_row_mask_spec(name))})")
        if name in NOT_AUDITED:
            continue
        dict_cols = ",".join(schema.dictionary_columns(name))
        conn.exec_driver_sql(f"CREATE TRIGGER simcrm_audit AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW "
                             f"EXECUTE FUNCTION simcrm_audit({_literal(schema.table_label(name))}, {_literal(dict_cols)}, "
                             f"{_literal(','.join(shadow_columns(name)))})")
    apply_rights(conn, group)


def _ensure_role(conn: Connection, name: str) -> None:
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first():
        conn.exec_driver_sql(f"CREATE ROLE {_q(name)} NOLOGIN")


def role_rights(conn: Connection) -> dict[int, dict[str, dict[str, bool]]]:
    """``{role id: {module: {action: allowed}}}`` from the world's ``role`` and ``role_right`` tables."""
    from ..crm.base import ACTIONS

    out: dict[int, dict[str, dict[str, bool]]] = {
        int(r): {} for r in conn.execute(text("SELECT id FROM role ORDER BY id")).scalars()}
    for row in conn.execute(text("SELECT * FROM role_right")).mappings():
        out[int(row["role_id"])][row["module"]] = {a: bool(row[f"can_{a}"]) for a in ACTIONS}
    return out


def apply_rights(conn: Connection, group: str) -> None:
    """Grant each role of the firm the table privileges of its module rights; sync the logins.

    One NOLOGIN role per role of the firm (:func:`rights_group`) holds the privileges of
    :func:`table_privileges`; each login is a member of its employee's role's group only, reads
    the audit log's columns of its masking level (:func:`mask_level` of its role type), and
    finds the masked ``audit_log`` view first on its ``search_path``. Run by :func:`install`;
    run it again (as the teacher) after changing rights, roles or who holds which role.
    """
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    rights = role_rights(conn)
    role_types = dict(conn.execute(text("SELECT id, role_type FROM role")).all())
    for role_id, modules in rights.items():
        rg = rights_group(group, role_id)
        _ensure_role(conn, rg)
        conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {_q(schema_name)} FROM {_q(rg)}")

        def can(module: str, action: str, modules=modules) -> bool:
            return modules.get(module, {}).get(action, False)

        level = mask_level(role_types[role_id])
        # (a world installed before the tables were masked has no views: its tables stay as they were)
        views = {name: cols for name, cols in masked_columns(level).items()
                 if conn.execute(text("SELECT to_regclass(:v) IS NOT NULL"),
                                 {"v": f"{_q(masked_schema(schema_name, level))}.{_q(name)}"}).scalar()}
        for lv in range(1, len(mask_levels()) + 1):  # (the role's type, hence level, may have changed)
            if conn.execute(text("SELECT to_regnamespace(:s) IS NOT NULL"),
                            {"s": _q(masked_schema(schema_name, lv))}).scalar():
                conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {_q(masked_schema(schema_name, lv))} "
                                     f"FROM {_q(rg)}")
        granted = table_privileges(can)
        for name, privileges in granted.items():
            for p in sorted(privileges):
                if name in views:  # its masking level's view: the same privileges (SELECT: masked)
                    conn.exec_driver_sql(f"GRANT {p} ON {_q(masked_schema(schema_name, level))}.{_q(name)} "
                                         f"TO {_q(rg)}")
                cols = readable_columns(name, level) if p == "SELECT" and name in views else None
                if cols is not None:  # not the clear personal data its role type sees masked
                    p = f"SELECT ({', '.join(_q(c) for c in cols)})"
                conn.exec_driver_sql(f"GRANT {p} ON {_q(name)} TO {_q(rg)}")
        # the summaries: read by whom may read every table they add up
        for name in summaries.grants(conn, granted):
            conn.exec_driver_sql(f"GRANT SELECT ON {name} TO {_q(rg)}")
    logins = conn.execute(text(f"SELECT l.db_role, e.role_id, e.role_type FROM {LOGIN_TABLE} l "
                               "JOIN employee e ON e.id = l.employee_id ORDER BY l.db_role")).all()
    for db_role, role_id, role_type in logins:
        _sync_login(conn, group, schema_name, db_role, int(role_id), role_type, list(rights))


def _sync_login(conn: Connection, group: str, schema_name: str, db_role: str, role_id: int, role_type: str,
                role_ids: list[int]) -> None:
    r = _q(db_role)
    for other in role_ids:
        if other != role_id:
            conn.exec_driver_sql(f"REVOKE {_q(rights_group(group, other))} FROM {r}")
    conn.exec_driver_sql(f"GRANT {_q(rights_group(group, role_id))} TO {r}")
    level = mask_level(role_type)
    conn.exec_driver_sql(f"REVOKE ALL ON audit_log FROM {r}")
    cols = ", ".join(_q(c) for c in audit_columns(level).values())
    conn.exec_driver_sql(f"GRANT SELECT ({cols}) ON audit_log TO {r}")
    path = f"{_q(masked_schema(schema_name, level))}, {_q(schema_name)}" if level else _q(schema_name)
    conn.exec_driver_sql(f"ALTER ROLE {r} SET search_path = {path}")


def create_login(conn: Connection, group: str, db_role: str, password: str, employee_id: int,
                 student: str | None = None) -> None:
    """A new LOGIN role for one person, member of ``group`` and of its role's group, acting as
    ``employee_id``.

    Roles belong to the whole server: an existing role of that name is never taken over
    (PostgreSQL refuses ``CREATE ROLE`` for it).
    """
    r = _q(db_role)
    conn.exec_driver_sql(f"CREATE ROLE {r} LOGIN "
                         f"CONNECTION LIMIT {CONNECTION_LIMIT} PASSWORD {_literal(password)}")
    conn.exec_driver_sql(f"GRANT {_q(group)} TO {r}")
    conn.exec_driver_sql(f"ALTER ROLE {r} SET statement_timeout = {_literal(STATEMENT_TIMEOUT)}")
    # no JIT: the row-level security of a history query is one large expression that PostgreSQL
    # would compile to machine code on every statement (measured: 1.8 s of JIT for a 7 ms query)
    conn.exec_driver_sql(f"ALTER ROLE {r} SET jit = off")
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    conn.execute(text(f"INSERT INTO {LOGIN_TABLE} (db_role, employee_id, student) VALUES (:r, :e, :s) "
                      "ON CONFLICT (db_role) DO UPDATE SET employee_id = EXCLUDED.employee_id, student = EXCLUDED.student"),
                 {"r": db_role, "e": int(employee_id), "s": student})
    role_id, role_type = conn.execute(text("SELECT role_id, role_type FROM employee WHERE id = :e"),
                                      {"e": int(employee_id)}).one()
    _sync_login(conn, group, schema_name, db_role, int(role_id), role_type, list(role_rights(conn)))


def drop_logins(conn: Connection, group: str) -> list[str]:
    """Remove every login of the connected classroom world, its role groups and its group role;
    returns the logins' names."""
    names = conn.execute(text(f"SELECT db_role FROM {LOGIN_TABLE} ORDER BY db_role")).scalars().all()
    for name in names:
        conn.exec_driver_sql(f"DROP OWNED BY {_q(name)}")
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_q(name)}")
    conn.exec_driver_sql(f"DELETE FROM {LOGIN_TABLE}")
    for role_id in conn.execute(text("SELECT id FROM role ORDER BY id")).scalars():
        rg = rights_group(group, role_id)
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": rg}).first():
            conn.exec_driver_sql(f"DROP OWNED BY {_q(rg)}")
            conn.exec_driver_sql(f"DROP ROLE {_q(rg)}")
    conn.exec_driver_sql(f"DROP OWNED BY {_q(group)}")
    conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_q(group)}")
    return list(names)
