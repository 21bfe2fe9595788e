"""ch04 客户与联系人管理 — questions and files.

Tasks: create customers and contacts (operation); import the expo lead list, find the rows
that duplicate existing customers (calculation) and import the rest (operation); convert the
decision makers' leads (operation); derive every customer's status type (calculation) and
match strategies to types (judgement); share a key customer with the manager (operation).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from ...analytics import status_types
from ..checks import CheckResult, compare
from ..questions import calculation, judgement, operation
from . import max_id, new_rows

CUSTOMERS = 2000

#: the enterprise customer of 任务一 (the same for every student; graded in their database)
NEW_CUSTOMER = {"name": "星河数据科技有限公司", "kind": "企业", "industry": "信息技术服务", "source": "展会",
                "province": "浙江省", "city": "杭州市", "phone": "0571-88886666"}
NEW_CONTACT = {"name": "周敏", "mobile": "13905710001", "email": "zhoumin@xinghe-data.cn", "title": "采购经理",
               "buying_role": "决策者"}
NEW_PERSON = {"name": "林晓", "kind": "个人", "source": "客户介绍", "province": "浙江省", "city": "宁波市",
              "phone": "13800571234"}
#: titles whose leads 任务三 converts
DECISION_TITLES = ("总经理", "采购经理")
CONVERT_AMOUNT = 50000


def build_files(world: Any, directory: Path) -> dict[str, Any]:
    """The expo lead list of this world, written as a CSV file the student imports."""
    from ...sim.datasets import expo_leads

    frame, _truth = expo_leads(world)
    path = Path(directory) / "expo_leads.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return {"expo_leads": path}


# --- helpers: an independent duplicate rule (not the CRM's own code) --------------------------

#: words of a company's legal form, removed before comparing names
_LEGAL_WORDS = ("股份", "有限", "责任", "公司")


def company_key(name: Any) -> str:
    """Company name for comparison: half-width, no spaces or brackets, no legal-form words."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name)
    text = re.sub(r"[\s()（）]", "", text)
    for word in _LEGAL_WORDS:
        text = text.replace(word, "")
    return text


def mobile_key(value: Any) -> str:
    return re.sub(r"\D", "", value) if isinstance(value, str) else ""


def email_key(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _read_leads(path: Any) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _duplicate_kinds(ctx: Any) -> pd.DataFrame:
    """For each file row (1-based), which existing-customer rule it matches."""
    def build() -> pd.DataFrame:
        leads = _read_leads(ctx.files["expo_leads"])
        cust = ctx.pristine.read("customer", columns=["id", "name", "phone", "email", "deleted"])
        cust = cust[~cust["deleted"]]
        contact = ctx.pristine.read("contact", columns=["id", "customer_id", "mobile", "email"])
        contact = contact[contact["customer_id"].isin(cust["id"])]
        names = {company_key(n) for n in cust["name"]} - {""}
        mobiles = ({mobile_key(m) for m in contact["mobile"]} | {mobile_key(m) for m in cust["phone"]}) - {""}
        emails = ({email_key(e) for e in contact["email"]} | {email_key(e) for e in cust["email"]}) - {""}
        return pd.DataFrame({
            "row": leads.index + 1,
            "company": [company_key(x) in names for x in leads["公司名称"]],
            "mobile": [mobile_key(x) in mobiles for x in leads["手机"]],
            "email": [email_key(x) in emails for x in leads["电子邮件"]],
            "exact_company": leads["公司名称"].isin(set(cust["name"])).to_numpy(),
        })
    return ctx.once("ch04.dup_kinds", build, pristine=True)


def _dup_rows(ctx: Any) -> list[int]:
    k = _duplicate_kinds(ctx)
    return sorted(int(r) for r in k.loc[k["company"] | k["mobile"] | k["email"], "row"])


def _diagnose_dups(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        got = {int(x) for x in answer}
    except (TypeError, ValueError):
        return "答案应是行号（整数）的列表，如 [3, 8, 15]。"
    k = _duplicate_kinds(ctx).set_index("row")
    n_rows = len(k)
    if got >= set(range(1, n_rows + 1)):
        return "不能把所有行都算作重复：只有与现有客户同名、同手机或同邮箱的行才是重复。"
    if 0 in got or got and max(got) > n_rows:
        return f"行号应从 1 开始（文件第一条数据为第 1 行），到 {n_rows} 为止。"
    missing = set(expected) - got
    if missing:
        m = k.loc[sorted(missing)]
        name_only = m[m["company"] & ~m["exact_company"] & ~m["mobile"] & ~m["email"]]
        if len(name_only):
            return (f"你找到了 {len(got & set(expected))} 行，但漏了 {len(missing)} 行；其中 {len(name_only)} 行的公司名称"
                    "只是“有限公司/有限责任公司”、括号、空格或全角字符的写法不同——比较前先统一名称。")
        if m["mobile"].any():
            return f"漏了 {len(missing)} 行：有的行与现有联系人的手机号相同（注意去掉空格和横线）。"
        if m["email"].any():
            return f"漏了 {len(missing)} 行：有的行与现有联系人的电子邮件相同（比较前统一为小写）。"
    extra = got - set(expected)
    if extra:
        return (f"多了 {len(extra)} 行（如第 {sorted(extra)[0]} 行）：它们不与现有客户重复。"
                "文件内部互相重复的行不算“与现有客户重复”。")
    return None


# --- 任务一: customers and contacts -------------------------------------------------------------


def _find_customer(ctx: Any, name: str) -> pd.DataFrame:
    cust = new_rows(ctx, "customer")
    return cust[(cust["name"].map(company_key) == company_key(name)) & ~cust["deleted"]]


@operation("ch04.new_customer", points=10)
def check_new_customer(ctx: Any, _answer: Any) -> CheckResult:
    found = _find_customer(ctx, NEW_CUSTOMER["name"])
    if found.empty:
        return CheckResult(False, f"数据库中没有找到新建的企业客户“{NEW_CUSTOMER['name']}”。请用 lab.crm.create_customer(...) 创建。")
    if len(found) > 1:
        return CheckResult(False, f"“{NEW_CUSTOMER['name']}”被创建了 {len(found)} 次：重复运行了创建单元格？请运行 lab.undo(\"ch04.new_customer\") 撤销后重做。")
    c = found.iloc[0]
    for field in ("kind", "industry", "source", "province", "city", "phone"):
        if str(c[field]) != NEW_CUSTOMER[field]:
            return CheckResult(False, f"客户的字段 {field} 是 {c[field]!r}，应为 {NEW_CUSTOMER[field]!r}。")
    if int(c["owner_id"]) != int(ctx.me["id"]):
        return CheckResult(False, "客户的负责人应是你自己（lab.me）。")
    mine = ctx.store.read("contact", where={"customer_id": int(c["id"])})  # the new customer's contacts
    primary = mine[mine["status"] == "主联系人"]
    if primary.empty:
        return CheckResult(False, f"客户还没有主联系人：请用 lab.crm.add_contact(..., primary=True) 添加“{NEW_CONTACT['name']}”。")
    p = primary.iloc[0]
    for field in ("name", "mobile", "email", "title", "buying_role"):
        if str(p[field]) != NEW_CONTACT[field]:
            return CheckResult(False, f"主联系人的字段 {field} 是 {p[field]!r}，应为 {NEW_CONTACT[field]!r}。")
    return CheckResult(True)


@operation("ch04.new_person", points=5)
def check_new_person(ctx: Any, _answer: Any) -> CheckResult:
    cust = new_rows(ctx, "customer")
    found = cust[(cust["name"] == NEW_PERSON["name"]) & (cust["kind"] == "个人") & ~cust["deleted"]]
    if found.empty:
        return CheckResult(False, f"没有找到个人客户“{NEW_PERSON['name']}”（客户类型应为“个人”）。")
    c = found.iloc[0]
    for field in ("source", "province", "city", "phone"):
        if str(c[field]) != NEW_PERSON[field]:
            return CheckResult(False, f"个人客户的字段 {field} 是 {c[field]!r}，应为 {NEW_PERSON[field]!r}。")
    return CheckResult(True)


# --- 任务二: duplicates and import ---------------------------------------------------------------


@calculation("ch04.dup_rows", points=15, diagnose=_diagnose_dups, what="重复行")
def dup_rows(ctx: Any) -> list[int]:
    return _dup_rows(ctx)


def _expected_import(ctx: Any) -> pd.DataFrame:
    """Rows the lab asks to import: not duplicating a customer, first occurrence within the
    file (same company key or same mobile), and acceptable to the CRM's lead rules."""
    from ...crm import CRM

    leads = _read_leads(ctx.files["expo_leads"])
    dups = set(_dup_rows(ctx))
    keep, seen_company, seen_mobile = [], set(), set()
    for i, r in leads.iterrows():
        row = i + 1
        ck, mk = company_key(r["公司名称"]), mobile_key(r["手机"])
        first = not ((ck and ck in seen_company) or (mk and mk in seen_mobile))
        if ck:
            seen_company.add(ck)
        if mk:
            seen_mobile.add(mk)
        if row not in dups and first:
            keep.append(i)
    candidates = leads.loc[keep]
    # which of them the CRM accepts: import into a scratch copy of the pristine world
    from ...store import Store

    scratch = Store()
    try:
        report = _scratch_import(ctx, scratch, candidates, CRM)
    finally:
        scratch.close()
    accepted = report[report["accepted"]]["row"].astype(int) - 2  # report rows count the header as row 1
    return candidates.iloc[sorted(set(accepted.tolist()))]


def _scratch_import(ctx: Any, scratch: Any, candidates: pd.DataFrame, CRM: Any) -> pd.DataFrame:
    """Run the CRM's import on a copy of just what the lead rules need (employees, dictionaries)."""
    for table in ("department", "role", "role_right", "employee", "numbering_rule"):
        frame = ctx.pristine.read(table, resolve=False)
        if table == "department":
            frame = frame.assign(manager_id=pd.NA)
        scratch.bulk_insert(table, frame)
    crm = CRM.system(scratch, now=pd.Timestamp("2000-01-01").to_pydatetime())
    report = crm.import_leads(candidates.reset_index(drop=True), owner=int(ctx.me["id"]))
    return report.drop_duplicates("row")


@operation("ch04.import", points=10)
def check_import(ctx: Any, _answer: Any) -> CheckResult:
    expected = ctx.once("ch04.expected_import", lambda: _expected_import(ctx), pristine=True)
    added = new_rows(ctx, "lead")
    want = sorted(zip(expected["联系人姓名"].str.strip(), expected["手机"].map(mobile_key)))
    got = sorted(zip(added["name"].astype(str), added["mobile"].fillna("").map(mobile_key)))
    if not got:
        return CheckResult(False, "数据库中没有新导入的线索：请用 lab.crm.import_leads(...) 导入。")
    result = compare(got, want, what="导入的线索")
    if result.ok:
        if (added["owner_id"] != int(ctx.me["id"])).any():
            return CheckResult(False, "导入的线索的负责人应是你自己（owner=lab.me['id']）。")
        return result
    dups = set(_dup_rows(ctx))
    leads = _read_leads(ctx.files["expo_leads"])
    dup_keys = {(leads.loc[r - 1, "联系人姓名"].strip(), mobile_key(leads.loc[r - 1, "手机"])) for r in dups}
    if set(got) & dup_keys:
        return CheckResult(False, "导入了与现有客户重复的行：先去掉练习 2.1 找到的重复行，再导入。", result.details)
    if len(got) > len(want):
        return CheckResult(False, f"导入了 {len(got)} 条，应为 {len(want)} 条：文件内部重复的行只保留第一次出现；"
                                  "重复运行了导入单元格也会造成重复。", result.details)
    return CheckResult(False, f"导入的线索与要求不符：{result.hint}", result.details)


# --- 任务三: convert decision makers' leads -----------------------------------------------------------


@operation("ch04.convert", points=10)
def check_convert(ctx: Any, _answer: Any) -> CheckResult:
    leads = new_rows(ctx, "lead")
    if leads.empty:
        return CheckResult(False, "还没有导入线索（任务二），无法检查转化。")
    should = leads["title"].isin(DECISION_TITLES)
    converted = leads["status"] == "已转化"
    if not converted.any():
        return CheckResult(False, "没有线索被转化：请对职务为总经理或采购经理的线索调用 lab.crm.convert_lead(...)。")
    wrong = leads[converted & ~should]
    if len(wrong):
        return CheckResult(False, f"有 {len(wrong)} 条线索不该转化（如“{wrong.iloc[0]['name']}”，职务 {wrong.iloc[0]['title']}）：只转化决策者的线索。")
    missed = leads[should & ~converted]
    if len(missed):
        return CheckResult(False, f"还有 {len(missed)} 条决策者线索没有转化（如“{missed.iloc[0]['name']}”，{missed.iloc[0]['title']}）。")
    made = ctx.store.read("opportunity", columns=["id", "amount"],  # the opportunities of the converted leads
                          where={"id": [int(x) for x in leads.loc[converted, "opportunity_id"].dropna()]})
    if len(made) != int(converted.sum()) or (made["amount"] != CONVERT_AMOUNT).any():
        return CheckResult(False, f"每条转化的线索都应生成一个预计金额为 {CONVERT_AMOUNT} 元的销售机会。")
    return CheckResult(True)


# --- 任务四: status types -------------------------------------------------------------------------------


@calculation("ch04.status_types", points=20, key="customer_id")
def status_type_table(ctx: Any) -> pd.DataFrame:
    store = ctx.store  # the database as the student left it (their new customers included)
    cust = store.read("customer", columns=["id", "lifecycle", "deleted"])  # only the columns the rules use
    cust = cust[~cust["deleted"]]
    orders = store.read("sales_order", columns=["id", "customer_id", "approval", "order_date"])
    today = ctx.world.today if ctx.world is not None else orders["order_date"].max()
    out = status_types(cust, orders, store.read("opportunity", columns=["id", "customer_id"]), as_of=today)
    return out[["customer_id", "status_type"]]


STRATEGY_KEY = {"目标客户": "A", "初次购买客户": "B", "重复购买客户": "C", "流失客户": "D"}


@judgement("ch04.strategy", points=5)
def strategy(_ctx: Any) -> dict[str, str]:
    return dict(STRATEGY_KEY)


# --- 任务五: share the best customer with the manager --------------------------------------------------


def my_manager(ctx: Any) -> int:
    """The 主管 of the student's department (or of the nearest parent department)."""
    emp = ctx.pristine.read("employee")
    dept = ctx.pristine.read("department").set_index("id")
    d = int(ctx.me["department_id"])
    while True:
        managers = emp[(emp["department_id"] == d) & (emp["role_type"] == "主管") & (emp["status"] == "正常")]
        if len(managers):
            return int(managers.sort_values("id").iloc[0]["id"])
        parent = dept.loc[d, "parent_id"]
        if pd.isna(parent):
            boss = emp[(emp["role_type"] == "老板") & (emp["status"] == "正常")]
            return int(boss.sort_values("id").iloc[0]["id"])
        d = int(parent)


def best_customer(ctx: Any) -> int:
    """The student's customer not yet shared with the manager with the largest total of
    approved orders (ties: smaller id)."""
    cust = ctx.pristine.read("customer", columns=["id", "owner_id", "deleted"])
    shares = ctx.pristine.read("customer_share", columns=["id", "customer_id", "employee_id"])
    already = set(shares.loc[shares["employee_id"] == my_manager(ctx), "customer_id"])
    mine = cust[(cust["owner_id"] == int(ctx.me["id"])) & ~cust["deleted"] & ~cust["id"].isin(already)]
    orders = ctx.pristine.read("sales_order", columns=["id", "customer_id", "approval", "total_amount"])
    orders = orders[(orders["approval"] == "同意") & orders["customer_id"].isin(mine["id"])]
    totals = orders.groupby("customer_id")["total_amount"].sum().reset_index()
    totals = totals.sort_values(["total_amount", "customer_id"], ascending=[False, True])
    return int(totals.iloc[0]["customer_id"])


@operation("ch04.share", points=5)
def check_share(ctx: Any, _answer: Any) -> CheckResult:
    target, manager = best_customer(ctx), my_manager(ctx)
    shares = new_rows(ctx, "customer_share")
    if shares.empty:
        return CheckResult(False, "还没有共享任何客户：请用 lab.crm.share_customer(客户编号, 主管编号)。")
    hit = shares[(shares["customer_id"] == target) & (shares["employee_id"] == manager)]
    if hit.empty:
        wrong_customer = shares[shares["employee_id"] == manager]
        if len(wrong_customer):
            return CheckResult(False, "共享给主管的不是你名下（尚未共享给主管的客户中）成交金额最高的客户："
                                      "按已审批（同意）订单的总金额计算。")
        return CheckResult(False, "共享对象不对：应共享给你所在部门的主管。")
    return CheckResult(True)


__all__ = ["NEW_CUSTOMER", "NEW_CONTACT", "NEW_PERSON", "DECISION_TITLES", "company_key", "mobile_key",
           "email_key", "my_manager", "best_customer", "build_files", "max_id"]
