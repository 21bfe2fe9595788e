"""Per-customer sales kept by the database: ``customer_sales`` (客户销售汇总).

The dashboard's pyramid and RFM charts need, per customer, the sum, the number and the latest
date of its orders that count as sales (审批“同意”, not 意外中止: :data:`SALE`); added up from
the rows that is every one of a world's 540,000 orders at every opening. This table holds one
row per customer with at least one such order: ``cents`` (each order's total rounded to the
cent, as :func:`simcrm.analytics.sql._cents`), ``orders`` and ``last_date``.

**Kept by the database**, as :mod:`simcrm.store.receivables`: ``AFTER INSERT / UPDATE / DELETE``
triggers on ``sales_order`` (an update of its customer, approval, status, total or date)
recompute the row of each customer concerned from that customer's orders (SQLite and
PostgreSQL; ``SECURITY DEFINER`` there, read under the customer's row-level security by the
roles that may read orders). Not part of the schema students see; a world without it computes
from the rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, Table, text
from sqlalchemy.engine import Connection

from ._summary_table import pg_refresh_functions, pg_search_path, table_available, table_exists

__all__ = ["TABLE", "NAME", "SOURCES", "SALE", "ddl", "install", "rebuild", "rebuild_sqlite", "exists",
           "available", "policy_sql", "refresh_sql"]

NAME = "customer_sales"
#: the tables whose rows the summary adds up
SOURCES = frozenset({"sales_order"})
#: the orders that count as sales (the dashboard's 销售额)
SALE = "approval = '同意' AND status <> '意外中止'"

#: the summary table (its own metadata: not part of :data:`simcrm.store.schema.metadata`)
TABLE = Table(
    NAME, MetaData(),
    Column("customer_id", Integer, primary_key=True, autoincrement=False),
    Column("cents", BigInteger, nullable=False),
    Column("orders", Integer, nullable=False),
    Column("last_date", Date, nullable=False),
)


def _cents(dialect: str) -> str:
    return f"CAST(ROUND(total_amount * 100) AS {'INTEGER' if dialect == 'sqlite' else 'bigint'})"


def refresh_sql(customer: str, dialect: str) -> list[str]:
    """The statements that make the row of customer ``customer`` (SQL text) what its orders give."""
    return [f"DELETE FROM {NAME} WHERE customer_id = {customer}",
            f"INSERT INTO {NAME} (customer_id, cents, orders, last_date) "
            f"SELECT customer_id, SUM({_cents(dialect)}), COUNT(*), MAX(order_date) FROM sales_order "
            f"WHERE customer_id = {customer} AND {SALE} GROUP BY customer_id"]


def _fill_sql(dialect: str) -> str:
    return (f"INSERT INTO {NAME} (customer_id, cents, orders, last_date) "
            f"SELECT customer_id, SUM({_cents(dialect)}), COUNT(*), MAX(order_date) FROM sales_order "
            f"WHERE {SALE} GROUP BY customer_id ORDER BY customer_id")


_UPDATE = "UPDATE OF customer_id, approval, status, total_amount, order_date"


def _sqlite_triggers() -> list[str]:
    new, old = refresh_sql("NEW.customer_id", "sqlite"), refresh_sql("OLD.customer_id", "sqlite")
    return [f"CREATE TRIGGER tr_sales_order_sales_insert AFTER INSERT ON sales_order BEGIN {'; '.join(new)}; END",
            f"CREATE TRIGGER tr_sales_order_sales_delete AFTER DELETE ON sales_order BEGIN {'; '.join(old)}; END",
            f"CREATE TRIGGER tr_sales_order_sales_update AFTER {_UPDATE} ON sales_order "
            f"BEGIN {'; '.join(old + new)}; END"]


def _pg_sql(conn: Connection) -> list[str]:
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    return [
        *pg_refresh_functions("simcrm_sales_refresh", "c", refresh_sql("c", "postgresql"), pg_search_path(schema_name),
                              {"simcrm_sales": "customer_id"}),
        "DROP TRIGGER IF EXISTS simcrm_sales ON sales_order",
        f"CREATE TRIGGER simcrm_sales AFTER INSERT OR DELETE OR {_UPDATE} ON sales_order "
        "FOR EACH ROW EXECUTE FUNCTION simcrm_sales()",
    ]


def _create_sql(dialect: Any) -> list[str]:
    from sqlalchemy.schema import CreateTable

    return [str(CreateTable(TABLE).compile(dialect=dialect)).strip()]


def ddl(dialect: Any) -> list[str]:
    """The statements that create the (empty) summary and its triggers in a new SQLite database."""
    if dialect.name != "sqlite":
        raise ValueError("ddl() is the SQLite short path; use install() elsewhere")
    return [*_create_sql(dialect), *_sqlite_triggers()]


def exists(conn: Connection) -> bool:
    """Whether the connected world has the summary (readable or not)."""
    return table_exists(conn, NAME)


def available(conn: Connection) -> bool:
    """Whether the connected world has the summary and this login may read it."""
    return table_available(conn, NAME)


def install(conn: Connection) -> bool:
    """Create the summary, fill it from the rows and create its triggers (caller's transaction);
    nothing when it is there already. Returns whether it was created."""
    if exists(conn):
        return False
    for stmt in _create_sql(conn.dialect):
        conn.exec_driver_sql(stmt)
    conn.exec_driver_sql(_fill_sql(conn.dialect.name))
    for stmt in (_sqlite_triggers() if conn.dialect.name == "sqlite" else _pg_sql(conn)):
        conn.exec_driver_sql(stmt)
    return True


def rebuild(conn: Connection) -> bool:
    """Recompute the whole summary from the rows (after writes with the triggers off)."""
    if not exists(conn):
        return False
    conn.exec_driver_sql(f"DELETE FROM {NAME}")
    conn.exec_driver_sql(_fill_sql(conn.dialect.name))
    return True


def rebuild_sqlite(raw: Any, dialect: Any = None) -> None:
    """:func:`rebuild` on a raw ``sqlite3`` connection (bulk writes)."""
    if raw.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", (NAME,)).fetchone()[0]:
        raw.execute(f"DELETE FROM {NAME}")
        raw.execute(_fill_sql("sqlite"))


def policy_sql(group: str) -> list[str]:
    """PostgreSQL: a login reads a customer's row when it may see the customer."""
    return [f"ALTER TABLE {NAME} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS simcrm_read ON {NAME}",
            f"CREATE POLICY simcrm_read ON {NAME} FOR SELECT TO {group} USING "
            f"((SELECT simcrm_sees_all()) OR EXISTS (SELECT 1 FROM customer p WHERE p.id = {NAME}.customer_id))"]
