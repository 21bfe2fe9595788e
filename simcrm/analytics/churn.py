"""客户流失分析：留存率、流失预警评分、流失预测模型（按时间切分）、流失价值与挽留成本."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simcrm.errors import ConfigError

from ._validate import as_datetime, as_timestamp, check_choice, check_range, require_columns

__all__ = [
    "retention_rates",
    "churn_risk",
    "churn_features",
    "time_split",
    "train_churn_model",
    "evaluate_churn_model",
    "value_at_risk",
]


def retention_rates(transactions: pd.DataFrame, customer_col: str = "customer_id",
                    date_col: str = "order_date", freq: str = "Q") -> pd.DataFrame:
    """同期群留存率 (cohort × period retention table).

    A customer's cohort is the period ("Q", "M" or "Y") of their first transaction. For each
    cohort and period offset k = 0, 1, …: ``active`` = cohort customers with a transaction in
    period cohort + k, ``retention`` = active / cohort size, ``churn`` = 1 − retention.

    Returns:
        Long DataFrame ``[cohort, offset, period, cohort_size, active, retention, churn]``.

    Example:
        >>> tx = pd.DataFrame({"customer_id": [1, 2, 1, 3],
        ...     "order_date": pd.to_datetime(["2025-01-05", "2025-02-01", "2025-04-10", "2025-05-01"])})
        >>> retention_rates(tx)[["cohort", "offset", "active", "retention"]]
           cohort  offset  active  retention
        0  2025Q1       0       2        1.0
        1  2025Q1       1       1        0.5
        2  2025Q2       0       1        1.0
    """
    check_choice(freq, "freq", ("Q", "M", "Y"))
    require_columns(transactions, {customer_col: "any", date_col: "datetime"}, table="transactions")
    per = as_datetime(transactions[date_col], date_col).dt.to_period(freq)
    f = pd.DataFrame({"c": transactions[customer_col].to_numpy(), "p": per}).drop_duplicates()
    first = f.groupby("c")["p"].min()
    f["cohort"] = f["c"].map(first)
    f["offset"] = (f["p"] - f["cohort"]).map(lambda d: d.n)
    size = first.value_counts()
    last = f["p"].max()
    rows = []
    for cohort in sorted(size.index):
        n_off = (last - cohort).n
        active = f[f["cohort"] == cohort].groupby("offset").size()
        for k in range(n_off + 1):
            a = int(active.get(k, 0))
            rows.append({"cohort": str(cohort), "offset": k, "period": str(cohort + k),
                         "cohort_size": int(size[cohort]), "active": a,
                         "retention": a / size[cohort], "churn": 1 - a / size[cohort]})
    return pd.DataFrame(rows)


def churn_features(transactions: pd.DataFrame, as_of: Any, customer_col: str = "customer_id",
                   date_col: str = "order_date", amount_col: str = "amount",
                   window_days: int = 90, min_purchase_days: int = 2,
                   population_rhythm_days: float | None = None) -> pd.DataFrame:
    """流失特征 (per-customer features from transactions strictly before ``as_of``).

    Columns: ``recency_days`` (as_of − last purchase), ``frequency``, ``monetary``,
    ``tenure_days`` (as_of − first purchase), ``avg_gap_days`` (mean days between distinct
    purchase days; tenure when only one), ``purchase_days`` (distinct purchase days),
    ``rhythm_days`` = the rhythm the customer is judged against: the **population's** rhythm
    (the median ``avg_gap_days`` of the customers with at least ``min_purchase_days`` purchase
    days, or ``population_rhythm_days`` when given; ``attrs["population_rhythm_days"]``) for a
    customer without a rhythm of its own, and the slower of its own ``avg_gap_days`` and the
    population's for one with (a customer is overdue only when late against both its own habit
    and what is normal: an own rhythm from a few close purchases is often a burst); when no
    customer has a rhythm yet, the population's is taken as the median ``tenure_days`` (its
    lower bound);
    ``recency_ratio`` = recency / rhythm (> 1 means overdue), ``recent_count``/``earlier_count`` and
    ``recent_amount``/``earlier_amount`` in the last ``window_days`` vs the window before it,
    ``count_trend`` = (recent − earlier) / max(earlier, 1), ``amount_trend`` likewise.

    Example:
        >>> tx = pd.DataFrame({"customer_id": [1, 1, 1], "amount": [10.0, 10.0, 10.0],
        ...     "order_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])})
        >>> churn_features(tx, "2025-04-01", window_days=30)[["recency_days", "avg_gap_days", "recent_count"]]  # doctest: +NORMALIZE_WHITESPACE
                     recency_days  avg_gap_days  recent_count
        customer_id
        1                      31          29.5             0
    """
    require_columns(transactions, {customer_col: "any", date_col: "datetime",
                                   amount_col: "numeric"}, table="transactions")
    ts = as_timestamp(as_of, "as_of")
    d = as_datetime(transactions[date_col], date_col)
    keep = (d < ts).to_numpy()
    f = pd.DataFrame({"c": transactions[customer_col].to_numpy()[keep], "d": d.to_numpy()[keep],
                      "a": transactions[amount_col].to_numpy(dtype="float64")[keep]})
    g = f.groupby("c", sort=True)
    first, last = g["d"].min(), g["d"].max()
    days = g["d"].agg(lambda s: s.dt.normalize().nunique())
    out = pd.DataFrame(index=first.index)
    out["recency_days"] = (ts - last).dt.days
    out["frequency"] = g.size()
    out["monetary"] = g["a"].sum()
    out["tenure_days"] = (ts - first).dt.days
    span = (last - first).dt.days
    out["avg_gap_days"] = np.where(days > 1, span / (days - 1).clip(lower=1), out["tenure_days"])
    own = (days >= max(int(min_purchase_days), 2)).to_numpy()
    if population_rhythm_days is not None:
        check_range(population_rhythm_days, "population_rhythm_days", 1e-9, 1e6, "大于 0 的天数")
        pop = float(population_rhythm_days)
    elif own.any():
        pop = float(np.median(out["avg_gap_days"].to_numpy()[own]))
    elif len(out):
        # nobody has bought twice yet: the population's gap is at least the median tenure
        pop = float(max(np.median(out["tenure_days"].to_numpy()), 1))
    else:
        pop = float("nan")
    out["purchase_days"] = days.astype("int64")
    out["rhythm_days"] = np.where(own, np.maximum(out["avg_gap_days"], pop), pop)
    out["recency_ratio"] = out["recency_days"] / np.maximum(out["rhythm_days"], 1)
    recent = f["d"] >= ts - pd.Timedelta(days=window_days)
    earlier = (f["d"] >= ts - pd.Timedelta(days=2 * window_days)) & ~recent
    for name, mask in (("recent", recent), ("earlier", earlier)):
        sub = f[mask.to_numpy()].groupby("c")
        out[f"{name}_count"] = sub.size().reindex(out.index).fillna(0).astype("int64")
        out[f"{name}_amount"] = sub["a"].sum().reindex(out.index).fillna(0.0)
    out["count_trend"] = (out["recent_count"] - out["earlier_count"]) / np.maximum(out["earlier_count"], 1)
    out["amount_trend"] = (out["recent_amount"] - out["earlier_amount"]) / np.maximum(out["earlier_amount"], 1)
    out.index.name = customer_col
    out.attrs["population_rhythm_days"] = pop
    return out


def churn_risk(transactions: pd.DataFrame, customer_col: str = "customer_id",
               date_col: str = "order_date", amount_col: str = "amount", as_of: Any = None,
               complaints: pd.DataFrame | None = None, surveys: pd.DataFrame | None = None,
               window_days: int = 90, threshold: float = 0.5,
               weights: dict[str, float] | None = None, min_purchase_days: int = 2,
               population_rhythm_days: float | None = None) -> pd.DataFrame:
    """流失预警评分 (rule-based early-warning risk in [0, 1] and a flag).

    Signals from :func:`churn_features`, each scaled to [0, 1]:

    * ``s_recency`` = 1 − exp(−max(recency_ratio − 1, 0) / 2): 0 while the customer is within
      its purchase rhythm, 0.63 at three rhythms, → 1 beyond. The rhythm is the customer's own
      (floored at the population's) or, for a customer with a single purchase day, the
      population's: a one-off buyer is judged against everyone's rhythm, never exempt;
    * ``s_frequency`` = 1 − recent_count / earlier_count (clipped to [0, 1]) — falling
      purchases, last ``window_days`` vs the window before; 1 when it bought in neither window
      (the fall is complete), 0 when it bought only in the recent one;
    * ``s_spend``: the same with amounts (falling spend);
    * ``s_repeat`` = 1 / purchase days: a first-time buyer (1) is the least attached, a customer
      with many purchases the most (初次购买 → 重复购买 → 忠实);
    * ``s_complaints`` (if ``complaints`` given: customer_id, status) = min(open complaints
      (status not 已归档), 2) / 2;
    * ``s_satisfaction`` (if ``surveys`` given: customer_id, survey_date, overall 1–5) =
      1 if the latest overall score ≤ 2, 0.5 if it fell from the previous survey, else 0.

    ``risk`` = Σ w·s / Σ w over the signals available (default weights recency 0.4,
    frequency 0.2, spend 0.2, repeat 0.2, complaints 0.1, satisfaction 0.1); ``flag`` =
    risk ≥ threshold.

    On the CDNOW sample (2,357 real retail customers; calibrated on purchases before a cut-off,
    scored by whether they buy again after it) the risk ranks the customers who never buy again
    at least as well as recency alone: AUC 0.778 vs 0.771 with the cut-off 1997-10-01 (see
    ``tests/test_analytics_churn.py``).

    Example (customer 3 bought once; rhythm of the others 10 days, so is the population's):
        >>> tx = pd.DataFrame({"customer_id": [1, 1, 2, 2, 3], "amount": [10.0] * 5,
        ...     "order_date": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-03-20", "2025-03-30",
        ...                                   "2025-01-05"])})
        >>> churn_risk(tx, as_of="2025-04-01", window_days=45)[["s_recency", "s_repeat", "risk", "flag"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
                     s_recency  s_repeat   risk   flag
        customer_id
        1                0.970       0.5  0.888   True
        2                0.000       0.5  0.100  False
        3                0.978       1.0  0.991   True
    """
    if as_of is None:
        require_columns(transactions, {date_col: "datetime"}, table="transactions")
        as_of = as_datetime(transactions[date_col], date_col).max().normalize() + pd.Timedelta(days=1)
    feats = churn_features(transactions, as_of, customer_col, date_col, amount_col, window_days,
                           min_purchase_days=min_purchase_days, population_rhythm_days=population_rhythm_days)
    w = {"recency": 0.4, "frequency": 0.2, "spend": 0.2, "repeat": 0.2, "complaints": 0.1, "satisfaction": 0.1}
    if weights:
        unknown = sorted(set(weights) - set(w))
        if unknown:
            raise ConfigError(field="weights", value=unknown[0], allowed="、".join(w), reason="没有这个信号")
        w.update(weights)
    sig = pd.DataFrame(index=feats.index)
    sig["s_recency"] = 1 - np.exp(-np.maximum(feats["recency_ratio"] - 1, 0) / 2)

    def decline(recent: pd.Series, earlier: pd.Series) -> np.ndarray:
        fell = np.clip(1 - recent / np.where(earlier > 0, earlier, 1), 0, 1)
        return np.where(earlier > 0, fell, np.where(recent > 0, 0.0, 1.0))

    sig["s_frequency"] = decline(feats["recent_count"], feats["earlier_count"])
    sig["s_spend"] = decline(feats["recent_amount"], feats["earlier_amount"])
    sig["s_repeat"] = 1 / feats["purchase_days"].clip(lower=1)
    used = ["recency", "frequency", "spend", "repeat"]
    if complaints is not None:
        require_columns(complaints, {customer_col: "any", "status": "any"}, table="complaints")
        open_n = complaints[complaints["status"] != "已归档"].groupby(customer_col).size()
        sig["s_complaints"] = (open_n.reindex(sig.index).fillna(0).clip(upper=2) / 2).astype("float64")
        used.append("complaints")
    if surveys is not None:
        require_columns(surveys, {customer_col: "any", "survey_date": "datetime", "overall": "numeric"},
                        table="surveys")
        sv = surveys.assign(_d=as_datetime(surveys["survey_date"], "survey_date"))
        sv = sv[sv["_d"] < as_timestamp(as_of, "as_of")].sort_values([customer_col, "_d"])
        gs = sv.groupby(customer_col)["overall"]
        latest = gs.last()
        prev = gs.agg(lambda v: v.iloc[-2] if len(v) > 1 else np.nan)
        s = np.where(latest <= 2, 1.0, np.where(latest < prev, 0.5, 0.0))
        sig["s_satisfaction"] = pd.Series(s, index=latest.index).reindex(sig.index).fillna(0.0)
        used.append("satisfaction")
    total_w = sum(w[k] for k in used)
    sig["risk"] = sum(w[k] * sig[f"s_{k}"] for k in used) / total_w
    sig["risk"] = sig["risk"].round(10)
    sig["flag"] = sig["risk"] >= threshold
    sig.attrs["population_rhythm_days"] = feats.attrs["population_rhythm_days"]
    return sig


def time_split(transactions: pd.DataFrame, cutoff: Any, horizon_days: int = 180,
               customer_col: str = "customer_id", date_col: str = "order_date",
               amount_col: str = "amount", window_days: int = 90) -> tuple[pd.DataFrame, pd.Series]:
    """按时间切分 (time-based split): features before ``cutoff``, label from the window after.

    Features = :func:`churn_features` on transactions before ``cutoff``; label ``churned`` =
    True when the customer makes **no** transaction in [cutoff, cutoff + horizon_days). Never a
    random split: train on an earlier cut-off, evaluate on a later one.

    Example:
        >>> tx = pd.DataFrame({"customer_id": [1, 1, 2], "amount": [1.0, 1.0, 1.0],
        ...     "order_date": pd.to_datetime(["2025-01-01", "2025-05-01", "2025-01-02"])})
        >>> X, y = time_split(tx, "2025-03-01", horizon_days=120)
        >>> y.tolist()
        [False, True]
    """
    ts = as_timestamp(cutoff, "cutoff")
    X = churn_features(transactions, ts, customer_col, date_col, amount_col, window_days)
    d = as_datetime(transactions[date_col], date_col)
    future = ((d >= ts) & (d < ts + pd.Timedelta(days=horizon_days))).to_numpy()
    buyers = set(transactions[customer_col].to_numpy()[future].tolist())
    y = pd.Series([c not in buyers for c in X.index], index=X.index, name="churned")
    return X, y


def train_churn_model(features_past: pd.DataFrame, labels: Any, model: str = "logistic",
                      seed: int | None = 0) -> Any:
    """训练流失模型 (scikit-learn Pipeline: StandardScaler + LogisticRegression or GradientBoosting).

    Args:
        features_past: numeric feature frame (e.g. from :func:`time_split`).
        labels: churn labels aligned to the rows.
        model: "logistic" or "gbm".
        seed: random_state for the gradient boosting model.

    Returns:
        The fitted pipeline (``predict_proba`` gives churn probabilities).

    Example:
        >>> X = pd.DataFrame({"recency_days": [1, 2, 50, 60, 3, 70]})
        >>> m = train_churn_model(X, [0, 0, 1, 1, 0, 1])
        >>> m.predict(pd.DataFrame({"recency_days": [0, 80]})).tolist()
        [0, 1]
    """
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_choice(model, "model", ("logistic", "gbm"))
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        raise ConfigError(field="labels", value=sorted(set(y.tolist())), allowed="同时包含流失与未流失",
                          reason="只有一类标签，无法训练")
    est = (LogisticRegression(max_iter=1000) if model == "logistic"
           else GradientBoostingClassifier(random_state=seed))
    return make_pipeline(StandardScaler(), est).fit(features_past, y)


def evaluate_churn_model(model: Any, features: pd.DataFrame, labels: Any,
                         threshold: float = 0.5) -> dict[str, float]:
    """模型评估 (precision, recall, AUC and top-decile lift).

    ``lift_top_decile`` = churn rate among the 10% highest-scored customers (ceil) / overall
    churn rate.

    Example:
        >>> X = pd.DataFrame({"recency_days": [1, 2, 50, 60, 3, 70, 4, 5, 6, 80]})
        >>> y = [0, 0, 1, 1, 0, 1, 0, 0, 0, 1]
        >>> evaluate_churn_model(train_churn_model(X, y), X, y)
        {'precision': 1.0, 'recall': 1.0, 'auc': 1.0, 'lift_top_decile': 2.5}
    """
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    y = np.asarray(labels).astype(int)
    p = model.predict_proba(features)[:, 1]
    pred = (p >= threshold).astype(int)
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    return {
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "auc": float(roc_auc_score(y, p)),
        "lift_top_decile": float(y[top].mean() / base) if base > 0 else float("nan"),
    }


def value_at_risk(risk: pd.DataFrame, value: pd.Series, save_rate: float = 0.3,
                  cost_per_contact: float = 50.0, risk_col: str = "risk") -> pd.DataFrame:
    """流失价值与挽留成本 (value at risk and retention-campaign economics per customer).

    ``value_at_risk`` = risk × value (value = e.g. annual margin or CLV);
    ``expected_saved`` = save_rate × value_at_risk (save_rate = share of would-be churners a
    contact retains); ``save_cost`` = cost_per_contact; ``net_benefit`` = expected_saved −
    save_cost; ``contact`` = net_benefit > 0.

    Example:
        >>> r = pd.DataFrame({"risk": [0.8, 0.1]}, index=[1, 2])
        >>> value_at_risk(r, pd.Series([1000.0, 1000.0], index=[1, 2]))["contact"].tolist()
        [True, False]
    """
    require_columns(risk, {risk_col: "numeric"}, table="risk")
    out = pd.DataFrame(index=risk.index)
    out["risk"] = risk[risk_col].astype("float64")
    out["value"] = pd.Series(value).reindex(risk.index).astype("float64")
    out["value_at_risk"] = out["risk"] * out["value"]
    out["expected_saved"] = save_rate * out["value_at_risk"]
    out["save_cost"] = float(cost_per_contact)
    out["net_benefit"] = out["expected_saved"] - out["save_cost"]
    out["contact"] = out["net_benefit"] > 0
    return out
