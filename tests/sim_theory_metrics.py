"""What the world shows, measured from the tables a student reads (never the latent traits).

Used by tests/test_sim_theory.py and to fill the table in docs/simulation.md:

    python tests/sim_theory_metrics.py 1 2 3 4
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from simcrm import reference

DIMS = [d["code"] for d in reference.SERVQUAL]


def tables(world) -> dict[str, pd.DataFrame]:
    from simcrm.store import schema

    return {n: world.table(n) for n in schema.TABLES}


def _orders(t):
    so = t["sales_order"]
    return so[so["approval"] == "同意"]


# --- 1. SERVQUAL --------------------------------------------------------------------------------

def servqual_gaps(t) -> pd.Series:
    """Mean perception − expectation per SERVQUAL dimension (survey table)."""
    s = t["survey"]
    return pd.Series({d: (s[f"per_{d}"] - s[f"exp_{d}"]).mean() for d in DIMS})


def servqual_gaps_halves(t) -> tuple[pd.Series, pd.Series]:
    s = t["survey"].sort_values("survey_date")
    h = len(s) // 2
    return (pd.Series({d: (s[f"per_{d}"] - s[f"exp_{d}"]).iloc[:h].mean() for d in DIMS}),
            pd.Series({d: (s[f"per_{d}"] - s[f"exp_{d}"]).iloc[h:].mean() for d in DIMS}))


def weak_dimensions(t, margin: float = 0.5) -> list[str]:
    """Dimensions whose gap is at least ``margin`` below the median gap."""
    g = servqual_gaps(t)
    return [d for d in DIMS if g[d] <= g.median() - margin]


def record_evidence(t) -> pd.Series:
    """Per dimension, a figure from service, complaint and care records (higher = worse)."""
    so = _orders(t)
    n_orders = len(so)
    sr = t["service_request"]
    comp = t["complaint"]
    sla = t["sla_policy"].set_index("urgency")["first_response_hours"]
    limit = sr["urgency"].map(sla)
    waited = (sr["first_response_at"] - sr["opened_at"]).dt.total_seconds() / 3600
    late = (waited > limit) | sr["first_response_at"].isna()
    ret = t["sales_return"]
    care = t["care"]
    after = care[(care["care_type"] == "售后回访") & (care["planned_date"] <= care["planned_date"].max()
                                                  - pd.Timedelta(days=30))]
    cat = comp["category"].value_counts()
    return pd.Series({
        "tangibles": ((ret["reason"] == "运输损坏").sum() + cat.get("交付物流", 0)) / n_orders,
        "reliability": len(sr) / n_orders,
        "responsiveness": late.mean(),
        "assurance": repeat_service_share(sr),
        "empathy": after["done_date"].isna().mean(),
    })


def repeat_service_share(sr: pd.DataFrame, days: int = 45) -> float:
    """Share of service requests followed by another one for the same customer and product
    within ``days`` days (the fix did not hold: 二次上门)."""
    x = sr.sort_values("opened_at")
    nxt = x.groupby(["customer_id", "product_id"])["opened_at"].shift(-1)
    return float(((nxt - x["opened_at"]).dt.days <= days).mean())


def complaint_dimension_share(t) -> pd.Series:
    """Share of complaints in the categories behind each dimension."""
    of = {"交付物流": "tangibles", "产品质量": "reliability", "售后维修": "responsiveness", "人员行为": "assurance",
          "服务态度": "empathy"}
    c = t["complaint"]["category"].map(of)
    return c.value_counts(normalize=True).reindex(DIMS, fill_value=0.0) if len(c) else pd.Series(0.0, index=DIMS)


# --- 2. complaints ------------------------------------------------------------------------------

def dissatisfied_customers(t) -> pd.Series:
    """Customers who said they were dissatisfied (a rating of 1 or 2 in a survey, a closed service
    request or an after-sales call), with the date of the first such rating."""
    s = t["survey"]
    sr = t["service_request"]
    care = t["care"]
    parts = [s.loc[s["overall"] <= 2, ["customer_id", "survey_date"]].set_axis(["c", "d"], axis=1),
             sr.loc[sr["satisfaction"] <= 2, ["customer_id", "closed_at"]].set_axis(["c", "d"], axis=1),
             care.loc[care["satisfaction"] <= 2, ["customer_id", "done_date"]].set_axis(["c", "d"], axis=1)]
    x = pd.concat([p.assign(d=pd.to_datetime(p["d"])) for p in parts], ignore_index=True)
    return x.groupby("c")["d"].min()


def dissatisfied_complaint_rate(t) -> tuple[float, int]:
    """Of dissatisfied customers, the share who complained (from 60 days before to a year after)."""
    low = dissatisfied_customers(t)
    c = t["complaint"][["customer_id", "received_at"]].merge(low.rename("d"), left_on="customer_id", right_index=True)
    dt = (c["received_at"] - c["d"]).dt.days
    hit = c.loc[(dt >= -60) & (dt <= 365), "customer_id"].unique()
    return float(pd.Index(low.index).isin(hit).mean()), len(low)


def silent_dissatisfied_churn(t) -> tuple[float, float]:
    """失效 rate of silent dissatisfied (overall ≤ 2, no complaint) vs satisfied (≥ 4) survey respondents."""
    s = t["survey"].sort_values("survey_date").groupby("customer_id")["overall"].first()
    comp = set(t["complaint"]["customer_id"])
    lost = t["customer"].set_index("id")["lifecycle"] == "失效"
    silent = [c for c in s.index[s <= 2] if c not in comp]
    happy = s.index[s >= 4]
    return float(lost.reindex(silent).mean()), float(lost.reindex(happy).mean())


# --- 3. retention ----------------------------------------------------------------------------------

def retention_effect(t, horizon: int = 120) -> dict[str, float]:
    """Bought within ``horizon`` days after the start of 挽留 campaigns: 目标组 vs 对照组, 95% CI."""
    cp = t["campaign"]
    ret = cp[cp["campaign_type"] == "挽留"]
    m = t["campaign_member"].merge(ret[["id", "start_date"]], left_on="campaign_id", right_on="id")
    today = t["sales_order"]["order_date"].max()
    m = m[m["start_date"] + pd.Timedelta(days=horizon) <= today]
    so = _orders(t)[["customer_id", "order_date"]]
    j = m[["customer_id", "start_date", "group_name", "campaign_id"]].merge(so, on="customer_id", how="left")
    j["hit"] = (j["order_date"] >= j["start_date"]) & (j["order_date"] < j["start_date"] + pd.Timedelta(days=horizon))
    per = j.groupby(["campaign_id", "customer_id", "group_name"])["hit"].any().reset_index()
    g = per.groupby("group_name")["hit"].agg(["mean", "size"])
    pt, nt = g.loc["目标组", "mean"], g.loc["目标组", "size"]
    pc, nc = g.loc["对照组", "mean"], g.loc["对照组", "size"]
    se = np.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    d = pt - pc
    return {"target": pt, "control": pc, "n_target": int(nt), "n_control": int(nc), "diff": d,
            "lo": d - 1.96 * se, "hi": d + 1.96 * se}


def acquisition_vs_retention_cost(t, year: int = 2025) -> dict[str, float]:
    """Cost per new customer (acquisition campaigns) vs cost per kept customer (关怀/挽留 contacts)."""
    cp = t["campaign"]
    y = cp[cp["start_date"].dt.year == year]
    acq = y[y["campaign_type"].isin(["展会", "会员活动"]) | y["name"].str.contains("获客")]
    so = _orders(t)
    first = so.groupby("customer_id")["order_date"].min()
    new = int((first.dt.year == year).sum())
    keep_c = y[y["campaign_type"].isin(["关怀", "挽留"])]
    mem = t["campaign_member"]
    contacted = mem[mem["campaign_id"].isin(keep_c["id"]) & mem["contacted_at"].notna()]
    keep_cost = float(contacted.merge(keep_c[["id", "cost_per_contact"]], left_on="campaign_id", right_on="id")
                      ["cost_per_contact"].sum())
    bought = so.groupby([so["customer_id"], so["order_date"].dt.year]).size().unstack(fill_value=0)
    kept = int(((bought.get(year - 1, 0) > 0) & (bought.get(year, 0) > 0)).sum())
    acq_cost = float(acq["budget"].sum())
    return {"acq_cost": acq_cost, "new": new, "per_new": acq_cost / max(new, 1), "keep_cost": keep_cost,
            "kept": kept, "per_kept": keep_cost / max(kept, 1),
            "ratio": (acq_cost / max(new, 1)) / max(keep_cost / max(kept, 1), 1e-9)}


# --- 4. going concern -----------------------------------------------------------------------------

def revenue_by_year(t) -> pd.Series:
    so = _orders(t)
    return so.groupby(so["order_date"].dt.year)["total_amount"].sum()


# --- 5. repeat purchase and concentration --------------------------------------------------------------

def b2c_repeat_within_year(t, start="2024-01-01", end="2024-06-30") -> tuple[float, int]:
    so = _orders(t).merge(t["customer"][["id", "kind"]], left_on="customer_id", right_on="id", suffixes=("", "_c"))
    ind = so[so["kind_c"] == "个人"].sort_values("order_date")
    first = ind.groupby("customer_id")["order_date"].min()
    cohort = first[(first >= start) & (first <= end)]
    j = ind.merge(cohort.rename("f"), left_on="customer_id", right_index=True)
    again = j[(j["order_date"] > j["f"]) & (j["order_date"] <= j["f"] + pd.Timedelta(days=365))]["customer_id"].unique()
    return float(pd.Index(cohort.index).isin(again).mean()), len(cohort)


def top20_share_by_kind(t) -> dict[str, float]:
    so = _orders(t)
    rev = so.groupby("customer_id")["total_amount"].sum()
    kind = t["customer"].set_index("id")["kind"]
    out = {}
    for k in ("企业", "个人"):
        v = np.sort(rev[kind.reindex(rev.index) == k].to_numpy())[::-1]
        out[k] = float(v[: int(len(v) * 0.2)].sum() / v.sum())
    return out


# --- 6. funnel -----------------------------------------------------------------------------------------

def win_rate_from_stage(t) -> pd.DataFrame:
    """Of closed opportunities that reached each stage, the share won, next to the CRM's probability."""
    h = t["opportunity_stage_history"]
    o = t["opportunity"].set_index("id")
    closed = o.index[o["status"].isin(["成功", "失败", "失效"])]
    h = h[h["opportunity_id"].isin(closed)]
    reached = h.groupby("opportunity_id")["stage"].agg(lambda s: max(reference.STAGES.index(x) for x in s))
    won = o.loc[reached.index, "status"] == "成功"
    rows = []
    for k, st in enumerate(reference.STAGES):
        m = reached >= k
        rows.append((st, float(won[m].mean()) * 100, reference.STAGE_PROBABILITY[st], int(m.sum())))
    return pd.DataFrame(rows, columns=["stage", "actual", "configured", "n"])


# --- 7. payments ------------------------------------------------------------------------------------

def prepaid_shipped_unpaid(t) -> tuple[float, int]:
    """Share of shipped 款到发货 orders whose first shipment came before full payment."""
    so = t["sales_order"]
    pre = so[(so["payment_terms"] == "款到发货")]
    sh = t["shipment"].groupby("order_id")["ship_date"].min()
    pay = t["payment"].groupby("order_id").agg(paid=("amount", "sum"), last=("paid_date", "max"))
    x = pre.set_index("id").join(sh.rename("ship")).join(pay)
    x = x[x["ship"].notna()]
    ok = (x["paid"].fillna(0) >= x["total_amount"] - 0.01) & (x["last"] <= x["ship"])
    return float((~ok).mean()), len(x)


def credit_rating_by_kind(t) -> dict[str, float]:
    c = t["customer"]
    return {k: float(c.loc[c["kind"] == k, "credit_rating"].notna().mean()) for k in ("企业", "个人")}


# --- 8. 失效 -------------------------------------------------------------------------------------------

def lost_rule_precision(t) -> dict[str, float]:
    """Of customers set 失效 by the 180-day rule (audit log), the share who ordered again later."""
    a = t["audit_log"]
    a = a[(a["table_name"] == "customer") & (a["field"] == "lifecycle") & (a["new_value"] == "失效")]
    first = a.groupby("row_id")["at"].min()
    so = _orders(t)
    last = so.groupby("customer_id")["order_date"].max()
    came_back = (last.reindex(first.index) > first).fillna(False)
    reasons = t["customer"]["lost_reason"].dropna()
    r180 = t["customer"].loc[t["customer"]["lifecycle"] == "失效", "lost_reason"]
    return {"flagged": int(len(first)), "came_back": float(came_back.mean()),
            "unknown": float((r180 == "未知").mean()), "n_reasons": int(reasons.nunique())}


def report(seed: int, customers: int = 2000) -> dict[str, object]:
    from simcrm.sim import generate

    t = tables(generate(seed=seed, customers=customers))
    g = servqual_gaps(t)
    return {
        "servqual_gaps": g.round(2).to_dict(), "weak": weak_dimensions(t), "evidence": record_evidence(t).round(3).to_dict(),
        "complaint_dims": complaint_dimension_share(t).round(2).to_dict(),
        "gap_types": t["complaint"]["gap_type"].value_counts().to_dict(),
        "dissatisfied_complain": dissatisfied_complaint_rate(t), "silent_churn": silent_dissatisfied_churn(t),
        "complaints": len(t["complaint"]),
        "retention": retention_effect(t), "acq_vs_keep": acquisition_vs_retention_cost(t),
        "revenue": revenue_by_year(t).round(-4).to_dict(),
        "b2c_repeat": b2c_repeat_within_year(t), "top20": top20_share_by_kind(t),
        "funnel": win_rate_from_stage(t).round(1).to_dict("records"),
        "prepaid_unpaid": prepaid_shipped_unpaid(t), "credit": credit_rating_by_kind(t),
        "lost": lost_rule_precision(t),
    }


if __name__ == "__main__":
    import pprint

    for s in sys.argv[1:] or ["1"]:
        print("seed", s)
        pprint.pprint(report(int(s)), width=150)
