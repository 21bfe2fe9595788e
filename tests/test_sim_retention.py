"""Retention pays on some customers, not all (issue 11), as a student measures it from the tables:
the firm's own 挽留 drives (目标组 vs 对照组 in campaign / campaign_member) and a drive the
student records through the CRM before ``World.step()``.

The intervals are computed here (Newcombe's hybrid score interval from the Wilson intervals of
the two groups), not taken from tests/sim_theory_metrics.py or the model.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from simcrm.crm import CRM

SEEDS = (1, 2, 3, 4)
HORIZON = 120  # days after a drive's start in which a purchase counts as "kept"
Z = 1.959964


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def newcombe(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float, float]:
    """Difference p1 − p0 and its 95% interval (Newcombe 1998, method 10)."""
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = _wilson(k1, n1)
    l0, u0 = _wilson(k0, n0)
    d = p1 - p0
    return d, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def drive_members(world) -> pd.DataFrame:
    """One row per (挽留 drive, member): group, whether they bought within HORIZON days, and
    what a student can see at the drive's start (last survey answer, orders so far, kind)."""
    camp = world.table("campaign")
    ret = camp[camp["campaign_type"] == "挽留"][["id", "start_date"]].rename(columns={"id": "campaign_id"})
    so = world.table("sales_order")
    so = so[so["approval"] == "同意"][["customer_id", "order_date"]]
    today = so["order_date"].max()
    ret = ret[ret["start_date"] + pd.Timedelta(days=HORIZON) <= today]
    mem = world.table("campaign_member").merge(ret, on="campaign_id")[["campaign_id", "customer_id", "group_name",
                                                                       "start_date"]]
    j = mem.merge(so, on="customer_id", how="left")
    j["hit"] = (j["order_date"] >= j["start_date"]) & (j["order_date"] < j["start_date"] + pd.Timedelta(days=HORIZON))
    out = j.groupby(["campaign_id", "customer_id", "group_name", "start_date"], as_index=False)["hit"].any()
    key = pd.MultiIndex.from_frame(out[["campaign_id", "customer_id"]])
    # what the firm knew at the start: the last survey answer, and how many orders so far
    sv = world.table("survey")[["customer_id", "survey_date", "overall"]].sort_values("survey_date", kind="stable")
    s = out[["campaign_id", "customer_id", "start_date"]].merge(sv, on="customer_id")
    last = s[s["survey_date"] < s["start_date"]].groupby(["campaign_id", "customer_id"])["overall"].last()
    out["last_survey"] = last.reindex(key).to_numpy()
    before = j[j["order_date"] < j["start_date"]].groupby(["campaign_id", "customer_id"]).size()
    out["orders_before"] = before.reindex(key, fill_value=0).to_numpy()
    kind = world.table("customer").set_index("id")["kind"]
    out["kind"] = kind.reindex(out["customer_id"]).to_numpy()
    return out


def effect(rows: pd.DataFrame) -> tuple[float, float, float, int, int]:
    t = rows[rows["group_name"] == "目标组"]["hit"]
    c = rows[rows["group_name"] == "对照组"]["hit"]
    return (*newcombe(int(t.sum()), len(t), int(c.sum()), len(c)), len(t), len(c))


@pytest.fixture(scope="module")
def drives():
    from simcrm.sim import generate

    return {s: drive_members(generate(seed=s, customers=2000)) for s in SEEDS}


def test_newcombe_interval_matches_a_textbook_example():
    # Newcombe (1998), table II example (56/70 vs 48/80): difference 0.2000, interval 0.0524 to 0.3339
    d, lo, hi = newcombe(56, 70, 48, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)


def test_firm_retention_drives_show_a_positive_effect_on_every_seed(drives):
    for s, rows in drives.items():
        d, lo, hi, nt, nc = effect(rows)
        assert nt >= 200 and nc >= 200, (s, nt, nc)  # a fair control group of a few hundred
        assert lo > 0, (s, d, lo, hi)  # the 95% interval excludes zero
        # the control group is a random half: same share of enterprises as the target group
        share = rows.groupby("group_name")["kind"].apply(lambda k: (k == "企业").mean())
        assert abs(share["目标组"] - share["对照组"]) < 0.08, (s, share.to_dict())


def test_effect_differs_by_what_a_student_can_see(drives):
    """The model's sure things (satisfied, buying) gain nothing and its sleeping dogs (loyal
    regulars) react badly, so, pooled over the seeds, the effect is smaller among members whose
    last survey said 4–5 than among those who said 1–3, and smaller among regulars (9 or more
    orders before the drive) than among the others."""
    rows = pd.concat(drives.values(), ignore_index=True)
    happy, *_, n_happy, _ = effect(rows[rows["last_survey"] >= 4])
    unhappy, lo_unhappy, _, n_unhappy, _ = effect(rows[rows["last_survey"] <= 3])
    assert min(n_happy, n_unhappy) >= 300, (n_happy, n_unhappy)
    assert lo_unhappy > 0
    assert unhappy > happy + 0.03, (unhappy, happy)
    regular, *_, n_regular, _ = effect(rows[rows["orders_before"] >= 9])
    other, lo_other, *_ = effect(rows[rows["orders_before"] < 9])
    assert n_regular >= 200 and lo_other > 0
    assert other > regular + 0.03, (other, regular)


KW = dict(seed=6, customers=2000, start="2024-01-01", today="2025-06-30")
NOW = dt.datetime(2025, 6, 30, 10, 0)


def _run(groups: dict[str, list[int]] | None = None):
    """A student's 挽留 drive on the dormant customers, recorded through the CRM as a marketing
    clerk would (with a half-and-half control group), then one quarter. ``groups`` given: the
    same world and quarter without the drive, measured on those groups."""
    from simcrm.sim import generate

    w = generate(**KW)
    if groups is None:
        so = w.table("sales_order")
        last = so.groupby("customer_id")["order_date"].max()
        dormant = [int(k) for k in last[(last < pd.Timestamp("2025-04-01")) & (last > pd.Timestamp("2024-10-01"))].index]
        emp = w.table("employee")
        role_id = w.table("role").set_index("name")["id"]
        clerk = emp[(emp["role_id"] == role_id["市场专员"]) & (emp["status"] == "正常")]["login"].iloc[0]
        crm = CRM(w.store, user=clerk, now=NOW)
        camp = crm.create_campaign("学生沉睡客户挽留（上门拜访）", "挽留", start_date="2025-07-01", end_date="2025-07-31",
                                   cost_per_contact=300, budget=300 * len(dormant), channel="面谈")
        members = crm.set_campaign_targets(camp, dormant, control_share=0.5, seed=11)
        crm.start_campaign(camp)
        groups = {g: sorted(members.loc[members["group_name"] == g, "customer_id"].astype(int)) for g in ("目标组", "对照组")}
    w.step(days=91)
    so = w.table("sales_order")
    bought = so[so["order_date"] > pd.Timestamp(NOW.date())].groupby("customer_id").size()
    tables = {n: w.table(n) for n in ("sales_order", "customer", "campaign_member")}
    return groups, {g: bought.reindex(ids, fill_value=0) for g, ids in groups.items()}, tables


def test_student_retention_drive_through_the_crm_is_deterministic_and_acts_on_the_target():
    groups, with1, tab1 = _run()
    groups2, with2, tab2 = _run()
    _, without, _ = _run(groups)
    # same seed, same student actions → the same split and the same tables
    assert groups == groups2
    for n in tab1:
        pd.testing.assert_frame_equal(tab1[n], tab2[n])
    assert len(groups["目标组"]) >= 40
    t1, t0 = (with1["目标组"] > 0).mean(), (without["目标组"] > 0).mean()
    c1, c0 = (with1["对照组"] > 0).mean(), (without["对照组"] > 0).mean()
    # the visited customers buy more than the same customers in the run without the drive …
    assert t1 > t0 + 0.05, (t1, t0)
    # … while the group held back (not contacted, no action) gains far less
    assert c1 - c0 < (t1 - t0) / 2, (c1, c0, t1, t0)
