"""Large worlds (a million customers) built in customer shards and written to files as they go.

    >>> import tempfile
    >>> from simcrm.sim.big import generate_sharded, read_table
    >>> with tempfile.TemporaryDirectory() as d:
    ...     info = generate_sharded(d, seed=1, customers=120, shards=2, start="2024-01-01",
    ...                             today="2024-03-31", workers=1)
    ...     len(read_table(d, "customer")) == info["rows"]["customer"]
    True

A single model of a million customers holds every event of three years in memory at once
(more than 11 GB). :func:`generate_sharded` splits the customers into ``shards`` sub-models,
each with its own child of the world's :class:`numpy.random.SeedSequence` (shard ``k`` uses
``SeedSequence(seed).spawn(shards)[k]``) and the same firm (built from ``seed``). Each shard is
simulated, rendered and written table by table, then freed.

Ids stay dense and foreign keys consistent: shard ``k``'s rows of a table get ids after those of
shards ``0 … k-1`` (its ids are offset by their row counts) and every foreign key (and the audit
log's ``row_id``) is offset by its target table's offset. Firm-level tables (organisation,
catalogue, SLAs, quotas) are written once; campaigns are the firm's too: one row per campaign
(members of every shard point to it, its budget is the sum of the shards'); codes are recomputed
from the global ids, and ``numbering_rule`` from the global counts. Stock is the one figure kept
per shard: each shard keeps its own stock ledger (``stock_move``), ``product.stock`` is shard 0's.

The big world is not the same as one model of all the customers (shards do not interact), but it
is deterministic: the same seed, size and shard count give byte-identical files, whatever the
number of worker processes.

Files: ``<out_dir>/<table>/part-<k>.csv.gz`` (UTF-8, header in every part; missing values empty,
dates ``YYYY-MM-DD``, times ``YYYY-MM-DD HH:MM:SS.000000``, flags 0/1, dictionary fields as
text), or ``.parquet`` when ``fmt="parquet"`` (needs ``pyarrow``). :func:`read_table` reads a
table back.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import itertools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..store import schema
from ..store.frames import _column_values
from .firm import CODE_FORMATS, build_firm, codes
from .identities import get_identities
from .model import SUBSYSTEMS, Model, _spawn
from .render import render

__all__ = ["generate_sharded", "read_table", "shard_seeds", "FIRM_TABLES"]

#: tables of the firm (not of customers): written once, from shard 0, ids unchanged
FIRM_TABLES = ("department", "role", "role_right", "employee", "product_category", "sla_policy", "product", "quota")
#: tables assembled by the parent from all shards
GLOBAL_TABLES = ("campaign", "numbering_rule")
SHARD_TABLES = tuple(t for t in schema.TABLES if t not in FIRM_TABLES + GLOBAL_TABLES + ("dictionary", "export_log"))


def shard_seeds(seed: int, shards: int) -> list[int]:
    """The seed of each shard: a 64-bit integer drawn from child ``k`` of ``SeedSequence(seed)``."""
    return [int(c.generate_state(1, np.uint64)[0]) for c in np.random.SeedSequence(int(seed)).spawn(shards)]


def _sizes(customers: int, shards: int) -> list[int]:
    base, extra = divmod(customers, shards)
    return [base + (k < extra) for k in range(shards)]


def _fk_targets(name: str) -> list[tuple[str, str]]:
    t = schema.metadata.tables[name]
    return [(c.name, fk.column.table.name) for c in t.columns for fk in c.foreign_keys
            if fk.column.table.name != "dictionary"]


def _code_total(entity: str, customers: int) -> int:
    """The width basis of a big world's codes (fixed in advance, so shards agree)."""
    if entity == "customer":
        return customers * 3
    if entity == "invoice":
        return max(customers * 100, 10 ** 7)
    return max(customers * 100, 10)


def _write(frame: pd.DataFrame, table: str, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
        return
    t = schema.metadata.tables[table]
    cols = []
    text = schema.dictionary_columns(table)  # dictionary fields stay text
    for name in frame.columns:
        c = None if name in text else t.c.get(name)
        s = frame[name]
        cols.append(_column_values(c, s, True) if c is not None else s.astype(object).where(s.notna(), None).tolist())
    # mtime=0 and no file name in the header: the same rows give the same bytes
    with open(path, "wb") as dest, gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=dest, mtime=0) as gz:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(list(frame.columns))
        rows = zip(*cols)
        while True:  # chunks of rows: text in memory, then one write to the compressor
            chunk = list(itertools.islice(rows, 50_000))
            w.writerows(chunk)
            gz.write(buf.getvalue().encode("utf-8"))
            buf.seek(0)
            buf.truncate()
            if len(chunk) < 50_000:
                break


def _shard_frames(seed: int, shard_seed: int, customers: int, params: Any, locale: str) -> dict[str, pd.DataFrame]:
    ids = get_identities(locale)
    firm = build_firm(_spawn(int(seed), SUBSYSTEMS)["firm"], ids, params.start, params.today)
    from dataclasses import replace

    p = replace(params, customers=int(customers))
    model = Model(shard_seed, p, ids, firm, _spawn(shard_seed, SUBSYSTEMS))
    day = (p.today - p.start).days
    model.run_until(day)
    frames = render(model, day)
    del model
    return frames


def _offset(frames: dict[str, pd.DataFrame], k: int, offsets: dict[str, int], camp_map: dict[int, int],
            customers: int) -> None:
    """Shift ids and foreign keys of shard ``k``'s frames in place (global ids)."""
    for name in SHARD_TABLES:
        f = frames.get(name)
        if f is None or len(f) == 0:
            continue
        if "id" in f.columns:
            f["id"] = f["id"].to_numpy().astype(np.int64) + offsets[name]
        for col, target in _fk_targets(name):
            if col not in f.columns or target in FIRM_TABLES:
                continue
            s = f[col]
            if target == "campaign":
                f[col] = s.map(camp_map).astype(s.dtype)
            elif offsets.get(target):
                f[col] = s + offsets[target]
        if name == "audit_log" and len(f):
            f["row_id"] = f["row_id"].to_numpy() + np.array([offsets.get(x, 0) for x in f["table_name"]], dtype=np.int64)
        entity = name
        col = "invoice_no" if name == "invoice" else "code"
        if entity in CODE_FORMATS and col in f.columns:
            f[col] = codes(entity, f["id"].to_numpy(), _code_total(entity, customers))


def _campaign_key(frame: pd.DataFrame) -> list[str]:
    return frame["name"].astype(str).tolist()


def _run_shard(k: int, ctx: dict[str, Any], counts: Any, ready: Any, results: Any) -> None:
    """Simulate, render and write shard ``k``; wait for the row counts of earlier shards first."""
    n_t = len(SHARD_TABLES)
    frames = _shard_frames(ctx["seed"], ctx["seeds"][k], ctx["sizes"][k], ctx["params"], ctx["locale"])
    for j, name in enumerate(SHARD_TABLES):
        counts[k * n_t + j] = len(frames.get(name, ()))
    ready[k].set()
    for j in range(k):
        ready[j].wait()
    offsets = {name: int(sum(counts[i * n_t + j] for i in range(k))) for j, name in enumerate(SHARD_TABLES)}
    camp = frames.pop("campaign")
    names = _campaign_key(camp)
    camp_map = {int(i): ctx["campaign_ids"][nm] for i, nm in zip(camp["id"], names)}
    _offset(frames, k, offsets, camp_map, ctx["total"])
    out = Path(ctx["out_dir"])
    ext = "parquet" if ctx["fmt"] == "parquet" else "csv.gz"
    for name in SHARD_TABLES + (FIRM_TABLES if k == 0 else ()):
        f = frames.pop(name, None)
        if f is None:
            continue
        _write(f, name, out / name / f"part-{k:03d}.{ext}", ctx["fmt"])
        del f
    keep = ["name", "campaign_type", "channel", "owner_id", "start_date", "end_date", "cost_per_contact", "budget",
            "status", "control_share", "seed"]
    results.put((k, camp[keep].assign(_name=names).to_dict("list")))


def _worker(shards: list[int], ctx: dict[str, Any], counts: Any, ready: Any, results: Any) -> None:
    for k in shards:
        _run_shard(k, ctx, counts, ready, results)


class _Event:  # in-process stand-in for multiprocessing.Event
    def set(self) -> None:
        pass

    def wait(self) -> None:
        pass


class _Queue(list):
    def put(self, x: Any) -> None:
        self.append(x)


def generate_sharded(out_dir: Any, seed: int = 2026, customers: int = 1_000_000, shards: int = 20,
                     start: Any = dt.date(2023, 1, 1), today: Any = dt.date(2025, 12, 31), locale: str = "zh_CN",
                     workers: int | None = None, fmt: str = "csv", **params: Any) -> dict[str, Any]:
    """Build a large world in customer shards, writing each table's shard to ``out_dir`` as it goes.

    Args:
        out_dir: folder for ``<table>/part-<k>.csv.gz`` (or ``.parquet``).
        seed: the world's seed; shard ``k`` uses child ``k`` of ``SeedSequence(seed)``.
        customers: customers in all (split evenly over the shards).
        shards: number of sub-models (memory grows with ``customers / shards``).
        start, today: the world's founding date and "today".
        locale: identities' locale.
        workers: processes running shards at once (default: ``min(2, cpu count)``; 1 runs in
            this process). The files do not depend on it.
        fmt: ``"csv"`` (``.csv.gz``) or ``"parquet"`` (needs ``pyarrow``).
        **params: other :class:`~simcrm.sim.model.SimParams` fields.

    Returns:
        ``{"rows": {table: rows}, "total_rows", "seconds", "files"}``.
    """
    from .world import _params

    t0 = time.perf_counter()
    p = _params(customers, start, today, params)
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    shards = max(1, min(int(shards), int(customers)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # campaigns are the firm's: one id per campaign of the plan, in order of start
    plan = Model.__new__(Model)
    plan.p = p
    Model._campaign_plan(plan)
    day = (p.today - p.start).days
    campaign_ids = {s["name"]: i + 1 for i, s in enumerate(s for s in plan.campaign_specs if s["start"] <= day + 30)}
    ctx = {"seed": int(seed), "seeds": shard_seeds(seed, shards), "sizes": _sizes(int(customers), shards),
           "params": p, "locale": locale, "out_dir": str(out), "fmt": fmt, "campaign_ids": campaign_ids,
           "total": int(customers)}
    n_t = len(SHARD_TABLES)
    workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
    workers = max(1, min(workers, shards))
    if workers == 1:
        counts = [0] * (shards * n_t)
        results: Any = _Queue()
        ready = [_Event() for _ in range(shards)]
        _worker(list(range(shards)), ctx, counts, ready, results)
        got = list(results)
    else:
        import multiprocessing as mp

        mpc = mp.get_context()
        counts = mpc.Array("q", shards * n_t, lock=False)
        ready = [mpc.Event() for _ in range(shards)]
        results = mpc.Queue()
        procs = [mpc.Process(target=_worker, args=(list(range(i, shards, workers)), ctx, counts, ready, results))
                 for i in range(workers)]
        for pr in procs:
            pr.start()
        import queue

        got = []
        while len(got) < shards:
            try:
                got.append(results.get(timeout=1.0))
            except queue.Empty:
                dead = [pr for pr in procs if pr.exitcode not in (None, 0)]
                if dead:
                    for pr in procs:
                        if pr.is_alive():
                            pr.terminate()
                    raise RuntimeError(f"shard worker failed with exit code {dead[0].exitcode}") from None
        for pr in procs:
            pr.join()
            if pr.exitcode:
                raise RuntimeError(f"shard worker failed with exit code {pr.exitcode}")
    got.sort(key=lambda r: r[0])
    rows = {name: int(sum(counts[k * n_t + j] for k in range(shards))) for j, name in enumerate(SHARD_TABLES)}
    # firm-level tables come from shard 0
    ext = "parquet" if fmt == "parquet" else "csv.gz"
    for name in FIRM_TABLES:
        rows[name] = len(read_table(out, name))
    # campaigns: one row each, budgets summed over the shards
    camp = pd.concat([pd.DataFrame(c) for _, c in got], ignore_index=True)
    if len(camp):
        budget = camp.groupby("_name", sort=False)["budget"].sum()
        camp = camp.drop_duplicates("_name").copy()
        camp["budget"] = budget.reindex(camp["_name"]).to_numpy()
        camp.insert(0, "id", [campaign_ids[x] for x in camp["_name"]])
        camp = camp.drop(columns="_name").sort_values("id").reset_index(drop=True)
        camp.insert(1, "code", codes("campaign", camp["id"].to_numpy()))
        camp["seed"] = int(seed)
    else:
        camp = pd.DataFrame(columns=["id", "code"])
    _write(camp, "campaign", out / "campaign" / f"part-000.{ext}", fmt)
    rows["campaign"] = len(camp)
    # numbering rules from the global counts
    nr = []
    for entity, (prefix, width) in CODE_FORMATS.items():
        n = rows.get(entity, 0)
        if entity in SHARD_TABLES and n:
            width = max(width, len(str(int(_code_total(entity, int(customers))))))
        nr.append((entity, prefix, None, width, n + 1))
    numbering = pd.DataFrame(nr, columns=["entity", "prefix", "date_format", "width", "next_value"])
    numbering.insert(0, "id", np.arange(1, len(numbering) + 1))
    _write(numbering, "numbering_rule", out / "numbering_rule" / f"part-000.{ext}", fmt)
    rows["numbering_rule"] = len(numbering)
    files = sorted(str(x.relative_to(out)) for x in out.rglob(f"*.{ext}"))
    return {"rows": rows, "total_rows": int(sum(rows.values())), "seconds": time.perf_counter() - t0, "files": files}


def read_table(out_dir: Any, table: str) -> pd.DataFrame:
    """A table of a sharded world, all parts concatenated (ids as written)."""
    folder = Path(out_dir) / table
    parts = sorted(folder.glob("part-*"))
    if not parts:  # a table the model never fills (e.g. refund): empty, with the schema's columns
        t = schema.metadata.tables.get(table)
        return pd.DataFrame(columns=[c.name for c in t.columns] if t is not None else [])
    if parts[0].suffix == ".parquet":
        return pd.concat([pd.read_parquet(x) for x in parts], ignore_index=True)
    return pd.concat([pd.read_csv(x, keep_default_na=False, na_values=[""], low_memory=False) for x in parts],
                     ignore_index=True)
