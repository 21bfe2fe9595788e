"""The analytics the CRM screens need, computed by the database (SQL), for one user's data scope.

:func:`receivables_aging_sql` is :func:`~simcrm.analytics.receivables_aging` as one query on a
world's ``payment_plan`` and ``payment`` tables: payments settle the instalments of their order
oldest due date first (a window ``SUM`` gives each instalment the amount due up to it), each
instalment's outstanding amount goes to its bucket by a ``CASE`` on its due date, and only the
aggregated rows (one per group) come back to Python. :func:`overdue_total_sql` is its
``total_overdue`` alone, which needs no window: per order, the past-due instalments owe
``max(0, due − paid)`` (the oldest instalments are paid first, so the past-due ones, the oldest,
are paid before any other).

Amounts are summed as integer cents (``ROUND(amount × 100)``): money is stored to the cent, so
the figures are exact whatever order the database adds them in, and equal to the cent to the
pandas function's (whose float sums depend on the order). ``tests/test_analytics_sql.py``
compares both on a seeded world for several roles.

Both take a :class:`~simcrm.crm.CRM` (its user's data scope, :meth:`~simcrm.crm.CRM.read_condition`
of ``sales_order``, selects the orders) and optional extra conditions ``where`` on ``sales_order``.
Nothing here writes to the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Float, and_, case, cast, exists, extract, func, literal, not_, or_, select, union_all

from ..errors import ValidationError
from ._validate import as_timestamp
from .stats import AGING_BUCKETS

__all__ = ["receivables_aging_sql", "overdue_total_sql", "funnel_sql", "scoped_orders", "AGING_BY"]

#: the groupings :func:`receivables_aging_sql` offers (columns of ``sales_order``)
AGING_BY: tuple[str, ...] = ("order_id", "customer_id", "owner_id")


def _tables() -> tuple[Any, Any, Any]:
    from ..store import schema

    t = schema.metadata.tables
    return t["payment_plan"], t["payment"], t["sales_order"]


def _cents(column: Any) -> Any:
    return cast(func.round(column * 100), BigInteger)


def _as_of_date(as_of: Any) -> dt.date:
    """The aging date as a date: ``days overdue = (as_of − due).days ≥ n`` ⟺ ``due ≤ date − n``."""
    return as_timestamp(as_of, "as_of").normalize().date()


def scoped_orders(crm: Any) -> tuple[Any, list[Any]]:
    """``(FROM clause, conditions)`` selecting the orders in ``crm``'s data scope: the
    ``sales_order`` table alone for a user who sees every order, otherwise joined with its
    customer under the customer's scope condition (see :func:`_orders`)."""
    from ..crm.base import PARENT

    _plan, _pay, o = _tables()
    scope = crm.scope_condition("customer") if crm is not None else None
    if scope is None or crm.sees_every_customer():  # a scope holding every customer: no join
        return o, []
    column, parent = PARENT["sales_order"]
    c = o.metadata.tables[parent]
    return o.join(c, c.c.id == o.c[column]), [scope]


def _orders(crm: Any, where: tuple[Any, ...]) -> Any:
    """``SELECT id FROM sales_order`` in the user's scope matching ``where``, or None (all orders).

    An order is in scope with its customer (:data:`simcrm.crm.base.PARENT`), so the query joins
    the customer and applies the customer's scope condition (:meth:`CRM.scope_condition`): the
    database then starts from the user's customers (index on ``owner_id``) and their orders
    (index on ``customer_id``) instead of testing every order with a correlated ``EXISTS``.
    """
    _plan, _pay, o = _tables()
    frm, scope = scoped_orders(crm)
    if not scope and not where:
        return None
    return select(o.c.id).select_from(frm).where(*scope, *where)


def overdue_total_sql(crm: Any, as_of: Any = None, *, where: Sequence[Any] = ()) -> float:
    """逾期应收合计: ``total_overdue`` of :func:`receivables_aging` (``by=None``) over the orders
    in ``crm``'s data scope that match the conditions ``where`` (on ``sales_order``), in yuan (exact to the cent).

    On a world with the per-order totals the database keeps (:mod:`simcrm.store.receivables`),
    one query reads only the orders not fully paid or paid after ``as_of`` (see
    :func:`_overdue_from_summary`). Otherwise one query over the rows: per order, the
    instalments due before ``as_of`` less the payments made by ``as_of`` (one ``GROUP BY
    order_id`` over the covering indexes ``(order_id, date, amount)`` of both tables), kept when
    positive. Either way the data scope and ``where`` are then tested on the orders that owe
    only (by primary key), and their amounts added up; a scope holding every customer is left
    out (:meth:`CRM.lean_read_condition`).
    """
    from ..store import receivables

    plan, pay, o = _tables()
    day = _as_of_date(crm.today if as_of is None else as_of)
    scope = crm.lean_read_condition("sales_order") if crm is not None else None
    conds = [*where, *([] if scope is None else [scope])]
    with crm.store._reader() as conn:
        if receivables.available(conn):
            cents = conn.execute(_overdue_from_summary(day, conds)).scalar()
            return int(cents or 0) / 100
    due_q = select(plan.c.order_id.label("order_id"), plan.c.amount.label("a")).where(plan.c.due_date < day)
    paid_q = select(pay.c.order_id.label("order_id"), (-pay.c.amount).label("a")).where(pay.c.paid_date <= day)
    both = union_all(due_q, paid_q).subquery("both")
    # an order's amounts are few and in cents: their float sum rounds to the exact cents
    per_order = (select(both.c.order_id.label("order_id"), _cents(func.sum(both.c.a)).label("owed"))
                 .group_by(both.c.order_id).subquery("per_order"))
    q = select(func.sum(per_order.c.owed)).where(per_order.c.owed > 0)
    if conds:
        q = q.where(exists().where(o.c.id == per_order.c.order_id, *conds))
    with crm.store._reader() as conn:
        cents = conn.execute(q).scalar()
    return int(cents or 0) / 100


def _overdue_from_summary(day: dt.date, conds: list[Any]) -> Any:
    """:func:`overdue_total_sql`'s query on a world with the per-order totals
    :data:`simcrm.store.receivables.TABLE` (plan total, paid total, first and last due date,
    last payment date, kept by the database).

    An order owes ``max(0, due before day − paid by day)``. A fully paid order whose payments
    are all dated by ``day`` owes nothing (paid by day = paid total ≥ plan total ≥ due before
    day), so only the orders not fully paid (``unpaid_cents > 0``) or paid after ``day`` are
    read (two indexes). Of those, one whose instalments are all due before ``day`` and
    payments all dated by it owes its unpaid total; one whose first instalment is due on or
    after ``day`` owes nothing; the others add up their instalments and payments (each on its
    covering index). The scope and ``conds`` are then tested on the orders that owe.
    """
    from ..store.receivables import TABLE as r

    plan, pay, o = _tables()
    due = (select(func.coalesce(func.sum(_cents(plan.c.amount)), 0))
           .where(plan.c.order_id == r.c.order_id, plan.c.due_date < day).scalar_subquery())
    paid = (select(func.coalesce(func.sum(_cents(pay.c.amount)), 0))
            .where(pay.c.order_id == r.c.order_id, pay.c.paid_date <= day).scalar_subquery())
    owed = case((and_(r.c.last_due < day, or_(r.c.last_paid.is_(None), r.c.last_paid <= day)), r.c.unpaid_cents),
                (r.c.first_due >= day, literal(0)),
                else_=due - paid)
    per_order = (select(r.c.order_id.label("order_id"), owed.label("owed"))
                 .where(or_(r.c.unpaid_cents > 0, r.c.last_paid > day)).subquery("per_order"))
    q = select(func.sum(per_order.c.owed)).where(per_order.c.owed > 0)
    if conds:
        q = q.where(exists().where(o.c.id == per_order.c.order_id, *conds))
    return q


def receivables_aging_sql(crm: Any, as_of: Any = None, by: str | None = None, *,
                          where: Sequence[Any] = ()) -> pd.DataFrame:
    """应收账款账龄 in SQL: :func:`~simcrm.analytics.receivables_aging` of the payment plans and
    payments of the orders in ``crm``'s data scope (matching ``where``).

    Args:
        crm: a :class:`~simcrm.crm.CRM` (its user's scope; the system administrator sees all).
        as_of: aging date (default: the CRM's today).
        by: ``None`` (one row), or a column of ``sales_order`` among :data:`AGING_BY`.
        where: SQLAlchemy conditions on ``sales_order`` (e.g. its owner).

    Returns:
        The columns of :func:`receivables_aging`: ``[by, not_due, 0-30, 31-60, 61-90, >90,
        total_overdue]``, one row per group having payment-plan rows (sorted by ``by``), in
        yuan, equal to the cent to the pandas function on the same rows.
    """
    if by is not None and by not in AGING_BY:
        raise ValidationError(field="by", value=by, label="分组字段", allowed=[None, *AGING_BY])
    plan, pay, o = _tables()
    day = _as_of_date(crm.today if as_of is None else as_of)
    orders = _orders(crm, tuple(where))
    amount = _cents(plan.c.amount)
    cols = [plan.c.order_id.label("order_id"), plan.c.due_date.label("due_date"), amount.label("a"),
            func.sum(amount).over(partition_by=plan.c.order_id, order_by=(plan.c.due_date, plan.c.id)).label("cum")]
    inst_q = select(*cols)
    if by in ("customer_id", "owner_id"):
        inst_q = select(*cols, o.c[by].label("grp")).join(o, o.c.id == plan.c.order_id)
    if orders is not None:
        inst_q = inst_q.where(plan.c.order_id.in_(orders))
    inst = inst_q.subquery("inst")
    paid_q = select(pay.c.order_id.label("order_id"), func.sum(_cents(pay.c.amount)).label("paid")).where(
        pay.c.paid_date <= day)
    if orders is not None:
        paid_q = paid_q.where(pay.c.order_id.in_(orders))
    paid = paid_q.group_by(pay.c.order_id).subquery("paid")
    # this instalment's share of the order's payments: what is left after the earlier instalments
    left = func.coalesce(paid.c.paid, 0) - (inst.c.cum - inst.c.a)
    share = case((left <= 0, literal(0)), (left >= inst.c.a, inst.c.a), else_=left)
    owed = inst.c.a - share
    labels = ["not_due", *(b[0] for b in AGING_BUCKETS)]
    buckets = [inst.c.due_date >= day]  # not yet due: days overdue < 1
    for _label, lo, hi in AGING_BUCKETS:
        cond = inst.c.due_date <= day - dt.timedelta(days=lo)
        if np.isfinite(hi):
            cond = and_(cond, inst.c.due_date >= day - dt.timedelta(days=int(hi)))
        buckets.append(cond)
    sums = [func.sum(case((cond, owed), else_=literal(0))).label(f"b{i}") for i, cond in enumerate(buckets)]
    group = {None: None, "order_id": inst.c.order_id}.get(by, inst.c.grp if by else None)
    q = select(*([group.label("grp")] if group is not None else []), *sums).select_from(
        inst.outerjoin(paid, paid.c.order_id == inst.c.order_id))
    if group is not None:
        # like pandas' pivot_table: rows whose group is missing are left out
        q = q.where(group.isnot(None)).group_by(group).order_by(group)
    else:
        q = q.having(func.count() > 0)
    with crm.store._reader() as conn:
        rows = conn.execute(q).all()
    width = len(labels)
    values = np.array([[int(v or 0) for v in r[-width:]] for r in rows], dtype="int64").reshape(len(rows), width)
    out = pd.DataFrame(values / 100, columns=labels).astype("float64")
    out["total_overdue"] = values[:, 1:].sum(axis=1) / 100
    if by is not None:
        out.insert(0, by, pd.Series([r[0] for r in rows], dtype="int64"))
    return out


def _days_between(end: Any, start: Any, dialect: str) -> Any:
    """``end − start`` in days (fractional), for two ``DateTime`` expressions."""
    if dialect == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return extract("epoch", end - start) / 86400.0


def funnel_sql(crm: Any, as_of: Any = None, stages: Sequence[str] | None = None) -> pd.DataFrame:
    """销售漏斗 in SQL: :func:`~simcrm.analytics.funnel` of the opportunities in ``crm``'s data
    scope and their stage history (``funnel(crm.list("opportunity"),
    crm.list("opportunity_stage_history"), as_of=as_of)``), from three aggregate queries:

    * per (stage, status): count, amount (integer cents) and Σ amount × probability / 100 —
      ``count``, ``amount``, ``weighted_amount`` of the open ones, and the win rate;
    * per opportunity, the furthest stage reached (its history, its current stage, the last
      stage when won), counted per stage — ``reached`` and ``conversion``;
    * per stage, the sum and the number of stays in the history (a stay ends at ``left_at``,
      else at the close date of a closed opportunity, else at ``as_of``; rows recording the
      closing are not stays) — ``avg_days_in_stage``.

    On a world with the per-opportunity figures the database keeps
    (:mod:`simcrm.store.funnel_summary`) and the default stages, no stage-history row is read
    (:func:`_funnel_from_summary`). Only aggregated rows come back to Python. ``as_of`` defaults, as in :func:`funnel`, to the
    latest ``entered_at`` / ``left_at`` in the history. The figures equal the pandas function's
    (amounts to the cent; float sums differ only in their last bits, the database adds them in
    another order); ``tests/test_analytics_sql.py`` compares both for several roles and dates.
    """
    from ..store import schema
    from .funnel import CLOSED_STATUSES, LOST_STATUS, OPEN_STATUS, WON_STATUS

    order = list(stages) if stages is not None else None
    if order is None:
        from .funnel import STAGES

        order = list(STAGES)
    op = schema.metadata.tables["opportunity"]
    hist = schema.metadata.tables["opportunity_stage_history"]
    scope = crm.read_condition("opportunity") if crm is not None else None
    from ..store import funnel_summary

    if tuple(order) == funnel_summary.stages():
        with crm.store._reader() as conn:
            summary = funnel_summary.available(conn)
        if summary:
            return _funnel_from_summary(crm, as_of, order, scope)
    # in scope: the customer's scope on opportunity ⋈ customer (CRM.count_from), one primary-key
    # join per row rather than a correlated EXISTS per opportunity and per history row
    if scope is None:
        opp_from, hist_from, scoped = op, hist.join(op, op.c.id == hist.c.opportunity_id), []
    else:
        opp_from, customer_scope = crm.count_from("opportunity")
        scoped = [] if customer_scope is None else [customer_scope]
        # the history rows of the opportunities in scope: read in table order, each tested
        # against the list of those opportunities (not fetched one opportunity at a time)
        hist_from = hist.join(op, op.c.id == hist.c.opportunity_id)
    dialect = crm.store.engine.dialect.name
    pos = {s: i for i, s in enumerate(order)}
    last = len(order) - 1
    hist_scoped = [] if scope is None else [
        hist.c.opportunity_id.in_(select(op.c.id).select_from(opp_from).where(*scoped))]

    def index_of(column: Any) -> Any:
        return case(pos, value=column, else_=literal(-1)) if pos else literal(-1)

    # 1. per (stage, status)
    q1 = (select(op.c.stage, op.c.status, func.count(), func.sum(_cents(op.c.amount)),
                 func.sum(op.c.amount * op.c.probability / 100.0))
          .select_from(opp_from).where(*scoped).group_by(op.c.stage, op.c.status))
    # 2. furthest stage per opportunity (history, current stage, the last one when won)
    h_best = (select(func.max(index_of(hist.c.stage))).where(hist.c.opportunity_id == op.c.id)
              .scalar_subquery())
    current = case((op.c.status == WON_STATUS, literal(last)), else_=index_of(op.c.stage))
    # (furthest in the history, current) pairs: at most (stages + 1)² groups; the larger of
    # the two is taken in Python (the subquery runs once per opportunity, on the covering
    # index (opportunity_id, stage))
    per_opp = select(func.coalesce(h_best, literal(-1)).label("h"), current.label("c")).select_from(opp_from).where(*scoped).subquery("per_opp")
    q2 = select(per_opp.c.h, per_opp.c.c, func.count()).group_by(per_opp.c.h, per_opp.c.c)
    with crm.store._reader() as conn:
        by_stage = conn.execute(q1).all()
        reached_rows = conn.execute(q2).all()
        if as_of is None:
            end = conn.execute(select(func.max(hist.c.entered_at), func.max(hist.c.left_at)).select_from(
                hist_from).where(*hist_scoped)).one()
            end = max((as_timestamp(v, "as_of") for v in end if v is not None), default=None)
        else:
            end = as_timestamp(as_of, "as_of")
        # 3. stays per stage
        closed = op.c.status.in_(list(CLOSED_STATUSES))
        close_at = case((closed, op.c.closed_at), else_=literal(None))
        event = or_(and_(closed, op.c.closed_at.isnot(None), hist.c.entered_at >= op.c.closed_at),
                    hist.c.status.in_(list(CLOSED_STATUSES)))
        stay_end = func.coalesce(hist.c.left_at, close_at,
                                 literal(end.to_pydatetime() if end is not None else None, type_=hist.c.entered_at.type))
        days = cast(_days_between(stay_end, hist.c.entered_at, dialect), Float)
        # one column pair per stage instead of GROUP BY stage: no sort of every history row
        sums = []
        for s in order:
            sums += [func.sum(case((hist.c.stage == s, days), else_=literal(None))),
                     func.count(case((hist.c.stage == s, literal(1)), else_=literal(None)))]
        q3 = (select(*sums).select_from(hist_from)
              .where(not_(event), *hist_scoped))
        row = conn.execute(q3).one()
        stays = [(s, row[2 * i], row[2 * i + 1]) for i, s in enumerate(order)]

    rows = {s: [0, 0, 0.0] for s in order}
    won = lost = 0
    for stage, status, n, cents, weighted in by_stage:
        if status == WON_STATUS:
            won += int(n)
        elif status == LOST_STATUS:
            lost += int(n)
        if status == OPEN_STATUS and stage in rows:
            rows[stage] = [int(n), int(cents or 0), float(weighted or 0.0)]
    out = pd.DataFrame({"stage": order, "count": [rows[s][0] for s in order],
                        "amount": [rows[s][1] / 100 for s in order],
                        "weighted_amount": [rows[s][2] for s in order]})
    out["count"] = out["count"].astype("int64")
    at = np.zeros(len(order) + 1, dtype="int64")
    for h, c, n in reached_rows:
        b = max(int(h), int(c))
        if b >= 0:
            at[b] += int(n)
    reached = at[::-1].cumsum()[::-1][:len(order)]
    out["reached"] = reached.astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        conv = np.r_[reached[1:] / np.where(reached[:-1] > 0, reached[:-1], np.nan), np.nan]
    out["conversion"] = np.round(conv, 4)
    avg = {stage: float(total) / int(n) for stage, total, n in stays if n and stage in pos}
    out["avg_days_in_stage"] = [avg.get(s, np.nan) for s in order]
    out["stage"] = out["stage"].astype("str")
    out.attrs["win_rate"] = float(won / (won + lost)) if won + lost else float("nan")
    cycle_q = select(func.avg(cast(_days_between(op.c.closed_at, op.c.created_at, dialect), Float))).select_from(
        opp_from).where(op.c.status == WON_STATUS, op.c.closed_at.isnot(None), *scoped)
    with crm.store._reader() as conn:
        cycle = conn.execute(cycle_q).scalar() if won else None
    out.attrs["cycle_days"] = float(cycle) if cycle is not None else float("nan")
    return out


def _funnel_from_summary(crm: Any, as_of: Any, order: list[str], scope: Any) -> pd.DataFrame:
    """:func:`funnel_sql` on a world with the per-opportunity figures
    :data:`simcrm.store.funnel_summary.TABLE` (kept by the database): one query over the
    opportunities in scope and their summary rows, grouped by (stage, status, furthest stage
    in the history), gives every figure — the counts and amounts per stage and status, the
    furthest stage reached, the stays per stage (days of the stays whose end is known, plus,
    for those still open, ``as_of`` less their entry), the default ``as_of`` (the latest entry
    or exit) and the won opportunities' cycle. No stage-history row is read."""
    from ..store.funnel_summary import TABLE as f, day_number
    from .funnel import LOST_STATUS, OPEN_STATUS, WON_STATUS

    from ..store import schema

    op = schema.metadata.tables["opportunity"]
    dialect = crm.store.engine.dialect.name
    if scope is None:
        opp_from, scoped = op, []
    else:
        opp_from, customer_scope = crm.count_from("opportunity")
        scoped = [] if customer_scope is None else [customer_scope]
    won_cycle = and_(op.c.status == WON_STATUS, op.c.closed_at.isnot(None))
    cycle_days = cast(_days_between(op.c.closed_at, op.c.created_at, dialect), Float)
    figures = [func.count(), func.sum(_cents(op.c.amount)), func.sum(op.c.amount * op.c.probability / 100.0),
               func.sum(case((won_cycle, cycle_days), else_=literal(None))),
               func.count(case((won_cycle, literal(1)), else_=literal(None)))]
    sums = [func.max(f.c.max_entered), func.max(f.c.max_left)]
    for i in range(len(order)):
        sums += [func.sum(f.c[f"n{i}"]), func.sum(f.c[f"fixed{i}"]), func.sum(f.c[f"open{i}"]), func.sum(f.c[f"open_t{i}"])]
    with crm.store._reader() as conn:
        if scoped:
            # one pass over the opportunities in scope (joined up to their customer) and their
            # summary rows: per (stage, status) the figures, per (furthest, current) the counts
            q = (select(op.c.stage, op.c.status, f.c.h, f.c.c, *figures, *sums)
                 .select_from(opp_from.join(f, f.c.opportunity_id == op.c.id)).where(*scoped)
                 .group_by(op.c.stage, op.c.status, f.c.h, f.c.c))
            rows = conn.execute(q).all()
            by_stage = [(r[0], r[1], *r[4:9]) for r in rows]
            reached_rows = [(r[2], r[3], r[4]) for r in rows]
            width = len(sums)
            totals = [max((r[9] for r in rows if r[9] is not None), default=None),
                      max((r[10] for r in rows if r[10] is not None), default=None),
                      *(sum(float(r[11 + k] or 0) for r in rows) for k in range(width - 2))]
        else:
            # everyone's: each from its own covering index or the summary alone, no join
            by_stage = conn.execute(select(op.c.stage, op.c.status, *figures[:3], literal(None), literal(0))
                                    .group_by(op.c.stage, op.c.status)).all()
            cycle = conn.execute(select(*figures[3:])).one()
            by_stage.append((None, None, 0, 0, 0.0, cycle[0], cycle[1]))
            reached_rows = conn.execute(select(f.c.h, f.c.c, func.count()).group_by(f.c.h, f.c.c)).all()
            totals = conn.execute(select(*sums)).one()

    per = {s: [0, 0, 0.0] for s in order}
    won = lost = 0
    at = np.zeros(len(order) + 1, dtype="int64")
    cycle_sum, cycle_n = 0.0, 0
    for stage, status, n, cents, weighted, c_sum, c_n in by_stage:
        n = int(n)
        if status == WON_STATUS:
            won += n
        elif status == LOST_STATUS:
            lost += n
        if status == OPEN_STATUS and stage in per:
            row = per[stage]
            row[0] += n
            row[1] += int(cents or 0)
            row[2] += float(weighted or 0.0)
        cycle_sum += float(c_sum or 0.0)
        cycle_n += int(c_n or 0)
    for h, c, n in reached_rows:
        b = max(int(h), int(c))
        if b >= 0:
            at[b] += int(n)
    ends = [v for v in totals[:2] if v is not None]
    stays = np.array([float(v or 0) for v in totals[2:]], dtype="float64").reshape(len(order), 4)
    if as_of is None:
        end = max((as_timestamp(v, "as_of") for v in ends), default=None)
    else:
        end = as_timestamp(as_of, "as_of")
    out = pd.DataFrame({"stage": order, "count": [per[s][0] for s in order],
                        "amount": [per[s][1] / 100 for s in order],
                        "weighted_amount": [per[s][2] for s in order]})
    out["count"] = out["count"].astype("int64")
    reached = at[::-1].cumsum()[::-1][:len(order)]
    out["reached"] = reached.astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        conv = np.r_[reached[1:] / np.where(reached[:-1] > 0, reached[:-1], np.nan), np.nan]
    out["conversion"] = np.round(conv, 4)
    t_end = _day_number(end, dialect) if end is not None else None
    avg = []
    for i in range(len(order)):
        n, fixed, open_n, open_t = stays[i]
        if not n:
            avg.append(np.nan)
            continue
        total = fixed + (open_n * t_end - open_t if t_end is not None and open_n else 0.0)
        avg.append(float(total) / int(n))
    out["avg_days_in_stage"] = avg
    out["stage"] = out["stage"].astype("str")
    out.attrs["win_rate"] = float(won / (won + lost)) if won + lost else float("nan")
    out.attrs["cycle_days"] = float(cycle_sum / cycle_n) if won and cycle_n else float("nan")
    return out


def _day_number(ts: pd.Timestamp, dialect: str) -> float:
    """``ts`` as the day number of :func:`simcrm.store.funnel_summary.day_number` (SQLite
    ``julianday``, kept to the millisecond as SQLite does; PostgreSQL epoch / 86400)."""
    seconds = (ts - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    if dialect == "sqlite":
        return round(seconds * 1000) / 86_400_000 + 2440587.5
    return seconds / 86400.0
