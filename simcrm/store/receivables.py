"""Per-order payment totals kept by the database: ``order_receivable`` (回款汇总).

The dashboard's 逾期应收 (overdue receivables) depends on "today": per order, the instalments
due before today less the payments made by today. Computed from the rows, that is every one of
a world's payment-plan and payment rows at every opening (1.29 M rows, ~0.8 s of CPU time on a
100,000-customer world). This table holds, per order that has payment-plan or payment rows:

* ``plan_cents`` / ``paid_cents`` — the sum of its instalments / payments, in cents (each
  amount rounded to the cent, as :func:`simcrm.analytics.sql._cents`);
* ``unpaid_cents`` — ``plan_cents − paid_cents`` (indexed: the orders not fully paid);
* ``first_due`` / ``last_due`` — its earliest and latest instalment due dates;
* ``last_paid`` — its latest payment date (indexed: orders paid after a given day).

so that only the orders not fully paid, or with a payment after "today", need their instalments
read (:func:`simcrm.analytics.sql.overdue_total_sql`).

**Who keeps it right: the database.** ``AFTER INSERT / UPDATE / DELETE`` triggers on
``payment_plan`` and ``payment`` (SQLite and PostgreSQL) recompute the row of each order a
changed row belongs to (before and after an update) from that order's rows — a summary row is
always the aggregate of its order's current rows, whoever writes them: the CRM operations, the
simulation (its bulk path inserts with the triggers off and then rebuilds the table from all the
rows, :func:`rebuild_sqlite`), the lab undo (which deletes rows directly), a notebook's raw SQL,
a student login of a PostgreSQL classroom world. There the trigger function is ``SECURITY
DEFINER`` (it runs as the tables' owner: a login that may insert a payment need not be able to
write this table, and sees every row of the order to add up); a login reads the table under a
row-level security policy that shows an order's row when it may see the order
(:mod:`simcrm.store.pg_security`), and only with the read rights of both payment tables.

It is machinery, not part of the schema students see (:mod:`simcrm.store.schema`): not in
``schema.TABLES``, datasets, exports or the audit log. A world made before this table existed
(or a store whose login may not read it) lacks it; :func:`available` says so and the readers
compute from the rows instead (:func:`install` adds it to such a world).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, Index, Integer, MetaData, Table, text
from sqlalchemy.engine import Connection

from ._summary_table import pg_refresh_functions, pg_search_path, table_available, table_exists

__all__ = ["TABLE", "NAME", "SOURCES", "ddl", "install", "rebuild", "rebuild_sqlite", "exists", "available",
           "policy_sql", "refresh_sql"]

NAME = "order_receivable"

#: the summary table (its own metadata: not part of :data:`simcrm.store.schema.metadata`)
TABLE = Table(
    NAME, MetaData(),
    Column("order_id", Integer, primary_key=True, autoincrement=False),
    Column("plan_cents", BigInteger, nullable=False),
    Column("paid_cents", BigInteger, nullable=False),
    Column("unpaid_cents", BigInteger, nullable=False),
    Column("first_due", Date),
    Column("last_due", Date),
    Column("last_paid", Date),
    Index(f"ix_{NAME}_unpaid_cents", "unpaid_cents"),
    Index(f"ix_{NAME}_last_paid", "last_paid"),
)

#: the source tables and their date column
_SOURCES = {"payment_plan": "due_date", "payment": "paid_date"}
#: the tables whose rows the summary adds up
SOURCES = frozenset(_SOURCES)


def _cents(dialect: str) -> str:
    return f"CAST(ROUND(amount * 100) AS {'INTEGER' if dialect == 'sqlite' else 'bigint'})"


def refresh_sql(order: str, dialect: str) -> list[str]:
    """The statements that make the summary row of order ``order`` (an SQL expression) the
    aggregate of its current payment-plan and payment rows (no row when it has none)."""
    c = _cents(dialect)
    return [
        f"DELETE FROM {NAME} WHERE order_id = {order}",
        f"INSERT INTO {NAME} (order_id, plan_cents, paid_cents, unpaid_cents, first_due, last_due, last_paid) "
        f"SELECT {order}, p.c, q.c, p.c - q.c, p.f, p.l, q.l FROM "
        f"(SELECT COALESCE(SUM({c}), 0) AS c, MIN(due_date) AS f, MAX(due_date) AS l, COUNT(*) AS n "
        f"FROM payment_plan WHERE order_id = {order}) AS p, "
        f"(SELECT COALESCE(SUM({c}), 0) AS c, MAX(paid_date) AS l, COUNT(*) AS n "
        f"FROM payment WHERE order_id = {order}) AS q "
        f"WHERE p.n + q.n > 0",
    ]


def _fill_sql(dialect: str) -> str:
    """Fill the (empty) summary from every row already there."""
    c = _cents(dialect)
    none = "NULL" if dialect == "sqlite" else "CAST(NULL AS date)"
    return (f"INSERT INTO {NAME} (order_id, plan_cents, paid_cents, unpaid_cents, first_due, last_due, last_paid) "
            "SELECT order_id, SUM(pc), SUM(qc), SUM(pc) - SUM(qc), MIN(d), MAX(d), MAX(pd) FROM ("
            f"SELECT order_id, {c} AS pc, 0 AS qc, due_date AS d, {none} AS pd FROM payment_plan "
            f"UNION ALL SELECT order_id, 0, {c}, {none}, paid_date FROM payment) AS rows "
            "GROUP BY order_id ORDER BY order_id")


def _sqlite_triggers() -> list[str]:
    out = []
    for table, day in _SOURCES.items():
        new, old = refresh_sql("NEW.order_id", "sqlite"), refresh_sql("OLD.order_id", "sqlite")
        out.append(f"CREATE TRIGGER tr_{table}_receivable_insert AFTER INSERT ON {table} BEGIN "
                   + "; ".join(new) + "; END")
        out.append(f"CREATE TRIGGER tr_{table}_receivable_delete AFTER DELETE ON {table} BEGIN "
                   + "; ".join(old) + "; END")
        out.append(f"CREATE TRIGGER tr_{table}_receivable_update AFTER UPDATE OF order_id, {day}, amount "
                   f"ON {table} BEGIN " + "; ".join(old + new) + "; END")
    return out


def _pg_functions(schema_name: str) -> list[str]:
    return pg_refresh_functions("simcrm_receivable_refresh", "o", refresh_sql("o", "postgresql"),
                                pg_search_path(schema_name), {"simcrm_receivable": "order_id"})


def _pg_triggers() -> list[str]:
    out = []
    for table, day in _SOURCES.items():
        out.append(f"DROP TRIGGER IF EXISTS simcrm_receivable ON {table}")
        out.append(f"CREATE TRIGGER simcrm_receivable AFTER INSERT OR DELETE OR UPDATE OF order_id, {day}, amount "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION simcrm_receivable()")
    return out


def _create_sql(dialect: Any) -> list[str]:
    from sqlalchemy.schema import CreateIndex, CreateTable

    return [str(CreateTable(TABLE).compile(dialect=dialect)).strip(),
            *(str(CreateIndex(ix).compile(dialect=dialect)).strip() for ix in sorted(TABLE.indexes, key=lambda i: i.name))]


def ddl(dialect: Any) -> list[str]:
    """Every statement that creates the (empty) summary and its triggers in a new SQLite
    database (after the schema's tables), in order."""
    if dialect.name != "sqlite":
        raise ValueError("ddl() is the SQLite short path; use install() elsewhere")
    return [*_create_sql(dialect), *_sqlite_triggers()]


def install(conn: Connection) -> bool:
    """Create the summary, fill it from the rows there and create its triggers, in the caller's
    transaction; nothing when it is there already. Returns whether it was created."""
    if exists(conn):
        return False
    dialect = conn.dialect
    for stmt in _create_sql(dialect):
        conn.exec_driver_sql(stmt)
    conn.exec_driver_sql(_fill_sql(dialect.name))
    if dialect.name == "sqlite":
        for stmt in _sqlite_triggers():
            conn.exec_driver_sql(stmt)
    else:
        schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
        for stmt in [*_pg_functions(schema_name), *_pg_triggers()]:
            conn.exec_driver_sql(stmt)
    return True


def rebuild(conn: Connection) -> bool:
    """Recompute the whole summary from the rows, in the caller's transaction (for a writer that
    ran with the triggers off, e.g. PostgreSQL's ``session_replication_role = replica``);
    nothing when the world has no summary. Returns whether it had one."""
    if not exists(conn):
        return False
    conn.exec_driver_sql(f"DELETE FROM {NAME}")
    conn.exec_driver_sql(_fill_sql(conn.dialect.name))
    return True


def policy_sql(group: str) -> list[str]:
    """PostgreSQL: the summary's row-level security for the students' group ``group`` (quoted
    identifier): an order's row is visible when the order is (its own policy applies inside the
    subquery); students never write it (the triggers do, as the owner)."""
    return [f"ALTER TABLE {NAME} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS simcrm_read ON {NAME}",
            f"CREATE POLICY simcrm_read ON {NAME} FOR SELECT TO {group} USING "
            f"((SELECT simcrm_sees_all()) OR EXISTS (SELECT 1 FROM sales_order p WHERE p.id = {NAME}.order_id))"]


def rebuild_sqlite(raw: Any, dialect: Any = None) -> None:
    """Recompute the whole summary of a SQLite world from its rows (a raw ``sqlite3`` connection,
    inside the caller's transaction); nothing when the world has no summary. For bulk writes,
    which insert with the triggers off (:func:`simcrm.store.frames.write_frames`)."""
    if not raw.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
                       (NAME,)).fetchone()[0]:
        return
    raw.execute(f"DELETE FROM {NAME}")
    raw.execute(_fill_sql("sqlite"))


def exists(conn: Connection) -> bool:
    """Whether the connected world has the summary (readable or not)."""
    return table_exists(conn, NAME)


def available(conn: Connection) -> bool:
    """Whether the connected world has the summary and this login may read it."""
    return table_available(conn, NAME)
