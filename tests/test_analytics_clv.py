"""BG/NBD and Gamma-Gamma: rebuild the CDNOW summary and reproduce Fader, Hardie & Lee (2005)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from simcrm.analytics import BetaGeo, GammaGamma, customer_lifetime_value, summary_from_transactions
from simcrm.errors import ColumnError, ConfigError

DATA = Path(__file__).parent / "data" / "cdnow"


@pytest.fixture(scope="module")
def raw():
    df = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                     names=["master_id", "customer_id", "date", "cds", "amount"], dtype={"date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


@pytest.fixture(scope="module")
def summary(raw):
    return summary_from_transactions(raw, customer_col="customer_id", date_col="date",
                                     amount_col="amount", observation_end="1997-09-30", freq="W")


@pytest.fixture(scope="module")
def published():
    return pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")


def test_summary_rebuilds_published(summary, published):
    assert len(summary) == len(published) == 2357
    assert summary.index.tolist() == published.index.tolist()
    assert (summary["frequency"].to_numpy() == published["x"].to_numpy()).all()
    # published values are rounded to 2 decimals
    np.testing.assert_allclose(summary["recency"], published["t_x"], atol=0.0051)
    np.testing.assert_allclose(summary["T"], published["T"], atol=0.0051)
    np.testing.assert_allclose(summary["monetary_value"], published["zbar"], atol=0.0051)
    other = pd.read_csv(DATA / "cdnow_customers_summary.csv", index_col="ID")
    np.testing.assert_allclose(summary["recency"], other["recency"], atol=0.0051)


def test_summary_hand_worked():
    tx = pd.DataFrame({"c": ["x", "x", "x", "x", "y"],
                       "d": ["2025-01-01", "2025-01-01 15:00", "2025-01-03", "2025-02-01", "2025-01-02"],
                       "v": [1.0, 2.0, 4.0, 100.0, 5.0]})
    s = summary_from_transactions(tx, "c", "d", "v", observation_end="2025-01-11", freq="D")
    # x: purchase days 01-01 (3.0), 01-03 (4.0); 02-01 is after the end
    assert s.loc["x"].tolist() == [1, 2.0, 10.0, 4.0]
    assert s.loc["y"].tolist() == [0, 0.0, 9.0, 0.0]


def test_bgnbd_reproduces_fhl_2005(summary):
    bg = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    assert bg.fit is not None and isinstance(bg, BetaGeo)
    for name, value in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert bg.params_[name] == pytest.approx(value, rel=0.01), name
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.5)
    assert "r=0.243" in repr(bg)


def test_gamma_gamma_reproduces_fader_hardie(summary):
    repeat = summary[summary["frequency"] > 0]
    gg = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    assert gg.params_["p"] == pytest.approx(6.25, rel=0.01)
    assert gg.params_["q"] == pytest.approx(3.74, rel=0.01)
    assert gg.params_["v"] == pytest.approx(15.44, rel=0.01)
    assert repr(gg).startswith("GammaGamma(p=6.2")


def _fhl_model():
    bg = BetaGeo()
    bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    return bg


def test_conditional_expectation_fhl_example():
    # FHL (2005) / Fader-Hardie note: customer with x=2, t_x=30.43, T=38.86 expects 1.226
    # purchases in the next 39 weeks (computed here straight from the formula)
    bg = _fhl_model()
    r, al, a, b = 0.243, 4.414, 0.793, 2.426
    x, tx, T, t = 2, 30.43, 38.86, 39.0
    num = (a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x)
                                       * hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t)))
    den = 1 + a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x)
    got = bg.conditional_expected_purchases(t, x, tx, T)
    assert float(got) == pytest.approx(num / den, rel=1e-10)
    assert float(got) == pytest.approx(1.226, abs=0.002)


def test_probability_alive_and_population_expectation():
    bg = _fhl_model()
    assert bg.probability_alive(0, 0, 38.86)[0] == 1.0
    r, al, a, b = 0.243, 4.414, 0.793, 2.426
    expected = 1 / (1 + a / (b + 4 - 1) * ((al + 38.86) / (al + 10.0)) ** (r + 4))
    assert bg.probability_alive(4, 10.0, 38.86)[0] == pytest.approx(expected)
    # E[X(t)] by Monte Carlo-free check: derivative at 0 equals r/alpha (the mean rate)
    h = 1e-6
    assert float(bg.expected_purchases(h)) / h == pytest.approx(r / al, rel=1e-3)


def test_gamma_gamma_expected_profit_formula():
    gg = GammaGamma()
    gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    got = gg.conditional_expected_average_profit([2, 0], [22.35, 0.0])
    assert got[0] == pytest.approx(6.25 * (15.44 + 2 * 22.35) / (6.25 * 2 + 3.74 - 1))
    assert got[1] == pytest.approx(6.25 * 15.44 / 2.74)


def test_clv_sum_matches_hand_sum():
    bg = _fhl_model()
    gg = GammaGamma()
    gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    clv = customer_lifetime_value(bg, gg, [2], [30.43], [38.86], [22.35], time=3,
                                  discount_rate=0.1, freq="W", margin=0.5)
    k = 30 / 7
    ey = [float(bg.conditional_expected_purchases(i * k, 2, 30.43, 38.86)) for i in range(4)]
    z = float(gg.conditional_expected_average_profit([2], [22.35])[0])
    hand = sum(0.5 * z * (ey[i] - ey[i - 1]) / 1.1 ** i for i in range(1, 4))
    assert clv[0] == pytest.approx(hand)
    assert gg.customer_lifetime_value(bg, [2], [30.43], [38.86], [22.35], time=3,
                                      discount_rate=0.1, margin=0.5)[0] == pytest.approx(hand)


def test_bad_input(raw):
    with pytest.raises(ColumnError) as info:
        summary_from_transactions(raw, customer_col="cid", date_col="date", amount_col="amount")
    assert info.value.field == "cid"
    with pytest.raises(ConfigError):
        summary_from_transactions(raw, date_col="date", amount_col="amount", freq="Q")
    with pytest.raises(ConfigError):
        BetaGeo().probability_alive(1, 1, 2)
    with pytest.raises(ConfigError):
        GammaGamma().fit([0, 0], [0.0, 0.0])
