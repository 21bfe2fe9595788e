"""销售机会看板 (opportunity board) and 销售漏斗 (funnel chart).

The board has one column per stage (``reference.STAGES``) with a card per open (跟踪)
opportunity the user may see. A card's ◀ / ▶ buttons move it one stage back or forward
through ``crm.advance_opportunity`` — which applies the stage → probability table — and
赢单 / 输单 close it (``win_opportunity`` / ``lose_opportunity`` with the reason typed in
“失败原因”). The funnel chart draws :func:`simcrm.analytics.funnel` with plotly, computed by the
database (:func:`simcrm.analytics.sql.funnel_sql`: the same figures, as aggregate queries in the
user's data scope, instead of every opportunity and stage change read into pandas).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from sqlalchemy import func, select

from .. import reference
from ..analytics.funnel import OPEN_STATUS
from ..analytics.sql import funnel_sql
from ..store import schema
from ._base import Screen, api_call, figure_output, frame_html, set_figure

__all__ = ["OpportunityBoard", "FunnelChart", "Card"]

_MAX_CARDS = 12


class Card:
    """The widgets of one opportunity on the board (``back``, ``forward``, ``win``, ``lose`` buttons)."""

    def __init__(self, board: "OpportunityBoard", row: Any, stage_index: int):
        self.id = int(row.id)
        self.stage = row.stage
        text = (f"<b>{html.escape(str(row.name))}</b><br><span style='color:#555'>{html.escape(str(row.customer))}"
                f"</span><br>¥{row.amount:,.0f} · {row.probability:.0f}%")
        self.back = w.Button(description="◀", tooltip="退回上一阶段", layout=w.Layout(width="36px"),
                             disabled=stage_index == 0)
        self.forward = w.Button(description="▶", tooltip="推进到下一阶段", layout=w.Layout(width="36px"),
                                disabled=stage_index == len(reference.STAGES) - 1)
        self.win = w.Button(description="赢单", button_style="success", layout=w.Layout(width="52px"))
        self.lose = w.Button(description="输单", button_style="danger", layout=w.Layout(width="52px"))
        self.back.on_click(board.guard(lambda _b: board.move(self.id, -1)))
        self.forward.on_click(board.guard(lambda _b: board.move(self.id, +1)))
        self.win.on_click(board.guard(lambda _b: board.win(self.id)))
        self.lose.on_click(board.guard(lambda _b: board.lose(self.id)))
        self.widget = w.VBox([w.HTML(text), w.HBox([self.back, self.forward, self.win, self.lose])],
                             layout=w.Layout(border="1px solid #ccd", padding="4px", margin="2px 0"))


class OpportunityBoard(Screen):
    """Columns per stage with a card per open opportunity the user of ``crm`` may see.

    Attributes:
        cards: ``{opportunity id: Card}`` of the cards shown.
        opportunities: the open opportunities (DataFrame, all of them, not only the shown cards;
            read when asked). ``stage_totals``: per stage, the number, amount and weighted
            amount of the open opportunities; ``total``: their number.
        lose_reason: the text box for the reason used by 输单.
    """

    def __init__(self, crm: Any, *, max_cards: int = _MAX_CARDS):
        super().__init__()
        self.crm = crm
        self.max_cards = max_cards
        self.cards: dict[int, Card] = {}
        self.lose_reason = w.Text(description="失败原因", placeholder="输单前填写，如“价格高于竞争对手”",
                                  layout=w.Layout(width="420px"))
        self.columns_box = w.HBox(layout=w.Layout(overflow="auto"))
        self.summary = w.HTML()
        self.widget = w.VBox([w.HTML("<h4>销售机会看板</h4>"), self.summary, self.columns_box, self.lose_reason,
                              self.status, self.code])
        self.refresh()

    def refresh(self) -> None:
        """Re-read the open opportunities and redraw the columns.

        The database does the work: per stage, one ``GROUP BY`` gives the number, amount and
        weighted amount of the open opportunities in the user's scope, and one query per column
        gives the ``max_cards`` largest (``ORDER BY amount DESC, id LIMIT …``); only the cards
        shown are read, with their customers' names.
        """
        crm = self.crm
        total = crm.count("opportunity", where={"status": OPEN_STATUS})  # also checks the read right
        op, cust = schema.metadata.tables["opportunity"], schema.metadata.tables["customer"]
        scope = crm.read_condition("opportunity")
        where = [op.c.status == OPEN_STATUS, *([] if scope is None else [scope])]
        with crm.store._reader() as conn:
            sums = {r[0]: (int(r[1]), float(r[2] or 0.0), float(r[3] or 0.0)) for r in conn.execute(
                select(op.c.stage, func.count(), func.sum(op.c.amount), func.sum(op.c.amount * op.c.probability / 100.0))
                .where(*where).group_by(op.c.stage))}
            shown = {}
            for stage in reference.STAGES:
                if sums.get(stage, (0,))[0]:
                    shown[stage] = conn.execute(
                        select(op.c.id, op.c.name, op.c.stage, op.c.amount, op.c.probability, op.c.customer_id,
                               cust.c.name.label("customer"))
                        .select_from(op.outerjoin(cust, cust.c.id == op.c.customer_id))
                        .where(*where, op.c.stage == stage)
                        .order_by(op.c.amount.desc(), op.c.id.asc()).limit(self.max_cards)).all()
        self.total = total
        self.stage_totals = pd.DataFrame(
            [(stage, *sums.get(stage, (0, 0.0, 0.0))) for stage in reference.STAGES],
            columns=["stage", "count", "amount", "weighted_amount"])
        self.cards = {}
        columns = []
        for i, stage in enumerate(reference.STAGES):
            n, amount, _weighted = sums.get(stage, (0, 0.0, 0.0))
            cards = [Card(self, row, i) for row in shown.get(stage, [])]
            self.cards.update({c.id: c for c in cards})
            more = n - len(cards)
            head = w.HTML(f"<div style='background:#eef2f8;padding:4px'><b>{html.escape(stage)}</b>"
                          f"（{reference.stage_probability(stage)}%）<br>{n} 个 · ¥{amount:,.0f}"
                          "</div>")
            tail = [w.HTML(f"<i>还有 {more} 个（金额较小）</i>")] if more > 0 else []
            columns.append(w.VBox([head, *[c.widget for c in cards], *tail],
                                  layout=w.Layout(width="200px", min_width="200px", flex="0 0 auto", margin="0 3px")))
        self.columns_box.children = columns
        amount = float(self.stage_totals["amount"].sum())
        weighted = float(self.stage_totals["weighted_amount"].sum())
        self.summary.value = (f"跟踪中的销售机会 {total} 个，金额 ¥{amount:,.0f}，"
                              f"加权金额 ¥{weighted:,.0f}")

    @property
    def opportunities(self) -> pd.DataFrame:
        """All the open opportunities the user may see (read when asked, not to draw the board),
        with their customer's name in ``customer``."""
        opp = self.crm.list("opportunity", where={"status": OPEN_STATUS})
        ids = sorted(set(int(i) for i in opp["customer_id"].dropna()))
        names = (self.crm.store.read("customer", columns=["id", "name"], where={"id": ids}).set_index("id")["name"]
                 if ids else pd.Series(dtype="str"))
        return opp.assign(customer=opp["customer_id"].map(names)).reset_index(drop=True)

    def _stage_of(self, opp_id: int) -> str:
        return str(self.crm.store.get("opportunity", opp_id)["stage"])

    def move(self, opp_id: int, step: int) -> None:
        """Move an opportunity ``step`` stages forward (+1) or back (−1) via ``crm.advance_opportunity``."""
        stages = reference.STAGES
        index = stages.index(self._stage_of(opp_id)) + step
        if not 0 <= index < len(stages):
            self.say("已经是第一个或最后一个阶段。", error=True)
            return
        stage = stages[index]
        ok = self.run(api_call("advance_opportunity", opp_id, stage),
                      lambda: self.crm.advance_opportunity(opp_id, stage) or True,
                      f"销售机会 {opp_id} 已进入“{stage}”，成交概率 {reference.stage_probability(stage)}%。")
        if ok:
            self.refresh()

    def win(self, opp_id: int) -> None:
        """Close as 成功 via ``crm.win_opportunity``."""
        if self.run(api_call("win_opportunity", opp_id), lambda: self.crm.win_opportunity(opp_id) or True,
                    f"销售机会 {opp_id} 赢单（成功，概率 100%）。"):
            self.refresh()

    def lose(self, opp_id: int) -> None:
        """Close as 失败 via ``crm.lose_opportunity`` with the reason in :attr:`lose_reason`."""
        reason = self.lose_reason.value.strip() or None
        if self.run(api_call("lose_opportunity", opp_id, reason),
                    lambda: self.crm.lose_opportunity(opp_id, reason) or True,
                    f"销售机会 {opp_id} 输单（失败，概率 0%）。"):
            self.refresh()


class FunnelChart(Screen):
    """The sales funnel of the opportunities the user may see (:func:`simcrm.analytics.funnel`).

    Attributes:
        table: the funnel DataFrame; ``figure``: the plotly figure; ``chart``: its Output widget.
    """

    def __init__(self, crm: Any, *, measure: str = "count"):
        super().__init__()
        self.crm = crm
        self.measure = w.ToggleButtons(options=[("销售机会数", "count"), ("金额", "amount"), ("加权金额", "weighted_amount"),
                                                ("到达数", "reached")], value=measure)
        self.chart = figure_output()
        self.table_html = w.HTML()
        self.measure.observe(self.guard(lambda _c: self.refresh()), names="value")
        self.widget = w.VBox([w.HTML("<h4>销售漏斗</h4>"), self.measure, self.chart, self.table_html,
                              self.status, self.code])
        self.refresh()

    def refresh(self) -> None:
        """Recompute the funnel and redraw the chart."""
        import plotly.graph_objects as go

        self.crm.list("opportunity", limit=0)  # the read right, checked (and refused) as the list does
        # the figures of the pandas call shown below, aggregated by the database in the user's scope
        self.table = funnel_sql(self.crm, as_of=self.crm.now)
        self.show_call("analytics.funnel(crm.list('opportunity'), crm.list('opportunity_stage_history'), "
                       "as_of=crm.now)")
        col = self.measure.value
        label = dict((v, k) for k, v in self.measure.options)[col]
        self.figure = go.Figure(go.Funnel(y=list(self.table["stage"]), x=list(self.table[col]),
                                          textinfo="value+percent initial"))
        win = self.table.attrs.get("win_rate")
        sub = f"（赢单率 {win:.0%}）" if isinstance(win, float) and win == win else ""
        self.figure.update_layout(title=f"销售漏斗 · {label}{sub}", height=420, margin=dict(l=120, r=30, t=60, b=30))
        set_figure(self.chart, self.figure)
        shown = self.table.rename(columns={"stage": "阶段", "count": "销售机会数", "amount": "金额",
                                           "weighted_amount": "加权金额", "reached": "到达数", "conversion": "转化率",
                                           "avg_days_in_stage": "平均停留天数"})
        self.table_html.value = frame_html(pd.DataFrame(shown))
