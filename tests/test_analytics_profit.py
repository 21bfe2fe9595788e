"""Customer financial value (财务价值 = 交易收益 − 交易成本) against hand-worked examples."""

from __future__ import annotations

import pandas as pd
import pytest

from simcrm import reference
from simcrm.analytics import VALUE_COLUMNS, default_unit_costs, financial_value
from simcrm.analytics.profit import _NEEDED
from simcrm.errors import ColumnError, ConfigError


def _empty():
    return {name: pd.DataFrame({c: [] for c in cols}) for name, cols in _NEEDED.items()}


def _tables():
    """Two customers and a prospect; every cost line used once, one return, one period edge."""
    t = _empty()
    t["customer"] = pd.DataFrame({"id": [1, 2, 3, 4], "deleted": [False, False, False, True]})
    t["sales_order"] = pd.DataFrame({
        "id": [10, 11, 12, 13], "customer_id": [1, 1, 2, 2], "approval": ["同意", "同意", "否决", "同意"],
        "order_date": pd.to_datetime(["2025-03-01", "2024-12-31", "2025-04-01", "2025-05-01"])})
    t["order_line"] = pd.DataFrame({
        "id": [100, 101, 102, 103, 104], "order_id": [10, 10, 11, 12, 13], "product_id": [7, 8, 7, 7, 8],
        "quantity": [2.0, 1.0, 1.0, 5.0, 4.0], "amount": [1000.0, 300.0, 500.0, 2500.0, 1200.0]})
    t["product"] = pd.DataFrame({"id": [7, 8], "cost": [300.0, 100.0]})
    t["sales_return"] = pd.DataFrame({"id": [50], "order_id": [13], "return_date": pd.to_datetime(["2025-05-10"]),
                                      "amount": [300.0]})
    t["return_line"] = pd.DataFrame({"return_id": [50], "order_line_id": [104], "quantity": [1.0]})
    t["service_request"] = pd.DataFrame({"customer_id": [1], "opened_at": pd.to_datetime(["2025-03-05 10:00"])})
    t["complaint"] = pd.DataFrame({"customer_id": [2], "received_at": pd.to_datetime(["2025-05-12 09:00"])})
    t["return_visit"] = pd.DataFrame({"customer_id": [2], "visit_date": pd.to_datetime(["2025-05-20"])})
    t["activity"] = pd.DataFrame({
        "customer_id": [1, 1, 3, 3], "channel": ["面谈", "邮件", "电话", "电话"], "kind": ["记录", "记录", "记录", "日程"],
        "activity_time": pd.to_datetime(["2025-02-01 10:00", "2025-02-02 10:00", "2025-06-30 23:00",
                                         "2025-07-10 10:00"])})
    t["care"] = pd.DataFrame({"customer_id": [1, 2], "care_type": ["生日", "售后回访"],
                              "done_date": pd.to_datetime(["2025-06-01", None])})
    t["campaign"] = pd.DataFrame({"id": [5], "cost_per_contact": [30.0]})
    t["campaign_member"] = pd.DataFrame({"campaign_id": [5, 5], "customer_id": [3, 2],
                                         "contacted_at": pd.to_datetime(["2025-01-20 09:00", None])})
    return t


def test_hand_worked_whole_history():
    c = reference.COST_TO_SERVE
    out = financial_value(_tables()).set_index("customer_id")
    assert list(out.reset_index().columns) == list(VALUE_COLUMNS)
    assert out.index.tolist() == [1, 2, 3]            # the deleted customer 4 is left out
    # customer 1: orders 10 and 11 (both approved): 1000 + 300 + 500; goods 2×300 + 1×100 + 1×300
    assert out.loc[1, "revenue"] == 1800.0
    assert out.loc[1, "product_cost"] == 1000.0
    assert out.loc[1, "service_cost"] == c["service_request"]
    assert out.loc[1, "communication_cost"] == c["activity_channel"]["面谈"] + c["activity_channel"]["邮件"]
    assert out.loc[1, "care_cost"] == c["care_type"]["生日"]
    # customer 2: the rejected order does not count; order 13 minus the return of one unit
    assert out.loc[2, "revenue"] == 1200.0 - 300.0
    assert out.loc[2, "product_cost"] == 3 * 100.0
    assert out.loc[2, "service_cost"] == c["complaint"] + c["return_visit"]
    assert out.loc[2, "care_cost"] == 0.0              # planned, not done
    assert out.loc[2, "marketing_cost"] == 0.0         # control group: never contacted
    # the prospect: one call that happened (the planned one does not count) and one campaign contact
    assert out.loc[3, "revenue"] == 0.0
    assert out.loc[3, "communication_cost"] == c["activity_channel"]["电话"]
    assert out.loc[3, "marketing_cost"] == 30.0
    assert out.loc[3, "value"] < 0
    for cid in (1, 2, 3):
        row = out.loc[cid]
        costs = row[["product_cost", "service_cost", "communication_cost", "care_cost", "marketing_cost"]].sum()
        assert row["total_cost"] == pytest.approx(costs)
        assert row["value"] == pytest.approx(row["revenue"] - costs)


def test_period_is_inclusive_whole_days():
    out = financial_value(_tables(), start="2025-01-01", as_of="2025-06-30").set_index("customer_id")
    # order 11 (2024-12-31) is before the period
    assert out.loc[1, "revenue"] == 1300.0 and out.loc[1, "product_cost"] == 700.0
    # the call at 23:00 on the last day counts
    assert out.loc[3, "communication_cost"] == reference.COST_TO_SERVE["activity_channel"]["电话"]
    early = financial_value(_tables(), as_of="2025-05-05").set_index("customer_id")
    # the return of 2025-05-10 is after as_of: not yet deducted
    assert early.loc[2, "revenue"] == 1200.0


def test_unit_cost_overrides_and_store_source(tmp_path):
    out = financial_value(_tables(), unit_costs={"activity_channel": {"面谈": 1000}, "service_request": 0})
    row = out.set_index("customer_id").loc[1]
    assert row["communication_cost"] == 1000 + reference.COST_TO_SERVE["activity_channel"]["邮件"]
    assert row["service_cost"] == 0
    # the defaults are a copy: changing it does not change the reference data
    costs = default_unit_costs()
    costs["complaint"] = 1
    assert reference.COST_TO_SERVE["complaint"] != 1


@pytest.mark.parametrize("kwargs, field", [
    ({"unit_costs": {"travel": 5}}, "unit_costs"),
    ({"unit_costs": {"complaint": -1}}, "unit_costs['complaint']"),
    ({"unit_costs": {"activity_channel": 20}}, "unit_costs['activity_channel']"),
    ({"unit_costs": {"care_type": {"生日": "很多"}}}, "unit_costs['生日']"),
    ({"start": "2025-07-01", "as_of": "2025-06-30"}, "start"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        financial_value(_tables(), **kwargs)
    assert info.value.field == field


def test_missing_table_or_column():
    t = _tables()
    del t["care"]
    with pytest.raises(ColumnError) as info:
        financial_value(t)
    assert info.value.field == "care"
    t = _tables()
    t["product"] = t["product"].drop(columns="cost")
    with pytest.raises(ColumnError) as info:
        financial_value(t)
    assert info.value.field == "cost"


def test_on_a_seeded_world_row_by_row(tmp_path):
    """Three customers recomputed with plain loops over the store's rows."""
    from simcrm import generate

    w = generate(seed=5, customers=150, db=str(tmp_path / "w.sqlite"))
    s = w.store
    out = financial_value(s, as_of=w.today).set_index("customer_id")
    costs = reference.COST_TO_SERVE
    orders = {r["id"]: r for r in s.read("sales_order").to_dict("records")}
    product_cost = dict(zip(s.read("product")["id"], s.read("product")["cost"]))
    lines = s.read("order_line").to_dict("records")
    biggest = out["revenue"].idxmax()
    for cid in (int(biggest), int(out.index[0]), int(out["value"].idxmin())):
        rev = goods = 0.0
        for ln in lines:
            o = orders[ln["order_id"]]
            if o["customer_id"] == cid and o["approval"] == "同意":
                rev += ln["amount"]
                goods += ln["quantity"] * product_cost[ln["product_id"]]
        rl = s.read("return_line").to_dict("records")
        rets = s.read("sales_return")
        line_by_id = {ln["id"]: ln for ln in lines}
        for r in rets.to_dict("records"):
            o = orders[r["order_id"]]
            if o["customer_id"] == cid and o["approval"] == "同意":
                rev -= r["amount"]
                for x in rl:
                    if x["return_id"] == r["id"]:
                        goods -= x["quantity"] * product_cost[line_by_id[x["order_line_id"]]["product_id"]]
        comm = sum(costs["activity_channel"][a["channel"]] for a in s.read("activity").to_dict("records")
                   if a["customer_id"] == cid and a["kind"] == "记录")
        assert out.loc[cid, "revenue"] == pytest.approx(rev, abs=0.01)
        assert out.loc[cid, "product_cost"] == pytest.approx(goods, abs=0.01)
        assert out.loc[cid, "communication_cost"] == pytest.approx(comm, abs=0.01)
