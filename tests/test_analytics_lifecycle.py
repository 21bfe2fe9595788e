"""Status types: a hand-worked world where each rule decides exactly one customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import STATUS_TYPES, status_types
from simcrm.errors import ColumnError


def test_each_rule_on_a_hand_worked_example():
    customers = pd.DataFrame({"id": [10, 11, 12, 13, 14, 15, 16, 17, 18],
                              "lifecycle": ["潜在", "潜在", "签约", "重复购买", "重复购买", "失效", "重复购买", "签约",
                                            "失效"]})
    orders = pd.DataFrame({
        "customer_id": [12, 13, 13, 14, 14, 14, 14, 15, 16, 16, 16, 16, 17, 17],
        "approval": ["同意", "同意", "同意", "同意", "同意", "同意", "同意", "同意",
                     "同意", "同意", "同意", "同意", "否决", "同意"],
        "order_date": pd.to_datetime(["2025-06-01", "2025-01-01", "2025-03-01", "2024-01-01", "2024-06-01",
                                      "2025-01-01", "2025-10-01", "2025-01-01", "2024-01-01", "2024-02-01",
                                      "2024-03-01", "2025-01-01", "2025-01-01", "2026-02-01"]),
    })
    opps = pd.DataFrame({"customer_id": [11, 12, 18]})
    got = status_types(customers, orders, opps, as_of="2025-12-31").set_index("customer_id")
    # worked by hand from the rules in the module docstring:
    expected = {10: "潜在客户", 11: "目标客户", 12: "初次购买客户", 13: "重复购买客户", 14: "忠实客户",
                15: "流失客户",
                16: "重复购买客户",   # 4 orders but the last is 364 days old: not loyal
                17: "潜在客户",       # one order rejected, the other after as_of
                18: "非客户"}         # pursued, then written off (失效) without ever buying
    assert got["status_type"].to_dict() == expected
    assert got.loc[14, "orders"] == 4 and got.loc[17, "orders"] == 0
    assert set(expected.values()) == set(STATUS_TYPES)


def test_missing_column_is_named():
    with pytest.raises(ColumnError) as info:
        status_types(pd.DataFrame({"id": [1]}), pd.DataFrame(columns=["customer_id", "approval", "order_date"]),
                     pd.DataFrame({"customer_id": []}), as_of="2025-01-01")
    assert "lifecycle" in str(info.value)


# --- lifecycle_stages: the theory's stages, worked by hand ------------------------------------------------

def _monthly(cid, first, last, amount):
    days = pd.date_range(first, last, freq="MS") + pd.Timedelta(days=14)  # the 15th of each month
    return [(cid, d, amount) for d in days]


def _stage_world():
    rows = [(2, pd.Timestamp("2025-12-01"), 100.0)]
    rows += _monthly(3, "2023-01-01", "2025-12-01", 100.0)                     # 36 orders, steady
    rows += [(4, pd.Timestamp(d), 100.0) for d in ("2025-03-01", "2025-05-01", "2025-07-01", "2025-09-01",
                                                  "2025-11-01")]
    rows += _monthly(5, "2024-01-01", "2024-12-01", 1000.0) + _monthly(5, "2025-01-01", "2025-12-01", 300.0)
    rows += _monthly(6, "2023-01-01", "2024-06-01", 100.0)                     # stopped in June 2024
    rows += [(7, pd.Timestamp("2025-10-17") - pd.Timedelta(days=30 * k), 100.0) for k in range(7)]
    rows += [(8, pd.Timestamp("2023-06-30"), 100.0)]
    rows += [(9, pd.Timestamp(d), a) for d, a in (("2024-03-01", 500.0), ("2024-09-01", 500.0), ("2025-03-01", 750.0),
                                                 ("2025-06-01", 750.0), ("2025-09-01", 750.0), ("2025-12-01", 750.0))]
    rows += [(10, pd.Timestamp("2025-11-01"), 100.0), (10, pd.Timestamp("2025-12-01"), 100.0)]
    rows += [(11, pd.Timestamp("2025-12-10"), 100.0), (11, pd.Timestamp("2025-12-10"), 50.0)]  # two orders, one day
    orders = pd.DataFrame(rows, columns=["customer_id", "order_date", "total_amount"])
    orders["approval"] = "同意"
    extra = pd.DataFrame({"customer_id": [10, 10], "order_date": pd.to_datetime(["2025-12-20", "2026-01-05"]),
                          "total_amount": [9999.0, 9999.0], "approval": ["否决", "同意"]})  # rejected; after as_of
    customers = pd.DataFrame({"id": list(range(1, 12)),
                              "lifecycle": ["潜在", "签约", "重复购买", "重复购买", "重复购买", "失效", "重复购买", "失效",
                                            "重复购买", "重复购买", "重复购买"]})
    return customers, pd.concat([orders, extra], ignore_index=True)


# own rhythms (last − first purchase day) / (purchase days − 1), worked from the dates above:
# c3 2023-01-15→2025-12-15 = 1065 d / 35; c4 2025-03-01→11-01 = 245 d / 4; c5 2024-01-15→2025-12-15 = 700 d / 23;
# c6 2023-01-15→2024-06-15 = 517 d / 17; c7 180 d / 6; c9 2024-03-01→2025-12-01 = 640 d / 5.
# c2, c8 (one purchase day) and c10 (two) have none: they are judged against the median of these.
OWN = {3: 1065 / 35, 4: 245 / 4, 5: 700 / 23, 6: 517 / 17, 7: 180 / 6, 9: 640 / 5}


def test_lifecycle_stages_on_a_hand_worked_example():
    from simcrm.analytics import lifecycle_stages

    customers, orders = _stage_world()
    got = lifecycle_stages(customers, orders, as_of="2025-12-31").set_index("customer_id")
    pop = float(np.median(list(OWN.values())))
    assert got.attrs["population_rhythm_days"] == pytest.approx(pop)
    for cid, r in OWN.items():
        assert got.loc[cid, "rhythm_days"] == pytest.approx(r) and got.loc[cid, "rhythm_source"] == "own"
    for cid in (2, 8, 10, 11):
        assert got.loc[cid, "rhythm_days"] == pytest.approx(pop) and got.loc[cid, "rhythm_source"] == "population"
    assert got.loc[10, "orders"] == 2                      # the rejected and the future order do not count
    # spending in (2024-12-31, 2025-12-31] vs (2024-01-01, 2024-12-31]
    assert (got.loc[5, "spend_recent"], got.loc[5, "spend_previous"]) == (3600.0, 12000.0)
    assert (got.loc[9, "spend_recent"], got.loc[9, "spend_previous"]) == (3000.0, 1000.0)
    expected = {
        1: "潜在客户期",   # never bought
        2: "客户获取期",   # one order 30 days ago: 30 / ~30.4 < 2
        3: "客户成熟期",   # steady 1200 / 1200 for three years, 16 days since the last
        4: "客户成长期",   # tenure 305 days < 365, not overdue (60 / 61.25)
        5: "客户衰退期",   # spending 3600 < 0.7 × 12000, although it still buys every month
        6: "客户衰退期",   # 564 days since the last, rhythm ~30.4: 18.5 × its rhythm
        7: "客户衰退期",   # 75 days since the last, rhythm 30: 2.5 ≥ 2
        8: "客户衰退期",   # one order 915 days ago, against the population's rhythm
        9: "客户成长期",   # 3000 > 1.2 × 1000, tenure 670 days
        10: "客户成长期",  # two orders, tenure 60 days
        11: "客户获取期",  # two orders on one day: bought once
    }
    assert got["stage"].to_dict() == expected
    assert got.loc[5, "crm_lifecycle"] == "重复购买"      # the CRM field says nothing of the decline

    term = lifecycle_stages(customers, orders, as_of="2025-12-31", scheme="termination").set_index("customer_id")
    # overdue ≥ 4 → 终止期 (c6 18.5, c8 ~30); c7 (2.5) only declines; 潜在 and 获取 merge into 潜在获取期
    assert term["stage"].to_dict() == {**expected, 1: "潜在获取期", 2: "潜在获取期", 6: "客户终止期", 8: "客户终止期",
                                       11: "潜在获取期"}


def test_lifecycle_stage_thresholds_can_be_overridden():
    from simcrm.analytics import lifecycle_stages

    customers, orders = _stage_world()
    got = lifecycle_stages(customers, orders, as_of="2025-12-31", decline_ratio=3.0).set_index("customer_id")
    assert got.loc[7, "stage"] == "客户成长期"             # 2.5 < 3; tenure 255 days
    got = lifecycle_stages(customers, orders, as_of="2025-12-31", population_rhythm_days=10).set_index("customer_id")
    assert got.loc[2, "stage"] == "客户衰退期" and got.loc[10, "stage"] == "客户衰退期"   # 30 / 10 = 3 ≥ 2
    assert got.loc[3, "stage"] == "客户成熟期"             # own rhythm unaffected
    got = lifecycle_stages(customers, orders, as_of="2025-12-31", drop=0.8).set_index("customer_id")
    assert got.loc[5, "stage"] == "客户成熟期"             # 3600 ≥ 0.2 × 12000 and tenure ≥ 365


def test_lifecycle_stages_bad_scheme_is_named():
    from simcrm.analytics import lifecycle_stages
    from simcrm.errors import ConfigError

    customers, orders = _stage_world()
    with pytest.raises(ConfigError) as info:
        lifecycle_stages(customers, orders, as_of="2025-12-31", scheme="五阶段")
    assert "scheme" in str(info.value) and "acquisition" in str(info.value)
    with pytest.raises(ConfigError) as info:
        lifecycle_stages(customers, orders.iloc[:1], as_of="2025-12-31", min_rhythm_orders=3)
    assert "population_rhythm_days" in str(info.value)
