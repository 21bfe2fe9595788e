"""Churn: cohort retention by hand, risk scoring rules, time split, model evaluation, value at risk."""

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import (churn_risk, evaluate_churn_model, retention_rates, time_split,
                              train_churn_model, value_at_risk)
from simcrm.errors import ColumnError, ConfigError


def test_retention_hand_worked():
    tx = pd.DataFrame({"customer_id": [1, 2, 3, 1, 3, 1, 4],
                       "order_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01",
                                                     "2025-08-01", "2025-09-01", "2025-07-01"])})
    r = retention_rates(tx).set_index(["cohort", "offset"])
    assert r.loc[("2025Q1", 0), "cohort_size"] == 3
    assert r.loc[("2025Q1", 1), "retention"] == pytest.approx(1 / 3)
    assert r.loc[("2025Q1", 2), "active"] == 2
    assert r.loc[("2025Q1", 2), "churn"] == pytest.approx(1 / 3)
    assert r.loc[("2025Q3", 0), "active"] == 1
    with pytest.raises(ColumnError):
        retention_rates(tx, date_col="day")


def test_churn_risk_signals():
    tx = pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 2, 2, 2],
        "order_date": pd.to_datetime(["2024-10-01", "2024-10-15", "2024-11-01", "2025-01-10",
                                      "2025-02-01", "2025-03-01", "2025-03-25"]),
        "amount": [100.0, 100.0, 100.0, 50.0, 10.0, 10.0, 10.0]})
    complaints = pd.DataFrame({"customer_id": [2, 2], "status": ["处理中", "已归档"]})
    surveys = pd.DataFrame({"customer_id": [2, 2], "survey_date": pd.to_datetime(["2025-01-01", "2025-03-01"]),
                            "overall": [5, 4]})
    r = churn_risk(tx, as_of="2025-04-01", complaints=complaints, surveys=surveys, window_days=90)
    # customer 1: gaps 14, 17, 70 days -> avg 33.67; recency 81 -> ratio 2.406 -> s_recency 0.703
    # window [01-01, 04-01): 1 order / 50; earlier [10-03, 01-01): 2 orders / 200 -> trends -0.5, -0.75
    exp1 = (0.4 * (81 / (101 / 3) - 1) / 2 + 0.2 * 0.5 + 0.2 * 0.75) / 1.0
    assert r.loc[1, "risk"] == pytest.approx(exp1)
    # customer 2: one open complaint (0.5), satisfaction fell 5 -> 4 (0.5), otherwise healthy
    assert r.loc[2, "s_complaints"] == 0.5 and r.loc[2, "s_satisfaction"] == 0.5
    assert r.loc[2, "risk"] == pytest.approx(0.1 * 0.5 + 0.1 * 0.5)
    assert r["flag"].tolist() == [exp1 >= 0.5, False]


def test_time_split_never_uses_future_in_features():
    tx = pd.DataFrame({"customer_id": [1, 1, 2, 3], "amount": [1.0, 5.0, 1.0, 1.0],
                       "order_date": pd.to_datetime(["2025-01-01", "2025-06-01", "2025-02-01", "2025-07-01"])})
    X, y = time_split(tx, "2025-03-01", horizon_days=180)
    assert X.index.tolist() == [1, 2]  # customer 3 starts after the cut-off
    assert X.loc[1, "monetary"] == 1.0
    assert y.tolist() == [False, True]


def _synthetic(seed, n=600):
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60, n)
    freq = rng.poisson(3, n) + 1
    p = 1 / (1 + np.exp(-(recency - 60) / 15))
    y = rng.random(n) < p
    return pd.DataFrame({"recency_days": recency, "frequency": freq}), y


@pytest.mark.parametrize("kind", ["logistic", "gbm"])
def test_model_train_and_evaluate(kind):
    X_tr, y_tr = _synthetic(1)
    X_te, y_te = _synthetic(2)
    m = train_churn_model(X_tr, y_tr, model=kind)
    ev = evaluate_churn_model(m, X_te, y_te)
    assert ev["auc"] > 0.75
    assert ev["lift_top_decile"] > 1.5
    # independent recomputation of top-decile lift
    p = m.predict_proba(X_te)[:, 1]
    top = np.argsort(-p, kind="stable")[:60]
    assert ev["lift_top_decile"] == pytest.approx(y_te[top].mean() / y_te.mean())
    pred = p >= 0.5
    assert ev["precision"] == pytest.approx((pred & y_te).sum() / pred.sum())
    assert ev["recall"] == pytest.approx((pred & y_te).sum() / y_te.sum())


def test_model_needs_two_classes():
    with pytest.raises(ConfigError):
        train_churn_model(pd.DataFrame({"x": [1, 2]}), [0, 0])


def test_value_at_risk():
    r = pd.DataFrame({"risk": [0.5, 0.9]}, index=["a", "b"])
    out = value_at_risk(r, pd.Series({"a": 200.0, "b": 100.0}), save_rate=0.5, cost_per_contact=40)
    assert out["value_at_risk"].tolist() == [100.0, 90.0]
    assert out["net_benefit"].tolist() == [10.0, 5.0]
    assert out["contact"].all()
