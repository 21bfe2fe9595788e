"""ch01 认识客户关系管理软件: reference answers, the care operation check and the hints.

The references are checked against hand-worked numbers on a hand-made firm (the data scope
rule) and against independent plain-Python computations on a small generated world.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict

import pytest

from simcrm import reference
from simcrm.crm import CRM
from simcrm.lab import start
from simcrm.lab.chapters import ch01
from simcrm.lab.questions import QUESTIONS, Context, evaluate, get_question
from simcrm.store import Store

NOW = dt.datetime(2025, 7, 1, 9, 0)


# --- the data scope rule on a hand-made firm ------------------------------------------------------


@pytest.fixture()
def demo():
    store = Store()
    admin = CRM.system(store, now=NOW)
    ids = admin.setup_demo_org()
    rep1, rep2, rep3 = (admin.as_user(x) for x in ("rep1", "rep2", "rep3"))
    a = rep1.create_customer("远航物流有限公司", province="上海", city="上海市", phone="021-52345678")
    rep1.create_customer("星河数据科技有限公司", province="浙江省", city="杭州市", phone="0571-88886666")
    c = rep2.create_customer("华信科技有限公司", province="江苏省", city="南京市", phone="025-84561234")
    d = rep3.create_customer("明达贸易有限公司", province="广东省", city="广州市", phone="020-38372956")
    rep3.create_customer("东方电子有限公司", province="广东省", city="深圳市", phone="0755-26781234")
    rep3.share_customer(d, "rep1")            # rep1 now also sees one customer of team 2
    admin.set_department_manager(ids["sales"], ids["boss"])
    yield store, ids, {"a": a, "c": c, "d": d}
    store.close()


def test_visible_count_by_hand(demo):
    store, _ids, _c = demo
    # boss 全部: 5; mgr1 本部门 (销售一组: rep1 2 + rep2 1 + own 0): 3; rep1 本人 2 + 1 shared: 3;
    # rep2: 1; rep3: 2
    expected = {"boss": 5, "mgr1": 3, "rep1": 3, "rep2": 1, "rep3": 2}
    for login, n in expected.items():
        assert ch01.visible_count(store, login) == n, login
        assert len(CRM(store, login, now=NOW).customers()) == n, login
    assert ch01.visible_count(store, "rep1", shares=False) == 2


def test_visible_count_counts_sub_departments(demo):
    store, ids, _c = demo
    admin = CRM.system(store, now=NOW)
    admin.hire("赵总监", "dir", ids["sales"], ids["role_manager"], hire_date="2024-01-02")
    # 销售部 with its two groups: all five customers; without sub-departments: none
    assert ch01.visible_count(store, "dir") == 5 == len(CRM(store, "dir", now=NOW).customers())
    assert ch01.visible_count(store, "dir", subtree=False) == 0


# --- references on a small generated world ---------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    return start("ch01", student="t_ch01_unit", customers=200, quiet=True)


@pytest.fixture()
def ctx(lab):
    return lab.context()


def _deal_totals(lab):
    totals: dict[int, float] = defaultdict(float)
    live = {int(r.id) for r in lab.table("customer").itertuples() if not r.deleted}
    for r in lab.table("sales_order").itertuples():
        if r.approval == "同意" and r.status != "意外中止" and int(r.customer_id) in live:
            totals[int(r.customer_id)] += float(r.total_amount)
    return totals


def test_profile_by_hand(lab, ctx):
    totals = _deal_totals(lab)
    mine = {int(r.id) for r in lab.table("customer").itertuples() if r.owner_id == lab.me["id"] and not r.deleted}
    best = min((c for c in totals if c in mine), key=lambda c: (-totals[c], c))
    got = get_question("ch01.profile").func(ctx)
    assert got["customer_id"] == best
    for key, table in ch01.PROFILE_TABLES.items():
        assert got[key] == sum(1 for x in lab.table(table)["customer_id"] if x == best), key


def test_lifecycle_regions_top_and_share_by_hand(lab, ctx):
    customers = [r for r in lab.table("customer").itertuples() if not r.deleted]
    counts = Counter(r.lifecycle for r in customers)
    assert get_question("ch01.by_lifecycle").func(ctx).to_dict() == dict(counts)

    totals = _deal_totals(lab)
    n_prov, amt_prov = Counter(), defaultdict(float)
    for r in customers:
        n_prov[r.province] += 1
        amt_prov[r.province] += totals.get(int(r.id), 0.0)
    first = lambda d, keys: min(keys, key=lambda p: (-d[p], p))  # noqa: E731
    avg = {p: amt_prov[p] / n_prov[p] for p in n_prov}
    big = [p for p in n_prov if n_prov[p] >= ch01.MIN_PROVINCE_CUSTOMERS]
    expected = {"客户数最多": first(n_prov, n_prov), "成交金额最高": first(amt_prov, n_prov)}
    expected["户均成交最高"] = first(avg, big or list(n_prov))  # tiny worlds: no province has 50 customers
    assert get_question("ch01.regions").func(ctx) == expected

    best = min(totals, key=lambda c: (-totals[c], c))
    top = get_question("ch01.top_customer").func(ctx)
    owner_id = int(lab.table("customer").set_index("id").loc[best, "owner_id"])
    assert top["customer_id"] == best
    assert top["owner"] == lab.table("employee").set_index("id").loc[owner_id, "name"]
    assert top["amount"] == pytest.approx(round(totals[best], 2), abs=0.005)

    values = sorted(totals.values(), reverse=True)
    k = math.ceil(0.2 * len(values))
    assert get_question("ch01.top20_share").func(ctx) == pytest.approx(round(sum(values[:k]) / sum(values), 4))


def test_visible_matches_logging_in(lab, ctx):
    got = get_question("ch01.visible").func(ctx)
    assert len(got) == 4 and lab.me["login"] in got
    for login, n in got.items():
        assert n == len(lab.crm.as_user(login).customers()), login


def test_no_read_matches_rights(lab, ctx):
    rights = lab.crm.rights()
    assert get_question("ch01.no_read").func(ctx) == sorted(rights.loc[~rights["read"], "name"])


def test_points_and_keys():
    mine = {k: q for k, q in QUESTIONS.items() if k.startswith("ch01.")}
    assert sum(q.points for q in mine.values()) == 80
    assert set(ch01.VOICES) == set(get_question("ch01.voices").func(None))
    assert {m for _w, _t, m in ch01.VOICES.values()} <= set(reference.MODULES.values())
    assert {t for _f, t in ch01.FEATURES.values()} == {"运营型", "分析型", "协作型"}


# --- the care operation ---------------------------------------------------------------------------------


@pytest.fixture()
def fresh():
    lab = start("ch01", student="t_ch01_op", customers=200, quiet=True)
    yield lab
    lab.store.close()


def _plan(lab, customer_id, **kw):
    args = {"care_type": "售后回访", "subject": "年度客户回访", "planned_date": lab.today + dt.timedelta(days=7)}
    args.update(kw)
    return lab.crm.plan_care(customer_id, args["care_type"], args["subject"], args["planned_date"])


def test_care_correct_passes_and_duplicate_fails(fresh):
    target = ch01.my_top_customer(fresh.context())
    assert not evaluate("ch01.care", fresh.context(), None).ok
    _plan(fresh, target)
    assert evaluate("ch01.care", fresh.context(), None).ok
    _plan(fresh, target)
    result = evaluate("ch01.care", fresh.context(), None)
    assert not result.ok and 'lab.undo("ch01.care")' in result.hint


def test_care_wrong_customer_date_or_type(fresh):
    target = ch01.my_top_customer(fresh.context())
    other = int(fresh.crm.customers().query("id != @target")["id"].iloc[0])
    _plan(fresh, other)
    assert "别的客户" in evaluate("ch01.care", fresh.context(), None).hint
    fresh.reset()
    _plan(fresh, target, planned_date=fresh.today + dt.timedelta(days=8))
    assert "第 7 天" in evaluate("ch01.care", fresh.context(), None).hint
    fresh.reset()
    _plan(fresh, target, care_type="关怀活动")
    assert "售后回访" in evaluate("ch01.care", fresh.context(), None).hint


# --- hints for the likely mistakes ----------------------------------------------------------------------------


def test_profile_hints(lab, ctx):
    good = get_question("ch01.profile").func(ctx)
    assert evaluate("ch01.profile", ctx, good).ok
    firm_top = get_question("ch01.top_customer").func(ctx)["customer_id"]
    if firm_top != good["customer_id"]:
        assert "你名下" in evaluate("ch01.profile", ctx, {**good, "customer_id": firm_top}).hint
    if good["服务请求"] > 0:
        hint = evaluate("ch01.profile", ctx, {**good, "服务请求": 0}).hint
        assert "查看权限" in hint


def test_visible_hints(lab, ctx):
    good = get_question("ch01.visible").func(ctx)
    logins = ch01.four_logins(ctx.store, ctx.me)
    director = logins["上级部门主管"]
    narrow = ch01.visible_count(ctx.store, director, subtree=False)
    if narrow != good[director]:
        assert "下级部门" in evaluate("ch01.visible", ctx, {**good, director: narrow}).hint
    assert "缺少" in evaluate("ch01.visible", ctx, {"老板": 1}).hint


def test_no_read_hints(lab, ctx):
    assert "中文名称" in evaluate("ch01.no_read", ctx, ["service", "complaint"]).hint
    rights = lab.crm.rights()
    no_create = sorted(rights.loc[~rights["create"], "name"])
    if no_create != get_question("ch01.no_read").func(ctx):
        assert "新建" in evaluate("ch01.no_read", ctx, no_create).hint


def test_lifecycle_hints(lab, ctx):
    good = get_question("ch01.by_lifecycle").func(ctx)
    assert "占比" in evaluate("ch01.by_lifecycle", ctx, good / good.sum()).hint
    mine = lab.crm.customers()["lifecycle"].value_counts()
    assert "lab.table" in evaluate("ch01.by_lifecycle", ctx, mine).hint


def test_top_customer_and_share_hints(lab, ctx):
    good = get_question("ch01.top_customer").func(ctx)
    assert evaluate("ch01.top_customer", ctx, dict(good)).ok
    orders = lab.table("sales_order")
    single = int(orders.sort_values("total_amount").iloc[-1]["customer_id"])
    if single != good["customer_id"]:
        assert "单笔" in evaluate("ch01.top_customer", ctx, {**good, "customer_id": single}).hint
    owner_id = int(lab.table("customer").set_index("id").loc[good["customer_id"], "owner_id"])
    assert "姓名" in evaluate("ch01.top_customer", ctx, {**good, "owner": owner_id}).hint

    share = get_question("ch01.top20_share").func(ctx)
    assert evaluate("ch01.top20_share", ctx, share).ok
    assert "小数" in evaluate("ch01.top20_share", ctx, share * 100).hint
    totals = ch01.customer_totals(ctx.pristine)
    live = ch01.live_customers(ctx.pristine)
    if len(live) > len(totals):
        import pandas as pd

        values = totals.reindex(live["id"]).fillna(0.0).sort_values(ascending=False)
        k = math.ceil(0.2 * len(values))
        alt = round(float(values.iloc[:k].sum() / values.sum()), 4)
        if not math.isclose(alt, share, abs_tol=1e-4):
            assert "有成交" in evaluate("ch01.top20_share", ctx, alt).hint
        assert isinstance(values, pd.Series)


def test_judgement_hints():
    ctx = Context(pristine=None, store=None)
    voices = {k: m for k, (_w, _t, m) in ch01.VOICES.items()}
    assert evaluate("ch01.voices", ctx, voices).ok
    hint = evaluate("ch01.voices", ctx, {**voices, "V6": "客户管理"}).hint
    assert "V6" in hint and "沟通" in hint
    assert "模块名称" in evaluate("ch01.voices", ctx, {**voices, "V1": "销售管理"}).hint
    types = {k: t for k, (_f, t) in ch01.FEATURES.items()}
    assert evaluate("ch01.crm_types", ctx, types).ok
    hint = evaluate("ch01.crm_types", ctx, {**types, "C": "运营型"}).hint
    assert "C" in hint and "渠道" in hint
    assert "只能填" in evaluate("ch01.crm_types", ctx, {**types, "A": "操作型"}).hint
