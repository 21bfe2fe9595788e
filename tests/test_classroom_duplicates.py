"""The duplicate rule for a student in a shared classroom world (row-level security).

A classroom login sees only the customers in its data scope, and that set changes without any
name change in the audit log: the teacher (or a manager) transfers a customer into a rep's
scope. The rep's duplicate check must then know that customer at once. It also must not read
``audit_log`` through its row-level policy on every check: that read took a second per query
with a class at work, all while the customer-keys lock was held, so 40 students queued on it
until their statements timed out (``benchmarks/bench_classroom.py``).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from simcrm import classroom
from simcrm.errors import DuplicateError

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def built(pg_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classroom-dupes")
    engine = sa.create_engine(pg_server.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA class_dupes")
    engine.dispose()
    url = f"{pg_server.url}?options=-csearch_path%3Dclass_dupes"
    roster = tmp / "名单.csv"
    roster.write_text("学号,姓名\n" + "".join(f"20240{k:02d},学生{k}\n" for k in range(1, 9)), encoding="utf-8")
    sheet = classroom.create(url, roster, tmp / "out", seed=5, customers=80, prefix="cd")
    teacher = sa.create_engine(url)
    yield {"sheet": sheet, "teacher": teacher}
    teacher.dispose()


def test_a_customer_transferred_into_a_reps_scope_is_a_duplicate_at_once(built):
    sheet, teacher = built["sheet"], built["teacher"]
    reps = sheet[sheet["身份"] == "销售代表"]
    a, b = reps.iloc[0], reps.iloc[1]
    with teacher.connect() as conn:
        emp = dict(conn.execute(sa.text("SELECT login, id FROM employee")).all())
        cid, name = conn.execute(sa.text(
            "SELECT id, name FROM customer WHERE owner_id = :b AND kind = '企业' AND NOT deleted ORDER BY id LIMIT 1"),
            {"b": emp[b["CRM登录名"]]}).one()
    lab = classroom.join("ch01", a["连接文件"], quiet=True)
    try:
        crm = lab.crm
        statements: list[str] = []
        event.listen(crm.store.engine, "before_cursor_execute",
                     lambda _c, _cur, stmt, *_a: statements.append(stmt))
        # the rep's first check reads what it sees; B's customer is not among it
        crm.create_customer(f"{a['学号']}号新开发有限公司", province="四川", city="成都市")
        assert not any("audit_log" in s for s in statements), "a classroom login's check read audit_log"
        with teacher.begin() as conn:  # the teacher hands B's customer to A
            conn.execute(sa.text("UPDATE customer SET owner_id = :a WHERE id = :c"),
                         {"a": emp[a["CRM登录名"]], "c": cid})
        with pytest.raises(DuplicateError) as info:
            crm.create_customer(name, province="四川", city="成都市")
        assert info.value.field == "name"
        with teacher.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM customer WHERE name = :n"), {"n": name}).scalar() == 1
    finally:
        lab.close()
