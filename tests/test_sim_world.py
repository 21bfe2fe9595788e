"""The simulated world shows what the theory predicts, and every row obeys the schema."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from simcrm import reference
from simcrm.store import schema
from simcrm.store.frames import validate_frames


@pytest.fixture(scope="module")
def world():
    from simcrm.sim import generate

    return generate(seed=2026, validate=True)


@pytest.fixture(scope="module")
def t(world):
    return {name: world.table(name) for name in schema.TABLES}


def _revenue(t):
    so = t["sales_order"]
    ok = so[(so["approval"] == "同意")]
    return ok.groupby("customer_id")["total_amount"].sum().reindex(t["customer"]["id"], fill_value=0.0)


def _top20_share(values: pd.Series) -> float:
    v = np.sort(values.to_numpy())[::-1]
    return v[: int(len(v) * 0.2)].sum() / v.sum()


def test_pareto_revenue_and_profit(t):
    buyers = _revenue(t)
    buyers = buyers[buyers > 0]
    assert 0.60 <= _top20_share(buyers) <= 0.85
    ol = t["order_line"].merge(t["product"][["id", "cost"]], left_on="product_id", right_on="id", suffixes=("", "_p"))
    ol["profit"] = ol["amount"] - ol["quantity"] * ol["cost"]
    so = t["sales_order"][t["sales_order"]["approval"] == "同意"][["id", "customer_id"]]
    prof = ol.merge(so, left_on="order_id", right_on="id", suffixes=("", "_o")).groupby("customer_id")["profit"].sum()
    prof = prof[prof > 0]
    assert 0.60 <= _top20_share(prof) <= 0.85


def test_purchase_counts_overdispersed_and_rhythms_differ(t):
    so = t["sales_order"][t["sales_order"]["approval"] == "同意"]
    counts = so.groupby("customer_id").size().reindex(t["customer"]["id"], fill_value=0)
    assert counts.var() > 2 * counts.mean()
    so = so.sort_values(["customer_id", "order_date"])
    gaps = so.groupby("customer_id")["order_date"].diff().dt.days.dropna()
    per_cust = gaps.groupby(so.loc[gaps.index, "customer_id"]).mean()
    per_cust = per_cust[so.groupby("customer_id").size().reindex(per_cust.index) >= 4]
    assert per_cust.quantile(0.9) > 3 * per_cust.quantile(0.1)


def test_every_lifecycle_and_status_populated(t):
    c = t["customer"]
    assert set(c["lifecycle"]) == set(reference.state_values("lifecycle"))
    for table, col in [("lead", "status"), ("opportunity", "status"), ("quote", "status"), ("sales_order", "status"),
                       ("sales_order", "approval"), ("sales_order", "shipping"), ("service_request", "status"),
                       ("complaint", "status"), ("employee", "status"), ("contact", "status"), ("product", "status")]:
        states = set(schema.state_columns(table)[col])
        assert set(t[table][col]) == states, (table, col, states - set(t[table][col]))
    assert set(c["kind"]) == {"企业", "个人"}
    assert {"180天未下单", "意外终止", "合同期满未续约"} <= set(c["lost_reason"].dropna())


def test_funnel_narrows_and_reps_differ(t):
    h = t["opportunity_stage_history"]
    reached = h.groupby("opportunity_id")["stage"].agg(lambda s: max(reference.STAGES.index(x) for x in s))
    counts = [(reached >= k).sum() for k in range(len(reference.STAGES))]
    assert all(a > b for a, b in zip(counts, counts[1:]))
    o = t["opportunity"]
    closed = o[o["status"].isin(["成功", "失败"])]
    win = closed.groupby("owner_id")["status"].apply(lambda s: (s == "成功").mean())
    win = win[closed.groupby("owner_id").size() >= 30]
    assert win.max() - win.min() > 0.15


def test_opportunity_invariant(t):
    o = t["opportunity"]
    table = o["stage"].map(reference.STAGE_PROBABILITY).astype(float)
    expected = o["probability_override"].fillna(table)
    expected = np.where(o["status"] == "成功", 100.0, np.where(o["status"] == "失败", 0.0, expected))
    assert np.allclose(o["probability"], expected)


def _churned(t):
    c = t["customer"]
    return c.set_index("id")["lifecycle"] == "失效"


def test_low_satisfaction_churns_more(t):
    s = t["survey"].sort_values(["customer_id", "survey_date"]).groupby("customer_id").first()
    ch = _churned(t)
    low = ch.reindex(s.index[s["overall"] <= 2]).mean()
    high = ch.reindex(s.index[s["overall"] >= 4]).mean()
    # 1.5, not 2: the 180-day rule also flags satisfied occasional buyers (about half of the
    # customers it flags buy again later; docs/simulation.md), which dilutes the contrast
    assert low >= 1.5 * high


def test_complaint_handling_changes_churn(t):
    comp = t["complaint"]
    today = pd.Timestamp("2025-12-31")
    good = comp[(comp["status"] == "已归档") & ((comp["closed_at"] - comp["received_at"]).dt.days <= 14)
                & (comp["satisfaction"] >= 4)]
    # left open: never got to the return visit (已回访 without 已归档 is handled, only not archived)
    left_open = comp[~comp["status"].isin(["已回访", "已归档"]) & ((today - comp["received_at"]).dt.days > 30)]
    ch = _churned(t)
    assert ch.reindex(left_open["customer_id"].unique()).mean() > 1.3 * ch.reindex(good["customer_id"].unique()).mean()


def _lifecycle_changes(t):
    a = t["audit_log"]
    a = a[(a["table_name"] == "customer") & (a["field"] == "lifecycle")]
    return a.sort_values(["at", "id"])


def test_recency_rule_predicts_churn(t):
    """Customers whose gap exceeds twice their own rhythm churn at least twice as often next quarter.

    Churn next quarter = the lifecycle is set to 失效 within the 91 days after the cut-off
    (from the audit log, so a customer who later came back still counts); the base is the
    customers who had bought and were not 失效 at the cut-off.
    """
    cut = pd.Timestamp("2025-06-30")
    so = t["sales_order"][(t["sales_order"]["approval"] == "同意") & (t["sales_order"]["order_date"] <= cut)]
    g = so.sort_values("order_date").groupby("customer_id")["order_date"]
    last, first, n = g.max(), g.min(), g.size()
    rhythm = ((last - first).dt.days / (n - 1).clip(lower=1)).where(n >= 2, 90)
    recency = (cut - last).dt.days
    ch = _lifecycle_changes(t)
    state_at_cut = ch[ch["at"] <= cut].groupby("row_id")["new_value"].last()
    active = state_at_cut.index[state_at_cut != "失效"]
    base = pd.Index(last.index).intersection(active)
    flagged = base[(recency.reindex(base) > 2 * rhythm.reindex(base).clip(lower=30))]
    nxt = ch[(ch["new_value"] == "失效") & (ch["at"] > cut) & (ch["at"] <= cut + pd.Timedelta(days=91))]
    churn_next = pd.Series(base.isin(nxt["row_id"]), index=base)
    assert len(flagged) >= 30
    assert churn_next[flagged].mean() >= 2 * churn_next.mean()


def test_late_payment_is_persistent(t):
    plan = t["payment_plan"].merge(t["payment"][["plan_id", "paid_date"]], left_on="id", right_on="plan_id", how="inner")
    plan["late"] = (plan["paid_date"] - plan["due_date"]).dt.days.clip(lower=0)
    plan = plan.merge(t["sales_order"][["id", "customer_id"]], left_on="order_id", right_on="id", suffixes=("", "_o"))
    plan = plan.sort_values(["customer_id", "due_date"])
    plan["half"] = plan.groupby("customer_id").cumcount() < plan.groupby("customer_id")["id"].transform("size") / 2
    halves = plan.groupby(["customer_id", "half"])["late"].mean().unstack().dropna()
    assert halves[True].corr(halves[False]) > 0.3


def test_spring_festival_dip_and_double_eleven_peak(t):
    so = t["sales_order"].merge(t["customer"][["id", "kind"]], left_on="customer_id", right_on="id", suffixes=("", "_c"))
    ind = so[so["kind_c"] == "个人"]
    daily = ind.groupby("order_date").size()
    days = pd.date_range("2023-01-01", "2025-12-31")
    daily = daily.reindex(days, fill_value=0)
    mean = daily.mean()
    for y in (2024, 2025):
        sf = pd.Timestamp(reference.spring_festival(y))
        assert daily[sf - pd.Timedelta(days=7): sf + pd.Timedelta(days=7)].mean() < 0.6 * mean
        d11 = pd.Timestamp(f"{y}-11-05")
        assert daily[d11: d11 + pd.Timedelta(days=6)].mean() > 2 * mean


def test_every_row_passes_schema_checks(world, t):
    from simcrm.store.frames import to_db_frame

    by_value = world.store._dictionary()["by_value"]
    frames = {n: to_db_frame(n, t[n].drop(columns=[], errors="ignore"), by_value) for n in schema.TABLES if n != "dictionary"}
    validate_frames(frames, world.store)


def test_identities_valid(t):
    from simcrm.locales import get_locale

    loc = get_locale("zh_CN")
    c = t["contact"]
    assert loc.mobile_valid(c["mobile"].dropna()).all()
    ids = t["customer"]["id_number"].dropna()
    assert len(ids) > 100 and loc.id_number_valid(ids).all()
    assert loc.email_valid(t["contact"]["email"].dropna()).all()


def _hash_world(seed: int) -> str:
    code = ("import hashlib,sys;from simcrm.sim import generate;from simcrm.store import schema;"
            f"w=generate(seed={seed}, customers=300, start='2024-01-01', today='2025-06-30');"
            "h=hashlib.sha256()\nfor n in schema.TABLES: h.update(w.table(n).to_csv(index=False).encode())\n"
            "print(h.hexdigest())")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_deterministic_across_processes():
    a, b = _hash_world(7), _hash_world(7)
    assert a == b and len(a) == 64
    assert _hash_world(8) != a


def test_step_is_deterministic_and_continues():
    from simcrm.sim import generate

    def run():
        w = generate(seed=3, customers=300, start="2024-01-01", today="2025-03-31")
        before = {n: len(w.table(n)) for n in ("sales_order", "customer", "activity")}
        old = w.table("sales_order")
        w.step(days=91)
        return w, before, old

    w1, before, old = run()
    w2, _, _ = run()
    assert str(w1.today) == "2025-06-30"
    new = w1.table("sales_order")
    assert len(new) > before["sales_order"]
    pd.testing.assert_frame_equal(new.iloc[: len(old)][["id", "code", "order_date", "total_amount"]],
                                  old[["id", "code", "order_date", "total_amount"]])
    for n in schema.TABLES:
        pd.testing.assert_frame_equal(w1.table(n), w2.table(n))
    assert (w1.table("sales_order")["order_date"] > pd.Timestamp("2025-03-31")).any()


def test_latent_traits_not_in_tables(world, t):
    assert "_sat" in world._latent.columns
    for f in t.values():
        assert not any(c.startswith("_") for c in f.columns)
