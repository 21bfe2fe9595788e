"""What a student's history read costs through the audit log's row-level security (classroom world).

Builds a classroom (``simcrm.classroom.create`` on a throw-away PostgreSQL server on loopback, as
``bench_classroom.py``), then, as one 销售代表's and one 销售主管's own database login (no other
load), repeats:

* ``crm.audit("customer", id)`` and ``crm.audit("sales_order", id)`` — simcrm's history of one
  record in the student's scope (what the 360° view and a lab's "what changed" read);
* ``SELECT count(*) FROM audit_log`` — the whole log a student may read, by raw SQL;
* ``EXPLAIN (ANALYZE)`` of one record's history by raw SQL: the server's planning and execution
  time (the policy is planned into every statement).

It prints, per operation, the median and p95 wall time, the CPU seconds of this process and of the
PostgreSQL server over all repetitions, and the load average before and after.

Run:
    python benchmarks/bench_audit_policy.py [--customers 400] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from bench_classroom import _server, _server_cpu

    from simcrm import classroom
    from simcrm.crm import CRM
    from simcrm.store import Store

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--students", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--history", type=int, default=10,
                    help="rounds of teacher edits of every customer, contact, opportunity and activity "
                         "before measuring (a class's history: one audit row per record and round)")
    args = ap.parse_args()
    server = _server()
    try:
        engine = sa.create_engine(server.url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA bench")
        engine.dispose()
        url = f"{server.url}?options=-csearch_path%3Dbench"
        tmp = Path(tempfile.mkdtemp(prefix="simcrm-bench-audit-"))
        roster = tmp / "roster.csv"
        roster.write_text("学号,姓名\n" + "".join(f"26{k:05d},学生{k}\n" for k in range(1, args.students + 1)),
                          encoding="utf-8")
        sheet = classroom.create(url, roster, tmp / "out", seed=2026, customers=args.customers, prefix="bench")
        teacher = sa.create_engine(url)
        for _ in range(args.history):
            with teacher.begin() as conn:
                for table, change in (("customer", "credit_limit = coalesce(credit_limit, 0) + 1"),
                                      ("opportunity", "amount = amount + 1"),
                                      ("contact", "department = CASE WHEN department = '甲' THEN '乙' ELSE '甲' END"),
                                      ("activity", "outcome = CASE WHEN outcome = '甲' THEN '乙' ELSE '甲' END")):
                    conn.exec_driver_sql(f'UPDATE "{table}" SET {change}')
        with teacher.connect() as conn:
            n_audit = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar()
        print(f"world: {args.customers} customers, {n_audit} audit rows, {len(sheet)} logins")
        for position in ("销售代表", "销售主管"):
            row = sheet[sheet["身份"] == position].iloc[0]
            info = __import__("json").loads(Path(row["连接文件"]).read_text(encoding="utf-8"))
            student_url = info["url"]
            store = Store(student_url, create=False)
            with teacher.connect() as conn:
                emp = conn.execute(sa.text("SELECT id FROM employee WHERE login = :l"), {"l": row["CRM登录名"]}).scalar()
            crm = CRM(store, user=int(emp))
            cid = int(crm.list("customer")["id"].iloc[0])
            orders = crm.list("sales_order")
            oid = int(orders["id"].iloc[0]) if len(orders) else None
            raw = sa.create_engine(student_url)
            ops = {
                "crm.audit(customer)": lambda: crm.audit("customer", cid),
                "raw count(*) audit_log": lambda: _scalar(raw, "SELECT count(*) FROM audit_log"),
            }
            if oid is not None:
                ops["crm.audit(sales_order)"] = lambda: crm.audit("sales_order", oid)
            print(f"\n{position} (login {row['数据库用户']}), load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            for name, op in ops.items():
                op()  # warm: connections, caches
                walls = []
                cpu0, srv0 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(server.data)
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    op()
                    walls.append(time.perf_counter() - t0)
                cpu1, srv1 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(server.data)
                walls.sort()
                p95 = walls[min(len(walls) - 1, int(round(0.95 * (len(walls) - 1))))]
                client = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
                srv = (srv1 - srv0) if srv0 is not None and srv1 is not None else float("nan")
                print(f"  {name:<26} median {1000 * statistics.median(walls):8.1f} ms  p95 {1000 * p95:8.1f} ms  "
                      f"client CPU {client:6.2f} s  server CPU {srv:6.2f} s  ({args.repeat}×)")
            with raw.connect() as conn:
                plan = conn.execute(sa.text(
                    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM audit_log WHERE table_name = 'customer' "
                    "AND row_id = :c"), {"c": cid}).scalar()
                whole = conn.execute(sa.text("EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM audit_log")).scalar()
                seen = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar()
            for label, p in (("one record", plan), ("whole log", whole)):
                print(f"  EXPLAIN ANALYZE {label:<11}: planning {p[0]['Planning Time']:8.1f} ms, "
                      f"execution {p[0]['Execution Time']:8.1f} ms")
            print(f"  audit rows this login sees: {seen}")
            raw.dispose()
            store.close()
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        teacher.dispose()
    finally:
        server.stop()
    return 0


def _scalar(engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


if __name__ == "__main__":
    raise SystemExit(main())
