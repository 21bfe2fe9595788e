"""The summaries the database keeps beside a world's tables, for the screens that would
otherwise add up hundreds of thousands of rows at every opening:

* :mod:`simcrm.store.receivables` — ``order_receivable``: per order, its payment-plan and
  payment totals and dates (the dashboard's 逾期应收);
* :mod:`simcrm.store.funnel_summary` — ``opportunity_funnel``: per opportunity, its furthest
  stage and its stays per stage (the sales funnel);
* :mod:`simcrm.store.sales_summary` — ``customer_sales``: per customer, the sum, number and
  latest date of its orders that count as sales (the dashboard's pyramid and RFM).

Each is kept by triggers (SQLite and PostgreSQL) that recompute the row of the record a changed
row belongs to; writers that turn the triggers off (the bulk path of
:func:`simcrm.store.frames.write_frames`, PostgreSQL's replica mode) rebuild the summaries
afterwards (:func:`rebuild`). They are machinery, not part of :mod:`simcrm.store.schema`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from . import funnel_summary, receivables, sales_summary

__all__ = ["MODULES", "names", "ddl", "install", "rebuild", "rebuild_sqlite", "grants", "policies"]

#: each summary's module (``NAME``, ``SOURCES``, ``ddl``, ``install``, ``rebuild``, ``policy_sql`` …)
MODULES = (receivables, funnel_summary, sales_summary)


def names() -> list[str]:
    return [m.NAME for m in MODULES]


def ddl(dialect: Any) -> list[str]:
    """The SQLite statements creating every (empty) summary and its triggers in a new world."""
    return [s for m in MODULES for s in m.ddl(dialect)]


def install(conn: Connection) -> list[str]:
    """Add the missing summaries to the connected world (filled from its rows); their names."""
    return [m.NAME for m in MODULES if m.install(conn)]


def rebuild(conn: Connection) -> None:
    """Recompute every summary the world has from its rows (writes made with triggers off)."""
    for m in MODULES:
        m.rebuild(conn)


def rebuild_sqlite(raw: Any, dialect: Any, tables: set[str]) -> None:
    """:func:`rebuild` on a raw ``sqlite3`` connection, of the summaries of ``tables``."""
    for m in MODULES:
        if m.SOURCES & tables:
            m.rebuild_sqlite(raw, dialect)


def grants(conn: Connection, granted: dict[str, set[str]]) -> list[str]:
    """PostgreSQL: the summaries a role may read — those of tables it may all read."""
    return [m.NAME for m in MODULES if m.exists(conn) and all("SELECT" in granted[t] for t in m.SOURCES)]


def policies(conn: Connection, group: str) -> list[str]:
    """PostgreSQL: the row-level security statements of the summaries the world has."""
    return [s for m in MODULES if m.exists(conn) for s in m.policy_sql(group)]
