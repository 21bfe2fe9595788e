"""ch01 认识客户关系管理软件 — questions.

Tasks: a tour of the CRM — the customer 360° view of the student's best customer (calculation)
and a care action planned from it (operation); logging in as different roles — how many
customers each of four employees can see and which modules the student's role cannot read
(calculations); counting and locating records — customers per lifecycle, regional differences,
the firm's biggest customer and the concentration of sales (calculations); the "voices" of
sales, marketing, service, customers and managers mapped to CRM modules, and features
classified as operational / analytical / collaborative CRM (judgements).

Every reference is an independent pandas computation on the student's own world (the data
scope rule is re-implemented here, not taken from the CRM's code); only the Pareto share uses
:func:`simcrm.analytics.pareto_share`, the function the course teaches for it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from ... import reference
from ...analytics import pareto_share
from ..checks import CheckResult
from ..questions import calculation, judgement, operation
from . import new_rows

CUSTOMERS = 2000

#: the care action of 练习 1.2
CARE_TYPE = "售后回访"
CARE_SUBJECT = "年度客户回访"
CARE_DAYS_AHEAD = 7

#: keys of the 360° profile of 练习 1.1: answer key → table counted by customer_id
PROFILE_TABLES = {"联系人": "contact", "沟通记录": "activity", "销售机会": "opportunity", "订单": "sales_order",
                  "服务请求": "service_request", "投诉": "complaint"}

#: provinces with fewer customers are left out of the per-customer average (练习 3.2)
MIN_PROVINCE_CUSTOMERS = 50


# --- shared definitions -------------------------------------------------------------------------


def deals(store: Any) -> pd.DataFrame:
    """成交订单: contracts and orders approved (同意) and not aborted (意外中止)."""
    o = store.read("sales_order")
    return o[(o["approval"] == "同意") & (o["status"] != "意外中止")]


def live_customers(store: Any) -> pd.DataFrame:
    c = store.read("customer")
    return c[~c["deleted"].astype(bool)]


def customer_totals(store: Any) -> pd.Series:
    """成交金额 per customer (customers with at least one 成交订单), by customer_id."""
    d = deals(store)
    d = d[d["customer_id"].isin(live_customers(store)["id"])]
    return d.groupby("customer_id")["total_amount"].sum()


def _top_of(totals: pd.Series) -> int:
    """The customer with the largest total (ties: the smaller id)."""
    frame = totals.rename("amount").reset_index().sort_values(["amount", "customer_id"], ascending=[False, True])
    return int(frame.iloc[0]["customer_id"])


def my_top_customer(ctx: Any) -> int:
    """The student's own customer (owner = lab.me) with the largest 成交金额."""
    def build() -> int:
        mine = live_customers(ctx.pristine)
        mine = mine[mine["owner_id"] == int(ctx.me["id"])]
        totals = customer_totals(ctx.pristine)
        return _top_of(totals[totals.index.isin(mine["id"])])
    return ctx.once("ch01.my_top", build)


def _today(ctx: Any) -> dt.date:
    if ctx.world is not None:
        return ctx.world.today
    return pd.Timestamp(ctx.pristine.read("sales_order")["order_date"].max()).date()


# --- 任务一: the 360° view and a care action ---------------------------------------------------------


def _profile(ctx: Any, store: Any) -> dict[str, int]:
    cid = my_top_customer(ctx)
    out: dict[str, int] = {"customer_id": cid}
    for key, table in PROFILE_TABLES.items():
        frame = store.read(table, columns=["customer_id"])
        out[key] = int((frame["customer_id"] == cid).sum())
    return out


def _diagnose_profile(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是一个字典，如 {\"customer_id\": 12, \"联系人\": 2, ...}。"
    got_id = answer.get("customer_id")
    if got_id is not None and got_id != expected["customer_id"]:
        totals = ctx.pristine.read("sales_order")
        mine = live_customers(ctx.pristine)
        mine = mine[mine["owner_id"] == int(ctx.me["id"])]
        approved_only = totals[(totals["approval"] == "同意") & totals["customer_id"].isin(mine["id"])]
        all_orders = totals[totals["customer_id"].isin(mine["id"])]
        if got_id == _top_of(customer_totals(ctx.pristine)):
            return "这是全公司成交金额最高的客户；本题只在你名下（owner_id == lab.me['id']）的客户中找。"
        if len(approved_only) and got_id == _top_of(approved_only.groupby("customer_id")["total_amount"].sum()):
            return "客户选错了：审批“同意”但状态为“意外中止”的订单不算成交，要去掉。"
        if len(all_orders) and got_id == _top_of(all_orders.groupby("customer_id")["total_amount"].sum()):
            return "客户选错了：只统计成交订单（审批“同意”且状态不是“意外中止”），待审和否决的订单不算。"
        if len(all_orders) and got_id == int(all_orders.sort_values("total_amount").iloc[-1]["customer_id"]):
            return "客户选错了：要比较的是每个客户全部成交订单的金额合计，而不是单笔最大的订单。"
        return "customer_id 不对：先按题目的定义找出你名下成交金额最高的客户。"
    sr = answer.get("服务请求")
    if sr == 0 and expected["服务请求"] > 0 or answer.get("投诉") == 0 and expected["投诉"] > 0:
        return ("服务请求或投诉数为 0，但数据库里这位客户其实有记录：销售代表的角色没有“客户服务”“投诉管理”模块的"
                "查看权限，所以客户视图里看不到。请用 lab.table(...) 读整个数据库来统计。")
    if any(answer.get(k, -1) != expected[k] for k in PROFILE_TABLES):
        if answer.get("沟通记录") == expected["沟通记录"] + len(new_rows(ctx, "activity")):
            return "沟通记录数比实训开始时多：是不是你自己新加了沟通记录？请按实训开始时的数据统计（或 lab.reset() 后重做）。"
    return None


@calculation("ch01.profile", points=10, diagnose=_diagnose_profile, what="客户视图")
def profile(ctx: Any) -> dict[str, int]:
    return _profile(ctx, ctx.pristine)


@operation("ch01.care", points=6)
def check_care(ctx: Any, _answer: Any) -> CheckResult:
    target = my_top_customer(ctx)
    planned = _today(ctx) + dt.timedelta(days=CARE_DAYS_AHEAD)
    care = new_rows(ctx, "care")
    if care.empty:
        return CheckResult(False, "数据库中没有新的关怀计划：请用 lab.crm.plan_care(客户编号, 关怀类型, 主题, 计划日期) 安排。")
    here = care[care["customer_id"] == target]
    if here.empty:
        return CheckResult(False, "关怀计划安排给了别的客户：应安排给练习 1.1 找到的、你名下成交金额最高的客户。")
    if len(care) > 1:
        return CheckResult(False, f"新增了 {len(care)} 条关怀计划，应只有 1 条：是不是重复运行了单元格？"
                                  "请运行 lab.undo(\"ch01.care\") 撤销后重做本练习。")
    c = here.iloc[0]
    if c["care_type"] != CARE_TYPE:
        return CheckResult(False, f"关怀类型是“{c['care_type']}”，应为“{CARE_TYPE}”。")
    if str(c["subject"]).strip() != CARE_SUBJECT:
        return CheckResult(False, f"主题是“{c['subject']}”，应为“{CARE_SUBJECT}”。")
    got = pd.Timestamp(c["planned_date"]).date()
    if got != planned:
        return CheckResult(False, f"计划日期是 {got}，应为“今天”（lab.today = {_today(ctx)}）之后第 {CARE_DAYS_AHEAD} 天，"
                                  f"即 {planned}。")
    if int(c["employee_id"]) != int(ctx.me["id"]):
        return CheckResult(False, "关怀的执行人应是你自己：用 lab.crm 操作（不要用 lab.admin，也不要指定 employee）。")
    return CheckResult(True)


# --- 任务二: roles and data scope --------------------------------------------------------------------


def four_logins(store: Any, me: dict[str, Any]) -> dict[str, str]:
    """The four employees of 练习 2.1: the boss, the manager of the parent department of the
    student's department, the manager of the student's department, and the student."""
    emp = store.read("employee")
    dept = store.read("department").set_index("id")
    active = emp[emp["status"] == "正常"].sort_values("id")
    by_id = emp.set_index("id")
    own = int(me["department_id"])
    parent = dept.loc[own, "parent_id"]
    return {
        "老板": str(active[active["role_type"] == "老板"].iloc[0]["login"]),
        "上级部门主管": str(by_id.loc[int(dept.loc[int(parent), "manager_id"]), "login"]),
        "本部门主管": str(by_id.loc[int(dept.loc[own, "manager_id"]), "login"]),
        "你自己": str(me["login"]),
    }


def _subtree(dept: pd.DataFrame, root: int) -> set[int]:
    out, todo = set(), [root]
    while todo:
        d = todo.pop()
        if d in out:
            continue
        out.add(d)
        todo.extend(int(x) for x in dept.loc[dept["parent_id"] == d, "id"])
    return out


def visible_count(store: Any, login: str, *, subtree: bool = True, shares: bool = True) -> int:
    """How many (not deleted) customers ``login`` may see, by the data scope rules:
    全部 — all; 本部门 — owned by an employee of the department or its sub-departments;
    本人 — owned by the employee. Customers shared with the employee are added to 本部门/本人.
    ``subtree`` / ``shares`` switch parts off (for diagnosing mistakes)."""
    emp = store.read("employee")
    e = emp[emp["login"] == login].iloc[0]
    scope = store.read("role").set_index("id").loc[int(e["role_id"]), "data_scope"]
    cust = live_customers(store)
    if scope == "全部":
        return int(len(cust))
    if scope == "本人":
        owners = {int(e["id"])}
    else:
        dept = store.read("department")
        depts = _subtree(dept, int(e["department_id"])) if subtree else {int(e["department_id"])}
        owners = set(int(i) for i in emp.loc[emp["department_id"].isin(depts), "id"]) | {int(e["id"])}
    seen = cust["owner_id"].isin(owners)
    if shares:
        share = store.read("customer_share")
        seen |= cust["id"].isin(share.loc[share["employee_id"] == int(e["id"]), "customer_id"])
    return int(seen.sum())


def _diagnose_visible(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{登录名: 能看到的客户数}。"
    logins = four_logins(ctx.store, ctx.me)
    missing = [f"{who}（{login}）" for who, login in logins.items() if login not in answer]
    if missing:
        wrong_keys = [k for k in answer if k not in expected]
        extra = f"；你的键 {wrong_keys[:3]} 不是要求的登录名" if wrong_keys else ""
        return f"缺少这些员工：{'、'.join(missing)}。键应是登录名（如 {ctx.me['login']}）{extra}。"
    for who, login in logins.items():
        got = answer[login]
        if got == expected[login]:
            continue
        if got == visible_count(ctx.store, login, subtree=False):
            return (f"{who}（{login}）的数字不对：“本部门”包括下级部门——上级部门的主管能看到各下属小组的客户。"
                    "请用 lab.crm.as_user(登录名).customers() 实际登录查看。")
        if got == visible_count(ctx.store, login, shares=False):
            return f"{who}（{login}）的数字少了：别人共享（customer_share）给这位员工的客户，他也能看到。"
        return (f"{who}（{login}）的数字不对（你的 {got}）：请用 len(lab.crm.as_user(登录名).customers()) 统计，"
                "不要自己按部门或负责人筛选。")
    return None


@calculation("ch01.visible", points=12, diagnose=_diagnose_visible, what="可见客户数")
def visible(ctx: Any) -> dict[str, int]:
    return {login: visible_count(ctx.store, login) for login in four_logins(ctx.store, ctx.me).values()}


def _diagnose_no_read(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        got = set(answer)
    except TypeError:
        return "答案应是模块中文名称的列表，如 [\"系统管理\", ...]。"
    codes = set(reference.MODULES)
    if got & codes:
        return "请用模块的中文名称（rights() 的 name 列，如“客户服务”），不要用英文代码（如 service）。"
    names = set(reference.MODULES.values())
    if got - names:
        return f"{sorted(got - names)[:3]} 不是系统的模块名称；可选：{'、'.join(reference.MODULES.values())}。"
    rights = ctx.pristine.read("role_right")
    mine = rights[rights["role_id"] == int(ctx.me["role_id"])]
    no_create = {reference.MODULES[m] for m in mine.loc[~mine["can_create"].astype(bool), "module"]}
    if got == no_create:
        return "你列出的是没有“新建”权限的模块；题目问的是没有“查看”（read）权限的模块。"
    return None


@calculation("ch01.no_read", points=4, diagnose=_diagnose_no_read, what="无权查看的模块")
def no_read(ctx: Any) -> list[str]:
    rights = ctx.pristine.read("role_right")
    mine = rights[(rights["role_id"] == int(ctx.me["role_id"])) & ~rights["can_read"].astype(bool)]
    return sorted(reference.MODULES[m] for m in mine["module"])


# --- 任务三: count and locate records ----------------------------------------------------------------


def _diagnose_lifecycle(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        s = pd.Series(answer, dtype="float64") if not isinstance(answer, pd.Series) else answer.astype("float64")
    except (TypeError, ValueError):
        return "答案应是一个 Series：索引为生命周期，值为客户数（例如 value_counts() 的结果）。"
    if math.isclose(float(s.sum()), 1.0, abs_tol=1e-6):
        return "你给出的是占比；题目要的是客户数（整数）。"
    total = int(expected.sum())
    if int(s.sum()) != total:
        if int(s.sum()) == len(ctx.store.read("customer", columns=["id"])) and int(s.sum()) != total:
            return "把已删除（deleted == True）的客户也算进去了。"
        return (f"合计 {int(s.sum())} 个客户，应为 {total} 个：是否只统计了你自己能看到的客户（lab.crm.customers()）？"
                "本题统计整个数据库：lab.table(\"customer\")。")
    return None


@calculation("ch01.by_lifecycle", points=6, diagnose=_diagnose_lifecycle, what="客户数")
def by_lifecycle(ctx: Any) -> pd.Series:
    c = live_customers(ctx.pristine)
    out = c.groupby("lifecycle").size()
    return out.rename("count").rename_axis("lifecycle")


def _province_table(store: Any, *, include_zero: bool = True) -> pd.DataFrame:
    c = live_customers(store)[["id", "province"]]
    totals = customer_totals(store).rename("amount")
    c = c.merge(totals, left_on="id", right_index=True, how="left")
    if include_zero:
        c["amount"] = c["amount"].fillna(0.0)
    else:
        c = c.dropna(subset=["amount"])
    g = c.groupby("province").agg(customers=("id", "size"), amount=("amount", "sum")).reset_index()
    g["average"] = g["amount"] / g["customers"]
    return g


def _best(frame: pd.DataFrame, col: str) -> str:
    """The province with the largest ``col`` (ties: the first name in sorted order)."""
    return str(frame.sort_values([col, "province"], ascending=[False, True]).iloc[0]["province"])


def _regions(store: Any) -> dict[str, str]:
    g = _province_table(store)
    big = g[g["customers"] >= MIN_PROVINCE_CUSTOMERS]
    if big.empty:  # only in tiny test worlds: no province is big enough
        big = g
    return {"客户数最多": _best(g, "customers"), "成交金额最高": _best(g, "amount"), "户均成交最高": _best(big, "average")}


def _diagnose_regions(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典，三个键：“客户数最多”“成交金额最高”“户均成交最高”，值为省份名称。"
    store = ctx.pristine
    got = answer.get("户均成交最高")
    if got is not None and got != expected.get("户均成交最高"):
        g_all = _province_table(store)
        if got == _best(g_all, "average"):
            return (f"“户均成交最高”只比较客户数不少于 {MIN_PROVINCE_CUSTOMERS} 的省份：客户很少的省份，"
                    "平均数容易被一两个大客户拉高。")
        g_buy = _province_table(store, include_zero=False)
        if got == _best(g_buy[g_buy["customers"] >= MIN_PROVINCE_CUSTOMERS], "average"):
            return "“户均”要除以该省的全部客户数（包括没有成交的客户），而不是只除以有成交的客户数。"
    got = answer.get("成交金额最高")
    if got is not None and got != expected.get("成交金额最高"):
        o = store.read("sales_order")
        c = live_customers(store)[["id", "province"]]
        m = o.merge(c, left_on="customer_id", right_on="id")
        by_all = m.groupby("province")["total_amount"].sum().rename("amount").reset_index()
        if got == _best(by_all, "amount"):
            return "“成交金额”只统计成交订单：审批“同意”且状态不是“意外中止”。"
    return None


@calculation("ch01.regions", points=8, diagnose=_diagnose_regions, what="省份")
def regions(ctx: Any) -> dict[str, str]:
    return _regions(ctx.pristine)


def _top_customer(store: Any) -> dict[str, Any]:
    totals = customer_totals(store)
    cid = _top_of(totals)
    c = store.read("customer").set_index("id").loc[cid]
    owner = store.read("employee").set_index("id").loc[int(c["owner_id"]), "name"]
    return {"customer_id": cid, "name": str(c["name"]), "owner": str(owner), "amount": round(float(totals[cid]), 2)}


def _diagnose_top(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典，四个键：customer_id、name、owner、amount。"
    store = ctx.pristine
    o = store.read("sales_order")
    got = answer.get("customer_id")
    if got is not None and got != expected["customer_id"]:
        if got == int(o.sort_values("total_amount").iloc[-1]["customer_id"]) or got == int(
                deals(store).sort_values("total_amount").iloc[-1]["customer_id"]):
            return "你找到的是单笔订单金额最大的客户；题目要的是每个客户全部成交订单金额的合计最大。"
        if got == _top_of(o.groupby("customer_id")["total_amount"].sum()):
            return "把待审、否决或意外中止的订单也算进去了：只统计成交订单（审批“同意”且状态不是“意外中止”）。"
        approved = o[o["approval"] == "同意"]
        if got == _top_of(approved.groupby("customer_id")["total_amount"].sum()):
            return "审批“同意”后又“意外中止”的订单没有成交，要去掉。"
        return "customer_id 不对：按客户汇总成交订单的 total_amount，取合计最大的客户。"
    owner = answer.get("owner")
    if owner is not None and owner != expected["owner"]:
        if str(owner).isdigit() or isinstance(owner, int):
            return "owner 要填负责人的姓名（employee 表的 name），不是员工编号。"
        return "负责人不对：customer 表的 owner_id 对应 employee 表的 id，取该员工的 name。"
    amount = answer.get("amount")
    if isinstance(amount, (int, float)) and not math.isclose(float(amount), expected["amount"], abs_tol=0.01):
        if math.isclose(float(amount), expected["amount"] / 10000, rel_tol=1e-3):
            return "金额的单位应是元，不是万元。"
    return None


@calculation("ch01.top_customer", points=10, diagnose=_diagnose_top, what="成交金额", atol=0.01)
def top_customer(ctx: Any) -> dict[str, Any]:
    return _top_customer(ctx.pristine)


def _diagnose_share(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        v = float(answer)
    except (TypeError, ValueError):
        return "答案应是一个小数，如 0.7312。"
    totals = customer_totals(ctx.pristine)
    n_all = len(live_customers(ctx.pristine))
    values = totals.reindex(live_customers(ctx.pristine)["id"]).fillna(0.0)
    alt_all = round(pareto_share(values.to_numpy(), top=0.2), 4)
    if math.isclose(v, alt_all, abs_tol=1e-4) and not math.isclose(alt_all, expected, abs_tol=1e-4):
        return (f"你按全部 {n_all} 个客户取了前 20%；题目只在有成交的 {len(totals)} 个客户中取前 20%"
                f"（k = ceil(0.2 × {len(totals)})）。")
    k_floor = max(1, math.floor(0.2 * len(totals)))
    v_sorted = totals.sort_values(ascending=False).to_numpy()
    alt_floor = round(float(v_sorted[:k_floor].sum() / v_sorted.sum()), 4)
    if math.isclose(v, alt_floor, abs_tol=1e-4) and not math.isclose(alt_floor, expected, abs_tol=1e-4):
        return "前 20% 的客户数要向上取整：k = math.ceil(0.2 × n)。"
    if math.isclose(v, 1 - expected, abs_tol=1e-4):
        return "你算的是其余 80% 客户的占比；题目要的是前 20% 客户的占比。"
    return None


@calculation("ch01.top20_share", points=8, diagnose=_diagnose_share, what="占比", atol=1.5e-4)
def top20_share(ctx: Any) -> float:
    return round(pareto_share(customer_totals(ctx.pristine).to_numpy(), top=0.2), 4)


# --- 任务四: voices and system types ------------------------------------------------------------------

#: 练习 4.1: the voices (paraphrased from the needs that pulled CRM into being, 第一章第一节) → module
VOICES = {
    "V1": ("销售人员", "市场部转来的线索又多又杂，我花大量时间也分不清谁是真正想买的人。", "线索管理"),
    "V2": ("销售人员", "老客户来询价，我想不起上次给他报的是什么价，怕前后报价对不上。", "报价管理"),
    "V3": ("营销人员", "去年办展会、投广告花了两千万，到底带来了多少客户和回报，谁也说不清。", "营销活动"),
    "V4": ("服务人员", "很多报修其实是同样的小问题，每次都要从头登记、从头查，工程师疲于应付。", "客户服务"),
    "V5": ("客户", "我一个月前就投诉了，到现在没人告诉我处理到哪一步了。", "投诉管理"),
    "V6": ("经理", "跟单的销售辞职了，客户半小时后来签约，我对之前谈过什么一无所知。", "客户沟通"),
    "V7": ("经理", "这个季度还能签下哪些单子？每个单子走到了哪个阶段、成功的把握有多大？", "销售机会管理"),
    "V8": ("经理", "哪些客户的货款已经过了约定日期还没付？", "回款开票"),
}

#: why, for the hint on a wrong choice
VOICE_WHY = {
    "V1": "线索在“线索管理”中筛选、打分、转化，合格的才成为客户和销售机会",
    "V2": "每次报价都在“报价管理”中留有记录，查得到历次价格",
    "V3": "营销活动记录目标客户、成本和响应，才能算回报",
    "V4": "服务请求在“客户服务”中统一登记、派工、跟踪到解决",
    "V5": "投诉在“投诉管理”中按流程（记录→调查→分派→处理→回访）推进，每一步都有记录",
    "V6": "与客户的每次电话、拜访都记在“客户沟通”（沟通记录）中，换人也能接着跟",
    "V7": "销售机会按阶段推进，每个阶段对应成交概率，这是“销售机会管理”（销售漏斗）",
    "V8": "回款计划与实际回款在“回款开票”中对照，才能看出逾期",
}


def _diagnose_voices(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"V1\": \"线索管理\", ...}。"
    names = set(reference.MODULES.values())
    bad = [v for v in answer.values() if v not in names]
    if bad:
        return f"“{bad[0]}”不是系统的模块名称；请从这些名称中选：{'、'.join(reference.MODULES.values())}。"
    wrong = [k for k in expected if answer.get(k) != expected[k]]
    if not wrong:
        return None
    k = wrong[0]
    return f"有 {len(wrong)} 条选得不对。例如 {k}（{VOICES[k][0]}）：{VOICE_WHY[k]}。"


@judgement("ch01.voices", points=8, diagnose=_diagnose_voices)
def voices(_ctx: Any) -> dict[str, str]:
    return {k: v[2] for k, v in VOICES.items()}


#: 练习 4.2: features → CRM system type by function (第三章第一节)
FEATURES = {
    "A": ("销售代表在系统中登记销售机会、推进阶段、生成报价单", "运营型"),
    "B": ("按最近购买、购买频率、购买金额（RFM）给客户打分，找出重要价值客户", "分析型"),
    "C": ("客户来电时，坐席的屏幕自动弹出该客户的资料和历史记录", "协作型"),
    "D": ("电话、邮件、微信、网站留言的咨询汇集到同一个工作台统一答复", "协作型"),
    "E": ("在数据仓库中按地区、产品、月份对销售额上卷、下钻", "分析型"),
    "F": ("订单审批、发货出库、登记回款", "运营型"),
    "G": ("用历史数据训练模型，预测哪些客户可能流失", "分析型"),
    "H": ("代理商通过浏览器登录系统，与总部共享客户和项目进展", "协作型"),
    "I": ("挑选目标客户、发出活动邀请并记录客户的响应", "运营型"),
}

TYPE_WHY = {
    "运营型": "运营型 CRM 让营销、销售、服务的日常业务流程自动化——这是在“办业务”",
    "分析型": "分析型 CRM 从积累的数据中统计、挖掘规律、预测，为决策服务——这是在“找规律”",
    "协作型": "协作型 CRM 打通企业与客户（及伙伴）之间的各种接触渠道，让各方能实时互动、共享信息——这是在“连渠道”",
}


def _diagnose_features(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"A\": \"运营型\", ...}。"
    bad = [v for v in answer.values() if v not in TYPE_WHY]
    if bad:
        return f"“{bad[0]}”不是可选的类型；只能填“运营型”“分析型”“协作型”。"
    wrong = [k for k in expected if answer.get(k) != expected[k]]
    if not wrong:
        return None
    k = wrong[0]
    return f"有 {len(wrong)} 项分错了。例如 {k}“{FEATURES[k][0]}”：{TYPE_WHY[expected[k]]}。"


@judgement("ch01.crm_types", points=8, diagnose=_diagnose_features)
def crm_types(_ctx: Any) -> dict[str, str]:
    return {k: v[1] for k, v in FEATURES.items()}


__all__ = ["CARE_TYPE", "CARE_SUBJECT", "CARE_DAYS_AHEAD", "PROFILE_TABLES", "MIN_PROVINCE_CUSTOMERS", "VOICES",
           "FEATURES", "deals", "customer_totals", "my_top_customer", "four_logins", "visible_count"]
