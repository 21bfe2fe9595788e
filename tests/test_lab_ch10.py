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
    before = lab.store.count("campaign_member")
    too_many = pool[: int(ch10.BUDGET // cost / 0.8) + 20]
    with pytest.raises(ValidationError, match="超过预算"):
        lab.crm.set_campaign_targets(camp, too_many, control_share=0.2, seed=3)
    assert lab.store.count("campaign_member") == before
    assert not evaluate("ch10.plan", lab.context(), None).ok  # a campaign without targets is no plan
    lab.reset()


def _plan(lab, ids, name="本季度挽留（折扣优惠）"):
    camp = lab.crm.create_campaign(name, "挽留", cost_per_contact=ACTIONS["折扣优惠"]["cost"], budget=ch10.BUDGET,
                                   channel="电话")
    lab.crm.set_campaign_targets(camp, ids, control_share=0.2, seed=10)
    lab.crm.start_campaign(camp)
    return camp


STUDENTS = ["s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10"]


@pytest.mark.slow
@pytest.mark.parametrize("sid", STUDENTS)
def test_reference_plan_beats_random_by_the_margin_and_a_random_plan_does_not(sid):
    lab = start("ch10", student=sid, quiet=True)
    ids = ch10.reference_plan(lab.context())
    _plan(lab, ids)
    ctx = lab.context()
    assert evaluate("ch10.plan", ctx, None).ok
    r = ch10.plan_report(ctx)
    assert r["student"]["cost"] <= ch10.BUDGET
    assert r["student"]["value"] >= r["random"]["quantile"] > r["random"]["value"]
    assert r["student"]["value"] > r["recency"]["value"]
    assert evaluate("ch10.plan_margin", ctx, None).ok and evaluate("ch10.plan_beats_random", ctx, None).ok
    # the model on the time split beats recency alone on this world
    q = get_question("ch10.model").func(ctx)
    assert q["auc"] > q["recency_auc"]
    # plans of random targets of the same size (fresh draws): about half beat the random mean (partial
    # points), a minority reach full points (1 in 5 expected)
    plan = ch10.student_plan(ctx)
    others = np.array([ch10.expected_value(ctx, ch10.baseline(ctx, "random", plan, 1000 + d))["value"] for d in range(40)])
    assert 0.2 <= (others > r["random"]["value"]).mean() <= 0.8
    assert (others >= r["random"]["quantile"]).mean() <= 0.35
    lab.reset()
    rng = np.random.default_rng(99)
    pool = ch10.eligible(lab.context())
    _plan(lab, [int(pool[i]) for i in rng.permutation(len(pool))[: len(ids)]])
    ctx = lab.context()
    assert evaluate("ch10.plan", ctx, None).ok
    # the CRM-recorded random plan is graded by the same valuation as the draws above
    mine = ch10.plan_report(ctx)
    assert evaluate("ch10.plan_margin", ctx, None).ok == (mine["student"]["value"] >= mine["random"]["quantile"])
    assert evaluate("ch10.plan_beats_random", ctx, None).ok == (mine["student"]["value"] > mine["random"]["value"])


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
    assert evaluate("ch10.outcome", ctx, {**seen, "cost": 150 * 80.0}).ok
    # a forged outcome (numbers from nowhere) fails
    assert not evaluate("ch10.outcome", ctx, {**seen, "diff": seen["diff"] + 0.1, "cost": 12000.0}).ok


# --- the grading pipeline: full marks, blank, one wrong, two worlds, a copied answer ----------------------------

LAB = "ch10_retention"


@pytest.mark.slow
def test_grading_matrix(tmp_path):
    import copy
    import re
    import shutil
    from pathlib import Path

    import nbformat

    from simcrm.lab import grading

    root = Path(__file__).resolve().parent.parent
    solutions = tmp_path / "solutions"
    shutil.copytree(root / "solutions" / LAB, solutions / LAB)
    course_dir = grading.create_course(tmp_path / "course", solutions, timeout=600)
    released = grading.release(course_dir, LAB)
    release_nb = nbformat.read(released["release_dir"] / f"{LAB}.ipynb", as_version=4)
    source = nbformat.read(solutions / LAB / f"{LAB}.ipynb", as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells}
    answers = {gid: re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", c.source, flags=re.M).strip()
               for gid, c in cells.items() if c.metadata["nbgrader"].get("solution")}
    points = {gid: float(c.metadata["nbgrader"]["points"]) for gid, c in cells.items()
              if c.metadata["nbgrader"].get("grade") and c.cell_type == "code"}
    auto_max = sum(points.values())
    assert sum(float(c.metadata["nbgrader"]["points"]) for c in cells.values()
               if c.metadata["nbgrader"].get("grade")) == 100
    assert 70 <= auto_max <= 85

    def answered(overrides=None):
        nb = copy.deepcopy(release_nb)
        by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells}
        for gid, src in {**answers, **(overrides or {})}.items():
            by_id[gid].source = src
        return nb

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
    inbox = tmp_path / "inbox"
    for student, nb in students.items():
        folder = inbox / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
    grading.collect(course_dir, LAB, inbox)
    result = grading.autograde(course_dir, LAB, students=list(students), progress=False).set_index("student")

    from nbgrader.api import Gradebook

    def per_question(student):
        with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
            sub = gb.find_submission_notebook(LAB, LAB, student)
            return {g.name: float(g.score) for g in sub.grades if g.cell.name in points}

    assert result.loc["stu_a", "auto_score"] == pytest.approx(auto_max)
    assert result.loc["stu_b", "auto_score"] == pytest.approx(auto_max)
    assert result.loc["blank", "auto_score"] == 0
    assert result.loc["wrong", "auto_score"] == pytest.approx(auto_max - points["q12_test"])
    wrong_q = per_question("wrong")
    assert wrong_q["q12_test"] == 0 and all(v == points[k] for k, v in wrong_q.items() if k != "q12_test")
    copier = per_question("copier")
    assert copier["q41_test"] == 0
    assert result.loc["copier", "auto_score"] == pytest.approx(auto_max - points["q41_test"])
