"""ch10 lab: references against independent loops, the budget refusal, and fair grading of the plan.

The plan tests run over several student worlds: the reference plan beats the same-size random
plan by the documented margin on every one, and a plan of random targets does not get full points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simcrm.errors import ValidationError
from simcrm.lab import start
from simcrm.lab.chapters import ch10
from simcrm.lab.questions import evaluate, get_question
from simcrm.sim.actions import ACTIONS
from lab_matrix import MatrixCourse


@pytest.fixture(scope="module")
def lab():
    return start("ch10", student="ch10-test", quiet=True)


def _orders(lab):
    o = lab.pristine.read("sales_order")
    a = pd.Timestamp(lab.world.params.today) + pd.Timedelta(days=1)
    return o[(o["approval"] == "同意") & (o["order_date"] < a)], a


def test_lapse_rule_by_loops(lab):
    o, a = _orders(lab)
    t = a - pd.Timedelta(days=180)
    flagged = again = 0
    for _, g in o.groupby("customer_id"):
        before = g[g["order_date"] < t]
        if len(before) and before["order_date"].max() < t - pd.Timedelta(days=180):
            flagged += 1
            again += int((g["order_date"] >= t).any())
    ref = get_question("ch10.lapse_rule").func(lab.context())
    assert ref["flagged"] == flagged and ref["bought_again"] == again
    assert ref["precision"] == pytest.approx((flagged - again) / flagged)
    assert 0 < again < flagged  # the rule is imperfect on this world: something to find


def test_warning_precision_recall_by_sets(lab):
    o, a = _orders(lab)
    t = a - pd.Timedelta(days=180)
    from simcrm.analytics import churn_risk

    past = o[o["order_date"] < t].rename(columns={"total_amount": "amount"})
    risk = churn_risk(past, as_of=t)
    flagged = {c for c, f in risk["flag"].items() if f}
    gone = set(past["customer_id"]) - set(o.loc[o["order_date"] >= t, "customer_id"])
    ref = get_question("ch10.warning").func(lab.context())
    assert ref["flagged"] == len(flagged)
    assert ref["precision"] == pytest.approx(len(flagged & gone) / len(flagged))
    assert ref["recall"] == pytest.approx(len(flagged & gone) / len(gone))


def test_over_budget_plan_is_refused_and_nothing_written(lab):
    ctx = lab.context()
    pool = ch10.eligible(ctx)
    cost = ACTIONS["折扣优惠"]["cost"]
    camp = lab.crm.create_campaign("挽留（折扣优惠）测试", "挽留", cost_per_contact=cost, budget=ch10.BUDGET, channel="电话")
    before = {t: lab.store.count(t) for t in ("campaign_member", "audit_log", "campaign")}
    status = lab.table("campaign").set_index("id").loc[camp, "status"]
    too_many = pool[: int(ch10.BUDGET // cost / 0.8) + 20]
    n_target = len(too_many) - int(round(len(too_many) * 0.2))
    with pytest.raises(ValidationError) as err:
        lab.crm.set_campaign_targets(camp, too_many, control_share=0.2, seed=3)
    text = str(err.value)
    # the field, the value and what is allowed, in Chinese
    assert "超过预算" in text and "目标客户" in text and f"{n_target * cost:.2f}" in text and f"{ch10.BUDGET:.2f}" in text
    assert {t: lab.store.count(t) for t in before} == before
    assert lab.table("campaign").set_index("id").loc[camp, "status"] == status
    assert not evaluate("ch10.plan", lab.context(), None).ok  # a campaign without targets is no plan
    lab.reset()


def _plan(lab, ids, name="本季度挽留（折扣优惠）", seed=10):
    camp = lab.crm.create_campaign(name, "挽留", cost_per_contact=ACTIONS["折扣优惠"]["cost"], budget=ch10.BUDGET,
                                   channel="电话")
    lab.crm.set_campaign_targets(camp, ids, control_share=0.2, seed=seed)
    lab.crm.start_campaign(camp)
    return camp


def _as_plan(ids, seed=10, share=0.2):
    """The plan the CRM would record for ``ids`` (its control draw re-done here, independently)."""
    order = np.random.default_rng(seed).permutation(len(ids))
    control = {ids[i] for i in order[: int(round(len(ids) * share))]}
    return [{"action": "折扣优惠", "control_share": share, "ids": list(ids), "targets": [c for c in ids if c not in control]}]


def test_valuation_by_hand_and_independent_of_the_control_seed(lab):
    """expected_value against a loop over members with the world's own response types; a seed changes nothing."""
    ctx = lab.context()
    ids = ch10.reference_plan(ctx)
    o, a = _orders(lab)
    rev = {}
    for c, amount, day in zip(o["customer_id"], o["total_amount"], o["order_date"]):
        if day >= a - pd.Timedelta(days=365):
            rev[int(c)] = rev.get(int(c), 0.0) + float(amount)
    pool = ch10.eligible(ctx)
    cap = float(np.quantile([rev.get(c, 0.0) for c in pool], ch10.STAKE_QUANTILE))
    world = lab.world
    kinds = world._model.response_type(
        world._customer_index().reindex(world._rendered_ids("customer", pd.Series(ids)).to_numpy()).to_numpy().astype(int),
        np.full(len(ids), world._day()))
    plan = _as_plan(ids, seed=10)
    share = len(plan[0]["targets"]) / len(ids)
    kept = sum(min(rev.get(c, 0.0), cap) for c, k in zip(ids, kinds) if k == 1) * share
    lost = sum(min(rev.get(c, 0.0), cap) for c, k in zip(ids, kinds) if k == 3) * share
    v = ch10.expected_value(ctx, plan)
    assert v["kept"] == pytest.approx(kept) and v["pushed_away"] == pytest.approx(lost)
    assert v["cost"] == len(plan[0]["targets"]) * ACTIONS["折扣优惠"]["cost"] <= ch10.BUDGET
    assert v["value"] == pytest.approx(kept - lost - v["cost"])
    assert kept > 0 and 0 < v["persuadable"] < len(ids)
    for seed in (1, 2, 99):
        assert ch10.expected_value(ctx, _as_plan(ids, seed=seed))["value"] == pytest.approx(v["value"])


#: the default world (self-learner, no 学号) and 30 salted student worlds
STUDENTS = [None] + [f"stu{i:02d}" for i in range(1, 31)]


@pytest.mark.slow
@pytest.mark.parametrize("sid", STUDENTS, ids=lambda s: s or "default")
def test_reference_plan_clears_the_full_points_bar_on_every_world(sid):
    lab = start("ch10", student=sid, quiet=True)
    if sid is None:
        assert lab.seed == 2026 and lab.student.id is None
    ctx = lab.context()
    ids = ch10.reference_plan(ctx)
    plan = _as_plan(ids)
    r = ch10.compare_plan(ctx, plan)
    assert r["student"]["cost"] <= ch10.BUDGET
    assert r["student"]["value"] >= r["random"]["quantile"] > r["random"]["value"]
    # targeting by recency alone (longest-lapsed first) is worth less than the reference, and than random
    assert r["student"]["value"] > r["recency"]["value"]
    # plans of random members of the same size (fresh draws, not those of the bar): partial points
    # (above the random mean) about half the time, full points (the 80% quantile) rarely
    others = np.array([ch10.expected_value(ctx, ch10.baseline(ctx, "random", plan, 1000 + d))["value"] for d in range(40)])
    assert 0.15 <= (others > r["random"]["value"]).mean() <= 0.85
    assert (others >= r["random"]["quantile"]).mean() <= 0.4


@pytest.mark.slow
@pytest.mark.parametrize("sid", [None, "stu07"], ids=lambda s: s or "default")
def test_plans_recorded_in_the_crm_get_the_documented_points(sid):
    lab = start("ch10", student=sid, quiet=True)
    ids = ch10.reference_plan(lab.context())
    _plan(lab, ids)
    ctx = lab.context()
    assert all(evaluate(k, ctx, None).ok for k in ("ch10.plan", "ch10.plan_beats_random", "ch10.plan_margin"))
    report = ch10.plan_report(ctx)
    assert report["student"]["value"] == pytest.approx(ch10.compare_plan(ctx, _as_plan(ids))["student"]["value"])
    # a random plan (the baseline's own kind) that beats the random mean but not its 80% quantile:
    # partial points (5.2), not full (5.3)
    plan = ch10.student_plan(ctx)
    for d in range(2000, 2200):
        cand = ch10.baseline(ctx, "random", plan, d)
        v = ch10.expected_value(ctx, cand)["value"]
        if report["random"]["value"] < v < report["random"]["quantile"]:
            break
    else:
        pytest.fail("no random plan between the mean and the bar in 200 draws")
    lab.reset()
    _plan(lab, cand[0]["ids"], seed=5)
    ctx = lab.context()
    assert evaluate("ch10.plan", ctx, None).ok
    assert ch10.plan_report(ctx)["student"]["value"] == pytest.approx(v)
    assert evaluate("ch10.plan_beats_random", ctx, None).ok
    margin = evaluate("ch10.plan_margin", ctx, None)
    assert not margin.ok and "80%" in margin.hint
    # the recency-only plan of the same size: worth less than the reference, and graded by the same rule
    lab.reset()
    _plan(lab, ch10.baseline(ctx, "recency", plan)[0]["ids"], seed=5)
    ctx = lab.context()
    rec = ch10.plan_report(ctx)
    assert rec["student"]["value"] < report["student"]["value"]
    assert rec["student"]["value"] == pytest.approx(report["recency"]["value"])
    assert evaluate("ch10.plan_beats_random", ctx, None).ok == (rec["student"]["value"] > rec["random"]["value"])
    assert evaluate("ch10.plan_margin", ctx, None).ok == (rec["student"]["value"] >= rec["random"]["quantile"])
    assert not evaluate("ch10.plan_margin", ctx, None).ok


@pytest.mark.slow
def test_outcome_in_the_kernel_equals_the_referee_replay():
    lab = start("ch10", student="s02", quiet=True)
    camp = _plan(lab, ch10.reference_plan(lab.context()))
    lab.next_quarter()
    # what the student measures in their own database after the quarter
    o = lab.table("sales_order")
    first = pd.Timestamp(lab.world.params.today) + pd.Timedelta(days=1)
    o = o[(o["approval"] == "同意") & (o["order_date"] >= first)]
    members = lab.table("campaign_member").query("campaign_id == @camp")
    seen = ch10.compare_groups(members, o.groupby("customer_id")["total_amount"].sum())
    # the referee: a fresh world as generated, the decisions replayed
    ref_world = start("ch10", student="s02", quiet=True).world
    ctx = lab.context()
    ctx.world = ref_world
    expected = get_question("ch10.outcome").func(ctx)
    for k, v in seen.items():
        assert expected[k] == pytest.approx(v, abs=1e-12)
    cost = int((members["group_name"] == "目标组").sum()) * ACTIONS["折扣优惠"]["cost"]
    assert evaluate("ch10.outcome", ctx, {**seen, "cost": cost}).ok
    # a forged outcome (numbers from nowhere) fails
    assert not evaluate("ch10.outcome", ctx, {**seen, "diff": seen["diff"] + 0.1, "cost": cost}).ok


# --- the grading pipeline: full marks, blank, one wrong, two worlds, a copied answer ----------------------------

LAB = "ch10_retention"


@pytest.mark.slow
def test_grading_matrix(tmp_path):
    course = MatrixCourse(tmp_path, LAB, timeout=600)
    answers, answered, release_nb = course.answers, course.answered, course.release_nb
    course_dir = course.course_dir

    # student B's acquisition figures, computed on B's world as B would have typed them in
    b_acq = get_question("ch10.acquisition").func(start("ch10", student="stu_b", quiet=True).context())
    a_acq = get_question("ch10.acquisition").func(start("ch10", student="stu_a", quiet=True).context())
    assert a_acq != b_acq, "two students' worlds should give different answers"
    # the classic inversion: the share of flagged customers who came back is not the rule's precision
    wrong = answers["q12_answer"].replace('"precision": (len(flagged) - len(again)) / len(flagged)',
                                          '"precision": len(again) / len(flagged)')
    assert wrong != answers["q12_answer"]
    students = {
        "stu_a": answered(),
        "stu_b": answered(),
        "blank": release_nb,
        "wrong": answered({"q12_answer": wrong}),
        "copier": answered({"q41_answer": answers["q41_answer"] + f"\nacq = {b_acq!r}"}),
    }
    result = course.grade(students)
    course.assert_matrix(result, wrong=("wrong", "q12_test"), copier=("copier", "q41_test"))

    # --- the retention league of this class, from the referees' records -------------------------
    from click.testing import CliRunner

    from simcrm.cli import main as cli
    from simcrm.lab.course import course_settings
    from simcrm.lab.league import COLUMNS, league_table

    table = league_table(course_dir, LAB)
    assert list(table.columns) == COLUMNS
    table = table.set_index("学号")
    planned = ["stu_a", "stu_b", "wrong", "copier"]
    assert table.loc["blank", "名次"] is pd.NA and "5.1" in table.loc["blank", "说明"]
    assert sorted(table.loc[planned, "名次"].astype(int)) == sorted(
        pd.Series(table.loc[planned, "净价值（元）"].astype(float)).rank(ascending=False, method="min").astype(int))
    # the figures are the referee's valuation of the plan on each student's own (salted) world
    salt = course_settings(course_dir)["salt"]
    for sid in ("stu_a", "stu_b"):
        ctx = start("ch10", student=sid, salt=salt, quiet=True).context()
        expected = ch10.compare_plan(ctx, _as_plan(ch10.reference_plan(ctx)))
        assert table.loc[sid, "净价值（元）"] == pytest.approx(expected["student"]["value"])
        assert table.loc[sid, "随机方案均值（元）"] == pytest.approx(expected["random"]["value"])
        assert table.loc[sid, "ROI"] == pytest.approx(expected["student"]["value"] / expected["student"]["cost"])
        assert np.isfinite(float(table.loc[sid, "本季增量收入（元）"])) and table.loc[sid, "说明"] == ""
    assert table.loc["stu_a", "净价值（元）"] != table.loc["stu_b", "净价值（元）"]  # two worlds
    # the wrong and the copier made the same decision as stu_a in the same kind of world: all ranked
    assert table.loc[["wrong", "copier"], "名次"].notna().all()
    out = tmp_path / "league"
    run = CliRunner().invoke(cli, ["course", "league", "--course", str(course_dir), "ch10", "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "stu_a" in run.output and "名次" in run.output
    svg = (out / "league.svg").read_text(encoding="utf-8")
    assert svg.count("<rect") >= 2 * len(planned) and "stu_a" in svg and "blank" not in svg
    assert "stu_b" in (out / "league.html").read_text(encoding="utf-8")
    assert pd.read_excel(out / "league.xlsx", dtype={"学号": str})["学号"].tolist() == table.index.tolist()
    run = CliRunner().invoke(cli, ["course", "export", "--course", str(course_dir), str(tmp_path / "成绩.csv")])
    assert run.exit_code == 0, run.output
    sheets = pd.read_excel(tmp_path / "成绩.xlsx", sheet_name=None, dtype={"学号": str})
    league_sheet = sheets[f"挽留联赛-{LAB}"].set_index("学号")
    assert league_sheet.loc["stu_a", "净价值（元）"] == pytest.approx(table.loc["stu_a", "净价值（元）"])
    bad = CliRunner().invoke(cli, ["course", "league", "--course", str(course_dir), "ch99"])
    assert bad.exit_code != 0 and "作业" in bad.output
