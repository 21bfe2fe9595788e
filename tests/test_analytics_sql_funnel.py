"""The funnel computed by the database (analytics.sql.funnel_sql) equals the pandas function
analytics.funnel on the rows the user sees (crm.list of opportunities and their stage history),
for several roles and as-of dates, on a seeded world; and the funnel screen shows those figures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import conftest

from simcrm import analytics
from simcrm.analytics.sql import funnel_sql
from simcrm.crm import CRM
from simcrm.sim import generate

NOW = dt.datetime(2025, 12, 31, 18, 0)
#: system administrator, 总经理 (全部), 销售主管 of the department and of a team (本部门), 销售代表 (本人),
#: 市场专员
LOGINS = [None, "user001", "user002", "user003", "user004", "user009"]
AS_OF = [None, NOW, dt.date(2024, 6, 30), "2025-03-01 09:30"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("funnel_sql") / "world.sqlite"
    store = generate(seed=31, customers=250, db=str(path)).store
    admin = CRM.system(store, now=NOW)
    return store, admin


def _readable(crm):
    return crm.is_system or crm.can("opportunity", "read")


@pytest.mark.parametrize("login", LOGINS)
def test_funnel_sql_equals_the_pandas_funnel(world, login):
    store, admin = world
    crm = admin if login is None else admin.as_user(login)
    if not _readable(crm):
        pytest.skip(f"{login} has no read right on opportunities")
    opp = crm.list("opportunity")
    hist = crm.list("opportunity_stage_history")
    assert len(opp) > 0 and len(hist) > 0
    for as_of in AS_OF:
        want = analytics.funnel(opp, hist, as_of=as_of)
        got = funnel_sql(crm, as_of)
        assert list(got.columns) == list(want.columns)
        assert got["stage"].tolist() == want["stage"].tolist()
        for col in ("count", "reached"):
            assert got[col].tolist() == want[col].astype("int64").tolist(), (login, as_of, col)
        np.testing.assert_array_equal((got["amount"] * 100).round().astype("int64"),
                                      (want["amount"] * 100).round().astype("int64"))
        np.testing.assert_allclose(got["weighted_amount"], want["weighted_amount"], rtol=1e-9, atol=1e-6)
        pd.testing.assert_series_equal(got["conversion"], want["conversion"])
        # julianday is exact to the millisecond: days agree to 1e-7
        np.testing.assert_allclose(got["avg_days_in_stage"], want["avg_days_in_stage"], rtol=0, atol=1e-6)
        for key in ("win_rate", "cycle_days"):
            np.testing.assert_allclose(got.attrs[key], want.attrs[key], rtol=1e-9)
        if login in (None, "user001") and as_of == NOW:  # the figures are not trivially 0 / NaN
            assert (got["count"] > 0).sum() >= 4 and got["reached"].iloc[0] > got["reached"].iloc[-1] > 0
            assert np.isfinite(got["avg_days_in_stage"]).sum() >= 4
            assert 0 < got.attrs["win_rate"] < 1 and got.attrs["cycle_days"] > 0


def test_funnel_sql_sees_a_change(world, tmp_path):
    """A won opportunity moves the figures of both functions alike (the SQL is not a frozen copy)."""
    store, admin = world
    crm = admin.as_user("user003")
    before = funnel_sql(crm, NOW)
    opp = crm.list("opportunity", where={"status": analytics.OPEN_STATUS}, limit=1)
    assert len(opp) == 1
    crm.win_opportunity(int(opp["id"].iloc[0]))
    after = funnel_sql(crm, NOW)
    assert after["count"].sum() == before["count"].sum() - 1
    assert after.attrs["win_rate"] > before.attrs["win_rate"]
    want = analytics.funnel(crm.list("opportunity"), crm.list("opportunity_stage_history"), as_of=NOW)
    assert after["reached"].tolist() == want["reached"].tolist()
    np.testing.assert_allclose(after["avg_days_in_stage"], want["avg_days_in_stage"], rtol=0, atol=1e-6)


@pytest.mark.postgres
def test_funnel_dashboard_and_counts_on_postgresql(pg_url, tmp_path):
    """The same SQL runs on PostgreSQL (days between timestamps by EXTRACT(EPOCH …), the
    dashboard's cents and joins, the counts joined up to the customer) and gives the pandas
    figures there too (a seeded world copied row by row)."""
    from simcrm.store import Store
    from simcrm.ui.dashboard import Dashboard, kpis

    source = generate(seed=31, customers=120, db=str(tmp_path / "w.sqlite")).store
    store = Store(pg_url)
    try:
        conftest.copy_tables(source, store)
        admin = CRM.system(store, now=NOW)
        for login in (None, "user002", "user004"):
            crm = admin if login is None else admin.as_user(login)
            opp, hist = crm.list("opportunity"), crm.list("opportunity_stage_history")
            for as_of in (None, NOW):
                want = analytics.funnel(opp, hist, as_of=as_of)
                got = funnel_sql(crm, as_of)
                for col in ("count", "reached"):
                    assert got[col].tolist() == want[col].astype("int64").tolist(), (login, col)
                for col in ("amount", "weighted_amount", "conversion", "avg_days_in_stage"):
                    np.testing.assert_allclose(got[col], want[col], rtol=0, atol=1e-6, err_msg=col)
                np.testing.assert_allclose(got.attrs["cycle_days"], want.attrs["cycle_days"], rtol=1e-9)
            assert np.isfinite(got["avg_days_in_stage"]).sum() >= 3
            assert Dashboard(crm).values == kpis(crm)
            for table in ("payment", "order_line", "sales_order", "customer"):
                if crm.is_system or crm.can({"payment": "finance"}.get(table, "order" if table != "customer"
                                                                           else "customer"), "read"):
                    assert crm.count(table) == len(crm.list(table)), (login, table)
    finally:
        store.close()


def test_funnel_sql_stays_of_closed_opportunities(tmp_path):
    """Rows the generated worlds lack: an open stay of a closed opportunity ends at its close date,
    and a row entered on or after the close date is not a stay. Both functions agree on them, and
    the figures move (so these rules are exercised, not skipped)."""
    from sqlalchemy import insert, select, update

    from simcrm.store import schema

    store = generate(seed=31, customers=120, db=str(tmp_path / "w.sqlite")).store
    admin = CRM.system(store, now=NOW)
    before = funnel_sql(admin, NOW)
    op = schema.metadata.tables["opportunity"]
    hist = schema.metadata.tables["opportunity_stage_history"]
    with store.engine.begin() as conn:
        won = conn.execute(select(op.c.id, op.c.closed_at).where(op.c.status == analytics.WON_STATUS,
                                                                  op.c.closed_at.isnot(None))).first()
        lost = conn.execute(select(op.c.id, op.c.closed_at).where(op.c.status == analytics.LOST_STATUS,
                                                                   op.c.closed_at.isnot(None))).first()
        first = conn.execute(select(hist.c.id).where(hist.c.opportunity_id == won.id).order_by(hist.c.id)).first()
        # the won opportunity's first stay left open: it ends at the close date, not at as_of
        conn.execute(update(hist).where(hist.c.id == first.id).values(left_at=None))
        # a row of the lost one entered after its close, still marked 跟踪: not a stay
        conn.execute(insert(hist).values(opportunity_id=lost.id, stage=analytics.STAGES[0], status="跟踪",
                                         probability=10, entered_at=lost.closed_at + dt.timedelta(days=1),
                                         left_at=None))
    opp, history = admin.list("opportunity"), admin.list("opportunity_stage_history")
    want = analytics.funnel(opp, history, as_of=NOW)
    got = funnel_sql(admin, NOW)
    np.testing.assert_allclose(got["avg_days_in_stage"], want["avg_days_in_stage"], rtol=0, atol=1e-6)
    assert got["reached"].tolist() == want["reached"].tolist()
    assert not np.allclose(got["avg_days_in_stage"], before["avg_days_in_stage"], equal_nan=True)
    # ending the open stay at as_of instead would give other days
    end_at_now = analytics.funnel(opp.assign(status=opp["status"].where(opp["id"] != won.id, "跟踪")),
                                  history, as_of=NOW)
    assert not np.allclose(got["avg_days_in_stage"], end_at_now["avg_days_in_stage"], equal_nan=True)
