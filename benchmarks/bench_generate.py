"""Benchmark of world generation: cold build, identity sampling, and (``--big``) a 1M-customer run.

    python benchmarks/bench_generate.py            # cold default world (median of 3) + identities
    python benchmarks/bench_generate.py --big      # also 1,000,000 customers × 3 years to files
    python benchmarks/bench_generate.py --only-big --customers 100000 --shards 2   # a smaller big run
    python benchmarks/bench_generate.py --against 3b385ce --runs 7   # side by side with an older commit

Each cold build runs in its own process with the cache off (``SIMCRM_CACHE=0``) and is timed
after the imports. The identity benchmark draws the same fields (name, company, mobile,
e-mail, address, ID number) with the vectorised sampler and with one Faker call per field
per row, in the same run, and prints the ratio.

``--against REV`` runs the cold build side by side with the code of git revision ``REV``
(extracted with ``git archive`` into a temporary folder and put first on ``PYTHONPATH``, same
interpreter and packages): the two alternate run by run (``--runs`` each), so a machine whose
load changes during the series loads both alike; it prints the medians of wall and CPU time
(compare CPU on a loaded machine) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

COLD = r"""
import json, time
import simcrm
from simcrm.sim import generate
from simcrm.store import schema
t, c = time.perf_counter(), time.process_time()
w = generate(seed=2026, customers=2000)
dt, cpu = time.perf_counter() - t, time.process_time() - c
rows = sum(w.store.count(n) for n in schema.TABLES)
print(json.dumps({"seconds": dt, "cpu": cpu, "rows": rows, "code": simcrm.__file__}))
"""


def cold(runs: int = 3) -> None:
    env = dict(os.environ, SIMCRM_CACHE="0")
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True, env=env)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    secs = statistics.median(r["seconds"] for r in results)
    rows = results[0]["rows"]
    print("cold build, default world (2,000 customers, 2023-01-01..2025-12-31, in-memory SQLite):")
    runs_txt = ", ".join(f"{r['seconds']:.2f}s" for r in results)
    cpu = statistics.median(r["cpu"] for r in results)
    print(f"  runs: {runs_txt}; median {secs:.2f} s (CPU time of the process: median {cpu:.2f} s)")
    print(f"  rows written: {rows:,}; {rows / secs:,.0f} rows/s")


def _one(env: dict[str, str], cwd: str | None = None) -> dict[str, float]:
    # ``python -c`` puts the working folder first on sys.path: run in the code's own folder
    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True, env=env, cwd=cwd)
    return json.loads(out.stdout.strip().splitlines()[-1])


def against(rev: str, runs: int) -> None:
    """The cold build of this checkout and of git revision ``rev``, alternating, medians."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", here, "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        base = dict(os.environ, SIMCRM_CACHE="0")
        envs = {rev: dict(base, PYTHONPATH=os.pathsep.join([old, base.get("PYTHONPATH", "")]).rstrip(os.pathsep)),
                "this checkout": dict(base, PYTHONPATH=os.pathsep.join([here, base.get("PYTHONPATH", "")]).rstrip(os.pathsep))}
        load0 = os.getloadavg()
        results: dict[str, list[dict[str, float]]] = {k: [] for k in envs}
        for i in range(runs):
            order = list(envs) if i % 2 == 0 else list(envs)[::-1]
            for k in order:
                results[k].append(_one(envs[k], cwd=envs[k]["PYTHONPATH"].split(os.pathsep)[0]))
        load1 = os.getloadavg()
    print(f"cold build, default world (seed 2026, 2,000 customers), {runs} runs each, alternating; "
          f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("| code | median wall | median CPU | runs (CPU, s) | rows |")
    print("| --- | --- | --- | --- | --- |")
    for k, rs in results.items():
        print(f"| {k} | {statistics.median(r['seconds'] for r in rs):.2f} s | {statistics.median(r['cpu'] for r in rs):.2f} s "
              f"| {', '.join(format(r['cpu'], '.2f') for r in rs)} | {rs[0]['rows']:,} |")
    for k, rs in results.items():
        print(f"  {k}: simcrm imported from {rs[0]['code']}")
    a, b = (statistics.median(r["cpu"] for r in results[k]) for k in envs)
    print(f"CPU ratio this checkout / {rev}: {b / a:.3f}")


def identities(n_vec: int = 200_000, n_naive: int = 2_000) -> None:
    import datetime as dt

    import numpy as np
    from faker import Faker

    from simcrm.sim.identities import birth_dates, get_identities

    ids = get_identities("zh_CN")
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    g = rng.integers(0, 2, size=n_vec)
    ids.person_names(rng, g)
    ids.company_names(rng, np.full(n_vec, "杭州", dtype=object), np.full(n_vec, "制造业", dtype=object))
    ids.mobiles(rng, n_vec)
    ids.emails(rng, n_vec)
    streets = np.array(["人民路", "建设路", "解放路"])
    _ = (np.full(n_vec, "浙江省杭州市", dtype=object) + streets[rng.integers(0, 3, size=n_vec)].astype(object)
         + rng.integers(1, 999, size=n_vec).astype(str).astype(object) + "号")
    ids.id_numbers(rng, birth_dates(rng, n_vec, dt.date(1962, 1, 1), dt.date(2003, 12, 31)), g,
                   np.full(n_vec, 330100, dtype=np.int64))
    vec = n_vec / (time.perf_counter() - t)

    fake = Faker("zh_CN")
    fake.seed_instance(1)
    t = time.perf_counter()
    for _ in range(n_naive):
        fake.name(); fake.company(); fake.phone_number(); fake.email(); fake.address()
        fake.ssn(min_age=22, max_age=60)
    naive = n_naive / (time.perf_counter() - t)
    print("identity records (name, company, mobile, e-mail, address, ID number):")
    print(f"  vectorised sampler: {vec:,.0f} records/s; one Faker call per field: {naive:,.0f} records/s; "
          f"ratio {vec / naive:,.0f}x")


BIG = r"""
import json, multiprocessing as mp, os, resource, sys, threading, time
from simcrm.sim.big import generate_sharded

peak = [0]

def _rss(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

def sample():  # the whole tree's resident memory at once (Linux), every 0.2 s
    while True:
        peak[0] = max(peak[0], _rss(os.getpid()) + sum(_rss(c.pid) for c in mp.active_children()))
        time.sleep(0.2)

threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
info = generate_sharded(sys.argv[1], seed=2026, customers=int(sys.argv[2]), shards=int(sys.argv[3]))
dt = time.perf_counter() - t
self_ = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
ru_c = resource.getrusage(resource.RUSAGE_CHILDREN)
ru_s = resource.getrusage(resource.RUSAGE_SELF)
child = ru_c.ru_maxrss * 1024
cpu = ru_c.ru_utime + ru_c.ru_stime + ru_s.ru_utime + ru_s.ru_stime
print(json.dumps({"seconds": dt, "rows": info["total_rows"], "self_rss": self_, "child_rss": child,
                  "tree_peak": peak[0], "cpu": cpu, "by_table": info["rows"]}))
"""


def big(customers: int = 1_000_000, shards: int = 20) -> None:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", BIG, d, str(customers), str(shards)], capture_output=True,
                             text=True, check=True, env=dict(os.environ, SIMCRM_CACHE="0"))
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size = sum(os.path.getsize(os.path.join(root, f)) for root, _, fs in os.walk(d) for f in fs)
    gib = 1024 ** 3
    print(f"big world ({customers:,} customers × 3 years, {shards} shards, generate_sharded to .csv.gz):")
    print(f"  {r['seconds']:.0f} s; {r['rows']:,} rows; {r['rows'] / r['seconds']:,.0f} rows/s; {size / 1e6:,.0f} MB on disk")
    print(f"  CPU time of the whole process tree {r['cpu']:.0f} s ({r['rows'] / r['cpu']:,.0f} rows per CPU second; "
          f"load from other processes shows as wall time above CPU time / workers)")
    print(f"  peak RSS: parent {r['self_rss'] / gib:.2f} GiB + largest worker {r['child_rss'] / gib:.2f} GiB "
          f"(getrusage); whole process tree at once (sampled) {r['tree_peak'] / gib:.2f} GiB")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="also run 1,000,000 customers × 3 years")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--customers", type=int, default=1_000_000, help="size of the --big world")
    ap.add_argument("--shards", type=int, default=20, help="shards of the --big world")
    ap.add_argument("--only-big", action="store_true", help="skip the cold build and identity benchmarks")
    ap.add_argument("--against", metavar="REV", help="only the cold build, alternating with git revision REV")
    a = ap.parse_args(argv)
    if a.against:
        against(a.against, a.runs)
        return
    if not a.only_big:
        cold(a.runs)
        identities()
    if a.big or a.only_big:
        big(a.customers, a.shards)


if __name__ == "__main__":
    main()
