"""仪表盘 (dashboard): key figures and charts of the data the user may see.

Every figure is an aggregate query (``COUNT``/``SUM``/``GROUP BY``) in the database with the
user's data scope (:meth:`simcrm.crm.CRM.read_condition`) in its ``WHERE``, computed as
:mod:`simcrm.analytics` defines it (``tests/test_crm_scope_sql.py`` compares each figure with
the analytics function run on the rows of ``crm.list``):

* 客户数 — customers visible (not merged);
* 销售额 — total of approved orders and contracts (审批“同意”, not 意外中止);
* 加权销售机会金额 — Σ weighted_amount of :func:`~simcrm.analytics.funnel` (open opportunities);
* 逾期应收 — ``total_overdue`` of :func:`~simcrm.analytics.receivables_aging` as of today;
* 未结投诉 — complaints not yet 已归档.

Each figure needs the read right on its module; a role without it (e.g. a sales rep, who has no
right on 回款开票) sees the tile marked “无权查看” instead of the whole screen failing. A rep
still sees the receivables of their own orders (逾期应收 of orders they own, as a total), since
collecting them is part of their job.

Charts (plotly, drawn by the browser with its own fonts): customers by province and by kind
(:func:`~simcrm.analytics.distribution`), monthly sales (:func:`~simcrm.analytics.growth`),
the customer pyramid by sales (:func:`~simcrm.analytics.customer_pyramid`), the funnel and
the RFM grid (:func:`~simcrm.analytics.rfm`, customers per R × F score).
"""

from __future__ import annotations

import contextlib
from typing import Any

import ipywidgets as w
import pandas as pd

from sqlalchemy import func, select

from .. import analytics, reference
from ..analytics.funnel import OPEN_STATUS, STAGES
from ..analytics.rfm import quantile_scores
from ..analytics.sql import _cents, overdue_total_sql, scoped_orders
from ..crm.base import TABLE_MODULE
from ..store import sales_summary, schema
from ._base import Screen, figure_output, set_figure
from ._scope import can_read

__all__ = ["Dashboard", "chart_data", "kpis", "hidden"]

KPI_LABELS = {"customers": "客户数", "revenue": "销售额（元）", "weighted_pipeline": "加权销售机会金额（元）",
              "overdue_receivables": "逾期应收（元）", "open_complaints": "未结投诉"}

#: the tables each figure reads (all must be readable to show it)
KPI_TABLES = {"customers": ("customer",), "revenue": ("sales_order",), "weighted_pipeline": ("opportunity",),
              "overdue_receivables": ("payment_plan", "payment"), "open_complaints": ("complaint",)}
CHART_TABLES = {"region": ("customer",), "kind": ("customer",), "trend": ("sales_order",),
                "pyramid": ("sales_order",), "funnel": ("opportunity",), "rfm": ("sales_order",)}


def hidden(crm: Any, tables: tuple[str, ...]) -> str | None:
    """Why ``crm``'s user may not see a figure built on ``tables`` (``None``: they may)."""
    for table in tables:
        if not can_read(crm, table):
            module = TABLE_MODULE[table]
            return f"无权查看（角色没有“{reference.MODULES[module]}”模块的查看权限）"
    return None


def _query(crm: Any, q: Any, *, plain: bool = False) -> list[Any]:
    """The rows of ``q``; ``plain``: as the database driver gives them (tuples, no SQLAlchemy
    row objects or result types: for tens of thousands of rows of numbers and dates, which
    :func:`_frame` and pandas convert anyway)."""
    with crm.store._reader() as conn:
        result = conn.execute(q)
        return result.cursor.fetchall() if plain else result.all()


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    """Query rows as a DataFrame, column by column (pandas builds a frame from tens of thousands
    of row objects slowly)."""
    if not rows:
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame(dict(zip(columns, (list(v) for v in zip(*rows)))))


def _where(crm: Any, table: str, *conditions: Any) -> list[Any]:
    """``conditions`` plus the user's data scope on ``table`` (:meth:`CRM.read_condition`; none
    when it holds every customer, :meth:`CRM.lean_read_condition`)."""
    scope = crm.lean_read_condition(table)
    return [*conditions, *([] if scope is None else [scope])]


def _sales(crm: Any, *columns: Any) -> Any:
    """``SELECT columns`` of the orders that count as sales (see :func:`_sales_where`); the
    scope joins each order's customer, so the database starts from the user's customers."""
    frm, scope = scoped_orders(crm)
    o = _t("sales_order")
    return select(*columns).select_from(frm).where(o.c.approval == "同意", o.c.status != "意外中止", *scope)


def _sales_where(crm: Any) -> list[Any]:
    """Orders that count as sales: approved (审批“同意”) and not 意外中止, in scope."""
    o = _t("sales_order")
    return _where(crm, "sales_order", o.c.approval == "同意", o.c.status != "意外中止")


def _own_scope(crm: Any) -> bool:
    """Whether ``crm``'s user sees only their own records (data scope 本人)."""
    if crm is None or crm.is_system:
        return False
    owners = crm._scope_owner_ids()
    return owners is not None and len(owners) <= 1


def _per_customer_query(crm: Any) -> Any:
    """Sales per customer in scope: ``customer_id, Σ cents, number of orders, last order date``.

    A user seeing one employee's customers (本人) starts from them (their orders by the index on
    ``customer_id``); any wider scope adds up every order first, in customer order from the
    covering index (no sort), and then keeps the customers in scope (one primary-key lookup per
    customer instead of one per order)."""
    o, c = _t("sales_order"), _t("customer")
    cols = (o.c.customer_id, func.sum(_cents(o.c.total_amount)), func.count(), func.max(o.c.order_date))
    scope = crm.scope_condition("customer") if crm is not None else None
    if scope is not None and crm.sees_every_customer():
        scope = None
    with crm.store._reader() as conn:
        summary = sales_summary.available(conn)
    if summary:
        # the per-customer figures the database keeps (simcrm.store.sales_summary): the customers'
        # rows alone, or those of the customers in scope
        s = sales_summary.TABLE
        q = select(s.c.customer_id, s.c.cents, s.c.orders, s.c.last_date)
        return q if scope is None else q.select_from(c.join(s, s.c.customer_id == c.c.id)).where(scope)
    if scope is None or _own_scope(crm):
        return _sales(crm, *cols).group_by(o.c.customer_id)
    g = (select(*(col.label(f"v{i}") for i, col in enumerate(cols)))
         .where(o.c.approval == "同意", o.c.status != "意外中止").group_by(o.c.customer_id).subquery("per_customer"))
    return select(g.c.v0, g.c.v1, g.c.v2, g.c.v3).select_from(g.join(c, c.c.id == g.c.v0)).where(scope)


def _t(name: str) -> Any:
    return schema.metadata.tables[name]


def _overdue(crm: Any, *order_conditions: Any) -> float:
    """逾期应收 of the orders in scope matching ``order_conditions``, as
    :func:`~simcrm.analytics.receivables_aging` computes it (``total_overdue``), by one query
    (:func:`~simcrm.analytics.sql.overdue_total_sql`: per order, the past-due instalments less
    the payments made by today, summed in cents by the database)."""
    return overdue_total_sql(crm, crm.today, where=order_conditions)


def _own_overdue(crm: Any) -> float:
    """Overdue receivables of the orders the user owns (for a role without the finance right)."""
    if not can_read(crm, "sales_order"):
        return 0.0
    o = _t("sales_order")
    return _overdue(crm, o.c.owner_id == crm.user_id)


def kpis(crm: Any) -> dict[str, float | None]:
    """The dashboard's key figures for the user of ``crm`` (see the module docstring).

    A figure the user's role may not see is ``None`` (see :func:`hidden`); overdue receivables
    then cover the user's own orders only. Each figure is one aggregate query (``COUNT``,
    ``SUM``, ``GROUP BY``) with the user's data scope in its ``WHERE``.
    """
    with _remembering(crm):
        return _kpis(crm)


def _remembering(crm: Any) -> Any:
    """The user's scope asked of the database once for all the queries of one opening."""
    return crm._remembering() if crm is not None else contextlib.nullcontext()


def _kpis(crm: Any, revenue_cents: int | None = None, customers: int | None = None) -> dict[str, float | None]:
    """:func:`kpis`; ``revenue_cents`` and ``customers`` when :func:`_chart_data` has them already
    (the dashboard adds up the sales per customer once, for the charts and the tile)."""
    out: dict[str, float | None] = dict.fromkeys(KPI_LABELS)
    if can_read(crm, "customer"):
        out["customers"] = int(crm.count("customer")) if customers is None else int(customers)
    if can_read(crm, "sales_order"):
        o = _t("sales_order")
        if revenue_cents is None:
            revenue_cents = _query(crm, _sales(crm, func.sum(_cents(o.c.total_amount))))[0][0]
        out["revenue"] = int(revenue_cents or 0) / 100
    if can_read(crm, "opportunity"):
        op = _t("opportunity")
        total = _query(crm, select(func.sum(op.c.amount * op.c.probability / 100.0)).where(
            *_where(crm, "opportunity", op.c.status == OPEN_STATUS,
                    op.c.stage.in_(list(STAGES)))))[0][0]
        out["weighted_pipeline"] = float(total or 0.0)
    if hidden(crm, KPI_TABLES["overdue_receivables"]) is None:
        out["overdue_receivables"] = _overdue(crm)
    elif not crm.is_system:
        out["overdue_receivables"] = _own_overdue(crm)
    if can_read(crm, "complaint"):
        cp = _t("complaint")
        out["open_complaints"] = int(_query(crm, select(func.count()).select_from(cp).where(
            *_where(crm, "complaint", cp.c.status != "已归档")))[0][0])
    return out


def chart_data(crm: Any) -> dict[str, pd.DataFrame]:
    """What the six charts draw, each from one ``GROUP BY`` query in the user's data scope.

    ``region`` / ``kind``: customers per province / kind (as :func:`analytics.distribution`);
    ``trend``: sales per month (:func:`analytics.growth`); ``pyramid``: customers per level of
    :func:`analytics.customer_pyramid` by their sales; ``funnel``: open opportunities per stage
    (:func:`analytics.funnel`); ``rfm``: customers per R × F score (:func:`analytics.rfm`).
    """
    with _remembering(crm):
        return _chart_data(crm)[0]


def _chart_data(crm: Any) -> tuple[dict[str, pd.DataFrame], int | None, int | None]:
    """:func:`chart_data`, the sales in cents (the 销售额 tile) and the number of customers
    (the 客户数 tile), both by-products of the charts' queries (``None``: not read)."""
    out: dict[str, pd.DataFrame] = {}
    c, o, op = _t("customer"), _t("sales_order"), _t("opportunity")
    customers = None
    if can_read(crm, "customer"):
        # one pass over the customers for both charts (and the 客户数 tile)
        both = _frame(_query(crm, select(c.c.province, c.c.kind, func.count()).where(*_where(crm, "customer"))
                             .group_by(c.c.province, c.c.kind)), columns=["province", "kind", "count"])
        customers = int(both["count"].sum())
    else:
        both = pd.DataFrame({"province": [], "kind": [], "count": []})
    for key in ("province", "kind"):
        frame = (both.groupby(key, as_index=False, sort=False, dropna=False)["count"].sum() if len(both)
                 else both[[key, "count"]])
        frame = pd.DataFrame({key: frame[key].to_numpy(), "count": frame["count"].to_numpy()}).astype(
            {"count": "int64"})
        frame[key] = frame[key].astype("str")
        out[key] = frame.sort_values(["count", key], ascending=[False, True], kind="stable").reset_index(drop=True)
    readable = can_read(crm, "sales_order")
    by_day = _frame(_query(crm, _sales(crm, o.c.order_date, func.sum(o.c.total_amount))
                                 .group_by(o.c.order_date)) if readable else [], columns=["order_date", "total_amount"])
    if len(by_day):
        by_day["order_date"] = pd.to_datetime(by_day["order_date"])
        out["trend"] = analytics.growth(by_day, "order_date", "total_amount", freq="M")
    else:
        out["trend"] = pd.DataFrame({"period": [], "amount": []})
    per_customer = _frame(_query(crm, _per_customer_query(crm), plain=True) if readable else [],
                          columns=["customer_id", "cents", "frequency", "last"])
    revenue_cents = int(per_customer["cents"].sum()) if readable else None
    levels = list(analytics.PYRAMID_LEVELS)
    if len(per_customer):
        per_customer = per_customer.sort_values("customer_id", kind="stable").reset_index(drop=True)
        per_customer["total_amount"] = per_customer["cents"].to_numpy(dtype="int64") / 100
        counts = analytics.customer_pyramid(per_customer, value_col="total_amount")["level"].value_counts()
        last = pd.to_datetime(per_customer["last"]).dt.normalize()
        recency = (pd.Timestamp(crm.today) - last).dt.days.to_numpy()
        r = quantile_scores(recency, 5, higher_is_better=False)
        f = quantile_scores(per_customer["frequency"].to_numpy(dtype="int64"), 5)
        grid = pd.crosstab(pd.Series(r, name="r_score"), pd.Series(f, name="f_score"))
        grid = grid.reindex(index=range(1, 6), columns=range(1, 6), fill_value=0)
    else:
        counts = pd.Series(dtype="int64")
        grid = pd.DataFrame(0, index=range(1, 6), columns=range(1, 6))
    out["pyramid"] = pd.DataFrame({"level": levels, "count": [int(counts.get(lv, 0)) for lv in levels]})
    out["rfm"] = grid
    stages = list(STAGES)
    rows = dict(_query(crm, select(op.c.stage, func.count()).where(
        *_where(crm, "opportunity", op.c.status == OPEN_STATUS)).group_by(op.c.stage))
                ) if can_read(crm, "opportunity") else None
    out["funnel"] = (pd.DataFrame({"stage": stages, "count": [int(rows.get(s, 0)) for s in stages]})
                     if rows is not None else pd.DataFrame({"stage": [], "count": []}))
    return out, revenue_cents, customers


def _tile(label: str, value: float | None, note: str = "") -> str:
    shown = f"{value:,.0f}" if value is not None else "—"
    foot = f"<div style='color:#8a5a00;font-size:11px;white-space:normal'>{note}</div>" if note else ""
    return (f"<div style='display:inline-block;vertical-align:top;width:170px;margin:4px;padding:8px 12px;"
            f"background:#f1f5fb;border-radius:6px'><div style='color:#555;font-size:12px'>{label}</div>"
            f"<div style='font-size:22px;font-weight:bold'>{shown}</div>{foot}</div>")


class Dashboard(Screen):
    """KPI tiles and six charts.

    Attributes:
        values: the KPIs (:func:`kpis`); ``figures``: ``{name: plotly Figure}``;
        ``charts``: ``{name: Output}``.
    """

    def __init__(self, crm: Any):
        super().__init__()
        self.crm = crm
        self.tiles = w.HTML()
        self.figures: dict[str, Any] = {}
        self.charts: dict[str, w.Output] = {}
        self.refresh_button = w.Button(description="刷新", icon="refresh")
        self.refresh_button.on_click(self.guard(lambda _b: self.refresh()))
        self.grid = w.VBox()
        self.widget = w.VBox([w.HTML("<h4>仪表盘</h4>"), self.refresh_button, self.tiles, self.grid,
                              self.status, self.code])
        self.refresh()

    def refresh(self) -> None:
        """Recompute the KPIs and redraw every chart."""
        import plotly.graph_objects as go

        crm = self.crm
        with _remembering(crm):
            data, revenue_cents, customers = _chart_data(crm)
            self.values = _kpis(crm, revenue_cents, customers)
        self.show_call("from simcrm.ui.dashboard import kpis\nkpis(crm)")
        self.hidden = {k: why for k, tables in {**KPI_TABLES, **CHART_TABLES}.items()
                       if (why := hidden(crm, tables)) is not None}
        tiles = []
        for k, v in self.values.items():
            note = self.hidden.get(k, "")
            if k == "overdue_receivables" and note and v is not None:
                note = "仅本人负责的订单（回款明细无权查看）"
            tiles.append(_tile(KPI_LABELS[k], v, note))
        self.tiles.value = "".join(tiles)
        if self.hidden:
            self.say("部分指标和图表标为“无权查看”：你的角色只能看到权限和数据范围内的数据。")
        figs: dict[str, Any] = {}
        by_province, by_kind = data["province"], data["kind"]
        figs["region"] = go.Figure(go.Bar(x=list(by_province["province"]), y=list(by_province["count"])))
        figs["region"].update_layout(title="客户地区分布（按省份）", xaxis_title="省份", yaxis_title="客户数")
        figs["kind"] = go.Figure(go.Pie(labels=list(by_kind["kind"]), values=list(by_kind["count"]), hole=0.4))
        figs["kind"].update_layout(title="客户类型分布（企业 / 个人）")
        trend = data["trend"]
        x, y = [str(p) for p in trend["period"]], list(trend["amount"])
        figs["trend"] = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers"))
        figs["trend"].update_layout(title="月度销售额趋势", xaxis_title="月份", yaxis_title="销售额（元）",
                                    xaxis_type="category")
        pyramid = data["pyramid"]
        figs["pyramid"] = go.Figure(go.Funnel(y=list(pyramid["level"]), x=list(pyramid["count"]), textinfo="value"))
        figs["pyramid"].update_layout(title="客户金字塔（按销售额）")
        funnel = data["funnel"]
        figs["funnel"] = go.Figure(go.Funnel(y=list(funnel["stage"]), x=list(funnel["count"])))
        figs["funnel"].update_layout(title="销售漏斗（跟踪中的销售机会数）")
        grid = data["rfm"]
        figs["rfm"] = go.Figure(go.Heatmap(z=grid.values.tolist(), x=[f"F{c}" for c in grid.columns],
                                           y=[f"R{r}" for r in grid.index], colorscale="Blues",
                                           text=grid.values.tolist(), texttemplate="%{text}"))
        figs["rfm"].update_layout(title="RFM 分布（客户数，R × F）", xaxis_title="购买频率得分",
                                  yaxis_title="最近购买得分")
        for name, fig in figs.items():
            if name in self.hidden:  # an empty chart saying why, rather than a misleading zero
                fig = go.Figure()
                fig.update_layout(title=figs[name].layout.title.text, xaxis_visible=False, yaxis_visible=False,
                                  annotations=[dict(text=self.hidden[name], showarrow=False, x=0.5, y=0.5,
                                                    xref="paper", yref="paper", font=dict(size=13))])
                figs[name] = fig
            # two charts side by side must fit a laptop's notebook column (≈950 px)
            fig.update_layout(height=340, width=460, margin=dict(l=55, r=15, t=50, b=50))
            if name not in self.charts:
                self.charts[name] = figure_output(width="470px", min_width="470px")
            set_figure(self.charts[name], fig, responsive=False)
        self.figures = figs
        outs = list(self.charts.values())
        self.grid.children = [w.HBox(outs[i:i + 2]) for i in range(0, len(outs), 2)]
