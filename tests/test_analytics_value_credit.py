"""Satisfaction, SERVQUAL, delivered value, retention CLV, 5C, payment behaviour, credit limit."""

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import (clv_retention, credit_5c, credit_behaviour, credit_limit,
                              delivered_value, satisfaction_index, servqual_gaps)
from simcrm.errors import ColumnError, ConfigError


def test_satisfaction_index():
    assert satisfaction_index(4.5, 5) == pytest.approx(0.9)
    np.testing.assert_allclose(satisfaction_index([3, 6], [6, 3]), [0.5, 2.0])
    with pytest.raises(ConfigError):
        satisfaction_index(3, 0)


def test_servqual_hand_worked_and_by_group():
    s = pd.DataFrame({"seg": ["x", "x", "y"],
                      "exp_tangibles": [5, 7, 6], "per_tangibles": [6, 4, 6],
                      "exp_reliability": [7, 7, 7], "per_reliability": [5, 6, 7],
                      "exp_responsiveness": [4, 4, 4], "per_responsiveness": [4, 4, 4],
                      "exp_assurance": [6, 6, 6], "per_assurance": [6, 7, 5],
                      "exp_empathy": [3, 5, 4], "per_empathy": [5, 5, 4]})
    out = servqual_gaps(s).set_index("dimension")
    assert out.loc["tangibles", "gap"] == pytest.approx((16 - 18) / 3)
    assert out.loc["reliability", "gap"] == pytest.approx(-1.0)
    assert out.loc["reliability", "negative_share"] == pytest.approx(2 / 3)
    assert out.loc["empathy", "dimension_name"] == "关怀性"
    assert out.index[0] == "reliability"  # worst gap first
    g = servqual_gaps(s, by="seg")
    row = g[(g.seg == "x") & (g.dimension == "tangibles")].iloc[0]
    assert row["gap"] == pytest.approx(-1.0) and row["n"] == 2
    with pytest.raises(ColumnError) as info:
        servqual_gaps(s.drop(columns="per_empathy"))
    assert info.value.field == "per_empathy"


def test_delivered_value_arrays():
    out = delivered_value(product=[10, 20], service=5, money=[8, 30])
    np.testing.assert_allclose(out["cdv"], [7, -5])
    np.testing.assert_allclose(out["ratio"], [15 / 8, 25 / 30])


@pytest.mark.parametrize("m, r, d", [(100, 0.8, 0.1), (50, 0.5, 0.0), (10, 0.95, 0.12)])
def test_clv_retention_against_long_sum(m, r, d):
    brute = sum(m * r**t / (1 + d) ** t for t in range(1, 5000))
    assert clv_retention(m, r, d) == pytest.approx(brute, rel=1e-9)
    assert clv_retention(m, r, d, periods=3) == pytest.approx(sum(m * (r / (1 + d)) ** t for t in (1, 2, 3)))
    with pytest.raises(ConfigError):
        clv_retention(m, 1.0, d)


def test_credit_5c_weights_scale_grades():
    r = pd.DataFrame({"品质": [5, 1], "能力": [4, 3], "资本": [5, 5], "抵押": [3, 1], "条件": [5, 1]})
    cols = {"character": "品质", "capacity": "能力", "capital": "资本", "collateral": "抵押", "conditions": "条件"}
    w = {"character": 3, "capacity": 2, "capital": 2, "collateral": 2, "conditions": 1}
    out = credit_5c(r, weights=w, columns=cols, scale=(1, 5))
    # rescale to 0-100: (x-1)/4*100
    exp0 = (3 * 100 + 2 * 75 + 2 * 100 + 2 * 50 + 1 * 100) / 10
    exp1 = (3 * 0 + 2 * 50 + 2 * 100 + 2 * 0 + 1 * 0) / 10
    assert out["score"].tolist() == pytest.approx([exp0, exp1])
    assert out["grade"].tolist() == ["AA", "C"]
    edge = credit_5c(pd.DataFrame({c: [90, 89.9, 60] for c in ["character", "capacity", "capital", "collateral", "conditions"]}))
    assert edge["grade"].tolist() == ["AAA", "AA", "B"]
    with pytest.raises(ColumnError):
        credit_5c(r)
    with pytest.raises(ConfigError):
        credit_5c(r, columns=cols, weights={"luck": 1})


def test_credit_behaviour_hand_worked():
    plans = pd.DataFrame({
        "order_id": [1, 1, 1, 2, 3],
        "due_date": pd.to_datetime(["2025-01-10", "2025-02-10", "2025-05-10", "2025-01-31", "2025-03-01"]),
        "amount": [100.0, 100.0, 100.0, 50.0, 70.0]})
    orders = pd.DataFrame({"id": [1, 2, 3], "customer_id": ["A", "A", "B"]})
    pays = pd.DataFrame({"order_id": [1, 1, 2, 3, 3],
                         "paid_date": pd.to_datetime(["2025-01-05", "2025-02-20", "2025-01-31", "2025-03-01", "2025-04-20"]),
                         "amount": [100.0, 60.0, 50.0, 70.0, 999.0]})
    out = credit_behaviour(plans, pays, as_of="2025-03-01", orders=orders).set_index("customer_id")
    # A: inst1 paid on time (0), inst2 40 still unpaid -> 19 days late at as_of, inst3 not due,
    #    order 2 paid on the due date (0): 3 due, 1 overdue
    assert out.loc["A", "due_instalments"] == 3
    assert out.loc["A", "overdue_instalments"] == 1
    assert out.loc["A", "avg_days_late"] == pytest.approx(19 / 3)
    assert out.loc["A", "outstanding"] == pytest.approx(40.0)
    assert out.loc["A", "dso"] == pytest.approx(40 / 250 * 365)
    assert out.loc["A", "grade"] == "C"  # 33% overdue: over 30% (B), within 50% and 30 days (C)
    # B: paid on the due date; the later payment is after as_of and ignored
    assert out.loc["B", "overdue_ratio"] == 0 and out.loc["B", "grade"] == "A"
    with pytest.raises(ColumnError) as info:
        credit_behaviour(plans, pays, as_of="2025-03-01")
    assert info.value.field == "customer_id"


def test_credit_limit_formula_and_cap():
    df = pd.DataFrame({"sales": [730.0, 365.0, 100.0], "g": ["AAA", "C", "X"], "nw": [10.0, 1e9, 1e9]})
    out = credit_limit(df, sales_col="sales", grade_col="g", terms_days=60, net_worth_col="nw", net_worth_ratio=0.5)
    assert out["base_limit"].tolist() == pytest.approx([120.0, 60.0, 100 * 60 / 365], abs=0.01)
    assert out["credit_limit"].tolist() == [5.0, 0.0, 0.0]


def test_clv_retention_full_retention_over_a_finite_horizon():
    from simcrm.analytics import clv_retention
    # r = 1: every period pays m, discounted: 100/1.1 + 100/1.1² + 100/1.1³
    expected = 100 / 1.1 + 100 / 1.1 ** 2 + 100 / 1.1 ** 3
    assert clv_retention(100, 1.0, 0.1, periods=3) == pytest.approx(expected)
    with pytest.raises(Exception) as info:
        clv_retention(100, 1.0, 0.1)
    assert "retention" in str(info.value)
