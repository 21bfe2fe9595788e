"""Benchmark of world generation: cold build, identity sampling, and (``--big``) a 1M-customer run.

    python benchmarks/bench_generate.py            # cold default world (median of 3) + identities
    python benchmarks/bench_generate.py --big      # also 1,000,000 customers × 3 years to files

Each cold build runs in its own process with the cache off (``SIMCRM_CACHE=0``) and is timed
after the imports. The identity benchmark draws the same fields (name, company, mobile,
e-mail, address, ID number) with the vectorised sampler and with one Faker call per field
per row, in the same run, and prints the ratio.
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
from simcrm.sim import generate
from simcrm.store import schema
t = time.perf_counter()
w = generate(seed=2026, customers=2000)
dt = time.perf_counter() - t
rows = sum(w.store.count(n) for n in schema.TABLES)
print(json.dumps({"seconds": dt, "rows": rows}))
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
    print(f"  runs: {runs_txt}; median {secs:.2f} s")
    print(f"  rows written: {rows:,}; {rows / secs:,.0f} rows/s")


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
import json, resource, sys, time
from simcrm.sim import generate_frames
t = time.perf_counter()
frames = generate_frames(seed=2026, customers=1_000_000, out_dir=sys.argv[1])
dt = time.perf_counter() - t
rows = sum(len(f) for f in frames.values())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(json.dumps({"seconds": dt, "rows": rows, "peak_rss_gib": rss}))
"""


def big() -> None:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", BIG, d], capture_output=True, text=True, check=True,
                             env=dict(os.environ, SIMCRM_CACHE="0"))
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print("big world (1,000,000 customers × 3 years, generate_frames to files):")
    print(f"  {r['seconds']:.0f} s; peak RSS {r['peak_rss_gib']:.2f} GiB; {r['rows']:,} rows; "
          f"{r['rows'] / r['seconds']:,.0f} rows/s; {size / 1e6:,.0f} MB on disk")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="also run 1,000,000 customers × 3 years")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    cold(a.runs)
    identities()
    if a.big:
        big()


if __name__ == "__main__":
    main()
