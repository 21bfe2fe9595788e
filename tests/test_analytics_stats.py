"""Distribution, contribution, growth, receivables aging and data quality vs hand-worked answers."""

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import contribution, data_quality, distribution, growth, receivables_aging
from simcrm.errors import ColumnError, ConfigError


@pytest.fixture
def sales():
    return pd.DataFrame({"region": ["华东", "华北", "华东", "华南", "华东", "华北"],
                         "amount": [10.0, 20.0, 30.0, 5.0, 10.0, 25.0]})


def test_distribution(sales):
    out = distribution(sales, "region")
    assert out["region"].tolist() == ["华东", "华北", "华南"]
    assert out["count"].tolist() == [3, 2, 1]
    assert out["share"].tolist() == pytest.approx([0.5, 1 / 3, 1 / 6])
    v = distribution(sales, ["region"], value="amount")
    assert v["region"].tolist() == ["华东", "华北", "华南"]
    assert v["value_share"].tolist() == pytest.approx([0.5, 0.45, 0.05])
    with pytest.raises(ColumnError) as info:
        distribution(sales, "province")
    assert info.value.field == "province"


def test_contribution(sales):
    out = contribution(sales, "region", "amount")
    assert out["amount"].tolist() == [50.0, 45.0, 5.0]
    assert out["cum_share"].tolist() == pytest.approx([0.5, 0.95, 1.0])
    assert out["rank"].tolist() == [1, 2, 3]
    with pytest.raises(ColumnError):
        contribution(sales.assign(amount="x"), "region", "amount")


def test_growth_monthly_by_group():
    df = pd.DataFrame({"d": pd.to_datetime(["2024-01-10", "2024-02-10", "2025-01-03", "2024-01-20"]),
                       "a": [100.0, 120.0, 130.0, 10.0], "rep": ["x", "x", "x", "y"]})
    out = growth(df, "d", "a", freq="M", by="rep")
    x = out[out.rep == "x"].set_index("period")
    assert len(x) == 13  # 2024-01 .. 2025-01 filled
    assert x.loc["2024-02", "growth_rate"] == pytest.approx(0.2)
    assert x.loc["2025-01", "yoy_rate"] == pytest.approx(0.3)
    assert out[out.rep == "y"]["amount"].tolist() == [10.0]
    y = growth(df, "d", "a", freq="Y")
    assert y["amount"].tolist() == [230.0, 130.0]
    assert y["yoy_rate"].tolist() == pytest.approx([np.nan, 130 / 230 - 1], nan_ok=True)
    with pytest.raises(ConfigError):
        growth(df, "d", "a", freq="W")


def test_receivables_aging_buckets_and_fifo():
    plans = pd.DataFrame({"order_id": [1, 1, 1, 1, 2],
                          "customer_id": [1, 1, 1, 1, 2],
                          "due_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-03-31", "2025-04-01"]),
                          "amount": [100.0, 100.0, 100.0, 100.0, 100.0]})
    pays = pd.DataFrame({"order_id": [1, 1], "paid_date": pd.to_datetime(["2025-01-15", "2025-05-01"]),
                         "amount": [120.0, 500.0]})
    out = receivables_aging(plans, pays, as_of="2025-04-01").set_index("customer_id")
    # as_of 04-01: days overdue 90, 59, 31, 1; FIFO: inst1 paid, inst2 owes 80; 2nd payment is later
    assert out.loc[1, "61-90"] == 0.0  # the 90-days instalment is fully paid
    assert out.loc[1, "31-60"] == pytest.approx(80 + 100)
    assert out.loc[1, "0-30"] == pytest.approx(100)
    assert out.loc[1, "total_overdue"] == pytest.approx(280)
    assert out.loc[2, "not_due"] == 100.0  # due today is not past due
    total = receivables_aging(plans, pays, as_of="2025-07-01", by=None)
    assert total["total_overdue"].tolist() == [100.0]  # only order 2's instalment, 91 days
    assert total[">90"].tolist() == [100.0]
    with pytest.raises(ColumnError):
        receivables_aging(plans.drop(columns="due_date"), pays, as_of="2025-04-01")


def test_data_quality():
    df = pd.DataFrame({"code": ["C1", "C2", "C2", " ", None], "age": [20, -1, 30, 30, np.nan]})
    out = data_quality(df, validators={"age": lambda s: s.between(0, 120)}, key="code").set_index("column")
    assert out.loc["code", "missing"] == 2
    assert out.loc["code", "duplicate"] == 1
    assert out.loc["age", "invalid"] == 1
    assert out.loc["age", "missing"] == 1
    assert out.loc["age", "duplicate"] == 1
    assert out.loc["<key: code>", "duplicate"] == 1
    with pytest.raises(ColumnError):
        data_quality(df, validators={"mobile": lambda s: s.notna()})


def test_receivables_aging_ignores_float_remainders_of_paid_instalments():
    # three instalments of 100/3 paid by three payments of the same float: fully paid
    third = 100 / 3
    plans = pd.DataFrame({"order_id": [1, 1, 1], "customer_id": [7, 7, 7], "amount": [third] * 3,
                          "due_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])})
    pays = pd.DataFrame({"order_id": [1, 1, 1], "amount": [33.333333, 33.333333, 33.333334],
                         "paid_date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])})
    out = receivables_aging(plans, pays, as_of="2025-06-30")
    assert out["total_overdue"].sum() == 0
