"""The privileges a classroom login gets cover every write simcrm's own operations make.

``pg_security.table_privileges`` grants each role the privileges of its module rights plus
``SIDE_EFFECTS`` (writes an operation makes to tables of other modules, e.g. stock moves when an
order ships). This test finds those writes independently: it runs CRM operations as ordinary
users (the small demo firm of ``crm_fixtures`` and further operations across every module) on
SQLite, records for each top-level operation the rights crm checked and the tables it wrote, and
asserts that a role holding exactly those rights would be granted every one of those writes by
the database. A side effect missing from ``SIDE_EFFECTS`` fails here (and would be a
"permission denied" in a classroom).
"""

from __future__ import annotations

import functools
import inspect
import re

import sqlalchemy as sa

from simcrm.crm import CRM
from simcrm.crm import base as crm_base
from simcrm.store import Store, pg_security

from crm_fixtures import small_world

_WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?([a-z_]+)"?', re.I)
_VERB = {"INSERT": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}


class _Tracer:
    """Per top-level CRM call of a non-system user: rights checked, (table, verb) written."""

    def __init__(self, monkeypatch):
        self.stack: list[dict] = []
        self.calls: list[tuple[str, set, set]] = []
        original = crm_base.CRMBase._require
        tracer = self

        def require(crm, module, action):
            if tracer.stack:
                tracer.stack[-1]["rights"].add((module, action))
            return original(crm, module, action)

        monkeypatch.setattr(crm_base.CRMBase, "_require", require)
        for name, fn in inspect.getmembers(CRM, inspect.isfunction):
            if not name.startswith("_") and name != "as_user":
                monkeypatch.setattr(CRM, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        tracer = self

        @functools.wraps(fn)
        def run(crm, *args, **kwargs):
            top = not tracer.stack
            if top:
                tracer.stack.append({"rights": set(), "writes": set(), "system": crm.is_system})
            try:
                return fn(crm, *args, **kwargs)
            finally:
                if top:
                    rec = tracer.stack.pop()
                    if not rec["system"]:
                        tracer.calls.append((name, rec["rights"], rec["writes"]))

        return run

    def listen(self, engine: sa.Engine) -> None:
        @sa.event.listens_for(engine, "before_cursor_execute")
        def seen(conn, cursor, statement, params, context, executemany):
            m = _WRITE.match(statement)
            if m and self.stack:
                self.stack[-1]["writes"].add((m.group(2).lower(), _VERB[m.group(1).split()[0].upper()]))


def _granted(privileges: set[str], verb: str) -> bool:
    return verb in privileges or any(p.startswith(f"{verb} (") for p in privileges)


def test_every_write_of_an_operation_is_granted_by_the_rights_it_checks(monkeypatch):
    tracer = _Tracer(monkeypatch)
    store = Store()
    tracer.listen(store.engine)
    w = small_world(store)
    rep1, mgr1 = w.as_rep1, w.as_mgr1
    # further operations across the modules, as the demo firm's own users
    rep1.share_customer(w.c1, "rep2")
    rep1.unshare_customer(w.c1, "rep2")
    mgr1.transfer_customer(w.c2, "rep2", reason="调整")
    mgr1.approve_order(w.order_pending)
    rep1.ship_order(w.order_pending)
    line = int(store.read("order_line", where={"order_id": w.order_pending})["id"].iloc[0])
    rep1.return_goods(w.order_pending, {line: 1}, "外壳破损")
    paid = rep1.create_order(w.c1, [{"product_id": w.toner, "quantity": 2}])
    mgr1.approve_order(paid)
    rep1.ship_order(paid)
    total = rep1.order_balance(paid)["total"]
    rep1.record_payment(paid, total)
    rep1.issue_invoice(paid, total)
    line = int(store.read("order_line", where={"order_id": paid})["id"].iloc[0])
    rep1.return_goods(paid, {line: 1}, "质量问题")  # paid and invoiced in full: a refund and a credit note
    rep1.order_balance(w.order1)
    rep1.advance_opportunity(w.o1, "需求分析")
    rep1.win_opportunity(rep1.create_opportunity(w.c1, "耗材补货", amount=1000))
    rep1.convert_lead(w.lead)
    rep1.advance_complaint(w.cp1, "已分派", note="已联系物流", department_id=w.team1)
    rep1.update_customer(w.c1, phone="010-62345679")
    rep1.audit("customer", w.c1)
    assert len(tracer.calls) > 40
    names = {name for name, _, _ in tracer.calls}
    assert {"ship_order", "return_goods", "unshare_customer", "convert_lead", "record_payment"} <= names
    written = {(name, table) for name, _, writes in tracer.calls for table, _ in writes}
    assert {("return_goods", "credit_note"), ("return_goods", "refund"), ("ship_order", "stock_move"),
            ("approve_order", "customer")} <= written

    missing = []
    for name, rights, writes in tracer.calls:
        privileges = pg_security.table_privileges(lambda m, a, rights=rights: (m, a) in rights)
        for table, verb in sorted(writes):
            if table == "audit_log":  # written by the database's triggers in a classroom world
                continue
            if not _granted(privileges.get(table, set()), verb):
                missing.append((name, table, verb, sorted(rights)))
    assert not missing, missing
