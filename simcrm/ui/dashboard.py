"""仪表盘 (dashboard): key figures and charts of the data the user may see.

Every figure comes from :mod:`simcrm.analytics` or a plain count of ``crm.list`` rows:

* 客户数 — customers visible (not merged);
* 销售额 — total of approved orders and contracts (审批“同意”, not 意外中止);
* 加权销售机会金额 — Σ weighted_amount of :func:`~simcrm.analytics.funnel` (open opportunities);
* 逾期应收 — ``total_overdue`` of :func:`~simcrm.analytics.receivables_aging` as of today;
* 未结投诉 — complaints not yet 已归档.

Charts (plotly, drawn by the browser with its own fonts): customers by province and by kind
(:func:`~simcrm.analytics.distribution`), monthly sales (:func:`~simcrm.analytics.growth`),
the customer pyramid by sales (:func:`~simcrm.analytics.customer_pyramid`), the funnel and
the RFM grid (:func:`~simcrm.analytics.rfm`, customers per R × F score).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import pandas as pd

from .. import analytics
from ._base import Screen, figure_output, set_figure

__all__ = ["Dashboard", "kpis"]

KPI_LABELS = {"customers": "客户数", "revenue": "销售额（元）", "weighted_pipeline": "加权销售机会金额（元）",
              "overdue_receivables": "逾期应收（元）", "open_complaints": "未结投诉"}


def _sales(crm: Any) -> pd.DataFrame:
    orders = crm.list("sales_order")
    return orders[(orders["approval"] == "同意") & (orders["status"] != "意外中止")].reset_index(drop=True)


def kpis(crm: Any) -> dict[str, float]:
    """The dashboard's key figures for the user of ``crm`` (see the module docstring)."""
    funnel = analytics.funnel(crm.list("opportunity"))
    aging = analytics.receivables_aging(crm.list("payment_plan"), crm.list("payment"), as_of=crm.today, by=None)
    complaints = crm.list("complaint")
    return {
        "customers": int(len(crm.customers())),
        "revenue": float(_sales(crm)["total_amount"].sum()),
        "weighted_pipeline": float(funnel["weighted_amount"].sum()),
        "overdue_receivables": float(aging["total_overdue"].sum()) if len(aging) else 0.0,
        "open_complaints": int((complaints["status"] != "已归档").sum()),
    }


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
        self.refresh_button.on_click(lambda _b: self.refresh())
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
        tiles = "".join(
            f"<div style='display:inline-block;min-width:170px;margin:4px;padding:8px 12px;background:#f1f5fb;"
            f"border-radius:6px'><div style='color:#555;font-size:12px'>{KPI_LABELS[k]}</div>"
            f"<div style='font-size:22px;font-weight:bold'>{v:,.0f}</div></div>" for k, v in self.values.items())
        self.tiles.value = tiles
        customers = crm.customers()
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
        funnel = analytics.funnel(crm.list("opportunity"))
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
            # two charts side by side must fit a laptop's notebook column (≈950 px)
            fig.update_layout(height=340, width=460, margin=dict(l=55, r=15, t=50, b=50))
            if name not in self.charts:
                self.charts[name] = figure_output(width="470px", min_width="470px")
            set_figure(self.charts[name], fig, responsive=False)
        self.figures = figs
        outs = list(self.charts.values())
        self.grid.children = [w.HBox(outs[i:i + 2]) for i in range(0, len(outs), 2)]
