"""Benchmark of every screen and read on a 100,000-customer world, as three users.

    python benchmarks/bench_screens.py                      # build (once) or reuse the world, time all
    python benchmarks/bench_screens.py --customers 20000    # a smaller world
    python benchmarks/bench_screens.py --only dashboard customer360

The world (seed 2026, 2023-01-01 … 2025-12-31) is built once into
``$SIMCRM_CACHE_DIR/bench/world-<seed>-<customers>.sqlite`` (default cache folder otherwise)
and reused by later runs; nothing else is written to it than, once, the summaries the database
keeps beside the tables (:mod:`simcrm.store.summaries`) when the world was built by a simcrm
without them (the code being measured ignores them if it predates them). Each screen is opened as the general
manager (全部), the head of the sales department (本部门) and a sales rep (本人); every
figure is the median wall time and the median CPU time (user + sys of this process) of
``--repeat`` openings (default 5), after one warm-up opening; a screen whose first opening
takes over 5 s is opened once. The load average of the machine is printed at the start and the
end (on a busy machine the wall time exceeds the CPU time; the CPU time is what the screen costs).
The target is every screen under 1 s on an idle laptop; nothing here asserts it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import time
from pathlib import Path


def world_path(seed: int, customers: int) -> Path:
    from simcrm.sim import cache

    folder = cache.cache_dir() or Path(".cache-simcrm")
    return Path(folder) / "bench" / f"world-{seed}-{customers}.sqlite"


def build_or_reuse(seed: int, customers: int) -> Path:
    from simcrm.sim import generate

    path = world_path(seed, customers)
    if path.exists():
        print(f"world: reusing {path}")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"world: building {customers:,} customers into {path} (several minutes) …", flush=True)
    t = time.perf_counter()
    generate(seed=seed, customers=customers, db=str(path), cache=False)
    print(f"world: built in {time.perf_counter() - t:.0f} s")
    return path


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, repeat: int = 5):
    """Median wall and CPU seconds of ``repeat`` calls of ``fn`` after a warm-up (one call if slow)."""
    fn()  # warm-up (imports, SQLite page cache)
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), cpu()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(cpu() - c0)
        if walls[0] > 5:
            break
    return statistics.median(walls), statistics.median(cpus), len(walls)


def screens(crm, busy_customer: int) -> dict:
    from simcrm.ui import screen
    from simcrm.ui.dashboard import kpis

    return {
        "list customers (screen)": lambda: screen("customers", crm),
        "list sales_order": lambda: screen("list", crm, table="sales_order"),
        "list payment": lambda: screen("list", crm, table="payment"),
        "list lead": lambda: screen("list", crm, table="lead"),
        "list opportunity": lambda: screen("list", crm, table="opportunity"),
        "list complaint": lambda: screen("list", crm, table="complaint"),
        "crm.list(customer, limit=20)": lambda: crm.list("customer", order_by="code", limit=20, offset=40),
        "crm.count(sales_order)": lambda: crm.count("sales_order"),
        "customer360": lambda: screen("customer360", crm, customer_id=busy_customer),
        "dashboard kpis()": lambda: kpis(crm),
        "dashboard (screen)": lambda: screen("dashboard", crm),
        "board": lambda: screen("board", crm),
        "funnel": lambda: screen("funnel", crm),
        "order_flow": lambda: screen("order_flow", crm),
        "service_desk": lambda: screen("service_desk", crm),
        "care": lambda: screen("care", crm),
        "products": lambda: screen("products", crm),
        "admin": lambda: screen("admin", crm),
        "lead_import": lambda: screen("lead_import", crm),
        "audit(customer, id)": lambda: crm.audit("customer", busy_customer),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", help="time this world file instead (e.g. a copy with new indexes)")
    parser.add_argument("--repeat", type=int, default=5, help="timed openings per screen (the median is shown)")
    parser.add_argument("--skip", nargs="*", default=[], help="leave out the screens whose name contains one of these")
    parser.add_argument("--users", nargs="*", help="time only these logins (default: a 总经理, a 销售主管, a 销售代表)")
    parser.add_argument("--only", nargs="*", help="time only the screens whose name contains one of these words")
    args = parser.parse_args(argv)
    path = Path(args.db) if args.db else build_or_reuse(args.seed, args.customers)

    from sqlalchemy import func, select

    from simcrm.crm import CRM
    from simcrm.store import Store, schema

    store = Store(str(path), create=False)
    try:
        from simcrm.store import summaries
    except ImportError:  # a simcrm before the summaries
        summaries = None
    if summaries is not None:
        with store.engine.begin() as conn:
            added = summaries.install(conn)
        if added:
            print("world: added the summaries " + ", ".join(added))
    admin = CRM.system(store, now=dt.datetime(2025, 12, 31, 18, 0))
    emp = store.read("employee", columns=["id", "login", "role_id", "status"])
    roles = store.read("role", columns=["id", "name", "data_scope"]).set_index("id")
    users = []
    for name in ("总经理", "销售主管", "销售代表"):
        rid = int(roles.index[roles["name"] == name][0])
        login = emp.loc[(emp["role_id"] == rid) & (emp["status"] == "正常"), "login"].iloc[0]
        users.append((f"{login} {name}（{roles.loc[rid, 'data_scope']}）", admin.as_user(login)))
    so = schema.metadata.tables["sales_order"]
    c = schema.metadata.tables["customer"]
    rep = users[2][1]
    with store.engine.connect() as conn:
        # the rep's customer with the most orders (the heaviest 360° view a rep opens)
        busy = conn.execute(select(so.c.customer_id).join(c, c.c.id == so.c.customer_id)
                            .where(c.c.owner_id == rep.user_id).group_by(so.c.customer_id)
                            .order_by(func.count().desc()).limit(1)).scalar()
        counts = {t: conn.execute(select(func.count()).select_from(schema.metadata.tables[t])).scalar()
                  for t in ("customer", "sales_order", "payment", "payment_plan", "opportunity", "audit_log")}
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average at start: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"360° view of customer {busy} (the rep's busiest)\n")
    slow = []
    for who, crm in users:
        if args.users and who.split()[0] not in args.users:
            continue
        print(f"== {who}")
        print(f"  {'screen / read':34s} {'wall s':>8s} {'CPU s':>8s} {'runs':>4s} {'load':>5s}")
        for name, fn in screens(crm, busy).items():
            if args.only and not any(word in name for word in args.only):
                continue
            if any(word in name for word in args.skip):
                continue
            try:
                wall, used, runs = timed(fn, args.repeat)
            except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
                print(f"  {name:34s} failed: {type(exc).__name__}: {str(exc)[:80]}")
                continue
            mark = "  > 1 s" if wall > 1 else ""
            if wall > 1:
                slow.append((who, name, wall, used))
            print(f"  {name:34s} {wall:8.3f} {used:8.3f} {runs:4d} {os.getloadavg()[0]:5.2f}{mark}", flush=True)
    print("\nload average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if slow:
        print(f"{len(slow)} readings over 1 s wall (CPU time tells whether the machine was busy):")
        for who, name, wall, used in slow:
            print(f"  {who}: {name} {wall:.2f} s wall, {used:.2f} s CPU")
    else:
        print("every screen under 1 s wall")


if __name__ == "__main__":
    main()
