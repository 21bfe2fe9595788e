"""Two processes writing to the same SQLite file at once both succeed and lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from simcrm.crm import CRM
from simcrm.store import Store

WORKER = textwrap.dedent("""
    import datetime as dt, sys
    from simcrm.store import Store
    from simcrm.crm import CRM
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(path)
    crm = CRM.system(store, now=dt.datetime(2025, 7, 1, 9, 0)).as_user("rep1")
    for i in range(n):
        cid = crm.create_customer(f"{tag}-客户{i}有限公司", province="北京", city="北京市")
        crm.add_contact(cid, f"{tag}联系人{i}", mobile="13800000000")
    store.close()
""")


def test_two_processes_same_file(tmp_path):
    path = tmp_path / "shared.db"
    store = Store(path)
    CRM.system(store).setup_demo_org()
    store.close()
    n = 15
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(path), tag, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("A", "B")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = Store(path)
    try:
        customers = store.read("customer")
        assert len(customers) == 2 * n
        assert customers["code"].is_unique
        assert sorted(customers["code"]) == [f"KH202507{i:04d}" for i in range(1, 2 * n + 1)]
        assert store.count("contact") == 2 * n
        assert store.count("owner_history") == 2 * n
        assert store.count("audit_log", table_name="customer") == 2 * n
    finally:
        store.close()
