"""Benchmark of opening a lab's world (``lab = start("ch04")``), cold and warm, against a plain kernel.

    python benchmarks/bench_start.py              # 5 runs of each, alternating
    python benchmarks/bench_start.py --runs 7 --chapter ch05

Three kinds of fresh Python process, run in turn (baseline, cold, warm, then the next round in
another order), so a change of the machine's load hits all three alike:

* **baseline** — what any notebook kernel does first: ``import pandas`` and ``pd.read_csv`` of
  the world's customer table (``datasets/customer.csv``);
* **cold** — ``from simcrm.lab import start; start(chapter)`` with an empty world cache (a new
  ``SIMCRM_CACHE_DIR`` per run): the world is generated;
* **warm** — the same with the cache filled by an earlier (untimed) run: the world is restored.

Every process imports IPython before the clock starts (a Jupyter kernel has it loaded already),
and Python may use byte code (``PYTHONDONTWRITEBYTECODE`` is dropped; the ``.pyc`` files go to a
temporary ``PYTHONPYCACHEPREFIX``, filled by the untimed first run) as in an installed package.
Each prints wall and CPU time (``time.perf_counter`` / ``time.process_time``) of the imports and
of ``start()``, with its breakdown: world (generation or cache restore, which includes writing
the world file, the schema check and, cold, saving the cache entry), schema, the pristine copy
the checks compare with, the chapter's files, and the rest (employee, CRM, undo journal). The
summary gives the medians and the ratios to the baseline (targets of issue 15: cold ≤ 2.5×,
warm ≤ 1.5×), and the load average before and after. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASELINE = r"""
import json, sys, time
import IPython  # loaded in any kernel
t, c = time.perf_counter(), time.process_time()
import pandas as pd
frame = pd.read_csv(sys.argv[1])
print(json.dumps({"total": [time.perf_counter() - t, time.process_time() - c], "rows": len(frame)}))
"""

LAB = r"""
import json, sys, time
import IPython  # loaded in any kernel
W, C = time.perf_counter, time.process_time
t0, c0 = W(), C()
from simcrm.lab import start
imports = [W() - t0, C() - c0]
import simcrm.lab.session as S
import simcrm.sim.cache as K
from simcrm.store.store import Store
acc = {}

def wrap(owner, name, label):
    f = getattr(owner, name)
    def timed(*a, **k):
        t, c = W(), C()
        try:
            return f(*a, **k)
        finally:
            v = acc.setdefault(label, [0.0, 0.0])
            v[0] += W() - t
            v[1] += C() - c
    setattr(owner, name, timed)

wrap(S, "build_world", "world")
wrap(K, "restore" if hasattr(K, "restore") else "load", "  cache restore")  # format 2 / older code
wrap(K, "save", "  cache save")
wrap(Store, "create_schema", "schema (all opens)")
wrap(S, "_copy_sqlite", "pristine copy")
mod = S._chapter_module(sys.argv[1])
if mod is not None and hasattr(mod, "build_files"):
    wrap(mod, "build_files", "chapter files")
t1, c1 = W(), C()
lab = start(sys.argv[1], quiet=True)
total_start = [W() - t1, C() - c1]
print(json.dumps({"imports": imports, "start": total_start, "parts": acc,
                  "total": [imports[0] + total_start[0], imports[1] + total_start[1]]}))
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=HERE)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chapter", default="ch04")
    ap.add_argument("--csv", default=os.path.join(HERE, "datasets", "customer.csv"))
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SIMCRM_") and k != "PYTHONDONTWRITEBYTECODE"}
        # byte code as an installed package has it (kept out of the checkout, in the temporary folder)
        base.update(SIMCRM_HOME=os.path.join(tmp, "home"), PYTHONPATH=HERE, PYTHONPYCACHEPREFIX=os.path.join(tmp, "pyc"))
        warm_env = dict(base, SIMCRM_CACHE_DIR=os.path.join(tmp, "warm"))
        _run(LAB, [a.chapter], warm_env)  # fills the warm cache (untimed)
        results: dict[str, list[dict]] = {"baseline": [], "cold": [], "warm": []}
        load0 = os.getloadavg()
        for i in range(a.runs):
            kinds = ["baseline", "cold", "warm"]
            kinds = kinds[i % 3:] + kinds[:i % 3]
            for kind in kinds:
                if kind == "baseline":
                    results[kind].append(_run(BASELINE, [a.csv], base))
                elif kind == "cold":
                    results[kind].append(_run(LAB, [a.chapter], dict(base, SIMCRM_CACHE_DIR=os.path.join(tmp, f"cold{i}"))))
                else:
                    results[kind].append(_run(LAB, [a.chapter], warm_env))
        load1 = os.getloadavg()
    med = lambda rs, f: (statistics.median(f(r)[0] for r in rs), statistics.median(f(r)[1] for r in rs))  # noqa: E731
    print(f"start(\"{a.chapter}\"): {a.runs} runs of each kind, alternating; load average before "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("medians, wall / CPU (s):")
    print("| part | baseline (import pandas + read_csv) | cold | warm |")
    print("| --- | --- | --- | --- |")
    b = med(results["baseline"], lambda r: r["total"])
    cold, warm = results["cold"], results["warm"]
    rows = [("imports", lambda r: r["imports"]), ("start()", lambda r: r["start"])]
    labels = sorted({k for r in cold + warm for k in r["parts"]}, key=lambda k: ["world", "  cache restore", "  cache save",
                    "schema (all opens)", "pristine copy", "chapter files"].index(k))
    for label in labels:
        rows.append(("· " + label, lambda r, label=label: r["parts"].get(label, [0.0, 0.0])))
    rows.append(("**total**", lambda r: r["total"]))
    for name, f in rows:
        c, w = med(cold, f), med(warm, f)
        base_cell = f"{b[0]:.2f} / {b[1]:.2f}" if name == "**total**" else ""
        print(f"| {name} | {base_cell} | {c[0]:.2f} / {c[1]:.2f} | {w[0]:.2f} / {w[1]:.2f} |")
    c, w = med(cold, lambda r: r["total"]), med(warm, lambda r: r["total"])
    print(f"ratio to the baseline, wall / CPU: cold {c[0] / b[0]:.2f}× / {c[1] / b[1]:.2f}× (target ≤ 2.5×), "
          f"warm {w[0] / b[0]:.2f}× / {w[1] / b[1]:.2f}× (target ≤ 1.5×)")
    print("runs (total CPU, s): " + "; ".join(f"{k} " + ", ".join(f"{r['total'][1]:.2f}" for r in rs)
                                             for k, rs in results.items()))


if __name__ == "__main__":
    main()
