"""Benchmark simcrm.analytics.rfm on 10,000,000 transactions of 1,000,000 customers.

Budget: at most 2 s and 2 GiB. Prints wall time, peak RSS of the process (resource), the
peak of Python-traced allocations during the call (tracemalloc, a second run), throughput in
rows/s, and the per-row speed-up over a naive per-customer Python loop run on a sample in the
same process (whose results are also checked against the fast function).

Run: ``python benchmarks/bench_rfm.py [n_rows] [n_customers]``
"""

from __future__ import annotations

import math
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from simcrm.analytics import rfm


def make_transactions(n_rows: int, n_customers: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01", "ns")
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, n_customers, n_rows),
            "order_date": start + rng.integers(0, 730, n_rows).astype("timedelta64[D]"),
            "amount": np.round(rng.gamma(2.0, 50.0, n_rows), 2),
        }
    )


def naive_rfm(tx: pd.DataFrame, bins: int = 5) -> dict:
    """Per-customer Python loop; scores by brute force: ceil(bins * (1 + #worse) / n)."""
    as_of = tx["order_date"].max().normalize() + pd.Timedelta(days=1)
    per: dict = {}
    for cid, day, amount in zip(tx["customer_id"].tolist(), tx["order_date"].tolist(),
                                tx["amount"].tolist()):
        rec = per.setdefault(cid, [day, 0, 0.0])
        rec[0] = max(rec[0], day)
        rec[1] += 1
        rec[2] += amount
    ids = sorted(per)
    rec_days = {c: (as_of - per[c][0]).days for c in ids}
    n = len(ids)

    def score(values: dict, better_high: bool) -> dict:
        ordered = sorted(values.values())
        out = {}
        for c, v in values.items():
            import bisect

            worse = bisect.bisect_left(ordered, v) if better_high else n - bisect.bisect_right(ordered, v)
            out[c] = math.ceil(bins * (1 + worse) / n)
        return out

    r = score(rec_days, False)
    f = score({c: per[c][1] for c in ids}, True)
    m = score({c: per[c][2] for c in ids}, True)
    return {c: (rec_days[c], per[c][1], r[c], f[c], m[c]) for c in ids}


def main() -> None:
    n_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    n_customers = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    tx = make_transactions(n_rows, n_customers)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    out = rfm(tx)
    seconds = time.perf_counter() - t0
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    tracemalloc.start()
    rfm(tx)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    sample_customers = max(1, n_customers // 100)
    sample = tx[tx["customer_id"] < sample_customers]
    t1 = time.perf_counter()
    naive = naive_rfm(sample)
    naive_seconds = time.perf_counter() - t1
    t2 = time.perf_counter()
    fast_sample = rfm(sample)
    fast_sample_seconds = time.perf_counter() - t2
    got = {
        row[0]: tuple(row[1:])
        for row in fast_sample[["customer_id", "recency_days", "frequency", "r_score",
                                "f_score", "m_score"]].itertuples(index=False)
    }
    agree = got == naive

    per_row_fast = seconds / n_rows
    per_row_naive = naive_seconds / len(sample)
    print(f"rows               {n_rows:,} transactions, {len(out):,} customers")
    print(f"time               {seconds:.3f} s  (budget 2 s)")
    print(f"throughput         {n_rows / seconds:,.0f} rows/s")
    print(f"peak RSS (process) {rss_peak:,.0f} MiB (before the call: {rss_before:,.0f} MiB; budget 2048)")
    print(f"tracemalloc peak   {traced_peak / 2**20:,.0f} MiB during one call")
    print(f"naive loop         {len(sample):,} rows in {naive_seconds:.3f} s "
          f"({len(sample) / naive_seconds:,.0f} rows/s); rfm on same sample {fast_sample_seconds:.3f} s")
    print(f"per-row speed-up   {per_row_naive / per_row_fast:,.0f}x (naive per-row / rfm per-row at full size)")
    print(f"naive == rfm       {agree}")
    if seconds > 2 or rss_peak > 2048 or not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
