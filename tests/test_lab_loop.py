"""The closed loop: next_quarter() in the kernel and the referee's replay agree, and are deterministic."""

from __future__ import annotations

import pandas as pd
import pytest

from simcrm.lab import start
from simcrm.lab.loop import decisions, replay
from simcrm.lab.questions import Context


def _care_for(lab, n: int) -> list[int]:
    """Record phone care for the first ``n`` customers of the world, as a student would."""
    ids = lab.table("customer")["id"].head(n).tolist()
    for cid in ids:
        lab.admin.plan_care(cid, "关怀活动", "电话回访", lab.today, channel="电话")
    return ids


def _outcome(store) -> pd.DataFrame:
    """Orders per customer after the world's 'today' at the time of the decision."""
    orders = store.read("sales_order", columns=["customer_id", "order_date", "total_amount"])
    return orders.sort_values(["customer_id", "order_date", "total_amount"]).reset_index(drop=True)


@pytest.mark.slow
def test_next_quarter_moves_the_clock_and_matches_the_replay(tmp_path):
    lab = start("ch07", student="loop-test", customers=400, quiet=True)
    today = lab.today
    _care_for(lab, 30)
    lab.next_quarter()
    assert (lab.today - today).days == 91
    assert lab.crm.now.date() == lab.today  # the CRM's clock follows the quarter
    assert lab.quarters == [91]
    ctx = Context(pristine=lab.pristine, store=lab.store, world=None, chapter="ch07")
    # the referee's replay uses a world as generated; here the kernel's own seed stands in
    other = start("ch07", student="loop-test", customers=400, quiet=True)
    ctx.world = other.world
    chosen = decisions(lab.pristine, lab.store)
    assert len(chosen["care"]) == 30
    replayed = replay(ctx)
    pd.testing.assert_frame_equal(_outcome(replayed), _outcome(lab.store))


@pytest.mark.slow
def test_decisions_change_the_outcome_and_a_forged_outcome_does_not_reach_the_replay():
    a = start("ch07", student="loop-test", customers=400, quiet=True)
    b = start("ch07", student="loop-test", customers=400, quiet=True)
    _care_for(a, 200)
    a.next_quarter()
    b.next_quarter()
    assert not _outcome(a.store).equals(_outcome(b.store))
    # a student who writes fake orders into their own database changes nothing in the replay
    ref = start("ch07", student="loop-test", customers=400, quiet=True)
    ctx = Context(pristine=b.pristine, store=b.store, world=ref.world, chapter="ch07")
    before = _outcome(replay(ctx))
    with b.store.transaction() as cx:
        cx.exec_driver_sql("UPDATE sales_order SET total_amount = total_amount * 10")
    ctx2 = Context(pristine=b.pristine, store=b.store, world=ref.world, chapter="ch07")
    pd.testing.assert_frame_equal(_outcome(replay(ctx2)), before)


def test_next_quarter_refuses_bad_days():
    from simcrm.errors import ConfigError

    lab = start("ch07", student="loop-test", customers=200, quiet=True)
    for bad in (0, -91, 1000, 9.5, "91", True):
        with pytest.raises(ConfigError, match="天数"):
            lab.next_quarter(bad)
    assert lab.quarters == []
