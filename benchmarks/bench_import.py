"""Benchmark CRM.import_customers and CRM.import_leads (same checks as single creates).

Target (issue 17): at least 1,000 rows/s, and a colleague's edit during the import does not
wait for the whole import. Imports ``n`` customers into a SQLite file that already holds
``existing`` customers (the duplicate check looks at all of them), then ``n`` leads; while the
customer import runs, a second process edits one customer in a loop and reports its longest
wait for the write lock. Prints rows/s (wall and per CPU-second of the importing process, with the load average: on a
busy machine the wall figure says more about the neighbours) and that wait; asserts nothing
about time. A PostgreSQL URL as third argument runs the same on that server (e.g. the test
fixture's: ``postgresql+psycopg://…``).

Run: ``python benchmarks/bench_import.py [n] [existing] [postgresql-url]``
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

from simcrm.crm import CRM
from simcrm.store import Store

EDITOR = textwrap.dedent("""
    import datetime as dt, sys, time
    from simcrm.store import Store
    from simcrm.crm import CRM
    store = Store(sys.argv[1])
    rep = CRM.system(store, now=dt.datetime(2025, 7, 1, 9, 0)).as_user("rep1")
    cid, stop = int(sys.argv[2]), __import__("pathlib").Path(sys.argv[3])
    waits = []
    k = 0
    while not stop.exists():
        t = time.perf_counter()
        rep.update_customer(cid, address=f"编辑 {k}")
        waits.append(time.perf_counter() - t)
        k += 1
        time.sleep(0.05)
    print(len(waits), max(waits) if waits else 0.0)
""")


def _rows(n: int, offset: int) -> pd.DataFrame:
    return pd.DataFrame({
        "客户名称": [f"导入测试{offset + i}号贸易有限公司" for i in range(n)],
        "省份": ["广东"] * n, "城市": ["深圳市"] * n,
        "电话": [f"0755-{23000000 + offset + i}" for i in range(n)],
        "所属行业": ["制造业"] * n,
    })


def _leads(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "联系人姓名": [f"线索{i}" for i in range(n)], "公司名称": [f"线索公司{i}" for i in range(n)],
        "手机": [f"139{i:08d}" for i in range(n)], "线索评分": [str(i % 100) for i in range(n)],
    })


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    existing = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    folder = Path(tempfile.mkdtemp(prefix="simcrm-bench-import-"))
    url = sys.argv[3] if len(sys.argv) > 3 else str(folder / "crm.sqlite")
    store = Store(url)
    admin = CRM.system(store, now=dt.datetime(2025, 7, 1, 9, 0))
    admin.setup_demo_org()
    rep = admin.as_user("rep1")
    rep.import_customers(_rows(existing, 10 ** 6))
    edited = rep.create_customer("共享编辑有限公司", province="北京", city="北京市")
    stop = folder / "stop"
    editor = subprocess.Popen([sys.executable, "-c", EDITOR, url, str(edited), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(2.0)  # let it start
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    t, cpu = time.perf_counter(), time.process_time()
    report = rep.import_customers(_rows(n, 0))
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    stop.touch()
    out, _ = editor.communicate(timeout=120)
    edits, worst = out.split()
    accepted = int(report["accepted"].sum())
    print(f"import_customers: {n} rows into {existing} customers in {took:.2f} s = {n / took:,.0f} rows/s "
          f"({accepted} accepted); this process's CPU {cpu:.2f} s = {n / cpu:,.0f} rows per CPU-second")
    print(f"  a colleague's {edits} edits meanwhile: longest wait {float(worst) * 1000:.0f} ms")
    t, cpu = time.perf_counter(), time.process_time()
    report = rep.import_leads(_leads(n))
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"import_leads: {n} rows in {took:.2f} s = {n / took:,.0f} rows/s ({int(report['accepted'].sum())} accepted); "
          f"CPU {cpu:.2f} s = {n / cpu:,.0f} rows per CPU-second")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    store.close()


if __name__ == "__main__":
    main()
