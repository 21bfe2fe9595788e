"""Content hashes of every table of a few worlds, to prove a speed-up changed no byte of them.

    python benchmarks/world_hashes.py --write benchmarks/world_hashes.json   # before a change
    python benchmarks/world_hashes.py --check benchmarks/world_hashes.json   # after it

The worlds: the default world's size (2,000 customers, 2023-01-01 … 2025-12-31) for seeds 1, 2
and 3; one student world as the labs build it (``world_seed`` of a 学号 and a course salt,
written to a file through ``Store.build_file`` as ``start()`` does); and seed 1 stepped one
quarter forward (``World.step``), which covers the model state kept for the next quarter. Each
world is built in its own process with the cache off. A table's hash is the sha256 of its
schema line and of every row in ``rowid`` order (Python ``repr`` of the values SQLite returns),
so any change of a value, a type, the order of rows or the schema shows.

``--check`` exits with status 1 and names the tables that differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORLDS = {
    "seed1": {"seed": 1},
    "seed2": {"seed": 2},
    "seed3": {"seed": 3},
    "student": {"student": "20260417", "salt": "bench-salt"},
    "seed1+quarter": {"seed": 1, "step": 91},
}

ONE = r"""
import hashlib, json, sqlite3, sys, tempfile, os
spec = json.loads(sys.argv[1])
from simcrm.sim import generate
seed = spec.get("seed")
if "student" in spec:
    from simcrm.lab.identity import world_seed
    seed = world_seed(spec["student"], spec["salt"])
d = tempfile.mkdtemp()
path = os.path.join(d, "world.sqlite")
w = generate(seed=seed, customers=2000, db=path, cache=False)
if spec.get("step"):
    w.step(spec["step"])
w.store.engine.dispose()
con = sqlite3.connect(path)
out = {}
for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type='table' ORDER BY name"):
    h = hashlib.sha256(sql.encode())
    for row in con.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):
        h.update(repr(row).encode())
    out[name] = h.hexdigest()
idx = con.execute("SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL ORDER BY name)").fetchone()[0]
out["(indexes)"] = hashlib.sha256((idx or "").encode()).hexdigest()
con.close()
w.store.close()
import shutil
shutil.rmtree(d, ignore_errors=True)  # ~20 MB a world
print(json.dumps(out))
"""


def hashes() -> dict[str, dict[str, str]]:
    env = dict(os.environ, SIMCRM_CACHE="0")
    out = {}
    for name, spec in WORLDS.items():
        res = subprocess.run([sys.executable, "-c", ONE, json.dumps(spec)], capture_output=True, text=True,
                             check=True, env=env)
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"{name}: {len(out[name])} tables", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", metavar="JSON")
    g.add_argument("--check", metavar="JSON")
    a = ap.parse_args(argv)
    now = hashes()
    if a.write:
        with open(a.write, "w", encoding="utf-8") as fh:
            json.dump(now, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print(f"wrote {a.write}")
        return 0
    with open(a.check, encoding="utf-8") as fh:
        before = json.load(fh)
    bad = [f"{w}.{t}" for w in sorted(set(before) | set(now))
           for t in sorted(set(before.get(w, {})) | set(now.get(w, {})))
           if before.get(w, {}).get(t) != now.get(w, {}).get(t)]
    if bad:
        print("differ: " + ", ".join(bad))
        return 1
    print(f"identical: {sum(len(v) for v in now.values())} table hashes of {len(now)} worlds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
