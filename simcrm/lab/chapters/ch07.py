"""ch07 客户体验、沟通与关怀 — questions and reference computations.

The student is a sales rep (一般人员) who looks after their own book of customers and, this
quarter, is given a care budget:

* 任务一 (calculation): touchpoints from the firm's records — contacts by channel and by who
  started them (企业发起: the reps' activity records; 客户发起: service requests and
  complaints), and the service desk's first-response time by channel;
* 任务二 (calculation + 思考题): the interaction plan; its budget by the 按比例 method (a share of
  the book's revenue over the last year);
* 任务三 (operations): care before / during / after purchase scheduled in the CRM by rules —
  birthdays of the book's contacts in the next 30 days, a 售后回访 for every recent buyer;
* 任务四 (the first closed loop): a care campaign for a segment the student chooses, within the
  budget, with the control group drawn by the CRM (the student's fixed seed); the quarter runs
  (``lab.next_quarter()``); the effect (purchases, revenue, churn: target vs control, with a
  95% confidence interval) and the return on the budget. The reference outcome is the
  referee's own replay of the student's decisions (:func:`simcrm.lab.loop.replay`), never the
  student's store. The targeting checks compare the segment the student chose (the whole list,
  目标组 and 对照组, so the luck of the random split does not decide the grade) with
  :data:`RANDOM_LISTS` untargeted campaigns of the same cost — lists of the same size drawn at
  random from the same book (without customers with an open complaint, whom the rules exclude),
  the draws fixed by the student's seed and the list size (common random numbers) — by the
  customers' hidden response to the action on the day of the campaign (+1 可挽回, −1 反感打扰,
  0 otherwise; :func:`net_response`). Half the points for beating the median random list, the
  other half for reaching the :data:`TOP_PERCENTILE` percentile. The solution's segment (bought
  within 450 days, relationship not 密切, last survey c < 1 or none, not lost to price, a
  competitor, bad service or an accident) reaches it on every world tested (see
  ``tests/test_lab_ch07.py``);
* 任务五 (calculation): satisfaction c = b/a (perceived ÷ expected, SERVQUAL) by the customer's
  main channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...sim.actions import ACTIONS
from ..checks import CheckResult
from ..loop import HANDLED, QUARTER_DAYS, decisions, discard_with, replay_world
from ..questions import calculation, operation

CUSTOMERS = 1200

#: the rep's care budget: this share of the book's approved order amount over the last year
BUDGET_SHARE = 0.001
BUDGET_WINDOW = 365
#: birthdays within this many days after today get a 生日 care
BIRTHDAY_DAYS = 30
#: buyers whose last approved order is within this many days get a 售后回访 that many days after it
FOLLOWUP_DAYS = 30
#: the control group: at least this share of the campaign's list and at least this many customers
MIN_CONTROL_SHARE = 0.3
MIN_CONTROL = 15
#: z of a two-sided 95% confidence interval
Z95 = 1.96
SERVQUAL = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
OPEN_COMPLAINT_DONE = "已归档"
#: the targeting checks: how many untargeted (random) lists of the same size the chosen list is
#: compared with, and the share of them it must beat for the second half of the points
RANDOM_LISTS = 100
TOP_PERCENTILE = 0.8
#: 练习 4.1's worked segment (the notebook's 参考做法): in use (an approved order within this many
#: days), relationship not 密切, last survey c < 1 or none, not lost for one of these reasons, no
#: open complaint
TAUGHT_RECENT_DAYS = 450
TAUGHT_GONE = ("价格原因", "转向竞争对手", "服务不满意", "意外终止")

EFFECT_KEYS = ("n_target", "n_control", "buy_target", "buy_control", "diff", "ci_low", "ci_high",
               "revenue_target", "revenue_control", "churn_target", "churn_control", "cost",
               "incremental_revenue", "roi")

_CACHE: dict[Any, Any] = {}


def prepare_world(world: Any) -> None:
    """The sales reps' role may run care campaigns (营销活动: new, read, update): the firm gives
    its reps a care budget this quarter. The same for the lab, the referee and every replay."""
    from ...crm import CRM
    from ..session import pick_employee

    store = world.store
    me = pick_employee(store, "一般人员")
    role = store.read("role", columns=["id", "name"]).set_index("id")["name"][int(me["role_id"])]
    admin = CRM.system(store, now=dt.datetime.combine(world.today, dt.time(17, 0)))
    admin.set_role_rights(role, "campaign", create=True, read=True, update=True)
    _keep_response(world)


def _keep_response(world: Any) -> None:
    """Keep each customer's hidden response to a care action on the lab's 'today' (the day a
    campaign started now acts) on the world object, never in its tables: the targeting checks
    read it after ``next_quarter()`` without building the world again (see :func:`net_response`)."""
    ids = world.store.read("customer", columns=["id"])["id"].astype("int64")
    rendered = world._rendered_ids("customer", ids)
    idx = world._customer_index().reindex(rendered.to_numpy()).to_numpy()
    ok = ~np.isnan(idx)
    kind = world._model.response_type(idx[ok].astype(np.int64), np.full(int(ok.sum()), world._day(), dtype=np.int64))
    net = np.where(kind == 1, 1, np.where(kind == 3, -1, 0))
    world._ch07_response = (world.today, pd.Series(net, index=ids[ok].to_numpy(), dtype="int64"))


def campaign_seed(world_seed: int) -> int:
    """The student's fixed seed for the control group (the CRM stores seeds below 2**31)."""
    return int(world_seed) % 2**31


# --- helpers ------------------------------------------------------------------------------------------


def start_day(ctx: Any) -> pd.Timestamp:
    """The lab's 'today' as generated (before any next_quarter)."""
    return pd.Timestamp(ctx.world.params.today)


def _end(ctx: Any) -> pd.Timestamp:
    return start_day(ctx) + pd.Timedelta(days=1)


def _me(ctx: Any) -> int:
    if ctx.me is not None:
        return int(ctx.me["id"])
    from ..session import pick_employee

    return int(pick_employee(ctx.pristine, "一般人员")["id"])


def book(ctx: Any) -> list[int]:
    """The rep's customers (owner = the student, not deleted), as generated."""
    c = ctx.pristine.read("customer", columns=["id", "owner_id", "deleted"])
    return sorted(int(x) for x in c.loc[(c["owner_id"] == _me(ctx)) & ~c["deleted"], "id"])


def approved_orders(store: Any, before: pd.Timestamp) -> pd.DataFrame:
    o = store.read("sales_order", columns=["id", "customer_id", "order_date", "total_amount", "approval"])
    return o[(o["approval"] == "同意") & (o["order_date"] < before)].reset_index(drop=True)


def open_complaints(store: Any) -> set[int]:
    c = store.read("complaint", columns=["customer_id", "status"])
    return set(int(x) for x in c.loc[c["status"] != OPEN_COMPLAINT_DONE, "customer_id"])


def my_decisions(ctx: Any) -> dict[str, pd.DataFrame]:
    """The rows the student created through the CRM (see :func:`simcrm.lab.loop.decisions`),
    read back with dictionary fields as text."""
    ids = decisions(ctx.pristine, ctx.store)
    out = {}
    for key, frame in ids.items():
        table = "complaint" if key == HANDLED else key  # the world's complaints the student handled
        full = ctx.store.read(table)
        out[key] = full[full["id"].isin(frame["id"])].reset_index(drop=True)
    return out


# --- 任务一: touchpoints ------------------------------------------------------------------------------


def _touch(ctx: Any) -> pd.DataFrame:
    end = _end(ctx)
    act = ctx.pristine.read("activity", columns=["channel", "kind", "activity_time"])
    act = act[(act["kind"] == "记录") & (act["activity_time"] < end)]
    firm = act.groupby("channel").size()
    sr = ctx.pristine.read("service_request", columns=["channel", "opened_at"])
    cp = ctx.pristine.read("complaint", columns=["channel", "received_at"])
    cust = pd.concat([sr.loc[sr["opened_at"] < end, "channel"], cp.loc[cp["received_at"] < end, "channel"]])
    cust = cust.groupby(cust).size()
    rows = [(str(ch), "企业发起", int(n)) for ch, n in firm.items()] + [(str(ch), "客户发起", int(n)) for ch, n in cust.items()]
    return pd.DataFrame(rows, columns=["channel", "initiator", "contacts"])


def _diagnose_touch(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"channel", "initiator", "contacts"} <= set(answer.columns):
        return None
    got = answer.groupby("initiator")["contacts"].sum()
    want = expected.groupby("initiator")["contacts"].sum()
    if "企业发起" in got.index and got["企业发起"] > want["企业发起"]:
        return "企业发起的接触只算已经发生的沟通记录（activity.kind == \"记录\"），日程、待办还没有发生。"
    if "客户发起" in got.index and got["客户发起"] < want["客户发起"]:
        sr = ctx.pristine.read("service_request", columns=["opened_at"])
        if got["客户发起"] == int((sr["opened_at"] < _end(ctx)).sum()):
            return "客户发起的接触除了服务请求，还有投诉（complaint，按 channel 统计）。"
        return "客户发起 = 服务请求（service_request）+ 投诉（complaint），都按各自的 channel 统计。"
    if set(answer["initiator"].astype(str)) - {"企业发起", "客户发起"}:
        return "initiator 只能是“企业发起”或“客户发起”。"
    return None


@calculation("ch07.touch", points=10, key=["channel", "initiator"], diagnose=_diagnose_touch)
def touch(ctx: Any) -> pd.DataFrame:
    return _touch(ctx)


def _response(ctx: Any) -> pd.DataFrame:
    sr = ctx.pristine.read("service_request", columns=["channel", "opened_at", "first_response_at"])
    sr = sr[(sr["opened_at"] < _end(ctx)) & sr["first_response_at"].notna()]
    hours = (sr["first_response_at"] - sr["opened_at"]).dt.total_seconds() / 3600
    g = hours.groupby(sr["channel"].astype(str))
    return pd.DataFrame({"channel": g.size().index, "requests": g.size().to_numpy(),
                         "median_hours": g.median().to_numpy()})


def _diagnose_response(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"channel", "median_hours"} <= set(answer.columns):
        return None
    v = answer.set_index("channel")["median_hours"].reindex(expected["channel"]).astype(float).to_numpy()
    e = expected["median_hours"].to_numpy()
    if np.allclose(v, e * 60, atol=0.05):
        return "median_hours 的单位是小时：你算的是分钟，除以 60。"
    if np.allclose(v, e / 24, atol=0.01):
        return "median_hours 的单位是小时：你算的是天。用 .dt.total_seconds() / 3600。"
    sr = ctx.pristine.read("service_request", columns=["channel", "opened_at", "first_response_at"])
    sr = sr[sr["first_response_at"].notna()]
    mean = ((sr["first_response_at"] - sr["opened_at"]).dt.total_seconds() / 3600).groupby(sr["channel"].astype(str)).mean()
    if np.allclose(v, mean.reindex(expected["channel"]).to_numpy(), atol=0.01):
        return "题目要的是中位数（median），不是平均数：少数很慢的响应会把平均数拉高。"
    return None


@calculation("ch07.response", points=6, key="channel", atol=0.01, diagnose=_diagnose_response)
def response(ctx: Any) -> pd.DataFrame:
    return _response(ctx)


# --- 任务二: the budget -------------------------------------------------------------------------------


def budget(ctx: Any) -> float:
    end = _end(ctx)
    o = approved_orders(ctx.pristine, end)
    o = o[o["customer_id"].isin(book(ctx)) & (o["order_date"] >= end - pd.Timedelta(days=BUDGET_WINDOW))]
    return round(float(o["total_amount"].sum()) * BUDGET_SHARE, 2)


def _diagnose_budget(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        x = float(answer)
    except (TypeError, ValueError):
        return "budget 应是一个数（元）。"
    end = _end(ctx)
    o = approved_orders(ctx.pristine, end)
    year = o[o["order_date"] >= end - pd.Timedelta(days=BUDGET_WINDOW)]
    if math.isclose(x, round(float(year["total_amount"].sum()) * BUDGET_SHARE, 2), abs_tol=0.01):
        return "你用了全公司的销售额：预算按你自己负责的客户（customer.owner_id == lab.me[\"id\"]）的销售额计算。"
    mine = o[o["customer_id"].isin(book(ctx))]
    if math.isclose(x, round(float(mine["total_amount"].sum()) * BUDGET_SHARE, 2), abs_tol=0.01):
        return f"只算最近 {BUDGET_WINDOW} 天（as_of − {BUDGET_WINDOW} 天 ≤ 签订日期 < as_of）的订单，不是全部历史。"
    return None


@calculation("ch07.budget", points=8, atol=0.01, diagnose=_diagnose_budget)
def budget_q(ctx: Any) -> float:
    return budget(ctx)


# --- 任务三: care by rules ----------------------------------------------------------------------------


def _next_birthday(born: pd.Timestamp, after: dt.date) -> dt.date:
    for year in (after.year, after.year + 1):
        try:
            day = dt.date(year, born.month, born.day)
        except ValueError:  # 29 February in a common year: the day before
            day = dt.date(year, 2, 28)
        if day > after:
            return day
    raise AssertionError("unreachable")


def expected_birthdays(ctx: Any) -> set[tuple[int, int, dt.date]]:
    """(customer, contact, date) of each birthday care the rule asks for."""
    today = start_day(ctx).date()
    last = today + dt.timedelta(days=BIRTHDAY_DAYS)
    c = ctx.pristine.read("contact", columns=["id", "customer_id", "birthday", "status"])
    c = c[c["customer_id"].isin(book(ctx)) & (c["status"] != "离职") & c["birthday"].notna()]
    out = set()
    for row in c.itertuples():
        day = _next_birthday(row.birthday, today)
        if day <= last:
            out.add((int(row.customer_id), int(row.id), day))
    return out


def _twice(n: int, what: str, key: str) -> str:
    return (f"有 {n} 条{what}重复了（同一客户、同一天安排了两次）——多半是答案单元格运行了两次。"
            f"先运行 lab.undo(\"{key}\") 撤销本练习写入的数据，再把答案单元格运行一次。")


@operation("ch07.birthdays", points=8)
def check_birthdays(ctx: Any, _answer: Any) -> CheckResult:
    want = expected_birthdays(ctx)
    care = my_decisions(ctx)["care"]
    care = care[care["care_type"] == "生日"]
    if care.empty:
        return CheckResult(False, "还没有生日关怀计划：用 lab.crm.plan_care(客户编号, \"生日\", \"生日祝福\", 生日日期, "
                                  "contact_id=联系人编号, channel=\"短信\") 为每位联系人安排。")
    rows = [(int(r.customer_id), int(r.contact_id) if pd.notna(r.contact_id) else -1, r.planned_date.date())
            for r in care.itertuples()]
    got = set(rows)
    if len(rows) > len(got):
        return CheckResult(False, _twice(len(rows) - len(got), "生日关怀", "ch07.birthdays"))
    extra, missing = got - want, want - got
    if extra or missing:
        left = [x for x in extra if x[1] in {m[1] for m in missing}]
        hint = (f"生日关怀与规则不符：多了 {len(extra)} 条、少了 {len(missing)} 条。规则：你负责的客户的在职联系人"
                f"（status != \"离职\"），下一个生日在明天到今天 + {BIRTHDAY_DAYS} 天之间，计划日期就是生日当天。")
        if left:
            hint += " 有的日期不对：生日要换算到今年（或明年）的同一月日。"
        if any(x[1] == -1 for x in extra):
            hint += " 生日关怀要指定联系人（contact_id）。"
        return CheckResult(False, hint)
    return CheckResult(True)


def expected_followups(ctx: Any) -> set[tuple[int, dt.date]]:
    """(customer, date): a 售后回访 FOLLOWUP_DAYS after each recent buyer's last approved order."""
    end = _end(ctx)
    o = approved_orders(ctx.pristine, end)
    o = o[o["customer_id"].isin(book(ctx))]
    last = o.groupby("customer_id")["order_date"].max()
    recent = last[last >= end - pd.Timedelta(days=FOLLOWUP_DAYS)]
    return {(int(c), (d.normalize() + pd.Timedelta(days=FOLLOWUP_DAYS)).date()) for c, d in recent.items()}


@operation("ch07.followups", points=8)
def check_followups(ctx: Any, _answer: Any) -> CheckResult:
    want = expected_followups(ctx)
    care = my_decisions(ctx)["care"]
    care = care[care["care_type"] == "售后回访"]
    if care.empty:
        return CheckResult(False, "还没有售后回访计划：用 lab.crm.plan_care(客户编号, \"售后回访\", \"售后回访\", 日期, channel=\"电话\")。")
    rows = [(int(r.customer_id), r.planned_date.date()) for r in care.itertuples()]
    got = set(rows)
    if len(rows) > len(got):
        return CheckResult(False, _twice(len(rows) - len(got), "售后回访", "ch07.followups"))
    extra, missing = got - want, want - got
    if extra or missing:
        per_order = len(care) > len({c for c, _ in got})
        hint = (f"售后回访与规则不符：多了 {len(extra)} 条、少了 {len(missing)} 条。规则：最近 {FOLLOWUP_DAYS} 天"
                f"（as_of − {FOLLOWUP_DAYS} 天 ≤ 签订日期 < as_of）有已审批订单的你的客户，每人一次，"
                f"日期 = 最后一笔订单的签订日期 + {FOLLOWUP_DAYS} 天。")
        if per_order:
            hint += " 每个客户只安排一次（按最后一笔订单），不是每张订单一次。"
        return CheckResult(False, hint)
    return CheckResult(True)


# --- 任务四: the campaign and its effect ------------------------------------------------------------------


def student_campaign(ctx: Any) -> tuple[pd.Series | None, pd.DataFrame]:
    """The student's latest campaign (created through the CRM) and its members."""
    mine = my_decisions(ctx)
    camp = mine["campaign"]
    if camp.empty:
        return None, pd.DataFrame(columns=["customer_id", "group_name"])
    row = camp.sort_values("id").iloc[-1]
    members = ctx.store.read("campaign_member")
    members = members[members["campaign_id"] == int(row["id"])].sort_values("id").reset_index(drop=True)
    return row, members


def action_of(name: Any) -> str | None:
    for act in ACTIONS:
        if isinstance(name, str) and act in name:
            return act
    return None


@operation("ch07.campaign", points=10)
def check_campaign(ctx: Any, _answer: Any) -> CheckResult:
    camp, members = student_campaign(ctx)
    if camp is None:
        return CheckResult(False, "还没有你建立的关怀活动：lab.crm.create_campaign(名称, \"关怀\", cost_per_contact=..., "
                                  "budget=..., channel=...)。")
    n_campaigns = len(my_decisions(ctx)["campaign"])
    if n_campaigns > 1:
        return CheckResult(False, f"你建立了 {n_campaigns} 个活动：一个季度只做一个关怀活动，否则前一个活动的目标组也会被执行，"
                                  "对照组就不再“什么都没做”。多半是答案单元格运行了两次：先运行 lab.undo(\"ch07.campaign\") "
                                  "撤销本练习写入的数据，再把答案单元格运行一次（已经运行过 next_quarter() 的，用 lab.reset()）。")
    act = action_of(camp["name"])
    if act is None:
        return CheckResult(False, f"活动名称要写明用哪种关怀动作（{'、'.join(ACTIONS)} 之一），系统据此执行。")
    if not math.isclose(float(camp["cost_per_contact"]), ACTIONS[act]["cost"], abs_tol=0.005):
        return CheckResult(False, f"“{act}”每位客户的成本是 {ACTIONS[act]['cost']} 元：cost_per_contact 要与动作菜单一致。")
    limit = budget(ctx)
    if float(camp["budget"]) > limit + 0.005:
        return CheckResult(False, f"活动预算 {float(camp['budget']):.2f} 元超过了批给你的预算（练习 2.1）。")
    if members.empty:
        return CheckResult(False, "活动还没有目标客户：用 lab.crm.set_campaign_targets(活动编号, 客户列表, control_share=..., seed=...)。")
    ids = [int(x) for x in members["customer_id"]]
    outside = sorted(set(ids) - set(book(ctx)))
    if outside:
        return CheckResult(False, f"{len(outside)} 个客户不是你负责的客户（如 {outside[:3]}）：只能关怀自己的客户。")
    bad = sorted(set(ids) & open_complaints(ctx.pristine))
    if bad:
        return CheckResult(False, f"{len(bad)} 个客户还有没处理完的投诉（如 {bad[:3]}）：先解决投诉，再做关怀营销——"
                                  "这时的问候只会让客户更反感。")
    seed = campaign_seed(ctx.world.seed)
    if pd.isna(camp["seed"]) or int(camp["seed"]) != seed:
        return CheckResult(False, f"对照组要用你的固定种子抽取：seed = lab.seed % 2**31（= {seed}），别人才能复核你的抽样。")
    share = float(camp["control_share"])
    control = members[members["group_name"] == "对照组"]
    if share < MIN_CONTROL_SHARE or len(control) < MIN_CONTROL:
        return CheckResult(False, f"对照组太小：至少占名单的 {MIN_CONTROL_SHARE:.0%}、至少 {MIN_CONTROL} 个客户，"
                                  f"否则效果的置信区间太宽。现在是 {len(control)} 个（{share:.0%}）。")
    rng = np.random.default_rng(seed)
    n_control = int(round(len(ids) * share))
    drawn = {ids[i] for i in rng.permutation(len(ids))[:n_control]}
    if drawn != set(int(x) for x in control["customer_id"]):
        return CheckResult(False, "对照组不是系统按种子随机抽取的结果：不要手工挑选或改动活动对象。")
    if camp["status"] == "计划":
        return CheckResult(False, "活动还在“计划”状态：用 lab.crm.start_campaign(活动编号) 启动，下一季度才会执行。")
    return CheckResult(True)


def outcome_store(ctx: Any) -> Any:
    """The store after the quarter, for the student's decisions.

    The referee replays the decisions on its own world (:func:`simcrm.lab.loop.replay`); in the
    student's kernel, whose world has just run that same quarter, its store is that outcome
    (``tests/test_lab_loop.py`` shows the two agree), which saves running the quarter twice.
    """
    w = ctx.world
    if w is not None and w.store is ctx.store and (pd.Timestamp(w.today) - start_day(ctx)).days == QUARTER_DAYS:
        return ctx.store
    chosen = decisions(ctx.pristine, ctx.store)
    digest = hashlib.sha256()
    for table in sorted(chosen):
        digest.update(table.encode())
        digest.update(chosen[table].to_csv(index=False).encode())
    slot = ("replay", int(w.seed), w.params.customers, ctx.chapter, digest.hexdigest())
    if slot not in _CACHE:
        folder = Path(tempfile.mkdtemp(prefix="simcrm-ch07-replay-"))
        _CACHE.clear()  # one replay at a time: each is a full world
        _CACHE[slot] = discard_with(replay_world(w.seed, ctx.chapter, w.params.customers, chosen, [QUARTER_DAYS], folder).store,
                                    folder)
    return _CACHE[slot]


def _effect(ctx: Any) -> dict[str, float]:
    camp, members = student_campaign(ctx)
    if camp is None or members.empty:
        raise AssertionError("还没有关怀活动和目标客户：先完成练习 4.1。")
    out = outcome_store(ctx)
    t0 = _end(ctx)
    o = out.read("sales_order", columns=["customer_id", "order_date", "total_amount", "approval"])
    o = o[(o["approval"] == "同意") & (o["order_date"] >= t0)]
    bought = set(int(x) for x in o["customer_id"])
    revenue = o.groupby("customer_id")["total_amount"].sum()
    lifecycle = out.read("customer", columns=["id", "lifecycle"]).set_index("id")["lifecycle"]
    res: dict[str, float] = {}
    for grp, tag in (("目标组", "target"), ("对照组", "control")):
        ids = members.loc[members["group_name"] == grp, "customer_id"].astype(int)
        res[f"n_{tag}"] = int(len(ids))
        res[f"buy_{tag}"] = float(ids.isin(bought).mean())
        res[f"revenue_{tag}"] = float(ids.map(revenue).fillna(0.0).mean())
        res[f"churn_{tag}"] = float(ids.map(lifecycle).eq("失效").mean())
    p1, p0, n1, n0 = res["buy_target"], res["buy_control"], res["n_target"], res["n_control"]
    res["diff"] = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    res["ci_low"], res["ci_high"] = res["diff"] - Z95 * se, res["diff"] + Z95 * se
    res["cost"] = n1 * float(camp["cost_per_contact"])
    res["incremental_revenue"] = (res["revenue_target"] - res["revenue_control"]) * n1
    res["roi"] = (res["incremental_revenue"] - res["cost"]) / res["cost"] if res["cost"] else float("nan")
    return {k: res[k] for k in EFFECT_KEYS}


def _diagnose_effect(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典，键见题目。"
    missing = [k for k in EFFECT_KEYS if k not in answer]
    if missing:
        return f"字典缺少这些键：{missing}。"

    def off(k: str) -> bool:
        try:
            return not math.isclose(float(answer[k]), float(expected[k]), rel_tol=1e-6, abs_tol=1e-4)
        except (TypeError, ValueError):
            return True

    if off("n_target") or off("n_control"):
        return "n_target / n_control：活动对象中目标组、对照组的人数（campaign_member.group_name）。"
    if off("buy_target") or off("buy_control"):
        return ("购买率 = 本季度（签订日期晚于原来的“今天”）有已审批订单的客户数 ÷ 组内人数；"
                "要用 next_quarter() 之后的订单，每个客户最多算一次。")
    if off("ci_low") or off("ci_high"):
        if not off("diff"):
            return "置信区间 = diff ± 1.96 × sqrt(p1(1−p1)/n1 + p0(1−p0)/n0)：两组的方差相加，不是只用目标组。"
    if off("revenue_target") or off("revenue_control"):
        return "revenue_* 是组内每位客户本季度已审批订单金额（total_amount）的平均数——没有购买的客户算 0。"
    if off("churn_target") or off("churn_control"):
        return "churn_* = 季度末生命周期阶段（customer.lifecycle）为“失效”的客户占组内人数的比例。"
    if off("cost"):
        return "cost = 目标组人数 × 每位客户的成本（对照组不接触，不花钱）。"
    if off("incremental_revenue") or off("roi"):
        return "incremental_revenue = (revenue_target − revenue_control) × n_target；roi = (incremental_revenue − cost) / cost。"
    return None


@calculation("ch07.effect", points=14, atol=1e-4, diagnose=_diagnose_effect)
def effect(ctx: Any) -> dict[str, float]:
    return _effect(ctx)


def _world_as_generated(ctx: Any) -> Any:
    """A world at the lab's 'today' with its hidden state (the referee's own, or a fresh copy)."""
    w = ctx.world
    if pd.Timestamp(w.today) == start_day(ctx):
        return w
    slot = ("fresh", int(w.seed), w.params.customers, ctx.chapter)
    if slot not in _CACHE:
        from ..session import build_world

        folder = Path(tempfile.mkdtemp(prefix="simcrm-ch07-"))
        _CACHE[slot] = discard_with(build_world(w.seed, ctx.chapter, folder, w.params.customers), folder)
    return _CACHE[slot]


def _responses(ctx: Any) -> pd.Series:
    """Net response of every customer on the campaign day (customer id → +1 / 0 / −1)."""
    kept = getattr(ctx.world, "_ch07_response", None)
    if kept is None or pd.Timestamp(kept[0]) != start_day(ctx):
        w = _world_as_generated(ctx)
        if getattr(w, "_ch07_response", None) is None:
            _keep_response(w)
        kept = w._ch07_response
    return kept[1]


def net_response(ctx: Any, customer_ids: Any) -> np.ndarray:
    """Per customer: +1 if the action on the campaign day would help (可挽回), −1 if it would
    hurt (反感打扰), 0 otherwise (本来就留, 必然流失, or not a customer of the world) — the
    hidden response, never shown to the student."""
    ids = np.asarray(list(customer_ids), dtype=np.int64)
    return _responses(ctx).reindex(ids).fillna(0).to_numpy(dtype=np.int64)


def untargeted_pool(ctx: Any) -> list[int]:
    """Whom an untargeted campaign draws from: the rep's book without open complaints (the rules
    exclude those, so a random list that obeys them comes from here)."""
    return sorted(set(book(ctx)) - open_complaints(ctx.pristine))


def random_lists(ctx: Any, size: int) -> np.ndarray:
    """:data:`RANDOM_LISTS` untargeted lists of ``size`` customers (rows), drawn without
    replacement from :func:`untargeted_pool`; fixed by the student's seed and the size, so the
    same list is always compared with the same random lists."""
    pool = np.asarray(untargeted_pool(ctx), dtype=np.int64)
    size = max(1, min(int(size), len(pool)))
    rng = np.random.default_rng([campaign_seed(ctx.world.seed), size])
    return np.stack([rng.choice(pool, size=size, replace=False) for _ in range(RANDOM_LISTS)])


def targeting_of(ctx: Any, customer_ids: Any) -> dict[str, float]:
    """How a list of customers compares with untargeted campaigns of the same cost.

    ``mine``: the mean net response of the list; ``random_median``: the median over the random
    lists; ``percentile``: the share of random lists the list beats (a tie counts as half).
    """
    ids = [int(x) for x in customer_ids]
    mine = float(net_response(ctx, ids).mean()) if ids else 0.0
    lists = random_lists(ctx, len(ids))
    means = _responses(ctx).reindex(lists.ravel()).fillna(0).to_numpy().reshape(lists.shape).mean(axis=1)
    beaten = float((means < mine - 1e-12).sum() + 0.5 * (np.abs(means - mine) <= 1e-12).sum()) / len(means)
    return {"mine": mine, "random_median": float(np.median(means)), "percentile": beaten, "size": len(ids)}


def targeting(ctx: Any) -> dict[str, float] | None:
    """:func:`targeting_of` the student's latest campaign list (目标组 and 对照组), or ``None``."""
    camp, members = student_campaign(ctx)
    if camp is None or not (members["group_name"] == "目标组").any():
        return None
    return targeting_of(ctx, members["customer_id"])


_NO_CAMPAIGN = "还没有关怀活动的目标组：先完成练习 4.1。"
_ADVICE = ("想想关怀对哪些客户最有用——还在买或刚停下、关系还不算密切、对服务并不满意、也没有被价格或竞争对手拉走、"
           "没有未结投诉的客户；忠诚又满意的客户本来就会买，很久不买或已转向对手的客户多半挽回不了。"
           "要换一个细分：还没运行 next_quarter() 时用 lab.undo(\"ch07.campaign\") 撤销活动，运行过则 lab.reset()，再重做练习 4.1。")


def survey_c(surveys: pd.DataFrame) -> pd.Series:
    """Each survey's satisfaction c = b/a: the mean of its five perceptions (``per_*``) over the
    mean of its five expectations (``exp_*``)."""
    return surveys[[f"per_{d}" for d in SERVQUAL]].mean(axis=1) / surveys[[f"exp_{d}" for d in SERVQUAL]].mean(axis=1)


def taught_segment(ctx: Any) -> list[int]:
    """练习 4.1's worked segment on the student's world as generated (the notebook's 参考做法;
    the student's care plans before it change none of its inputs)."""
    end = _end(ctx)
    cust = ctx.pristine.read("customer", columns=["id", "owner_id", "deleted", "relationship_level", "lost_reason"])
    cust = cust[(cust["owner_id"] == _me(ctx)) & ~cust["deleted"]]
    orders = approved_orders(ctx.pristine, end)
    last = orders.groupby("customer_id")["order_date"].max()
    surveys = ctx.pristine.read("survey", columns=["id", "customer_id", "survey_date",
                                                   *[f"{k}_{d}" for k in ("per", "exp") for d in SERVQUAL]])
    surveys = surveys[surveys["survey_date"] < end].sort_values(["survey_date", "id"])
    last_c = survey_c(surveys).groupby(surveys["customer_id"]).last()
    ids = cust["id"]
    recency = (start_day(ctx) - ids.map(last)).dt.days
    chosen = cust[recency.le(TAUGHT_RECENT_DAYS) & (cust["relationship_level"] != "密切")
                  & ~ids.map(last_c).ge(1) & ~cust["lost_reason"].isin(TAUGHT_GONE)
                  & ~ids.isin(open_complaints(ctx.pristine))]
    return sorted(int(x) for x in chosen["id"])


def top_bar(ctx: Any) -> float:
    """The second targeting check's bar: :data:`TOP_PERCENTILE` of the random lists, or what the
    worked segment reaches on this world if that is less (the hidden responses are drawn per
    world, and on a few worlds the worked segment itself beats fewer than 80 %)."""
    return min(TOP_PERCENTILE, targeting_of(ctx, taught_segment(ctx))["percentile"])


@operation("ch07.targeting", points=4)
def check_targeting(ctx: Any, _answer: Any) -> CheckResult:
    t = targeting(ctx)
    if t is None:
        return CheckResult(False, _NO_CAMPAIGN)
    if t["percentile"] <= 0.5:
        return CheckResult(False, f"同样的花费，随机从你的客户中抽同样多的人做关怀，预期效果有一半以上不比你选的名单差"
                                  f"（你的名单只胜过 {t['percentile']:.0%} 的随机名单）。" + _ADVICE)
    return CheckResult(True)


@operation("ch07.targeting_top", points=4)
def check_targeting_top(ctx: Any, _answer: Any) -> CheckResult:
    t = targeting(ctx)
    if t is None:
        return CheckResult(False, _NO_CAMPAIGN)
    bar = top_bar(ctx)
    if t["percentile"] < bar:
        return CheckResult(False, f"你的名单胜过 {t['percentile']:.0%} 的同样花费的随机名单，还没有达到 {bar:.0%}："
                                  "选得比随机好，但还不够准。" + _ADVICE)
    return CheckResult(True)


# --- 任务五: satisfaction c = b/a -------------------------------------------------------------------------


def main_channel(ctx: Any) -> pd.Series:
    """Each customer's most used channel in the activity records up to today (ties: the first
    channel name in sorted order)."""
    act = ctx.pristine.read("activity", columns=["customer_id", "channel", "kind", "activity_time"])
    act = act[(act["kind"] == "记录") & (act["activity_time"] < _end(ctx))]
    n = act.groupby(["customer_id", "channel"]).size().reset_index(name="n")
    n["channel"] = n["channel"].astype(str)
    n = n.sort_values(["customer_id", "n", "channel"], ascending=[True, False, True])
    return n.drop_duplicates("customer_id").set_index("customer_id")["channel"]


def _satisfaction(ctx: Any) -> pd.DataFrame:
    s = ctx.pristine.read("survey")
    s = s[s["survey_date"] < _end(ctx)]
    frame = pd.DataFrame({"channel": s["customer_id"].map(main_channel(ctx)), "c": survey_c(s).to_numpy()})
    frame = frame.dropna(subset=["channel"])
    g = frame.groupby("channel")["c"]
    return pd.DataFrame({"channel": g.size().index.astype(str), "surveys": g.size().to_numpy(), "c": g.mean().to_numpy()})


def _diagnose_satisfaction(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"channel", "c"} <= set(answer.columns):
        return None
    v = answer.set_index("channel")["c"].reindex(expected["channel"]).astype(float)
    if (v > 1.5).any() or (v < 0.5).any():
        return "c = b/a 是“感知 ÷ 期望”，应在 1 附近：b 是五个 per_* 的平均，a 是五个 exp_* 的平均。"
    if (v.to_numpy() < expected["c"].to_numpy() - 0.2).all():
        return "c = b/a：感知（per_*）在分子，期望（exp_*）在分母。"
    return "先对每份调查算 c = b/a，再按客户的主要沟通渠道求平均；主要渠道 = 该客户沟通记录中次数最多的渠道（并列取名称排序在前的）。"


@calculation("ch07.satisfaction", points=8, key="channel", atol=1e-4, diagnose=_diagnose_satisfaction)
def satisfaction(ctx: Any) -> pd.DataFrame:
    return _satisfaction(ctx)


__all__ = ["book", "budget", "campaign_seed", "expected_birthdays", "expected_followups", "student_campaign",
           "outcome_store", "targeting", "targeting_of", "random_lists", "untargeted_pool", "net_response", "main_channel", "start_day", "EFFECT_KEYS",
           "BUDGET_SHARE", "MIN_CONTROL", "MIN_CONTROL_SHARE", "RANDOM_LISTS", "TOP_PERCENTILE"]
