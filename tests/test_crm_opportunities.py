"""The opportunity invariant holds after any sequence of changes (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simcrm import reference
from simcrm.errors import SimCRMError, StateTransitionError
from simcrm.store import Store

from crm_fixtures import Clock, small_world

STAGES = list(reference.STAGES)

actions = st.one_of(
    st.tuples(st.just("advance"), st.sampled_from(STAGES + ["不存在"])),
    st.tuples(st.just("override"), st.one_of(st.none(), st.integers(-10, 110), st.floats(0, 100))),
    st.tuples(st.just("bulk_stage"), st.sampled_from(STAGES)),
    st.tuples(st.just("bulk_override"), st.one_of(st.none(), st.integers(0, 100))),
    st.tuples(st.just("bulk_status"), st.sampled_from(reference.state_values("opportunity_status"))),
    st.tuples(st.sampled_from(["win", "lose", "shelve", "resume", "expire"]), st.none()),
)


def _assert_invariant(store, ids):
    for oid in ids:
        o = store.get("opportunity", oid)
        if o["status"] == "成功":
            assert o["probability"] == 100
        elif o["status"] == "失败":
            assert o["probability"] == 0
        elif o["probability_override"] is not None:
            assert o["probability"] == o["probability_override"]
        else:
            assert o["probability"] == reference.STAGE_PROBABILITY[o["stage"]]
        hist = store.read("opportunity_stage_history", where={"opportunity_id": oid})
        assert hist["left_at"].isna().sum() == 1                          # exactly one open period
        last = hist.iloc[-1]
        assert (last["stage"], last["status"], last["probability"]) == (o["stage"], o["status"], o["probability"])


@pytest.fixture(scope="module")
def opp_world():
    store = Store()
    w = small_world(store)
    yield w
    store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(actions, min_size=1, max_size=12))
def test_invariant_after_any_sequence(opp_world, steps):
    w = opp_world
    rep = w.as_rep1
    a = rep.create_opportunity(w.c1, "A", amount=1000)
    b = rep.create_opportunity(w.c1, "B", amount=2000, stage="方案制定")
    for i, (kind, arg) in enumerate(steps):
        target = a if i % 2 == 0 else b
        before = w.store.get("opportunity", target)
        try:
            if kind == "advance":
                rep.advance_opportunity(target, arg)
            elif kind == "override":
                rep.set_probability_override(target, arg)
            elif kind == "bulk_stage":
                rep.bulk_update_opportunities([a, b], stage=arg)
            elif kind == "bulk_override":
                rep.bulk_update_opportunities([a, b], probability_override=arg)
            elif kind == "bulk_status":
                rep.bulk_update_opportunities([a, b], status=arg)
            elif kind == "lose":
                rep.lose_opportunity(target, "价格高")
            else:
                getattr(rep, f"{kind}_opportunity")(target)
        except SimCRMError:
            pass
        after = w.store.get("opportunity", target)
        if before["status"] in ("成功", "失败", "失效"):
            assert after == before                       # closed: nothing changes
        if kind == "advance" and after["stage"] != before["stage"]:
            assert after["probability_override"] is None  # a stage change clears the override
        _assert_invariant(w.store, [a, b])


def test_stage_history_periods(store):
    clock = Clock()
    w = small_world(store, clock)
    clock.advance(days=3)
    w.as_rep1.advance_opportunity(w.o1, "方案制定")
    clock.advance(days=5)
    w.as_rep1.advance_opportunity(w.o1, "立项评估")        # back is allowed
    hist = store.read("opportunity_stage_history", where={"opportunity_id": w.o1})
    assert list(hist["stage"]) == ["初期沟通", "方案制定", "立项评估"]
    assert list(hist["probability"]) == [10, 50, 20]
    assert (hist["left_at"].iloc[:2] == hist["entered_at"].iloc[1:].values).all()
    assert (hist["entered_at"].iloc[1] - hist["entered_at"].iloc[0]).days == 3


def test_override_bulk_and_close(store):
    w = small_world(store)
    rep = w.as_rep1
    rep.set_probability_override(w.o1, 42)
    assert store.get("opportunity", w.o1)["probability"] == 42
    rep.clear_probability_override(w.o1)
    assert store.get("opportunity", w.o1)["probability"] == 10
    other = rep.create_opportunity(w.c2, "个人采购", amount=3000, probability_override=70)
    assert rep.bulk_update_opportunities([w.o1, other], stage="商务谈判") == 2
    assert [store.get("opportunity", i)["probability"] for i in (w.o1, other)] == [80, 80]
    rep.shelve_opportunity(other)
    with pytest.raises(StateTransitionError):
        rep.advance_opportunity(other, "合同签约")
    rep.resume_opportunity(other)
    rep.lose_opportunity(other, "预算取消")
    o = store.get("opportunity", other)
    assert (o["status"], o["probability"], o["lost_reason"]) == ("失败", 0, "预算取消")
    assert o["closed_at"] is not None
    rep.expire_opportunity(w.o1)
    assert store.get("opportunity", w.o1)["status"] == "失效"


def test_quota(store):
    w = small_world(store)
    qid = w.as_mgr1.set_quota("rep1", "2025Q3", 300000)
    assert w.as_mgr1.set_quota("rep1", "2025Q3", 350000) == qid
    assert store.get("quota", qid)["amount"] == 350000
