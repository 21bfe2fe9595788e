"""ch06 客户分级管理 — questions and reference computations.

The student is the sales director (主管) and grades the firm's customers by value:

* 任务一 (calculation): each customer's financial value = 交易收益 − 交易成本 (production,
  service, communication, care and marketing costs; unit costs from
  :data:`simcrm.reference.COST_TO_SERVE`);
* 任务二 (calculation): ABC by revenue; RFM with F and M counted over the last 365 days;
* 任务三 (calculation): the CLV quadrant (放弃型 = below zero) with a future value from the
  firm's own retention rate; the HSBC A–F grading;
* 任务四 (calculation + operations): the pyramid 关键/普通/小客户 by value; in the CRM the
  客户等级 dictionary, the levels written back in one operation, the key accounts moved to a new
  大客户部 and its manager, return visits planned per level (the SafeNet case);
* 任务五 (calculation): the key accounts' buying centre — which buying roles are missing;
* 任务六 (judgement): the classic mistakes (revenue for profit, RFM ties split by row order,
  a pyramid cut by order count instead of value).

Every reference is recomputed on the student's own world with :mod:`simcrm.analytics`; the
operation checks read the student's database. Expensive parts (financial value, RFM) are
cached per world store, because the notebook's checks and the referee's hidden tests ask for
them question after question.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ... import reference
from ...analytics import PYRAMID_LEVELS, abc, clv_quadrant, customer_pyramid, financial_value, hsbc_grade, rfm
from ...analytics.profit import value_tables
from ..checks import CheckResult
from ..questions import calculation, judgement, operation
from . import new_rows
from . import safe_diagnose as _safe

CUSTOMERS = 2000

#: F and M are counted over this many days before the analysis moment (the end of today)
RFM_WINDOW = 365
RFM_BINS = 5
#: yearly discount rate of the future value (CLV quadrant)
DISCOUNT = 0.10
#: number of key accounts (大客户): the enterprise customers of highest financial value
KEY_ACCOUNTS = 20
KAM_DEPARTMENT = "大客户部"
KAM_PARENT = "销售部"
KAM_LOGIN = "kam01"
#: return-visit interval (days) per level, and the planning horizon (SafeNet case)
INTERVALS = {"关键客户": 30, "普通客户": 90, "小客户": 180}
VISIT_HORIZON = 180
OLD_LEVELS = ("VIP客户", "主要客户")
BUYING_ROLES = tuple(reference.DICTIONARIES["buying_role"]["values"])

VALUE_COLUMNS = ["customer_id", "revenue", "product_cost", "service_cost", "communication_cost", "care_cost",
                 "marketing_cost", "value"]
RFM_COLUMNS = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]

_CACHE: dict[tuple[int, str], tuple[Any, Any]] = {}



def _cached(store: Any, key: str, build: Any) -> Any:
    """``build()`` once per world store (the store object is kept so its id is not reused)."""
    slot = (id(store), key)
    if slot not in _CACHE:
        _CACHE[slot] = (store, build())
    return _CACHE[slot][1]


def _today(ctx: Any) -> pd.Timestamp:
    return pd.Timestamp(ctx.world.today)


def as_of(ctx: Any) -> pd.Timestamp:
    """The analysis moment: the end of today (= 0:00 of the next day)."""
    return _today(ctx) + pd.Timedelta(days=1)


def approved_orders(store: Any, today: pd.Timestamp) -> pd.DataFrame:
    orders = store.read("sales_order")
    return orders[(orders["approval"] == "同意") & (orders["order_date"] <= today)].reset_index(drop=True)


def _tables(ctx: Any) -> dict[str, pd.DataFrame]:
    return _cached(ctx.pristine, "tables", lambda: value_tables(ctx.pristine))


def values(ctx: Any) -> pd.DataFrame:
    """Financial value of every (non-deleted) customer over all history up to today."""
    return _cached(ctx.pristine, "value", lambda: financial_value(_tables(ctx), as_of=_today(ctx)))


def buyers(ctx: Any) -> list[int]:
    """Customers with at least one approved order up to today."""
    return sorted(int(x) for x in approved_orders(ctx.pristine, _today(ctx))["customer_id"].unique())


def _rfm(ctx: Any) -> pd.DataFrame:
    def build() -> pd.DataFrame:
        orders = approved_orders(ctx.pristine, _today(ctx))
        return rfm(orders, amount_col="total_amount", as_of=as_of(ctx), bins=RFM_BINS, window_days=RFM_WINDOW)
    return _cached(ctx.pristine, "rfm", build)


# --- 任务一: financial value ----------------------------------------------------------------------------


def _diagnose_value(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not set(VALUE_COLUMNS) <= set(answer.columns):
        return None
    v = answer.drop_duplicates("customer_id").set_index("customer_id")
    e = expected.set_index("customer_id")
    if set(v.index) != set(e.index):
        if set(v.index) < set(e.index):
            return (f"只有 {len(v)} 个客户，应有 {len(e)} 个：潜在客户（还没有成交）也要列出——"
                    "他们没有收益，但沟通和营销已经花了钱，财务价值是负数。")
        return None
    v = v.reindex(e.index)

    def same(col: str) -> bool:
        return bool(np.allclose(v[col].astype(float), e[col], atol=0.05))

    orders = ctx.pristine.read("sales_order")
    if not same("revenue"):
        every = orders.groupby("customer_id")["total_amount"].sum().reindex(e.index).fillna(0.0)
        if np.allclose(v["revenue"].astype(float), every, atol=0.05):
            return "revenue 把未审批（待审、否决）的订单也算进去了：只算审批状态为“同意”的订单。"
        if (v["revenue"].astype(float) >= e["revenue"] - 0.05).all():
            return "revenue 偏大：别忘了减去退货金额（sales_return.amount，按订单找到客户）。"
        return "revenue：已审批订单的明细金额（order_line.amount，不含税）之和，减去这些订单的退货金额。"
    if not same("product_cost"):
        if (v["product_cost"].astype(float) >= e["product_cost"] - 0.05).all():
            return "product_cost 偏大：退货的数量不再是成本，用（数量 − 退货数量）× 成本价（product.cost，不是售价 price）。"
        return "product_cost = 订单明细数量 × 产品成本价 product.cost（减去退货数量的部分）。"
    if not same("communication_cost") and (v["communication_cost"].astype(float) >= e["communication_cost"] - 0.05).all():
        return "communication_cost 偏大：只算已经发生的沟通（activity.kind == \"记录\"），计划中的日程、待办还没有花钱。"
    if not same("care_cost") and (v["care_cost"].astype(float) >= e["care_cost"] - 0.05).all():
        return "care_cost 偏大：只算已执行的关怀（done_date 不为空）。"
    if not same("marketing_cost") and (v["marketing_cost"].astype(float) >= e["marketing_cost"] - 0.05).all():
        return "marketing_cost 偏大：对照组没有被接触（contacted_at 为空），不产生营销成本。"
    if not same("value"):
        gross = e["revenue"] - e["product_cost"]
        if np.allclose(v["value"].astype(float), gross, atol=0.05):
            return "value 只减了生产成本（那是毛利）：财务价值还要减去服务、沟通、关怀和营销成本。"
        return "value = revenue − （五项成本之和）。"
    return None


@calculation("ch06.value", points=12, key="customer_id", atol=0.05, diagnose=_safe(_diagnose_value))
def value_table(ctx: Any) -> pd.DataFrame:
    return values(ctx)[VALUE_COLUMNS].copy()


# --- 任务二: ABC and RFM -----------------------------------------------------------------------------------


def _abc(ctx: Any) -> pd.DataFrame:
    v = values(ctx)
    v = v[v["revenue"] > 0]
    return pd.DataFrame({"customer_id": v["customer_id"].to_numpy(), "abc": abc(v["revenue"].to_numpy()).to_numpy()})


def _diagnose_abc(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"customer_id", "abc"} <= set(answer.columns):
        return None
    if set(answer["customer_id"]) != set(expected["customer_id"]):
        return "只对有收益（revenue > 0，练习 1.1）的客户做 ABC 分析。"
    v = values(ctx)
    v = v[v["revenue"] > 0]
    by_value = abc(v["value"].clip(lower=0).to_numpy()) if (v["value"] > 0).any() else None
    got = answer.set_index("customer_id")["abc"].reindex(expected["customer_id"]).astype(str).to_numpy()
    if by_value is not None and (got == by_value.to_numpy()).all():
        return "本题的 ABC 按交易收益（revenue）分类，不是按财务价值。"
    n_a = int((got == "A").sum())
    want_a = int((expected["abc"] == "A").sum())
    if n_a > want_a:
        return ("A 类多了：累计占比要“计入本客户之后”再与 0.8 比较（本客户的收益加进去后 ≤ 80% 才是 A），"
                "不是“计入之前”。")
    return None


@calculation("ch06.abc", points=6, key="customer_id", diagnose=_safe(_diagnose_abc))
def abc_classes(ctx: Any) -> pd.DataFrame:
    return _abc(ctx)


def _diagnose_rfm(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not set(RFM_COLUMNS) <= set(answer.columns):
        return None
    if set(answer["customer_id"]) != set(expected["customer_id"]):
        return ("客户应是截至今天有过已审批订单的全部客户——包括最近 365 天没有购买的（他们的 F 和 M 是 0），"
                "不要只留期间内有购买的客户。")
    v = answer.set_index("customer_id").reindex(expected["customer_id"])
    e = expected.set_index("customer_id")
    orders = approved_orders(ctx.pristine, _today(ctx))
    if not np.allclose(v["frequency"].astype(float), e["frequency"]):
        every = orders.groupby("customer_id").size().reindex(e.index).fillna(0)
        if np.allclose(v["frequency"].astype(float), every):
            return f"frequency 统计了全部历史：F 和 M 只统计最近 {RFM_WINDOW} 天（as_of − {RFM_WINDOW} 天 ≤ 签订日期 < as_of）。"
        return f"frequency = 最近 {RFM_WINDOW} 天内的已审批订单笔数（期间内没有订单的记 0）。"
    if not np.allclose(v["recency_days"].astype(float), e["recency_days"]):
        if np.allclose(v["recency_days"].astype(float) + 1, e["recency_days"]):
            return "recency_days 少了 1 天：分析时点 as_of 是今天结束时，即 lab.today 的次日，recency = as_of − 最后购买日。"
        return "recency_days = as_of − 最后一次已审批订单的签订日期（全部历史，不限于 365 天）。"
    for col, src in (("f_score", "frequency"), ("m_score", "monetary"), ("r_score", "recency_days")):
        if not np.array_equal(v[col].to_numpy(dtype="float64"), e[col].to_numpy(dtype="float64")):
            tied = e.groupby(src)[col].transform("nunique")
            split = v[col].groupby(e[src]).nunique()
            if (split > 1).any() or (tied > 1).any():
                return (f"{col}：数值相同的客户得分必须相同——你的答案把并列值按行顺序拆到了不同档"
                        "（如 rank(method=\"first\") 或 qcut）。用 rank(method=\"min\")，score = ceil(5 × rank / n)。")
            return f"{col} = ceil(5 × rank / n)，rank 是 rank(method=\"min\")（{'天数越少越好' if col == 'r_score' else '越大越好'}）。"
    return None


@calculation("ch06.rfm", points=8, key="customer_id", atol=0.01, diagnose=_safe(_diagnose_rfm))
def rfm_scores(ctx: Any) -> pd.DataFrame:
    return _rfm(ctx)[RFM_COLUMNS].copy()


# --- 任务三: CLV quadrant and HSBC grading -------------------------------------------------------------------


def retention_rate(ctx: Any) -> float:
    """Share of the customers who bought in the year before last who bought again last year."""
    orders = approved_orders(ctx.pristine, _today(ctx))
    end = as_of(ctx)
    last = set(orders.loc[orders["order_date"] >= end - pd.Timedelta(days=RFM_WINDOW), "customer_id"])
    prev = set(orders.loc[(orders["order_date"] >= end - pd.Timedelta(days=2 * RFM_WINDOW))
                          & (orders["order_date"] < end - pd.Timedelta(days=RFM_WINDOW)), "customer_id"])
    return len(prev & last) / len(prev) if prev else 0.0


def _quadrant(ctx: Any) -> pd.DataFrame:
    def build() -> pd.DataFrame:
        today = _today(ctx)
        start = as_of(ctx) - pd.Timedelta(days=RFM_WINDOW)
        ids = buyers(ctx)
        cur = values(ctx).set_index("customer_id")["value"].reindex(ids)
        last = financial_value(_tables(ctx), start=start, as_of=today).set_index("customer_id")["value"].reindex(ids)
        r = retention_rate(ctx)
        factor = r / (1 + DISCOUNT - r)
        frame = pd.DataFrame({"customer_id": ids, "current_value": cur.to_numpy(),
                              "potential_value": (last * factor).to_numpy()})
        out = clv_quadrant(frame)
        return out[["customer_id", "current_value", "potential_value", "quadrant"]]
    return _cached(ctx.pristine, "quadrant", build)


def _diagnose_quadrant(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "quadrant" not in answer.columns or "customer_id" not in answer.columns:
        return None
    if set(answer["customer_id"]) != set(expected["customer_id"]):
        return "只对现实客户（有过已审批订单的客户，与 RFM 同一批）做 CLV 四象限。"
    v = answer.set_index("customer_id").reindex(expected["customer_id"])
    e = expected.set_index("customer_id")
    if "potential_value" in v.columns and not np.allclose(v["potential_value"].astype(float), e["potential_value"],
                                                          atol=0.05):
        return ("potential_value = 最近 365 天的财务价值 × r / (1 + d − r)，r 是公司的年保持率"
                "（前一年有购买的客户中，最近一年又购买的比例），d = 0.1。")
    got = v["quadrant"].astype(str)
    lose = got.eq("放弃型")
    if lose.any() and e["quadrant"].eq("放弃型").sum() != lose.sum():
        full = _quadrant(ctx).set_index("customer_id").reindex(e.index)
        below = (full["current_value"] + full["potential_value"]) < 0
        if lose.sum() > below.sum():
            return ("放弃型不是“两项都低于中位数”：它是价值不足以弥补服务成本的客户，即当前价值 + 未来价值 < 0；"
                    "两项都低、但总价值不为负的客户是维持型。")
        return "放弃型 = 当前价值 + 未来价值 < 0 的客户（财务价值已扣除服务、沟通、营销成本）。"
    return ("其余客户按中位数分高低（中位数只在非放弃型客户中计算，大于中位数为高）：未来高且当前高为贵宾型，"
            "未来高当前低为改进型，未来低为维持型。")


@calculation("ch06.quadrant", points=8, key="customer_id", atol=0.05, diagnose=_safe(_diagnose_quadrant))
def quadrant(ctx: Any) -> pd.DataFrame:
    return _quadrant(ctx)[["customer_id", "potential_value", "quadrant"]].copy()


def _hsbc(ctx: Any) -> pd.DataFrame:
    v = values(ctx).set_index("customer_id")
    r = _rfm(ctx).set_index("customer_id")
    frame = pd.DataFrame({"customer_id": v.index.to_numpy()})
    bought = frame["customer_id"].isin(r.index)
    frame["value"] = np.where(bought, frame["customer_id"].map(v["value"]), np.nan)
    frame["frequency"] = frame["customer_id"].map(r["frequency"]).fillna(0).astype(float)
    frame["recency_days"] = frame["customer_id"].map(r["recency_days"]).astype(float)
    out = hsbc_grade(frame, value_col="value", loyalty_col="frequency", recency_col="recency_days",
                     inactive_days=RFM_WINDOW)
    return out[["customer_id", "grade"]]


def _diagnose_hsbc(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"customer_id", "grade"} <= set(answer.columns):
        return None
    if set(answer["customer_id"]) != set(expected["customer_id"]):
        return "汇丰分级包括全部客户：从没成交的潜在客户是 F（可能客户）。"
    v = answer.set_index("customer_id")["grade"].reindex(expected["customer_id"]).astype(str)
    e = expected.set_index("customer_id")["grade"]
    for g, text in (("F", "F 是从没有已审批订单的客户"), ("E", f"E 是最近一次购买距 as_of 超过 {RFM_WINDOW} 天的客户")):
        if (v.eq(g) != e.eq(g)).any():
            return f"{text}（先判 F，再判 E，其余才分 A–D）。"
    return ("A–D：价值 = 财务价值，忠诚度 = 最近 365 天的购买次数（RFM 的 F）；两者各与 A–D 这批客户的中位数比较，"
            "大于中位数为高：A 高价值高忠诚、B 高价值低忠诚、C 低价值高忠诚、D 两者都低。")


@calculation("ch06.hsbc", points=6, key="customer_id", diagnose=_safe(_diagnose_hsbc))
def hsbc(ctx: Any) -> pd.DataFrame:
    return _hsbc(ctx)


# --- 任务四: the pyramid and the CRM ------------------------------------------------------------------------


def pyramid(ctx: Any) -> pd.DataFrame:
    def build() -> pd.DataFrame:
        v = values(ctx)
        v = v[v["customer_id"].isin(buyers(ctx))]
        return customer_pyramid(v, value_col="value")[["customer_id", "level"]].reset_index(drop=True)
    return _cached(ctx.pristine, "pyramid", build)


def _diagnose_pyramid(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"customer_id", "level"} <= set(answer.columns):
        return None
    if set(answer["customer_id"]) != set(expected["customer_id"]):
        return "金字塔只包括现实客户（有过已审批订单的客户）。"
    got = answer.set_index("customer_id")["level"].reindex(expected["customer_id"]).astype(str)
    v = values(ctx).set_index("customer_id").reindex(expected["customer_id"])
    orders = approved_orders(ctx.pristine, _today(ctx))
    for basis, text in (
        (v["revenue"], "你按交易收益（销售额）排了序：金字塔按客户的价值（财务价值 value）切分，销售额大的客户不一定利润高。"),
        (orders.groupby("customer_id").size().reindex(expected["customer_id"]).fillna(0),
         "你按订单笔数排了序：金字塔按客户的价值（财务价值）切分，而不是按买了几次。"),
    ):
        alt = customer_pyramid(pd.DataFrame({"x": basis.to_numpy(dtype="float64")}), value_col="x")["level"]
        if (alt.to_numpy() == got.to_numpy()).all():
            return text
    counts = got.value_counts()
    if counts.get(PYRAMID_LEVELS[0], 0) > (expected["level"] == PYRAMID_LEVELS[0]).sum():
        return "关键客户多了：名次 ≤ ceil(0.2 × n) 才是关键客户（名次并列时一起上移）。"
    return "名次 rank = 1 + 价值比他高的客户数；关键客户 rank ≤ ceil(0.2n)，普通客户 rank ≤ ceil(0.5n)，其余为小客户。"


@calculation("ch06.pyramid", points=6, key="customer_id", diagnose=_safe(_diagnose_pyramid))
def pyramid_levels(ctx: Any) -> pd.DataFrame:
    return pyramid(ctx).copy()


def _dictionary(store: Any) -> pd.DataFrame:
    d = store.read("dictionary")
    return d[d["list_name"] == "customer_level"].set_index("value")


@operation("ch06.dictionary", points=4)
def check_dictionary(ctx: Any, _answer: Any) -> CheckResult:
    d = _dictionary(ctx.store)
    for level in PYRAMID_LEVELS:
        if level not in d.index:
            return CheckResult(False, f"“客户等级”字典里还没有“{level}”：用 lab.admin.add_dictionary_value(\"customer_level\", "
                                      f"\"{level}\") 添加（字典由系统管理员维护）。")
        if not bool(d.loc[level, "in_use"]):
            return CheckResult(False, f"“{level}”被停用了：金字塔的三个等级都要启用。")
    for level in OLD_LEVELS:
        if level in d.index and bool(d.loc[level, "in_use"]):
            return CheckResult(False, f"四层金字塔的“{level}”还在使用：用 lab.admin.disable_dictionary_value(\"customer_level\", "
                                      f"\"{level}\") 停用（已有客户的等级不受影响，但新录入时不能再选）。")
    return CheckResult(True)


@operation("ch06.levels_written", points=6)
def check_levels(ctx: Any, _answer: Any) -> CheckResult:
    want = pyramid(ctx).set_index("customer_id")["level"]
    now = ctx.store.read("customer").set_index("id")
    before = ctx.pristine.read("customer").set_index("id")
    got = now["level"].reindex(want.index)
    wrong = got.astype(object).where(got.notna(), None) != want
    if wrong.all():
        return CheckResult(False, "客户等级还没有写回：用 lab.crm.set_customer_levels(pyramid) 一次写入全部现实客户的等级。")
    if wrong.any():
        sample = want.index[wrong.to_numpy()][:3].tolist()
        return CheckResult(False, f"有 {int(wrong.sum())} 个客户的等级与练习 4.1 的金字塔不同（如 {sample}）："
                                  "写回的应是按财务价值切分的等级。")
    others = before.index.difference(want.index)
    moved = now["level"].reindex(others).astype(object).fillna("") != before["level"].reindex(others).astype(object).fillna("")
    if moved.any():
        return CheckResult(False, f"{int(moved.sum())} 个没有成交的客户的等级也被改了：潜在客户不参与金字塔分级，保持原样。")
    audit = ctx.store.read("audit_log")
    audit = audit[(audit["table_name"] == "customer") & (audit["field"] == "level") & (audit["id"] > _max_audit(ctx))]
    # the last change of each customer's level must be the student's own (lab.crm, not lab.admin)
    last = audit.sort_values("id").drop_duplicates("row_id", keep="last")
    changed = want.index[(before["level"].reindex(want.index).astype(object).fillna("") != want).to_numpy()]
    last = last[last["row_id"].isin(changed)]
    if last.empty or not (last["employee_id"].fillna(-1) == int(ctx.me["id"])).all():
        return CheckResult(False, "等级要以你自己的身份（lab.crm）写入，操作日志里才会记下是谁改的；不要用 lab.admin。")
    return CheckResult(True)


def _max_audit(ctx: Any) -> int:
    a = ctx.pristine.read("audit_log", columns=["id"])
    return int(a["id"].max()) if len(a) else 0


def key_accounts(ctx: Any) -> list[int]:
    """The KEY_ACCOUNTS enterprise customers with the highest financial value (ties: smaller id)."""
    v = values(ctx)
    cust = ctx.pristine.read("customer", columns=["id", "kind"]).set_index("id")["kind"]
    v = v[v["customer_id"].map(cust).eq("企业")]
    v = v.sort_values(["value", "customer_id"], ascending=[False, True])
    return [int(x) for x in v["customer_id"].head(KEY_ACCOUNTS)]


@operation("ch06.key_accounts_moved", points=6)
def check_key_accounts(ctx: Any, _answer: Any) -> CheckResult:
    dept = ctx.store.read("department")
    kam = dept[dept["name"] == KAM_DEPARTMENT]
    if kam.empty:
        return CheckResult(False, f"还没有“{KAM_DEPARTMENT}”：用 lab.admin.add_department(\"{KAM_DEPARTMENT}\", parent=销售部的编号) 新建。")
    sales = dept.loc[dept["name"] == KAM_PARENT, "id"]
    parent = kam["parent_id"].iloc[0]
    if pd.isna(parent) or int(parent) not in set(int(x) for x in sales):
        return CheckResult(False, f"“{KAM_DEPARTMENT}”的上级部门应是“{KAM_PARENT}”，这样它在你（销售总监）的管理范围内。")
    emp = ctx.store.read("employee").set_index("id")
    in_kam = emp[(emp["department_id"] == int(kam["id"].iloc[0])) & (emp["status"] == "正常")]
    if in_kam.empty:
        return CheckResult(False, f"“{KAM_DEPARTMENT}”还没有员工：用 lab.admin.hire(...) 招一位大客户经理（登录名 {KAM_LOGIN}）。")
    ids = key_accounts(ctx)
    owners = ctx.store.read("customer").set_index("id")["owner_id"]
    not_moved = [c for c in ids if int(owners[c]) not in set(in_kam.index)]
    if not_moved:
        return CheckResult(False, f"{len(not_moved)} 个大客户还没有交给{KAM_DEPARTMENT}（如 {not_moved[:3]}）：大客户是财务价值最高的 "
                                  f"{KAM_ACCOUNTS_TEXT}；用 lab.crm.assign_key_accounts(key_accounts, \"{KAM_LOGIN}\", "
                                  f"department=\"{KAM_DEPARTMENT}\")。")
    if len({int(owners[c]) for c in ids}) != 1:
        return CheckResult(False, "大客户应交给同一位大客户经理统一管理。")
    extra = [int(c) for c, o in owners.items() if int(o) in set(in_kam.index) and int(c) not in set(ids)]
    if extra:
        return CheckResult(False, f"多转了 {len(extra)} 个客户（如 {extra[:3]}）：只有练习中的 {KEY_ACCOUNTS} 个大客户交给{KAM_DEPARTMENT}。")
    hist = new_rows(ctx, "owner_history")
    if not set(ids) <= set(int(x) for x in hist["customer_id"]):
        return CheckResult(False, "负责人变更要通过 CRM 操作（assign_key_accounts 或 transfer_customer），负责人变更记录才完整。")
    return CheckResult(True)


KAM_ACCOUNTS_TEXT = f"{KEY_ACCOUNTS} 个企业客户"


def expected_visits(ctx: Any, levels: pd.Series) -> set[tuple[int, dt.date]]:
    """(customer, date) of every visit the interval rule asks for, given the customers' levels."""
    today = _today(ctx).date()
    until = today + dt.timedelta(days=VISIT_HORIZON)
    out = set()
    for cid, level in levels.items():
        n = INTERVALS.get(level)
        if n is None:
            continue
        day = today + dt.timedelta(days=n)
        while day <= until:
            out.add((int(cid), day))
            day += dt.timedelta(days=n)
    return out


@operation("ch06.visits", points=6)
def check_visits(ctx: Any, _answer: Any) -> CheckResult:
    levels = ctx.store.read("customer").set_index("id")["level"].dropna()
    levels = levels[levels.isin(list(INTERVALS))]
    if not (levels == PYRAMID_LEVELS[0]).any():
        return CheckResult(False, "还没有客户的等级是“关键客户”：先完成练习 4.2 和 4.3（字典和等级写回）。")
    want = expected_visits(ctx, levels)
    care = ctx.store.read("care")
    fresh = new_rows(ctx, "care")
    fresh = fresh[fresh["care_type"] == "售后回访"]
    if fresh.empty:
        return CheckResult(False, "还没有新的回访计划：用 lab.crm.plan_level_visits(intervals, until=...) 按等级安排回访。")
    got_new = {(int(c), d.date()) for c, d in zip(fresh["customer_id"], fresh["planned_date"])}
    open_visits = care[(care["care_type"] == "售后回访") & care["done_date"].isna()]
    got_all = {(int(c), d.date()) for c, d in zip(open_visits["customer_id"], open_visits["planned_date"])}
    extra = got_new - want
    missing = want - got_all
    if extra or missing:
        by_level = {lv: sum(1 for c, _ in missing if levels.get(c) == lv) for lv in INTERVALS}
        text = "，".join(f"{lv} 少 {n} 次" for lv, n in by_level.items() if n)
        return CheckResult(False, f"回访计划与规则不符：多了 {len(extra)} 次、少了 {len(missing)} 次{('（' + text + '）') if text else ''}。"
                                  f"间隔：关键客户 30 天、普通客户 90 天、小客户 180 天；从今天起算，第一次在今天 + 间隔，"
                                  f"到今天 + {VISIT_HORIZON} 天为止。")
    owners = ctx.store.read("customer").set_index("id")["owner_id"]
    if not (fresh["employee_id"].to_numpy() == fresh["customer_id"].map(owners).to_numpy()).all():
        return CheckResult(False, "回访应由客户的负责人执行（employee_id = 客户的 owner_id）：先转移大客户，再安排回访。")
    return CheckResult(True)


# --- 任务五: the buying centre ------------------------------------------------------------------------------


def _missing_roles(ctx: Any) -> dict[int, list[str]]:
    contacts = ctx.pristine.read("contact")
    contacts = contacts[contacts["status"] != "离职"]
    out = {}
    for cid in key_accounts(ctx):
        have = set(contacts.loc[contacts["customer_id"] == cid, "buying_role"].dropna())
        out[cid] = [r for r in BUYING_ROLES if r not in have]
    return out


def _diagnose_roles(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：键是大客户的 customer_id（整数），值是缺少的购买角色列表。"
    if set(answer) != set(expected):
        return f"键应是练习 4.4 的 {KEY_ACCOUNTS} 个大客户（key_accounts）。"
    contacts = ctx.pristine.read("contact")
    for cid, roles in expected.items():
        have_all = set(contacts.loc[contacts["customer_id"] == cid, "buying_role"].dropna())
        if set(answer[cid]) == {r for r in BUYING_ROLES if r not in have_all} != set(roles):
            return "已离职（status == \"离职\"）的联系人不再是购买中心的成员：先去掉他们再看缺哪些角色。"
    return None


@calculation("ch06.missing_roles", points=6, diagnose=_safe(_diagnose_roles))
def missing_roles(ctx: Any) -> dict[int, list[str]]:
    return _missing_roles(ctx)


# --- 任务六: judgement of the classic mistakes ---------------------------------------------------------------

MISTAKES_KEY = {"S1": "B", "S2": "C", "S3": "A", "S4": "D"}
_MISTAKE_WHY = {
    "A": "它按销售额（交易收益）排序——销售额高不等于利润高，应按扣除各项成本后的财务价值",
    "B": "rank(method=\"first\") 让并列值按行的先后得到不同名次，同样的购买次数得了不同分",
    "C": "它按订单笔数（买了几次）切金字塔，而不是按客户的价值",
    "D": "它按财务价值、用 rank(method=\"min\") 一类保持并列的规则，没有这三种错误",
}


def _diagnose_mistakes(_ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict):
        return "答案应是字典：键 S1–S4，值 A、B、C、D 之一。"
    for k, want in expected.items():
        if answer.get(k) != want:
            return f"{k} 选错了：{_MISTAKE_WHY[want]}。"
    return None


@judgement("ch06.mistakes", points=6, diagnose=_safe(_diagnose_mistakes))
def mistakes(_ctx: Any) -> dict[str, str]:
    return dict(MISTAKES_KEY)


__all__ = ["values", "buyers", "pyramid", "key_accounts", "retention_rate", "expected_visits",
           "approved_orders", "as_of", "INTERVALS", "KEY_ACCOUNTS", "MISTAKES_KEY"]
