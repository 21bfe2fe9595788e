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


def pg_search_path(schema_name: str) -> str:
    """The ``SET search_path`` clause of a summary's SECURITY DEFINER functions (its schema, then
    ``pg_temp``: a login's own objects never stand in for the world's tables)."""
    return f'SET search_path = "{schema_name}", pg_temp'


def pg_refresh_functions(refresh: str, param: str, statements: list[str], path: str,
                         triggers: dict[str, str]) -> list[str]:
    """A summary's PostgreSQL functions: ``refresh(param integer)`` runs ``statements`` (which
    recompute one row of the summary from its source rows), and each trigger function of
    ``triggers`` (``{function: key column of the changed row}``) refreshes the rows of the old
    and of the new key."""
    body = ";\n            ".join(statements)
    out = [f"""CREATE OR REPLACE FUNCTION {refresh}({param} integer) RETURNS void LANGUAGE sql
            SECURITY DEFINER {path} AS $$
            {body} $$"""]
    for fn, key in triggers.items():
        out.append(f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM {refresh}(OLD.{key}); END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM {refresh}(NEW.{key}); END IF;
            RETURN NULL;
        END $$""")
    return out
