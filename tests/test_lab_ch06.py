"""ch06 lab: every reference against an independent (loop or brute-force) computation, the hints
for the likely mistakes, the operation checks on a copy of the world, and the grading matrix."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simcrm import generate, reference
from simcrm.analytics import financial_value
from simcrm.crm import CRM
from simcrm.lab.chapters import ch06
from simcrm.lab.questions import Context, evaluate, get_question
from simcrm.store import Store
from lab_matrix import MatrixCourse


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("ch06") / "world.sqlite"
    return generate(seed=77, customers=250, db=str(path))


def _me(store):
    from simcrm.lab.session import pick_employee

    return pick_employee(store, "主管")


@pytest.fixture()
def ctx(world, tmp_path):
    """A context whose student store is a fresh copy of the world (operations stay local)."""
    from simcrm.lab.session import _copy_sqlite

    copy = tmp_path / "student.sqlite"
    _copy_sqlite(Path(world.store.engine.url.database), copy)
    student = Store(copy, create=False)
    yield Context(pristine=world.store, store=student, world=world, me=_me(world.store), chapter="ch06")
    student.close()


def _today(world):
    return pd.Timestamp(world.today)


def _approved(world):
    o = world.store.read("sales_order")
    return o[(o["approval"] == "同意") & (o["order_date"] <= _today(world))]


# --- references against independent computations ----------------------------------------------------


def test_value_reference_is_revenue_minus_every_cost(ctx, world):
    ref = get_question("ch06.value").func(ctx).set_index("customer_id")
    cust = world.store.read("customer")
    assert sorted(ref.index) == sorted(cust.loc[~cust["deleted"], "id"])
    # revenue by plain loops over approved order lines minus returns
    ok = _approved(world).set_index("id")["customer_id"].to_dict()
    revenue = dict.fromkeys(ref.index, 0.0)
    for line in world.store.read("order_line").to_dict("records"):
        if line["order_id"] in ok:
            revenue[ok[line["order_id"]]] += line["amount"]
    for ret in world.store.read("sales_return").to_dict("records"):
        if ret["order_id"] in ok and ret["return_date"] <= _today(world):
            revenue[ok[ret["order_id"]]] -= ret["amount"]
    for cid, r in revenue.items():
        assert ref.loc[cid, "revenue"] == pytest.approx(r, abs=0.01)
    costs = ref[["product_cost", "service_cost", "communication_cost", "care_cost", "marketing_cost"]].sum(axis=1)
    assert np.allclose(ref["value"], ref["revenue"] - costs, atol=0.02)
    assert (ref["value"] < 0).any() and (ref["value"] > 0).any()


def test_abc_reference_brute_force(ctx):
    ref = get_question("ch06.abc").func(ctx).set_index("customer_id")["abc"]
    v = ch06.values(ctx)
    v = v[v["revenue"] > 0].set_index("customer_id")["revenue"]
    total, top = v.sum(), v.max()
    for cid, r in v.items():
        cum = v[v >= r].sum() / total
        want = "A" if cum <= 0.8 + 1e-12 or r == top else "B" if cum <= 0.95 + 1e-12 else "C"
        assert ref[cid] == want, cid


def test_rfm_reference_brute_force(ctx, world):
    ref = get_question("ch06.rfm").func(ctx).set_index("customer_id")
    orders = _approved(world)
    as_of = _today(world) + pd.Timedelta(days=1)
    start = as_of - pd.Timedelta(days=365)
    rows = {}
    for cid, g in orders.groupby("customer_id"):
        recent = g[g["order_date"] >= start]
        rows[cid] = ((as_of - g["order_date"].max()).days, len(recent), float(recent["total_amount"].sum()))
    assert set(rows) == set(ref.index)
    n = len(rows)
    for cid, (rec, freq, mon) in rows.items():
        assert ref.loc[cid, "recency_days"] == rec and ref.loc[cid, "frequency"] == freq
        assert ref.loc[cid, "monetary"] == pytest.approx(mon, abs=0.01)
        worse_f = sum(1 for r in rows.values() if r[1] < freq)
        worse_r = sum(1 for r in rows.values() if r[0] > rec)
        assert ref.loc[cid, "f_score"] == math.ceil(5 * (worse_f + 1) / n)
        assert ref.loc[cid, "r_score"] == math.ceil(5 * (worse_r + 1) / n)


def test_quadrant_reference_independent(ctx, world):
    ref = get_question("ch06.quadrant").func(ctx).set_index("customer_id")
    orders = _approved(world)
    as_of = _today(world) + pd.Timedelta(days=1)
    d = pd.Timedelta(days=365)
    prev = set(orders.loc[(orders["order_date"] >= as_of - 2 * d) & (orders["order_date"] < as_of - d), "customer_id"])
    last = set(orders.loc[orders["order_date"] >= as_of - d, "customer_id"])
    r = len(prev & last) / len(prev)
    assert ch06.retention_rate(ctx) == pytest.approx(r)
    year = financial_value(world.store, start=as_of - d, as_of=_today(world)).set_index("customer_id")["value"]
    cur = ch06.values(ctx).set_index("customer_id")["value"]
    pot = {cid: year[cid] * r / (1.1 - r) for cid in ref.index}
    for cid in ref.index:
        assert ref.loc[cid, "potential_value"] == pytest.approx(pot[cid], abs=0.01)
    rest = [cid for cid in ref.index if cur[cid] + pot[cid] >= 0]
    mc = statistics.median(cur[c] for c in rest)
    mp = statistics.median(pot[c] for c in rest)
    for cid in ref.index:
        if cur[cid] + pot[cid] < 0:
            want = "放弃型"
        elif pot[cid] > mp:
            want = "贵宾型" if cur[cid] > mc else "改进型"
        else:
            want = "维持型"
        assert ref.loc[cid, "quadrant"] == want, cid
    # 放弃型 is a loss, not "both below the median"
    assert (ref["quadrant"] == "放弃型").sum() < sum(1 for c in ref.index if cur[c] <= mc and pot[c] <= mp)


def test_hsbc_and_pyramid_references_by_loops(ctx, world):
    hs = get_question("ch06.hsbc").func(ctx).set_index("customer_id")["grade"]
    rf = ch06._rfm(ctx).set_index("customer_id")
    val = ch06.values(ctx).set_index("customer_id")["value"]
    graded = [c for c in rf.index if rf.loc[c, "recency_days"] <= 365]
    mv = statistics.median(val[c] for c in graded)
    mf = statistics.median(rf.loc[c, "frequency"] for c in graded)
    for cid in val.index:
        if cid not in rf.index:
            want = "F"
        elif rf.loc[cid, "recency_days"] > 365:
            want = "E"
        else:
            hv, hl = val[cid] > mv, rf.loc[cid, "frequency"] > mf
            want = "A" if hv and hl else "B" if hv else "C" if hl else "D"
        assert hs[cid] == want, cid
    py = get_question("ch06.pyramid").func(ctx).set_index("customer_id")["level"]
    buyers = list(rf.index)
    n = len(buyers)
    for cid in buyers:
        rank = 1 + sum(1 for c in buyers if val[c] > val[cid])
        want = "关键客户" if rank <= math.ceil(n * 20 / 100) else "普通客户" if rank <= math.ceil(n * 50 / 100) else "小客户"
        assert py[cid] == want, cid


def test_key_accounts_and_missing_roles_by_loops(ctx, world):
    cust = world.store.read("customer").set_index("id")
    val = ch06.values(ctx).set_index("customer_id")["value"]
    firms = sorted((c for c in val.index if cust.loc[c, "kind"] == "企业"), key=lambda c: (-val[c], c))
    assert ch06.key_accounts(ctx) == firms[:ch06.KEY_ACCOUNTS]
    ref = get_question("ch06.missing_roles").func(ctx)
    roles = reference.DICTIONARIES["buying_role"]["values"]
    contacts = world.store.read("contact").to_dict("records")
    for cid in firms[:ch06.KEY_ACCOUNTS]:
        have = {c["buying_role"] for c in contacts if c["customer_id"] == cid and c["status"] != "离职"}
        assert sorted(ref[cid]) == sorted(r for r in roles if r not in have)
    assert any(ref.values()), "some key account misses a buying role"


# --- hints for the likely mistakes ------------------------------------------------------------------------


def test_value_hints(ctx, world):
    expected = get_question("ch06.value").func(ctx)
    assert evaluate("ch06.value", ctx, expected).ok
    gross = expected.assign(value=expected["revenue"] - expected["product_cost"])
    assert "毛利" in evaluate("ch06.value", ctx, gross).hint
    orders = world.store.read("sales_order")
    every = orders.groupby("customer_id")["total_amount"].sum()
    unapproved = expected.assign(revenue=expected["customer_id"].map(every).fillna(0.0))
    if not np.allclose(unapproved["revenue"], expected["revenue"]):
        assert "同意" in evaluate("ch06.value", ctx, unapproved).hint
    buyers_only = expected[expected["revenue"] > 0]
    assert "潜在客户" in evaluate("ch06.value", ctx, buyers_only).hint


def test_rfm_hints(ctx, world):
    expected = get_question("ch06.rfm").func(ctx)
    assert evaluate("ch06.rfm", ctx, expected).ok
    counts = _approved(world).groupby("customer_id").size()
    whole = expected.assign(frequency=expected["customer_id"].map(counts))
    assert "全部历史" in evaluate("ch06.rfm", ctx, whole).hint
    split = expected.copy()
    split["f_score"] = pd.qcut(split["frequency"].rank(method="first"), 5, labels=False) + 1
    assert not np.array_equal(split["f_score"], expected["f_score"])
    assert "并列" in evaluate("ch06.rfm", ctx, split).hint
    off = expected.assign(recency_days=expected["recency_days"] - 1)
    assert "次日" in evaluate("ch06.rfm", ctx, off).hint


def test_quadrant_and_pyramid_hints(ctx):
    expected = get_question("ch06.quadrant").func(ctx)
    full = ch06._quadrant(ctx)
    median_split = expected.copy()
    low = (full["current_value"] <= full["current_value"].median()) & (
        full["potential_value"] <= full["potential_value"].median())
    median_split.loc[low.to_numpy(), "quadrant"] = "放弃型"
    assert "中位数" in evaluate("ch06.quadrant", ctx, median_split).hint
    pyr = get_question("ch06.pyramid").func(ctx)
    val = ch06.values(ctx).set_index("customer_id").reindex(pyr["customer_id"])
    from simcrm.analytics import customer_pyramid

    by_revenue = pyr.assign(level=customer_pyramid(pd.DataFrame({"x": val["revenue"].to_numpy()}), value_col="x")[
        "level"].to_numpy())
    if not (by_revenue["level"].to_numpy() == pyr["level"].to_numpy()).all():
        assert "销售额" in evaluate("ch06.pyramid", ctx, by_revenue).hint
    counts = _approved(ctx.world).groupby("customer_id").size().reindex(pyr["customer_id"]).fillna(0)
    by_count = pyr.assign(level=customer_pyramid(pd.DataFrame({"x": counts.to_numpy(dtype=float)}), value_col="x")[
        "level"].to_numpy())
    assert "订单笔数" in evaluate("ch06.pyramid", ctx, by_count).hint


def test_judgement_hint_names_the_mistake(ctx):
    assert evaluate("ch06.mistakes", ctx, dict(ch06.MISTAKES_KEY)).ok
    wrong = dict(ch06.MISTAKES_KEY, S3="D")
    assert "销售额" in evaluate("ch06.mistakes", ctx, wrong).hint


# --- operations ---------------------------------------------------------------------------------------------


def _crm(ctx):
    now = dt.datetime.combine(ctx.world.today, dt.time(9))
    return CRM(ctx.store, user=ctx.me["login"], now=now), CRM.system(ctx.store, now=now)


def test_operations_fail_then_pass(ctx):
    me, admin = _crm(ctx)
    for key in ("ch06.dictionary", "ch06.levels_written", "ch06.key_accounts_moved", "ch06.visits"):
        assert not evaluate(key, ctx, None).ok
    assert "关键客户" in evaluate("ch06.dictionary", ctx, None).hint
    admin.add_dictionary_value("customer_level", "关键客户")
    assert "VIP客户" in evaluate("ch06.dictionary", ctx, None).hint
    admin.disable_dictionary_value("customer_level", "VIP客户")
    admin.disable_dictionary_value("customer_level", "主要客户")
    assert evaluate("ch06.dictionary", ctx, None).ok

    pyramid = ch06.pyramid(ctx)
    me.set_customer_levels(pyramid.assign(level="小客户"))
    assert "不同" in evaluate("ch06.levels_written", ctx, None).hint
    me.set_customer_levels(pyramid)
    assert evaluate("ch06.levels_written", ctx, None).ok

    dept = ctx.store.read("department")
    sales = int(dept.loc[dept["name"] == "销售部", "id"].iloc[0])
    top_level = admin.add_department("大客户部")
    assert "上级部门" in evaluate("ch06.key_accounts_moved", ctx, None).hint
    admin.rename_department(top_level, "大客户部（旧）")
    kam_dept = admin.add_department("大客户部", parent=sales)
    assert "还没有员工" in evaluate("ch06.key_accounts_moved", ctx, None).hint
    admin.hire("秦大客", "kam01", kam_dept, "销售代表")
    keys = ch06.key_accounts(ctx)
    me.assign_key_accounts(keys[:-1], "kam01", department="大客户部")
    assert "还没有交给" in evaluate("ch06.key_accounts_moved", ctx, None).hint
    me.assign_key_accounts(keys, "kam01", department="大客户部")
    assert evaluate("ch06.key_accounts_moved", ctx, None).ok

    until = ctx.world.today + dt.timedelta(days=ch06.VISIT_HORIZON)
    me.plan_level_visits({"关键客户": 30, "普通客户": 60, "小客户": 180}, until=until)
    assert "回访计划与规则不符" in evaluate("ch06.visits", ctx, None).hint


def test_levels_written_by_the_administrator_are_not_the_students(ctx):
    me, admin = _crm(ctx)
    admin.add_dictionary_value("customer_level", "关键客户")
    admin.set_customer_levels(ch06.pyramid(ctx))
    assert "lab.admin" in evaluate("ch06.levels_written", ctx, None).hint


def test_visits_check_against_hand_dates(ctx):
    me, admin = _crm(ctx)
    admin.add_dictionary_value("customer_level", "关键客户")
    me.set_customer_levels(ch06.pyramid(ctx))
    until = ctx.world.today + dt.timedelta(days=ch06.VISIT_HORIZON)
    plan = me.plan_level_visits(ch06.INTERVALS, until=until)
    key = ch06.pyramid(ctx).query("level == '关键客户'")["customer_id"].iloc[0]
    dates = sorted(plan.loc[plan["customer_id"] == key, "planned_date"].dt.date)
    assert dates == [ctx.world.today + dt.timedelta(days=30 * k) for k in range(1, 7)]
    assert evaluate("ch06.visits", ctx, None).ok


# --- the grading pipeline: full marks, blank, one wrong, two worlds, a copied answer ----------------------------

LAB = "ch06_customer_grading"


@pytest.mark.slow
def test_grading_matrix(tmp_path):
    from simcrm.lab import start

    course = MatrixCourse(tmp_path, LAB, timeout=300)
    answers, answered, release_nb = course.answers, course.answered, course.release_nb

    # student B's buying-centre gaps, computed on B's world as B would have typed them in
    lab_b = start("ch06", student="stu_b", quiet=True)
    b_missing = get_question("ch06.missing_roles").func(lab_b.context())
    lab_a = start("ch06", student="stu_a", quiet=True)
    a_missing = get_question("ch06.missing_roles").func(lab_a.context())
    assert a_missing != b_missing, "two students' worlds should give different answers"
    a_value = get_question("ch06.value").func(lab_a.context())
    b_value = get_question("ch06.value").func(lab_b.context())
    assert not a_value["value"].head(50).equals(b_value["value"].head(50))

    wrong_mistakes = 'mistakes = {"S1": "A", "S2": "C", "S3": "A", "S4": "D"}'
    copied = answers["q51_answer"].replace("missing = {}", "_mine = {}").replace("missing[cid]", "_mine[cid]") \
        .replace("missing.values()", "_mine.values()") + f"\nmissing = {b_missing!r}"
    students = {
        "stu_a": answered(),
        "stu_b": answered(),
        "blank": release_nb,
        "wrong": answered({"q61_answer": wrong_mistakes}),
        "copier": answered({"q51_answer": copied}),
    }
    result = course.grade(students)
    course.assert_matrix(result, wrong=("wrong", "q61_test"), copier=("copier", "q51_test"))

def test_odd_answers_get_a_hint_not_a_crash(ctx):
    expected = get_question("ch06.value").func(ctx)
    text_numbers = expected.astype({"revenue": str})
    text_numbers["revenue"] = "很多"
    assert not evaluate("ch06.value", ctx, text_numbers).ok
    assert not evaluate("ch06.rfm", ctx, expected).ok
    assert not evaluate("ch06.missing_roles", ctx, ["决策者"]).ok
    assert not evaluate("ch06.quadrant", ctx, pd.DataFrame({"customer_id": ["x"], "quadrant": [1]})).ok
