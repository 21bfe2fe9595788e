"""RFM: hand-worked example, brute-force cross-check, tie safety, bad input."""

import math

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import quantile_scores, rfm, rfm_segment
from simcrm.errors import ColumnError, ConfigError


def _brute_scores(values, bins, higher_is_better=True):
    n = len(values)
    out = []
    for v in values:
        worse = sum(1 for w in values if (w < v if higher_is_better else w > v))
        out.append(math.ceil(bins * (1 + worse) / n))
    return out


def _brute_rfm(tx, as_of, bins):
    rows = {}
    for c, d, a in zip(tx.customer_id, tx.order_date, tx.amount):
        r = rows.setdefault(c, {"last": d, "n": 0, "m": 0.0})
        r["last"] = max(r["last"], d)
        r["n"] += 1
        r["m"] += a
    ids = sorted(rows)
    rec = [(as_of - rows[c]["last"]).days for c in ids]
    fr = [rows[c]["n"] for c in ids]
    mo = [rows[c]["m"] for c in ids]
    return ids, rec, fr, mo, _brute_scores(rec, bins, False), _brute_scores(fr, bins), _brute_scores(mo, bins)


@pytest.fixture
def tx():
    rng = np.random.default_rng(7)
    n = 400
    return pd.DataFrame({
        "customer_id": rng.integers(0, 60, n),
        "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 50, n), unit="D"),
        "amount": rng.choice([10.0, 20.0, 50.0, 100.0], n),
    })


def test_hand_worked_example():
    tx = pd.DataFrame({
        "cid": ["a", "b", "b", "c", "d", "d", "d"],
        "day": pd.to_datetime(["2025-06-01", "2025-06-20", "2025-06-25", "2025-06-25",
                               "2025-05-01", "2025-06-01", "2025-06-29"]),
        "amt": [100, 10, 10, 500, 5, 5, 5],
    })
    out = rfm(tx, customer_col="cid", date_col="day", amount_col="amt", bins=4)
    # as_of = 2025-06-30 (day after the last date)
    assert out["cid"].tolist() == ["a", "b", "c", "d"]
    assert out["recency_days"].tolist() == [29, 5, 5, 1]
    assert out["frequency"].tolist() == [1, 2, 1, 3]
    assert out["monetary"].tolist() == [100.0, 20.0, 500.0, 15.0]
    # recency: a worst (rank 1) -> ceil(4*1/4)=1; b, c tied (rank 2) -> 2; d rank 4 -> 4
    assert out["r_score"].tolist() == [1, 2, 2, 4]
    # frequency: a, c tied at the bottom -> 1 ... b rank 3 -> 3; d -> 4
    assert out["f_score"].tolist() == [1, 3, 1, 4]
    assert out["m_score"].tolist() == [3, 2, 4, 1]
    assert out["rfm"].tolist() == ["113", "232", "214", "441"]
    assert list(out.columns) == ["cid", "recency_days", "frequency", "monetary",
                                 "r_score", "f_score", "m_score", "rfm"]


@pytest.mark.parametrize("bins", [2, 3, 5, 9])
def test_matches_brute_force(tx, bins):
    as_of = pd.Timestamp("2024-03-01")
    out = rfm(tx, as_of=as_of, bins=bins)
    ids, rec, fr, mo, r, f, m = _brute_rfm(tx, as_of, bins)
    assert out["customer_id"].tolist() == ids
    assert out["recency_days"].tolist() == rec
    assert out["frequency"].tolist() == fr
    np.testing.assert_allclose(out["monetary"], mo)
    assert out["r_score"].tolist() == r
    assert out["f_score"].tolist() == f
    assert out["m_score"].tolist() == m
    assert out[["r_score", "f_score", "m_score"]].to_numpy().min() >= 1
    assert out[["r_score", "f_score", "m_score"]].to_numpy().max() <= bins


def test_shuffled_rows_give_identical_scores(tx):
    base = rfm(tx, bins=5)
    for seed in range(5):
        shuffled = tx.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(rfm(shuffled, bins=5), base)


def test_equal_values_equal_scores(tx):
    out = rfm(tx, bins=5)
    for value_col, score_col in [("recency_days", "r_score"), ("frequency", "f_score"),
                                 ("monetary", "m_score")]:
        assert (out.groupby(value_col)[score_col].nunique() == 1).all()
        # monotone: a better value never gets a lower score
        ordered = out.sort_values(value_col)[score_col].to_numpy()
        diffs = np.diff(ordered)
        assert (diffs <= 0).all() if value_col == "recency_days" else (diffs >= 0).all()


def test_all_equal_values_share_lowest_score():
    assert quantile_scores([7] * 10, bins=5).tolist() == [1] * 10


def test_distinct_values_give_equal_sized_bins():
    scores = quantile_scores(np.arange(100), bins=5)
    assert np.bincount(scores)[1:].tolist() == [20] * 5


def test_string_dates_and_default_as_of():
    tx = pd.DataFrame({"customer_id": [1, 2], "order_date": ["2025-01-01", "2025-01-10"],
                       "amount": [1.0, 2.0]})
    out = rfm(tx, bins=2)
    assert out["recency_days"].tolist() == [10, 1]


def test_input_not_modified(tx):
    before = tx.copy()
    rfm(tx)
    pd.testing.assert_frame_equal(tx, before)


@pytest.mark.parametrize("drop", ["customer_id", "order_date", "amount"])
def test_missing_column(tx, drop):
    with pytest.raises(ColumnError) as info:
        rfm(tx.drop(columns=drop))
    assert info.value.field == drop
    assert "缺少列" in str(info.value) and "[en]" in str(info.value)


def test_wrong_dtype():
    tx = pd.DataFrame({"customer_id": [1], "order_date": pd.to_datetime(["2025-01-01"]),
                       "amount": ["12"]})
    with pytest.raises(ColumnError) as info:
        rfm(tx)
    assert info.value.field == "amount"


def test_missing_values_rejected():
    tx = pd.DataFrame({"customer_id": [1, 2], "order_date": pd.to_datetime(["2025-01-01", None]),
                       "amount": [1.0, 2.0]})
    with pytest.raises(ColumnError) as info:
        rfm(tx)
    assert info.value.field == "order_date"


def test_bad_bins(tx):
    with pytest.raises(ConfigError):
        rfm(tx, bins=1)


def test_segment_vs_mean_hand_worked():
    df = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5],
                       "recency_days": [5, 50, 10, 80, 20],
                       "frequency": [10, 8, 1, 1, 2],
                       "monetary": [900.0, 50.0, 800.0, 30.0, 20.0]})
    # means: recency 33 (high R = fewer days), frequency 4.4, monetary 360
    seg = rfm_segment(df, on="value")
    assert seg["segment"].tolist() == ["重要价值客户", "一般保持客户", "重要发展客户",
                                       "一般挽留客户", "一般发展客户"]


def test_segment_override_and_midpoint():
    df = pd.DataFrame({"r_score": [3, 2], "f_score": [3, 3], "m_score": [1, 3]})
    seg = rfm_segment(df, method="midpoint", segments={(True, True, False): "忠诚小额"})
    # midpoint of 1..3 is 2: 3 is high, 2 is not high
    assert seg["segment"].tolist() == ["忠诚小额", "重要保持客户"]


def test_segment_missing_column():
    with pytest.raises(ColumnError) as info:
        rfm_segment(pd.DataFrame({"r_score": [1], "f_score": [1]}))
    assert info.value.field == "m_score"


def test_rfm_period_counts_f_and_m_inside_it_only():
    """Hand-worked: as_of 2025-07-01, window 90 days = 2025-04-02 … 2025-06-30."""
    tx = pd.DataFrame({
        "customer_id": [1, 1, 1, 2, 2, 3],
        "order_date": pd.to_datetime(["2024-01-10", "2025-04-01", "2025-04-02", "2024-05-05", "2024-06-01",
                                      "2025-06-30"]),
        "amount": [1000.0, 50.0, 20.0, 300.0, 300.0, 5.0],
    })
    out = rfm(tx, as_of="2025-07-01", bins=3, window_days=90).set_index("customer_id")
    # customer 1: 04-01 is one day before the window; 04-02 is its first day
    assert out.loc[1, "frequency"] == 1 and out.loc[1, "monetary"] == 20.0
    # customer 2 bought only before the window: stays, with F = M = 0
    assert out.loc[2, "frequency"] == 0 and out.loc[2, "monetary"] == 0.0
    assert out.loc[3, "frequency"] == 1 and out.loc[3, "monetary"] == 5.0
    # recency over all history: 2025-07-01 − last purchase
    assert out["recency_days"].to_dict() == {1: 90, 2: 395, 3: 1}
    # the same period given by its first day
    by_start = rfm(tx, as_of="2025-07-01", bins=3, start="2025-04-02")
    pd.testing.assert_frame_equal(by_start, out.reset_index())
    # all history (the default) differs: customer 1 has 3 purchases worth 1070
    whole = rfm(tx, as_of="2025-07-01", bins=3).set_index("customer_id")
    assert whole.loc[1, "frequency"] == 3 and whole.loc[1, "monetary"] == 1070.0


def test_rfm_period_zero_buyers_tie_whatever_the_row_order():
    rng = np.random.default_rng(11)
    n = 40
    tx = pd.DataFrame({"customer_id": np.arange(n), "order_date": pd.Timestamp("2024-01-01")
                       + pd.to_timedelta(rng.integers(0, 700, n), unit="D"), "amount": rng.random(n) * 100})
    out = rfm(tx, as_of="2026-01-01", bins=5, window_days=180)
    zero = out[out["frequency"] == 0]
    assert len(zero) > 5 and zero["f_score"].nunique() == 1 and zero["m_score"].nunique() == 1
    assert zero["f_score"].iloc[0] == 1
    shuffled = rfm(tx.sample(frac=1, random_state=1), as_of="2026-01-01", bins=5, window_days=180)
    pd.testing.assert_frame_equal(shuffled, out)


@pytest.mark.parametrize("kwargs, field", [
    ({"window_days": 0}, "window_days"),
    ({"window_days": 30.5}, "window_days"),
    ({"window_days": True}, "window_days"),
    ({"window_days": 30, "start": "2025-01-01"}, "start"),
    ({"start": "2026-01-01"}, "start"),
])
def test_rfm_period_bad_input(kwargs, field):
    tx = pd.DataFrame({"customer_id": [1], "order_date": pd.to_datetime(["2025-03-01"]), "amount": [1.0]})
    with pytest.raises(ConfigError) as info:
        rfm(tx, as_of="2025-06-01", **kwargs)
    assert info.value.field == field
