"""ch03 企业产品管理: reference answers against hand-worked or independent computations,
operation checks (a correct operation passes, a wrong one fails with the right hint) and the
diagnose hints. Fast: a small world, no kernel."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import association_rules, build_star_schema, olap_cube, rollup
from simcrm.lab import start
from simcrm.lab.chapters import ch03
from simcrm.lab.questions import QUESTIONS, Context, evaluate


# --- a small hand-made store ---------------------------------------------------------------------


class FakeStore:
    """Just enough of a Store for the reference functions: ``read(name, columns=None)``."""

    def __init__(self, **tables: pd.DataFrame):
        self.tables = tables

    def read(self, name: str, columns=None, **_kw):
        frame = self.tables[name].copy()
        return frame[list(columns)] if columns is not None else frame


def _products() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "name": ["甲", "乙", "丙", "丁", "戊", "软件"],
        "status": ["正常", "正常", "停售", "正常", "正常", "正常"],
        "stock": [5.0, 30.0, 1.0, 10.0, 200.0, 0.0],
        "stock_lower": [10.0, 20.0, 10.0, 10.0, 20.0, np.nan],
        "stock_upper": [50.0, 100.0, 40.0, 60.0, 150.0, np.nan],
        "cost": [2.5, 1.0, 3.0, 4.0, 1.0, 100.0],
        "price": [4.0, 2.0, 5.0, 6.0, 2.0, 300.0],
    })


def test_reorder_hand_worked():
    # 甲 is below its lower limit (5 < 10): order up to 50 → 45 × 2.5; 丙 is 停售; 丁 sits exactly at
    # its lower limit; 戊 is above its upper limit; the software has no limits.
    out = ch03.reorder_table(FakeStore(product=_products()))
    assert out.to_dict("records") == [{"product_id": 1, "order_qty": 45.0, "order_cost": 112.5}]


def test_slowest_product_hand_worked():
    today = pd.Timestamp("2025-12-31")
    orders = pd.DataFrame({"id": [1, 2, 3, 4], "customer_id": [1, 1, 2, 2],
                           "order_date": pd.to_datetime(["2025-06-01", "2025-01-01", "2024-12-31", "2025-03-01"]),
                           "approval": ["同意", "同意", "同意", "否决"]})
    # product 2 sold 100 a year ago (2024-12-31 is exactly 365 days back: excluded) and 1 recently,
    # product 4's big line is in a rejected order; 5 sells 3; 1 sells 50.
    lines = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "order_id": [1, 1, 3, 2, 4, 2],
                          "product_id": [1, 5, 2, 2, 4, 4], "quantity": [1, 1, 1, 1, 1, 1],
                          "amount": [50.0, 3.0, 100.0, 1.0, 999.0, 1.0]})
    store = FakeStore(product=_products(), sales_order=orders, order_line=lines)
    s = ch03.sales_last_year(store, today)
    assert s.to_dict() == {1: 50.0, 2: 1.0, 4: 1.0, 5: 3.0}
    # candidates: 正常 with a lower limit → 1 (50), 2 (1), 4 (1), 5 (3); tie 2/4 → smaller id
    assert ch03.slowest_product(store, today) == 2


def _basket_ctx(pairs: list[tuple[int, int]]) -> Context:
    ctx = Context(pristine=None, store=None)
    ctx.cache["ch03.baskets"] = pd.DataFrame(pairs, columns=["customer_id", "product_id"])
    return ctx


def test_rules_hand_worked():
    # customers: 1 {10, 20}, 2 {10, 20}, 3 {10}, 4 {20, 30}, 5 {30}: N = 5
    ctx = _basket_ctx([(1, 10), (1, 20), (2, 10), (2, 20), (3, 10), (4, 20), (4, 30), (5, 30)])
    r = ch03.pair_rules(ctx).set_index(["antecedent", "consequent"])
    # 10 → 20: both 2, buyers of 10: 3, of 20: 3
    assert r.loc[(10, 20), "support"] == pytest.approx(2 / 5)
    assert r.loc[(10, 20), "confidence"] == pytest.approx(2 / 3)
    assert r.loc[(10, 20), "lift"] == pytest.approx((2 / 3) / (3 / 5))
    # 30 → 20: both 1 (customer 4), buyers of 30: 2
    assert r.loc[(30, 20), "confidence"] == pytest.approx(1 / 2)
    assert r.loc[(30, 20), "lift"] == pytest.approx((1 / 2) / (3 / 5))
    assert (10, 30) not in r.index


def test_top_rule_tie_breaks():
    # 10 → 20 and 20 → 10 share lift 10/9; with equal confidence (2/3) the smaller antecedent wins
    ctx = _basket_ctx([(1, 10), (1, 20), (2, 10), (2, 20), (3, 10), (4, 20), (4, 30), (5, 30)])
    top = ch03.top_rule_row(ctx)
    assert (int(top["antecedent"]), int(top["consequent"])) == (10, 20)
    assert float(top["lift"]) == pytest.approx(10 / 9)
    # make 10 rarer: the direction with the higher confidence (10 → 20) must win even though the
    # antecedent id order would say so too; flip ids to check confidence beats the id
    ctx = _basket_ctx([(1, 20), (1, 10), (2, 20), (2, 10), (3, 10), (4, 10), (5, 20), (6, 40)])
    # buyers: 10 → {1,2,3,4}, 20 → {1,2,5}; conf(20→10) = 2/3 > conf(10→20) = 2/4
    top = ch03.top_rule_row(ctx)
    assert (int(top["antecedent"]), int(top["consequent"])) == (20, 10)


# --- a small generated world -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    lab = start("ch03", student="ch03-test", customers=400, quiet=True)
    yield lab
    lab.store.close()
    if lab._pristine is not None:
        lab._pristine.close()
    shutil.rmtree(lab.dir, ignore_errors=True)


def test_prepare_world(lab):
    assert lab.crm.can("product", "create") and lab.crm.can("product", "update")
    alerts = lab.crm.stock_alerts()
    assert (alerts["alert"] == "低于下限").sum() >= 4 and (alerts["alert"] == "高于上限").sum() >= 1
    p = lab.pristine.read("product").set_index("id")
    assert (p.loc[alerts["id"], "status"] == "停售").any()          # the trap: a 停售 product is low
    assert ((p["stock"] == p["stock_lower"]) & (p["status"] == "正常")).any()   # exactly at the limit
    slow = ch03.slowest_product(lab.pristine, lab.today)
    assert slow not in set(alerts["id"])


def test_olap_references_match_duckdb(lab):
    """The pandas references agree with SQL on the analytics star schema (independent code)."""
    ctx = lab.context()
    orders = lab.table("sales_order")
    orders = orders[(orders["approval"] == "同意") & (orders["order_date"] <= pd.Timestamp(lab.today))]
    con = build_star_schema({"sales_order": orders, **{t: lab.table(t) for t in (
        "order_line", "customer", "product", "product_category", "employee", "department")}})
    from simcrm import reference
    con.register("area_df", reference.regions()[["province", "region"]].drop_duplicates("province"))
    con.execute("CREATE VIEW sales_dw AS SELECT s.*, a.region FROM sales_cube s LEFT JOIN area_df a USING (province)")

    ru = rollup(con, "amount", ["year", "quarter"])
    ru = ru.assign(year=ru["year"].fillna(0).astype(int), quarter=ru["quarter"].fillna(0).astype(int))
    ref = QUESTIONS["ch03.rollup"].func(ctx)
    m = ref.merge(ru, on=["year", "quarter"], suffixes=("", "_sql"))
    assert len(m) == len(ref) == len(ru)
    assert np.allclose(m["amount"], m["amount_sql"], atol=0.01)

    y = lab.today.year
    c = con.execute("SELECT COALESCE(region, '全部') region, COALESCE(kind, '全部') kind, SUM(amount) amount "
                    "FROM sales_dw WHERE year = ? GROUP BY CUBE(region, kind)", [y]).df()
    ref = QUESTIONS["ch03.cube"].func(ctx)
    assert evaluate("ch03.cube", ctx, c).ok
    assert set(ref["region"]) >= {"全部"} and not ref["region"].isna().any()

    by_region = con.execute("SELECT region, SUM(amount) a FROM sales_dw GROUP BY region ORDER BY a DESC").df()
    assert ch03.top_region(ctx) == by_region.iloc[0]["region"]
    drill = con.execute("SELECT province, SUM(amount) amount FROM sales_dw WHERE region = ? GROUP BY province",
                        [by_region.iloc[0]["region"]]).df()
    assert evaluate("ch03.drill", ctx, drill).ok
    sl = con.execute("SELECT category, SUM(amount) amount FROM sales_dw WHERE year = ? GROUP BY category", [y]).df()
    assert evaluate("ch03.slice", ctx, sl).ok
    di = con.execute("SELECT region, category, SUM(amount) amount FROM sales_dw WHERE year IN (?, ?) "
                     "AND region IN ('华东', '华南') GROUP BY region, category", [y - 1, y]).df()
    assert evaluate("ch03.dice", ctx, di).ok
    # the analytics CUBE helper (all years) has the rollup reference's grand total
    oc = olap_cube(con, ["year"], "amount")
    total = QUESTIONS["ch03.rollup"].func(ctx).query("year == 0")["amount"].iloc[0]
    assert float(oc.loc[oc["year"].isna(), "amount"].iloc[0]) == pytest.approx(total, abs=0.01)
    assert not ch03.cube_frame(ctx)["region"].isna().any()


def test_rules_match_association_rules(lab):
    ctx = lab.context()
    b = ch03.baskets(ctx)
    ar = association_rules(b, order_col="customer_id", item_col="product_id", min_support=0.0, min_confidence=0.0)
    ar["a"] = ar["antecedent"].map(lambda t: t[0])
    given = QUESTIONS["ch03.rules"].func(ctx)
    for _, row in given.iterrows():
        hit = ar[(ar["a"] == row["antecedent"]) & (ar["consequent"] == row["consequent"])]
        if hit.empty:
            assert row["support"] == 0
            continue
        h = hit.iloc[0]
        assert row["support"] == pytest.approx(h["support"])
        assert row["confidence"] == pytest.approx(h["confidence"])
        assert row["lift"] == pytest.approx(h["lift"])
    strong = ar[ar["support"] >= ch03.MIN_SUPPORT].copy()
    strong["lift6"] = strong["lift"].round(6)
    best = strong.sort_values(["lift6", "confidence", "a"], ascending=[False, False, True]).iloc[0]
    top = QUESTIONS["ch03.top_rule"].func(ctx)
    assert (top["antecedent"], top["consequent"]) == (best["a"], best["consequent"])
    assert top["lift"] == pytest.approx(best["lift"])
    targets = QUESTIONS["ch03.targets"].func(ctx)
    cust = lab.table("customer").set_index("id")
    has_c = set(b.loc[b["product_id"] == top["consequent"], "customer_id"])
    assert targets and all(cust.loc[t, "lifecycle"] != "失效" for t in targets) and not set(targets) & has_c


# --- diagnose hints -----------------------------------------------------------------------------


def test_reorder_hints(lab):
    ctx = lab.context()
    ref = QUESTIONS["ch03.reorder"].func(ctx)
    assert evaluate("ch03.reorder", ctx, ref).ok
    p = lab.pristine.read("product")
    naive = lab.crm.stock_alerts()   # every alert, 停售 and 高于上限 included
    wrong = p[p["id"].isin(naive["id"])].rename(columns={"id": "product_id"})
    wrong = wrong.assign(order_qty=wrong["stock_upper"] - wrong["stock"], order_cost=0.0)
    assert "停售" in evaluate("ch03.reorder", ctx, wrong).hint
    to_lower = ref.copy()
    lo = p.set_index("id").loc[ref["product_id"]]
    to_lower["order_qty"] = (lo["stock_lower"] - lo["stock"]).to_numpy()
    assert "上限" in evaluate("ch03.reorder", ctx, to_lower).hint
    by_price = ref.copy()
    by_price["order_cost"] = (ref["order_qty"].to_numpy() * lo["price"].to_numpy()).round(2)
    assert "成本价" in evaluate("ch03.reorder", ctx, by_price).hint
    at_limit = p[(p["status"] == "正常") & (p["stock"] <= p["stock_lower"])].rename(columns={"id": "product_id"})
    at_limit = at_limit.assign(order_qty=at_limit["stock_upper"] - at_limit["stock"], order_cost=0.0)
    assert "<=" in evaluate("ch03.reorder", ctx, at_limit).hint


def test_olap_hints(lab):
    ctx = lab.context()
    ref = QUESTIONS["ch03.rollup"].func(ctx)
    as_float = ref.assign(year=ref["year"].astype(float))
    assert "整数" in evaluate("ch03.rollup", ctx, as_float).hint
    assert "小计" in evaluate("ch03.rollup", ctx, ref[ref["quarter"] != 0]).hint
    cube = ch03.cube_frame(ctx)
    best = ch03.top_region(ctx)
    other = cube[cube["region"] != best]["region"].iloc[0]
    wrong = cube[cube["region"] == other].groupby("province", as_index=False)["amount"].sum()
    assert "大区" in evaluate("ch03.drill", ctx, wrong).hint
    all_years = cube.groupby("category", as_index=False)["amount"].sum()
    assert "所有年份" in evaluate("ch03.slice", ctx, all_years).hint
    dice_all = cube[cube["region"].isin(ch03.DICE_REGIONS)].groupby(["region", "category"], as_index=False)["amount"].sum()
    assert "年份" in evaluate("ch03.dice", ctx, dice_all).hint
    c = QUESTIONS["ch03.cube"].func(ctx)
    nulls = c.assign(region=c["region"].replace("全部", None))
    assert "全部" in evaluate("ch03.cube", ctx, nulls).hint


def test_mining_hints(lab):
    ctx = lab.context()
    given = QUESTIONS["ch03.rules"].func(ctx)
    swapped = given.copy()
    swapped["confidence"] = [ch03._rule_values(ctx, c, a)[1] for a, c in zip(given["antecedent"], given["consequent"])]
    assert "方向" in evaluate("ch03.rules", ctx, swapped).hint
    lines = ch03.approved_lines(lab.pristine, lab.today)
    ob = lines[["order_id", "product_id"]].drop_duplicates()
    n = ob["order_id"].nunique()
    per_order = given.copy()
    per_order["support"] = [((ob[ob["product_id"].isin([a, c])].groupby("order_id")["product_id"].nunique() == 2).sum()) / n
                            for a, c in zip(given["antecedent"], given["consequent"])]
    assert "订单" in evaluate("ch03.rules", ctx, per_order).hint
    top = QUESTIONS["ch03.top_rule"].func(ctx)
    rev = {"antecedent": top["consequent"], "consequent": top["antecedent"], "lift": top["lift"]}
    assert "方向反了" in evaluate("ch03.top_rule", ctx, rev).hint
    targets = QUESTIONS["ch03.targets"].func(ctx)
    cust = lab.table("customer")
    lost = cust.loc[cust["lifecycle"] == "失效", "id"].tolist()
    assert "流失" in evaluate("ch03.targets", ctx, targets + lost[:1]).hint
    assert "S1" in evaluate("ch03.mining", ctx, {**ch03.MINING_KEY, "S1": "F"}).hint
    assert "字母" in evaluate("ch03.mining", ctx, {**ch03.MINING_KEY, "S3": "关联分析"}).hint
    assert "缺少" in evaluate("ch03.callcenter", ctx, {"C1": "B"}).hint
    assert evaluate("ch03.callcenter", ctx, dict(ch03.CALLCENTER_KEY)).ok
    assert "C3" in evaluate("ch03.callcenter", ctx, {**ch03.CALLCENTER_KEY, "C3": "C"}).hint


def test_points_total():
    assert sum(q.points for k, q in QUESTIONS.items() if k.startswith("ch03.")) == 80


# --- operations ---------------------------------------------------------------------------------------


def _do_all(lab):
    cats = lab.table("product_category")
    parent = int(cats.loc[cats["name"] == ch03.PARENT_CATEGORY, "id"].iloc[0])
    cat = lab.crm.add_category(ch03.NEW_CATEGORY, parent=parent)
    ids = []
    for spec in ch03.NEW_PRODUCTS:
        fields = {k: v for k, v in spec.items() if k not in ("name",)}
        ids.append(lab.crm.create_product(spec["name"], cat, **fields))
    lab.crm.discontinue_product(ch03.slowest_product(lab.pristine, lab.today))
    for pid, qty in zip(*[ch03.reorder_table(lab.pristine)[c] for c in ("product_id", "order_qty")]):
        lab.crm.stock_in(int(pid), float(qty), note="补货")
    lab.crm.stock_out(ids[0], ch03.SAMPLE_QTY, note="展厅样机")
    return cat, ids


OPS = ["ch03.category", "ch03.products", "ch03.discontinue", "ch03.restock"]


def test_operations_correct_then_wrong(lab):
    lab.reset()
    ctx = lab.context()
    assert [evaluate(k, ctx, None).ok for k in OPS] == [False] * 4
    assert "add_category" in evaluate("ch03.category", ctx, None).hint
    cat, ids = _do_all(lab)
    for k in OPS:
        assert evaluate(k, lab.context(), None).ok, (k, evaluate(k, lab.context(), None).hint)
    # re-running the stock-in cell doubles the effect: the check says so
    first = ch03.reorder_table(lab.pristine).iloc[0]
    lab.crm.stock_in(int(first["product_id"]), float(first["order_qty"]), note="补货")
    hint = evaluate("ch03.restock", lab.context(), None).hint
    assert 'lab.undo("ch03.restock")' in hint and "2 次" in hint
    # a wrong price
    lab.crm.update_product(ids[1], price=499)
    assert "price" in evaluate("ch03.products", lab.context(), None).hint
    # a second category with the same name
    lab.crm.add_category(ch03.NEW_CATEGORY, parent=None)
    assert "2 次" in evaluate("ch03.category", lab.context(), None).hint


def test_operation_wrong_choices(lab):
    lab.reset()
    cats = lab.table("product_category")
    wrong_parent = int(cats.loc[cats["name"] == "智能硬件", "id"].iloc[0])
    cat = lab.crm.add_category(ch03.NEW_CATEGORY, parent=wrong_parent)
    assert "办公设备" in evaluate("ch03.category", lab.context(), None).hint
    spec = dict(ch03.NEW_PRODUCTS[0])
    name = spec.pop("name")
    pid = lab.crm.create_product(name, cat, **spec)
    # discontinuing one's own new product, then a wrong old one
    lab.crm.discontinue_product(pid)
    assert "新建的产品" in evaluate("ch03.discontinue", lab.context(), None).hint
    lab.crm.reactivate_product(pid)
    slow = ch03.slowest_product(lab.pristine, lab.today)
    p = lab.pristine.read("product")
    other = int(p[(p["status"] == "正常") & p["stock_lower"].notna() & (p["id"] != slow)]["id"].iloc[0])
    lab.crm.discontinue_product(other)
    assert "销售额最低" in evaluate("ch03.discontinue", lab.context(), None).hint
    # restocking a product that is not on the list
    lab.crm.stock_in(other, 5)
    assert "不在补货单" in evaluate("ch03.restock", lab.context(), None).hint
    lab.reset()
