"""ch08 销售机会与合同订单 — questions and reference computations.

The student is a sales rep (一般人员) and later looks at the firm as the sales manager does:

* 任务一 (operations): one deal of their own through the CRM — 线索 → 销售机会 (stage by stage) →
  several 报价 from the price list, the opportunity's amount edited to the quote kept → 合同 from
  that quote, its header edited while 待审 → 审批 (the group's manager) → 发货 (part, then the
  rest) → 收款计划 → 收款 → 开票 (finance) → 退货 within the product's 退货期限 with its 退款 and
  its credit note (红字发票) reversing the invoice;
* 任务二 (calculations): the funnel per stage (count, amount, weighted amount), stage-to-stage
  conversion, days in stage, win rate and cycle time, by rep and quarter, forecast vs quota;
* 任务三 (calculations): receivables ageing, the customers to chase, the payment plans' status;
* 任务四 (calculations + closed loop): stage probabilities calibrated on the firm's history, the
  next quarter's forecast with both tables, ``lab.next_quarter()``, and which was closer — the
  outcome is graded on the referee's own replay of the student's world (:mod:`simcrm.lab.loop`).

Every analysis is on the world as generated (``lab.pristine``: the student's own deal is not in
it); the analysis day is the day the world was generated (``world.params.today``), which does not
move when ``lab.next_quarter()`` runs. The operation checks read the student's database.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...analytics import funnel, receivables_aging
from ...analytics._receivables import settle
from ...analytics.funnel import STAGES
from ...crm.sales import order_amounts
from ..checks import CheckResult
from ..questions import calculation, operation
from . import max_id
from . import safe_diagnose as _safe

CUSTOMERS = 1200

#: one quarter: the forecast horizon and the length of ``lab.next_quarter()``
HORIZON = 91
#: the deal must have gone at least this far before the quotes
DEAL_STAGE = "商务谈判"
AGEING_COLUMNS = ["customer_id", "not_due", "0-30", "31-60", "61-90", ">90", "total_overdue"]
PLAN_STATES = ("按期回款", "逾期回款", "逾期未回", "未到期")


_CACHE: dict[tuple[int, str], tuple[Any, Any]] = {}


def _cached(ctx: Any, key: str, build: Any) -> Any:
    """``build()`` once per world as generated (the notebook's visible checks and the referee's
    hidden tests ask for the same tables question after question; the store object is kept so
    its id is not reused)."""
    slot = (id(ctx.pristine), key)
    if slot not in _CACHE:
        _CACHE[slot] = (ctx.pristine, build())
    return _CACHE[slot][1]



def today(ctx: Any) -> pd.Timestamp:
    """The analysis day: the day the world was generated (not moved by ``next_quarter``)."""
    return pd.Timestamp(ctx.world.params.today)


def as_of(ctx: Any) -> pd.Timestamp:
    """The end of the analysis day (0:00 of the next day)."""
    return today(ctx) + pd.Timedelta(days=1)


def quota_period(ctx: Any) -> str:
    """The quarter of the analysis day as the quota table writes it (``2025-Q4``)."""
    t = today(ctx)
    return f"{t.year}-Q{t.quarter}"


def _opps(ctx: Any) -> pd.DataFrame:
    return _cached(ctx, "opps", lambda: ctx.pristine.read("opportunity"))


def _history(ctx: Any) -> pd.DataFrame:
    return _cached(ctx, "history", lambda: ctx.pristine.read("opportunity_stage_history"))


def _funnel(ctx: Any) -> pd.DataFrame:
    return _cached(ctx, "funnel", lambda: funnel(_opps(ctx), _history(ctx), as_of=as_of(ctx)))


# --- 任务一: the student's own deal ---------------------------------------------------------------------


def my_lead(ctx_or_store: Any, me: dict[str, Any] | None = None) -> int:
    """The lead the student carries through: their own open lead (跟进中 or 新建) with a company
    name, highest score first (ties: the older lead)."""
    store = ctx_or_store.pristine if me is None else ctx_or_store
    me = ctx_or_store.me if me is None else me
    leads = store.read("lead")
    mine = leads[(leads["owner_id"] == int(me["id"])) & leads["status"].isin(["跟进中", "新建"])
                 & leads["company"].notna()]
    if mine.empty:
        from ...errors import ConfigError

        raise ConfigError(field="lead", value=me.get("login"), label="线索",
                          allowed="本人名下至少一条跟进中或新建、有公司名称的线索（请换一个学号的世界或联系教师）")
    mine = mine.sort_values(["score", "id"], ascending=[False, True])
    return int(mine["id"].iloc[0])


def prepare_world(world: Any) -> None:
    """Give the rep the student plays a lead of their own for 任务一 where the world gave none.

    On a few seeds that rep owns no open lead (跟进中 or 新建) with a company name, and the whole
    of 任务一 (and the grading of it) could not start. Then the open company lead with the
    highest score (ties: the older lead) becomes theirs: one owner change, no random draw, so
    the same seed still gives the same world; on every other seed nothing changes.
    """
    from sqlalchemy import update

    from ...store import schema
    from ..session import CHAPTER_DEPARTMENTS, CHAPTER_ROLES, pick_employee

    store = world.store
    me = pick_employee(store, CHAPTER_ROLES["ch08"], CHAPTER_DEPARTMENTS.get("ch08", "销售"))
    leads = store.read("lead")
    open_ = leads[leads["status"].isin(["跟进中", "新建"]) & leads["company"].notna()]
    if open_.empty or (open_["owner_id"] == int(me["id"])).any():
        return
    lead_id = int(open_.sort_values(["score", "id"], ascending=[False, True])["id"].iloc[0])
    t = schema.metadata.tables["lead"]
    with store.transaction() as conn:
        conn.execute(update(t).where(t.c.id == lead_id).values(owner_id=int(me["id"])))


def manager_of(store: Any, me: dict[str, Any]) -> int:
    """The manager (主管) of the student's department: who approves their contracts."""
    dept = store.read("department").set_index("id")
    return int(dept.loc[int(me["department_id"]), "manager_id"])


def finance_clerk(store: Any) -> int:
    """The first active employee of 财务部 (payment plans, payments and invoices)."""
    dept = store.read("department")
    fin = int(dept.loc[dept["name"] == "财务部", "id"].iloc[0])
    emp = store.read("employee")
    return int(emp.loc[(emp["department_id"] == fin) & (emp["status"] == "正常"), "id"].min())


def _audit(ctx: Any, table: str, row_id: int) -> pd.DataFrame:
    a = ctx.store.read("audit_log")
    return a[(a["table_name"] == table) & (a["row_id"] == int(row_id)) & (a["id"] > max_id(ctx.pristine, "audit_log"))]


def _deal_opportunity(ctx: Any) -> tuple[dict[str, Any] | None, str]:
    lead_id = my_lead(ctx)
    lead = ctx.store.get("lead", lead_id)
    if lead["status"] != "已转化":
        return None, (f"你的线索 #{lead_id}（{lead['company']}，{lead['name']}）还没有转化：用 lab.crm.convert_lead({lead_id}, "
                      "opportunity_name=..., amount=..., expected_close=...) 一步生成客户、联系人和销售机会。")
    if lead["opportunity_id"] is None or pd.isna(lead["opportunity_id"]):
        return None, "线索转化时没有生成销售机会（opportunity=False）：撤销本练习（lab.undo）后重新转化，并生成销售机会。"
    return ctx.store.get("opportunity", int(lead["opportunity_id"])), ""


@operation("ch08.opportunity", points=5)
def check_opportunity(ctx: Any, _answer: Any) -> CheckResult:
    opp, why = _deal_opportunity(ctx)
    if opp is None:
        return CheckResult(False, why)
    if int(opp["owner_id"]) != int(ctx.me["id"]):
        return CheckResult(False, "销售机会的负责人应是你自己（线索是你的，转化后仍由你跟进）。")
    if opp["contact_id"] is None:
        return CheckResult(False, "销售机会要有联系人（转化线索时自动带上线索的联系人）。")
    if not opp["amount"] or opp["amount"] <= 0 or opp["expected_close"] is None:
        return CheckResult(False, "销售机会要写明预计金额（大于 0）和预计成交日期：机会的四要素是主题、客户、联系人和可能性，"
                                  "金额与日期是预测的依据。")
    hist = ctx.store.read("opportunity_stage_history", where={"opportunity_id": int(opp["id"])})
    seen = [s for s in STAGES if s in set(hist["stage"])]
    if STAGES.index(opp["stage"]) < STAGES.index(DEAL_STAGE) and opp["status"] == "跟踪":
        return CheckResult(False, f"销售机会现在处于“{opp['stage']}”：请按阶段推进到“{DEAL_STAGE}”"
                                  "（lab.crm.advance_opportunity），每推进一步，赢单概率随阶段表变化。")
    if len(seen) < 4:
        return CheckResult(False, f"阶段历史里只有 {len(seen)} 个阶段（{'、'.join(seen)}）：请一步一步推进（每一步都会记入阶段历史，"
                                  "将来计算转化率和阶段停留天数要用到），不要一次跳到最后。")
    return CheckResult(True)


def _deal_quotes(ctx: Any, opp: dict[str, Any]) -> pd.DataFrame:
    q = ctx.store.read("quote")
    return q[q["opportunity_id"] == int(opp["id"])].sort_values("id")


@operation("ch08.quotes", points=5)
def check_quotes(ctx: Any, _answer: Any) -> CheckResult:
    opp, why = _deal_opportunity(ctx)
    if opp is None:
        return CheckResult(False, "先完成练习 1.1。" + why)
    quotes = _deal_quotes(ctx, opp)
    if len(quotes) < 2:
        return CheckResult(False, f"销售机会 {opp['code']} 只有 {len(quotes)} 份报价：同一个机会通常要报价多次（客户比较方案、讨价还价），"
                                  "请至少做两份报价（lab.crm.create_quote(..., opportunity_id=...)）。")
    price = ctx.store.read("product").set_index("id")["price"]
    lines = ctx.store.read("quote_line")
    lines = lines[lines["quote_id"].isin(quotes["id"])]
    wrong = lines[(lines["unit_price"] - lines["product_id"].map(price)).abs() > 0.005]
    if len(wrong):
        row = wrong.iloc[0]
        code = quotes.set_index("id").loc[int(row["quote_id"]), "code"]
        return CheckResult(False, f"报价 {code} 中产品 {int(row['product_id'])} 的单价是 {row['unit_price']:g}，价目表（product.price）是 "
                                  f"{price[int(row['product_id'])]:g}：这就是“报错价”。单价一律取自价目表（不写 unit_price，"
                                  "CRM 自动带出标准售价），让利用折扣率 discount 表示，并在草稿状态下用 update_quote_lines 修改。")
    live = quotes[quotes["status"].isin(["已发送", "已转订单"])]
    if len(live) != 1 or (quotes["status"] == "草稿").any():
        return CheckResult(False, "同一时间只能有一份有效报价，否则客户手里的报价前后不一：把最终报价发送给客户（send_quote），"
                                  "其余已发送的旧报价作废（expire_quote，状态“失效”），不要留下草稿。")
    total = float(live["total_amount"].iloc[0])
    if abs(float(opp["amount"]) - total) > 0.005:
        return CheckResult(False, f"销售机会的预计金额 {opp['amount']:g} 与有效报价的总额 {total:g} 不一致：用 lab.crm.update_opportunity"
                                  "(..., amount=...) 把机会金额改为有效报价的总额，预测才准确。")
    edits = _audit(ctx, "opportunity", int(opp["id"]))
    if not ((edits["action"] == "修改") & (edits["field"] == "amount")).any():
        return CheckResult(False, "机会金额要在创建之后用 update_opportunity 修改（操作日志里要有这次修改），不要重新建一个机会。")
    return CheckResult(True)


def _deal_order(ctx: Any, opp: dict[str, Any]) -> dict[str, Any] | None:
    o = ctx.store.read("sales_order")
    o = o[(o["opportunity_id"] == int(opp["id"])) & (o["id"] > max_id(ctx.pristine, "sales_order"))]
    if o.empty:
        return None
    return ctx.store.get("sales_order", int(o.sort_values("id")["id"].iloc[-1]))


@operation("ch08.contract", points=5)
def check_contract(ctx: Any, _answer: Any) -> CheckResult:
    opp, why = _deal_opportunity(ctx)
    if opp is None:
        return CheckResult(False, "先完成练习 1.1。" + why)
    order = _deal_order(ctx, opp)
    if order is None:
        return CheckResult(False, "还没有这个销售机会的合同：用 lab.crm.convert_quote_to_order(有效报价编号, kind=\"合同\") 由报价生成合同。")
    if order["kind"] != "合同":
        return CheckResult(False, "本练习要签的是合同（kind=\"合同\"），不是订单。")
    quotes = _deal_quotes(ctx, opp)
    if order["quote_id"] is None or int(order["quote_id"]) not in set(quotes["id"]):
        return CheckResult(False, "合同要由报价转成（convert_quote_to_order），明细才与给客户的报价完全一致，避免前后不符。")
    ql = ctx.store.read("quote_line", where={"quote_id": int(order["quote_id"])})
    ol = ctx.store.read("order_line", where={"order_id": int(order["id"])})
    key = ["product_id", "quantity", "unit_price", "discount"]
    if not ql[key].sort_values(key).reset_index(drop=True).equals(ol[key].sort_values(key).reset_index(drop=True)):
        return CheckResult(False, "合同明细与报价明细不一致（前后不符）：合同应按报价原样生成，审批前确需修改时用 update_order_lines。")
    if order["end_date"] is None or order["payment_terms"] is None:
        return CheckResult(False, "合同还缺到期日（end_date）或付款方式（payment_terms）：合同生成后、审批前用 lab.crm.update_order 补上。")
    edits = _audit(ctx, "sales_order", int(order["id"]))
    edited = edits[(edits["action"] == "修改") & edits["field"].isin(["end_date", "payment_terms", "order_date", "contact_id"])]
    if edited.empty:
        return CheckResult(False, "合同的到期日、付款方式要在合同生成之后用 lab.crm.update_order 修改（练习“创建后修改记录”）。")
    if order["approval"] != "同意":
        return CheckResult(False, f"合同的审批状态是“{order['approval']}”：请你的主管审批（manager.approve_order）。"
                                  "一般人员不能审批自己的合同。")
    approved = pd.Timestamp(order["approved_at"])
    if (pd.to_datetime(edited["at"]) > approved).any():
        return CheckResult(False, "审批之后合同已冻结，不能再修改。")
    if opp["status"] != "成功":
        return CheckResult(False, f"合同已签订，销售机会却仍是“{opp['status']}”：用 lab.crm.win_opportunity 把它关闭为“成功”。")
    return CheckResult(True)


@operation("ch08.delivery", points=5)
def check_delivery(ctx: Any, _answer: Any) -> CheckResult:
    opp, why = _deal_opportunity(ctx)
    order = _deal_order(ctx, opp) if opp is not None else None
    if order is None or order["approval"] != "同意":
        return CheckResult(False, "先完成练习 1.3（合同审批通过）。")
    oid = int(order["id"])
    ships = ctx.store.read("shipment", where={"order_id": oid}).sort_values("id")
    lines = ctx.store.read("order_line", where={"order_id": oid})
    if len(ships) < 2:
        return CheckResult(False, f"合同只有 {len(ships)} 张出库单：请先部分发货（ship_order(合同, {{明细编号: 数量}})），再把其余的发出。")
    moves = ctx.store.read("stock_move", where={"kind": "出库"})
    first = -moves.loc[moves["shipment_id"] == int(ships["id"].iloc[0]), "quantity"].sum()
    if first >= lines["quantity"].sum() - 1e-9:
        return CheckResult(False, "第一张出库单已经发完了全部货物：本练习要先部分发货，再发其余的。")
    if order["shipping"] != "全部":
        return CheckResult(False, f"出库状态是“{order['shipping']}”：其余的货还没有发出。")
    plans = ctx.store.read("payment_plan", where={"order_id": oid})
    total = float(order["total_amount"])
    if len(plans) < 2 or abs(plans["amount"].sum() - total) > 0.01:
        return CheckResult(False, f"回款计划要分至少两期，各期合计等于合同总额 {total:.2f}（财务用 add_payment_plan 录入）。")
    bal = order_amounts(ctx.store, oid)
    if bal["outstanding"] > 0.01:
        return CheckResult(False, f"已回款 {bal['paid']:.2f}，合同总额 {total:.2f}：客户已按计划付清，请财务用 record_payment 记录回款。")
    if bal["invoiced"] < total - bal["returned"] - 0.01:
        return CheckResult(False, f"已开票 {bal['invoiced']:.2f}，合同总额 {total:.2f}：请财务按合同总额开票（issue_invoice）。")
    return CheckResult(True)


@operation("ch08.return", points=4)
def check_return(ctx: Any, _answer: Any) -> CheckResult:
    opp, _ = _deal_opportunity(ctx)
    order = _deal_order(ctx, opp) if opp is not None else None
    if order is None or order["shipping"] != "全部":
        return CheckResult(False, "先完成练习 1.4（货物全部发出、回款、开票）。")
    oid = int(order["id"])
    returns = ctx.store.read("sales_return", where={"order_id": oid})
    if returns.empty:
        return CheckResult(False, "还没有退货单：在退货期限内用 lab.crm.return_goods(合同, {明细编号: 数量}, 原因) 办理退货。")
    refunds = ctx.store.read("refund", where={"order_id": oid})
    paid = ctx.store.read("payment", where={"order_id": oid})["amount"].sum()
    total = float(order["total_amount"])
    for _, r in returns.iterrows():
        ref = refunds[refunds["return_id"] == int(r["id"])]
        if paid >= total - 0.01 and (ref.empty or abs(ref["amount"].sum() - r["amount"]) > 0.01):
            return CheckResult(False, f"退货单 {r['code']} 金额 {r['amount']:.2f}，客户已付清货款，应有同额的退款记录（退还货款）："
                                      "先回款、后退货时 CRM 会自动生成退款记录；请检查回款是否在退货之前登记。")
    outstanding = total - returns["amount"].sum() - paid + refunds["amount"].sum()
    if abs(outstanding) > 0.01:
        return CheckResult(False, f"退货后合同的未收金额应为 0，现在是 {outstanding:.2f}。")
    # the credit note (红字发票): what was invoiced beyond the goods kept is reversed, against
    # this order's own invoices, by credit notes that name the return
    invoices = ctx.store.read("invoice", where={"order_id": oid})
    notes = ctx.store.read("credit_note", where={"order_id": oid})
    kept = total - returns["amount"].sum()
    for _, r in returns.iterrows():
        own = notes[notes["return_id"] == int(r["id"])]
        if own.empty:
            return CheckResult(False, f"退货单 {r['code']} 退回的货物已经开过发票（蓝字发票），应有红字发票（credit_note）冲减这部分"
                                      "开票金额：先开票、后退货时 CRM 会在同一笔操作里自动开具；请检查发票是否在退货之前开出。")
        if own["amount"].sum() > r["amount"] + 0.01:
            return CheckResult(False, f"退货单 {r['code']} 的红字发票合计 {own['amount'].sum():.2f}，超过了退货金额 {r['amount']:.2f}。")
    if not notes["invoice_id"].isin(invoices["id"]).all():
        return CheckResult(False, "红字发票必须对应本合同的蓝字发票。")
    net = invoices["amount"].sum() - notes["amount"].sum()
    if abs(net - kept) > 0.01:
        return CheckResult(False, f"开票净额（蓝字发票 {invoices['amount'].sum():.2f} − 红字发票 {notes['amount'].sum():.2f} = "
                                  f"{net:.2f}）应等于合同总额减退货 {kept:.2f}：客户留下的货物正好全部开票，退回的部分用红字冲减。"
                                  + ("冲红多了，请财务补开蓝字发票（issue_invoice）。" if net < kept else ""))
    return CheckResult(True)


# --- 任务二: the funnel -----------------------------------------------------------------------------------


def _diagnose_funnel(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "count" not in answer.columns:
        return None
    got = answer.set_index("stage").reindex(expected["stage"])
    e = expected.set_index("stage")
    opps = _opps(ctx)
    if not np.allclose(got["count"].astype(float), e["count"]):
        both = opps[opps["status"].isin(["跟踪", "搁置"])].groupby("stage").size().reindex(e.index).fillna(0)
        if np.allclose(got["count"].astype(float), both):
            return "搁置的销售机会不在漏斗里：只统计状态为“跟踪”的机会。"
        every = opps.groupby("stage").size().reindex(e.index).fillna(0)
        if np.allclose(got["count"].astype(float), every):
            return "漏斗是当前的销售管道：只统计状态为“跟踪”的机会，已成功、失败、失效的不算。"
        return "count = 状态为“跟踪”、当前处于该阶段的机会数。"
    if "weighted_amount" in got.columns and not np.allclose(got["weighted_amount"].astype(float), e["weighted_amount"], atol=0.01):
        return ("weighted_amount = Σ 金额 × probability / 100，用每个机会自己的 probability 列（手工设定的概率优先），"
                "不要用阶段表重新查概率。")
    return None


@calculation("ch08.funnel", points=6, key="stage", atol=0.01, diagnose=_safe(_diagnose_funnel))
def funnel_table(ctx: Any) -> pd.DataFrame:
    return _funnel(ctx)[["stage", "count", "amount", "weighted_amount"]].copy()


def _diagnose_conversion(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "reached" not in answer.columns:
        return None
    got = answer.set_index("stage").reindex(expected["stage"])
    current = funnel(_opps(ctx)).set_index("stage").reindex(expected["stage"])
    if np.allclose(got["reached"].astype(float), current["reached"]):
        return ("reached 按机会的当前阶段算了：失败的机会当前阶段停在哪里不代表它到过哪里。用阶段历史："
                "机会在历史中到过该阶段或更后的阶段，就算到达；成功的机会到达了每一个阶段。")
    return "conversion = 到达下一阶段的机会数 ÷ 到达本阶段的机会数（最后一个阶段没有下一阶段，不列出）。"


@calculation("ch08.conversion", points=5, key="stage", atol=1e-4, diagnose=_safe(_diagnose_conversion))
def conversion(ctx: Any) -> pd.DataFrame:
    f = _funnel(ctx)
    return f[["stage", "reached", "conversion"]].iloc[:-1].reset_index(drop=True)


def _diagnose_days(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "avg_days_in_stage" not in answer.columns:
        return None
    alt = funnel(_opps(ctx), _history(ctx), as_of=today(ctx)).set_index("stage")["avg_days_in_stage"]
    got = answer.set_index("stage")["avg_days_in_stage"].reindex(alt.index).astype(float)
    if np.allclose(got, alt, atol=1e-3):
        return "还没离开的停留算到“今天结束时”（lab.today 的次日 0 点），不是今天 0 点。"
    return ("一次停留从 entered_at 到 left_at；没有 left_at 的：机会已结束（成功、失败、失效）就到 closed_at，否则到今天结束时。"
            "记录“结束”本身的历史行（status 是成功、失败、失效）不是停留，不计入。")


@calculation("ch08.days_in_stage", points=4, key="stage", atol=1e-3, diagnose=_safe(_diagnose_days))
def days_in_stage(ctx: Any) -> pd.DataFrame:
    return _funnel(ctx)[["stage", "avg_days_in_stage"]].copy()


def _diagnose_win(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"win_rate\": ..., \"cycle_days\": ...}。"
    opps = _opps(ctx)
    won = (opps["status"] == "成功").sum()
    if abs(float(answer.get("win_rate", -1)) - won / opps["status"].isin(["成功", "失败", "失效"]).sum()) < 1e-6:
        return "赢单率 = 成功 ÷（成功 + 失败）：失效（客户失去联系）的机会不计入分母。"
    if abs(float(answer.get("win_rate", -1)) - won / len(opps)) < 1e-6:
        return "赢单率只看已经有结果的机会：成功 ÷（成功 + 失败），跟踪中的机会还没有输赢。"
    return "cycle_days = 成功机会从创建（created_at）到结束（closed_at）的平均天数（含小数）。"


@calculation("ch08.win_cycle", points=3, atol=1e-3, diagnose=_safe(_diagnose_win))
def win_cycle(ctx: Any) -> dict[str, float]:
    f = _funnel(ctx)
    return {"win_rate": float(f.attrs["win_rate"]), "cycle_days": float(f.attrs["cycle_days"])}


def _by_rep_quarter(ctx: Any) -> pd.DataFrame:
    opps = _opps(ctx)
    year = today(ctx).year
    closed = opps[opps["status"].isin(["成功", "失败"]) & (opps["closed_at"].dt.year == year)].copy()
    closed["quarter"] = closed["closed_at"].dt.to_period("Q").astype(str)
    closed["won"] = closed["status"].eq("成功").astype(int)
    closed["lost"] = closed["status"].eq("失败").astype(int)
    closed["won_amount"] = closed["amount"].where(closed["status"] == "成功", 0.0)
    out = closed.groupby(["owner_id", "quarter"], as_index=False)[["won", "lost", "won_amount"]].sum()
    out["win_rate"] = out["won"] / (out["won"] + out["lost"])
    out["owner_id"] = out["owner_id"].astype(int)
    return out[["owner_id", "quarter", "won", "lost", "win_rate", "won_amount"]]


def _diagnose_rep(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "quarter" not in answer.columns:
        return None
    if set(answer["quarter"].astype(str)) - set(expected["quarter"]):
        return f"quarter 写成 \"{expected['quarter'].iloc[0]}\" 这样的文本（pandas 的 .dt.to_period(\"Q\").astype(str)）。"
    if len(answer) != len(expected):
        return (f"按机会的结束时间（closed_at）所在季度分组，只看 {today(ctx).year} 年结束的成功和失败机会；"
                "不要按创建时间分组。")
    return None


@calculation("ch08.by_rep_quarter", points=4, key=["owner_id", "quarter"], atol=0.01, diagnose=_safe(_diagnose_rep))
def by_rep_quarter(ctx: Any) -> pd.DataFrame:
    return _by_rep_quarter(ctx)


def _forecast_quota(ctx: Any) -> pd.DataFrame:
    from ...analytics import forecast_vs_quota

    out = forecast_vs_quota(_opps(ctx), ctx.pristine.read("quota"), quota_period(ctx))
    out = out[out["quota"].notna()].reset_index(drop=True)
    out["owner_id"] = out["owner_id"].astype(int)
    return out[["owner_id", "won", "weighted_pipeline", "forecast", "quota", "forecast_attainment"]]


def _diagnose_quota(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "forecast" not in answer.columns:
        return None
    got = answer.set_index("owner_id").reindex(expected["owner_id"])
    e = expected.set_index("owner_id")
    if np.allclose(got["forecast"].astype(float), e["weighted_pipeline"], atol=0.01):
        return "forecast = 本季度已成交（won）+ 加权管道（weighted_pipeline）：已经赢下的单子也算在预测里。"
    if not np.allclose(got["won"].astype(float), e["won"], atol=0.01):
        return f"won = 本季度（{quota_period(ctx)}）内结束为“成功”的机会金额（按 closed_at 所在季度）。"
    return (f"weighted_pipeline = 跟踪中、预计成交日期（expected_close）在 {quota_period(ctx)} 的机会的 金额 × probability / 100；"
            "只列出该季度有指标的销售人员。")


@calculation("ch08.forecast_quota", points=4, key="owner_id", atol=0.01, diagnose=_safe(_diagnose_quota))
def forecast_quota(ctx: Any) -> pd.DataFrame:
    return _forecast_quota(ctx)


# --- 任务三: receivables -----------------------------------------------------------------------------------


def _plans(ctx: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    plans = ctx.pristine.read("payment_plan")
    cust = ctx.pristine.read("sales_order", columns=["id", "customer_id"]).set_index("id")["customer_id"]
    plans = plans.assign(customer_id=plans["order_id"].map(cust).astype(int))
    return plans, ctx.pristine.read("payment")


def _ageing(ctx: Any) -> pd.DataFrame:
    def build() -> pd.DataFrame:
        plans, pays = _plans(ctx)
        out = receivables_aging(plans, pays, as_of=today(ctx))
        out["customer_id"] = out["customer_id"].astype(int)
        return out[AGEING_COLUMNS]
    return _cached(ctx, "ageing", build)


def _diagnose_ageing(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not set(AGEING_COLUMNS) <= set(answer.columns):
        return None
    got = answer.set_index("customer_id").reindex(expected["customer_id"])
    e = expected.set_index("customer_id")
    if not np.allclose(got["total_overdue"].astype(float).fillna(-1), e["total_overdue"], atol=0.01):
        if np.allclose(got["total_overdue"].astype(float).fillna(-1), e["total_overdue"] + e["not_due"], atol=0.01):
            return "total_overdue 把还没到期的计划也算进去了：到期日在今天之前（due_date < 今天）且没收回的部分才是逾期。"
        return ("回款按合同匹配到各期计划：同一合同的回款先冲最早到期的一期（FIFO），不管回款记录的 plan_id；"
                "逾期天数 = 今天 − 到期日。")
    return "逾期金额按逾期天数分档：1–30 天、31–60 天、61–90 天、90 天以上；未到期的列 not_due。"


@calculation("ch08.ageing", points=6, key="customer_id", atol=0.01, diagnose=_safe(_diagnose_ageing))
def ageing(ctx: Any) -> pd.DataFrame:
    return _ageing(ctx).copy()


def _chase(ctx: Any) -> list[int]:
    a = _ageing(ctx)
    late = a["31-60"] + a["61-90"] + a[">90"]
    a = a.assign(late=late)[late > 0.005].sort_values(["late", "customer_id"], ascending=[False, True])
    return [int(x) for x in a["customer_id"]]


def _diagnose_chase(ctx: Any, answer: Any, expected: Any) -> str | None:
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        return None
    got = [int(x) for x in answer]
    a = _ageing(ctx)
    if set(got) == set(a.loc[a["total_overdue"] > 0.005, "customer_id"]):
        return "逾期 30 天以内的可能只是付款流程慢，先不催：只列逾期超过 30 天的金额（31-60、61-90、>90 三档之和）大于 0 的客户。"
    if set(got) == set(expected) and got != expected:
        return "客户齐了，顺序不对：按逾期超过 30 天的金额从大到小排（金额相同按 customer_id 从小到大），先催欠得多、拖得久的。"
    return None


@calculation("ch08.chase", points=4, ordered=True, diagnose=_safe(_diagnose_chase))
def chase(ctx: Any) -> list[int]:
    return _chase(ctx)


def _plan_status(ctx: Any) -> dict[str, int]:
    return dict(_cached(ctx, "plan_status", lambda: _plan_status_of(ctx)))


def _plan_status_of(ctx: Any) -> dict[str, int]:
    plans, pays = _plans(ctx)
    s = settle(plans, pays, today(ctx), "order_id", "due_date", "amount", "paid_date", "amount")
    due = pd.to_datetime(s["due"])
    done = s["settled_at"].notna()
    status = np.where(done & (s["settled_at"] <= due), "按期回款",
                      np.where(done, "逾期回款", np.where(due < today(ctx), "逾期未回", "未到期")))
    counts = pd.Series(status).value_counts()
    return {k: int(counts.get(k, 0)) for k in PLAN_STATES}


def _diagnose_plan(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：键为 按期回款、逾期回款、逾期未回、未到期，值为期数。"
    if sum(int(v) for v in answer.values()) != sum(expected.values()):
        return f"四种状态的期数合计应等于回款计划的总期数 {sum(expected.values())}。"
    return ("一期计划“收回”于累计回款（同一合同，回款日不晚于今天）首次达到累计计划金额（到本期为止）的那一天："
            "不晚于到期日为按期回款，晚于为逾期回款；还没收回的，到期日在今天之前为逾期未回，否则为未到期。")


@calculation("ch08.plan_status", points=4, diagnose=_safe(_diagnose_plan))
def plan_status(ctx: Any) -> dict[str, int]:
    return _plan_status(ctx)


# --- 任务四: calibration and the next quarter ------------------------------------------------------------


def calibrated(ctx: Any) -> dict[str, float]:
    """Per stage: % won among the won or lost opportunities that ever entered the stage."""
    def build() -> dict[str, float]:
        opps = _opps(ctx).set_index("id")["status"]
        h = _history(ctx)
        out = {}
        for stage in STAGES:
            ids = pd.Index(h.loc[h["stage"] == stage, "opportunity_id"].unique())
            st = opps.reindex(ids)
            closed = st.isin(["成功", "失败"])
            out[stage] = float(100 * (st == "成功").sum() / closed.sum()) if closed.any() else 0.0
        return out
    return _cached(ctx, "calibrated", build)


def _diagnose_cal(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{阶段: 概率(%)}，七个阶段。"
    opps = _opps(ctx)
    h = _history(ctx)
    status = opps.set_index("id")["status"]
    for stage in STAGES:
        got = float(answer.get(stage, -1))
        if abs(got - expected[stage]) <= 0.01:
            continue
        if abs(got - expected[stage] / 100) < 1e-4:
            return "用百分数（0–100），与 CRM 的阶段概率表一致，不要用 0–1 的小数。"
        ids = pd.Index(h.loc[h["stage"] == stage, "opportunity_id"].unique())
        st = status.reindex(ids)
        with_expired = 100 * (st == "成功").sum() / max(st.isin(["成功", "失败", "失效"]).sum(), 1)
        if abs(got - with_expired) <= 0.01:
            return "失效的机会不计入：与赢单率一致，只看成功和失败的机会。"
        cur = opps[opps["stage"] == stage]
        by_current = 100 * (cur["status"] == "成功").sum() / max(cur["status"].isin(["成功", "失败"]).sum(), 1)
        if abs(got - by_current) <= 0.01:
            return (f"“{stage}”：你按机会的当前阶段分组了。校准要问“到过这个阶段的机会，最后有多少赢了”："
                    "用阶段历史找出到过该阶段的机会。")
        return f"“{stage}”：到过该阶段（阶段历史中有该阶段的记录）且已有结果的机会中，成功的百分比。"
    return None


@calculation("ch08.calibrated", points=6, atol=0.01, diagnose=_safe(_diagnose_cal))
def calibrated_table(ctx: Any) -> dict[str, float]:
    return dict(calibrated(ctx))


def forecast_pool(ctx: Any) -> pd.DataFrame:
    """Open (跟踪) opportunities expected to close by the end of the next quarter."""
    opps = _opps(ctx)
    end = today(ctx) + pd.Timedelta(days=HORIZON)
    return opps[(opps["status"] == "跟踪") & (opps["expected_close"] <= end)].copy()


def _forecast(ctx: Any) -> dict[str, float]:
    pool = forecast_pool(ctx)
    cal = calibrated(ctx)
    return {"configured": float((pool["amount"] * pool["probability"] / 100).sum()),
            "calibrated": float((pool["amount"] * pool["stage"].map(cal) / 100).sum())}


def _diagnose_forecast(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"configured\": ..., \"calibrated\": ...}。"
    opps = _opps(ctx)
    every = opps[opps["status"] == "跟踪"]
    if abs(float(answer.get("configured", -1)) - (every["amount"] * every["probability"] / 100).sum()) < 0.01:
        return (f"只预测下一季度：跟踪中、预计成交日期不晚于今天 + {HORIZON} 天的机会（已过预计日期还没成交的也算，"
                "它们仍可能在本季度成交）。")
    return None


@calculation("ch08.forecast", points=5, atol=0.01, diagnose=_safe(_diagnose_forecast))
def forecast(ctx: Any) -> dict[str, float]:
    return _forecast(ctx)


def _actual(ctx: Any) -> dict[str, Any]:
    from ..loop import replay

    def build() -> dict[str, Any]:
        after = replay(ctx).read("opportunity").set_index("id")
        pool = forecast_pool(ctx)
        won = after.reindex(pool["id"])
        actual = float(won.loc[won["status"] == "成功", "amount"].sum())
        f = _forecast(ctx)
        closer = "calibrated" if abs(f["calibrated"] - actual) < abs(f["configured"] - actual) else "configured"
        return {"actual": actual, "closer": closer}
    return ctx.once("actual", build)


def _diagnose_actual(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"actual\": 实际成交金额, \"closer\": \"configured\" 或 \"calibrated\"}。"
    if answer.get("closer") not in ("configured", "calibrated"):
        return "closer 只能是 \"configured\"（按系统配置的阶段概率）或 \"calibrated\"（按校准后的概率）。"
    if abs(float(answer.get("actual", -1)) - expected["actual"]) > 0.01:
        return ("actual = 练习 4.2 中那批机会（用 lab.pristine 选出的，不含下一季度新建的机会）在运行下一季度之后状态为“成功”的金额之和："
                "先 lab.next_quarter()，再读 lab.table(\"opportunity\")。")
    return "比较 |预测 − 实际|，差得少的那个更接近。"


@calculation("ch08.actual", points=5, atol=0.01, diagnose=_safe(_diagnose_actual))
def actual(ctx: Any) -> dict[str, Any]:
    return _actual(ctx)


__all__ = ["my_lead", "manager_of", "finance_clerk", "calibrated", "forecast_pool", "today", "as_of",
           "CUSTOMERS", "HORIZON", "quota_period", "STAGES", "PLAN_STATES"]
