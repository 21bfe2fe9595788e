"""Per-opportunity stage-history figures kept by the database: ``opportunity_funnel`` (漏斗汇总).

The sales funnel (:func:`simcrm.analytics.sql.funnel_sql`) needs, per opportunity, the
furthest stage its history reached and, per stage, how long its stays lasted; computed from
the rows that is every one of a world's 760,000 stage-history rows (two ``julianday`` each)
at every opening (3–5 s of CPU time on a 100,000-customer world). This table holds one row
per opportunity (whether it has history rows or not):

* ``h`` — the furthest stage of :data:`simcrm.analytics.funnel.STAGES` in its history (its
  position, −1 when none); ``c`` — its current stage's position (the last stage when won,
  −1 for a stage not in the list); the funnel's "reached" counts the larger of the two;
* ``max_entered`` / ``max_left`` — its latest ``entered_at`` / ``left_at`` (the funnel's
  default "as of");
* per stage *i* of ``STAGES``, over its history rows in that stage that are stays (not the
  rows recording the closing, as the funnel defines them): ``n<i>`` the stays, ``fixed<i>``
  the days of those whose end is known (``left_at``, else the close date of a closed
  opportunity), ``open<i>`` the stays still open (they end at the funnel's "as of") and
  ``open_t<i>`` the sum of their ``entered_at`` as day numbers (SQLite ``julianday``,
  PostgreSQL epoch / 86400). A stage's days as of *t* are then
  ``Σ fixed + Σ open × t − Σ open_t``, with no row read.

**Kept by the database**, as :mod:`simcrm.store.receivables`: triggers on
``opportunity_stage_history`` (insert, update, delete) and ``opportunity`` (insert, delete,
a change of its stage, status or close date, which decide which rows are stays and when they end)
recompute the row of the opportunity concerned from its current rows (SQLite and PostgreSQL;
``SECURITY DEFINER`` there, read under the opportunity's row-level security). The recomputing
query is :func:`per_opportunity` — the same expressions the funnel's definitions use. Not part
of the schema students see; a world without it computes from the rows.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (Column, DateTime, Float, Index, Integer, MetaData, Table, and_, case, cast, extract, func, null,
                        literal, literal_column, not_, or_, select, text)
from sqlalchemy.engine import Connection

from ._summary_table import pg_refresh_functions, pg_search_path, table_available, table_exists

__all__ = ["TABLE", "NAME", "SOURCES", "PARENT", "stages", "per_opportunity", "ddl", "install", "rebuild",
           "rebuild_sqlite", "exists", "available", "policy_sql", "day_number"]

NAME = "opportunity_funnel"
#: the tables whose rows the summary adds up
SOURCES = frozenset({"opportunity", "opportunity_stage_history"})
#: the table whose row-level security a summary row follows, and the column pointing to it
PARENT = ("opportunity", "opportunity_id")


def stages() -> tuple[str, ...]:
    from ..analytics.funnel import STAGES

    return tuple(STAGES)


def _columns() -> list[Column]:
    cols = [Column("opportunity_id", Integer, primary_key=True, autoincrement=False),
            Column("h", Integer, nullable=False), Column("c", Integer, nullable=False),
            Column("max_entered", DateTime), Column("max_left", DateTime)]
    for i in range(len(stages())):
        cols += [Column(f"n{i}", Integer, nullable=False), Column(f"fixed{i}", Float, nullable=False),
                 Column(f"open{i}", Integer, nullable=False), Column(f"open_t{i}", Float, nullable=False)]
    return [*cols, Index(f"ix_{NAME}_h_c", "h", "c")]


@functools.cache
def _table() -> Table:
    return Table(NAME, MetaData(), *_columns())


def __getattr__(name: str) -> Any:
    # TABLE, the summary table (its own metadata: not part of simcrm.store.schema.metadata), is
    # built on first use: its columns follow the funnel's stages, and importing simcrm.store
    # need not import simcrm.analytics
    if name == "TABLE":
        return _table()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def day_number(column: Any, dialect: str) -> Any:
    """A timestamp as a (fractional) day number: ``julianday`` in SQLite, epoch / 86400 elsewhere."""
    if dialect == "sqlite":
        return func.julianday(column)
    return extract("epoch", column) / 86400.0


def _days_between(end: Any, start: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return extract("epoch", end - start) / 86400.0


def per_opportunity(dialect: str, key: Any = None) -> Any:
    """``SELECT`` of the summary rows (columns of :data:`TABLE`, in order) from the rows: of the
    opportunity ``key`` (an SQL expression, e.g. ``literal_column("NEW.id")``), or of all."""
    from ..analytics.funnel import CLOSED_STATUSES, WON_STATUS
    from . import schema

    op = schema.metadata.tables["opportunity"]
    hist = schema.metadata.tables["opportunity_stage_history"]
    order = stages()
    pos = {s: i for i, s in enumerate(order)}
    # the funnel's rules (funnel_sql): which rows are stays, and when a stay ends
    closed = op.c.status.in_(list(CLOSED_STATUSES))
    close_at = case((closed, op.c.closed_at), else_=null())
    event = or_(and_(closed, op.c.closed_at.isnot(None), hist.c.entered_at >= op.c.closed_at),
                hist.c.status.in_(list(CLOSED_STATUSES)))
    stay = not_(event)
    end = func.coalesce(hist.c.left_at, close_at)
    days = cast(_days_between(end, hist.c.entered_at, dialect), Float)
    t = cast(day_number(hist.c.entered_at, dialect), Float)
    current = case((op.c.status == WON_STATUS, literal(len(order) - 1)),
                   else_=case(pos, value=op.c.stage, else_=literal(-1)))
    # per (opportunity, stage) first — one pass in the order of the index (opportunity_id,
    # stage), each row's rules worked out once — then one row per opportunity
    per_stage = (select(hist.c.opportunity_id.label("oid"), hist.c.stage.label("stage"),
                        func.count(case((stay, literal(1)), else_=null())).label("n"),
                        func.sum(case((and_(stay, end.isnot(None)), days), else_=null())).label("fixed"),
                        func.count(case((and_(stay, end.is_(None)), literal(1)), else_=null())).label("open"),
                        func.sum(case((and_(stay, end.is_(None)), t), else_=null())).label("open_t"),
                        func.max(hist.c.entered_at).label("entered"), func.max(hist.c.left_at).label("left"))
                 .select_from(hist.join(op, op.c.id == hist.c.opportunity_id)))
    if key is not None:
        per_stage = per_stage.where(hist.c.opportunity_id == key)
    g = per_stage.group_by(hist.c.opportunity_id, hist.c.stage).subquery("per_stage")
    cols = [op.c.id, func.coalesce(func.max(case(pos, value=g.c.stage, else_=literal(-1))), literal(-1)), current,
            func.max(g.c.entered), func.max(g.c.left)]
    for s in order:
        here = g.c.stage == s
        cols += [func.coalesce(func.sum(case((here, g.c.n), else_=null())), literal(0)),
                 func.coalesce(func.sum(case((here, g.c.fixed), else_=null())), literal(0.0)),
                 func.coalesce(func.sum(case((here, g.c.open), else_=null())), literal(0)),
                 func.coalesce(func.sum(case((here, g.c.open_t), else_=null())), literal(0.0))]
    q = select(*cols).select_from(op.outerjoin(g, g.c.oid == op.c.id))
    if key is not None:
        q = q.where(op.c.id == key)
    return q.group_by(op.c.id).order_by(op.c.id)


def _sql(q: Any, dialect: Any) -> str:
    return str(q.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _column_list() -> str:
    return ", ".join(c.name for c in _table().columns)


#: compiled statements per (what, dialect name): a store is created often (every world, every
#: test), and compiling the per-opportunity query takes SQLAlchemy a few hundredths of a second
_COMPILED: dict[tuple[str, str], Any] = {}


def refresh_sql(key: str, dialect: Any) -> list[str]:
    """The statements that make the row of opportunity ``key`` (SQL text) what its rows give."""
    k = (f"refresh {key}", dialect.name)
    if k not in _COMPILED:
        _COMPILED[k] = _refresh_sql(key, dialect)
    return list(_COMPILED[k])


def _refresh_sql(key: str, dialect: Any) -> tuple[str, ...]:
    return (f"DELETE FROM {NAME} WHERE opportunity_id = {key}",
            f"INSERT INTO {NAME} ({_column_list()}) " + _sql(per_opportunity(dialect.name, literal_column(key)), dialect))


def _fill_sql(dialect: Any) -> str:
    k = ("fill", dialect.name)
    if k not in _COMPILED:
        _COMPILED[k] = f"INSERT INTO {NAME} ({_column_list()}) " + _sql(per_opportunity(dialect.name), dialect)
    return _COMPILED[k]


#: trigger events per source table: (event, keys refreshed) ; UPDATE OF lists the columns that matter
_EVENTS = {
    "opportunity": [("INSERT", ("NEW.id",)), ("DELETE", ("OLD.id",)),
                    ("UPDATE OF id, stage, status, closed_at", ("OLD.id", "NEW.id"))],
    "opportunity_stage_history": [("INSERT", ("NEW.opportunity_id",)), ("DELETE", ("OLD.opportunity_id",)),
                                  ("UPDATE OF opportunity_id, stage, status, entered_at, left_at",
                                   ("OLD.opportunity_id", "NEW.opportunity_id"))],
}


def _sqlite_triggers(dialect: Any) -> list[str]:
    out = []
    for table, events in _EVENTS.items():
        for event, keys in events:
            body = [s for k in keys for s in refresh_sql(k, dialect)]
            out.append(f"CREATE TRIGGER tr_{table}_funnel_{event.split()[0].lower()} AFTER {event} ON {table} "
                       "BEGIN " + "; ".join(body) + "; END")
    return out


def _pg_functions(conn: Connection) -> list[str]:
    schema_name = conn.execute(text("SELECT current_schema()")).scalar_one()
    return pg_refresh_functions("simcrm_funnel_refresh", "o", refresh_sql("o", conn.dialect), pg_search_path(schema_name),
                                {"simcrm_funnel_opportunity": "id", "simcrm_funnel_history": "opportunity_id"})


def _pg_triggers() -> list[str]:
    out = []
    for table, fn in (("opportunity", "simcrm_funnel_opportunity"), ("opportunity_stage_history", "simcrm_funnel_history")):
        update = _EVENTS[table][2][0]
        out.append(f"DROP TRIGGER IF EXISTS simcrm_funnel ON {table}")
        out.append(f"CREATE TRIGGER simcrm_funnel AFTER INSERT OR DELETE OR {update} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {fn}()")
    return out


def _create_sql(dialect: Any) -> list[str]:
    from sqlalchemy.schema import CreateIndex, CreateTable

    return [str(CreateTable(_table()).compile(dialect=dialect)).strip(),
            *(str(CreateIndex(ix).compile(dialect=dialect)).strip() for ix in sorted(_table().indexes, key=lambda i: i.name))]


def ddl(dialect: Any) -> list[str]:
    """The statements that create the (empty) summary and its triggers in a new SQLite database."""
    if dialect.name != "sqlite":
        raise ValueError("ddl() is the SQLite short path; use install() elsewhere")
    return [*_create_sql(dialect), *_sqlite_triggers(dialect)]


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
    conn.exec_driver_sql(_fill_sql(conn.dialect))
    stmts = _sqlite_triggers(conn.dialect) if conn.dialect.name == "sqlite" else [*_pg_functions(conn), *_pg_triggers()]
    for stmt in stmts:
        conn.exec_driver_sql(stmt)
    return True


def rebuild(conn: Connection) -> bool:
    """Recompute the whole summary from the rows (after writes with the triggers off)."""
    if not exists(conn):
        return False
    conn.exec_driver_sql(f"DELETE FROM {NAME}")
    conn.exec_driver_sql(_fill_sql(conn.dialect))
    return True


def rebuild_sqlite(raw: Any, dialect: Any) -> None:
    """:func:`rebuild` on a raw ``sqlite3`` connection (bulk writes)."""
    if raw.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", (NAME,)).fetchone()[0]:
        raw.execute(f"DELETE FROM {NAME}")
        raw.execute(_fill_sql(dialect))


def policy_sql(group: str) -> list[str]:
    """PostgreSQL: a login reads an opportunity's row when it may see the opportunity."""
    return [f"ALTER TABLE {NAME} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS simcrm_read ON {NAME}",
            f"CREATE POLICY simcrm_read ON {NAME} FOR SELECT TO {group} USING "
            f"((SELECT simcrm_sees_all()) OR EXISTS (SELECT 1 FROM opportunity p WHERE p.id = {NAME}.opportunity_id))"]
