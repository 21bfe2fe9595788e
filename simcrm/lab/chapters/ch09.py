"""ch09 客户服务与投诉处理 — questions and reference computations.

The student is a service agent (客服专员 of 客服部), later the service manager's view:

* 任务一 (calculation + operation): SLA figures per urgency from the service requests and the
  firm's SLA policy; the first response to every new service request, in the CRM;
* 任务二 (operation + judgement): one complaint carried through the whole workflow in the CRM
  (已记录 → 调查中 → 已分派 → 方案待批 → 处理中 → 已回访 → 已归档, the manager approving the
  plan); the seed's five handling steps and the common mistakes;
* 任务三 (calculation): the value of complaints measured on the firm's own records — how many
  dissatisfied customers complain ("1 in 27"), and how many complaining customers stay when
  the resolution satisfies ("70–90 %");
* 任务四 (calculation): SERVQUAL gaps by dimension, complaints by the five gaps (Pareto);
* 任务五 (思考题): MOT five steps on one service episode picked from the records;
* 任务六 (calculation): the call centre — calls per hour at the busiest hour, Erlang C agents
  for 80 % within 20 s, the waiting time with one agent fewer;
* 任务七 (operations + calculations): service recovery as a closed loop — the open complaints
  handled by the student's own rule (some fast, some deliberately slow: 7.1); as the service
  manager, a complaint-handling policy per category set in the CRM (``set_complaint_policy``:
  days to respond and to resolve, remedy), mixing fast and satisfying with slow or apology-only
  (7.2); ``lab.next_quarter()``; then recovery measured on the backlog and the firm's earlier
  complaints (7.3) and on the complaints the policy handled in the quarter (7.4).

What the simulation does with complaint handling (:mod:`simcrm.sim.model`): each complaint's
handling — fast and satisfying, slow, or left open — is decided when the complaint arises,
and the customer reacts to *that* (a fast, satisfying resolution binds the customer for a
year and brings them back to buy; an open complaint raises the churn hazard).
:meth:`simcrm.sim.World.step` reads what the student recorded: the world's complaints they
handled become theirs (resolved on their return visit's day with its satisfaction), and the
policy decides the complaints received after today (:meth:`Model.set_complaint_policy`). The
referee recomputes the quarter on its own replay of those decisions (:func:`simcrm.lab.loop.replay`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ... import reference
from ...analytics import SERVQUAL_DIMENSIONS, servqual_gaps
from ...analytics.callcenter import agents_needed, average_speed_of_answer, service_level
from ..checks import CheckResult
from ..questions import calculation, judgement, operation
from . import max_id, new_rows
from . import safe_diagnose as _safe

CUSTOMERS = 1200

STATES = tuple(reference.state_values("complaint_status"))
OPEN_STATES = STATES[:-1]
GAPS = tuple(reference.state_values("gap_type"))
#: the responsible department of each complaint category (the firm's routing rule)
ROUTING = {"产品质量": "仓储部", "交付物流": "仓储部", "售后维修": "客服部", "服务态度": "客服部",
           "价格收费": "销售部", "人员行为": "总经办", "其他": "客服部"}
#: the satisfaction gap a handler records for each category (产品质量 sold on a promise: 促销差距)
GAP_OF_CATEGORY = {"产品质量": "感受差距", "售后维修": "程序差距", "交付物流": "程序差距", "价格收费": "促销差距",
                   "服务态度": "行为差距", "人员行为": "行为差距", "其他": "理解差距"}
#: the complaint the student records in 练习 2.1
NEW_CATEGORY = "售后维修"
NEW_URGENCY = "紧急"
#: dissatisfied = a rating of 1 or 2 (survey overall, closed service request, after-sales call)
LOW = 2
#: a complaint resolution satisfies with a return-visit satisfaction of at least 4
SATISFIED = 4
#: complaints at least this old when "stayed" is measured (churn needs time to show)
STAY_AGE_DAYS = 180
#: fast = the return visit (已回访) within this many days of receiving the complaint
FAST_DAYS = 7
#: the phone system: calls to the hotline per recorded service request or complaint
CALLS_PER_RECORD = 50
#: average handling time of a call (seconds), the service level target
AHT_SECONDS = 300
TARGET_LEVEL = 0.8
TARGET_SECONDS = 20

SLA_COLUMNS = ["urgency", "requests", "response_rate", "resolution_rate", "overdue_open"]



#: the next quarter's scenario: customers complain this many times as readily as before today
SURGE = 25


def prepare_world(world: Any) -> None:
    """The next quarter brings a service failure (a new logistics partner, a batch of unreliable
    spare parts): from today on unhappy customers complain :data:`SURGE` times as readily, so the
    complaint-handling policy of 练习 7.2 has complaints to act on. The tables up to today are as
    generated; the same in the lab and in every replay (:func:`simcrm.lab.session.build_world`)."""
    world.surge_complaints(SURGE)


def today(ctx: Any) -> pd.Timestamp:
    """The world's today as generated (the pristine store's last day)."""
    return pd.Timestamp(_pristine_today(ctx))


def _pristine_today(ctx: Any) -> Any:
    def build() -> Any:
        # the world object may have been stepped (next_quarter) in the kernel: read the day the
        # world was generated for from its parameters
        return ctx.world.params.today if ctx.world is not None else ctx.pristine.read("sales_order")["order_date"].max()
    return ctx.once("today", build)


def end_of_today(ctx: Any) -> pd.Timestamp:
    return today(ctx) + pd.Timedelta(days=1)


def cutoff(ctx: Any) -> pd.Timestamp:
    """The service manager's analyses (任务三–七) use the records before today (0:00): today's
    desk work, the student's own included, is not finished yet."""
    return today(ctx)


def _employee_id(store: Any, department: str, role_type: str) -> int:
    emp = store.read("employee")
    dept = store.read("department").set_index("name")["id"]
    rows = emp[(emp["department_id"] == int(dept[department])) & (emp["role_type"] == role_type)
               & (emp["status"] == "正常")]
    return int(rows["id"].min())


def manager_id(ctx: Any) -> int:
    """The service manager (客服部's 主管) who approves complaint plans."""
    return _employee_id(ctx.pristine, "客服部", "主管")


# --- 任务一: SLA --------------------------------------------------------------------------------------


def sla_table(store: Any, end: pd.Timestamp) -> pd.DataFrame:
    sr = store.read("service_request")
    sr = sr[sr["opened_at"] < end]
    pol = store.read("sla_policy").set_index("urgency")
    due_r = sr["opened_at"] + pd.to_timedelta(sr["urgency"].map(pol["first_response_hours"]).astype(float), unit="h")
    due_s = sr["opened_at"] + pd.to_timedelta(sr["urgency"].map(pol["resolution_hours"]).astype(float), unit="h")
    x = pd.DataFrame({
        "urgency": sr["urgency"].to_numpy(),
        "r": (sr["first_response_at"].notna() & (sr["first_response_at"] <= due_r)).to_numpy(),
        "s": (sr["resolved_at"].notna() & (sr["resolved_at"] <= due_s)).to_numpy(),
        "o": (sr["resolved_at"].isna() & (due_s < end)).to_numpy(),
    })
    g = x.groupby("urgency")
    out = pd.DataFrame({"requests": g.size(), "response_rate": g["r"].mean(), "resolution_rate": g["s"].mean(),
                        "overdue_open": g["o"].sum().astype(int)}).reset_index()
    return out[SLA_COLUMNS]


def _diagnose_sla(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not set(SLA_COLUMNS) <= set(answer.columns):
        return None
    v = answer.set_index("urgency").reindex(expected["urgency"])
    e = expected.set_index("urgency")
    if not np.allclose(v["requests"].astype(float), e["requests"]):
        return "requests：截至今天（含今天）受理的服务请求数（opened_at 早于今天结束时），按紧急程度分组。"
    sr = ctx.pristine.read("service_request")
    sr = sr[sr["opened_at"] < end_of_today(ctx)]
    pol = ctx.pristine.read("sla_policy").set_index("urgency")
    if not np.allclose(v["response_rate"].astype(float), e["response_rate"], atol=1e-4):
        waited = (sr["first_response_at"] - sr["opened_at"]).dt.total_seconds() / 3600
        limit = sr["urgency"].map(pol["first_response_hours"]).astype(float)
        answered = (waited <= limit)[sr["first_response_at"].notna()].groupby(sr["urgency"]).mean()
        if np.allclose(v["response_rate"].astype(float), answered.reindex(e.index).astype(float), atol=1e-4):
            return ("response_rate 的分母只用了已经响应的请求：还没有响应的请求也算“未达标”，"
                    "分母是该紧急程度的全部请求。")
        return ("response_rate：首次响应时间 first_response_at ≤ 受理时间 opened_at + 首次响应时限"
                "（sla_policy.first_response_hours，单位是小时）的请求所占的比例。")
    if not np.allclose(v["resolution_rate"].astype(float), e["resolution_rate"], atol=1e-4):
        closed = sr["closed_at"] - sr["opened_at"]
        limit = pd.to_timedelta(sr["urgency"].map(pol["resolution_hours"]).astype(float), unit="h")
        by_close = (sr["closed_at"].notna() & (closed <= limit)).groupby(sr["urgency"]).mean()
        if np.allclose(v["resolution_rate"].astype(float), by_close.reindex(e.index).astype(float), atol=1e-4):
            return "resolution_rate 用了关闭时间 closed_at：解决时限看的是解决时间 resolved_at（关闭要等客户确认，不算在时限内）。"
        return "resolution_rate：resolved_at ≤ opened_at + 解决时限（resolution_hours）的请求所占的比例。"
    if not np.allclose(v["overdue_open"].astype(float), e["overdue_open"]):
        unresolved = sr["resolved_at"].isna().groupby(sr["urgency"]).sum()
        if np.allclose(v["overdue_open"].astype(float), unresolved.reindex(e.index).astype(float)):
            return "overdue_open 把还没到解决时限的未解决请求也算进去了：只算解决时限（到期时间）早于今天结束时的。"
        return "overdue_open：还没有解决（resolved_at 为空）且解决到期时间早于今天结束时的请求数。"
    return None


@calculation("ch09.sla", points=8, key="urgency", atol=1e-4, diagnose=_safe(_diagnose_sla))
def sla(ctx: Any) -> pd.DataFrame:
    return sla_table(ctx.pristine, end_of_today(ctx))


@operation("ch09.respond", points=6)
def check_respond(ctx: Any, _answer: Any) -> CheckResult:
    before = ctx.pristine.read("service_request").set_index("id")
    now = ctx.store.read("service_request").set_index("id")
    new = before.index[before["status"] == "新建"]
    if len(new) == 0:
        return CheckResult(True)
    status = now["status"].reindex(new)
    left = new[(status == "新建").to_numpy()]
    if len(left) == len(new):
        return CheckResult(False, f"还有 {len(new)} 张“新建”的服务请求没有响应：用 lab.crm.respond_service_request(编号) "
                                  "逐张做首次响应（状态变为“处理中”，记下响应时间）。")
    if len(left):
        return CheckResult(False, f"还有 {len(left)} 张“新建”的服务请求没有响应（如 {left[:3].tolist()}）。")
    wrong = new[(~status.isin(["处理中"])).to_numpy()]
    if len(wrong):
        return CheckResult(False, f"{len(wrong)} 张请求的状态不是“处理中”（如 {wrong[:3].tolist()}）：本练习只做首次响应，"
                                  "不要直接解决或关闭。")
    audit = ctx.store.read("audit_log")
    audit = audit[(audit["table_name"] == "service_request") & (audit["field"] == "status") & audit["row_id"].isin(new)
                  & (audit["id"] > max_id(ctx.pristine, "audit_log"))]
    by_me = set(int(x) for x in audit.loc[audit["employee_id"] == int(ctx.me["id"]), "row_id"])
    if not set(int(x) for x in new) <= by_me:
        return CheckResult(False, "首次响应要以你自己的身份（lab.crm）操作，操作日志里才会记下是谁响应的；不要用 lab.admin。")
    others = before.index.difference(new)
    moved = now["status"].reindex(others) != before["status"].reindex(others)
    if moved.any():
        return CheckResult(False, f"{int(moved.sum())} 张原来不是“新建”的请求的状态被改了：本练习只处理新建的请求。")
    return CheckResult(True)


# --- 任务二: one complaint through the workflow ------------------------------------------------------------


def complaint_customer(ctx: Any) -> dict[str, Any]:
    """The caller of 练习 2.1: the customer of the latest closed service request rated 1 or 2
    (ties: the larger id), with that request's product."""
    def build() -> dict[str, Any]:
        sr = ctx.pristine.read("service_request")
        low = sr[(sr["status"] == "已关闭") & (sr["satisfaction"] <= LOW) & sr["product_id"].notna()]
        row = low.sort_values(["closed_at", "id"]).iloc[-1]
        return {"customer_id": int(row["customer_id"]), "product_id": int(row["product_id"]),
                "service_request_id": int(row["id"])}
    return ctx.once("complaint_customer", build)


def _history(store: Any, complaint_id: int) -> pd.DataFrame:
    h = store.read("complaint_history")
    return h[h["complaint_id"] == complaint_id].sort_values("id")


@operation("ch09.complaint_flow", points=10)
def check_complaint_flow(ctx: Any, _answer: Any) -> CheckResult:
    who = complaint_customer(ctx)
    fresh = new_rows(ctx, "complaint")
    fresh = fresh[fresh["customer_id"] == who["customer_id"]]
    if fresh.empty:
        return CheckResult(False, f"还没有客户 {who['customer_id']} 的新投诉：先用 lab.crm.record_complaint(...) 登记（已记录）。")
    if len(fresh) > 1:
        return CheckResult(False, f"客户 {who['customer_id']} 的投诉登记了 {len(fresh)} 条（重复运行了登记单元格？）："
                                  "一次投诉只登记一条。用 lab.undo(\"ch09.complaint_flow\") 撤销本练习的操作后重做。")
    c = fresh.iloc[0]
    cid = int(c["id"])
    if c["category"] != NEW_CATEGORY or c["urgency"] != NEW_URGENCY:
        return CheckResult(False, f"投诉类别应为“{NEW_CATEGORY}”、紧急程度“{NEW_URGENCY}”（你登记的是“{c['category']}”“{c['urgency']}”）。")
    if pd.isna(c["product_id"]) or int(c["product_id"]) != who["product_id"]:
        return CheckResult(False, f"请登记投诉涉及的产品（product_id = {who['product_id']}，即那张服务请求的产品）：按产品统计投诉才有依据。")
    if int(c["first_receiver_id"]) != int(ctx.me["id"]):
        return CheckResult(False, "首问接待人应是你自己（首问负责制）：用 lab.crm 登记，不要用 lab.admin 或以别人的身份。")
    reached = _history(ctx.store, cid)["status"].tolist()
    if reached != list(STATES[: len(reached)]):
        return CheckResult(False, f"投诉的处理记录顺序不对：{' → '.join(reached)}。")
    if c["status"] != STATES[-1]:
        nxt = STATES[STATES.index(c["status"]) + 1]
        return CheckResult(False, f"投诉停在“{c['status']}”，还没有归档：下一步是“{nxt}”。"
                                  "流程：已记录 → 调查中 → 已分派 → 方案待批 → 处理中 → 已回访 → 已归档。")
    dept = ctx.store.read("department").set_index("id")["name"]
    want = ROUTING[NEW_CATEGORY]
    got = dept.get(int(c["department_id"])) if pd.notna(c["department_id"]) else None
    if got != want:
        return CheckResult(False, f"责任部门不对：“{NEW_CATEGORY}”类投诉按公司的分派规则交给“{want}”（你分派给了“{got}”）。")
    if c["gap_type"] != GAP_OF_CATEGORY[NEW_CATEGORY]:
        return CheckResult(False, f"满意度差距（gap_type）没有记对：维修没有按时限和程序完成，属于“{GAP_OF_CATEGORY[NEW_CATEGORY]}”。")
    if not isinstance(c["handling_notes"], str) or not c["handling_notes"].strip():
        return CheckResult(False, "调查的要点没有记录：在“调查中”这一步写下 handling_notes（记录要点，判断投诉是否成立）。")
    hist = _history(ctx.store, cid).set_index("status")
    if int(hist.loc["处理中", "employee_id"]) != manager_id(ctx):
        return CheckResult(False, "处理方案要由客服主管批准（方案待批 → 处理中 由主管操作）：用 manager 完成这一步。")
    visits = new_rows(ctx, "return_visit")
    visits = visits[(visits["complaint_id"] == cid) & visits["satisfaction"].notna()]
    if visits.empty or pd.isna(c["satisfaction"]):
        return CheckResult(False, "没有回访记录或回访满意度：用 lab.crm.record_return_visit(..., complaint_id=..., satisfaction=...) 回访后再转“已回访”。")
    return CheckResult(True)


STEPS = {"A": "让客户发泄", "B": "记录要点", "C": "判断是否成立", "D": "提出并实施方案", "E": "跟踪服务", "X": "常见错误"}
STEPS_KEY = {"S1": "C", "S2": "X", "S3": "A", "S4": "E", "S5": "B", "S6": "D", "S7": "X"}
_STEP_WHY = {
    "S1": "核对保修和维修记录、弄清责任，是在判断投诉是否成立（C）",
    "S2": "一开口就否定客户、和客户争辩是处理投诉最常见的错误（X）",
    "S3": "先让客户把话说完、把情绪发泄出来，是第一步（A）",
    "S4": "处理完后回访、确认问题真正解决，是跟踪服务（E）",
    "S5": "登记时间、产品、现象和客户的要求，是记录要点（B）",
    "S6": "与客户商定补救办法并经批准落实，是提出并实施方案（D）",
    "S7": "随口承诺做不到的事，比不承诺更伤客户（X）",
}


def _diagnose_steps(_ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：键 S1–S7，值是 A–E 或 X。"
    for k, want in expected.items():
        if str(answer.get(k, "")).strip().upper() != want:
            return f"{k} 选错了：{_STEP_WHY[k]}。"
    return None


@judgement("ch09.five_steps", points=6, diagnose=_safe(_diagnose_steps))
def five_steps(_ctx: Any) -> dict[str, str]:
    return dict(STEPS_KEY)


# --- 任务三: the value of complaints ------------------------------------------------------------------------


def dissatisfied(store: Any, end: pd.Timestamp) -> pd.Series:
    """Customers who rated 1 or 2 before ``end`` (survey overall, closed service request,
    after-sales call), with the date of their first such rating."""
    s = store.read("survey")
    sr = store.read("service_request")
    care = store.read("care")
    parts = [s.loc[s["overall"] <= LOW, ["customer_id", "survey_date"]].set_axis(["c", "d"], axis=1),
             sr.loc[sr["satisfaction"] <= LOW, ["customer_id", "closed_at"]].set_axis(["c", "d"], axis=1),
             care.loc[care["satisfaction"] <= LOW, ["customer_id", "done_date"]].set_axis(["c", "d"], axis=1)]
    x = pd.concat([p.assign(d=pd.to_datetime(p["d"])) for p in parts], ignore_index=True)
    x = x[x["d"] < end]
    return x.groupby("c")["d"].min()


def complaint_value(store: Any, end: pd.Timestamp) -> dict[str, Any]:
    low = dissatisfied(store, end)
    comp = store.read("complaint")
    comp = comp[comp["received_at"] < end]
    complained = int(pd.Index(low.index).isin(comp["customer_id"]).sum())
    return {"dissatisfied": int(len(low)), "complained": complained,
            "one_in": float(len(low) / complained) if complained else float("inf")}


def _diagnose_value(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    s = ctx.pristine.read("survey")
    if answer.get("dissatisfied") == int((s.loc[s["overall"] <= LOW, "customer_id"]).nunique()):
        return ("dissatisfied 只看了满意度调查：客户也会在服务请求关闭时和售后回访（care）中打分，"
                "三处任何一处打了 1 或 2 分的客户都算不满意（每个客户只算一次）。")
    if answer.get("dissatisfied") == expected["dissatisfied"] and answer.get("complained") == int(
            ctx.pristine.read("complaint")["customer_id"].nunique()):
        return "complained 数的是全部投诉客户：只数“不满意客户”中投诉过的人。"
    if answer.get("dissatisfied") == expected["dissatisfied"] and answer.get("complained") == expected["complained"]:
        return "one_in = dissatisfied ÷ complained（平均多少个不满意的客户里有一个投诉）。"
    return None


@calculation("ch09.complaint_value", points=6, rtol=1e-6, diagnose=_safe(_diagnose_value))
def complaint_value_q(ctx: Any) -> dict[str, Any]:
    return complaint_value(ctx.pristine, cutoff(ctx))


def stayed_table(store: Any, end: pd.Timestamp) -> pd.DataFrame:
    """Per complaining customer (latest complaint received at least STAY_AGE_DAYS before ``end``):
    resolution satisfied (return visit ≥ 4) or not, and whether the customer is still active."""
    comp = store.read("complaint")
    comp = comp[comp["received_at"] < end - pd.Timedelta(days=STAY_AGE_DAYS)]
    last = comp.sort_values(["received_at", "id"]).groupby("customer_id").tail(1)
    ok = last["status"].isin(["已回访", "已归档"]) & (last["satisfaction"].fillna(0) >= SATISFIED)
    cust = store.read("customer").set_index("id")["lifecycle"]
    stay = last["customer_id"].map(cust) != "失效"
    x = pd.DataFrame({"resolution": np.where(ok, "满意", "不满意或未解决"), "stayed": stay.to_numpy()})
    g = x.groupby("resolution")["stayed"]
    return pd.DataFrame({"customers": g.size(), "stayed_share": g.mean()}).reset_index()


def _diagnose_stayed(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"resolution", "customers", "stayed_share"} <= set(answer.columns):
        return None
    total = int(answer["customers"].sum())
    comp = ctx.pristine.read("complaint")
    if total == len(comp[comp["received_at"] < cutoff(ctx) - pd.Timedelta(days=STAY_AGE_DAYS)]):
        return "每个客户只算一次（按他最近的一次投诉）：你数的是投诉条数。"
    if total == comp["customer_id"].nunique() and total != int(expected["customers"].sum()):
        return f"只看最近一次投诉在 {STAY_AGE_DAYS} 天以前的客户：刚投诉的客户还来不及流失。"
    return ("满意 = 最近一次投诉已回访（状态为已回访或已归档）且回访满意度 ≥ 4；stayed_share = 生命周期不是“失效”的客户比例。")


@calculation("ch09.stayed", points=8, key="resolution", atol=1e-4, diagnose=_safe(_diagnose_stayed))
def stayed(ctx: Any) -> pd.DataFrame:
    return stayed_table(ctx.pristine, cutoff(ctx))


# --- 任务四: gap analysis ---------------------------------------------------------------------------------


def servqual_table(store: Any, end: pd.Timestamp) -> pd.DataFrame:
    s = store.read("survey")
    s = s[s["survey_date"] < end]
    g = servqual_gaps(s)
    out = pd.DataFrame({"dimension": g["dimension_name"].to_numpy(), "expectation": g["expectation"].to_numpy(),
                        "perception": g["perception"].to_numpy(), "gap": g["gap"].to_numpy()})
    return out.sort_values("gap").reset_index(drop=True)


def _diagnose_servqual(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"dimension", "gap"} <= set(answer.columns):
        return None
    if set(answer["dimension"].astype(str)) != set(expected["dimension"]):
        return f"dimension 用教材的五个中文名称：{'、'.join(SERVQUAL_DIMENSIONS.values())}。"
    v = answer.set_index("dimension").reindex(expected["dimension"])
    e = expected.set_index("dimension")
    if np.allclose(v["gap"].astype(float), -e["gap"], atol=1e-4):
        return "差距 = 感知 − 期望（perception − expectation），负数表示服务没有达到客户的期望；你算反了。"
    if list(answer["dimension"]) != list(expected["dimension"]):
        return "请按 gap 从小到大排序（最差的维度排在最前面）。"
    return "expectation、perception 是全部调查的期望分（exp_…）、感知分（per_…）的平均数，gap = perception − expectation。"


@calculation("ch09.servqual", points=6, atol=1e-4, diagnose=_safe(_diagnose_servqual))
def servqual(ctx: Any) -> pd.DataFrame:
    return servqual_table(ctx.pristine, cutoff(ctx))


def pareto_table(store: Any, end: pd.Timestamp) -> pd.DataFrame:
    comp = store.read("complaint")
    comp = comp[comp["received_at"] < end]
    n = comp["gap_type"].value_counts().reindex(list(GAPS), fill_value=0)
    x = pd.DataFrame({"gap_type": n.index, "complaints": n.to_numpy().astype(int)})
    x["order"] = [GAPS.index(g) for g in x["gap_type"]]
    x = x.sort_values(["complaints", "order"], ascending=[False, True]).drop(columns="order").reset_index(drop=True)
    x["share"] = x["complaints"] / x["complaints"].sum()
    x["cum_share"] = x["share"].cumsum()
    return x


def _diagnose_pareto(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"gap_type", "complaints", "cum_share"} <= set(answer.columns):
        return None
    if len(answer) < len(expected):
        return f"五种差距都要列出（{'、'.join(GAPS)}），没有投诉的记 0。"
    if list(answer["gap_type"]) != list(expected["gap_type"]):
        return ("帕累托表按投诉数从多到少排序（数目相同时按教材顺序：促销、理解、程序、行为、感受差距）；"
                "cum_share 是从最多的一类开始的累计占比。")
    return "share = 该差距的投诉数 ÷ 投诉总数，cum_share 为累计占比。"


@calculation("ch09.pareto", points=6, atol=1e-4, diagnose=_safe(_diagnose_pareto))
def pareto(ctx: Any) -> pd.DataFrame:
    return pareto_table(ctx.pristine, cutoff(ctx))


# --- 任务五: one service episode for MOT ----------------------------------------------------------------------


def mot_episode(ctx: Any) -> int:
    """The complaint for the MOT question: the latest archived complaint rated 1 or 2 (else the latest archived)."""
    comp = ctx.pristine.read("complaint")
    done = comp[comp["status"] == "已归档"].sort_values(["received_at", "id"])
    low = done[done["satisfaction"].fillna(5) <= LOW]
    return int((low if len(low) else done)["id"].iloc[-1])


# --- 任务六: the call centre ---------------------------------------------------------------------------------


def call_centre(store: Any, end: pd.Timestamp) -> dict[str, Any]:
    sr = store.read("service_request")[["opened_at", "channel"]].set_axis(["t", "channel"], axis=1)
    comp = store.read("complaint")[["received_at", "channel"]].set_axis(["t", "channel"], axis=1)
    x = pd.concat([sr, comp], ignore_index=True)
    x = x[(x["channel"] == "电话") & (x["t"] < end) & (x["t"] >= end - pd.Timedelta(days=365))]
    by_hour = x["t"].dt.hour.value_counts()
    top = by_hour[by_hour == by_hour.max()].index.min()
    rate = float(by_hour[top]) * CALLS_PER_RECORD / 365
    per_sec = rate / 3600
    n = agents_needed(per_sec, AHT_SECONDS, TARGET_LEVEL, TARGET_SECONDS)
    fewer = average_speed_of_answer(n - 1, per_sec, AHT_SECONDS) if n > 1 else math.inf
    return {"busiest_hour": int(top), "calls_per_hour": rate, "agents": int(n),
            "service_level": float(service_level(n, per_sec, AHT_SECONDS, TARGET_SECONDS)),
            "asa_one_fewer": float(fewer)}


def _diagnose_calls(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    if answer.get("busiest_hour") != expected["busiest_hour"]:
        return ("busiest_hour：今天之前的 365 天内电话渠道（channel == \"电话\"）的服务请求和投诉，"
                "按受理时刻的小时（0–23）计数，最多的那个小时。")
    rate = answer.get("calls_per_hour")
    if isinstance(rate, (int, float)) and math.isclose(rate * CALLS_PER_RECORD, expected["calls_per_hour"], rel_tol=1e-3):
        return f"calls_per_hour 还要乘以每条记录对应的来电数 {CALLS_PER_RECORD}（咨询、查询进度、催办的电话不形成工单）。"
    if isinstance(rate, (int, float)) and not math.isclose(rate, expected["calls_per_hour"], rel_tol=1e-6):
        return f"calls_per_hour = 该小时的记录数 × {CALLS_PER_RECORD} ÷ 365（一年中平均每天这个小时的来电数）。"
    if answer.get("agents") != expected["agents"]:
        return ("agents：Erlang C 下使服务水平（20 秒内接通的比例）≥ 80% 的最少坐席数。注意单位一致："
                "来电率用“每秒”（calls_per_hour / 3600），处理时长用秒。")
    return "asa_one_fewer = 少一个坐席（agents − 1）时的平均应答等待时间（秒）；坐席数不超过话务量时为无穷大（math.inf）。"


@calculation("ch09.call_centre", points=6, rtol=1e-6, diagnose=_safe(_diagnose_calls))
def call_centre_q(ctx: Any) -> dict[str, Any]:
    out = call_centre(ctx.pristine, cutoff(ctx))
    return {k: out[k] for k in ("busiest_hour", "calls_per_hour", "agents", "asa_one_fewer")}


# --- 任务七: service recovery --------------------------------------------------------------------------------


def open_complaints(ctx: Any) -> pd.DataFrame:
    comp = ctx.pristine.read("complaint")
    return comp[comp["status"].isin(list(OPEN_STATES))].reset_index(drop=True)


@operation("ch09.handled", points=4)
def check_handled(ctx: Any, answer: Any) -> CheckResult:
    urgencies = tuple(reference.state_values("urgency"))
    if not isinstance(answer, (list, tuple, set)) or not set(answer) <= set(urgencies):
        return CheckResult(False, f"fast 应是紧急程度的列表（取自 {list(urgencies)}）：这些投诉马上处理完，其余故意放慢。")
    fast = set(answer)
    opened = open_complaints(ctx)
    now = ctx.store.read("complaint").set_index("id")
    is_fast = opened["urgency"].isin(fast).to_numpy()
    if (is_fast.all() and opened["urgency"].nunique() > 1) or not is_fast.any():
        return CheckResult(False, "规则要把待处理的投诉分成两组：一组快速处理、一组故意放慢，才能比较补救的效果。")
    ids_fast = opened.loc[is_fast, "id"].tolist()
    ids_slow = opened.loc[~is_fast, "id"].tolist()
    status = now["status"]
    left = [i for i in ids_fast if status[i] != STATES[-1]]
    if left:
        return CheckResult(False, f"按你的规则应快速处理完的投诉还有 {len(left)} 条没有归档（如 {left[:3]}）：逐步推进到“已归档”，"
                                  "处理中 → 已回访 之前先回访并记录满意度。")
    unsat = [i for i in ids_fast if pd.isna(now.loc[i, "satisfaction"])]
    if unsat:
        return CheckResult(False, f"{len(unsat)} 条快速处理的投诉没有回访满意度（如 {unsat[:3]}）。")
    before = opened.set_index("id")["status"]
    closed_slow = [i for i in ids_slow if status[i] == STATES[-1] and before[i] != STATES[-1]]
    if closed_slow:
        return CheckResult(False, f"{len(closed_slow)} 条投诉不在快速规则内，却被归档了（如 {closed_slow[:3]}）：按你的规则它们应当放慢。")
    hist = new_rows(ctx, "complaint_history")
    touched = set(int(x) for x in hist["complaint_id"])
    if not set(ids_fast) <= touched:
        return CheckResult(False, "快速处理要通过 CRM 的投诉流程（advance_complaint），每一步都留下处理记录。")
    return CheckResult(True)


def handled_complaints(pristine: Any, store: Any) -> set[int]:
    """The world's complaints the student resolved in the CRM (their own 已回访 or 已归档 in ``complaint_history``).

    Read from the student's decisions (:func:`simcrm.lab.loop.decisions`): the same set in the
    kernel and for the referee, whatever the world wrote later."""
    from ..loop import decisions

    hist = decisions(pristine, store)["complaint_history"]
    if not len(hist):
        return set()
    top = max_id(pristine, "complaint")
    return {int(c) for c, st in zip(hist["complaint_id"], hist["status"]) if st in STATES[-2:] and c <= top}


#: the groups of 练习 7.2, in the order a customer is placed (the first that fits)
RECOVERY_GROUPS = ("你已补救", "你放慢的", "快速满意", "其他投诉", "不满意未投诉")


def recovery_table(pristine: Any, after: Any, start: pd.Timestamp, days: int,
                   handled: set[int] | frozenset[int] = frozenset()) -> pd.DataFrame:
    """Service recovery measured on the quarter after ``start`` (today, 0:00).

    Customers still active at ``start`` who complained before it: ``你已补救`` if the student
    finished (return visit or archive) one of their complaints today (``handled``), else ``你放慢的`` if
    one of their complaints was still open at ``start``; else by their latest complaint,
    ``快速满意`` (return visit within FAST_DAYS of receipt, satisfaction ≥ 4) or ``其他投诉``;
    and ``不满意未投诉``: dissatisfied customers (:func:`dissatisfied`) who never complained.
    Per group: customers, share who bought (approved order) in the ``days`` after today, and
    share 失效 at the end (read from ``after``, the world stepped one quarter)."""
    comp = pristine.read("complaint")
    comp = comp[comp["received_at"] < start]
    cust0 = pristine.read("customer").set_index("id")["lifecycle"]
    active = cust0 != "失效"
    comp = comp[comp["customer_id"].map(active).fillna(False).astype(bool)]
    last = comp.sort_values(["received_at", "id"]).groupby("customer_id").tail(1)
    hist = pristine.read("complaint_history")
    visit = hist[(hist["status"] == "已回访") & (hist["at"] < start)].groupby("complaint_id")["at"].min()
    at = last["id"].map(visit)
    fast = at.notna() & ((at - last["received_at"]) <= pd.Timedelta(days=FAST_DAYS)) & (
        last["satisfaction"].fillna(0) >= SATISFIED)
    mine = set(comp.loc[comp["id"].isin(list(handled)), "customer_id"])
    left = set(comp.loc[comp["status"].isin(list(OPEN_STATES)), "customer_id"]) - mine
    group = np.where(last["customer_id"].isin(mine), "你已补救", np.where(last["customer_id"].isin(left), "你放慢的",
                                                                       np.where(fast, "快速满意", "其他投诉")))
    low = dissatisfied(pristine, start)
    everyone = pristine.read("complaint")
    silent = [int(c) for c in low.index if c not in set(everyone.loc[everyone["received_at"] < start, "customer_id"])
              and bool(active.get(c, False))]
    groups = pd.DataFrame({"customer_id": np.r_[last["customer_id"].to_numpy(), np.asarray(silent, dtype=np.int64)],
                           "group": np.r_[group, np.full(len(silent), "不满意未投诉")]})
    first = start + pd.Timedelta(days=1)  # the quarter: the day after today … today + days
    orders = after.read("sales_order")
    bought = set(orders.loc[(orders["approval"] == "同意") & (orders["order_date"] >= first)
                            & (orders["order_date"] < first + pd.Timedelta(days=days)), "customer_id"])
    cust1 = after.read("customer").set_index("id")["lifecycle"]
    groups["bought"] = groups["customer_id"].isin(bought)
    groups["lost"] = groups["customer_id"].map(cust1).eq("失效")
    g = groups.groupby("group")
    return pd.DataFrame({"customers": g.size(), "bought_share": g["bought"].mean(),
                         "lost_share": g["lost"].mean()}).reset_index()


def _diagnose_recovery(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"group", "customers"} <= set(answer.columns):
        return None
    if int(answer["customers"].sum()) != int(expected["customers"].sum()):
        return ("客户范围：今天（运行下一季度之前的“今天”，0 点）以前还没有失效的客户中，投诉过的（每人只算一次），"
                "和练习 3.1 中不满意却从没投诉过的；下一季度新来的投诉不算。")
    mine = expected.set_index("group")["customers"]
    got = answer.set_index("group")["customers"] if answer["group"].is_unique else None
    if got is not None and any(int(got.get(g, 0)) != int(mine.get(g, 0)) for g in ("你已补救", "你放慢的")):
        return ("你已补救 = 你在练习 7.1 中回访并处理完的投诉的客户；你放慢的 = 今天仍有未归档投诉、但你没有处理的客户"
                "（先判断这两组，其余投诉客户再按最近一次投诉分快速满意/其他投诉）。")
    return (f"快速满意 = 最近一次投诉在受理后 {FAST_DAYS} 天内完成回访（complaint_history 中“已回访”的时间，今天以前）且回访满意度 ≥ 4；"
            "其余投诉客户为其他投诉；bought_share = 下一季度内有已审批订单的比例，lost_share = 季度末生命周期为“失效”的比例。")


@calculation("ch09.recovery", points=4, key="group", atol=1e-4, diagnose=_safe(_diagnose_recovery))
def recovery(ctx: Any) -> pd.DataFrame:
    from ..loop import QUARTER_DAYS, replay

    after = replay(ctx)
    return recovery_table(ctx.pristine, after, cutoff(ctx), QUARTER_DAYS, handled_complaints(ctx.pristine, ctx.store))


# --- 任务七 (continued): the complaint-handling policy and what it did to the customers ------------------


def policy_split(store: Any) -> tuple[set[str], set[str]]:
    """The categories the store's complaint policy resolves fast and satisfyingly (return visit within
    FAST_DAYS, the remedy's satisfaction at that speed ≥ SATISFIED) and the other ruled ones."""
    from ...sim.model import Model

    pol = store.read("complaint_policy")
    fine = {str(c) for c, d, r in zip(pol["category"], pol["resolve_days"], pol["remedy"])
            if int(d) <= FAST_DAYS and Model.policy_satisfaction(str(r), int(d)) >= SATISFIED}
    return fine, {str(c) for c in pol["category"]} - fine


@operation("ch09.policy", points=4)
def check_policy(ctx: Any, answer: Any) -> CheckResult:
    cats = list(ctx.store.dictionary_values("complaint_category"))
    if not isinstance(answer, (list, tuple, set)) or not all(isinstance(c, str) for c in answer) or not set(answer) <= set(cats):
        return CheckResult(False, f"quick 应是投诉类别的列表（取自 {cats}）：按你的规则快速、满意地解决的那几类。")
    pol = ctx.store.read("complaint_policy")
    missing = [c for c in cats if c not in set(pol["category"])]
    if missing:
        return CheckResult(False, f"还有 {len(missing)} 类投诉没有处理规则（{missing}）：每一类都要用 set_complaint_policy 定下规则。")
    audit = ctx.store.read("audit_log", columns=["action", "table_name", "row_id"])
    made = set(audit.loc[(audit["table_name"] == "complaint_policy") & (audit["action"] == "新建"), "row_id"])
    if not set(pol["id"]) <= made:
        return CheckResult(False, "处理规则要通过 CRM 的 set_complaint_policy 设定（由客服主管操作，留下操作日志）。")
    fine, other = policy_split(ctx.store)
    if not fine or not other:
        return CheckResult(False, f"规则要把投诉类别分成两组：一组 {FAST_DAYS} 天内回访解决且客户满意（满意度 ≥ {SATISFIED}），"
                                  "另一组故意放慢或只致歉，下一季度才能比较两组客户。")
    if set(answer) != fine:
        return CheckResult(False, f"你的规则中快速满意的类别是 {sorted(fine)}，与 quick {sorted(set(answer))} 不一致：快速满意 = "
                                  f"回访解决时限 ≤ {FAST_DAYS} 天且该处理方式在这个时限下的满意度 ≥ {SATISFIED}"
                                  f"（回访满意度：致歉说明 2、维修或更换 4、更换并补偿 5，回访解决时限超过 {FAST_DAYS} 天减 1、超过 30 天再减 1）。")
    return CheckResult(True)


#: the groups of 练习 7.4
POLICY_GROUPS = ("快速满意", "其余")


def policy_effect_table(after: Any, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """Customers whose first complaint of the quarter after ``start`` (today, 0:00; complaints received
    from the day after today for ``days`` days) was, in ``after`` (the world stepped the quarter),
    return-visited within FAST_DAYS of receipt with satisfaction ≥ SATISFIED (``快速满意``) or not
    (``其余``); per group the customers, the share who bought (an approved order dated after the
    day of that complaint, within the quarter) and the share 失效 at the end."""
    first = start + pd.Timedelta(days=1)
    end = first + pd.Timedelta(days=days)
    comp = after.read("complaint")
    comp = comp[(comp["received_at"] >= first) & (comp["received_at"] < end)]
    head = comp.sort_values(["received_at", "id"]).groupby("customer_id").head(1)
    hist = after.read("complaint_history")
    visit = head["id"].map(hist[hist["status"] == "已回访"].groupby("complaint_id")["at"].min())
    fine = visit.notna() & ((visit - head["received_at"]) <= pd.Timedelta(days=FAST_DAYS)) & (
        head["satisfaction"].fillna(0) >= SATISFIED)
    orders = after.read("sales_order")
    orders = orders[(orders["approval"] == "同意") & (orders["order_date"] < end)]
    day_of = head.set_index("customer_id")["received_at"].dt.normalize()
    later = orders["order_date"] > orders["customer_id"].map(day_of)
    bought = set(orders.loc[later.fillna(False).astype(bool), "customer_id"])
    life = after.read("customer").set_index("id")["lifecycle"]
    groups = pd.DataFrame({"group": np.where(fine, POLICY_GROUPS[0], POLICY_GROUPS[1]),
                           "bought": head["customer_id"].isin(bought).to_numpy(),
                           "lost": head["customer_id"].map(life).eq("失效").to_numpy()})
    g = groups.groupby("group")
    return pd.DataFrame({"customers": g.size(), "bought_share": g["bought"].mean(),
                         "lost_share": g["lost"].mean()}).reset_index()


def _diagnose_policy_effect(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"group", "customers"} <= set(answer.columns):
        return None
    if int(answer["customers"].sum()) != int(expected["customers"].sum()):
        return ("客户范围：下一季度内（今天之后的第一天起 91 天）受理过投诉的客户，每人只算一次，看他在这个季度的第一次投诉；"
                "今天及以前的投诉不算。")
    return (f"快速满意 = 这次投诉在受理后 {FAST_DAYS} 天内完成回访（complaint_history 中“已回访”的时间）且回访满意度 ≥ {SATISFIED}；"
            "bought_share = 投诉受理日之后（不含当天）到季度末有审批状态为“同意”的订单的比例；lost_share = 季度末生命周期为“失效”的比例。")


@calculation("ch09.policy_effect", points=6, key="group", atol=1e-4, diagnose=_safe(_diagnose_policy_effect))
def policy_effect(ctx: Any) -> pd.DataFrame:
    from ..loop import QUARTER_DAYS, replay

    return policy_effect_table(replay(ctx), cutoff(ctx), QUARTER_DAYS)


__all__ = ["policy_split", "policy_effect_table", "POLICY_GROUPS", "sla_table", "complaint_customer", "complaint_value", "stayed_table", "servqual_table", "pareto_table",
           "call_centre", "recovery_table", "handled_complaints", "RECOVERY_GROUPS", "open_complaints", "manager_id", "mot_episode", "ROUTING",
           "GAP_OF_CATEGORY", "STEPS", "STEPS_KEY", "CALLS_PER_RECORD", "AHT_SECONDS"]
