"""ch02 系统管理及基础设置 — questions and files.

The student is the firm's 老板 and its system administrator. Tasks: build a department subtree,
hire staff and hand a leaving rep's customers over by region (operations); create a role with
module rights and a data scope; maintain dictionaries and numbering rules (operations); then the
theory of textbook chapter 2 on the student's own data: satisfaction index c = b/a from the
latest SERVQUAL survey and its link to churn, customer delivered value, loyalty types
(judgement), 5C credit score vs payment behaviour, and a retention CLV per customer level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import reference
from ...analytics import SERVQUAL_DIMENSIONS, credit_5c, credit_behaviour
from ..checks import CheckResult, compare
from ..questions import calculation, judgement, operation
from . import max_id, new_rows

CUSTOMERS = 2000

# --- 任务一 / 任务二: the specification the student builds ----------------------------------------

SALES_DEPT = "销售部"
SOUTH_DEPT = "华南销售组"
#: department → parent department (by name)
NEW_DEPARTMENTS = {"西南销售组": "销售部", "大客户部": "销售部", "战略客户组": "大客户部"}
#: the two hires of 练习 1.2
HIRES = {
    "宋佳": {"login": "songjia", "department": "西南销售组", "role": "销售主管", "title": "西南销售经理",
             "mobile": "13908280001"},
    "陆明": {"login": "luming", "department": "西南销售组", "role": "销售代表", "title": "销售代表",
             "mobile": "13908280002"},
}
SOUTHWEST_MANAGER = "宋佳"
SOUTHWEST_REP = "陆明"
#: provinces of the 西南 region (reference.regions())
SOUTHWEST = ("重庆市", "四川省", "贵州省", "云南省", "西藏自治区")

#: the role of 练习 2.1: defaults of 一般人员 except these modules
NEW_ROLE = {"name": "大客户专员", "role_type": "一般人员", "data_scope": "本部门"}
NEW_ROLE_CHANGES = {
    "order": {"create": False, "read": True, "update": False, "delete": False},
    "finance": {"create": False, "read": False, "update": False, "delete": False},
    "customer": {"create": True, "read": True, "update": True, "delete": True},
}
KEY_ACCOUNT_HIRE = {"name": "顾晓", "login": "guxiao", "department": "战略客户组", "role": "大客户专员",
                    "title": "大客户专员"}

NEW_SOURCE = "短视频平台"
NEW_INDUSTRY = "新能源"
#: numbering rules of 练习 2.3
CONTRACT_RULE = {"entity": "合同", "prefix": "HT", "date_format": "%Y%m", "width": 4, "next_value": 1}
CUSTOMER_RULE = {"entity": "customer", "prefix": "KH", "date_format": "%Y", "width": 5}

# --- 任务三–五: theory inputs ---------------------------------------------------------------------------

PER = [f"per_{d}" for d in SERVQUAL_DIMENSIONS]
EXP = [f"exp_{d}" for d in SERVQUAL_DIMENSIONS]

#: 练习 3.3: three offers for the same printing solution (元); the cost parts in the table's order
#: 货币成本 money, 时间成本 time, 精神成本 psychic, 体力成本 energy (physical effort)
OFFERS = {
    "我方": {"product": 52000, "service": 12000, "personnel": 6000, "image": 5000,
             "money": 48000, "time": 3000, "psychic": 2000, "energy": 1000},
    "竞争对手甲": {"product": 50000, "service": 6000, "personnel": 3000, "image": 8000,
                   "money": 41000, "time": 5000, "psychic": 4000, "energy": 3000},
    "竞争对手乙": {"product": 55000, "service": 9000, "personnel": 4000, "image": 6000,
                   "money": 52000, "time": 2000, "psychic": 1500, "energy": 1500},
}

#: 练习 4.1: loyalty types (教材第二章第三节; 004 slides) — situation → type
LOYALTY_KEY = {
    "情形1": "垄断忠诚",
    "情形2": "惰性忠诚",
    "情形3": "方便忠诚",
    "情形4": "价格忠诚",
    "情形5": "激励忠诚",
    "情形6": "超值忠诚",
}
LOYALTY_TYPES = tuple(sorted(set(LOYALTY_KEY.values())))

#: 练习 4.2: 5C weights; ratings on a 1–5 scale
WEIGHTS_5C = {"character": 0.30, "capacity": 0.25, "capital": 0.20, "collateral": 0.10, "conditions": 0.15}
SCALE_5C = (1, 5)
GOOD_5C = ("AAA", "AA", "A")
BAD_BEHAVIOUR = ("C", "D")

#: 练习 5.1
DISCOUNT = 0.10
PERIODS = 5


# --- helpers ------------------------------------------------------------------------------------------


def _today(ctx: Any) -> pd.Timestamp:
    if ctx.world is not None:
        return pd.Timestamp(ctx.world.today)
    return pd.Timestamp(ctx.pristine.read("sales_order")["order_date"].max())


def _dept_id(frame: pd.DataFrame, name: str) -> int | None:
    hit = frame[frame["name"] == name]
    return int(hit.sort_values("id").iloc[0]["id"]) if len(hit) else None


def leaver(ctx: Any) -> dict[str, Any]:
    """The rep who leaves (练习 1.3): the active 一般人员 of 华南销售组 hired first (ties: smaller id)."""
    emp = ctx.pristine.read("employee")
    south = _dept_id(ctx.pristine.read("department"), SOUTH_DEPT)
    reps = emp[(emp["department_id"] == south) & (emp["status"] == "正常") & (emp["role_type"] == "一般人员")]
    row = reps.sort_values(["hire_date", "id"]).iloc[0]
    return {"id": int(row["id"]), "name": str(row["name"]), "login": str(row["login"])}


def south_manager(ctx: Any) -> int:
    """The 部门负责人 (department.manager_id) of 华南销售组."""
    dept = ctx.pristine.read("department")
    return int(dept.loc[dept["name"] == SOUTH_DEPT, "manager_id"].iloc[0])


def handover(ctx: Any) -> pd.DataFrame:
    """The leaver's customers (not deleted) and who must own each one afterwards:
    ``customer_id, province, to`` where ``to`` is ``"西南"`` or ``"华南主管"``."""
    cust = ctx.pristine.read("customer")
    mine = cust[(cust["owner_id"] == leaver(ctx)["id"]) & ~cust["deleted"]]
    out = mine[["id", "province"]].rename(columns={"id": "customer_id"}).reset_index(drop=True)
    out["to"] = np.where(out["province"].isin(SOUTHWEST), "西南", "华南主管")
    return out


def recent_sources(ctx: Any) -> pd.Series:
    """New customers per source in the last 365 days (today − 365 < created date ≤ today),
    over every source value in use in the world as generated (0 when none)."""
    today = _today(ctx)
    cust = ctx.pristine.read("customer")
    day = cust["created_at"].dt.normalize()
    recent = cust[(day > today - pd.Timedelta(days=365)) & (day <= today) & ~cust["deleted"]]
    d = ctx.pristine.read("dictionary")
    d = d[(d["list_name"] == "source") & d["in_use"]].sort_values(["sort_order", "id"])
    counts = recent["source"].value_counts()
    return pd.Series([int(counts.get(v, 0)) for v in d["value"]], index=list(d["value"]), name="customers")


def default_source(ctx: Any) -> str:
    """The source with the most new customers in the last 365 days (ties: dictionary order)."""
    s = recent_sources(ctx)
    return str(s.index[int(np.argmax(s.to_numpy()))])


def source_to_disable(ctx: Any) -> str:
    """The source with the fewest new customers in the last 365 days, 其他 and the new default
    excluded (ties: dictionary order)."""
    s = recent_sources(ctx).drop(labels=["其他", default_source(ctx)], errors="ignore")
    return str(s.index[int(np.argmin(s.to_numpy()))])


# --- 任务一: organisation -------------------------------------------------------------------------------


def _new_departments(ctx: Any) -> pd.DataFrame:
    return new_rows(ctx, "department")


def check_departments(ctx: Any, _answer: Any) -> CheckResult:
    dept = ctx.store.read("department")
    added = _new_departments(ctx)
    for name, parent in NEW_DEPARTMENTS.items():
        found = added[added["name"] == name]
        if found.empty:
            if (dept["name"] == name).any():
                return CheckResult(False, f"“{name}”不是本次新建的部门？请用 lab.crm.add_department(...) 新建。")
            return CheckResult(False, f"没有找到部门“{name}”：请用 lab.crm.add_department(\"{name}\", parent=上级部门编号) 新建。")
        if len(found) > 1:
            return CheckResult(False, f"部门“{name}”被建了 {len(found)} 次（重复运行了单元格？）。请运行 lab.undo(\"ch02.org\") 撤销后重做本练习。")
        parent_rows = dept[dept["name"] == parent]
        got_parent = found.iloc[0]["parent_id"]
        if pd.isna(got_parent) or int(got_parent) not in set(parent_rows["id"].astype(int)):
            shown = "无（顶级部门）" if pd.isna(got_parent) else dept.set_index("id")["name"].get(int(got_parent), got_parent)
            return CheckResult(False, f"部门“{name}”的上级部门是“{shown}”，应为“{parent}”：parent 参数要填上级部门的编号（id），"
                                      "先在 lab.table(\"department\") 里查到它。")
    extra = added[~added["name"].isin(list(NEW_DEPARTMENTS))]
    if len(extra):
        return CheckResult(False, f"多建了部门“{extra.iloc[0]['name']}”：只新建题目要求的三个部门（如需重做请运行 lab.undo(\"ch02.org\")）。")
    return CheckResult(True)


def _employee_by_name(ctx: Any, name: str) -> pd.DataFrame:
    emp = new_rows(ctx, "employee")
    return emp[emp["name"] == name]


def _check_hire(ctx: Any, name: str, spec: dict[str, str]) -> CheckResult | None:
    found = _employee_by_name(ctx, name)
    if found.empty:
        return CheckResult(False, f"没有找到新员工“{name}”：请用 lab.crm.hire(\"{name}\", \"{spec['login']}\", 部门编号, \"{spec['role']}\", ...) 录入。")
    if len(found) > 1:
        return CheckResult(False, f"员工“{name}”被录入了 {len(found)} 次。请运行 lab.undo(\"题号\")（本题的题号）撤销后重做。")
    e = found.iloc[0]
    dept = ctx.store.read("department").set_index("id")["name"]
    roles = ctx.store.read("role").set_index("id")
    if dept.get(int(e["department_id"])) != spec["department"]:
        return CheckResult(False, f"“{name}”所在部门是“{dept.get(int(e['department_id']))}”，应为“{spec['department']}”。")
    if roles.loc[int(e["role_id"]), "name"] != spec["role"]:
        return CheckResult(False, f"“{name}”的角色是“{roles.loc[int(e['role_id']), 'name']}”，应为“{spec['role']}”"
                                  f"（角色类型随角色而定：{spec['role']} 是“{roles.set_index('name').loc[spec['role'], 'role_type'] if spec['role'] in set(roles['name']) else '?'}”）。")
    for field in ("login", "title", "mobile"):
        if field in spec and str(e[field]) != spec[field]:
            return CheckResult(False, f"“{name}”的字段 {field} 是 {e[field]!r}，应为 {spec[field]!r}。")
    if e["status"] != "正常":
        return CheckResult(False, f"“{name}”的状态应为“正常”（在职）。")
    return None


def check_hires(ctx: Any, _answer: Any) -> CheckResult:
    for name, spec in HIRES.items():
        bad = _check_hire(ctx, name, spec)
        if bad is not None:
            return bad
    dept = ctx.store.read("department")
    sw = dept[dept["name"] == "西南销售组"]
    manager = _employee_by_name(ctx, SOUTHWEST_MANAGER)
    if sw.empty or pd.isna(sw.iloc[0]["manager_id"]) or int(sw.iloc[0]["manager_id"]) != int(manager.iloc[0]["id"]):
        return CheckResult(False, f"西南销售组的部门负责人还不是{SOUTHWEST_MANAGER}：请用 lab.crm.set_department_manager(部门编号, 员工编号)。")
    return CheckResult(True)


@operation("ch02.org", points=11)
def check_org(ctx: Any, answer: Any) -> CheckResult:
    """练习 1.1: the department subtree, then the two hires and the department manager."""
    first = check_departments(ctx, answer)
    return first if not first.ok else check_hires(ctx, answer)


@operation("ch02.handover", points=8)
def check_handover(ctx: Any, _answer: Any) -> CheckResult:
    who = leaver(ctx)
    emp = ctx.store.read("employee").set_index("id")
    if emp.loc[who["id"], "status"] != "离职":
        left = ctx.store.read("employee")
        wrong = left[(left["status"] == "离职") & ~left["id"].isin(
            ctx.pristine.read("employee").query("status == '离职'")["id"])]
        if len(wrong):
            return CheckResult(False, f"办理离职的是“{wrong.iloc[0]['name']}”，不对：离职的应是华南销售组在职销售代表"
                                      "（role_type 为“一般人员”）中入职日期最早的一位。")
        return CheckResult(False, "还没有为离职的销售代表办理离职：lab.crm.leave(员工编号)。")
    if pd.Timestamp(emp.loc[who["id"], "leave_date"]).normalize() != _today(ctx):
        return CheckResult(False, "离职日期应为今天（lab.today，不填 leave_date 即为今天）。")
    others = ctx.store.read("employee")
    pristine_left = set(ctx.pristine.read("employee").query("status == '离职'")["id"])
    wrong = others[(others["status"] == "离职") & ~others["id"].isin(pristine_left | {who["id"]})]
    if len(wrong):
        return CheckResult(False, f"“{wrong.iloc[0]['name']}”也被办理了离职：只有一位销售代表离职。请运行 lab.undo(\"ch02.handover\") 撤销后重做。")
    plan = handover(ctx)
    cust = ctx.store.read("customer").set_index("id")
    rep = _employee_by_name(ctx, SOUTHWEST_REP)
    if rep.empty:
        return CheckResult(False, f"先完成练习 1.1：西南地区的客户要转给新员工{SOUTHWEST_REP}。")
    target = {"西南": int(rep.iloc[0]["id"]), "华南主管": south_manager(ctx)}
    now = cust.loc[plan["customer_id"], "owner_id"].astype(int).to_numpy()
    want = plan["to"].map(target).to_numpy()
    still = int((now == who["id"]).sum())
    if still:
        return CheckResult(False, f"离职员工名下还有 {still} 个客户没有转移（共 {len(plan)} 个）：离职不会自动转移客户，"
                                  "请对每个客户调用 lab.crm.transfer_customer(客户编号, 新负责人)。")
    bad = now != want
    if bad.any():
        p = plan[bad]
        sw_wrong = p[p["to"] == "西南"]
        if len(sw_wrong):
            return CheckResult(False, f"有 {len(sw_wrong)} 个西南地区（重庆、四川、贵州、云南、西藏）的客户没有转给{SOUTHWEST_REP}，"
                                      f"如客户 {int(sw_wrong.iloc[0]['customer_id'])}（{sw_wrong.iloc[0]['province']}）：按客户的省份判断地区。")
        return CheckResult(False, f"有 {int(bad.sum())} 个非西南地区的客户没有转给华南销售组的部门负责人，"
                                  f"如客户 {int(p.iloc[0]['customer_id'])}（{p.iloc[0]['province']}）。")
    before = ctx.pristine.read("customer").set_index("id")["owner_id"]
    after = cust["owner_id"].reindex(before.index)
    moved = before.index[(before != after) & ~before.index.isin(plan["customer_id"])]
    if len(moved):
        return CheckResult(False, f"有 {len(moved)} 个不属于离职员工的客户也换了负责人（如客户 {int(moved[0])}）：只转移离职员工的客户。")
    return CheckResult(True)


# --- 任务二: roles, dictionaries, numbering -------------------------------------------------------------


def expected_rights() -> dict[str, dict[str, bool]]:
    from ...crm.permissions import default_rights

    table = default_rights(NEW_ROLE["role_type"])
    for module, r in NEW_ROLE_CHANGES.items():
        table[module] = dict(r)
    return table


@operation("ch02.role", points=8)
def check_role(ctx: Any, _answer: Any) -> CheckResult:
    roles = new_rows(ctx, "role")
    found = roles[roles["name"] == NEW_ROLE["name"]]
    if found.empty:
        return CheckResult(False, f"没有找到角色“{NEW_ROLE['name']}”：请用 lab.crm.add_role(...) 新建。")
    r = found.iloc[0]
    if r["role_type"] != NEW_ROLE["role_type"]:
        return CheckResult(False, f"角色类型是“{r['role_type']}”，应为“{NEW_ROLE['role_type']}”：大客户专员不审批订单。")
    if r["data_scope"] != NEW_ROLE["data_scope"]:
        return CheckResult(False, f"数据范围是“{r['data_scope']}”，应为“{NEW_ROLE['data_scope']}”：大客户部的专员要能看到"
                                  "本部门（含下级部门）同事的客户，但看不到其他部门的。")
    rights = ctx.store.read("role_right")
    rights = rights[rights["role_id"] == int(r["id"])].set_index("module")
    names = dict(reference.MODULES)
    labels = {"create": "新建", "read": "查看", "update": "修改", "delete": "删除"}
    for module, want in expected_rights().items():
        if module not in rights.index:
            return CheckResult(False, f"模块“{names[module]}”（{module}）没有权限记录。")
        for action, value in want.items():
            got = bool(rights.loc[module, f"can_{action}"])
            if got != value:
                return CheckResult(False, f"模块“{names[module]}”（{module}）的“{labels[action]}”权限是 {got}，应为 {value}。"
                                          "提示：rights 参数写出与“一般人员”默认权限不同的模块（题目表格中的三个模块）。")
    emp = _employee_by_name(ctx, KEY_ACCOUNT_HIRE["name"])
    if emp.empty:
        return CheckResult(False, f"还没有录入{KEY_ACCOUNT_HIRE['name']}并授予新角色：lab.crm.hire(..., role=\"{NEW_ROLE['name']}\")。")
    e = emp.iloc[0]
    dept = ctx.store.read("department").set_index("id")["name"]
    if int(e["role_id"]) != int(r["id"]):
        return CheckResult(False, f"{KEY_ACCOUNT_HIRE['name']}的角色不是“{NEW_ROLE['name']}”。")
    if dept.get(int(e["department_id"])) != KEY_ACCOUNT_HIRE["department"]:
        return CheckResult(False, f"{KEY_ACCOUNT_HIRE['name']}应在“{KEY_ACCOUNT_HIRE['department']}”，不是“{dept.get(int(e['department_id']))}”。")
    if str(e["login"]) != KEY_ACCOUNT_HIRE["login"]:
        return CheckResult(False, f"{KEY_ACCOUNT_HIRE['name']}的登录名应为 {KEY_ACCOUNT_HIRE['login']!r}。")
    return CheckResult(True)


def _dict(ctx_store: Any, list_name: str) -> pd.DataFrame:
    d = ctx_store.read("dictionary")
    return d[d["list_name"] == list_name].set_index("value")


def check_dictionary(ctx: Any, _answer: Any) -> CheckResult:
    src = _dict(ctx.store, "source")
    ind = _dict(ctx.store, "industry")
    if NEW_SOURCE not in src.index:
        return CheckResult(False, f"客户来源字典里还没有“{NEW_SOURCE}”：lab.crm.add_dictionary_value(\"source\", \"{NEW_SOURCE}\")。")
    if NEW_INDUSTRY not in ind.index:
        return CheckResult(False, f"行业字典里还没有“{NEW_INDUSTRY}”：字典名称是 \"industry\"。")
    if not bool(src.loc[NEW_SOURCE, "in_use"]):
        return CheckResult(False, f"不要停用刚添加的“{NEW_SOURCE}”：停用的候选只包括字典中原有的来源。"
                                  f"用 lab.crm.enable_dictionary_value(\"source\", \"{NEW_SOURCE}\") 重新启用。")
    if not bool(ind.loc[NEW_INDUSTRY, "in_use"]):
        return CheckResult(False, f"新增的行业“{NEW_INDUSTRY}”应处于启用状态。")
    want_default = default_source(ctx)
    defaults = list(src.index[src["is_default"].astype(bool)])
    if defaults != [want_default]:
        counts = recent_sources(ctx)
        got = defaults[0] if defaults else "（无）"
        hint = (f"客户来源的默认值是“{got}”，不对：应设为最近 365 天新增客户最多的来源"
                f"（按客户的创建日期统计，“{got}”只有 {int(counts.get(got, 0))} 个）。")
        return CheckResult(False, hint)
    off = source_to_disable(ctx)
    disabled = [v for v in src.index if not bool(src.loc[v, "in_use"])]
    before = _dict(ctx.pristine, "source")
    newly = [v for v in disabled if v in before.index and bool(before.loc[v, "in_use"])]
    if off not in disabled:
        counts = recent_sources(ctx)
        if NEW_SOURCE in disabled:
            return CheckResult(False, f"不要停用刚添加的“{NEW_SOURCE}”：候选只包括字典中原有的来源。"
                                      f"用 lab.crm.enable_dictionary_value(\"source\", \"{NEW_SOURCE}\") 重新启用。")
        if newly:
            v = newly[0]
            return CheckResult(False, f"停用的“{v}”最近 365 天有 {int(counts.get(v, 0))} 个新客户，不是最少的"
                                      "（不计“其他”和默认值；按客户的创建日期统计，只数最近 365 天）。")
        return CheckResult(False, "还没有停用最近 365 天新增客户最少的客户来源：lab.crm.disable_dictionary_value(\"source\", 值)。")
    if set(newly) != {off}:
        extra = sorted(set(newly) - {off})
        return CheckResult(False, f"多停用了“{extra[0]}”：只停用一个来源。可用 lab.crm.enable_dictionary_value 重新启用。")
    return CheckResult(True)


def check_numbering(ctx: Any, _answer: Any) -> CheckResult:
    rules = ctx.store.read("numbering_rule").set_index("entity")
    before = ctx.pristine.read("numbering_rule").set_index("entity")
    if CONTRACT_RULE["entity"] not in rules.index:
        return CheckResult(False, "还没有“合同”的编号规则：lab.crm.set_numbering_rule(\"合同\", ...)。")
    r = rules.loc[CONTRACT_RULE["entity"]]
    for field in ("prefix", "date_format", "width"):
        if str(r[field]) != str(CONTRACT_RULE[field]):
            return CheckResult(False, f"合同编号规则的 {field} 是 {r[field]!r}，应为 {CONTRACT_RULE[field]!r}。")
    if int(r["next_value"]) != CONTRACT_RULE["next_value"]:
        return CheckResult(False, f"合同编号的下一个流水号是 {int(r['next_value'])}，应从 1 开始：每调用一次 next_code 就会用掉一个号，"
                                  "重新运行 set_numbering_rule(..., next_value=1) 即可。")
    c = rules.loc[CUSTOMER_RULE["entity"]]
    for field in ("prefix", "date_format", "width"):
        if str(c[field]) != str(CUSTOMER_RULE[field]):
            return CheckResult(False, f"客户编号规则的 {field} 是 {c[field]!r}，应为 {CUSTOMER_RULE[field]!r}。")
    used = len(new_rows(ctx, "customer"))
    if int(c["next_value"]) < int(before.loc["customer", "next_value"]) + used:
        return CheckResult(False, "客户编号的流水号被改小了：题目要求保留当前的流水号（不传 next_value），"
                                  "否则新客户的编号可能与已有编号重复。")
    return CheckResult(True)


@operation("ch02.basics", points=10)
def check_basics(ctx: Any, answer: Any) -> CheckResult:
    """练习 2.2: dictionaries, then numbering rules."""
    first = check_dictionary(ctx, answer)
    return first if not first.ok else check_numbering(ctx, answer)


# --- 任务三: satisfaction ----------------------------------------------------------------------------------------


def latest_surveys(surveys: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest survey (latest survey_date; ties: larger id)."""
    s = surveys.sort_values(["customer_id", "survey_date", "id"])
    return s.groupby("customer_id", sort=True).tail(1).reset_index(drop=True)


def _sat_frame(s: pd.DataFrame) -> pd.DataFrame:
    s = s.sort_values("customer_id", kind="stable")
    b = s[PER].astype("float64").mean(axis=1)
    a = s[EXP].astype("float64").mean(axis=1)
    return pd.DataFrame({"customer_id": s["customer_id"].astype("int64").to_numpy(), "b": b.to_numpy(),
                         "a": a.to_numpy(), "c": (b / a).to_numpy()})


def _satisfaction(ctx: Any) -> pd.DataFrame:
    return ctx.once("ch02.sat", lambda: _sat_frame(latest_surveys(ctx.pristine.read("survey"))))


def _diagnose_sat(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"customer_id", "c"} <= set(answer.columns):
        return "答案应是包含 customer_id、b、a、c 四列的 DataFrame，每个参加过调查的客户一行。"
    surveys = ctx.pristine.read("survey")
    got = answer.set_index("customer_id")["c"]
    if len(got) > len(expected):
        return f"你的结果有 {len(got)} 行，应为 {len(expected)} 行：同一客户做过多次调查时只取最近一次（survey_date 最大）。"
    if got.index.is_unique and not got.index.is_monotonic_increasing:
        ordered = answer.sort_values("customer_id").reset_index(drop=True)
        if compare(ordered, expected).ok:
            return "结果正确，但请按 customer_id 从小到大排列各行（如 sat.sort_values(\"customer_id\")）。"
    first = _sat_frame(surveys.sort_values(["customer_id", "survey_date", "id"]).groupby("customer_id").head(1))
    allmean = _sat_frame(surveys.groupby("customer_id", as_index=False)[PER + EXP].mean())
    exp = expected.set_index("customer_id")["c"]
    common = got.index.intersection(exp.index)
    if len(common) == 0:
        return None
    g = got.loc[common].astype("float64")

    def same(other: pd.DataFrame) -> bool:
        o = other.set_index("customer_id")["c"].reindex(common)
        return bool(np.allclose(g, o, rtol=1e-6, equal_nan=True))

    if np.allclose(g, 1 / exp.loc[common], rtol=1e-6):
        return "c 算反了：满意度 c = b / a，b 是感知（per_），a 是期望（exp_）。"
    if same(first):
        return "你用的是每个客户最早的一次调查：应取最近一次（survey_date 最大；同一天取 id 大的）。"
    if same(allmean):
        return "你把客户的所有调查取了平均：应只取最近一次调查。"
    if np.allclose(g, g.round(2)) and not np.allclose(exp.loc[common], exp.loc[common].round(2)):
        return "不要四舍五入：保留完整精度（检查有 10⁻⁶ 的容差）。"
    return None


# key=None (rows in customer_id order): compare(key=...) raises on an answer with repeated keys
@calculation("ch02.satisfaction", points=8, diagnose=_diagnose_sat)
def satisfaction(ctx: Any) -> pd.DataFrame:
    return _satisfaction(ctx)


def _churn_by_sat(ctx: Any) -> dict[str, float]:
    sat = _satisfaction(ctx)
    cust = ctx.pristine.read("customer").set_index("id")
    lost = cust.loc[sat["customer_id"], "lifecycle"].eq("失效").to_numpy()
    low = (sat["c"] < 1).to_numpy()
    return {"c<1": float(lost[low].mean()), "c>=1": float(lost[~low].mean())}


def _diagnose_churn(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"c<1\": 流失率, \"c>=1\": 流失率}。"
    try:
        a, b = float(answer.get("c<1")), float(answer.get("c>=1"))
    except (TypeError, ValueError):
        return None
    if np.isclose(a, expected["c>=1"]) and np.isclose(b, expected["c<1"]):
        return "两组的流失率写反了：c < 1 是不满意的一组。"
    sat = _satisfaction(ctx)
    cust = ctx.pristine.read("customer").set_index("id")
    lost = cust.loc[sat["customer_id"], "lifecycle"].eq("失效").to_numpy()
    low = (sat["c"] < 1).to_numpy()
    if np.isclose(a, lost[low].sum()) or np.isclose(b, lost[~low].sum()):
        return "流失率是比例（流失客户数 ÷ 该组客户数），不是流失客户的个数。"
    return None


@calculation("ch02.churn_by_sat", points=5, what="流失率", diagnose=_diagnose_churn)
def churn_by_sat(ctx: Any) -> dict[str, float]:
    return _churn_by_sat(ctx)


def cdv_table() -> dict[str, Any]:
    """Customer delivered value of each offer (总价值 − 总成本) and the offer a customer picks."""
    out: dict[str, Any] = {}
    for name, v in OFFERS.items():
        value = v["product"] + v["service"] + v["personnel"] + v["image"]
        cost = v["money"] + v["time"] + v["psychic"] + v["energy"]
        out[name] = float(value - cost)
    out["选择"] = max(OFFERS, key=lambda k: out[k])
    return out


def _diagnose_cdv(_ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    money_only = {k: float(sum(v[x] for x in ("product", "service", "personnel", "image")) - v["money"])
                  for k, v in OFFERS.items()}
    numbers = {k: answer.get(k) for k in OFFERS}
    if all(isinstance(v, (int, float)) for v in numbers.values()) and all(
            np.isclose(float(numbers[k]), money_only[k]) for k in OFFERS):
        return "客户总成本不只是价格（货币成本），还包括时间成本、精神成本和体力成本。"
    if answer.get("选择") == min(OFFERS, key=lambda k: OFFERS[k]["money"]):
        return "客户不是简单地选最便宜的：按让渡价值（总价值 − 总成本）最大的来选。"
    return None


@calculation("ch02.cdv", points=4, what="让渡价值", diagnose=_diagnose_cdv)
def cdv(_ctx: Any) -> dict[str, Any]:
    from ...analytics import delivered_value

    out: dict[str, Any] = {k: float(delivered_value(**v)["cdv"]) for k, v in OFFERS.items()}
    out["选择"] = max(OFFERS, key=lambda k: out[k])
    return out


# --- 任务四: loyalty and credit ------------------------------------------------------------------------------


def _diagnose_loyalty(_ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：{\"情形1\": \"…忠诚\", …}。"
    unknown = sorted({str(v) for v in answer.values()} - set(LOYALTY_TYPES))
    if unknown:
        return f"“{unknown[0]}”不是六种忠诚类型之一：{'、'.join(LOYALTY_TYPES)}。"
    wrong = [k for k in expected if answer.get(k) != expected[k]]
    if not wrong:
        return None
    k = wrong[0]
    tips = {
        "垄断忠诚": "客户别无选择（只有一家供应商）时的“忠诚”是垄断忠诚。",
        "惰性忠诚": "因为懒得换、嫌麻烦而继续购买，是惰性忠诚。",
        "方便忠诚": "因为地点或渠道方便而重复购买，是方便忠诚。",
        "价格忠诚": "只因价格最低而购买、对价格很敏感，是价格忠诚。",
        "激励忠诚": "为了积分、奖励等激励而重复购买，是激励忠诚。",
        "超值忠诚": "认可产品和服务的价值、主动推荐，是超值忠诚——最稳定的一种。",
    }
    return f"共有 {len(wrong)} 个情形判断错误，如“{k}”。再读一遍它的关键词：{tips[expected[k]]}"


@judgement("ch02.loyalty", points=5, diagnose=_diagnose_loyalty)
def loyalty(_ctx: Any) -> dict[str, str]:
    return dict(LOYALTY_KEY)


def _behaviour_of(store: Any, customers: Any, today: pd.Timestamp) -> pd.DataFrame:
    """analytics.credit_behaviour for ``customers`` only (a customer's grade depends only on the
    plans and payments of its own orders)."""
    orders = store.read("sales_order")
    orders = orders[orders["customer_id"].isin(list(customers))]
    plans = store.read("payment_plan")
    payments = store.read("payment")
    return credit_behaviour(plans[plans["order_id"].isin(orders["id"])], payments[payments["order_id"].isin(orders["id"])],
                            as_of=today, orders=orders)


def behaviour(ctx: Any) -> pd.DataFrame:
    """Payment-behaviour credit (analytics.credit_behaviour) of the customers in the credit survey."""
    def build() -> pd.DataFrame:
        ids = read_credit_survey(ctx.files["credit_survey"])["customer_id"].astype(int)
        return _behaviour_of(ctx.pristine, set(ids), _today(ctx))
    return ctx.once("ch02.behaviour", build)


def build_files(world: Any, directory: Path) -> dict[str, Any]:
    """The credit survey (5C ratings, 1–5) of eight enterprise customers of this world: four
    persistent late payers — two of them rated well by the account managers — and four good
    payers, each with at least three instalments due."""
    store = world.store
    today = pd.Timestamp(world.today)
    rng = np.random.default_rng([int(world.seed), 2])
    cust = store.read("customer")
    ent = cust[(cust["kind"] == "企业") & ~cust["deleted"]][["id", "name"]].rename(columns={"id": "customer_id"})
    orders = store.read("sales_order")[["id", "customer_id"]]
    plans = store.read("payment_plan").merge(orders.rename(columns={"id": "order_id"}), on="order_id")
    due = plans[plans["due_date"] <= today].groupby("customer_id").size()
    candidates = np.array(sorted(set(due[due >= 3].index) & set(ent["customer_id"])))
    # the behaviour of a customer depends only on its own plans and payments: score a sample
    sample = set(rng.choice(candidates, min(len(candidates), 150), replace=False).tolist())
    beh = _behaviour_of(store, sample, today)
    beh = beh.merge(ent, on="customer_id")
    bad = beh[beh["grade"] == "D"].sort_values("customer_id")
    good = beh[beh["grade"] == "A"].sort_values("customer_id")
    bad = bad.iloc[np.sort(rng.choice(len(bad), 4, replace=False))]
    good = good.iloc[np.sort(rng.choice(len(good), 4, replace=False))]
    rows = []
    for i, (_, r) in enumerate(pd.concat([bad, good]).iterrows()):
        if i < 2:      # late payers rated well: 4s and 5s
            ratings = rng.integers(4, 6, size=5)
        elif i < 4:    # late payers rated poorly
            ratings = rng.integers(1, 4, size=5)
        else:          # good payers: mostly good ratings, not always
            ratings = rng.integers(2, 6, size=5)
        rows.append({"customer_id": int(r["customer_id"]), "客户名称": r["name"],
                     **{c: int(x) for c, x in zip(WEIGHTS_5C, ratings)}})
    frame = pd.DataFrame(rows).sample(frac=1, random_state=int(world.seed) % (2**32)).reset_index(drop=True)
    path = Path(directory) / "credit_survey.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return {"credit_survey": path}


def read_credit_survey(path: Any) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig")


def _five_c(ctx: Any) -> pd.DataFrame:
    survey = read_credit_survey(ctx.files["credit_survey"])
    out = credit_5c(survey, weights=WEIGHTS_5C, scale=SCALE_5C)
    out["score"] = out["score"].round(2)
    return out[["customer_id", "score", "grade"]].astype({"customer_id": "int64"}).reset_index(drop=True)


def _diagnose_5c(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"customer_id", "score"} <= set(answer.columns):
        return "答案应是包含 customer_id、score、grade 三列的 DataFrame。"
    survey = read_credit_survey(ctx.files["credit_survey"])
    got = answer.set_index("customer_id")["score"].astype("float64")
    equal = credit_5c(survey, scale=SCALE_5C).set_index("customer_id")["score"]
    raw = (sum(WEIGHTS_5C[c] * survey[c] for c in WEIGHTS_5C) / sum(WEIGHTS_5C.values()))
    raw.index = survey["customer_id"]
    to100 = raw * 20
    for other, text in ((equal, "你用了等权平均：请按题目给出的权重（品质 0.30、能力 0.25 …）加权。"),
                        (raw, "评分还没有换算到 0–100 分：每项先按 100 × (评分 − 1) / (5 − 1) 换算。"),
                        (to100, "换算公式不对：1–5 分制的最低分 1 分应换算为 0 分，即 100 × (评分 − 1) / 4，而不是评分 × 20。")):
        o = other.reindex(got.index)
        if np.allclose(got, o, rtol=1e-6, equal_nan=True):
            return text
    if "grade" in answer.columns and np.allclose(got, expected.set_index("customer_id")["score"].reindex(got.index)):
        return "分数正确，等级不对：AAA ≥ 90，AA ≥ 80，A ≥ 70，B ≥ 60，其余为 C（“≥”含等于）。"
    return None


@calculation("ch02.credit_5c", points=5, key="customer_id", diagnose=_diagnose_5c)
def five_c(ctx: Any) -> pd.DataFrame:
    return _five_c(ctx)


def _risky(ctx: Any) -> list[int]:
    five = _five_c(ctx)
    beh = behaviour(ctx).set_index("customer_id")["grade"]
    five["behaviour"] = five["customer_id"].map(beh)
    hit = five[five["grade"].isin(GOOD_5C) & five["behaviour"].isin(BAD_BEHAVIOUR)]
    return sorted(int(x) for x in hit["customer_id"])


def _diagnose_risky(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        got = {int(x) for x in answer}
    except (TypeError, ValueError):
        return "答案应是客户编号（整数）的列表。"
    five = _five_c(ctx).set_index("customer_id")
    beh = behaviour(ctx).set_index("customer_id")["grade"]
    ids = set(five.index)
    if got - ids:
        return "名单中有不在信用调查表里的客户：只在 lab.files.credit_survey 的 8 个客户中找。"
    bad_beh = {i for i in ids if beh.get(i) in BAD_BEHAVIOUR}
    good_5c = {i for i in ids if five.loc[i, "grade"] in GOOD_5C}
    if got == bad_beh:
        return "你列出了所有回款差的客户：题目只要 5C 等级为 A 及以上（AAA、AA、A）、回款等级却为 C 或 D 的客户。"
    if got == good_5c:
        return "你列出了所有 5C 等级高的客户：还要看他们的回款行为等级（C 或 D 才算“评分高但回款差”）。"
    if got == {i for i in ids if five.loc[i, "grade"] == "A" and beh.get(i) in BAD_BEHAVIOUR}:
        return "“A 及以上”包括 AAA、AA 和 A 三个等级。"
    return None


@calculation("ch02.risky", points=6, what="客户", diagnose=_diagnose_risky)
def risky(ctx: Any) -> list[int]:
    return _risky(ctx)


# --- 任务五: CLV by customer level ----------------------------------------------------------------------


def order_margins(store: Any) -> pd.DataFrame:
    """Gross margin (excluding tax) of each approved order line with its customer and year:
    quantity × unit_price × (1 − discount) − quantity × product cost."""
    orders = store.read("sales_order")
    orders = orders[orders["approval"] == "同意"][["id", "customer_id", "order_date"]]
    lines = store.read("order_line").merge(store.read("product")[["id", "cost"]].rename(columns={"id": "product_id"}),
                                           on="product_id")
    lines = lines.merge(orders.rename(columns={"id": "order_id"}), on="order_id")
    q = lines["quantity"].astype("float64")
    lines["margin"] = q * lines["unit_price"] * (1 - lines["discount"]) - q * lines["cost"]
    lines["year"] = lines["order_date"].dt.year
    return lines


def clv_formula(m: float, r: float, d: float = DISCOUNT, n: int = PERIODS) -> float:
    return float(sum(m * r**t / (1 + d) ** t for t in range(1, n + 1)))


def _clv_table(ctx: Any, *, margin_over: str = "retained") -> pd.DataFrame:
    today = _today(ctx)
    this, last = today.year, today.year - 1
    cust = ctx.pristine.read("customer")
    cust = cust[~cust["deleted"] & cust["level"].notna()]
    lines = order_margins(ctx.pristine)
    lines = lines[lines["order_date"] <= today]
    bought_last = set(lines.loc[lines["year"] == last, "customer_id"])
    this_margin = lines[lines["year"] == this].groupby("customer_id")["margin"].sum()
    rows = []
    for level in reference.DICTIONARIES["customer_level"]["values"]:
        seg = cust[(cust["level"] == level) & cust["id"].isin(bought_last)]["id"]
        if seg.empty:
            continue
        kept = seg[seg.isin(this_margin.index)]
        r = len(kept) / len(seg)
        if margin_over == "retained":
            m = float(this_margin.reindex(kept).mean()) if len(kept) else 0.0
        else:
            m = float(this_margin.reindex(seg).fillna(0).mean())
        rows.append({"level": level, "customers": int(len(seg)), "retention": r, "margin": m,
                     "clv": clv_formula(m, r)})
    return pd.DataFrame(rows)


def _diagnose_clv(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "level" not in answer.columns:
        return "答案应是包含 level、customers、retention、margin、clv 五列的 DataFrame，每个客户等级一行。"
    got = answer.set_index("level")
    exp = expected.set_index("level")
    common = got.index.intersection(exp.index)
    if "customers" in got and not np.allclose(got.loc[common, "customers"].astype(float), exp.loc[common, "customers"]):
        return "customers（细分客户数）不对：只统计去年（2024 年）有已审批订单、且客户等级不为空的未删除客户。"
    if "retention" in got and not np.allclose(got.loc[common, "retention"].astype(float), exp.loc[common, "retention"]):
        return "retention 不对：保持率 = 今年（2025 年，截至 lab.today）也有已审批订单的客户数 ÷ 该等级去年有已审批订单的客户数。"
    if "margin" in got:
        gm = got.loc[common, "margin"].astype(float)
        other = _clv_table(ctx, margin_over="all").set_index("level")
        if np.allclose(gm, other.loc[common, "margin"], rtol=1e-6):
            return "margin 应是“保留下来的客户”（今年有订单）的平均毛利，你把没买的客户也算了进去（按 0）。"
    if "clv" in got:
        inf = exp.loc[common, "margin"] * exp.loc[common, "retention"] / (1 + DISCOUNT - exp.loc[common, "retention"])
        if np.allclose(got.loc[common, "clv"].astype(float), inf, rtol=1e-6):
            return f"你用了无限期公式：题目要求只算未来 {PERIODS} 年（t = 1 … {PERIODS}）。"
    return None


@calculation("ch02.clv", points=10, key="level", diagnose=_diagnose_clv)
def clv(ctx: Any) -> pd.DataFrame:
    return ctx.once("ch02.clv", lambda: _clv_table(ctx))


__all__ = ["NEW_DEPARTMENTS", "HIRES", "NEW_ROLE", "NEW_ROLE_CHANGES", "KEY_ACCOUNT_HIRE", "NEW_SOURCE",
           "NEW_INDUSTRY", "CONTRACT_RULE", "CUSTOMER_RULE", "OFFERS", "LOYALTY_KEY", "WEIGHTS_5C", "SOUTHWEST",
           "leaver", "south_manager", "handover", "recent_sources", "default_source", "source_to_disable",
           "expected_rights", "latest_surveys", "cdv_table", "behaviour", "build_files", "read_credit_survey",
           "order_margins", "clv_formula", "max_id"]
