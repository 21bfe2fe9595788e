"""ABC, Pareto, pyramid, CLV quadrant, HSBC grading against hand-worked and brute-force answers."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import (
    PYRAMID_LEVELS_FOUR,
    abc,
    clv_quadrant,
    customer_pyramid,
    hsbc_grade,
    pareto_share,
)
from simcrm.errors import ColumnError, ConfigError


def _brute_abc(values, a=0.8, b=0.95):
    total = sum(values)
    out = []
    for v in values:
        cum = sum(w for w in values if w >= v) / total
        top = v == max(values)
        out.append("A" if cum <= a + 1e-12 or top else "B" if cum <= b + 1e-12 else "C")
    return out


def test_abc_hand_worked():
    # total 200; sorted 100, 60, 20, 10, 6, 4 -> cum .5 .8 .9 .95 .98 1.0
    s = pd.Series([10, 100, 4, 60, 20, 6], index=list("uvwxyz"))
    out = abc(s)
    assert out.index.tolist() == list("uvwxyz")
    assert out.tolist() == ["B", "A", "C", "A", "B", "C"]


def test_abc_ties_same_class_and_block_goes_down():
    # 40, 40 tied: block ends at 0.8 -> both A; 10, 10 tied: block ends at 1.0 -> both C
    assert abc([40, 10, 40, 10]).tolist() == ["A", "C", "A", "C"]
    # tied block straddling 0.8: 50, 20, 20, 10 -> block of 20s ends at 0.9 -> both B
    assert abc([50, 20, 20, 10]).tolist() == ["A", "B", "B", "C"]


def test_abc_one_customer_above_the_a_cutoff_is_a():
    # 85 alone is 85% of the total (> 80%): still the most important customer, class A
    assert abc([10, 85, 5]).tolist() == ["B", "A", "C"]
    # two tied customers holding 45% each: both A
    assert abc([45, 45, 10]).tolist() == ["A", "A", "C"]
    # a single customer is A
    assert abc([7.0]).tolist() == ["A"]


def test_abc_matches_brute_force_and_order_free():
    rng = np.random.default_rng(3)
    for _ in range(20):
        v = rng.integers(0, 20, 30).astype(float)
        v[0] += 1
        assert abc(v).tolist() == _brute_abc(v.tolist())
        perm = rng.permutation(30)
        assert abc(v[perm]).tolist() == [_brute_abc(v.tolist())[i] for i in perm]


def test_abc_bad_input():
    with pytest.raises(ConfigError):
        abc([1, -2, 3])
    with pytest.raises(ColumnError):
        abc(["a", "b"])
    with pytest.raises(ConfigError):
        abc([1, 2], cutoffs=(0.9, 0.8))


@pytest.mark.parametrize("n, top, k", [(10, 0.2, 2), (7, 0.2, 2), (30, 0.1, 3), (3, 0.2, 1), (5, 1.0, 5)])
def test_pareto_uses_ceil(n, top, k):
    values = list(range(1, n + 1))
    expected = sum(sorted(values, reverse=True)[:k]) / sum(values)
    assert pareto_share(values, top=top) == pytest.approx(expected)


def test_pareto_hand_worked():
    assert pareto_share([80, 5, 5, 5, 5]) == pytest.approx(0.8)


def _brute_pyramid(values, shares):
    n = len(values)
    limits = list(itertools.accumulate(shares))
    out = []
    for v in values:
        rank = 1 + sum(1 for w in values if w > v)
        level = next((i for i, c in enumerate(limits) if rank <= math.ceil(c * n - 1e-9)), len(shares))
        out.append(level)
    return out


def test_pyramid_default_three_tiers_on_200_customers():
    rng = np.random.default_rng(5)
    profit = rng.integers(-20, 50, 200).astype(float)
    out = customer_pyramid(pd.DataFrame({"profit": profit}))
    names = ["关键客户", "普通客户", "小客户"]
    assert out["level"].tolist() == [names[i] for i in _brute_pyramid(profit.tolist(), [0.2, 0.3])]
    # distinct values: exactly 40 / 60 / 100
    out2 = customer_pyramid(pd.DataFrame({"profit": rng.permutation(200).astype(float)}))
    assert out2["level"].value_counts().reindex(names).tolist() == [40, 60, 100]


def test_pyramid_four_tier_variant():
    rng = np.random.default_rng(6)
    profit = rng.integers(0, 50, 200).astype(float)
    out = customer_pyramid(pd.DataFrame({"profit": profit}), levels=PYRAMID_LEVELS_FOUR)
    names = ["VIP客户", "主要客户", "普通客户", "小客户"]
    assert out["level"].tolist() == [names[i] for i in _brute_pyramid(profit.tolist(), [0.01, 0.04, 0.15])]
    out2 = customer_pyramid(pd.DataFrame({"profit": rng.permutation(200).astype(float)}), levels=PYRAMID_LEVELS_FOUR)
    assert out2["level"].value_counts().reindex(names).tolist() == [2, 8, 30, 160]
    with pytest.raises(ConfigError) as info:
        customer_pyramid(pd.DataFrame({"profit": profit}), levels=("金", "银"))
    assert info.value.field == "shares"


def test_pyramid_revenue_column_and_missing():
    df = pd.DataFrame({"revenue": [5.0, 1.0]})
    assert customer_pyramid(df, value_col="revenue", shares=(0.5,), levels=("大", "小"))["level"].tolist() == ["大", "小"]
    with pytest.raises(ColumnError) as info:
        customer_pyramid(df)
    assert info.value.field == "profit"
    with pytest.raises(ConfigError):
        customer_pyramid(df, value_col="revenue", shares=(0.5,))


def test_clv_quadrant_medians_and_thresholds():
    df = pd.DataFrame({"cv": [1, 2, 3, 4, 5], "pv": [5, 1, 4, 2, 3]})
    # nobody below zero; medians 3 and 3; high means > 3; low potential is 维持型
    out = clv_quadrant(df, current_col="cv", potential_col="pv")
    assert out["quadrant"].tolist() == ["改进型", "维持型", "改进型", "维持型", "维持型"]
    out = clv_quadrant(df, current_col="cv", potential_col="pv", current_threshold=0, potential_threshold=1.5)
    assert out["quadrant"].tolist() == ["贵宾型", "维持型", "贵宾型", "贵宾型", "贵宾型"]
    with pytest.raises(ColumnError):
        clv_quadrant(df)


def test_clv_quadrant_below_zero_is_a_loss_not_a_median_split():
    # profits: customer 4 costs more than it brings (−30 + 10 < 0); customer 5 lost money in
    # the past but its future covers it (−10 + 40 ≥ 0); the medians are taken without customer 4
    df = pd.DataFrame({"cv": [100.0, 5.0, 80.0, -30.0, -10.0, 1.0],
                       "pv": [90.0, 60.0, 2.0, 10.0, 40.0, 0.0]})
    out = clv_quadrant(df, current_col="cv", potential_col="pv")
    # without customer 4: cv median of [100, 5, 80, -10, 1] = 5; pv median of [90, 60, 2, 40, 0] = 40
    assert out["quadrant"].tolist() == ["贵宾型", "改进型", "维持型", "放弃型", "维持型", "维持型"]
    assert out["below_zero"].tolist() == [False, False, False, True, False, False]
    # every customer with a positive total is never 放弃型, however small
    tiny = pd.DataFrame({"cv": [0.01, 0.02, 0.03], "pv": [0.0, 0.0, 0.0]})
    assert "放弃型" not in clv_quadrant(tiny, current_col="cv", potential_col="pv")["quadrant"].tolist()
    # the narrow CLV: customer 5 (future 40) stays, a customer with a negative future goes
    narrow = clv_quadrant(pd.DataFrame({"cv": [500.0, 1.0], "pv": [-1.0, 3.0]}), current_col="cv",
                          potential_col="pv", below_zero_on="potential")
    assert narrow["quadrant"].tolist() == ["放弃型", "维持型"]
    with pytest.raises(ConfigError) as info:
        clv_quadrant(df, current_col="cv", potential_col="pv", below_zero_on="median")
    assert info.value.field == "below_zero_on"


def test_hsbc_override_thresholds_and_names():
    df = pd.DataFrame({"p": [100.0, 100.0, 5.0, 5.0], "freq": [3, 1, 3, 1]})
    out = hsbc_grade(df, value_col="p", loyalty_col="freq", value_threshold=50,
                     loyalty_threshold=2, names={"A": "钻石"})
    assert out["grade"].tolist() == ["A", "B", "C", "D"]
    assert out["grade_name"].iloc[0] == "钻石"
    with pytest.raises(ColumnError) as info:
        hsbc_grade(df, value_col="p")
    assert info.value.field == "loyalty"
