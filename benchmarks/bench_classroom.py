"""Load test on loopback: a class of simulated students working at once in one shared PostgreSQL world.

Builds a classroom (``simcrm.classroom.create``: one firm, one database login per student, row-level
security and database audit), then runs one thread per student — each through its own database
login, as ``start("ch01", shared=...)`` does — doing a realistic mix of CRM operations for its
role (销售代表: lists, customer views, new customers, contacts, activities, opportunities, orders,
edits; 销售主管: team lists and activities; 客服专员: complaints and service requests), with a
short think time, for a bounded time. A student also probes the database with raw SQL for a
customer outside their scope (must find nothing).

Afterwards it reconciles, from the teacher's connection: every row a student reported created
exists and has exactly one database-written 新建 audit row by that student's login; every edit
and state change reported has its audit row; the audit chain of each field is unbroken (each old
value is the previous new value); no raw probe leaked; no operation crashed (anything but a
refused operation, :class:`~simcrm.errors.SimCRMError`). It prints p50/p95/max latency per
operation, throughput, wall and CPU time (this process and the PostgreSQL server) and the load.
Exit code 1 when a check fails.

Run:
    python benchmarks/bench_classroom.py [--students 40] [--seconds 60] [--customers 400]
                                         [--think 0.1] [--url postgresql://…]

Without ``--url`` a throw-away PostgreSQL server is started on a loopback port (as the tests do);
only 127.0.0.1 is ever contacted. All students run as threads of this one process, so their
Python work shares one interpreter lock: the latencies include that contention, which a real class
(one kernel per student, on the students' machines or JupyterHub containers) does not have.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import resource
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import sqlalchemy as sa

from simcrm.crm.base import TABLE_MODULE

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MIX = {
    "销售代表": {"list_customers": 20, "view_customer": 15, "create_customer": 8, "update_customer": 10,
              "add_contact": 8, "log_activity": 15, "create_opportunity": 8, "win_opportunity": 4,
              "create_order": 5, "raw_probe": 7},
    "销售主管": {"list_customers": 30, "view_customer": 25, "log_activity": 25, "count_orders": 15, "raw_probe": 5},
    "客服专员": {"list_customers": 15, "view_customer": 15, "record_complaint": 30, "advance_complaint": 20,
              "open_service_request": 20},
}
CREATES = {"create_customer": "customer", "add_contact": "contact", "log_activity": "activity",
           "create_opportunity": "opportunity", "create_order": "sales_order", "record_complaint": "complaint",
           "open_service_request": "service_request"}


def _server():
    """A throw-away server on loopback (tests/conftest.py's), with room for every connection."""
    import conftest

    class Server(conftest._PgServer):
        def _run(self, *args: str) -> None:
            if args[0] == "pg_ctl" and "start" in args:
                args = tuple(a.replace("-c fsync=off", "-c fsync=off -c max_connections=300") for a in args)
            super()._run(*args)

    s = Server(conftest._pg_bindir())
    s.start()
    return s


def _server_cpu(data_dir: Path | None) -> float | None:
    """CPU seconds of the server: the postmaster, its reaped children and its live children."""
    if data_dir is None:
        return None
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")

        def fields(p: int) -> list[str]:
            raw = Path(f"/proc/{p}/stat").read_text()
            return raw[raw.rindex(")") + 2:].split()

        f = fields(pid)
        total = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != pid:
                try:
                    g = fields(int(entry))
                except OSError:
                    continue
                if int(g[1]) == pid:
                    total += int(g[11]) + int(g[12])
        return total / tick
    except (OSError, ValueError, IndexError):
        return None


class Student(threading.Thread):
    def __init__(self, row, deadline: float, think: float, seed: int, others: dict[str, set[int]], results):
        super().__init__(daemon=True)
        self.row, self.deadline, self.think = row, deadline, think
        self.rng = random.Random(seed)
        self.others, self.results = others, results
        self.lat: dict[str, list[float]] = collections.defaultdict(list)
        self.ok: collections.Counter = collections.Counter()
        self.refused: collections.Counter = collections.Counter()
        self.crashes: list[str] = []
        self.leaks = 0
        self.reasons: dict[str, str] = {}
        self.mine: dict[str, list[int]] = collections.defaultdict(list)      # own rows to act on
        self.made: dict[str, list[int]] = collections.defaultdict(list)      # every row created

    def created(self, table: str) -> list[int]:
        return list(self.made.get(table, []))

    def run(self) -> None:
        from simcrm.classroom import join
        from simcrm.errors import SimCRMError

        try:
            self.lab = join("ch01", self.row["连接文件"], quiet=True)
        except Exception:  # noqa: BLE001 - reported as a crash
            self.crashes.append("join: " + traceback.format_exc(limit=3))
            self.results.append(self)
            return
        crm = self.lab.crm
        self.customers = [int(i) for i in crm.list("customer", order_by="id")["id"]]
        self.products = [int(i) for i in crm.list("product", order_by="id", limit=20)["id"]]
        # a customer's page shows what the role's module rights let it read
        self.views = [t for t in ("contact", "opportunity", "sales_order", "activity", "complaint")
                      if crm.can(TABLE_MODULE[t], "read")]
        ops, weights = zip(*MIX[self.row["身份"]].items())
        n = 0
        while time.monotonic() < self.deadline:
            op = self.rng.choices(ops, weights)[0]
            n += 1
            t0 = time.perf_counter()
            try:
                made = getattr(self, op)(crm, n)
                self.ok[op] += 1
                if op in CREATES and made is not None:
                    self.mine[CREATES[op]].append(int(made))
                    self.made[CREATES[op]].append(int(made))
            except _Skip:
                continue
            except SimCRMError as exc:
                self.refused[op] += 1
                self.reasons.setdefault(op, str(exc).split("\n")[0][:160])
            except Exception:  # noqa: BLE001 - anything else is a crash
                self.crashes.append(f"{op}: " + traceback.format_exc(limit=4))
            self.lat[op].append(time.perf_counter() - t0)
            if self.think:
                time.sleep(self.rng.uniform(0, 2 * self.think))
        self.lab.close()
        self.results.append(self)

    # -- operations ----------------------------------------------------------------------------

    def _customer(self) -> int:
        return self.rng.choice(self.customers)

    def list_customers(self, crm, n):
        crm.list("customer", order_by="id", limit=50, offset=self.rng.randrange(0, 3) * 50)

    def view_customer(self, crm, n):
        cid = self._customer()
        for table in self.views:
            crm.list(table, where={"customer_id": cid})

    def count_orders(self, crm, n):
        crm.count("sales_order")

    def create_customer(self, crm, n):
        cid = crm.create_customer(f"{self.row['学号']}号实训客户{n}有限公司", province="四川", city="成都市")
        self.customers.append(cid)
        return cid

    def update_customer(self, crm, n):
        mine = self.mine["customer"] or self.customers
        crm.update_customer(self.rng.choice(mine), phone=f"028-{self.rng.randrange(2 * 10**7, 10**8)}")

    def add_contact(self, crm, n):
        return crm.add_contact(self._customer(), f"联系人{n}", mobile=f"139{self.rng.randrange(10**7, 10**8)}")

    def log_activity(self, crm, n):
        return crm.log_activity(self._customer(), f"电话回访 {n}", channel="电话")

    def create_opportunity(self, crm, n):
        return crm.create_opportunity(self._customer(), f"采购项目 {n}", amount=self.rng.randrange(5, 200) * 1000)

    def win_opportunity(self, crm, n):
        if not self.mine["opportunity"]:
            raise _Skip()
        crm.win_opportunity(self.mine["opportunity"].pop(self.rng.randrange(len(self.mine["opportunity"]))))

    def create_order(self, crm, n):
        lines = [{"product_id": self.rng.choice(self.products), "quantity": self.rng.randrange(1, 5)}]
        return crm.create_order(self._customer(), lines)

    def record_complaint(self, crm, n):
        return crm.record_complaint(self._customer(), f"送货延迟 {n}", category="交付物流")

    def advance_complaint(self, crm, n):
        if not self.mine["complaint"]:
            raise _Skip()
        crm.advance_complaint(self.mine["complaint"].pop(), "调查中", note="已联系客户")

    def open_service_request(self, crm, n):
        return crm.open_service_request(self._customer(), f"设备故障 {n}")

    def raw_probe(self, crm, n):
        outside = self.others.get(self.row["学号"])
        if not outside:
            return
        cid = self.rng.choice(sorted(outside))
        with self.lab.store.engine.connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM customer WHERE id = :i"), {"i": cid}).scalar():
                self.leaks += 1


class _Skip(Exception):
    """Nothing of the student's own to act on yet: the operation is not counted."""


def main() -> int:
    from simcrm import classroom

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--customers", type=int, default=400)
    ap.add_argument("--think", type=float, default=0.1, help="mean think time between operations (s)")
    ap.add_argument("--url", default=None, help="a teacher URL to an empty schema (default: a throw-away server)")
    args = ap.parse_args()
    server = None
    if args.url is None:
        server = _server()
        engine = sa.create_engine(server.url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA bench")
        engine.dispose()
        url = f"{server.url}?options=-csearch_path%3Dbench"
    else:
        url = args.url
    data_dir = server.data if server else None
    tmp = Path(tempfile.mkdtemp(prefix="simcrm-bench-classroom-"))
    roster = tmp / "roster.csv"
    roster.write_text("学号,姓名\n" + "".join(f"26{k:05d},学生{k}\n" for k in range(1, args.students + 1)), encoding="utf-8")
    try:
        t0 = time.perf_counter()
        sheet = classroom.create(url, roster, tmp / "out", seed=2026, customers=args.customers, prefix="bench")
        build_s = time.perf_counter() - t0
        teacher = sa.create_engine(url)
        with teacher.connect() as conn:
            before = {t: conn.execute(sa.text(f'SELECT coalesce(max(id), 0) FROM "{t}"')).scalar()
                      for t in set(CREATES.values())}
            audit_base = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()
            owner = dict(conn.execute(sa.text("SELECT id, owner_id FROM customer")).all())
            emp = dict(conn.execute(sa.text("SELECT login, id FROM employee")).all())
        # for each 销售代表: customers certainly outside their scope (owned by another team)
        dept = dict(zip(sheet["CRM登录名"], sheet["部门"]))
        others: dict[str, set[int]] = {}
        for row in sheet.itertuples():
            if row.身份 in ("销售代表", "销售主管"):
                mates = {emp[l] for l, d in dept.items() if d == row.部门}
                others[row.学号] = {c for c, o in owner.items() if o not in mates}
        cpu0, srv0, wall0 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(data_dir), time.perf_counter()
        deadline = time.monotonic() + args.seconds
        results: list[Student] = []
        threads = [Student(r, deadline, args.think, k, others, results) for k, r in enumerate(sheet.to_dict("records"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 300)
        wall = time.perf_counter() - wall0
        cpu1, srv1 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(data_dir)

        # -- reconcile -------------------------------------------------------------------------------
        problems: list[str] = []
        crashes = [c for s in results for c in s.crashes]
        if len(results) != len(threads):
            problems.append(f"{len(threads) - len(results)} student threads did not finish")
        if crashes:
            problems.append(f"{len(crashes)} crashes; first: {crashes[0]}")
        leaks = sum(s.leaks for s in results)
        if leaks:
            problems.append(f"{leaks} raw-SQL probes saw a customer outside the student's scope")
        with teacher.connect() as conn:
            for op, table in CREATES.items():
                made = {(s.row["学号"], i) for s in results for i in s.created(table)}
                rows = set(conn.execute(sa.text(f'SELECT id FROM "{table}" WHERE id > :b'), {"b": before[table]}).scalars())
                audit = conn.execute(sa.text(
                    "SELECT a.row_id, l.student FROM audit_log a JOIN classroom_login l ON l.db_role = a.db_role "
                    "AND l.employee_id = a.employee_id WHERE a.id > :b AND a.table_name = :t AND a.action = '新建'"),
                    {"b": audit_base, "t": table}).all()
                if {i for _, i in made} != rows:
                    problems.append(f"{table}: {len(made)} reported created, {len(rows)} new rows")
                if set((s, i) for i, s in audit) != made or len(audit) != len(made):
                    problems.append(f"{table}: {len(audit)} 新建 audit rows for {len(made)} rows created")
            phones = sum(s.ok["update_customer"] for s in results)
            audited = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE id > :b AND table_name = 'customer' "
                                           "AND field = 'phone' AND db_role IS NOT NULL"), {"b": audit_base}).scalar()
            if audited < phones:  # a new phone equal to the old one is not a change (rare)
                problems.append(f"customer.phone: {phones} edits, {audited} audit rows")
            wins = sum(s.ok["win_opportunity"] for s in results)
            audited = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE id > :b AND table_name = 'opportunity' "
                                           "AND field = 'status' AND new_value = '成功'"), {"b": audit_base}).scalar()
            if audited != wins:
                problems.append(f"opportunity wins: {wins} reported, {audited} audited")
            moved = sum(s.ok["advance_complaint"] for s in results)
            audited = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE id > :b AND table_name = 'complaint' "
                                           "AND field = 'status' AND new_value = '调查中'"), {"b": audit_base}).scalar()
            if audited != moved:
                problems.append(f"complaints advanced: {moved} reported, {audited} audited")
            # the audit chain: each field's old value is the previous new value
            chain = conn.execute(sa.text("SELECT table_name, row_id, field, old_value, new_value FROM audit_log "
                                         "WHERE id > :b AND field IS NOT NULL ORDER BY id"), {"b": audit_base}).all()
            last: dict[tuple, str | None] = {}
            breaks = 0
            for t, r, f, old, new in chain:
                if (t, r, f) in last and last[(t, r, f)] != old:
                    breaks += 1
                last[(t, r, f)] = new
            if breaks:
                problems.append(f"{breaks} breaks in the audit chain")
            # every row a student wrote is attributed to that student's login
            wrong = conn.execute(sa.text("SELECT count(*) FROM audit_log a LEFT JOIN classroom_login l "
                                         "ON l.db_role = a.db_role WHERE a.id > :b AND "
                                         "(l.employee_id IS DISTINCT FROM a.employee_id)"), {"b": audit_base}).scalar()
            if wrong:
                problems.append(f"{wrong} audit rows without the acting student's login")
            audit_rows = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE id > :b"), {"b": audit_base}).scalar()
        teacher.dispose()

        # -- report ----------------------------------------------------------------------------------
        lat: dict[str, list[float]] = collections.defaultdict(list)
        ok, refused = collections.Counter(), collections.Counter()
        for s in results:
            for op, xs in s.lat.items():
                lat[op].extend(xs)
            ok.update(s.ok)
            refused.update(s.refused)
        total = sum(len(x) for x in lat.values())
        print(f"classroom: {args.students} students ({dict(sheet['身份'].value_counts())}), "
              f"{args.customers} customers, built in {build_s:.1f} s")
        print(f"load: {args.seconds:.0f} s, think {args.think} s; {total} operations, {total / wall:.1f} ops/s")
        print(f"{'operation':<22}{'n':>7}{'refused':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
        for op in sorted(lat, key=lambda o: -len(lat[o])):
            xs = sorted(lat[op])
            q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000  # noqa: E731
            print(f"{op:<22}{len(xs):>7}{refused[op]:>9}{q(0.5):>9.1f}{q(0.95):>9.1f}{xs[-1] * 1000:>9.1f}")
        user = cpu1.ru_utime - cpu0.ru_utime
        system = cpu1.ru_stime - cpu0.ru_stime
        print(f"wall {wall:.1f} s; CPU of the students' process {user:.1f} user + {system:.1f} sys s; "
              f"PostgreSQL server CPU {('%.1f s' % (srv1 - srv0)) if srv0 is not None and srv1 is not None else 'n/a'}; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {audit_rows} audit rows written by the database")
        reasons = {op: r for s in results for op, r in s.reasons.items()}
        for op, reason in sorted(reasons.items()):
            print(f"  refused {op} (e.g.): {reason}")
        if problems:
            print("RECONCILE FAILED:")
            for p in problems:
                print("  -", p)
            return 1
        print("reconciled: every created row and change has its database audit row, the audit chain is unbroken, "
              "no raw-SQL leak, no crash")
        return 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
