"""ch10 客户保持与流失管理 — questions, reference computations and the fair grading of a decision.

The student is the sales director (销售主管) with a retention budget of :data:`BUDGET` yuan for
one quarter:

* 任务一 (measure): quarterly cohort retention; the CRM's 失效 rule (180 days without an order)
  and how often a customer it flags buys again; churned customers who had rated 4–5;
* 任务二 (warn): the early-warning list (:func:`~simcrm.analytics.churn_risk`) at a past
  cut-off, scored on what happened next (precision, recall);
* 任务三 (model): a scikit-learn churn model on a time split (train on an earlier cut-off,
  test on a later one), its AUC against recency alone;
* 任务四 (value): what a new customer costs the firm (leads) against keeping one;
* 任务五 (decide): a 挽留 campaign within the budget, the control group drawn by the CRM;
* 任务六 (live with it): ``lab.next_quarter()``; target vs control with a confidence interval,
  graded on the referee's own replay (:func:`simcrm.lab.loop.replay`), and the plan compared
  with baseline plans of the same size and actions on the same world.

Grading the decision fairly
    The world's response to an action is deterministic per customer and depends on a hidden
    response type (可挽回 / 本来就留 / 必然流失 / 反感打扰, :mod:`simcrm.sim.actions`). The
    referee values a plan on its own copy of the student's world as generated
    (:func:`expected_value`): the last year's revenue of the 可挽回 members is kept, that of the
    反感打扰 ones is pushed away, both times the share of members in the 目标组 (the CRM draws
    the 对照组 with a seed the student picks: who lands there is luck, so the plan is valued in
    expectation over that draw and a seed cannot change a grade), each customer's stake capped
    at the :data:`STAKE_QUANTILE` quantile (:func:`stake`: one big account's hidden type must not
    decide a grade alone), minus the plan's cost. The same valuation of baseline plans on the
    same world (common random numbers: same customers, same hidden state) — the same actions,
    member and 目标组 sizes, members drawn at random (:data:`BASELINE_DRAWS` seeded draws) or the
    longest-lapsed first (``"recency"``, :func:`baseline`) — makes the comparison fair.
    ``ch10.plan_beats_random`` gives its points when the student's plan is worth more than the
    random ones on average; ``ch10.plan_margin`` when it is worth at least the :data:`MARGIN`
    quantile of the random draws (better than 80% of random targetings). A plan of random
    members gets the first about half the time, the second about one time in five; the
    reference plan (:func:`reference_plan`: value at risk = churn risk × last year's revenue,
    leaving out the lost, the unhappy, the close and the referred customers, :func:`value_at_risk`) gets both on
    the default world and on 30 student worlds (tests/test_lab_ch10.py). The realised outcome of
    the quarter (target vs control, ``ch10.outcome``) is graded on the referee's replay of the
    student's decisions (:func:`simcrm.lab.loop.replay`). The referee keeps the numbers of both
    (``figures``: :func:`plan_figures`, :func:`outcome_figures`) for the class's retention league
    (:mod:`simcrm.lab.league`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from ...analytics import churn_risk, retention_rates, time_split, train_churn_model, evaluate_churn_model
from ...sim.actions import ACTIONS, LEAD_COST, action_for
from ..checks import CheckResult
from ..questions import calculation, operation

CUSTOMERS = 500
#: the retention budget of the 主管 for one quarter (yuan)
BUDGET = 12000.0
RETENTION_ROLE = "销售主管"
#: the CRM's 失效 rule: so many days without an approved order
LAPSE_DAYS = 180
#: label horizon of the churn model and of the warning list (days after the cut-off)
HORIZON = 180
#: the model's features (columns of :func:`simcrm.analytics.churn_features`)
FEATURES = ["recency_days", "frequency", "monetary", "tenure_days", "avg_gap_days", "recency_ratio",
            "recent_count", "earlier_count", "count_trend", "amount_trend"]
#: full points for the plan when it is worth at least this quantile of the random plans' values
#: (better than 80% of random targetings of the same size: a random plan gets there 1 time in 5;
#: the reference plan clears it on the default world and on 30 student worlds, see tests/test_lab_ch10.py)
MARGIN = 0.80
#: the reference plan: customers gone longer than this are not approached (a lost cause)
REACHABLE_DAYS = 365
#: recorded loss reasons that mark a lost cause (gone to a competitor, price, service)
LOST_CAUSE_REASONS = ("转向竞争对手", "价格原因", "服务不满意")
#: seed of the random baseline plans, and how many are averaged (the value of random targeting)
BASELINE_SEED = 2024
BASELINE_DRAWS = 200
QUARTER = 91
#: a customer's stake in the plan's valuation is capped at this quantile of last year's revenue
STAKE_QUANTILE = 0.90


def prepare_world(world: Any) -> None:
    """The firm lets its 销售主管 run retention campaigns (营销活动: create, read, update).

    The generated firm gives that role no campaign rights; the scenario hands the retention
    budget to the sales director, so the same rights exist in the lab and in every replay.
    """
    from ...crm import CRM

    admin = CRM.system(world.store, now=dt.datetime.combine(world.today, dt.time(17, 0)))
    admin.set_role_rights(RETENTION_ROLE, "campaign", create=True, read=True, update=True)


# --- shared pieces ----------------------------------------------------------------------------------------


def _today(ctx: Any) -> pd.Timestamp:
    """The world's today as generated (``next_quarter()`` moves ``world.today``, not this)."""
    return pd.Timestamp(ctx.world.params.today)


def as_of(ctx: Any) -> pd.Timestamp:
    """The analysis moment: the end of today (0:00 of the next day)."""
    return _today(ctx) + pd.Timedelta(days=1)


def orders(ctx: Any) -> pd.DataFrame:
    """Approved orders up to today: customer_id, order_date, amount (= total_amount)."""
    def build() -> pd.DataFrame:
        o = ctx.pristine.read("sales_order", columns=["customer_id", "order_date", "total_amount", "approval"])
        o = o[(o["approval"] == "同意") & (o["order_date"] < as_of(ctx))]
        return o.rename(columns={"total_amount": "amount"})[["customer_id", "order_date", "amount"]].reset_index(drop=True)
    return ctx.once("ch10:orders", build)


# --- 任务一: measure ----------------------------------------------------------------------------------------


@calculation("ch10.cohorts", points=10, key=["cohort", "offset"], atol=1e-6)
def cohorts(ctx: Any) -> pd.DataFrame:
    """Quarterly cohorts: cohort, offset, cohort_size, active, retention."""
    return retention_rates(orders(ctx), freq="Q")[["cohort", "offset", "cohort_size", "active", "retention"]]


def lapse_cutoff(ctx: Any) -> pd.Timestamp:
    return as_of(ctx) - pd.Timedelta(days=LAPSE_DAYS)


def lapsed_at(o: pd.DataFrame, moment: pd.Timestamp) -> set[int]:
    """Customers the 失效 rule flags at ``moment``: bought before, nothing in the last 180 days."""
    before = o[o["order_date"] < moment]
    last = before.groupby("customer_id")["order_date"].max()
    return {int(c) for c in last.index[(last < moment - pd.Timedelta(days=LAPSE_DAYS)).to_numpy()]}


@calculation("ch10.lapse_rule", points=8, atol=1e-6)
def lapse_rule(ctx: Any) -> dict[str, Any]:
    """At as_of − 180 days: flagged customers, how many bought again by today, the rule's precision."""
    o = orders(ctx)
    t = lapse_cutoff(ctx)
    flagged = lapsed_at(o, t)
    again = set(o.loc[o["order_date"] >= t, "customer_id"].astype(int)) & flagged
    return {"flagged": len(flagged), "bought_again": len(again),
            "precision": (len(flagged) - len(again)) / len(flagged) if flagged else 0.0}


@calculation("ch10.satisfied_churners", points=6, atol=1e-6)
def satisfied_churners(ctx: Any) -> dict[str, Any]:
    """Customers 失效 today with a survey: how many rated the firm 4–5 in their latest survey."""
    churned = lapsed_at(orders(ctx), as_of(ctx))
    s = ctx.pristine.read("survey", columns=["customer_id", "survey_date", "overall"])
    s = s[(s["survey_date"] < as_of(ctx)) & s["customer_id"].isin(churned)]
    latest = s.sort_values(["customer_id", "survey_date"]).groupby("customer_id")["overall"].last()
    n = len(latest)
    k = int((latest >= 4).sum())
    return {"churned_surveyed": n, "satisfied": k, "share": k / n if n else 0.0}


# --- 任务二: warn -------------------------------------------------------------------------------------------


@calculation("ch10.warning", points=10, atol=1e-6)
def warning(ctx: Any) -> dict[str, Any]:
    """The warning list at as_of − 180 days (orders before it only), against who bought after it."""
    o = orders(ctx)
    t = lapse_cutoff(ctx)
    risk = churn_risk(o[o["order_date"] < t], as_of=t)
    bought = set(o.loc[o["order_date"] >= t, "customer_id"].astype(int))
    churned = ~risk.index.isin(list(bought))
    flag = risk["flag"].to_numpy()
    tp = int((flag & churned).sum())
    return {"flagged": int(flag.sum()), "precision": tp / flag.sum() if flag.sum() else 0.0,
            "recall": tp / churned.sum() if churned.sum() else 0.0}


# --- 任务三: model ------------------------------------------------------------------------------------------


def model_data(ctx: Any) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """Train at as_of − 360 days, test at as_of − 180 days, each labelled by the next 180 days."""
    def build() -> Any:
        o = orders(ctx)
        t2 = lapse_cutoff(ctx)
        t1 = t2 - pd.Timedelta(days=HORIZON)
        x1, y1 = time_split(o, t1, horizon_days=HORIZON, amount_col="amount")
        x2, y2 = time_split(o, t2, horizon_days=HORIZON, amount_col="amount")
        return x1[FEATURES], y1, x2[FEATURES], y2
    return ctx.once("ch10:model_data", build)


@calculation("ch10.model", points=12, atol=1e-3)
def model_quality(ctx: Any) -> dict[str, float]:
    """Logistic model on the earlier cut-off, evaluated on the later one; recency's AUC alone."""
    from sklearn.metrics import roc_auc_score

    x1, y1, x2, y2 = model_data(ctx)
    m = train_churn_model(x1, y1)
    out = evaluate_churn_model(m, x2, y2)
    out["recency_auc"] = float(roc_auc_score(y2.astype(int), x2["recency_days"]))
    return out


# --- 任务四: value ------------------------------------------------------------------------------------------


@calculation("ch10.acquisition", points=6, atol=0.01)
def acquisition(ctx: Any) -> dict[str, float]:
    """Lead costs of the last 365 days per new customer, and that against one 折扣优惠."""
    start = as_of(ctx) - pd.Timedelta(days=365)
    leads = ctx.pristine.read("lead", columns=["source", "created_at"])
    leads = leads[(leads["created_at"] >= start) & (leads["created_at"] < as_of(ctx))]
    total = float(leads["source"].map(LEAD_COST).fillna(LEAD_COST["其他"]).sum())
    first = orders(ctx).groupby("customer_id")["order_date"].min()
    new = int((first >= start).sum())
    cost = total / new if new else 0.0
    return {"lead_cost": total, "new_customers": new, "acquisition_cost": cost,
            "ratio": cost / ACTIONS["折扣优惠"]["cost"]}


# --- 任务五: the plan ---------------------------------------------------------------------------------------


def plan_campaigns(ctx: Any, store: Any = None) -> pd.DataFrame:
    """The student's 挽留 campaigns (rows added in the lab) with their action and target cost."""
    from ..loop import decisions

    mine = decisions(ctx.pristine, ctx.store)["campaign"]["id"]
    store = store if store is not None else ctx.store
    camp = store.read("campaign")
    camp = camp[camp["id"].isin(mine) & (camp["campaign_type"] == "挽留")].copy()
    members = store.read("campaign_member", columns=["campaign_id", "customer_id", "group_name"])
    camp["action"] = [action_for(ch, k, n) for ch, k, n in zip(camp["channel"], camp["campaign_type"], camp["name"])]
    camp["targets"] = camp["id"].map(members[members["group_name"] == "目标组"].groupby("campaign_id").size()).fillna(0)
    camp["controls"] = camp["id"].map(members[members["group_name"] == "对照组"].groupby("campaign_id").size()).fillna(0)
    camp["cost"] = camp["targets"] * camp["action"].map(lambda a: ACTIONS[a]["cost"])
    return camp.reset_index(drop=True)


def eligible(ctx: Any) -> list[int]:
    """Customers a plan may target: bought at least once, not deleted, in the 主管's data scope."""
    from ...crm import CRM

    def build() -> list[int]:
        crm = CRM(ctx.pristine, user=ctx.me["login"], now=dt.datetime.combine(ctx.world.params.today, dt.time(9, 0)))
        visible = crm._visible_customer_ids()
        cust = ctx.pristine.read("customer", columns=["id", "deleted"])
        ids = set(cust.loc[~cust["deleted"], "id"].astype(int)) & set(orders(ctx)["customer_id"].astype(int))
        if visible is not None:
            ids &= {int(c) for c in visible}
        return sorted(ids)
    return ctx.once("ch10:eligible", build)


@operation("ch10.plan", points=8)
def check_plan(ctx: Any, _answer: Any) -> CheckResult:
    camp = plan_campaigns(ctx)
    if camp.empty:
        return CheckResult(False, "还没有挽留活动：用 lab.crm.create_campaign(名称含行动名, \"挽留\", cost_per_contact=…, "
                                  f"budget={BUDGET:.0f}) 新建，再用 set_campaign_targets 设定目标客户。")
    for _, row in camp.iterrows():
        want = ACTIONS[row["action"]]["cost"]
        if abs(float(row["cost_per_contact"]) - want) > 0.005:
            return CheckResult(False, f"活动“{row['name']}”的行动是“{row['action']}”，单位接触成本应是菜单上的 {want:g} 元，"
                                      f"而不是 {row['cost_per_contact']:g} 元。")
        if row["targets"] == 0:
            return CheckResult(False, f"活动“{row['name']}”还没有目标客户：用 lab.crm.set_campaign_targets(活动编号, 客户列表, "
                                      "control_share=0.2, seed=…) 设定，对照组由 CRM 随机抽取。")
        if row["controls"] == 0:
            return CheckResult(False, f"活动“{row['name']}”没有对照组：control_share 要大于 0，否则无法衡量挽留的效果。")
        if row["status"] == "计划":
            return CheckResult(False, f"活动“{row['name']}”还在“计划”状态：用 lab.crm.start_campaign(活动编号) 启动。")
    total = float(camp["cost"].sum())
    if total > BUDGET + 0.005:
        return CheckResult(False, f"全部挽留活动的目标组接触成本合计 {total:.2f} 元，超过预算 {BUDGET:.0f} 元。")
    return CheckResult(True)


# --- 任务六: the outcome (on the referee's replay) ------------------------------------------------------------


def quarter_revenue(store: Any, today: pd.Timestamp, days: int = QUARTER) -> pd.Series:
    """Approved order amount per customer in (today, today + days]."""
    o = store.read("sales_order", columns=["customer_id", "order_date", "total_amount", "approval"])
    o = o[(o["approval"] == "同意") & (o["order_date"] >= today + pd.Timedelta(days=1))
          & (o["order_date"] < today + pd.Timedelta(days=days + 1))]
    return o.groupby("customer_id")["total_amount"].sum()


def compare_groups(members: pd.DataFrame, revenue: pd.Series) -> dict[str, float]:
    """Target vs control: share who bought in the quarter, difference and its 95% CI."""
    bought = members["customer_id"].map(revenue).fillna(0) > 0
    t = bought[members["group_name"].to_numpy() == "目标组"]
    c = bought[members["group_name"].to_numpy() == "对照组"]
    p1, p2 = float(t.mean()), float(c.mean())
    se = math.sqrt(p1 * (1 - p1) / len(t) + p2 * (1 - p2) / len(c))
    d = p1 - p2
    return {"target_rate": p1, "control_rate": p2, "diff": d, "ci_low": d - 1.96 * se, "ci_high": d + 1.96 * se}


def _replayed(ctx: Any) -> Any:
    from ..loop import replay

    return replay(ctx, [QUARTER])


def outcome_figures(ctx: Any) -> dict[str, float] | None:
    """The realised quarter for the teacher's league (referee's replay), whatever the answer.

    The 6.1 comparison plus the incremental revenue (target − control revenue per member in the
    quarter, × 目标组 size) and the realised ROI = (incremental revenue − cost) / cost.
    """
    if not check_plan(ctx, None).ok:
        return None
    store = _replayed(ctx)
    camp = plan_campaigns(ctx, store)
    members = store.read("campaign_member", columns=["campaign_id", "customer_id", "group_name"])
    members = members[members["campaign_id"].isin(camp["id"])]
    revenue = quarter_revenue(store, _today(ctx))
    out = compare_groups(members, revenue)
    spend = members["customer_id"].map(revenue).fillna(0.0)
    target = members["group_name"].to_numpy() == "目标组"
    extra = (float(spend[target].mean()) - float(spend[~target].mean())) * int(target.sum())
    cost = float(camp["cost"].sum())
    out.update(cost=cost, incremental_revenue=extra, realised_roi=(extra - cost) / cost if cost else 0.0)
    return out


@calculation("ch10.outcome", points=8, atol=1e-6, figures=outcome_figures)
def outcome(ctx: Any) -> dict[str, float]:
    """Target vs control of all the student's 挽留 campaigns, in the referee's replay."""
    store = _replayed(ctx)
    camp = plan_campaigns(ctx, store)
    members = store.read("campaign_member", columns=["campaign_id", "customer_id", "group_name"])
    members = members[members["campaign_id"].isin(camp["id"])]
    out = compare_groups(members, quarter_revenue(store, _today(ctx)))
    out["cost"] = float(camp["cost"].sum())
    return out


def response_types(ctx: Any, ids: list[int]) -> np.ndarray:
    """The hidden response type (0 本来就留, 1 可挽回, 2 必然流失, 3 反感打扰) of customers today.

    Read from the referee's own world as generated (never shown to the student); deterministic.
    Customers the world does not know (deleted, merged) count as 必然流失.
    """
    def build() -> pd.Series:
        world = ctx.world
        every = ctx.pristine.read("customer", columns=["id"])["id"].astype("int64")
        cust_map = world._customer_index()
        rendered = world._rendered_ids("customer", every.reset_index(drop=True))
        idx = cust_map.reindex(rendered.to_numpy()).to_numpy()
        out = np.full(len(every), 2, dtype=np.int64)
        ok = ~np.isnan(idx)
        if ok.any():
            k = idx[ok].astype(np.int64)
            out[ok] = world._model.response_type(k, np.full(len(k), world._day(), dtype=np.int64))
        return pd.Series(out, index=every.to_numpy())
    kinds = ctx.once("ch10:response_types", build)
    return kinds.reindex(list(ids)).fillna(2).astype(np.int64).to_numpy()


def year_revenue(ctx: Any) -> pd.Series:
    """Approved order amount per customer in the last 365 days before as_of (what is at stake)."""
    def build() -> pd.Series:
        o = orders(ctx)
        return o[o["order_date"] >= as_of(ctx) - pd.Timedelta(days=365)].groupby("customer_id")["amount"].sum()
    return ctx.once("ch10:year_revenue", build)


def stake(ctx: Any) -> pd.Series:
    """What each customer puts at stake in the valuation: last year's revenue, capped.

    The cap is the :data:`STAKE_QUANTILE` quantile of the eligible customers' last-year revenue:
    revenue is very unequal (a few accounts buy as much as a hundred others), and without a cap
    whether one or two such accounts happen to be 反感打扰 would decide a grade on its own. The
    cap applies alike to the student's plan and to every baseline plan.
    """
    def build() -> pd.Series:
        rev = year_revenue(ctx)
        cap = float(rev.reindex(eligible(ctx)).fillna(0.0).quantile(STAKE_QUANTILE))
        return rev.clip(upper=cap)
    return ctx.once("ch10:stake", build)


def expected_value(ctx: Any, plan: list[dict[str, Any]]) -> dict[str, float]:
    """What a plan is worth by the world's own response, in expectation over the CRM's control draw.

    Each campaign's members are treated with probability ``targets / members`` (the CRM holds the
    rest back as the 对照组, drawn at random with a seed the student picks: which members land
    there is luck, not the decision, so the plan is valued over that draw). A treated 可挽回
    member's last-365-days revenue (capped: :func:`stake`) counts as kept, a 反感打扰 member's as
    pushed away; 本来就留 and 必然流失 members count nothing; minus the plan's cost (目标组 × the
    action's cost).
    """
    rev = stake(ctx)
    kept = lost = cost = 0.0
    n = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}
    for p in plan:
        ids = list(p["ids"])
        if not ids:
            continue
        share = len(p["targets"]) / len(ids)
        kinds = response_types(ctx, ids)
        r = pd.Series(ids).map(rev).fillna(0.0).to_numpy()
        kept += share * float(r[kinds == 1].sum())
        lost += share * float(r[kinds == 3].sum())
        cost += ACTIONS[p["action"]]["cost"] * len(p["targets"])
        for k in n:
            n[k] += share * int((kinds == k).sum())
    return {"kept": kept, "pushed_away": lost, "cost": cost, "value": kept - lost - cost,
            "roi": (kept - lost - cost) / cost if cost else 0.0,
            "persuadable": n[1], "sure_thing": n[0], "lost_cause": n[2], "sleeping_dog": n[3]}


def student_plan(ctx: Any) -> list[dict[str, Any]]:
    """The student's plan as recorded in the CRM: per 挽留 campaign its action, members and 目标组."""
    camp = plan_campaigns(ctx)
    members = ctx.store.read("campaign_member", columns=["campaign_id", "customer_id", "group_name"])
    out = []
    for _, row in camp.sort_values("id").iterrows():
        m = members[members["campaign_id"] == row["id"]]
        share = float(row["control_share"]) if pd.notna(row["control_share"]) else 0.2
        out.append({"action": row["action"], "control_share": share, "ids": m["customer_id"].astype(int).tolist(),
                    "targets": m.loc[m["group_name"] == "目标组", "customer_id"].astype(int).tolist()})
    return out


def baseline(ctx: Any, kind: str, plan: list[dict[str, Any]], draw: int = 0) -> list[dict[str, Any]]:
    """A plan of the same actions, member and 目标组 sizes; members at random (draw ``draw``) or by recency alone."""
    pool = eligible(ctx)
    if kind == "random":
        rng = np.random.default_rng([BASELINE_SEED, draw])
        order = [pool[i] for i in rng.permutation(len(pool))]
    elif kind == "recency":
        last = orders(ctx).groupby("customer_id")["order_date"].max().reindex(pool)
        order = [int(c) for c in last.sort_values(kind="stable").index]  # longest-lapsed first
    else:
        raise ValueError(kind)
    out, at = [], 0
    for p in plan:
        n = len(p["ids"])
        ids = order[at:at + n]
        out.append({**p, "ids": ids, "targets": ids[:len(p["targets"])]})
        at += n
    return out


def plan_report(ctx: Any) -> dict[str, dict[str, float]]:
    """The student's plan and the same-size random and recency plans, valued on the same world.

    ``random`` is the mean over :data:`BASELINE_DRAWS` seeded random draws (what random targeting
    is worth on this world), so one lucky draw does not set the bar; ``random["quantile"]`` is
    their :data:`MARGIN` quantile (the bar for full points).
    """
    return ctx.once("ch10:plan_report", lambda: compare_plan(ctx, student_plan(ctx)))


def compare_plan(ctx: Any, plan: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """:func:`plan_report` of any ``plan`` (list of ``{"action", "ids", "targets"}``)."""
    draws = [expected_value(ctx, baseline(ctx, "random", plan, d)) for d in range(BASELINE_DRAWS)]
    rand = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    rand["quantile"] = float(np.quantile([d["value"] for d in draws], MARGIN))
    return {"student": expected_value(ctx, plan), "random": rand,
            "recency": expected_value(ctx, baseline(ctx, "recency", plan))}


def value_at_risk(ctx: Any) -> pd.DataFrame:
    """The reference solution's view of every eligible customer: risk, stake, and whether to approach.

    Columns: ``risk`` (:func:`~simcrm.analytics.churn_risk` today, from orders), ``revenue`` (last
    365 days), ``value_at_risk`` = risk × revenue, ``days_since`` (last order), and ``reason`` —
    why the customer is left out ("" when approachable):

    * 离开太久: no order for more than :data:`REACHABLE_DAYS` days (gone; a lost cause);
    * 投诉未结: an open complaint (fix the complaint first, a discount will not help);
    * 已记录流失原因: a recorded loss reason of :data:`LOST_CAUSE_REASONS` (competitor, price, service);
    * 很不满意: latest survey score ≤ 2 (deeply unhappy);
    * 关系密切: the relationship the firm records as 密切 (close, satisfied): they stay anyway, a
      discount is money for nothing (本来就留);
    * 老客户介绍: came through a customer's referral (客户介绍) — the most loyal customers, who
      stay anyway and dislike being pushed (反感打扰).

    Customers at (almost) no risk are not left out: they rank last by value at risk, and a
    steady buyer with middling satisfaction may still be one a discount keeps buying.
    """
    def build() -> pd.DataFrame:
        o = orders(ctx)
        a = as_of(ctx)
        pool = eligible(ctx)
        risk = churn_risk(o, as_of=a)["risk"].reindex(pool).fillna(1.0)
        rev = year_revenue(ctx).reindex(pool).fillna(0.0)
        last = o.groupby("customer_id")["order_date"].max().reindex(pool)
        comp = ctx.pristine.read("complaint", columns=["customer_id", "status"])
        open_c = set(comp.loc[comp["status"] != "已归档", "customer_id"].astype(int))
        sv = ctx.pristine.read("survey", columns=["customer_id", "survey_date", "overall"])
        sv = sv[sv["survey_date"] < a]
        latest = sv.sort_values(["customer_id", "survey_date"]).groupby("customer_id")["overall"].last()
        cust = ctx.pristine.read("customer", columns=["id", "lost_reason", "source", "relationship_level"])
        cust = cust.set_index("id").reindex(pool)
        frame = pd.DataFrame({"risk": risk, "revenue": rev, "value_at_risk": risk * rev,
                              "days_since": (a - last).dt.days}, index=pd.Index(pool, name="customer_id"))
        reason = pd.Series("", index=frame.index, dtype=object)
        rules = [
            ("关系密切", cust["relationship_level"].eq("密切").to_numpy()),
            ("老客户介绍", cust["source"].eq("客户介绍").to_numpy()),
            ("很不满意", frame.index.map(latest).to_series(index=frame.index).le(2).to_numpy()),
            ("已记录流失原因", cust["lost_reason"].isin(LOST_CAUSE_REASONS).to_numpy()),
            ("投诉未结", frame.index.isin(list(open_c))),
            ("离开太久", (frame["days_since"] > REACHABLE_DAYS).to_numpy()),
        ]
        for name, mask in rules:  # the last rule that applies names the reason (gone first)
            reason[np.asarray(mask, dtype=bool)] = name
        frame["reason"] = reason
        return frame
    return ctx.once("ch10:value_at_risk", build)


def reference_plan(ctx: Any, action: str = "折扣优惠", control_share: float = 0.2) -> list[int]:
    """The reference solution's members: approachable customers with the highest value at risk.

    From :func:`value_at_risk`, the customers with no reason to leave them out, ranked by
    value at risk (risk × last year's revenue); as many as the budget pays for with the
    control group held back.
    """
    frame = value_at_risk(ctx)
    score = frame.loc[frame["reason"] == "", "value_at_risk"].sort_values(ascending=False, kind="stable")
    n_target = int(BUDGET // ACTIONS[action]["cost"])
    n = int(n_target / (1 - control_share))
    while n - int(round(n * control_share)) > n_target:
        n -= 1
    return [int(c) for c in score.index[:n]]


def _plan_gate(ctx: Any) -> CheckResult | None:
    ok = check_plan(ctx, None)
    return None if ok.ok else CheckResult(False, "先完成练习 5.1（预算内、有对照组、已启动的挽留活动）：" + ok.message)


@operation("ch10.plan_beats_random", points=6)
def check_beats_random(ctx: Any, _answer: Any) -> CheckResult:
    gate = _plan_gate(ctx)
    if gate is not None:
        return gate
    r = plan_report(ctx)
    if r["student"]["value"] > r["random"]["value"]:
        return CheckResult(True)
    return CheckResult(False, f"评估结果：你的方案净价值 {r['student']['value']:,.0f} 元，不如同样规模的随机方案 "
                              f"{r['random']['value']:,.0f} 元。想想谁是“可挽回”的客户，谁本来就会留下、谁已经救不回来。")


def plan_figures(ctx: Any) -> dict[str, float] | None:
    """The plan's valuation for the teacher's league: the student's plan, random and recency plans."""
    if not check_plan(ctx, None).ok:
        return None
    r = plan_report(ctx)
    out = {k: r["student"][k] for k in ("kept", "pushed_away", "cost", "value", "roi")}
    out.update(random_value=r["random"]["value"], random_quantile=r["random"]["quantile"],
               recency_value=r["recency"]["value"], members=float(sum(len(p["ids"]) for p in student_plan(ctx))))
    return out


@operation("ch10.plan_margin", points=6, figures=plan_figures)
def check_margin(ctx: Any, _answer: Any) -> CheckResult:
    gate = _plan_gate(ctx)
    if gate is not None:
        return gate
    r = plan_report(ctx)
    s, need = r["student"]["value"], r["random"]["quantile"]
    if s >= need:
        return CheckResult(True)
    return CheckResult(False, f"评估结果：你的方案净价值 {s:,.0f} 元；满分要求胜过 {MARGIN:.0%} 的同样规模的随机方案"
                              f"（≥ {need:,.0f} 元）。")


__all__ = ["prepare_world", "orders", "as_of", "lapsed_at", "eligible", "plan_campaigns", "year_revenue",
           "expected_value", "student_plan", "baseline", "response_types", "plan_report", "compare_plan",
           "value_at_risk", "reference_plan", "compare_groups", "quarter_revenue", "plan_figures", "outcome_figures", "stake", "STAKE_QUANTILE",
           "BUDGET", "MARGIN", "FEATURES", "CUSTOMERS", "LAPSE_DAYS", "HORIZON", "QUARTER"]
