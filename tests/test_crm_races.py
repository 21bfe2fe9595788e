"""Two real processes race on the same CRM database; nothing is lost and no state is applied twice.

Each race of issue 17 (and the credit note's: one invoice reversed by both at once) is repeated on a SQLite file and on the real PostgreSQL server of
``tests/conftest.py``: two worker processes (``python -c WORKER``) wait at a file barrier, then
run the same operations on the same records at the same moment. A refused operation (the
other process came first) is a :class:`~simcrm.errors.SimCRMError`; anything else — a lost
update, a state applied twice, a broken audit chain, ``database is locked`` — fails the test.

The expected figures are computed from what the workers report they did (successes) and from
the set-up, never copied from a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from simcrm.crm import CRM, normalise_name
from simcrm.store import Store

from crm_fixtures import NOW

N_STOCK = 40      # stock_in(product, 1) per process
N_LEADS = 10      # leads both processes convert
N_OPPS = 10       # opportunities one process wins and the other loses
N_ORDERS = 6      # orders both ship / pay / invoice; more orders one approves, the other rejects
N_NAMES = 12      # company names both processes create
N_EDITS = 25      # edits of one shared field per process

WORKER = textwrap.dedent(r"""
    import datetime as dt, json, os, sys, time, traceback
    from pathlib import Path
    from simcrm.store import Store
    from simcrm.crm import CRM
    from simcrm.errors import SimCRMError

    url, tag, plan_file, sync = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    plan = json.loads(Path(plan_file).read_text())
    store = Store(url)
    admin = CRM.system(store, now=dt.datetime(2025, 7, 1, 9, 0))
    rep, mgr = admin.as_user("rep1"), admin.as_user("mgr1")
    other = "B" if tag == "A" else "A"

    def barrier(name):
        (sync / f"{name}.{tag}").touch()
        deadline = time.monotonic() + 60
        while not (sync / f"{name}.{other}").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"barrier {name}: the other process never came")
            time.sleep(0.002)

    done, refused = {}, {}

    def run(name, calls):
        barrier(name)
        ok, no = 0, []
        for call in calls:
            try:
                call()
                ok += 1
            except SimCRMError as exc:
                no.append(type(exc).__name__)
        done[name], refused[name] = ok, no

    run("stock", [lambda: admin.stock_in(plan["product"], 1) for _ in range(plan["n_stock"])])
    run("convert", [lambda i=i: rep.convert_lead(i, amount=1000) for i in plan["leads"]])
    if tag == "A":
        run("close", [lambda i=i: rep.win_opportunity(i) for i in plan["opps"]])
        run("approve", [lambda i=i: mgr.approve_order(i, True) for i in plan["pending"]])
    else:
        run("close", [lambda i=i: rep.lose_opportunity(i, "价格") for i in plan["opps"]])
        run("approve", [lambda i=i: mgr.approve_order(i, False) for i in plan["pending"]])
    run("ship", [lambda i=i: rep.ship_order(i) for i in plan["orders"]])
    run("pay", [lambda i=i, a=a: rep.record_payment(i, a) for i, a in plan["payments"]])
    run("invoice", [lambda i=i, a=a: rep.issue_invoice(i, a) for i, a in plan["payments"]])

    def credit(order):  # 60 % of the order's invoice, reversed: twice would be 120 %
        inv = store.read("invoice", where={"order_id": order})
        return rep.issue_credit_note(order, int(inv["id"].iloc[0]), round(float(inv["amount"].iloc[0]) * 0.6, 2),
                                     "开票有误")

    run("credit", [lambda i=i: credit(i) for i in plan["orders"]])
    run("company", [lambda n=n: rep.create_customer(n, province="北京", city="北京市") for n in plan["names"]])
    run("edit", [lambda k=k: rep.update_customer(plan["edited"], address=f"{tag} 路 {k} 号")
                 for k in range(plan["n_edits"])])
    store.close()
    print(json.dumps({"done": done, "refused": refused}))
""")


def _world(url: str) -> dict:
    """Set up the records both workers race on; returns the plan (ids) they get."""
    store = Store(url)
    admin = CRM.system(store, now=NOW)
    admin.setup_demo_org()
    rep, mgr = admin.as_user("rep1"), admin.as_user("mgr1")
    cat = admin.add_category("办公设备")
    product = admin.create_product("激光打印机", cat, price=1000, cost=600, stock=5)
    goods = admin.create_product("硒鼓", cat, price=100, cost=40, stock=10 * N_ORDERS)
    leads = []
    for i in range(N_LEADS):
        lead = rep.create_lead(f"联系人{i}", company=f"线索公司{i}有限公司", mobile=f"139{i:08d}",
                               province="江苏", city="南京市")
        rep.qualify_lead(lead)
        leads.append(lead)
    cust = rep.create_customer("共享编辑有限公司", province="北京", city="北京市", address="起始地址")
    opps = [rep.create_opportunity(cust, f"商机{i}", amount=10000) for i in range(N_OPPS)]
    orders, payments, pending = [], [], []
    for i in range(N_ORDERS):
        oid = rep.create_order(cust, [{"product_id": goods, "quantity": 10}])
        mgr.approve_order(oid)
        total = store.get("sales_order", oid)["total_amount"]
        orders.append(oid)
        payments.append((oid, round(total * 0.6, 2)))  # two of these would exceed the total
        pending.append(rep.create_order(cust, [{"product_id": goods, "quantity": 1}]))
    names = [f"并发{i}科技有限公司" for i in range(N_NAMES)]
    plan = {"product": product, "n_stock": N_STOCK, "leads": leads, "opps": opps, "orders": orders,
            "payments": payments, "pending": pending, "names": names, "edited": cust, "n_edits": N_EDITS,
            "stock_before": store.get("product", product)["stock"], "goods": goods,
            "goods_before": store.get("product", goods)["stock"]}
    store.close()
    return plan


def _race(url: str, tmp_path) -> tuple[dict, dict]:
    plan = _world(url)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = {tag: subprocess.Popen([sys.executable, "-c", WORKER, url, tag, str(plan_file), str(sync)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("A", "B")}
    reports = {}
    for tag, p in procs.items():
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"worker {tag} crashed:\n{err[-3000:]}"
        assert "database is locked" not in err
        reports[tag] = json.loads(out.strip().splitlines()[-1])
    return plan, reports


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def race_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "race.db")
    return request.getfixturevalue("pg_server").fresh_schema_url()


def test_races(race_url, tmp_path):
    plan, reports = _race(race_url, tmp_path)
    a, b = reports["A"], reports["B"]
    refused = Counter(kind for r in (a, b) for name in r["refused"] for kind in r["refused"][name])
    assert set(refused) <= {"StateTransitionError", "ValidationError", "DuplicateError"}, refused
    store = Store(race_url)
    try:
        # stock: every stock_in succeeded and the stock is the opening stock plus the moves
        assert a["done"]["stock"] == b["done"]["stock"] == N_STOCK
        p = store.get("product", plan["product"])
        moves = store.read("stock_move", where={"product_id": plan["product"]})
        assert p["stock"] == pytest.approx(moves["quantity"].sum())
        assert p["stock"] == pytest.approx(plan["stock_before"] + 2 * N_STOCK)

        # leads: each converted exactly once, by one of the two processes
        assert a["done"]["convert"] + b["done"]["convert"] == N_LEADS
        leads = store.read("lead")
        assert set(leads.loc[leads["id"].isin(plan["leads"]), "status"]) == {"已转化"}
        conv_opps = store.read("opportunity")
        assert conv_opps["name"].str.endswith("-线索转化").sum() == N_LEADS
        made = store.read("customer")
        assert made["name"].str.startswith("线索公司").sum() == N_LEADS

        # opportunities: closed once, either won or lost, never both
        assert a["done"]["close"] + b["done"]["close"] == N_OPPS
        opp = conv_opps.set_index("id").loc[plan["opps"]]
        assert (opp["status"] == "成功").sum() == a["done"]["close"]
        assert (opp["status"] == "失败").sum() == b["done"]["close"]
        log = store.read("audit_log", where={"table_name": "opportunity", "field": "status"})
        closings = log[log["row_id"].isin(plan["opps"]) & log["new_value"].isin(["成功", "失败"])]
        assert closings["row_id"].value_counts().max() == 1 and len(closings) == N_OPPS

        # approve vs reject: one decision per order
        assert a["done"]["approve"] + b["done"]["approve"] == N_ORDERS
        pend = store.read("sales_order").set_index("id").loc[plan["pending"]]
        assert (pend["approval"] == "同意").sum() == a["done"]["approve"]
        assert (pend["approval"] == "否决").sum() == b["done"]["approve"]
        alog = store.read("audit_log", where={"table_name": "sales_order", "field": "approval"})
        assert alog[alog["row_id"].isin(plan["pending"])]["row_id"].value_counts().max() == 1

        # shipping: each order shipped once in full, stock = opening − shipped
        assert a["done"]["ship"] + b["done"]["ship"] == N_ORDERS
        lines = store.read("order_line")
        lines = lines[lines["order_id"].isin(plan["orders"])]
        assert (lines["shipped_quantity"] == lines["quantity"]).all()
        assert store.read("shipment")["order_id"].isin(plan["orders"]).sum() == N_ORDERS
        g = store.get("product", plan["goods"])
        gmoves = store.read("stock_move", where={"product_id": plan["goods"]})
        assert g["stock"] == pytest.approx(gmoves["quantity"].sum())
        assert g["stock"] == pytest.approx(plan["goods_before"] - lines["quantity"].sum())

        # money: 60 % of the total twice would be 120 %: exactly one payment and invoice each
        for kind, table in (("pay", "payment"), ("invoice", "invoice")):
            assert a["done"][kind] + b["done"][kind] == N_ORDERS
            rows = store.read(table)
            per_order = rows[rows["order_id"].isin(plan["orders"])].groupby("order_id")["amount"].sum()
            totals = store.read("sales_order").set_index("id")["total_amount"]
            assert (per_order <= totals.loc[per_order.index] + 0.005).all()
            assert len(per_order) == N_ORDERS

        # credit notes: 60 % of each invoice twice would be 120 %: exactly one per order
        assert a["done"]["credit"] + b["done"]["credit"] == N_ORDERS
        notes = store.read("credit_note")
        notes = notes[notes["order_id"].isin(plan["orders"])]
        assert notes["order_id"].value_counts().max() == 1 and len(notes) == N_ORDERS
        invoiced = store.read("invoice").set_index("id")["amount"]
        assert (notes["amount"] <= notes["invoice_id"].map(invoiced) + 0.005).all()
        assert len(store.read("audit_log", where={"table_name": "credit_note"})) == N_ORDERS

        # companies: each name once
        assert a["done"]["company"] + b["done"]["company"] == N_NAMES
        keys = made.loc[~made["deleted"], "name"].map(normalise_name)
        assert all(keys.value_counts()[normalise_name(n)] == 1 for n in plan["names"])

        # audit chain of the shared field: each old value is the previous new value
        assert a["done"]["edit"] == b["done"]["edit"] == N_EDITS
        chain = store.read("audit_log", where={"table_name": "customer", "row_id": plan["edited"],
                                               "field": "address"})
        assert len(chain) == 2 * N_EDITS
        assert chain["old_value"].iloc[0] == "起始地址"
        assert list(chain["old_value"].iloc[1:]) == list(chain["new_value"].iloc[:-1])
        assert store.get("customer", plan["edited"])["address"] == chain["new_value"].iloc[-1]
    finally:
        store.close()


def test_locked_database_gives_a_clear_error_and_changes_nothing(tmp_path, monkeypatch):
    """Another program holds SQLite's write lock for good: bounded retries, then BusyError."""
    import sqlite3

    from simcrm.errors import SimCRMError
    from simcrm.store import BusyError, snapshot_equal
    from simcrm.store import store as store_module

    path = tmp_path / "locked.db"
    with Store(path) as s:
        CRM.system(s, now=NOW).setup_demo_org()
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(store_module, "ATTEMPTS", 3)
    store = Store(path)
    before = store.snapshot()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        rep = CRM.system(store, now=NOW).as_user("rep1")
        with pytest.raises(BusyError) as info:
            rep.create_customer("锁住科技有限公司", province="北京", city="北京市")
        assert isinstance(info.value, SimCRMError)
        message = str(info.value)
        assert "数据库" in message and "另一个用户正在写入" in message and "database is locked" in message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert snapshot_equal(before, store.snapshot()) == []
    rep.create_customer("锁住科技有限公司", province="北京", city="北京市")  # free again: works
    store.close()


def test_import_commits_in_chunks(tmp_path, monkeypatch):
    """A long import holds the write lock for one chunk at a time, with the same report."""
    import pandas as pd
    from sqlalchemy import event

    from simcrm.crm import importing

    rows = pd.DataFrame({"客户名称": [f"分批{i}有限公司" for i in range(23)] + ["分批3有限公司"],
                         "省份": ["北京"] * 24, "城市": ["北京市"] * 24})
    reports = {}
    for chunk in (5, 500):
        monkeypatch.setattr(importing, "IMPORT_CHUNK", chunk)
        monkeypatch.setattr(importing, "CHUNK_PAUSE", 0)
        store = Store(tmp_path / f"import{chunk}.db")
        rep_admin = CRM.system(store, now=NOW)
        rep_admin.setup_demo_org()
        begins = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda conn, cur, stmt, *a: begins.append(stmt) if stmt == "BEGIN IMMEDIATE" else None)
        reports[chunk] = rep_admin.as_user("rep1").import_customers(rows)
        writes = len(begins)
        assert writes >= -(-len(rows) // chunk)  # at least one write transaction per chunk
        assert store.count("customer") == len(rows) - 1
        store.close()
    same = ["row", "accepted", "field", "value"]
    assert reports[5][same].equals(reports[500][same])
    assert "第 5 行" in reports[500]["reason"].iloc[-1]  # the earlier row of the same file
    assert "编号 4" in reports[5]["reason"].iloc[-1]  # by then written in an earlier chunk
    assert reports[5]["accepted"].tolist() == [True] * 23 + [False]
    assert reports[5]["field"].iloc[-1] == "name"
