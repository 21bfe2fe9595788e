"""Status types: a hand-worked world where each rule decides exactly one customer."""

from __future__ import annotations

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
