"""ch03 企业产品管理 — world set-up and questions.

Tasks: extend the product category tree and create products to a spec, discontinue (停售) the
slowest seller (operations); after the year-end stock-take, compute the replenishment list
(calculation) and book the goods in and a sample out (operation); build a star schema and
answer roll-up / drill-down / slice / dice / cube questions (calculations); association rules
on customers' baskets for cross-selling (calculations); classify data-mining tasks and
call-center technologies (judgements).

Every reference below is an independent pandas computation on the student's world (not the
warehouse or association code the notebook uses), except where noted.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from ..checks import CheckResult
from ..questions import calculation, judgement, operation
from . import max_id, new_rows

#: the sales director manages the product catalogue in this chapter's scenario
PRODUCT_ROLE = "销售主管"

#: 练习 1.1: the new category and its parent (an existing top-level category of every world)
NEW_CATEGORY = "智能办公本"
PARENT_CATEGORY = "办公设备"

#: 练习 1.2: the two new products (same for every student)
NEW_PRODUCTS = [
    {"name": "电子墨水办公本", "model": "EN-10", "unit": "台", "price": 2999.0, "cost": 1850.0, "stock": 40.0,
     "stock_lower": 15.0, "stock_upper": 120.0, "warranty_months": 12},
    {"name": "办公本手写笔", "model": "EP-2", "unit": "个", "price": 399.0, "cost": 180.0, "stock": 100.0,
     "stock_lower": 30.0, "stock_upper": 300.0, "warranty_months": 6},
]
#: 练习 2.2: showroom samples taken out of stock
SAMPLE_PRODUCT = "电子墨水办公本"
SAMPLE_QTY = 2.0

#: 任务四: given rules (antecedent product id → consequent product id)
GIVEN_RULES = [(4, 26), (1, 25), (14, 15), (14, 26)]
MIN_SUPPORT = 0.05

#: 任务三: the regions of the dice
DICE_REGIONS = ("华东", "华南")

STOCKTAKE_NOTE = "年末盘点"


# --- shared helpers ---------------------------------------------------------------------------


def _today(ctx_or_world: Any) -> pd.Timestamp:
    world = getattr(ctx_or_world, "world", ctx_or_world)
    return pd.Timestamp(world.today)


def approved_lines(store: Any, today: Any) -> pd.DataFrame:
    """Order lines of approved orders (approval 同意, order_date ≤ today) with the order's
    customer, date, year and quarter."""
    orders = store.read("sales_order", columns=["id", "customer_id", "order_date", "approval"])
    orders = orders[(orders["approval"] == "同意") & (orders["order_date"] <= pd.Timestamp(today))]
    lines = store.read("order_line", columns=["id", "order_id", "product_id", "quantity", "amount"])
    out = lines.merge(orders[["id", "customer_id", "order_date"]].rename(columns={"id": "order_id"}),
                      on="order_id", how="inner")
    out["year"] = out["order_date"].dt.year.astype("int64")
    out["quarter"] = out["order_date"].dt.quarter.astype("int64")
    return out


def sales_last_year(store: Any, today: Any) -> pd.Series:
    """Sales amount per product over the 365 days up to ``today`` (approved orders)."""
    today = pd.Timestamp(today)
    lines = approved_lines(store, today)
    recent = lines[lines["order_date"] > today - pd.Timedelta(days=365)]
    return recent.groupby("product_id")["amount"].sum()


def slowest_product(store: Any, today: Any) -> int:
    """The 正常 physical product (with a lower stock limit) with the lowest sales in the last
    365 days (no sales = 0; ties: smaller id)."""
    p = store.read("product")
    phys = p[(p["status"] == "正常") & p["stock_lower"].notna()]
    s = sales_last_year(store, today).reindex(phys["id"].to_numpy(), fill_value=0.0)
    frame = pd.DataFrame({"id": s.index.astype("int64"), "amount": s.to_numpy().round(2)})
    return int(frame.sort_values(["amount", "id"]).iloc[0]["id"])


# --- world set-up: product rights, year-end stock-take -----------------------------------------


def prepare_world(world: Any) -> None:
    """The scenario's starting point, the same for the lab and the referee:

    * the firm lets its 销售主管 role create and update products (产品管理), because the sales
      director runs the catalogue project; the generated firm gives that role only read rights;
    * 仓储部 has just finished the year-end stock-take: a few products were counted below their
      lower limit (one of them already 停售), one exactly at it, one above its upper limit. The
      differences are booked as 盘点调整 moves dated today.
    """
    from ...crm import CRM

    store = world.store
    today = _today(world)
    admin = CRM.system(store, now=dt.datetime.combine(today.date(), dt.time(17, 0)))
    admin.set_role_rights(PRODUCT_ROLE, "product", create=True, read=True, update=True)

    rng = np.random.default_rng([int(world.seed), 3])
    p = store.read("product").sort_values("id")
    slow = slowest_product(store, today)
    cand = p[(p["status"] == "正常") & p["stock_lower"].notna() & (p["id"] != slow)
             & (p["stock_lower"] >= 4)]
    picks = rng.choice(cand["id"].to_numpy(), size=5, replace=False)
    rows = p.set_index("id")
    for i, pid in enumerate(picks):
        lo, hi = float(rows.loc[pid, "stock_lower"]), float(rows.loc[pid, "stock_upper"])
        if i < 3:      # below the lower limit
            counted = float(math.floor(lo * rng.uniform(0.2, 0.8)))
        elif i == 3:   # exactly at the lower limit: not an alert
            counted = lo
        else:          # above the upper limit
            counted = hi + max(1.0, float(round(hi * rng.uniform(0.1, 0.3))))
        admin.adjust_stock(int(pid), counted, note=STOCKTAKE_NOTE)
    stopped = p[(p["status"] == "停售") & p["stock_lower"].notna() & (p["stock_lower"] >= 4)]
    if len(stopped):
        pid = int(rng.choice(stopped["id"].to_numpy()))
        lo = float(rows.loc[pid, "stock_lower"])
        admin.adjust_stock(pid, float(math.floor(lo * rng.uniform(0.2, 0.6))), note=STOCKTAKE_NOTE)


# --- 任务一: category, products, 停售 -------------------------------------------------------------


def _category_id(store: Any, name: str) -> int | None:
    cats = store.read("product_category")
    hit = cats[cats["name"] == name].sort_values("id")
    return int(hit.iloc[0]["id"]) if len(hit) else None


@operation("ch03.category", points=4)
def check_category(ctx: Any, _answer: Any) -> CheckResult:
    added = new_rows(ctx, "product_category")
    mine = added[added["name"].astype(str).str.strip() == NEW_CATEGORY]
    if mine.empty:
        if len(added):
            return CheckResult(False, f"新建的类别名称是“{added.iloc[0]['name']}”，应为“{NEW_CATEGORY}”。")
        return CheckResult(False, f"数据库中没有新类别“{NEW_CATEGORY}”：请用 lab.crm.add_category(名称, parent=上级类别编号) 创建。")
    if len(mine) > 1:
        return CheckResult(False, f"类别“{NEW_CATEGORY}”被创建了 {len(mine)} 次（重复运行了单元格？）。"
                                  "请运行 lab.undo(\"ch03.category\") 撤销后重做本练习。")
    parent = _category_id(ctx.pristine, PARENT_CATEGORY)
    got = mine.iloc[0]["parent_id"]
    if pd.isna(got):
        return CheckResult(False, f"新类别没有上级类别：它应挂在“{PARENT_CATEGORY}”之下（parent= 该类别的 id）。")
    if int(got) != parent:
        cats = ctx.pristine.read("product_category").set_index("id")
        name = cats["name"].get(int(got), got)
        return CheckResult(False, f"新类别挂在了“{name}”之下，应挂在“{PARENT_CATEGORY}”（id {parent}）之下。"
                                  "注意 parent 要填类别的 id，而不是类别编号 code。")
    return CheckResult(True)


def _product_fields_ok(row: pd.Series, spec: dict[str, Any], moves: pd.DataFrame) -> str | None:
    for field in ("model", "unit"):
        if str(row[field]) != spec[field]:
            return f"产品“{spec['name']}”的 {field} 是 {row[field]!r}，应为 {spec[field]!r}。"
    for field in ("price", "cost", "stock_lower", "stock_upper", "warranty_months"):
        if pd.isna(row[field]) or not math.isclose(float(row[field]), float(spec[field]), abs_tol=1e-6):
            return f"产品“{spec['name']}”的 {field} 是 {row[field]}，应为 {spec[field]:g}。"
    out = -moves.loc[(moves["product_id"] == row["id"]) & (moves["kind"] == "出库"), "quantity"].sum()
    if not math.isclose(float(row["stock"]) + float(out), spec["stock"], abs_tol=1e-6):
        return (f"产品“{spec['name']}”的期初库存应为 {spec['stock']:g}（create_product(..., stock={spec['stock']:g})），"
                f"现在库存是 {row['stock']:g}。")
    if row["status"] != "正常":
        return f"新产品“{spec['name']}”的状态应为“正常”。"
    return None


@operation("ch03.products", points=8)
def check_products(ctx: Any, _answer: Any) -> CheckResult:
    added = new_rows(ctx, "product")
    if added.empty:
        return CheckResult(False, "数据库中没有新产品：请用 lab.crm.create_product(...) 创建练习中的两个产品。")
    cats = new_rows(ctx, "product_category")
    new_cat = cats.loc[cats["name"].astype(str).str.strip() == NEW_CATEGORY, "id"]
    moves = ctx.store.read("stock_move")
    for spec in NEW_PRODUCTS:
        found = added[added["name"].astype(str).str.strip() == spec["name"]]
        if found.empty:
            return CheckResult(False, f"没有找到新产品“{spec['name']}”（名称要与题目完全一致）。")
        if len(found) > 1:
            return CheckResult(False, f"产品“{spec['name']}”被创建了 {len(found)} 次（重复运行了单元格？）。"
                                      "请运行 lab.undo(\"ch03.products\") 撤销后重做本练习。")
        row = found.iloc[0]
        if new_cat.empty or int(row["category_id"]) not in set(new_cat.astype(int)):
            return CheckResult(False, f"产品“{spec['name']}”应属于练习 1.1 新建的类别“{NEW_CATEGORY}”"
                                      "（category_id 填新类别的 id）。")
        problem = _product_fields_ok(row, spec, moves)
        if problem:
            return CheckResult(False, problem)
    return CheckResult(True)


@operation("ch03.discontinue", points=5)
def check_discontinue(ctx: Any, _answer: Any) -> CheckResult:
    target = slowest_product(ctx.pristine, _today(ctx))
    before = ctx.pristine.read("product").set_index("id")["status"]
    now = ctx.store.read("product").set_index("id")["status"]
    changed = [int(i) for i in before.index if now.get(i) != before[i]]
    names = ctx.store.read("product").set_index("id")["name"]
    new_stopped = new_rows(ctx, "product")
    new_stopped = new_stopped[new_stopped["status"] == "停售"]
    if len(new_stopped):
        return CheckResult(False, f"你把自己新建的产品“{new_stopped.iloc[0]['name']}”停售了：要停售的是世界生成时已有的产品"
                                  "（它们在 lab.pristine 中；新产品没有销售记录，不参加比较）。")
    if target in changed and changed == [target]:
        return CheckResult(True)
    wrong = [i for i in changed if i != target]
    if wrong:
        w = wrong[0]
        if now.get(w) == "正常":
            return CheckResult(False, f"产品“{names[w]}”原来是停售的，现在被改回了正常：不要改变其他产品的状态。")
        lines = approved_lines(ctx.pristine, _today(ctx))
        if lines[lines["order_date"] > _today(ctx) - pd.Timedelta(days=365)].empty:
            return CheckResult(False, "停售的产品不对。")
        return CheckResult(False, f"停售的产品“{names[w]}”不是近一年销售额最低的实物产品。检查：只算已审批订单、"
                                  "order_date 在 lab.today 之前 365 天内（不含第 365 天前那一天）、按销售额（amount 之和）"
                                  "而不是数量比较、只比较状态“正常”且有库存下限的产品、没有销售的记为 0。")
    return CheckResult(False, "还没有停售任何产品：请用 lab.crm.discontinue_product(产品编号) 停售近一年销售额最低的产品。")


# --- 任务二: replenishment --------------------------------------------------------------------------


def reorder_table(store: Any) -> pd.DataFrame:
    p = store.read("product")
    low = p[(p["status"] == "正常") & p["stock_lower"].notna() & (p["stock"] < p["stock_lower"])].copy()
    low["order_qty"] = (low["stock_upper"] - low["stock"]).astype("float64")
    low["order_cost"] = (low["order_qty"] * low["cost"]).round(2)
    low = low.rename(columns={"id": "product_id"})
    low["product_id"] = low["product_id"].astype("int64")
    return low[["product_id", "order_qty", "order_cost"]].sort_values("product_id").reset_index(drop=True)


def _diagnose_reorder(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "product_id" not in answer.columns:
        return None
    p = ctx.pristine.read("product").set_index("id")
    try:
        got = {int(x) for x in answer["product_id"]}
    except (TypeError, ValueError):
        return "product_id 列应是产品编号（整数 id），不是产品编码 code。"
    want = set(expected["product_id"].astype(int))
    stopped = [i for i in got - want if i in p.index and p.loc[i, "status"] == "停售"]
    if stopped:
        return f"“{p.loc[stopped[0], 'name']}”已经停售：停售的产品不再销售，不需要补货。"
    high = [i for i in got - want if i in p.index and pd.notna(p.loc[i, "stock_upper"]) and p.loc[i, "stock"] > p.loc[i, "stock_upper"]]
    if high:
        return f"“{p.loc[high[0], 'name']}”的库存高于上限（积压），不是缺货：补货单只包括低于下限的产品。"
    equal = [i for i in got - want if i in p.index and p.loc[i, "stock"] == p.loc[i, "stock_lower"]]
    if equal:
        return f"“{p.loc[equal[0], 'name']}”的库存恰好等于下限，不算低于下限：条件是 stock < stock_lower（不是 <=）。"
    new = [i for i in got if i not in p.index]
    if new:
        return "补货单里有世界生成之后新建的产品：请用 lab.pristine.read('product') 计算。"
    if got == want and "order_qty" in answer.columns:
        a = answer.set_index(answer["product_id"].astype(int)).sort_index()
        e = expected.set_index("product_id").sort_index()
        lo = (p.loc[e.index, "stock_lower"] - p.loc[e.index, "stock"]).to_numpy()
        if np.allclose(a["order_qty"].to_numpy(dtype=float), lo):
            return "补货数量应把库存补到上限（stock_upper − stock），而不是只补到下限。"
        if "order_cost" in answer.columns and np.allclose(a["order_qty"].to_numpy(dtype=float), e["order_qty"].to_numpy()):
            price = (e["order_qty"] * p.loc[e.index, "price"]).to_numpy()
            if np.allclose(a["order_cost"].to_numpy(dtype=float), price, atol=0.01):
                return "补货金额按成本价（cost）计算，不是标准售价（price）：这是采购要付出的钱。"
    return None


@calculation("ch03.reorder", points=10, key="product_id", atol=0.01, diagnose=_diagnose_reorder, what="补货单")
def reorder(ctx: Any) -> pd.DataFrame:
    return reorder_table(ctx.pristine)


@operation("ch03.restock", points=5)
def check_restock(ctx: Any, _answer: Any) -> CheckResult:
    expected = reorder_table(ctx.pristine)
    moves = new_rows(ctx, "stock_move")
    old_max = max_id(ctx.pristine, "product")
    ins = moves[(moves["kind"] == "入库") & (moves["product_id"] <= old_max)]
    want = dict(zip(expected["product_id"].astype(int), expected["order_qty"].astype(float)))
    if ins.empty:
        return CheckResult(False, "还没有补货入库：请对补货单中的每个产品调用 lab.crm.stock_in(产品编号, 补货数量, note='补货')。")
    counts = ins.groupby("product_id").size()
    if (counts > 1).any():
        pid = int(counts[counts > 1].index[0])
        return CheckResult(False, f"产品 {pid} 入库了 {int(counts[pid])} 次（重复运行了入库单元格？）。"
                                  "请运行 lab.undo(\"ch03.restock\") 撤销本练习的出入库后重做。")
    got = dict(zip(ins["product_id"].astype(int), ins["quantity"].astype(float)))
    extra = sorted(set(got) - set(want))
    if extra:
        return CheckResult(False, f"产品 {extra[0]} 不在补货单中，不应入库。")
    missing = sorted(set(want) - set(got))
    if missing:
        return CheckResult(False, f"补货单中的产品 {missing[0]} 还没有入库。")
    for pid, qty in want.items():
        if not math.isclose(got[pid], qty, abs_tol=1e-6):
            return CheckResult(False, f"产品 {pid} 入库 {got[pid]:g}，应为补货数量 {qty:g}（补到库存上限）。")
    new_products = new_rows(ctx, "product")
    sample = new_products[new_products["name"] == SAMPLE_PRODUCT]
    if sample.empty:
        return CheckResult(False, f"没有找到新产品“{SAMPLE_PRODUCT}”（练习 1.2），无法检查样机出库。")
    outs = moves[(moves["kind"] == "出库") & (moves["product_id"] == int(sample.iloc[0]["id"]))]
    if outs.empty:
        return CheckResult(False, f"还没有为展厅领用样机：请用 lab.crm.stock_out(...) 从“{SAMPLE_PRODUCT}”出库 {SAMPLE_QTY:g} 台。")
    total = -float(outs["quantity"].sum())
    if len(outs) > 1 or not math.isclose(total, SAMPLE_QTY):
        return CheckResult(False, f"“{SAMPLE_PRODUCT}”共出库 {total:g} 台（{len(outs)} 次），应为一次出库 {SAMPLE_QTY:g} 台。"
                                  "如果重复运行了单元格，请运行 lab.undo(\"ch03.restock\") 撤销后重做。")
    other_out = moves[(moves["kind"] == "出库") & (moves["product_id"] != int(sample.iloc[0]["id"]))]
    if len(other_out):
        return CheckResult(False, "其他产品也有手工出库记录：只需为展厅领用样机。")
    return CheckResult(True)


# --- 任务三: OLAP --------------------------------------------------------------------------------


def _regions() -> pd.DataFrame:
    from ... import reference

    return reference.regions()[["province", "region"]].drop_duplicates("province")


def cube_frame(ctx: Any) -> pd.DataFrame:
    """One row per approved order line with year, quarter, province, region, kind, category."""
    def build() -> pd.DataFrame:
        store = ctx.pristine
        lines = approved_lines(store, _today(ctx))
        cust = store.read("customer", columns=["id", "province", "kind"]).rename(columns={"id": "customer_id"})
        prod = store.read("product")[["id", "category_id"]].rename(columns={"id": "product_id"})
        cats = store.read("product_category")[["id", "name"]].rename(columns={"id": "category_id", "name": "category"})
        out = (lines.merge(cust, on="customer_id", how="left").merge(prod, on="product_id", how="left")
               .merge(cats, on="category_id", how="left").merge(_regions(), on="province", how="left"))
        return out
    return ctx.once("ch03.cube", build)


def _sum(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    out = frame.groupby(by, as_index=False)["amount"].sum()
    out["amount"] = out["amount"].round(2)
    return out


def _int_keys_hint(answer: Any, cols: list[str]) -> str | None:
    if isinstance(answer, pd.DataFrame) and all(c in answer.columns for c in cols):
        for c in cols:
            if not pd.api.types.is_integer_dtype(answer[c]):
                return (f"列 {c} 应是整数（如 2025），你的是 {answer[c].dtype}：小计行的空值（NULL/NaN）要换成 0，"
                        f"如 SQL 中写 COALESCE({c}, 0)，pandas 中写 .fillna(0).astype(int)。")
    return None


def _diagnose_rollup(ctx: Any, answer: Any, expected: Any) -> str | None:
    hint = _int_keys_hint(answer, ["year", "quarter"])
    if hint:
        return hint
    if isinstance(answer, pd.DataFrame) and "quarter" in answer.columns:
        if not (answer["quarter"] == 0).any():
            return "缺少小计行：ROLLUP(year, quarter) 除了每个季度，还有每年的小计（quarter = 0）和总计（year = 0, quarter = 0）。"
        if "amount" in answer.columns and len(answer) == len(expected):
            total = float(answer.loc[(answer["year"] == 0), "amount"].sum())
            all_orders = ctx.pristine.read("order_line")["amount"].sum()
            if math.isclose(total, float(all_orders), rel_tol=1e-6):
                return "总计包括了所有订单：只统计已审批（approval == '同意'）的订单——星型模型就是按这个条件建的。"
    return None


@calculation("ch03.rollup", points=5, key=["year", "quarter"], atol=0.01, diagnose=_diagnose_rollup, what="销售额")
def rollup_year_quarter(ctx: Any) -> pd.DataFrame:
    cube = cube_frame(ctx)
    q = _sum(cube, ["year", "quarter"])
    y = _sum(cube, ["year"]).assign(quarter=0)
    t = pd.DataFrame({"year": [0], "quarter": [0], "amount": [round(float(cube["amount"].sum()), 2)]})
    out = pd.concat([q, y[["year", "quarter", "amount"]], t], ignore_index=True)
    out[["year", "quarter"]] = out[["year", "quarter"]].astype("int64")
    return out


def top_region(ctx: Any) -> str:
    by = _sum(cube_frame(ctx), ["region"]).sort_values(["amount", "region"], ascending=[False, True])
    return str(by.iloc[0]["region"])


def _diagnose_drill(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or "province" not in answer.columns:
        return None
    regions = _regions().set_index("province")["region"]
    theirs = {regions.get(p) for p in answer["province"]} - {None}
    best = top_region(ctx)
    if len(theirs) == 1 and best not in theirs:
        return f"你下钻的是“{next(iter(theirs))}”大区，但销售额（全部年份合计）最高的大区不是它：先按 region 汇总再找最大。"
    if len(theirs) > 1:
        return "下钻只展开一个大区：只保留销售额最高的那个大区下的省份。"
    return None


@calculation("ch03.drill", points=5, key="province", atol=0.01, diagnose=_diagnose_drill, what="销售额")
def drill_top_region(ctx: Any) -> pd.DataFrame:
    cube = cube_frame(ctx)
    return _sum(cube[cube["region"] == top_region(ctx)], ["province"])


def _diagnose_slice(ctx: Any, answer: Any, expected: Any) -> str | None:
    if isinstance(answer, pd.DataFrame) and {"category", "amount"} <= set(answer.columns):
        allyears = _sum(cube_frame(ctx), ["category"]).set_index("category")["amount"]
        a = answer.set_index("category")["amount"]
        if set(a.index) == set(allyears.index) and np.allclose(a[allyears.index].to_numpy(dtype=float), allyears.to_numpy(), atol=0.01):
            return "这是所有年份的合计：切片要先固定 year = lab.today.year（只保留这一年的数据），再按类别汇总。"
    return None


@calculation("ch03.slice", points=4, key="category", atol=0.01, diagnose=_diagnose_slice, what="销售额")
def slice_year(ctx: Any) -> pd.DataFrame:
    cube = cube_frame(ctx)
    return _sum(cube[cube["year"] == _today(ctx).year], ["category"])


def _dice_years(ctx: Any) -> tuple[int, int]:
    y = _today(ctx).year
    return (y - 1, y)


def _diagnose_dice(ctx: Any, answer: Any, expected: Any) -> str | None:
    if isinstance(answer, pd.DataFrame) and "region" in answer.columns:
        if set(answer["region"]) - set(DICE_REGIONS):
            return f"切块只保留 {'、'.join(DICE_REGIONS)} 两个大区。"
        if {"category", "amount"} <= set(answer.columns):
            cube = cube_frame(ctx)
            c = cube[cube["region"].isin(DICE_REGIONS)]
            allyears = _sum(c, ["region", "category"])
            m = answer.merge(allyears, on=["region", "category"], suffixes=("", "_all"))
            if len(m) == len(allyears) and np.allclose(m["amount"].to_numpy(dtype=float), m["amount_all"].to_numpy(), atol=0.01):
                return "你没有限制年份：切块要同时固定三个维度的取值范围——年份只取最近两年。"
    return None


@calculation("ch03.dice", points=4, key=["region", "category"], atol=0.01, diagnose=_diagnose_dice, what="销售额")
def dice_region_category(ctx: Any) -> pd.DataFrame:
    cube = cube_frame(ctx)
    part = cube[cube["year"].isin(_dice_years(ctx)) & cube["region"].isin(DICE_REGIONS)]
    return _sum(part, ["region", "category"])


def _diagnose_cube(ctx: Any, answer: Any, expected: Any) -> str | None:
    if isinstance(answer, pd.DataFrame) and {"region", "kind"} <= set(answer.columns):
        if answer[["region", "kind"]].isna().any().any():
            return "小计行的空值（NULL）要换成文字“全部”：SQL 中写 COALESCE(region, '全部')，pandas 中写 .fillna('全部')。"
        if not ((answer["region"] == "全部") & (answer["kind"] == "全部")).any():
            return "CUBE 的结果包括：每个（大区, 客户类型）组合、每个大区的小计、每种客户类型的小计，以及一行总计（全部, 全部）。"
    return None


@calculation("ch03.cube", points=5, key=["region", "kind"], atol=0.01, diagnose=_diagnose_cube, what="销售额")
def cube_region_kind(ctx: Any) -> pd.DataFrame:
    cube = cube_frame(ctx)
    c = cube[cube["year"] == _today(ctx).year]
    parts = [_sum(c, ["region", "kind"]),
             _sum(c, ["region"]).assign(kind="全部"),
             _sum(c, ["kind"]).assign(region="全部"),
             pd.DataFrame({"region": ["全部"], "kind": ["全部"], "amount": [round(float(c["amount"].sum()), 2)]})]
    out = pd.concat([x[["region", "kind", "amount"]] for x in parts], ignore_index=True)
    out["region"] = out["region"].astype(str)
    out["kind"] = out["kind"].astype(str)
    return out


# --- 任务四: association rules on customers' baskets -----------------------------------------------


def baskets(ctx: Any) -> pd.DataFrame:
    """Distinct (customer_id, product_id) pairs of approved orders up to today."""
    def build() -> pd.DataFrame:
        lines = approved_lines(ctx.pristine, _today(ctx))
        return lines[["customer_id", "product_id"]].drop_duplicates().reset_index(drop=True)
    return ctx.once("ch03.baskets", build)


def pair_rules(ctx: Any) -> pd.DataFrame:
    """Every single-item rule a → c with its support, confidence and lift (customer baskets)."""
    def build() -> pd.DataFrame:
        b = baskets(ctx)
        n = b["customer_id"].nunique()
        item = b.groupby("product_id")["customer_id"].nunique()
        pairs = b.merge(b, on="customer_id", suffixes=("_a", "_c"))
        pairs = pairs[pairs["product_id_a"] != pairs["product_id_c"]]
        cnt = pairs.groupby(["product_id_a", "product_id_c"]).size().rename("count").reset_index()
        cnt = cnt.rename(columns={"product_id_a": "antecedent", "product_id_c": "consequent"})
        cnt["support"] = cnt["count"] / n
        cnt["confidence"] = cnt["count"] / cnt["antecedent"].map(item)
        cnt["lift"] = cnt["confidence"] / (cnt["consequent"].map(item) / n)
        cnt[["antecedent", "consequent"]] = cnt[["antecedent", "consequent"]].astype("int64")
        return cnt
    return ctx.once("ch03.pair_rules", build)


def _rule_values(ctx: Any, a: int, c: int) -> tuple[float, float, float]:
    r = pair_rules(ctx)
    hit = r[(r["antecedent"] == a) & (r["consequent"] == c)]
    if hit.empty:
        return 0.0, 0.0, 0.0
    h = hit.iloc[0]
    return float(h["support"]), float(h["confidence"]), float(h["lift"])


def _diagnose_rules(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, pd.DataFrame) or not {"antecedent", "consequent", "support"} <= set(answer.columns):
        return None
    a = answer.copy()
    try:
        a = a.set_index([a["antecedent"].astype(int), a["consequent"].astype(int)])
    except (TypeError, ValueError):
        return "antecedent、consequent 两列应是产品编号（整数 id）。"
    e = expected.set_index(["antecedent", "consequent"])
    if set(a.index) != set(e.index):
        return None
    a = a.loc[e.index]
    # support over orders instead of customers
    lines = approved_lines(ctx.pristine, _today(ctx))
    ob = lines[["order_id", "product_id"]].drop_duplicates()
    n_orders = ob["order_id"].nunique()
    by_order = []
    for (x, y) in e.index:
        both = ob[ob["product_id"].isin([x, y])].groupby("order_id")["product_id"].nunique()
        by_order.append((both == 2).sum() / n_orders)
    if np.allclose(a["support"].to_numpy(dtype=float), by_order, atol=1e-9):
        return "你按“订单”计算了支持度：本实训的购物篮是“客户”——每位客户买过的所有产品（N = 有已审批订单的客户数）。"
    if "confidence" in a.columns:
        swapped = [_rule_values(ctx, y, x)[1] for (x, y) in e.index]
        if np.allclose(a["confidence"].to_numpy(dtype=float), swapped, rtol=1e-6) and not np.allclose(swapped, e["confidence"]):
            return "置信度的方向反了：confidence(A→B) = 同时买过 A 和 B 的客户数 / 买过 A 的客户数（分母是前项 A）。"
    if "lift" in a.columns:
        if np.allclose(a["lift"].to_numpy(dtype=float), e["confidence"].to_numpy(), rtol=1e-6):
            return "lift 不等于置信度：lift = confidence(A→B) / support(B)，support(B) = 买过 B 的客户数 / 客户总数。"
    return None


@calculation("ch03.rules", points=7, key=["antecedent", "consequent"], rtol=1e-6, atol=1e-9,
             diagnose=_diagnose_rules, what="指标")
def given_rules(ctx: Any) -> pd.DataFrame:
    rows = [(a, c, *_rule_values(ctx, a, c)) for a, c in GIVEN_RULES]
    return pd.DataFrame(rows, columns=["antecedent", "consequent", "support", "confidence", "lift"]).astype(
        {"antecedent": "int64", "consequent": "int64"})


def top_rule_row(ctx: Any) -> pd.Series:
    r = pair_rules(ctx)
    r = r[r["support"] >= MIN_SUPPORT - 1e-12].copy()
    r["lift6"] = r["lift"].round(6)
    r = r.sort_values(["lift6", "confidence", "antecedent"], ascending=[False, False, True])
    return r.iloc[0]


def _diagnose_top(ctx: Any, answer: Any, expected: Any) -> str | None:
    if not isinstance(answer, dict) or not {"antecedent", "consequent"} <= set(answer):
        return None
    try:
        a, c = int(answer["antecedent"]), int(answer["consequent"])
    except (TypeError, ValueError):
        return "antecedent、consequent 应是产品编号（整数 id）。"
    if (a, c) == (expected["consequent"], expected["antecedent"]):
        return ("方向反了：A→B 与 B→A 的 lift 相等，题目规定此时取置信度较高的方向"
                "（置信度较高的是前项更少见的那个方向）。")
    s, _conf, lift = _rule_values(ctx, a, c)
    if s and s < MIN_SUPPORT:
        return f"规则 {a}→{c} 的支持度只有 {s:.4f}，低于最小支持度 {MIN_SUPPORT}：先筛掉支持度不够的规则，再按 lift 排序。"
    if s and lift < expected["lift"] - 1e-6:
        return f"规则 {a}→{c} 的 lift 为 {lift:.4f}，不是最高的：按 lift 从高到低排序后取第一条。"
    return None


@calculation("ch03.top_rule", points=5, rtol=1e-6, diagnose=_diagnose_top, what="lift")
def top_rule(ctx: Any) -> dict[str, Any]:
    r = top_rule_row(ctx)
    return {"antecedent": int(r["antecedent"]), "consequent": int(r["consequent"]), "lift": float(r["lift"])}


def _target_parts(ctx: Any) -> tuple[set[int], set[int], set[int]]:
    r = top_rule_row(ctx)
    b = baskets(ctx)
    has_a = set(b.loc[b["product_id"] == int(r["antecedent"]), "customer_id"].astype(int))
    has_c = set(b.loc[b["product_id"] == int(r["consequent"]), "customer_id"].astype(int))
    cust = ctx.pristine.read("customer", columns=["id", "lifecycle", "deleted"])
    lost = set(cust.loc[(cust["lifecycle"] == "失效") | cust["deleted"], "id"].astype(int))
    return has_a, has_c, lost


def _diagnose_targets(ctx: Any, answer: Any, expected: Any) -> str | None:
    try:
        got = {int(x) for x in answer}
    except (TypeError, ValueError):
        return "答案应是客户编号（整数 id）的列表。"
    has_a, has_c, lost = _target_parts(ctx)
    if got & lost:
        return "名单里有已流失（lifecycle == '失效'）的客户：交叉销售只面向仍在合作的客户。"
    if got & has_c:
        return "名单里有已经买过后项产品的客户：交叉销售的对象是“买过前项、还没买过后项”的客户。"
    if got - has_a:
        return "名单里有没买过前项产品的客户：只看买过规则前项（antecedent）的客户。"
    return None


@calculation("ch03.targets", points=5, diagnose=_diagnose_targets, what="目标客户")
def cross_sell_targets(ctx: Any) -> list[int]:
    has_a, has_c, lost = _target_parts(ctx)
    return sorted(has_a - has_c - lost)


#: options: A 预测  B 关联分析  C 偏差检测  D 分类  E 序列模式  F 聚类
MINING_KEY = {"S1": "D", "S2": "F", "S3": "B", "S4": "A", "S5": "C", "S6": "E"}


MINING_TIPS = {
    "S1": "事先有已知的类别（历史上流失 / 未流失），据此判断现有客户属于哪一类。",
    "S2": "事先没有类别，由数据自己把相似的客户归成群。",
    "S3": "说的是“同时”买过，不讲先后顺序。",
    "S4": "要估计的是未来的一个数值（销售额）。",
    "S5": "找的是与常规明显不同的个别记录。",
    "S6": "强调时间上的先后顺序（三个月后）。",
}


def _judgement_hint(answer: Any, key: dict[str, str], tips: dict[str, str], letters: str) -> str | None:
    if not isinstance(answer, dict):
        return None
    given = {k: str(v).strip().upper() for k, v in answer.items()}
    if any(k not in given for k in key):
        return None   # the generic hint names the missing keys
    bad = sorted(k for k in key if k in given and given[k] not in letters)
    if bad:
        return f"请用选项字母（{'、'.join(letters)}）作答，{bad[0]} 的答案 {answer[bad[0]]!r} 不是选项字母。"
    wrong = [k for k in key if given.get(k) != key[k]]
    if not wrong:
        return None
    return f"有 {len(wrong)} 个场景选错了。如 {wrong[0]}：{tips[wrong[0]]}再对照理论回顾选择。"


def _diagnose_mining(_ctx: Any, answer: Any, expected: Any) -> str | None:
    return _judgement_hint(answer, expected, MINING_TIPS, "ABCDEF")


@judgement("ch03.mining", points=4, diagnose=_diagnose_mining)
def mining_tasks(_ctx: Any) -> dict[str, str]:
    return dict(MINING_KEY)


# --- 任务五: call center ------------------------------------------------------------------------------

#: options: A CTI  B IVR  C ACD  D 录音与质检  E 预测式外呼
CALLCENTER_KEY = {"C1": "B", "C2": "C", "C3": "A", "C4": "D", "C5": "E"}


CALLCENTER_TIPS = {
    "C1": "客户通过按键自助完成查询，没有人工参与。",
    "C2": "关键是来电怎样排队、分给哪一位坐席。",
    "C3": "电话系统与计算机系统联动：来电号码自动对应到客户档案。",
    "C4": "对已经发生的通话进行回听和评价。",
    "C5": "由系统主动批量拨出，接通后才转给人工。",
}


def _diagnose_callcenter(_ctx: Any, answer: Any, expected: Any) -> str | None:
    return _judgement_hint(answer, expected, CALLCENTER_TIPS, "ABCDE")


@judgement("ch03.callcenter", points=4, diagnose=_diagnose_callcenter)
def callcenter(_ctx: Any) -> dict[str, str]:
    return dict(CALLCENTER_KEY)


__all__ = ["prepare_world", "approved_lines", "sales_last_year", "slowest_product", "reorder_table",
           "cube_frame", "baskets", "pair_rules", "top_rule_row", "NEW_CATEGORY", "PARENT_CATEGORY",
           "NEW_PRODUCTS", "GIVEN_RULES", "MIN_SUPPORT", "DICE_REGIONS", "MINING_KEY", "CALLCENTER_KEY"]
