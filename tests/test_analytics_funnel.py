"""Sales funnel and forecast vs quota against hand counts."""

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import STAGES, forecast_vs_quota, funnel
from simcrm.errors import ColumnError


@pytest.fixture
def opp():
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "owner_id": [10, 10, 20, 20, 20],
        "amount": [100.0, 200.0, 300.0, 400.0, 500.0],
        "stage": ["初期沟通", "需求分析", "合同签约", "商务谈判", "方案制定"],
        "probability": [10, 30, 100, 0, 50],
        "status": ["跟踪", "跟踪", "成功", "失败", "跟踪"],
        "created_at": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-10", "2025-02-01", "2025-02-10"]),
        "closed_at": pd.to_datetime([None, None, "2025-03-01", "2025-03-05", None]),
        "expected_close": pd.to_datetime(["2025-08-01", "2025-09-30", "2025-03-01", "2025-03-05", "2025-10-01"]),
    })


@pytest.fixture
def history():
    return pd.DataFrame({
        "opportunity_id": [1, 2, 2, 4, 4],
        "stage": ["初期沟通", "初期沟通", "需求分析", "初期沟通", "商务谈判"],
        "entered_at": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-15", "2025-02-01", "2025-02-11"]),
        "left_at": pd.to_datetime([None, "2025-01-15", None, "2025-02-11", "2025-03-05"]),
    })


def test_funnel_without_history(opp):
    f = funnel(opp)
    assert f["stage"].tolist() == list(STAGES)
    assert f["count"].tolist() == [1, 0, 1, 1, 0, 0, 0]
    assert f["weighted_amount"].tolist() == [10.0, 0, 60.0, 250.0, 0, 0, 0]
    # stage index now: 0, 2, won->6, 5, 3
    assert f["reached"].tolist() == [5, 4, 4, 3, 2, 2, 1]
    assert f["conversion"].iloc[0] == pytest.approx(0.8)
    assert np.isnan(f["conversion"].iloc[-1])
    assert f.attrs["win_rate"] == 0.5
    assert f.attrs["cycle_days"] == 50.0


def test_funnel_with_history_days_in_stage(opp, history):
    f = funnel(opp, stage_history=history, as_of="2025-01-21")
    days = dict(zip(f["stage"], f["avg_days_in_stage"]))
    # 初期沟通: opp1 open 01-01..01-21 = 20, opp2 10, opp4 10 -> 40/3
    assert days["初期沟通"] == pytest.approx(40 / 3)
    assert days["需求分析"] == pytest.approx(6)
    assert days["商务谈判"] == pytest.approx(22)
    assert np.isnan(days["立项评估"])


def test_funnel_missing_column(opp):
    with pytest.raises(ColumnError) as info:
        funnel(opp.drop(columns="probability"))
    assert info.value.field == "probability"


def test_forecast_vs_quota(opp):
    quotas = pd.DataFrame({"employee_id": [10, 20, 20], "period": ["2025Q3", "2025Q3", "2025Q1"],
                           "amount": [200.0, 1000.0, 300.0]})
    q3 = forecast_vs_quota(opp, quotas, "2025Q3").set_index("owner_id")
    assert q3.loc[10, "weighted_pipeline"] == pytest.approx(10 + 60)
    assert q3.loc[20, "forecast"] == 0.0  # opp 5 expected in Q4
    assert q3.loc[10, "forecast_attainment"] == pytest.approx(70 / 200)
    q1 = forecast_vs_quota(opp, quotas, "2025Q1").set_index("owner_id")
    assert q1.loc[20, "won"] == 300.0 and q1.loc[20, "attainment"] == pytest.approx(1.0)
    m = forecast_vs_quota(opp, quotas, "2025-03")
    assert m.set_index("owner_id").loc[20, "won"] == 300.0
    with pytest.raises(ColumnError) as info:
        forecast_vs_quota(opp, quotas.rename(columns={"employee_id": "emp"}), "2025Q3")
    assert info.value.field == "employee_id"


def test_closed_opportunities_leave_their_stage_on_the_close_date():
    """Days in stage end at the close date for 成功/失败/失效 opportunities, not at the analysis date.

    Worked by hand (as_of 2025-06-30):
    A 成功 closed 03-01: 初期沟通 01-01→01-11 = 10; 合同签约 01-11→(close 03-01) = 49; the 成功 row is the close itself.
    B 失败 closed 02-10: 初期沟通 01-05→01-25 = 20; 立项评估 01-25→02-10 = 16; the 失败 row is the close itself.
    C 跟踪 (open):       初期沟通 03-01→(as_of 06-30) = 121.
    D 失效 closed 04-01: 立项评估 03-02→(close 04-01) = 30 (no closing row recorded).
    → 初期沟通 (10 + 20 + 121) / 3, 立项评估 (16 + 30) / 2, 合同签约 49.
    (Counting closed stays up to as_of, as before, gave 合同签约 (170 + 121) / 2 = 145.5.)
    """
    opp = pd.DataFrame({"id": [1, 2, 3, 4], "amount": [100.0] * 4, "stage": ["合同签约", "立项评估", "初期沟通", "立项评估"],
                        "probability": [100, 0, 10, 20], "status": ["成功", "失败", "跟踪", "失效"],
                        "closed_at": pd.to_datetime(["2025-03-01", "2025-02-10", None, "2025-04-01"])})
    history = pd.DataFrame({
        "opportunity_id": [1, 1, 1, 2, 2, 2, 3, 4],
        "stage": ["初期沟通", "合同签约", "合同签约", "初期沟通", "立项评估", "立项评估", "初期沟通", "立项评估"],
        "status": ["跟踪", "跟踪", "成功", "跟踪", "跟踪", "失败", "跟踪", "跟踪"],
        "entered_at": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-03-01", "2025-01-05", "2025-01-25", "2025-02-10",
                                      "2025-03-01", "2025-03-02"]),
        "left_at": pd.to_datetime(["2025-01-11", None, None, "2025-01-25", "2025-02-10", None, None, None]),
    })
    expected = {"初期沟通": (10 + 20 + 121) / 3, "立项评估": (16 + 30) / 2, "合同签约": 49.0}
    for h in (history, history.drop(columns="status")):  # the close rows are found by date without `status`
        f = funnel(opp, stage_history=h, as_of="2025-06-30")
        days = dict(zip(f["stage"], f["avg_days_in_stage"]))
        for stage, d in expected.items():
            assert days[stage] == pytest.approx(d), stage
        assert np.isnan(days["需求分析"])
