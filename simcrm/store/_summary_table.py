"""What the three summaries (:mod:`.receivables`, :mod:`.funnel_summary`, :mod:`.sales_summary`)
ask of the connected database about their own table."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection


def table_exists(conn: Connection, name: str) -> bool:
    """Whether the connected world has table ``name`` (readable by this login or not)."""
    if conn.dialect.name == "sqlite":
        return conn.execute(text("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n)"),
                            {"n": name}).scalar() == 1
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar())


def table_available(conn: Connection, name: str) -> bool:
    """Whether the connected world has table ``name`` and this login may read it."""
    if conn.dialect.name == "sqlite":
        return table_exists(conn, name)
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL AND has_table_privilege(to_regclass(:n), 'SELECT')"),
                             {"n": name}).scalar())
