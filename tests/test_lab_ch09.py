"""ch09 lab: every reference against an independent (loop) computation, the hints for the likely
mistakes, the operation checks on a copy of the world (including a second try after lab.undo),
the closed loop against the kernel's own next quarter, and the grading matrix."""

from __future__ import annotations

import collections
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simcrm import generate, reference
from simcrm.crm import CRM
from simcrm.lab.chapters import ch09
from simcrm.lab.questions import Context, evaluate, get_question
from simcrm.store import Store
from lab_matrix import MatrixCourse

SEED, CUSTOMERS = 9, 600


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("ch09") / "world.sqlite"
    return generate(seed=SEED, customers=CUSTOMERS, db=str(path))


def _me(store):
    from simcrm.lab.session import pick_employee

    return pick_employee(store, "一般人员", "客服")


@pytest.fixture()
def ctx(world, tmp_path):
    """A context whose student store is a fresh copy of the world (operations stay local)."""
    from simcrm.lab.session import _copy_sqlite

    copy_ = tmp_path / "student.sqlite"
    _copy_sqlite(Path(world.store.engine.url.database), copy_)
    student = Store(copy_, create=False)
    yield Context(pristine=world.store, store=student, world=world, me=_me(world.store), chapter="ch09")
    student.close()


def _today(world):
    return pd.Timestamp(world.today)


def test_the_student_is_a_service_agent(world):
    me = _me(world.store)
    assert me["department"] == "客服部" and me["role_type"] == "一般人员"


# --- references against independent computations ----------------------------------------------------


def test_sla_reference_by_loops(ctx, world):
    ref = get_question("ch09.sla").func(ctx).set_index("urgency")
    end = _today(world) + pd.Timedelta(days=1)
    pol = {r["urgency"]: r for r in world.store.read("sla_policy").to_dict("records")}
    tally = collections.defaultdict(lambda: [0, 0, 0, 0])
    for r in world.store.read("service_request").to_dict("records"):
        if not r["opened_at"] < end:
            continue
        t = tally[r["urgency"]]
        p = pol[r["urgency"]]
        due_r = r["opened_at"] + dt.timedelta(hours=float(p["first_response_hours"]))
        due_s = r["opened_at"] + dt.timedelta(hours=float(p["resolution_hours"]))
        t[0] += 1
        t[1] += int(pd.notna(r["first_response_at"]) and r["first_response_at"] <= due_r)
        t[2] += int(pd.notna(r["resolved_at"]) and r["resolved_at"] <= due_s)
        t[3] += int(pd.isna(r["resolved_at"]) and due_s < end)
    assert set(tally) == set(ref.index)
    for u, (n, okr, oks, over) in tally.items():
        assert ref.loc[u, "requests"] == n
        assert ref.loc[u, "response_rate"] == pytest.approx(okr / n)
        assert ref.loc[u, "resolution_rate"] == pytest.approx(oks / n)
        assert ref.loc[u, "overdue_open"] == over
    assert ref["response_rate"].lt(1).any(), "some first responses miss the SLA"


def _dissatisfied_by_loops(world, cut):
    low = set()
    for r in world.store.read("survey").to_dict("records"):
        if r["overall"] <= 2 and r["survey_date"] < cut:
            low.add(r["customer_id"])
    for r in world.store.read("service_request").to_dict("records"):
        if pd.notna(r["satisfaction"]) and r["satisfaction"] <= 2 and r["closed_at"] < cut:
            low.add(r["customer_id"])
    for r in world.store.read("care").to_dict("records"):
        if pd.notna(r["satisfaction"]) and r["satisfaction"] <= 2 and pd.Timestamp(r["done_date"]) < cut:
            low.add(r["customer_id"])
    return low


def test_complaint_value_and_stayed_by_loops(ctx, world):
    cut = _today(world)
    low = _dissatisfied_by_loops(world, cut)
    comp = world.store.read("complaint").to_dict("records")
    complained = {c["customer_id"] for c in comp if c["received_at"] < cut}
    ref = get_question("ch09.complaint_value").func(ctx)
    assert ref["dissatisfied"] == len(low) and ref["complained"] == len(low & complained)
    assert ref["one_in"] == pytest.approx(len(low) / len(low & complained))
    assert ref["one_in"] > 3, "most dissatisfied customers do not complain"

    latest = {}
    for c in sorted(comp, key=lambda c: (c["received_at"], c["id"])):
        if c["received_at"] < cut - pd.Timedelta(days=180):
            latest[c["customer_id"]] = c
    life = world.store.read("customer").set_index("id")["lifecycle"]
    groups = collections.defaultdict(list)
    for cid, c in latest.items():
        ok = c["status"] in ("已回访", "已归档") and pd.notna(c["satisfaction"]) and c["satisfaction"] >= 4
        groups["满意" if ok else "不满意或未解决"].append(life[cid] != "失效")
    st = get_question("ch09.stayed").func(ctx).set_index("resolution")
    for g, xs in groups.items():
        assert st.loc[g, "customers"] == len(xs)
        assert st.loc[g, "stayed_share"] == pytest.approx(sum(xs) / len(xs))


def test_servqual_and_pareto_by_loops(ctx, world):
    cut = _today(world)
    surveys = [s for s in world.store.read("survey").to_dict("records") if s["survey_date"] < cut]
    ref = get_question("ch09.servqual").func(ctx)
    assert list(ref["gap"]) == sorted(ref["gap"])
    assert set(ref["dimension"]) == {"可靠性", "有形性", "响应性", "安全性", "关怀性"}
    for d in reference.SERVQUAL:
        e = sum(s[f"exp_{d['code']}"] for s in surveys) / len(surveys)
        p = sum(s[f"per_{d['code']}"] for s in surveys) / len(surveys)
        row = ref[ref["dimension"] == d["name"]].iloc[0]
        assert row["expectation"] == pytest.approx(e) and row["gap"] == pytest.approx(p - e)
    counts = collections.Counter(c["gap_type"] for c in world.store.read("complaint").to_dict("records")
                                 if c["received_at"] < cut)
    gaps = reference.state_values("gap_type")
    order = sorted(gaps, key=lambda g: (-counts.get(g, 0), gaps.index(g)))
    par = get_question("ch09.pareto").func(ctx)
    assert list(par["gap_type"]) == order
    total = sum(counts.values())
    assert list(par["complaints"]) == [counts.get(g, 0) for g in order]
    assert par["cum_share"].iloc[-1] == pytest.approx(1.0)
    assert par["share"].iloc[0] == pytest.approx(counts[order[0]] / total)


def _erlang_c_by_factorials(n, a):
    top = a ** n / math.factorial(n) * n / (n - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(n)) + top)


def test_call_centre_by_hand(ctx, world):
    cut = _today(world)
    hours = collections.Counter()
    for table, col in (("service_request", "opened_at"), ("complaint", "received_at")):
        for r in world.store.read(table).to_dict("records"):
            if r["channel"] == "电话" and cut - pd.Timedelta(days=365) <= r[col] < cut:
                hours[r[col].hour] += 1
    top = min(h for h, n in hours.items() if n == max(hours.values()))
    ref = get_question("ch09.call_centre").func(ctx)
    assert ref["busiest_hour"] == top
    rate = hours[top] * ch09.CALLS_PER_RECORD / 365
    assert ref["calls_per_hour"] == pytest.approx(rate)
    a = rate / 3600 * ch09.AHT_SECONDS
    s = ch09.AHT_SECONDS

    def level(n):
        return 0.0 if n <= a else 1 - _erlang_c_by_factorials(n, a) * math.exp(-(n - a) * 20 / s)

    n = next(k for k in range(1, 100) if level(k) >= 0.8)
    assert ref["agents"] == n
    fewer = math.inf if n - 1 <= a else _erlang_c_by_factorials(n - 1, a) * s / (n - 1 - a)
    assert ref["asa_one_fewer"] == pytest.approx(fewer)


# --- hints ------------------------------------------------------------------------------------------------


def test_hints(ctx, world):
    sla = get_question("ch09.sla").func(ctx)
    assert evaluate("ch09.sla", ctx, sla).ok
    sr = world.store.read("service_request")
    sr = sr[sr["opened_at"] < _today(world) + pd.Timedelta(days=1)]
    pol = world.store.read("sla_policy").set_index("urgency")
    limit = sr["urgency"].map(pol["first_response_hours"]).astype(float)
    waited = (sr["first_response_at"] - sr["opened_at"]).dt.total_seconds() / 3600
    answered = (waited <= limit)[sr["first_response_at"].notna()].groupby(sr["urgency"]).mean()
    only_answered = sla.assign(response_rate=sla["urgency"].map(answered).to_numpy())
    if not np.allclose(only_answered["response_rate"], sla["response_rate"]):
        assert "分母" in evaluate("ch09.sla", ctx, only_answered).hint
    unresolved = sr["resolved_at"].isna().groupby(sr["urgency"]).sum()
    all_open = sla.assign(overdue_open=sla["urgency"].map(unresolved).to_numpy())
    if not np.allclose(all_open["overdue_open"], sla["overdue_open"]):
        assert "还没到解决时限" in evaluate("ch09.sla", ctx, all_open).hint

    value = get_question("ch09.complaint_value").func(ctx)
    s = world.store.read("survey")
    survey_only = dict(value, dissatisfied=int(s.loc[s["overall"] <= 2, "customer_id"].nunique()))
    assert "只看了满意度调查" in evaluate("ch09.complaint_value", ctx, survey_only).hint

    sq = get_question("ch09.servqual").func(ctx)
    assert "算反了" in evaluate("ch09.servqual", ctx, sq.assign(gap=-sq["gap"])).hint
    par = get_question("ch09.pareto").func(ctx)
    assert "排序" in evaluate("ch09.pareto", ctx, par.iloc[::-1].reset_index(drop=True)).hint

    calls = get_question("ch09.call_centre").func(ctx)
    raw = dict(calls, calls_per_hour=calls["calls_per_hour"] / ch09.CALLS_PER_RECORD)
    assert str(ch09.CALLS_PER_RECORD) in evaluate("ch09.call_centre", ctx, raw).hint

    assert evaluate("ch09.five_steps", ctx, dict(ch09.STEPS_KEY)).ok
    assert "争辩" in evaluate("ch09.five_steps", ctx, dict(ch09.STEPS_KEY, S2="A")).hint


def test_odd_answers_get_a_hint_not_a_crash(ctx):
    for key in ("ch09.sla", "ch09.stayed", "ch09.servqual", "ch09.pareto"):
        assert not evaluate(key, ctx, pd.DataFrame({"x": ["很多"]})).ok
    for key in ("ch09.complaint_value", "ch09.call_centre", "ch09.five_steps"):
        assert not evaluate(key, ctx, ["不对"]).ok
    assert not evaluate("ch09.handled", ctx, "紧急").ok


# --- operations ---------------------------------------------------------------------------------------------


def _crms(ctx):
    now = dt.datetime.combine(ctx.world.today, dt.time(9))
    emp = ctx.store.read("employee").set_index("id")
    return (CRM(ctx.store, user=ctx.me["login"], now=now), CRM(ctx.store, user=emp.loc[ch09.manager_id(ctx), "login"], now=now),
            CRM.system(ctx.store, now=now))


def test_respond_fails_then_passes(ctx):
    me, _manager, admin = _crms(ctx)
    new = ctx.store.read("service_request").query("status == '新建'")["id"].tolist()
    assert new, "the world has new service requests"
    assert "还有" in evaluate("ch09.respond", ctx, None).hint
    admin.respond_service_request(int(new[0]))
    for rid in new[1:]:
        me.respond_service_request(int(rid))
    assert "lab.admin" in evaluate("ch09.respond", ctx, None).hint


def test_respond_by_the_agent_passes(ctx):
    me, *_ = _crms(ctx)
    for rid in ctx.store.read("service_request").query("status == '新建'")["id"]:
        me.respond_service_request(int(rid))
    assert evaluate("ch09.respond", ctx, None).ok


def _department(ctx, name):
    d = ctx.store.read("department")
    return int(d.loc[d["name"] == name, "id"].iloc[0])


def _flow(ctx, me, manager, *, department="客服部", stop=None):
    who = ch09.complaint_customer(ctx)
    cid = me.record_complaint(who["customer_id"], "维修后又坏了", category="售后维修", urgency="紧急", channel="电话",
                              product_id=who["product_id"])
    steps = [("调查中", me, {"handling_notes": "上次维修未更换部件，投诉成立"}),
             ("已分派", me, {"department_id": _department(ctx, department), "gap_type": "程序差距"}),
             ("方案待批", me, {"solution": "上门更换部件并致歉"}),
             ("处理中", manager, {})]
    for status, who_, fields in steps:
        if status == stop:
            return cid
        who_.advance_complaint(cid, status, **fields)
    me.record_return_visit(who["customer_id"], complaint_id=cid, satisfaction=5)
    me.advance_complaint(cid, "已回访")
    me.advance_complaint(cid, "已归档")
    return cid


def test_complaint_flow_fails_then_passes(ctx):
    me, manager, _admin = _crms(ctx)
    assert "还没有" in evaluate("ch09.complaint_flow", ctx, None).hint
    _flow(ctx, me, manager, stop="方案待批")
    assert "方案待批" in evaluate("ch09.complaint_flow", ctx, None).hint
    cid = int(ctx.store.read("complaint")["id"].max())
    me.advance_complaint(cid, "方案待批", solution="上门更换部件并致歉")
    manager.advance_complaint(cid, "处理中")
    who = ch09.complaint_customer(ctx)
    me.record_return_visit(who["customer_id"], complaint_id=cid, satisfaction=4)
    me.advance_complaint(cid, "已回访")
    me.advance_complaint(cid, "已归档")
    assert evaluate("ch09.complaint_flow", ctx, None).ok


def test_complaint_flow_wrong_department_and_duplicates(ctx):
    me, manager, _admin = _crms(ctx)
    _flow(ctx, me, manager, department="销售部")
    assert "责任部门" in evaluate("ch09.complaint_flow", ctx, None).hint
    _flow(ctx, me, manager)
    assert "lab.undo" in evaluate("ch09.complaint_flow", ctx, None).hint


def test_handled_rule(ctx):
    me, manager, _admin = _crms(ctx)
    opened = ch09.open_complaints(ctx)
    assert opened["urgency"].nunique() > 1
    fast = ["非常紧急", "紧急"]
    assert not evaluate("ch09.handled", ctx, fast).ok
    assert "两组" in evaluate("ch09.handled", ctx, list(reference.state_values("urgency"))).hint
    routing = {k: _department(ctx, v) for k, v in ch09.ROUTING.items()}
    for row in opened[opened["urgency"].isin(fast)].to_dict("records"):
        status = row["status"]
        for nxt in ch09.STATES[ch09.STATES.index(status) + 1:]:
            fields = {"调查中": {"handling_notes": "核实"}, "已分派": {"department_id": routing[row["category"]]},
                      "方案待批": {"solution": "补偿并致歉"}}.get(nxt, {})
            if nxt == "已回访" or (nxt == "已归档" and pd.isna(row["satisfaction"]) and status == "已回访"):
                me.record_return_visit(row["customer_id"], complaint_id=row["id"], satisfaction=5)
            (manager if nxt == "处理中" else me).advance_complaint(row["id"], nxt, **fields)
    assert evaluate("ch09.handled", ctx, fast).ok
    assert "被归档" in evaluate("ch09.handled", ctx, ["非常紧急"]).hint  # the 紧急 ones were closed against this rule


_QUICK = ["产品质量", "售后维修", "交付物流"]
CATEGORIES = list(reference.DICTIONARIES["complaint_category"]["values"])


def _set_policy(manager, quick, *, only=None):
    for cat in only or CATEGORIES:
        if cat in quick:
            manager.set_complaint_policy(cat, response_days=0, resolve_days=2, remedy="更换并补偿")
        else:
            manager.set_complaint_policy(cat, response_days=7, resolve_days=30, remedy="致歉说明")


def test_policy_fails_then_passes(ctx):
    me, manager, admin = _crms(ctx)
    assert "列表" in evaluate("ch09.policy", ctx, "产品质量").hint
    assert "没有处理规则" in evaluate("ch09.policy", ctx, _QUICK).hint
    _set_policy(manager, _QUICK, only=["产品质量", "售后维修"])
    assert "还有 5 类" in evaluate("ch09.policy", ctx, _QUICK).hint
    _set_policy(manager, CATEGORIES)  # every category fast: no second group
    assert "两组" in evaluate("ch09.policy", ctx, list(CATEGORIES)).hint
    _set_policy(manager, _QUICK)
    assert "不一致" in evaluate("ch09.policy", ctx, ["产品质量"]).hint
    # 5 days with 维修或更换 is fast (≤ 7 days) and satisfying (4); 10 days with 更换并补偿 is satisfying (4) but slow
    manager.set_complaint_policy("服务态度", response_days=1, resolve_days=5, remedy="维修或更换")
    manager.set_complaint_policy("交付物流", response_days=1, resolve_days=10, remedy="更换并补偿")
    want = ["产品质量", "售后维修", "服务态度"]
    assert ch09.policy_split(ctx.store)[0] == set(want)
    assert evaluate("ch09.policy", ctx, want).ok
    with pytest.raises(Exception, match="role_type"):  # the agent may not set it
        me.set_complaint_policy("其他", response_days=0, resolve_days=2, remedy="更换并补偿")


def test_policy_rows_written_around_the_crm_do_not_count(ctx):
    _me_, manager, _admin = _crms(ctx)
    _set_policy(manager, _QUICK, only=[c for c in CATEGORIES if c != "其他"])
    ctx.store.insert("complaint_policy", {"category": "其他", "response_days": 7, "resolve_days": 30, "remedy": "致歉说明"})
    assert "set_complaint_policy" in evaluate("ch09.policy", ctx, _QUICK).hint


def _policy_effect_by_loops(after, today, days=91):
    first, end = today + pd.Timedelta(days=1), today + pd.Timedelta(days=1 + days)
    visits = {}
    for h in after.read("complaint_history").to_dict("records"):
        if h["status"] == "已回访":
            visits[h["complaint_id"]] = min(visits.get(h["complaint_id"], h["at"]), h["at"])
    firsts = {}
    for c in sorted(after.read("complaint").to_dict("records"), key=lambda c: (c["received_at"], c["id"])):
        if first <= c["received_at"] < end and c["customer_id"] not in firsts:
            firsts[c["customer_id"]] = c
    orders = [o for o in after.read("sales_order").to_dict("records") if o["approval"] == "同意" and o["order_date"] < end]
    life = after.read("customer").set_index("id")["lifecycle"]
    groups = collections.defaultdict(list)
    for cust, c in firsts.items():
        v = visits.get(c["id"])
        ok = v is not None and v - c["received_at"] <= pd.Timedelta(days=7) and pd.notna(c["satisfaction"]) and c["satisfaction"] >= 4
        day = c["received_at"].normalize()
        bought = any(o["customer_id"] == cust and o["order_date"] > day for o in orders)
        groups["快速满意" if ok else "其余"].append((bought, life[cust] == "失效"))
    return groups


# --- the lab session: a second try after undo, and the closed loop ----------------------------------------


@pytest.fixture(scope="module")
def lab():
    from simcrm.lab import start

    return start("ch09", customers=CUSTOMERS, student="ch09_test", quiet=True)


def test_second_try_after_undo_and_the_quarter(lab):
    emp = lab.table("employee").set_index("id")
    manager = CRM(lab.store, user=emp.loc[ch09.manager_id(lab.context()), "login"], now=lambda: lab.now)
    ctx = lab.context()
    before = {t: len(lab.table(t)) for t in ("complaint", "complaint_history", "return_visit")}
    _flow(ctx, lab.crm, manager, department="仓储部")
    with pytest.raises(AssertionError, match="责任部门"):
        lab.check("ch09.complaint_flow", None)
    lab.undo("ch09.complaint_flow")
    assert {t: len(lab.table(t)) for t in before} == before
    _flow(lab.context(), lab.crm, manager)
    lab.check("ch09.complaint_flow", None)

    # 练习 7.1: the student finishes the open 非常紧急/紧急 complaints and leaves the rest
    ctx = lab.context()
    opened = ch09.open_complaints(ctx)
    fast = opened[opened["urgency"].isin(["非常紧急", "紧急"])]
    assert len(fast) and len(fast) < len(opened)
    routing = {k: _department(ctx, v) for k, v in ch09.ROUTING.items()}
    for row in fast.to_dict("records"):
        status = row["status"]
        for nxt in ch09.STATES[ch09.STATES.index(status) + 1:]:
            fields = {"调查中": {"handling_notes": "核实"}, "已分派": {"department_id": routing[row["category"]]},
                      "方案待批": {"solution": "补偿并致歉"}}.get(nxt, {})
            if nxt == "已回访" or (nxt == "已归档" and pd.isna(row["satisfaction"]) and status == "已回访"):
                lab.crm.record_return_visit(row["customer_id"], complaint_id=row["id"], satisfaction=5)
            (manager if nxt == "处理中" else lab.crm).advance_complaint(row["id"], nxt, **fields)
    assert ch09.handled_complaints(lab.pristine, lab.store) == set(fast["id"])
    cols = ["status", "satisfaction", "solution", "closed_at", "handler_id"]
    before_step = lab.table("complaint").set_index("id").loc[opened["id"], cols]
    hist_before = lab.table("complaint_history")
    hist_before = hist_before[hist_before["complaint_id"].isin(opened["id"])]

    lab.next_quarter()
    # the step never overwrites the student's complaint rows, and adds no history to the complaints
    # the student took over (the world still moves the ones the student left)
    pd.testing.assert_frame_equal(lab.table("complaint").set_index("id").loc[fast["id"], cols], before_step.loc[fast["id"]])
    hist_after = lab.table("complaint_history")
    hist_after = hist_after[hist_after["complaint_id"].isin(fast["id"])]
    assert len(hist_after) == (hist_before["complaint_id"].isin(fast["id"])).sum()
    got = get_question("ch09.recovery").func(lab.context())
    # the kernel's own stepped world gives the same table as the referee's replay
    mine = ch09.recovery_table(lab.pristine, lab.store, pd.Timestamp(lab.world.params.today), 91,
                               ch09.handled_complaints(lab.pristine, lab.store))
    pd.testing.assert_frame_equal(got, mine)
    assert set(got["group"]) <= set(ch09.RECOVERY_GROUPS) and got["customers"].sum() > 0
    # the referee's replay holds the same complaint handling as the kernel
    from simcrm.lab.loop import replay

    again = replay(lab.context()).read("complaint").set_index("id").loc[fast["id"], cols]
    pd.testing.assert_frame_equal(again, before_step.loc[fast["id"]])


def test_policy_loop_in_the_lab(tmp_path):
    """练习 7.2 → next_quarter → 7.4 in a lab: the quarter's complaints follow the rules, the surge gives
    them a population, the reference equals an independent loop computation on the kernel's own
    stepped world and the referee's replay (which replays the policy) gives the same table."""
    from simcrm.lab import start
    from simcrm.lab.loop import replay

    lab = start("ch09", customers=CUSTOMERS, student="ch09_policy", quiet=True)
    emp = lab.table("employee").set_index("id")
    manager = CRM(lab.store, user=emp.loc[ch09.manager_id(lab.context()), "login"], now=lambda: lab.now)
    quick = ["产品质量", "服务态度", "价格收费"]  # 售后维修, the other usual escalation, slow: both groups get customers
    _set_policy(manager, quick)
    lab.check("ch09.policy", quick)
    today = pd.Timestamp(lab.world.params.today)
    lab.next_quarter()
    groups = _policy_effect_by_loops(lab.store, today)
    assert sum(len(v) for v in groups.values()) >= 8, "the surge gives the policy complaints to act on"
    assert set(groups) == set(ch09.POLICY_GROUPS)
    got = get_question("ch09.policy_effect").func(lab.context()).set_index("group")
    for g, xs in groups.items():
        assert got.loc[g, "customers"] == len(xs)
        assert got.loc[g, "bought_share"] == pytest.approx(sum(b for b, _ in xs) / len(xs))
        assert got.loc[g, "lost_share"] == pytest.approx(sum(lost for _, lost in xs) / len(xs))
    mine = ch09.policy_effect_table(lab.store, today, 91)
    pd.testing.assert_frame_equal(get_question("ch09.policy_effect").func(lab.context()), mine)
    # the quarter's complaints of the quick categories were return-visited on the second day after receipt
    comp = lab.table("complaint")
    new = comp[(comp["received_at"] >= today + pd.Timedelta(days=7)) & (comp["received_at"] < today + pd.Timedelta(days=85))]
    assert len(new) and (new.loc[new["category"].isin(quick), "satisfaction"] == 5).all()
    assert (new.loc[~new["category"].isin(quick), "satisfaction"].dropna() == 1).all()  # 致歉说明 after 30 days
    assert replay(lab.context()).read("complaint_policy")["remedy"].tolist() == lab.table("complaint_policy")["remedy"].tolist()
    lab.grade("ch09.policy_effect", mine)


# --- the grading pipeline: full marks, blank, one wrong, two worlds, a copied answer ----------------------------

LAB = "ch09_customer_service"


@pytest.mark.slow
def test_grading_matrix(tmp_path):
    from simcrm.lab import start

    course = MatrixCourse(tmp_path, LAB, timeout=300)
    answers, answered, release_nb = course.answers, course.answered, course.release_nb

    # student B's SERVQUAL table, computed on B's world as B would have typed it in
    lab_b = start("ch09", student="stu_b", quiet=True)
    b_servqual = get_question("ch09.servqual").func(lab_b.context())
    lab_a = start("ch09", student="stu_a", quiet=True)
    a_servqual = get_question("ch09.servqual").func(lab_a.context())
    assert not np.allclose(a_servqual["gap"], b_servqual["gap"]), "two students' worlds give different answers"

    wrong_steps = 'steps = {"S1": "C", "S2": "A", "S3": "A", "S4": "E", "S5": "B", "S6": "D", "S7": "X"}'
    copied = answers["q41_answer"] + "\nservqual = pd.DataFrame(" + repr(b_servqual.to_dict("list")) + ")"
    students = {
        "stu_a": answered(),
        "stu_b": answered(),
        "blank": release_nb,
        "wrong": answered({"q22_answer": wrong_steps}),
        "copier": answered({"q41_answer": copied}),
    }
    result = course.grade(students)
    course.assert_matrix(result, wrong=("wrong", "q22_test"), copier=("copier", "q41_test"))

# --- the closed loop in the simulation: complaints the CRM user resolves fast and well keep customers -----------

_OPEN = list(ch09.OPEN_STATES[:-1])  # 已记录 … 处理中: not yet return-visited


def _recovery_trial(seed, monkeypatch, tmp_path, *, customers=2000, enrol=3, weeks=12):
    """A desk that resolves every complaint of half its complaining customers within the week (return
    visit, satisfaction 5) and takes over but leaves the other half's (调查中): per customer, from the
    tables, whether they bought again (an approved order) in the ~36 weeks after the enrolment weeks.

    Complaints are made frequent (COMPLAINT_PROPENSITY × 50, a world in its first year) so that a few
    weeks give a population; customers join in the first ``enrol`` weeks, split by the parity of their
    id (independent of their hidden state and of the model's own fate of the complaint)."""
    from simcrm.sim import model as sim_model

    monkeypatch.setattr(sim_model, "COMPLAINT_PROPENSITY", 40.0)
    w = generate(seed=seed, customers=customers, today=dt.date(2023, 12, 31), cache=False,
                 db=str(tmp_path / f"trial{seed}.sqlite"))
    d = w.store.read("department")
    routing = {k: int(d.loc[d["name"] == v, "id"].iloc[0]) for k, v in ch09.ROUTING.items()}
    group = {}

    def advance(crm, row, upto, sat):
        for nxt in ch09.STATES[ch09.STATES.index(row["status"]) + 1: ch09.STATES.index(upto) + 1]:
            fields = {"调查中": {"handling_notes": "核实"}, "已分派": {"department_id": routing[row["category"]]},
                      "方案待批": {"solution": "补偿并致歉"}}.get(nxt, {})
            if nxt == "已回访":
                crm.record_return_visit(int(row["customer_id"]), complaint_id=int(row["id"]), satisfaction=sat)
            crm.advance_complaint(int(row["id"]), nxt, **fields)

    for k in range(weeks):
        w.step(7)
        crm = CRM.system(w.store, now=dt.datetime.combine(w.today, dt.time(9)))
        comp = w.store.read("complaint")
        fresh = comp[(comp["received_at"] > pd.Timestamp(w.today) - pd.Timedelta(days=7)) & comp["status"].isin(_OPEN)]
        if k < enrol:
            for c in sorted(set(fresh["customer_id"]) - set(group)):
                older = comp[(comp["customer_id"] == c) & comp["status"].isin(_OPEN) & ~comp["id"].isin(fresh["id"])]
                if older.empty:  # a fresh case: no older complaint still open
                    group[c] = "fast" if c % 2 == 0 else "slow"
        for row in fresh[fresh["customer_id"].isin(list(group))].to_dict("records"):
            if group[row["customer_id"]] == "fast":
                advance(crm, row, "已回访", 5)
            elif row["status"] == "已记录":
                advance(crm, row, "调查中", None)
    w.step(182)  # two more quarters: a customer gone shows as one who does not buy again
    after = pd.Timestamp(dt.date(2023, 12, 31)) + pd.Timedelta(days=7 * enrol)
    orders = w.store.read("sales_order")
    again = set(orders.loc[(orders["approval"] == "同意") & (orders["order_date"] > after), "customer_id"])
    g = pd.DataFrame({"customer_id": list(group), "group": list(group.values())})
    g["bought"] = g["customer_id"].isin(again)
    w.store.close()
    return g


@pytest.mark.slow
def test_fast_satisfying_recovery_keeps_customers(monkeypatch, tmp_path):
    """Customers whose complaints the CRM user resolves fast and satisfyingly buy again clearly more often
    than those whose complaints the user takes over and leaves (pooled over three worlds; the margin is
    two standard errors of the difference, computed from the same data)."""
    trials = pd.concat([_recovery_trial(seed, monkeypatch, tmp_path) for seed in (1, 2, 3)], ignore_index=True)
    share = trials.groupby("group")["bought"].agg(["mean", "size"])
    assert share["size"].min() >= 30, share
    p_fast, p_slow = share.loc["fast", "mean"], share.loc["slow", "mean"]
    se = math.sqrt(p_fast * (1 - p_fast) / share.loc["fast", "size"] + p_slow * (1 - p_slow) / share.loc["slow", "size"])
    assert p_fast - p_slow > 2 * se, share
