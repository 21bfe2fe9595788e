"""ch05 客户信息管理与统计分析 — world set-up and questions.

Tasks: classify information by type (judgement); assemble the archive (客户档案) of the top
customers from several tables (calculation); a data-quality report of the contact table and
its differences between sales groups (calculation); a masked export (operation) and the
masking rules written in pandas (calculation); distribution, contribution, quarterly growth
and receivables ageing (calculation); behaviour-based credit grades, whose credit limit to
lower (calculation) and the four kinds of analysis (judgement).

:func:`prepare_world` makes the contact table as dirty as real CRM data: blank and malformed
mobile numbers and e-mail addresses, and contacts entered twice — much more often in one
sales group (a different one in each world), so that the quality report has something to find.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, update

from ...analytics import contribution, credit_behaviour, data_quality, distribution, growth, receivables_aging
from ...locales import get_locale
from ...store import schema
from ..checks import CheckResult, compare
from ..questions import calculation, judgement, operation
from . import new_rows

CUSTOMERS = 2000

#: purpose the export of 任务四 must carry
EXPORT_PURPOSE = "年度客户信息统计分析"
#: number of customers in the archive of 任务二
ARCHIVE_TOP = 10
ARCHIVE_COLUMNS = ["customer_id", "code", "name", "kind", "city", "owner", "primary_contact", "contacts",
                   "orders", "sales", "last_order", "paid", "complaints"]
AGING_COLUMNS = ["0-30", "31-60", "61-90", ">90"]
#: label of the individual customers in the industry contribution (they have no industry)
PERSON_INDUSTRY = "个人客户"

# --- the dirty contact table -------------------------------------------------------------------

#: share of contacts damaged in the careless sales group and elsewhere
_DIRTY_RATE, _CLEAN_RATE = 0.14, 0.02
_DUP_RATE_DIRTY, _DUP_RATE_CLEAN = 0.05, 0.01


def _bad_mobile(rng: np.random.Generator, mobile: str) -> Any:
    kind = rng.integers(0, 6)
    if kind == 0:
        return None                       # never asked
    if kind == 1:
        return ""                         # the form was submitted empty
    if kind == 2:
        return mobile[:-1]                # a digit lost: 10 digits
    if kind == 3:
        return "12" + mobile[2:]          # no mobile number starts with 12
    if kind == 4:
        return mobile[:3] + "O" + mobile[4:]   # letter O typed for zero
    return mobile + str(rng.integers(0, 10))  # one digit too many


def _bad_email(rng: np.random.Generator, email: str) -> Any:
    kind = rng.integers(0, 5)
    user, _, domain = email.partition("@")
    if kind == 0:
        return "  "                       # blanks only
    if kind == 1:
        return f"{user}#{domain}"         # @ mistyped
    if kind == 2:
        return f"{user}@{domain.replace('.', '')}"   # no dot in the domain
    if kind == 3:
        return f"{user}@@{domain}"
    return f"{user} @{domain}"            # a space inside


def dirty_department(store: Any, seed: int) -> int:
    """The sales group whose reps enter contacts carelessly in this world."""
    dept = store.read("department").sort_values("id")
    groups = dept.loc[dept["name"].astype(str).str.endswith("销售组"), "id"].tolist()
    rng = np.random.default_rng([int(seed), 505])
    return int(groups[int(rng.integers(0, len(groups)))])


def prepare_world(world: Any) -> None:
    """Damage mobiles and e-mails of some contacts and enter some contacts twice (see module doc)."""
    store = world.store
    rng = np.random.default_rng([int(world.seed), 5])
    bad_dept = dirty_department(store, world.seed)
    emp = store.read("employee", columns=["id", "department_id"])
    cust = store.read("customer", columns=["id", "owner_id"])
    contact = store.read("contact", resolve=False)
    owner_dept = cust.set_index("id")["owner_id"].map(emp.set_index("id")["department_id"])
    dirty = contact["customer_id"].map(owner_dept).eq(bad_dept).to_numpy()
    rate = np.where(dirty, _DIRTY_RATE, _CLEAN_RATE)
    t = schema.metadata.tables["contact"]
    hit_mobile = (rng.random(len(contact)) < rate) & contact["mobile"].notna().to_numpy()
    hit_email = (rng.random(len(contact)) < rate) & contact["email"].notna().to_numpy()
    mobiles = [{"_id": int(contact["id"].iat[i]), "_v": _bad_mobile(rng, str(contact["mobile"].iat[i]))}
               for i in np.flatnonzero(hit_mobile)]
    emails = [{"_id": int(contact["id"].iat[i]), "_v": _bad_email(rng, str(contact["email"].iat[i]))}
              for i in np.flatnonzero(hit_email)]
    with store.transaction() as conn:
        if mobiles:
            conn.execute(update(t).where(t.c.id == bindparam("_id")).values(mobile=bindparam("_v")), mobiles)
        if emails:
            conn.execute(update(t).where(t.c.id == bindparam("_id")).values(email=bindparam("_v")), emails)
    # contacts entered a second time (a copy of the clean record, as a plain 联系人)
    fresh = store.read("contact", resolve=False)
    dup_rate = np.where(dirty, _DUP_RATE_DIRTY, _DUP_RATE_CLEAN)
    picked = fresh[(rng.random(len(fresh)) < dup_rate) & ~hit_mobile]
    if len(picked):
        copies = picked.drop(columns=["id"]).copy()
        copies["status"] = "联系人"
        copies["created_at"] = copies["created_at"] + pd.to_timedelta(rng.integers(1, 400, len(copies)), unit="D")
        copies["created_at"] = copies["created_at"].where(copies["created_at"] <= pd.Timestamp(world.today),
                                                           pd.Timestamp(world.today))
        store.bulk_insert("contact", copies.reset_index(drop=True))


# --- shared helpers ----------------------------------------------------------------------------


def _today(ctx: Any) -> pd.Timestamp:
    return pd.Timestamp(ctx.world.today)


def _customers(store: Any) -> pd.DataFrame:
    cust = store.read("customer")
    return cust[~cust["deleted"]].reset_index(drop=True)


def _approved_orders(ctx: Any, store: Any = None) -> pd.DataFrame:
    orders = (store or ctx.pristine).read("sales_order")
    return orders[(orders["approval"] == "同意") & (orders["order_date"] <= _today(ctx))].reset_index(drop=True)


def _plans_with_customer(store: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    orders = store.read("sales_order", columns=["id", "customer_id"])
    plans = store.read("payment_plan")
    plans = plans.assign(customer_id=plans["order_id"].map(orders.set_index("id")["customer_id"]))
    return plans, store.read("payment")


# --- 任务一: information types -------------------------------------------------------------------

INFO_TYPES = ("基本信息", "交易信息", "行为信息", "反馈信息")
INFO_TYPE_KEY = {
    "customer.industry": "基本信息",
    "contact.mobile": "基本信息",
    "sales_order.total_amount": "交易信息",
    "order_line.product_id": "交易信息",
    "activity.channel": "行为信息",
    "campaign_member.responded": "行为信息",
    "complaint.category": "反馈信息",
    "survey.overall": "反馈信息",
}
_INFO_WHY = {
    "基本信息": "它描述客户“是谁”（身份、属性、联系方式），不随一次交易或一次互动而产生",
    "交易信息": "它记录客户买了什么、花了多少钱、何时付款——来自订单、回款等业务单据",
    "行为信息": "它记录客户与企业接触时“做了什么”（沟通渠道、是否响应活动），反映习惯和偏好",
    "反馈信息": "它是客户主动表达的评价或意见（投诉、满意度评分）",
}


def _diagnose_info_types(_ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：键是题目中的 8 个字段，值是“基本信息”“交易信息”“行为信息”“反馈信息”之一。"
    bad_values = sorted({str(v) for v in answer.values()} - set(INFO_TYPES))
    if bad_values:
        return f"取值只能是 {'、'.join(INFO_TYPES)}，你写了 {'、'.join(bad_values)}。"
    for k, want in expected.items():
        if k in answer and answer[k] != want:
            return f"“{k}”不是{answer[k]}：{_INFO_WHY[want]}。"
    return None


@judgement("ch05.info_types", points=6, diagnose=_diagnose_info_types)
def info_types(_ctx: Any) -> dict[str, str]:
    return dict(INFO_TYPE_KEY)


KIND_FIELD_KEY = {"id_number": "个人", "credit_code": "企业", "size": "企业", "industry": "企业"}


@judgement("ch05.kind_fields", points=3)
def kind_fields(_ctx: Any) -> dict[str, str]:
    return dict(KIND_FIELD_KEY)


# --- 任务二: the customer archive -------------------------------------------------------------------


def archive_customers(ctx: Any) -> list[int]:
    """The ARCHIVE_TOP customers with the largest approved order total (ties: smaller id)."""
    orders = _approved_orders(ctx)
    totals = orders.groupby("customer_id")["total_amount"].sum().reset_index()
    totals = totals.sort_values(["total_amount", "customer_id"], ascending=[False, True])
    return [int(x) for x in totals["customer_id"].head(ARCHIVE_TOP)]


def _archive(ctx: Any) -> pd.DataFrame:
    store = ctx.pristine
    ids = archive_customers(ctx)
    cust = _customers(store).set_index("id").loc[ids]
    emp = store.read("employee").set_index("id")["name"]
    contacts = store.read("contact")
    contacts = contacts[contacts["customer_id"].isin(ids)]
    primary = contacts[contacts["status"] == "主联系人"].sort_values("id").drop_duplicates("customer_id")
    active = contacts[contacts["status"] != "离职"].groupby("customer_id").size()
    orders = _approved_orders(ctx)
    orders = orders[orders["customer_id"].isin(ids)]
    per = orders.groupby("customer_id").agg(orders=("id", "size"), sales=("total_amount", "sum"),
                                            last_order=("order_date", "max"))
    pay = store.read("payment")
    all_orders = store.read("sales_order", columns=["id", "customer_id"]).set_index("id")["customer_id"]
    pay = pay[pay["paid_date"] <= _today(ctx)]
    paid = pay.groupby(pay["order_id"].map(all_orders))["amount"].sum()
    complaints = store.read("complaint", columns=["id", "customer_id"]).groupby("customer_id").size()
    out = pd.DataFrame({"customer_id": ids})
    out["code"] = cust["code"].to_numpy()
    out["name"] = cust["name"].to_numpy()
    out["kind"] = cust["kind"].to_numpy()
    out["city"] = cust["city"].to_numpy()
    out["owner"] = cust["owner_id"].map(emp).to_numpy()
    # missing as "" (checks.compare sees NaN != NaN in text columns under pandas 3)
    out["primary_contact"] = out["customer_id"].map(primary.set_index("customer_id")["name"]).fillna("")
    out["contacts"] = out["customer_id"].map(active).fillna(0).astype("int64")
    out["orders"] = out["customer_id"].map(per["orders"]).fillna(0).astype("int64")
    out["sales"] = out["customer_id"].map(per["sales"]).fillna(0.0).round(2)
    out["last_order"] = out["customer_id"].map(per["last_order"]).dt.strftime("%Y-%m-%d")
    out["paid"] = out["customer_id"].map(paid).fillna(0.0).round(2)
    out["complaints"] = out["customer_id"].map(complaints).fillna(0).astype("int64")
    return out[ARCHIVE_COLUMNS]


def _diagnose_archive(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "customer_id" not in answer.columns:
        return None
    got = {int(x) for x in answer["customer_id"]}
    want = set(expected["customer_id"])
    if got != want:
        orders = ctx.pristine.read("sales_order")
        every = orders.groupby("customer_id")["total_amount"].sum().sort_values(ascending=False)
        if got == set(int(x) for x in every.head(ARCHIVE_TOP).index):
            return "选出的客户不对：只统计审批状态为“同意”的订单（否决和待审的订单不算成交）。"
        return (f"档案应包含已审批订单总金额最高的 {ARCHIVE_TOP} 个客户，你的答案中有 {len(got - want)} 个不在其中。"
                "先按 customer_id 汇总 total_amount，再降序取前 10。")
    v = answer.set_index("customer_id")
    e = expected.set_index("customer_id")
    if "last_order" in v.columns and v["last_order"].astype(str).str.len().max() > 10:
        return "last_order 应是“YYYY-MM-DD”格式的文本（如 2025-11-30），可用 .dt.strftime(\"%Y-%m-%d\")。"
    if "contacts" in v.columns:
        all_contacts = ctx.pristine.read("contact").groupby("customer_id").size()
        if (v["contacts"].reindex(e.index) == all_contacts.reindex(e.index).fillna(0)).all() and \
                not (v["contacts"].reindex(e.index) == e["contacts"]).all():
            return "contacts 只数未离职的联系人（status 不是“离职”）。"
    if "paid" in v.columns and "sales" in v.columns:
        if np.allclose(v["paid"].reindex(e.index).astype(float), e["sales"].astype(float), atol=0.01) and \
                not np.allclose(e["paid"], e["sales"], atol=0.01):
            return "paid 是实际回款（payment 表的金额），不是订单金额：有的客户还欠着款。"
    return None


@calculation("ch05.archive", points=12, key="customer_id", atol=0.01, diagnose=_diagnose_archive)
def archive(ctx: Any) -> pd.DataFrame:
    return ctx.once("ch05.archive", lambda: _archive(ctx))


# --- 任务三: data quality -----------------------------------------------------------------------------


def _contact_quality(ctx: Any) -> pd.DataFrame:
    loc = get_locale()
    contact = ctx.pristine.read("contact")
    return data_quality(contact[["customer_id", "name", "mobile", "email"]],
                        {"mobile": loc.mobile_valid, "email": loc.email_valid},
                        key=["customer_id", "name", "mobile"])


def _quality_dict(ctx: Any) -> dict[str, int]:
    q = _contact_quality(ctx).set_index("column")
    return {
        "rows": int(q.loc["mobile", "rows"]),
        "mobile_missing": int(q.loc["mobile", "missing"]),
        "mobile_invalid": int(q.loc["mobile", "invalid"]),
        "email_missing": int(q.loc["email", "missing"]),
        "email_invalid": int(q.loc["email", "invalid"]),
        "duplicate_contacts": int(q.loc["<key: customer_id, name, mobile>", "duplicate"]),
    }


def _diagnose_quality(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    contact = ctx.pristine.read("contact")
    loc = get_locale()
    for col in ("mobile", "email"):
        s = contact[col]
        only_na = int(s.isna().sum())
        blank = s.notna() & s.astype(str).str.strip().eq("")
        got = answer.get(f"{col}_missing")
        if got == only_na and got != expected[f"{col}_missing"]:
            return f"{col}_missing 只数了 NaN：空字符串和只有空格的值（如 \"  \"）也是缺失，可用 .str.strip() == \"\" 找出。"
        ok = pd.Series(getattr(loc, f"{col}_valid")(s), index=s.index)
        with_missing = int((~ok).sum())
        got = answer.get(f"{col}_invalid")
        if got == with_missing and got != expected[f"{col}_invalid"]:
            return f"{col}_invalid 把缺失值也算成了无效：无效只统计“有值但格式不对”的记录。"
        if got == int((~ok & ~s.isna()).sum()) and got != expected[f"{col}_invalid"] and blank.any():
            return f"{col}_invalid 把空白值算成了无效：空白值属于缺失，不计入无效。"
    got = answer.get("duplicate_contacts")
    if got is not None and got != expected["duplicate_contacts"]:
        keys = ["customer_id", "name", "mobile"]
        if got == int(contact.duplicated(subset=keys, keep=False).sum()):
            return "duplicate_contacts 把每组重复的第一条也算进去了：只数“与前面某一行重复”的行（keep=\"first\"）。"
        if got == int(contact.duplicated(subset=["name"]).sum()):
            return "同名不等于重复：要 customer_id、name、mobile 三列都相同才算同一个联系人被录入了两次。"
    return None


@calculation("ch05.quality", points=8, diagnose=_diagnose_quality)
def quality(ctx: Any) -> dict[str, int]:
    return ctx.once("ch05.quality", lambda: _quality_dict(ctx))


def _quality_by_department(ctx: Any) -> pd.DataFrame:
    store = ctx.pristine
    loc = get_locale()
    contact = store.read("contact")
    cust = store.read("customer", columns=["id", "owner_id"]).set_index("id")["owner_id"]
    emp = store.read("employee", columns=["id", "department_id"]).set_index("id")["department_id"]
    dept = store.read("department", columns=["id", "name"]).set_index("id")["name"]
    s = contact["mobile"]
    missing = s.isna() | s.astype(str).str.strip().eq("")
    bad = missing | ~pd.Series(loc.mobile_valid(s), index=s.index)
    frame = pd.DataFrame({"department": contact["customer_id"].map(cust).map(emp).map(dept), "bad": bad})
    out = frame.groupby("department").agg(contacts=("bad", "size"), bad_mobile=("bad", "sum")).reset_index()
    out["bad_mobile"] = out["bad_mobile"].astype("int64")
    out["bad_rate"] = out["bad_mobile"] / out["contacts"]
    return out


def _diagnose_by_department(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "bad_mobile" not in answer.columns or "department" not in answer.columns:
        return None
    v = answer.set_index("department")["bad_mobile"]
    e = expected.set_index("department")
    loc = get_locale()
    contact = ctx.pristine.read("contact")
    s = contact["mobile"]
    invalid_only = ~pd.Series(loc.mobile_valid(s), index=s.index) & s.notna() & ~s.astype(str).str.strip().eq("")
    if set(v.index) == set(e.index) and (v.reindex(e.index) < e["bad_mobile"]).all() and invalid_only.any():
        return "bad_mobile 要同时包含缺失（NaN 或空白）和格式无效的手机号。"
    return None


@calculation("ch05.quality_by_department", points=4, key="department", diagnose=_diagnose_by_department)
def quality_by_department(ctx: Any) -> pd.DataFrame:
    return _quality_by_department(ctx)


# --- 任务四: privacy -------------------------------------------------------------------------------------


def _visible_customers(ctx: Any) -> int:
    from ...crm import CRM

    crm = CRM(ctx.pristine, user=ctx.me["login"], now=pd.Timestamp(ctx.world.today).to_pydatetime())
    return len(crm.customers())


@operation("ch05.export", points=5)
def check_export(ctx: Any, _answer: Any) -> CheckResult:
    logs = new_rows(ctx, "export_log")
    if logs.empty:
        return CheckResult(False, "还没有导出记录：请用 lab.crm.export_customers(path=..., purpose=...) 导出客户。")
    mine = logs[logs["employee_id"] == int(ctx.me["id"])]
    if mine.empty:
        return CheckResult(False, "导出记录的导出人不是你：请用 lab.crm（以你自己的身份）导出，不要用 lab.admin——"
                                  "系统管理员导出时不脱敏，也不能代表你的操作。")
    ok = mine[mine["purpose"].fillna("").astype(str).str.strip() == EXPORT_PURPOSE]
    if ok.empty:
        return CheckResult(False, f"导出用途（purpose）应写“{EXPORT_PURPOSE}”，你写的是 {mine.iloc[-1]['purpose']!r}。"
                                  "用途会记入导出日志，供审计时核对“为什么导出”。")
    row = ok.iloc[-1]
    if row["table_name"] != "customer":
        return CheckResult(False, "应导出客户表（export_customers）。")
    want = _visible_customers(ctx)
    if int(row["row_count"]) != want:
        return CheckResult(False, f"导出了 {int(row['row_count'])} 条，你可见的客户共 {want} 条：请导出全部可见客户。")
    if str(row["masked_fields"] or "") != "id_number":
        return CheckResult(False, "以主管身份导出时，系统应只对身份证号脱敏；请直接调用 lab.crm.export_customers，不要改动角色。")
    return CheckResult(True)


MASK_COLUMNS = ["id", "phone", "id_number", "email"]


def _masked(ctx: Any) -> pd.DataFrame:
    loc = get_locale()
    cust = _customers(ctx.pristine)
    person = cust[cust["kind"] == "个人"]
    return pd.DataFrame({
        "id": person["id"].to_numpy(),
        "phone": loc.mask_mobile_series(person["phone"]).fillna("").to_numpy(),
        "id_number": loc.mask_id_number_series(person["id_number"]).fillna("").to_numpy(),
        "email": loc.mask_email_series(person["email"]).fillna("").to_numpy(),
    })


def _diagnose_masked(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not set(MASK_COLUMNS) <= set(answer.columns):
        return None
    v = answer.set_index("id")
    e = expected.set_index("id")
    if set(v.index) != set(e.index):
        return None
    v = v.reindex(e.index)
    for col in ("phone", "id_number", "email"):
        if (v[col].isna() & e[col].eq("")).any():
            return (f"{col} 列：原来缺失的值脱敏后应写成空字符串 \"\"（外包拿到的文件里不能出现 nan），"
                    "可在最后用 .fillna(\"\")。")
    present = e["id_number"].ne("")
    ids = v.loc[present, "id_number"].astype(str)
    if len(ids) and (ids.str[3:6] == "***").all():
        return "身份证号应保留前 6 位（地区码）和后 4 位，中间 8 位（出生日期）换成 *：如 110105********002X。"
    phones = v["phone"].astype(str)
    if (phones.str.len() != e["phone"].str.len()).any():
        return "手机号脱敏后长度应不变：前 3 位 + 4 个 * + 后 4 位，共 11 个字符。"
    mails = v.loc[e["email"].ne(""), "email"].astype(str)
    if len(mails) and not mails.str.contains("@").all():
        return "邮箱脱敏要保留 @ 及其后的域名：用户名首字符 + *** + @域名，如 z***@163.com。"
    return None


@calculation("ch05.masked", points=8, key="id", diagnose=_diagnose_masked)
def masked(ctx: Any) -> pd.DataFrame:
    return _masked(ctx)


# --- 任务五: statistics ------------------------------------------------------------------------------------


@calculation("ch05.region", points=4, key="province", what="占比")
def region(ctx: Any) -> pd.DataFrame:
    return distribution(_customers(ctx.pristine), "province")[["province", "count", "share"]]


def _sales_this_year(ctx: Any) -> pd.DataFrame:
    orders = _approved_orders(ctx)
    orders = orders[orders["order_date"].dt.year == _today(ctx).year]
    cust = ctx.pristine.read("customer", columns=["id", "industry"]).set_index("id")["industry"]
    industry = orders["customer_id"].map(cust).fillna(PERSON_INDUSTRY)
    return orders.assign(industry=industry.astype("str"))


def _diagnose_contribution(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "industry" not in answer.columns:
        return None
    got = set(answer["industry"].astype(str))
    if PERSON_INDUSTRY not in got and "nan" in got | {"nan"}:
        if PERSON_INDUSTRY in set(expected["industry"]):
            return f"个人客户没有行业（industry 为空），请把它们归为“{PERSON_INDUSTRY}”一组，不要丢掉（groupby 默认会丢掉空值）。"
    if "amount" in answer.columns and len(answer) == len(expected):
        all_year = _approved_orders(ctx)
        total_all = float(all_year["total_amount"].sum())
        if abs(float(answer["amount"].sum()) - total_all) < 1:
            return f"只统计 {_today(ctx).year} 年（与 lab.today 同一年）签订的已审批订单。"
        orders = ctx.pristine.read("sales_order")
        year = orders[orders["order_date"].dt.year == _today(ctx).year]
        if abs(float(answer["amount"].sum()) - float(year["total_amount"].sum())) < 1:
            return "只统计审批状态为“同意”的订单。"
    if "rank" in answer.columns and "cum_share" in answer.columns:
        e = expected.set_index("industry")
        v = answer.assign(industry=answer["industry"].astype(str)).set_index("industry").reindex(e.index)
        if np.allclose(v["share"].astype(float), e["share"], atol=1e-6) and not np.allclose(
                v["cum_share"].astype(float), e["cum_share"], atol=1e-6):
            return "cum_share 是按金额从大到小排序后的累计占比：先 sort_values(\"amount\", ascending=False) 再 cumsum()。"
    return None


@calculation("ch05.contribution", points=5, key="industry", diagnose=_diagnose_contribution)
def industry_contribution(ctx: Any) -> pd.DataFrame:
    return contribution(_sales_this_year(ctx), "industry", "total_amount")


@calculation("ch05.growth", points=5, key="period", what="增长率")
def quarterly_growth(ctx: Any) -> pd.DataFrame:
    g = growth(_approved_orders(ctx), "order_date", "total_amount", freq="Q")
    return g[["period", "amount", "growth_rate", "yoy_rate"]]


def _aging(ctx: Any) -> pd.DataFrame:
    plans, pays = _plans_with_customer(ctx.pristine)
    out = receivables_aging(plans, pays, as_of=_today(ctx))
    for c in [*AGING_COLUMNS, "total_overdue"]:
        out[c] = out[c].round(2)
    # engine: float residue (1e-13) of fully paid instalments shows as overdue; keep whole cents
    out = out[out["total_overdue"] >= 0.01]
    return out[["customer_id", *AGING_COLUMNS, "total_overdue"]].reset_index(drop=True)


def _diagnose_aging(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "customer_id" not in answer.columns:
        return None
    got = {int(x) for x in answer["customer_id"]}
    want = set(expected["customer_id"])
    if got > want:
        return ("多了一些客户：只保留 total_overdue ≥ 0.01 元的客户；计算未收金额 amount − paid 时有 1e-13 这样的浮点残差，"
                "判断“未付清”要用 > 0.005 而不是 > 0。")
    if got < want:
        return "少了一些客户：逾期是“到期日早于今天且未付清”，部分付款的分期也算，未付部分计入账龄。"
    if ">90" in answer.columns:
        v = answer.set_index("customer_id").reindex(expected["customer_id"])
        e = expected.set_index("customer_id")
        if np.allclose(v["total_overdue"].astype(float), e["total_overdue"], atol=0.01):
            return ("各账龄段的金额分错了：逾期天数 = 今天 − 到期日；1–30 天归入 0-30，31–60 天归入 31-60，"
                    "61–90 天归入 61-90，91 天及以上归入 >90（pd.cut 的区间是左开右闭）。")
        return "金额应是每期的未收金额（计划金额 − 已冲销的回款 paid），不是计划金额本身。"
    return None


@calculation("ch05.aging", points=8, key="customer_id", atol=0.01, diagnose=_diagnose_aging)
def aging(ctx: Any) -> pd.DataFrame:
    return ctx.once("ch05.aging", lambda: _aging(ctx))


# --- 任务六: credit ---------------------------------------------------------------------------------------


def _behaviour(ctx: Any) -> pd.DataFrame:
    plans, pays = _plans_with_customer(ctx.pristine)
    cb = credit_behaviour(plans, pays, as_of=_today(ctx))
    cb = cb[cb["due_instalments"] > 0]
    return cb[["customer_id", "due_instalments", "overdue_ratio", "avg_days_late", "grade"]].reset_index(drop=True)


def _diagnose_credit(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "customer_id" not in answer.columns:
        return None
    if {int(x) for x in answer["customer_id"]} != set(expected["customer_id"]):
        return "应包含截至今天至少有 1 期到期（due_date ≤ lab.today）的所有客户。"
    v = answer.set_index("customer_id").reindex(expected["customer_id"])
    e = expected.set_index("customer_id")
    if "avg_days_late" in v.columns and not np.allclose(v["avg_days_late"].astype(float), e["avg_days_late"], atol=1e-6):
        if (v["avg_days_late"].astype(float) >= e["avg_days_late"] - 1e-9).all():
            return ("avg_days_late 是所有到期分期的平均逾期天数，按时付清的分期算 0 天——"
                    "不要只对逾期的分期求平均。")
        return "avg_days_late：已付清的分期 = 付清日 − 到期日（小于 0 记 0），未付清的 = 今天 − 到期日。"
    if "grade" in v.columns and "overdue_ratio" in v.columns and \
            np.allclose(v["overdue_ratio"].astype(float), e["overdue_ratio"], atol=1e-6):
        return "指标对了但等级不对：两个条件要同时满足（逾期比例 ≤ 界限 且 平均逾期天数 ≤ 界限），依次检查 A、B、C，都不满足为 D。"
    return None


@calculation("ch05.credit", points=6, key="customer_id", diagnose=_diagnose_credit)
def credit(ctx: Any) -> pd.DataFrame:
    return ctx.once("ch05.credit", lambda: _behaviour(ctx))


HIGH_RATINGS = ("AAA", "AA", "A")
LOW_GRADES = ("C", "D")


@calculation("ch05.lower_limit", points=3, what="应下调额度的客户")
def lower_limit(ctx: Any) -> list[int]:
    cb = ctx.once("ch05.credit", lambda: _behaviour(ctx))
    cust = _customers(ctx.pristine).set_index("id")["credit_rating"]
    rating = cb["customer_id"].map(cust)
    hit = cb[cb["grade"].isin(LOW_GRADES) & rating.isin(HIGH_RATINGS)]
    return sorted(int(x) for x in hit["customer_id"])


ANALYSIS_KEY = {"S1": "A", "S2": "B", "S3": "C", "S4": "D"}


@judgement("ch05.analysis_kinds", points=3)
def analysis_kinds(_ctx: Any) -> dict[str, str]:
    return dict(ANALYSIS_KEY)


__all__ = ["prepare_world", "dirty_department", "archive_customers", "EXPORT_PURPOSE", "INFO_TYPE_KEY",
           "KIND_FIELD_KEY", "ANALYSIS_KEY", "PERSON_INDUSTRY", "compare"]
