"""仪表盘 (dashboard): key figures and charts of the data the user may see.

Every figure comes from :mod:`simcrm.analytics` or a plain count of ``crm.list`` rows:

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

from typing import Any

import ipywidgets as w
import pandas as pd

from .. import analytics, reference
from ..crm.base import TABLE_MODULE
from ._base import Screen, figure_output, set_figure
from ._scope import can_read

__all__ = ["Dashboard", "kpis", "hidden"]

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


def _sales(crm: Any) -> pd.DataFrame:
    if not can_read(crm, "sales_order"):
        return pd.DataFrame(columns=["customer_id", "order_date", "total_amount"])
    orders = crm.list("sales_order")
    return orders[(orders["approval"] == "同意") & (orders["status"] != "意外中止")].reset_index(drop=True)


def _own_overdue(crm: Any) -> float:
    """Overdue receivables of the orders the user owns (for a role without the finance right)."""
    orders = crm.list("sales_order") if can_read(crm, "sales_order") else pd.DataFrame(columns=["id", "owner_id"])
    mine = set(orders.loc[orders["owner_id"] == crm.user_id, "id"].astype(int))
    if not mine:
        return 0.0
    plans = crm.store.read("payment_plan")
    payments = crm.store.read("payment")
    plans, payments = plans[plans["order_id"].isin(mine)], payments[payments["order_id"].isin(mine)]
    aging = analytics.receivables_aging(plans, payments, as_of=crm.today, by=None)
    return float(aging["total_overdue"].sum()) if len(aging) else 0.0


def kpis(crm: Any) -> dict[str, float | None]:
    """The dashboard's key figures for the user of ``crm`` (see the module docstring).

    A figure the user's role may not see is ``None`` (see :func:`hidden`); overdue receivables
    then cover the user's own orders only.
    """
    out: dict[str, float | None] = dict.fromkeys(KPI_LABELS)
    if can_read(crm, "customer"):
        out["customers"] = int(len(crm.customers()))
    if can_read(crm, "sales_order"):
        out["revenue"] = float(_sales(crm)["total_amount"].sum())
    if can_read(crm, "opportunity"):
        out["weighted_pipeline"] = float(analytics.funnel(crm.list("opportunity"))["weighted_amount"].sum())
    if hidden(crm, KPI_TABLES["overdue_receivables"]) is None:
        aging = analytics.receivables_aging(crm.list("payment_plan"), crm.list("payment"), as_of=crm.today, by=None)
        out["overdue_receivables"] = float(aging["total_overdue"].sum()) if len(aging) else 0.0
    elif not crm.is_system:
        out["overdue_receivables"] = _own_overdue(crm)
    if can_read(crm, "complaint"):
        complaints = crm.list("complaint")
        out["open_complaints"] = int((complaints["status"] != "已归档").sum())
    return out


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
        self.values = kpis(crm)
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
        customers = crm.customers() if can_read(crm, "customer") else pd.DataFrame(columns=["province", "kind"])
        sales = _sales(crm)
        figs: dict[str, Any] = {}
        by_province = analytics.distribution(customers, "province") if len(customers) else pd.DataFrame(
            columns=["province", "count"])
        figs["region"] = go.Figure(go.Bar(x=list(by_province["province"]), y=list(by_province["count"])))
        figs["region"].update_layout(title="客户地区分布（按省份）", xaxis_title="省份", yaxis_title="客户数")
        by_kind = analytics.distribution(customers, "kind") if len(customers) else pd.DataFrame(columns=["kind", "count"])
        figs["kind"] = go.Figure(go.Pie(labels=list(by_kind["kind"]), values=list(by_kind["count"]), hole=0.4))
        figs["kind"].update_layout(title="客户类型分布（企业 / 个人）")
        if len(sales):
            trend = analytics.growth(sales, "order_date", "total_amount", freq="M")
            x, y = [str(p) for p in trend["period"]], list(trend["amount"])
        else:
            x, y = [], []
        figs["trend"] = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers"))
        figs["trend"].update_layout(title="月度销售额趋势", xaxis_title="月份", yaxis_title="销售额（元）",
                                    xaxis_type="category")
        per_customer = sales.groupby("customer_id", as_index=False)["total_amount"].sum()
        if len(per_customer):
            pyramid = analytics.customer_pyramid(per_customer, value_col="total_amount")
            counts = pyramid["level"].value_counts()
        else:
            counts = pd.Series(dtype="int64")
        levels = list(analytics.PYRAMID_LEVELS)
        figs["pyramid"] = go.Figure(go.Funnel(y=levels, x=[int(counts.get(lv, 0)) for lv in levels],
                                              textinfo="value"))
        figs["pyramid"].update_layout(title="客户金字塔（按销售额）")
        opportunities = crm.list("opportunity") if can_read(crm, "opportunity") else None
        funnel = analytics.funnel(opportunities) if opportunities is not None else pd.DataFrame(
            {"stage": [], "count": []})
        figs["funnel"] = go.Figure(go.Funnel(y=list(funnel["stage"]), x=list(funnel["count"])))
        figs["funnel"].update_layout(title="销售漏斗（跟踪中的销售机会数）")
        if len(sales):
            scores = analytics.rfm(sales, amount_col="total_amount", as_of=crm.today)
            grid = pd.crosstab(scores["r_score"], scores["f_score"]).reindex(index=range(1, 6), columns=range(1, 6),
                                                                           fill_value=0)
        else:
            grid = pd.DataFrame(0, index=range(1, 6), columns=range(1, 6))
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
