"""ch02 lab: reference computations against hand-worked ones, operation checks, hints.

Fast: no kernel, a small generated world (600 customers) shared by the module's tests.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from simcrm.crm import CRM
from simcrm.lab.chapters import ch02
from simcrm.lab.questions import Context, evaluate
from simcrm.lab.session import CHAPTER_ROLES, _copy_sqlite, build_world, pick_employee
from simcrm.store import Store


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ch02")
    world = build_world(4242, "ch02", d, customers=600)
    files = ch02.build_files(world, d)
    world.store.engine.dispose()
    _copy_sqlite(d / "world.sqlite", d / "pristine.sqlite")
    return d, world, files


@pytest.fixture()
def ctx(world_dir, tmp_path):
    d, world, files = world_dir
    _copy_sqlite(d / "pristine.sqlite", tmp_path / "student.sqlite")
    pristine = Store(d / "pristine.sqlite", create=False)
    store = Store(tmp_path / "student.sqlite", create=False)
    c = Context(pristine=pristine, store=store, world=world, me=pick_employee(pristine, CHAPTER_ROLES["ch02"]),
                files=files, chapter="ch02")
    yield c
    store.close()
    pristine.close()


def _admin(ctx):
    return CRM.system(ctx.store, now=dt.datetime.combine(ctx.world.today, dt.time(9, 0)))


# --- the operations done right ---------------------------------------------------------------------


def _build_org(crm, ctx):
    dept = ctx.store.read("department")
    sales = int(dept.loc[dept["name"] == "销售部", "id"].iloc[0])
    sw = crm.add_department("西南销售组", parent=sales)
    ka = crm.add_department("大客户部", parent=sales)
    st = crm.add_department("战略客户组", parent=ka)
    song = crm.hire("宋佳", "songjia", sw, "销售主管", title="西南销售经理", mobile="13908280001")
    lu = crm.hire("陆明", "luming", sw, "销售代表", title="销售代表", mobile="13908280002")
    crm.set_department_manager(sw, song)
    return {"sw": sw, "ka": ka, "st": st, "song": song, "lu": lu}


def _handover(crm, ctx, ids, *, all_to_manager=False):
    who = ch02.leaver(ctx)
    cust = ctx.store.read("customer")
    manager = ch02.south_manager(ctx)
    for cid, prov in zip(cust.loc[cust["owner_id"] == who["id"], "id"], cust.loc[cust["owner_id"] == who["id"], "province"]):
        to = manager if all_to_manager or prov not in ch02.SOUTHWEST else ids["lu"]
        crm.transfer_customer(int(cid), to)
    crm.leave(who["id"])


def test_correct_operations_pass(ctx):
    crm = _admin(ctx)
    ids = _build_org(crm, ctx)
    assert evaluate("ch02.org", ctx, None).ok
    _handover(crm, ctx, ids)
    assert evaluate("ch02.handover", ctx, None).ok
    crm.add_role("大客户专员", "一般人员", "本部门", rights=ch02.NEW_ROLE_CHANGES)
    crm.hire("顾晓", "guxiao", ids["st"], "大客户专员", title="大客户专员")
    assert evaluate("ch02.role", ctx, None).ok
    crm.add_dictionary_value("source", "短视频平台")
    crm.add_dictionary_value("industry", "新能源")
    crm.set_dictionary_default("source", ch02.default_source(ctx))
    crm.disable_dictionary_value("source", ch02.source_to_disable(ctx))
    crm.set_numbering_rule("合同", "HT", date_format="%Y%m", width=4, next_value=1)
    crm.set_numbering_rule("customer", "KH", date_format="%Y", width=5)
    assert evaluate("ch02.basics", ctx, None).ok


def test_nothing_done_fails(ctx):
    for key in ("ch02.org", "ch02.handover", "ch02.role", "ch02.basics"):
        r = evaluate(key, ctx, None)
        assert not r.ok and r.hint


# --- the operations done wrong get the right hint -------------------------------------------------------


def test_department_under_wrong_parent(ctx):
    crm = _admin(ctx)
    dept = ctx.store.read("department")
    sales = int(dept.loc[dept["name"] == "销售部", "id"].iloc[0])
    crm.add_department("西南销售组", parent=sales)
    crm.add_department("大客户部", parent=sales)
    crm.add_department("战略客户组", parent=sales)          # should be under 大客户部
    r = evaluate("ch02.org", ctx, None)
    assert not r.ok and "战略客户组" in r.hint and "大客户部" in r.hint


def test_department_twice(ctx):
    crm = _admin(ctx)
    ids = _build_org(crm, ctx)
    crm.add_department("西南销售组", parent=ids["ka"])
    r = evaluate("ch02.org", ctx, None)
    assert not r.ok and 'lab.undo("ch02.org")' in r.hint


def test_handover_ignoring_regions(ctx):
    crm = _admin(ctx)
    ids = _build_org(crm, ctx)
    _handover(crm, ctx, ids, all_to_manager=True)
    r = evaluate("ch02.handover", ctx, None)
    assert not r.ok and "西南" in r.hint and "省份" in r.hint


def test_leave_without_transfer(ctx):
    crm = _admin(ctx)
    _build_org(crm, ctx)
    crm.leave(ch02.leaver(ctx)["id"])
    r = evaluate("ch02.handover", ctx, None)
    assert not r.ok and "不会自动转移" in r.hint


def test_role_with_default_rights(ctx):
    crm = _admin(ctx)
    crm.add_role("大客户专员", "一般人员", "本部门")
    r = evaluate("ch02.role", ctx, None)
    assert not r.ok and "权限" in r.hint


def test_role_wrong_scope(ctx):
    crm = _admin(ctx)
    crm.add_role("大客户专员", "一般人员", "本人", rights=ch02.NEW_ROLE_CHANGES)
    r = evaluate("ch02.role", ctx, None)
    assert not r.ok and "数据范围" in r.hint


def test_dictionary_default_ignoring_data(ctx):
    crm = _admin(ctx)
    crm.add_dictionary_value("source", "短视频平台")
    crm.add_dictionary_value("industry", "新能源")
    wrong = next(v for v in ("展会", "老客户") if v != ch02.default_source(ctx))
    crm.set_dictionary_default("source", wrong)
    r = evaluate("ch02.basics", ctx, None)
    assert not r.ok and "最近 365 天" in r.hint


def test_disabling_the_new_source(ctx):
    crm = _admin(ctx)
    crm.add_dictionary_value("source", "短视频平台")
    crm.add_dictionary_value("industry", "新能源")
    crm.set_dictionary_default("source", ch02.default_source(ctx))
    crm.disable_dictionary_value("source", "短视频平台")
    r = evaluate("ch02.basics", ctx, None)
    assert not r.ok and "短视频平台" in r.hint


def test_numbering_serial_consumed(ctx):
    crm = _admin(ctx)
    crm.add_dictionary_value("source", "短视频平台")
    crm.add_dictionary_value("industry", "新能源")
    crm.set_dictionary_default("source", ch02.default_source(ctx))
    crm.disable_dictionary_value("source", ch02.source_to_disable(ctx))
    crm.set_numbering_rule("合同", "HT", date_format="%Y%m", width=4, next_value=1)
    crm.next_code("合同")
    r = evaluate("ch02.basics", ctx, None)
    assert not r.ok and "next_value=1" in r.hint


# --- reference computations against independent ones -------------------------------------------------


def test_recent_sources_by_hand(ctx):
    today = ctx.world.today
    counts: dict[str, int] = {}
    for created, source, deleted in ctx.pristine.read("customer")[["created_at", "source", "deleted"]].itertuples(index=False):
        days = (today - created.date()).days
        if 0 <= days < 365 and not deleted:
            counts[source] = counts.get(source, 0) + 1
    got = ch02.recent_sources(ctx)
    assert {k: v for k, v in got.items() if v} == counts
    assert ch02.default_source(ctx) == max(got.index, key=lambda k: (got[k], -list(got.index).index(k)))


def test_latest_survey_by_hand():
    s = pd.DataFrame({
        "id": [1, 2, 3, 4], "customer_id": [7, 7, 7, 9],
        "survey_date": pd.to_datetime(["2025-01-01", "2025-06-01", "2025-06-01", "2024-01-01"]),
        **{c: [4.0, 5.0, 6.0, 5.0] for c in ch02.PER}, **{c: [5.0, 5.0, 5.0, 4.0] for c in ch02.EXP},
    })
    latest = ch02.latest_surveys(s)
    assert latest["id"].tolist() == [3, 4]                 # same day: larger id
    sat = ch02._sat_frame(latest)
    assert sat["c"].tolist() == [6 / 5, 5 / 4]


def test_satisfaction_and_churn_by_hand(ctx):
    surveys = ctx.pristine.read("survey")
    lifecycle = ctx.pristine.read("customer").set_index("id")["lifecycle"]
    latest = {}
    for r in surveys.itertuples():
        key = (r.survey_date, r.id)
        if r.customer_id not in latest or key > latest[r.customer_id][0]:
            latest[r.customer_id] = (key, r)
    c = {cid: sum(getattr(r, p) for p in ch02.PER) / sum(getattr(r, e) for e in ch02.EXP) for cid, (_, r) in latest.items()}
    expected = ch02.satisfaction(ctx).set_index("customer_id")["c"]
    assert np.allclose(expected.loc[list(c)].to_numpy(), list(c.values()))
    low = [lifecycle[k] == "失效" for k, v in c.items() if v < 1]
    high = [lifecycle[k] == "失效" for k, v in c.items() if v >= 1]
    got = ch02.churn_by_sat(ctx)
    assert math.isclose(got["c<1"], sum(low) / len(low)) and math.isclose(got["c>=1"], sum(high) / len(high))


def test_cdv_by_hand(ctx):
    # 我方 75000 − 54000; 甲 67000 − 53000; 乙 74000 − 57000
    want = {"我方": 21000.0, "竞争对手甲": 14000.0, "竞争对手乙": 17000.0, "选择": "我方"}
    assert ch02.cdv_table() == want
    assert evaluate("ch02.cdv", ctx, want).ok


def test_credit_5c_by_hand(ctx):
    survey = ch02.read_credit_survey(ctx.files["credit_survey"])
    assert len(survey) == 8
    r = survey.iloc[0]
    score = sum(ch02.WEIGHTS_5C[c] * 100 * (r[c] - 1) / 4 for c in ch02.WEIGHTS_5C)
    got = ch02.five_c(ctx).set_index("customer_id")
    assert math.isclose(got.loc[r["customer_id"], "score"], round(score, 2))
    grade = next((g for cut, g in ((90, "AAA"), (80, "AA"), (70, "A"), (60, "B")) if round(score, 2) >= cut), "C")
    assert got.loc[r["customer_id"], "grade"] == grade


def test_risky_are_rated_well_and_pay_late(ctx):
    risky = ch02.risky(ctx)
    assert len(risky) >= 2                                   # built into the credit survey
    five = ch02.five_c(ctx).set_index("customer_id")
    plans = ctx.pristine.read("payment_plan")
    pays = ctx.pristine.read("payment")
    orders = ctx.pristine.read("sales_order")
    today = pd.Timestamp(ctx.world.today)
    for cid in risky:
        assert five.loc[cid, "grade"] in ("AAA", "AA", "A")
        mine = orders.loc[orders["customer_id"] == cid, "id"]
        p = plans[plans["order_id"].isin(mine) & (plans["due_date"] <= today)]
        # a late payer: by hand, at least one due instalment is paid late or still open
        late = 0
        for oid, grp in p.groupby("order_id"):
            paid = pays[(pays["order_id"] == oid) & (pays["paid_date"] <= today)].sort_values("paid_date")
            cum = paid["amount"].cumsum().to_numpy()
            need = 0.0
            for due, amount in grp.sort_values("due_date")[["due_date", "amount"]].itertuples(index=False):
                need += amount
                hit = np.flatnonzero(cum >= need - 0.005)
                settled = paid["paid_date"].iloc[hit[0]] if len(hit) else None
                late += settled is None or settled > due
        assert late >= 1


def test_clv_by_hand(ctx):
    assert round(ch02.clv_formula(100, 0.8, 0.1, 2), 2) == 125.62
    today = pd.Timestamp(ctx.world.today)
    orders = ctx.pristine.read("sales_order")
    orders = orders[(orders["approval"] == "同意") & (orders["order_date"] <= today)].set_index("id")
    cost = ctx.pristine.read("product").set_index("id")["cost"]
    margin: dict[tuple[int, int], float] = {}
    for ln in ctx.pristine.read("order_line").itertuples():
        if ln.order_id not in orders.index:
            continue
        o = orders.loc[ln.order_id]
        key = (int(o["customer_id"]), o["order_date"].year)
        margin[key] = margin.get(key, 0.0) + ln.quantity * ln.unit_price * (1 - ln.discount) - ln.quantity * cost[ln.product_id]
    cust = ctx.pristine.read("customer")
    expected = ch02.clv(ctx).set_index("level")
    for level in expected.index:
        seg = [c for c in cust.loc[(cust["level"] == level) & ~cust["deleted"], "id"] if (c, today.year - 1) in margin]
        kept = [c for c in seg if (c, today.year) in margin]
        r = len(kept) / len(seg)
        m = sum(margin[(c, today.year)] for c in kept) / len(kept)
        clv = sum(m * r**t / 1.1**t for t in range(1, 6))
        assert expected.loc[level, "customers"] == len(seg)
        assert math.isclose(expected.loc[level, "retention"], r)
        assert math.isclose(expected.loc[level, "margin"], m, rel_tol=1e-9)
        assert math.isclose(expected.loc[level, "clv"], clv, rel_tol=1e-9)
    # value is concentrated: VIP customers are worth more than small ones
    if {"VIP客户", "小客户"} <= set(expected.index):
        assert expected.loc["VIP客户", "clv"] > expected.loc["小客户", "clv"]


# --- diagnose hints ------------------------------------------------------------------------------------------


def test_sat_hints(ctx):
    surveys = ctx.pristine.read("survey")
    first = ch02._sat_frame(surveys.sort_values(["customer_id", "survey_date", "id"]).groupby("customer_id").head(1))
    r = evaluate("ch02.satisfaction", ctx, first)
    assert not r.ok and "最早" in r.hint
    ref = ch02.satisfaction(ctx)
    inverse = ref.assign(c=1 / ref["c"])
    r = evaluate("ch02.satisfaction", ctx, inverse)
    assert not r.ok and "算反" in r.hint
    every = ch02._sat_frame(surveys)
    r = evaluate("ch02.satisfaction", ctx, every)
    assert not r.ok and "最近一次" in r.hint
    r = evaluate("ch02.satisfaction", ctx, ref.iloc[::-1])
    assert not r.ok and "从小到大" in r.hint
    assert evaluate("ch02.satisfaction", ctx, ref).ok


def test_churn_hints(ctx):
    ref = ch02.churn_by_sat(ctx)
    r = evaluate("ch02.churn_by_sat", ctx, {"c<1": ref["c>=1"], "c>=1": ref["c<1"]})
    assert not r.ok and "写反" in r.hint
    r = evaluate("ch02.churn_by_sat", ctx, {"c<1": ref["c<1"] * 100, "c>=1": ref["c>=1"] * 100})
    assert not r.ok and "百分数" in r.hint


def test_cdv_hints(ctx):
    money_only = {"我方": 27000.0, "竞争对手甲": 26000.0, "竞争对手乙": 22000.0, "选择": "我方"}
    r = evaluate("ch02.cdv", ctx, money_only)
    assert not r.ok and "时间" in r.hint
    r = evaluate("ch02.cdv", ctx, {})
    assert not r.ok and "缺少" in r.hint


def test_loyalty_hints(ctx):
    assert evaluate("ch02.loyalty", ctx, dict(ch02.LOYALTY_KEY)).ok
    wrong = {**ch02.LOYALTY_KEY, "情形4": "超值忠诚", "情形6": "价格忠诚"}
    r = evaluate("ch02.loyalty", ctx, wrong)
    assert not r.ok and "情形4" in r.hint and "价格" in r.hint
    r = evaluate("ch02.loyalty", ctx, {**ch02.LOYALTY_KEY, "情形1": "习惯忠诚"})
    assert not r.ok and "不是六种" in r.hint


def test_5c_hints(ctx):
    survey = ch02.read_credit_survey(ctx.files["credit_survey"])
    equal = ch02.credit_5c(survey, scale=(1, 5))[["customer_id", "score", "grade"]]
    r = evaluate("ch02.credit_5c", ctx, equal)
    assert not r.ok and "等权" in r.hint
    raw = survey[["customer_id"]].assign(score=sum(ch02.WEIGHTS_5C[c] * survey[c] for c in ch02.WEIGHTS_5C), grade="C")
    r = evaluate("ch02.credit_5c", ctx, raw)
    assert not r.ok and "0–100" in r.hint


def test_risky_hints(ctx):
    beh = ch02.behaviour(ctx).set_index("customer_id")["grade"]
    bad = sorted(int(i) for i, g in beh.items() if g in ("C", "D"))
    if set(bad) != set(ch02.risky(ctx)):
        r = evaluate("ch02.risky", ctx, bad)
        assert not r.ok and "回款差" in r.hint
    r = evaluate("ch02.risky", ctx, [999999])
    assert not r.ok and "信用调查表" in r.hint


def test_clv_hints(ctx):
    ref = ch02.clv(ctx)
    inf = ref.assign(clv=ref["margin"] * ref["retention"] / (1 + 0.1 - ref["retention"]))
    r = evaluate("ch02.clv", ctx, inf)
    assert not r.ok and "无限期" in r.hint
    over_all = ch02._clv_table(ctx, margin_over="all")
    r = evaluate("ch02.clv", ctx, over_all)
    assert not r.ok and "保留下来" in r.hint
