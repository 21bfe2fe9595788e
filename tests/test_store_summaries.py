"""The summaries the database keeps (simcrm.store.summaries) stay right under every writer: the
simulation's bulk inserts, CRM operations, the lab undo (which deletes rows directly), raw SQL,
and student logins of a PostgreSQL classroom world.

* ``order_receivable`` (per-order payment totals) is compared with the same totals recomputed
  here in pandas from the rows, and the dashboard's 逾期应收 from it with receivables_aging;
* ``opportunity_funnel`` is compared with what its query gives from the rows at that moment
  (a stale row differs), and funnel_sql reading it with the pandas funnel on the rows;
* ``customer_sales`` (per-customer sales) with the same figures recomputed in pandas, and the
  dashboard's charts reading it with the same charts computed from the rows.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

import conftest

from simcrm import analytics
from simcrm.analytics import sql as asql
from simcrm.crm import CRM
from simcrm.lab.undo import Journal
from simcrm.sim import generate
from simcrm.store import Store, funnel_summary, receivables, sales_summary

NOW = dt.datetime(2025, 12, 31, 18, 0)


def _day(v) -> str | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat()


def summary(store) -> dict[int, tuple]:
    """The summary table as ``{order_id: (plan, paid, unpaid, first due, last due, last paid)}``."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(receivables.TABLE)).all()
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), _day(r[4]), _day(r[5]), _day(r[6])) for r in rows}


def expected(store) -> dict[int, tuple]:
    """The same figures from the rows, in pandas."""
    plan, pay = store.read("payment_plan"), store.read("payment")
    plan = plan.assign(c=(plan["amount"] * 100).round().astype("int64"))
    pay = pay.assign(c=(pay["amount"] * 100).round().astype("int64"))
    out: dict[int, tuple] = {}
    p = plan.groupby("order_id").agg(c=("c", "sum"), f=("due_date", "min"), l=("due_date", "max"))
    q = pay.groupby("order_id").agg(c=("c", "sum"), l=("paid_date", "max"))
    for oid in sorted(set(p.index) | set(q.index)):
        pc = int(p.loc[oid, "c"]) if oid in p.index else 0
        qc = int(q.loc[oid, "c"]) if oid in q.index else 0
        out[int(oid)] = (pc, qc, pc - qc, _day(p.loc[oid, "f"]) if oid in p.index else None,
                         _day(p.loc[oid, "l"]) if oid in p.index else None,
                         _day(q.loc[oid, "l"]) if oid in q.index else None)
    return out


def overdue_from_rows(crm, as_of=None) -> int:
    """逾期应收 in cents by :func:`receivables_aging` on every row of the orders the user sees."""
    orders = crm.list("sales_order")["id"]
    plans, pays = crm.store.read("payment_plan"), crm.store.read("payment")
    plans, pays = plans[plans["order_id"].isin(orders)], pays[pays["order_id"].isin(orders)]
    got = analytics.receivables_aging(plans, pays, as_of=as_of or crm.today, by=None)
    return round(float(got["total_overdue"].sum()) * 100)


def assert_current(store, crms=(), dates=(None,)):
    assert summary(store) == expected(store)
    for crm in crms:
        for as_of in dates:
            assert round(asql.overdue_total_sql(crm, as_of) * 100) == overdue_from_rows(crm, as_of)


def funnel_rows(store) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(funnel_summary.TABLE).order_by(funnel_summary.TABLE.c.opportunity_id))]


def funnel_now(store) -> list[tuple]:
    """The summary's rows as its query computes them from the rows now."""
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(funnel_summary.per_opportunity(conn.dialect.name))]


def assert_funnel_current(store, crms=(), dates=(None,)):
    import numpy as np

    got, want = funnel_rows(store), funnel_now(store)
    assert [r[:3] for r in got] == [r[:3] for r in want]
    for a, b in zip(got, want):
        assert _day(a[3]) == _day(b[3]) and _day(a[4]) == _day(b[4])
        np.testing.assert_allclose(np.array(a[5:], dtype=float), np.array(b[5:], dtype=float), rtol=1e-12, atol=1e-9)
    for crm in crms:
        opp, hist = crm.list("opportunity"), crm.list("opportunity_stage_history")
        for as_of in dates:
            want_f = analytics.funnel(opp, hist, as_of=as_of)
            got_f = asql.funnel_sql(crm, as_of)
            for col in ("count", "reached"):
                assert got_f[col].tolist() == want_f[col].astype("int64").tolist(), (col, as_of)
            for col in ("amount", "weighted_amount", "conversion", "avg_days_in_stage"):
                np.testing.assert_allclose(got_f[col], want_f[col], rtol=0, atol=1e-6, err_msg=col)
            for key in ("win_rate", "cycle_days"):
                np.testing.assert_allclose(got_f.attrs[key], want_f.attrs[key], rtol=1e-9)


def sales_rows(store) -> dict[int, tuple]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(sales_summary.TABLE)).all()
    return {int(r[0]): (int(r[1]), int(r[2]), _day(r[3])) for r in rows}


def sales_expected(store) -> dict[int, tuple]:
    """Per customer: Σ cents, count and latest date of its approved, not 意外中止 orders (pandas)."""
    o = store.read("sales_order")
    o = o[(o["approval"] == "同意") & (o["status"] != "意外中止")]
    o = o.assign(c=(o["total_amount"] * 100).round().astype("int64"))
    g = o.groupby("customer_id").agg(c=("c", "sum"), n=("c", "size"), d=("order_date", "max"))
    return {int(k): (int(r["c"]), int(r["n"]), _day(r["d"])) for k, r in g.iterrows()}


def assert_sales_current(store, crms=()):
    from simcrm.ui import dashboard

    assert sales_rows(store) == sales_expected(store)
    real = sales_summary.available
    for crm in crms:
        got = dashboard.chart_data(crm)
        try:
            sales_summary.available = lambda conn: False  # the same charts from the rows
            want = dashboard.chart_data(crm)
        finally:
            sales_summary.available = real
        for key in ("pyramid", "rfm", "trend"):
            pd.testing.assert_frame_equal(got[key], want[key])


@pytest.fixture()
def world(tmp_path):
    return generate(seed=31, customers=150, db=str(tmp_path / "w.sqlite"), cache=False)


def _open_order(store, admin) -> int:
    """An approved order with a payment plan that still owes money."""
    s = summary(store)
    orders = admin.list("sales_order")
    ok = orders[(orders["approval"] == "同意") & (orders["status"] != "中止")]["id"]
    return next(int(o) for o in ok if o in s and s[o][2] > 1000)


def test_a_generated_world_has_the_summary_of_its_rows_and_the_same_overdue(world):
    store = world.store
    admin = CRM.system(store, now=NOW)
    s = summary(store)
    assert len(s) > 100 and any(v[2] > 0 for v in s.values()) and any(v[2] == 0 for v in s.values())
    assert_current(store, [admin, admin.as_user("user002"), admin.as_user("user004")],
                   [None, dt.date(2024, 6, 30), dt.date(2025, 3, 1), dt.date(2026, 2, 1)])
    assert asql.overdue_total_sql(admin) > 0
    assert len(sales_rows(store)) > 50
    assert_sales_current(store, [admin, admin.as_user("user003"), admin.as_user("user004")])
    assert len(funnel_rows(store)) == store.count("opportunity") > 50
    assert_funnel_current(store, [admin, admin.as_user("user003"), admin.as_user("user004")],
                          [None, NOW, dt.date(2024, 6, 30)])


def test_opportunity_operations_raw_sql_and_lab_undo_keep_the_funnel_current(world):
    store = world.store
    admin = CRM.system(store, now=NOW)
    rep = admin.as_user("user004")
    journal = Journal(store)
    before = funnel_rows(store)
    opp = admin.list("opportunity", where={"status": analytics.OPEN_STATUS})
    first, second, third = (int(i) for i in opp["id"].iloc[:3])
    stage = opp["stage"].iloc[0]
    later = analytics.STAGES[min(analytics.STAGES.index(stage) + 1, len(analytics.STAGES) - 1)]
    if later != stage:
        admin.advance_opportunity(first, later)
    admin.win_opportunity(second)
    admin.lose_opportunity(third, "价格")
    customer = int(admin.list("customer")["id"].iloc[0])
    new = admin.create_opportunity(customer, "新机会", amount=1000.0)
    admin.advance_opportunity(new, analytics.STAGES[2])
    assert funnel_rows(store) != before
    assert_funnel_current(store, [admin, rep], [None, NOW])
    journal.undo("练习")
    assert new not in {r[0] for r in funnel_rows(store)}
    assert_funnel_current(store, [admin, rep], [None, NOW])
    # raw SQL: a closing date moved, a stay reopened, a history row deleted
    op = admin.list("opportunity", where={"status": analytics.WON_STATUS}).iloc[0]
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE opportunity SET closed_at = '2025-01-01 00:00:00' WHERE id = :o"), {"o": int(op["id"])})
        conn.execute(sa.text("UPDATE opportunity_stage_history SET left_at = NULL WHERE id = "
                             "(SELECT min(id) FROM opportunity_stage_history WHERE opportunity_id = :o)"), {"o": first})
        conn.execute(sa.text("DELETE FROM opportunity_stage_history WHERE id = "
                             "(SELECT max(id) FROM opportunity_stage_history WHERE opportunity_id = :o)"), {"o": third})
    assert_funnel_current(store, [admin, rep], [None, NOW, dt.date(2025, 6, 1)])


def test_crm_operations_raw_sql_and_lab_undo_keep_it_current(world):
    store = world.store
    admin = CRM.system(store, now=NOW)
    rep = admin.as_user("user004")
    journal = Journal(store)
    order = _open_order(store, admin)
    before = summary(store)[order]
    admin.record_payment(order, 10.0, paid_date=NOW.date())  # a payment
    assert summary(store)[order][1] == before[1] + 1000
    assert_current(store, [admin, rep])
    # a payment dated after "today": the order must be worked out instalment by instalment
    admin.record_payment(order, 5.0, paid_date=dt.date(2026, 1, 5))
    assert summary(store)[order][5] == "2026-01-05"
    assert_current(store, [admin], [None, dt.date(2026, 1, 10)])
    # a new order with a payment plan, then a payment and a return of goods
    customer = int(admin.list("customer")["id"].iloc[0])
    product = int(admin.list("product").sort_values("stock", ascending=False)["id"].iloc[0])
    new = admin.create_order(customer, [{"product_id": product, "quantity": 2}], order_date=dt.date(2025, 10, 1))
    admin.approve_order(new)
    total = float(store.get("sales_order", new)["total_amount"])
    half = round(total / 2, 2)
    admin.add_payment_plan(new, [(dt.date(2025, 11, 1), half), (dt.date(2026, 2, 1), round(total - half, 2))])
    admin.record_payment(new, 1.0, paid_date=dt.date(2025, 11, 5))
    assert summary(store)[new][0] == round(total * 100)
    assert sales_rows(store)[customer][2] == max(sales_expected(store)[customer][2], "2025-10-01")
    assert_sales_current(store, [admin, rep])
    admin.ship_order(new)
    line = int(admin.list("order_line", where={"order_id": new})["id"].iloc[0])
    admin.return_goods(new, {line: 1}, "外壳破损")
    assert_current(store, [admin, rep], [None, dt.date(2025, 12, 1)])
    # the lab's undo deletes the rows those operations inserted, directly
    report = journal.undo("练习")
    assert str(report)
    assert new not in summary(store) and summary(store)[order] == before
    assert_current(store, [admin, rep])
    assert_sales_current(store, [admin])
    # raw SQL on orders: an order moved to another customer, a total changed, an order aborted
    with store.engine.begin() as conn:
        a, b = conn.execute(sa.text("SELECT id, customer_id FROM sales_order WHERE approval = '同意' "
                                    "AND status <> '意外中止' ORDER BY id LIMIT 2")).all()
        conn.execute(sa.text("UPDATE sales_order SET customer_id = :c, total_amount = total_amount + 1 WHERE id = :o"),
                     {"c": b[1], "o": a[0]})
        conn.execute(sa.text("UPDATE sales_order SET status = '意外中止' WHERE id = :o"), {"o": b[0]})
    assert_sales_current(store, [admin, rep])
    # raw SQL: a payment moved to another order, an instalment changed, rows deleted
    other = next(o for o, v in summary(store).items() if o != order and v[1] > 0)
    with store.engine.begin() as conn:
        pid = conn.execute(sa.text("SELECT id FROM payment WHERE order_id = :o LIMIT 1"), {"o": other}).scalar()
        conn.execute(sa.text("UPDATE payment SET order_id = :o, plan_id = NULL WHERE id = :p"), {"o": order, "p": pid})
        conn.execute(sa.text("UPDATE payment_plan SET amount = amount + 1, due_date = '2026-03-01' "
                             "WHERE order_id = :o AND instalment = 1"), {"o": order})
    assert_current(store, [admin, rep], [None, dt.date(2026, 3, 2)])
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM payment WHERE order_id = :o OR plan_id IN "
                             "(SELECT id FROM payment_plan WHERE order_id = :o)"), {"o": other})
        conn.execute(sa.text("DELETE FROM payment_plan WHERE order_id = :o"), {"o": other})
    assert other not in summary(store)
    assert_current(store, [admin])


def test_a_world_without_the_summary_computes_from_the_rows(world, tmp_path):
    """An older world (no summary) gives the same figure; install() adds the summary to it."""
    store = world.store
    admin = CRM.system(store, now=NOW)
    want = asql.overdue_total_sql(admin)
    with store.engine.begin() as conn:
        for t in ("payment_plan", "payment"):
            for op in ("insert", "update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER tr_{t}_receivable_{op}")
        conn.exec_driver_sql(f"DROP TABLE {receivables.NAME}")
        assert not receivables.available(conn)
    assert asql.overdue_total_sql(admin) == want
    with store.engine.begin() as conn:
        assert receivables.install(conn)
        assert not receivables.install(conn)  # once
    assert_current(store, [admin])


def test_bulk_writes_rebuild_it(tmp_path):
    """World.step writes a quarter more of rows; the summary follows them."""
    w = generate(seed=32, customers=80, db=str(tmp_path / "w.sqlite"), cache=False)
    w.step(91)
    assert_current(w.store)
    assert_sales_current(w.store, [CRM.system(w.store, now=NOW)])
    assert_funnel_current(w.store, [CRM.system(w.store, now=NOW)])


@pytest.mark.postgres
def test_postgresql_classroom_logins_keep_it_current_and_see_only_their_orders(pg_server):
    """On a classroom world the triggers run as the tables' owner: a login recording a payment
    updates the summary it may not write itself; a login reads the rows of the orders it sees."""
    from simcrm import classroom
    from simcrm.store import pg_security

    url = pg_server.fresh_schema_url()
    schema_name = url.rsplit("%3D", 1)[1]
    world = generate(seed=5, customers=60)
    store = Store(url, create=False)
    try:
        classroom._copy_world(world.store, store)
    finally:
        world.store.close()
    group = pg_security.group_name(schema_name)
    admin = CRM.system(store, now=NOW)
    emp = admin.list("employee")
    roles = admin.list("role").set_index("id")["name"]
    people = {name: int(emp.loc[emp["role_id"].map(roles) == name, "id"].iloc[0]) for name in ("销售代表", "财务专员")}
    logins = {k: pg_security.role_name(schema_name, f"x{v}") for k, v in people.items()}
    engines, stores = [], []
    try:
        with store.engine.begin() as conn:
            pg_security.install(conn, group)
            for k, e in people.items():
                pg_security.create_login(conn, group, logins[k], f"pw-{logins[k]}", e)
        assert_current(store, [admin])

        def login(k):
            u = sa.engine.make_url(pg_server.url).set(username=logins[k], password=f"pw-{logins[k]}")
            s = Store(u.render_as_string(hide_password=False), create=False)
            stores.append(s)
            return s

        finance = CRM(login("财务专员"), user=people["财务专员"], now=NOW)
        order = _open_order(store, admin)
        paid = summary(store)[order][1]
        finance.record_payment(order, 12.34, paid_date=NOW.date())
        assert summary(store)[order][1] == paid + 1234
        assert_current(store, [admin])
        rep_crm = CRM(login("销售代表"), user=people["销售代表"], now=NOW)
        mine = rep_crm.list("opportunity", where={"status": analytics.OPEN_STATUS})
        rep_crm.win_opportunity(int(mine["id"].iloc[0]))
        assert_funnel_current(store, [admin])
        customer = int(rep_crm.list("customer")["id"].iloc[0])
        product = int(admin.list("product").sort_values("stock", ascending=False)["id"].iloc[0])
        before = sales_rows(store).get(customer)
        new = rep_crm.create_order(customer, [{"product_id": product, "quantity": 1}])
        assert sales_rows(store).get(customer) == before  # not approved yet: not a sale
        admin.approve_order(new)
        assert sales_rows(store)[customer][1] == (before[1] if before else 0) + 1
        assert_sales_current(store)
        # the login cannot write the summary itself
        u = sa.engine.make_url(pg_server.url).set(username=logins["财务专员"], password=f"pw-{logins['财务专员']}")
        raw = sa.create_engine(u, connect_args={"options": f"-csearch_path={schema_name}"})
        engines.append(raw)
        with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
            with raw.begin() as conn:
                conn.exec_driver_sql(f"UPDATE {receivables.NAME} SET paid_cents = 0")
        # a rep reads the rows of their orders only, and the dashboard figure from them
        rep_store = login("销售代表")
        rep = CRM(rep_store, user=people["销售代表"], now=NOW)
        with rep_store.engine.connect() as conn:
            assert receivables.available(conn) and funnel_summary.available(conn)
            seen = {int(r[0]) for r in conn.execute(sa.select(receivables.TABLE.c.order_id))}
            seen_opp = {int(r[0]) for r in conn.execute(sa.select(funnel_summary.TABLE.c.opportunity_id))}
            seen_cust = {int(r[0]) for r in conn.execute(sa.select(sales_summary.TABLE.c.customer_id))}
        assert seen == set(int(i) for i in rep.list("sales_order")["id"]) & set(summary(store))
        assert 0 < len(seen) < len(summary(store))
        assert seen_opp == set(int(i) for i in rep.list("opportunity")["id"]) and 0 < len(seen_opp) < len(funnel_rows(store))
        assert_funnel_current(store, [rep], [None, NOW])
        assert seen_cust == set(int(i) for i in rep.list("customer", include_deleted=True)["id"]) & set(sales_rows(store))
        assert 0 < len(seen_cust) < len(sales_rows(store))
        assert round(asql.overdue_total_sql(rep) * 100) == overdue_from_rows(CRM(store, user=people["销售代表"], now=NOW))
    finally:
        for s in stores:
            s.close()
        for e in engines:
            e.dispose()
        with store.engine.begin() as conn:
            pg_security.drop_logins(conn, group)
        store.close()


def test_a_scope_holding_every_customer_counts_without_it_and_notices_a_change(world):
    """A manager whose department owns every customer counts a customer's records without the
    scope join (CRM.count_from gives no condition); once one customer leaves the scope, the
    condition is back — also in a list screen opened before the change."""
    from simcrm.ui.listview import ListView

    store = world.store
    admin = CRM.system(store, now=NOW)
    emp = admin.list("employee")
    roles = admin.list("role").set_index("id")
    emp = emp[emp["status"] == "正常"]
    manager = next(CRM(store, user=int(e), now=NOW) for e, r in zip(emp["id"], emp["role_id"])
                   if roles.loc[r, "data_scope"] == "本部门" and CRM(store, user=int(e), now=NOW).sees_every_customer())
    assert not admin.as_user("user004").sees_every_customer()
    frm, cond = manager.count_from("payment")
    assert cond is None and frm.name == "payment"
    view = ListView(manager, "payment")
    view.refresh()
    assert view.total == manager.count("payment") == len(manager.list("payment")) == store.count("payment")
    # a customer with payments handed to someone outside the manager's department
    pays = admin.list("payment").merge(admin.list("sales_order")[["id", "customer_id"]].rename(columns={"id": "order_id"}))
    customer = int(pays["customer_id"].value_counts().index[0])
    outsider = next(int(e) for e in emp["id"] if int(e) not in manager._scope_owner_ids())
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE customer SET owner_id = :e WHERE id = :c"), {"e": outsider, "c": customer})
    assert not manager.sees_every_customer()
    assert manager.count_from("payment")[1] is not None
    gone = int((pays["customer_id"] == customer).sum())
    view.refresh()
    assert view.total == manager.count("payment") == len(manager.list("payment")) == store.count("payment") - gone
    assert gone > 0
