"""销售机会看板 and 销售漏斗: buttons go through crm operations; the funnel is analytics.funnel."""

from __future__ import annotations

import numpy as np
import pytest

from crm_fixtures import small_world
from simcrm import analytics, reference
from simcrm.store.store import snapshot_equal
from simcrm.ui import screen
from simcrm.ui.board import FunnelChart, OpportunityBoard


@pytest.fixture
def world(store):
    return small_world(store)


def test_advance_changes_stage_and_probability(world):
    board = OpportunityBoard(world.as_rep1)
    assert world.o1 in board.cards and world.o3 not in board.cards  # rep2's opportunity is not shown
    board.cards[world.o1].forward.click()
    row = world.store.get("opportunity", world.o1)
    assert row["stage"] == reference.STAGES[1]
    assert row["probability"] == reference.STAGE_PROBABILITY[reference.STAGES[1]]
    assert board.last_call == f"crm.advance_opportunity({world.o1}, '立项评估')"
    board.cards[world.o1].forward.click()
    board.cards[world.o1].forward.click()
    row = world.store.get("opportunity", world.o1)
    assert (row["stage"], row["probability"]) == ("方案制定", 50)
    board.cards[world.o1].back.click()
    row = world.store.get("opportunity", world.o1)
    assert (row["stage"], row["probability"]) == ("需求分析", 30)
    # the card moved column: it is drawn in the 需求分析 column now
    column = board.columns_box.children[reference.STAGES.index("需求分析")]
    assert any("办公设备更新" in getattr(c.children[0], "value", "") for c in column.children[1:])
    # the funnel follows
    funnel = analytics.funnel(world.as_rep1.list("opportunity"))
    assert funnel.set_index("stage").loc["需求分析", "count"] == 1


def test_override_is_cleared_by_a_stage_change(world):
    world.as_rep1.set_probability_override(world.o1, 45)
    board = OpportunityBoard(world.as_rep1)
    board.cards[world.o1].forward.click()
    row = world.store.get("opportunity", world.o1)
    assert row["probability"] == 20 and row["probability_override"] is None


def test_win_and_lose(world):
    board = OpportunityBoard(world.as_rep1)
    before = world.store.snapshot()
    board.cards[world.o1].lose.click()   # no reason typed: refused, nothing written
    assert "失败原因" in board.message
    assert snapshot_equal(before, world.store.snapshot()) == []
    board.lose_reason.value = "价格高于竞争对手"
    board.cards[world.o1].lose.click()
    row = world.store.get("opportunity", world.o1)
    assert (row["status"], row["probability"], row["lost_reason"]) == ("失败", 0, "价格高于竞争对手")
    assert world.o1 not in board.cards
    o = world.as_rep1.create_opportunity(world.c2, "家用机", amount=5000)
    board.refresh()
    board.cards[o].win.click()
    assert world.store.get("opportunity", o)["probability"] == 100


def test_rep_does_not_see_other_reps_opportunities_on_the_board(world):
    assert set(OpportunityBoard(world.as_rep2).cards) == {world.o3}
    assert set(OpportunityBoard(world.as_rep3).cards) == set()
    assert set(OpportunityBoard(world.as_boss).cards) == {world.o1, world.o3}


def test_funnel_chart_is_analytics_funnel(world):
    chart = screen("funnel", world.as_boss)
    expected = analytics.funnel(world.as_boss.list("opportunity"), world.as_boss.list("opportunity_stage_history"),
                                as_of=world.as_boss.now)
    # computed by the database: counts equal, amounts to the cent, days to the millisecond
    assert chart.table["stage"].tolist() == expected["stage"].tolist()
    for col in ("count", "reached"):
        assert chart.table[col].tolist() == expected[col].tolist()
    for col in ("amount", "weighted_amount", "conversion", "avg_days_in_stage"):
        np.testing.assert_allclose(chart.table[col], expected[col], rtol=0, atol=1e-6, err_msg=col)
    assert chart.table.attrs["win_rate"] == pytest.approx(expected.attrs["win_rate"])
    data = chart.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert data["data"][0]["type"] == "funnel"
    assert data["data"][0]["x"] == expected["count"].tolist()
    assert "销售漏斗" in data["layout"]["title"]["text"]
    chart.measure.value = "weighted_amount"
    data = chart.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert data["data"][0]["x"] == pytest.approx(expected["weighted_amount"].tolist())


def test_many_opportunities_show_a_limited_number_of_cards(world):
    for i in range(20):
        world.as_rep1.create_opportunity(world.c1, f"批量商机 {i}", amount=1000 + i)
    board = OpportunityBoard(world.as_rep1, max_cards=5)
    assert len(board.cards) == 5 and len(board.opportunities) == 21  # o1 and the 20 new ones
    assert "还有 16 个" in board.columns_box.children[0].children[-1].value
