"""A simulated world: the firm, its customers and their history, in a store.

    >>> from simcrm.sim import generate
    >>> w = generate(seed=1, customers=60, start="2024-01-01", today="2024-06-30")
    >>> w.table("customer")["lifecycle"].isin(["潜在", "签约", "重复购买", "失效"]).all()
    np.True_
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..store import Store, schema
from ..store.frames import to_db_frame, validate_frames, write_frames
from .firm import Firm, build_firm
from .identities import get_identities
from .model import SUBSYSTEMS, Model, SimParams, _spawn
from .render import render

__all__ = ["World", "generate", "generate_frames"]

DEFAULT_SEED = 2026
#: a world's founding date and its "today" unless told otherwise
DEFAULT_START, DEFAULT_TODAY = dt.date(2023, 1, 1), dt.date(2025, 12, 31)


def _date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    from ..errors import ConfigError

    raise ConfigError(field=name, value=value, allowed="日期，如 2025-12-31")


class World:
    """One simulated firm and its customers, with the CRM database that records them.

    Attributes:
        store: the :class:`~simcrm.store.Store` holding the CRM's tables.
        seed: the seed the world was generated from.
        params: its :class:`~simcrm.sim.model.SimParams`.
        today: the world's current date (advanced by :meth:`step`).
        firm: ``{"name", "industry", "city"}`` of the simulated firm.
    """

    def __init__(self, seed: int, params: SimParams, store: Store, locale: str = "zh_CN",
                 _state: Any = None, _meta: dict[str, Any] | None = None):
        self.seed = int(seed)
        self.params = params
        self.store = store
        self.locale = locale
        self.today = params.today
        if _state is not None:  # restored from the cache
            self._meta = dict(_meta or {})
            if isinstance(_state, dict):
                self._set_state(_state)
            else:  # a cache.LazyState: the model is unpickled when first needed (step, latent traits)
                self._lazy = _state
            return
        rngs = _spawn(self.seed, SUBSYSTEMS)
        ids = get_identities(locale)
        self._firm: Firm = build_firm(rngs["firm"], ids, params.start, params.today)
        self._model = Model(self.seed, params, ids, self._firm, rngs)
        self._written: dict[str, pd.DataFrame] = {}
        #: per table, the stored id of each rendered row (rendered id ``i`` → ``_idmap[t][i - 1]``)
        self._idmap: dict[str, np.ndarray] = {}

    def _state(self) -> dict[str, Any]:
        return {"model": self._model, "written": self._written, "idmap": self._idmap}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._model = state["model"]
        self._firm = self._model.firm
        self._written = state["written"]
        self._idmap = state["idmap"]

    def _handover(self) -> tuple[Any, dict[str, Any]]:
        """The state (or the still unread cached state) and metadata, for another World on the same tables."""
        if "_lazy" in self.__dict__:
            return self.__dict__["_lazy"], dict(self._meta)
        return self._state(), {"firm": self.firm}

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not set: the state of a world restored from the cache
        if name in ("_model", "_firm", "_written", "_idmap") and "_lazy" in self.__dict__:
            lazy = self.__dict__.pop("_lazy")
            try:
                state = lazy.get()
            except Exception:  # noqa: BLE001 - unreadable cached state: rebuild it (deterministic)
                state = self._rebuilt_state()
            self._set_state(state)
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _rebuilt_state(self) -> dict[str, Any]:
        """The model state as generated (what the cache keeps), by running the model again."""
        rngs = _spawn(self.seed, SUBSYSTEMS)
        ids = get_identities(self.locale)
        firm = build_firm(rngs["firm"], ids, self.params.start, self.params.today)
        model = Model(self.seed, self.params, ids, firm, rngs)
        day = (self.params.today - self.params.start).days
        model.run_until(day)
        by_value = self.store._dictionary()["by_value"]
        written = {name: to_db_frame(name, f, by_value) for name, f in render(model, day).items()}
        idmap = {name: np.arange(1, len(f) + 1, dtype=np.int64) for name, f in written.items() if "id" in f.columns}
        return {"model": model, "written": written, "idmap": idmap}

    @property
    def firm(self) -> dict[str, str]:
        if "_lazy" in self.__dict__ and "firm" in self._meta:
            return dict(self._meta["firm"])
        return {"name": self._firm.name, "industry": self._firm.industry, "city": self._firm.city}

    @property
    def _latent(self) -> pd.DataFrame:
        """The customers' latent traits (private: never shown to students)."""
        c = self._model.cust.frame()
        return c[[k for k in c.columns if k.startswith("_")]].copy()

    def _day(self) -> int:
        return (self.today - self.params.start).days

    def _frames(self) -> dict[str, pd.DataFrame]:
        frames = render(self._model, self._day())
        by_value = self.store._dictionary()["by_value"]
        return {name: to_db_frame(name, f, by_value) for name, f in frames.items()}

    def _run(self, progress: Any = None, validate: bool = True) -> None:
        self._model.run_until(self._day(), progress=progress)
        frames = self._frames()
        if validate:
            validate_frames(frames, self.store)
        inserts, updates = {}, {}
        for name, f in frames.items():
            old = self._written.get(name)
            if old is None:
                inserts[name] = f
                continue
            n_old = len(old)
            inserts[name] = f.iloc[n_old:]
            head = f.iloc[:n_old].reset_index(drop=True)
            same = (head.astype(object).where(head.notna(), None).to_numpy()
                    == old.astype(object).where(old.notna(), None).to_numpy()).all(axis=1)
            if (~same).any():
                updates[name] = head[~same]
        fresh = not self._written and all(self.store.count(n) == 0 for n in ("department", "customer"))
        self._extend_idmap(frames)
        inserts = {n: self._to_store_ids(n, f) for n, f in inserts.items()}
        updates = {n: self._to_store_ids(n, f) for n, f in updates.items()}
        write_frames(self.store, inserts, update=updates, bulk=fresh)
        self._written = frames

    # -- ids: rows students inserted keep theirs; the world's new rows go past them ----------

    def _max_id(self, name: str) -> int:
        from sqlalchemy import text

        with self.store._reader() as conn:
            v = conn.execute(text(f'SELECT MAX(id) FROM "{name}"')).scalar()
        return int(v or 0)

    def _extend_idmap(self, frames: dict[str, pd.DataFrame]) -> None:
        """Give the newly rendered rows of each table ids past the largest id in the store."""
        for name, f in frames.items():
            if "id" not in f.columns:
                continue
            old = self._idmap.get(name, np.zeros(0, dtype=np.int64))
            if len(f) > len(old):
                top = int(old[-1]) if len(old) else 0
                if self._written:  # rows a student inserted since the last write
                    top = max(top, self._max_id(name))
                old = np.concatenate([old, top + np.arange(1, len(f) - len(old) + 1, dtype=np.int64)])
            self._idmap[name] = old

    def _to_store_ids(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Rewrite ``id`` and foreign keys of rendered rows into stored ids."""
        if frame is None or len(frame) == 0:
            return frame
        t = schema.metadata.tables[name]
        targets = [("id", name)] + [(c.name, fk.column.table.name) for c in t.columns for fk in c.foreign_keys
                                    if fk.column.table.name != "dictionary" and c.name in frame.columns]
        out = None
        for col, target in targets:
            mp = self._idmap.get(target)
            if mp is None or len(mp) == 0 or int(mp[-1]) == len(mp):  # identity
                continue
            if out is None:
                out = frame.copy()
            v = out[col].to_numpy(dtype="float64", na_value=np.nan)
            ok = ~np.isnan(v)
            mapped = np.zeros(len(v), dtype=np.int64)
            mapped[ok] = mp[v[ok].astype(np.int64) - 1]
            arr = pd.array(mapped, dtype="Int64")
            arr[~ok] = pd.NA
            out[col] = arr if (~ok).any() or str(out[col].dtype) == "Int64" else mapped
        return frame if out is None else out

    def _rendered_ids(self, name: str, stored: pd.Series) -> pd.Series:
        """Stored ids → rendered ids (NaN for rows the world did not write)."""
        mp = self._idmap.get(name, np.zeros(0, dtype=np.int64))
        inv = pd.Series(np.arange(1, len(mp) + 1), index=mp)
        return pd.Series(inv.reindex(stored.to_numpy()).to_numpy(), index=stored.index)

    def table(self, name: str, **kwargs: Any) -> pd.DataFrame:
        """A table as a DataFrame (see :meth:`Store.read`; dictionary fields as text)."""
        return self.store.read(name, **kwargs)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the world."""
        return {name: self.table(name) for name in schema.TABLES}

    def step(self, days: int = 91, *, progress: Any = None) -> "World":
        """Continue the same model ``days`` past today, appending and updating records.

        Care and retention actions that a student recorded in the store (``care`` rows,
        members of a campaign's 目标组) are applied as actions of the firm's menu
        (:mod:`simcrm.sim.actions`), with an effect that depends on each customer's hidden
        state, so their effect can be measured against a control group. The world's complaints
        a user handled in the CRM (``complaint_history`` rows the world did not write) are the
        user's from then on, and their resolution acts on the customer (fast and satisfying
        binds, slow or unsatisfying does not; :meth:`_read_complaint_handling`). Same seed and
        the same sequence of steps give the same tables; with no such records, the same tables
        as before this reading existed (nothing is drawn or scheduled).
        """
        if days < 0:
            from ..errors import ConfigError

            raise ConfigError(field="days", value=days, allowed="不小于 0 的天数")
        self._read_interventions(days)
        self.today = self.today + dt.timedelta(days=int(days))
        self._run(progress=progress)
        return self

    def surge_complaints(self, factor: float) -> "World":
        """A scenario for the coming quarters: from today on, unhappy customers complain ``factor``
        times as readily (:meth:`Model.surge_complaints`); the tables up to today do not change."""
        self._model.surge_complaints(self._day(), factor)
        # kept on the world too: a scenario lives in the model state, so a chapter that sets one
        # cannot be served a cached copy of its prepared tables (lab.session.build_world)
        self.scenario = {**self.__dict__.get("scenario", {}), "complaint_surge": float(factor)}
        return self

    def _read_interventions(self, days: int) -> None:
        """Care and retention actions students recorded become menu actions on those customers.

        A ``care`` row the world did not write (done, or planned within the coming period) is
        the action its subject names, or the one its channel stands for; a customer a student
        put in a campaign's 目标组 gets the campaign's action (named in the campaign's name, or
        from its channel and type). See :mod:`simcrm.sim.actions`. The effect depends on each
        customer's hidden state and is the same in every run (no random draw).
        """
        from .actions import action_for

        lo = self._day()
        hi = lo + days
        model = self._model
        cust_map = self._customer_index()
        start = pd.Timestamp(self.params.start)

        def to_day(v: pd.Series, default: int) -> np.ndarray:
            d = ((pd.to_datetime(v) - start).dt.days).to_numpy(dtype="float64", na_value=np.nan)
            return np.clip(np.where(np.isnan(d), default, d), lo, hi).astype(np.int64)

        def model_index(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
            rendered = self._rendered_ids("customer", ids)
            idx = cust_map.reindex(rendered.to_numpy()).to_numpy()
            ok = ~np.isnan(idx)
            return idx[ok].astype(np.int64), ok

        # each student row acts once, in the step that covers its date
        applied = model.__dict__.setdefault("applied", {"care": set(), "campaign_member": set()})
        care = self.store.read("care", resolve=True)
        extra = care[~care["id"].isin(self._idmap.get("care", [])) & ~care["id"].isin(applied["care"])]
        if len(extra):
            when = extra["done_date"].fillna(extra["planned_date"])
            extra = extra[when.notna() & (pd.to_datetime(when) <= start + pd.Timedelta(days=hi))]
            applied["care"].update(extra["id"].tolist())
            acts = [action_for(ch, None, subj) for ch, subj in zip(extra["channel"], extra["subject"])]
            days_ = to_day(extra["done_date"].fillna(extra["planned_date"]), lo)
            for act in sorted(set(acts)):
                m = np.array([a == act for a in acts])
                idx, ok = model_index(extra.loc[m, "customer_id"])
                model.apply_action(idx, days_[m][ok], act)
        members = self.store.read("campaign_member", resolve=False)
        extra_m = members[~members["id"].isin(self._idmap.get("campaign_member", []))
                          & (members["group_name"] == "目标组") & ~members["id"].isin(applied["campaign_member"])]
        applied["campaign_member"].update(extra_m["id"].tolist())
        if len(extra_m):
            camp = self.store.read("campaign", resolve=True).set_index("id")
            for cid, grp in extra_m.groupby("campaign_id", sort=True):
                if cid not in camp.index:
                    continue
                row = camp.loc[cid]
                act = action_for(row["channel"], row["campaign_type"], row["name"])
                when = grp["contacted_at"].fillna(row["start_date"]) if "contacted_at" in grp else None
                idx, ok = model_index(grp["customer_id"])
                model.apply_action(idx, to_day(when, lo)[ok], act)
        self._read_complaint_policy(lo)
        self._read_complaint_handling(lo, hi)

    def _read_complaint_policy(self, lo: int) -> None:
        """The firm's complaint-handling policy (``complaint_policy``, set in the CRM) for the coming period.

        The rules in the store when a step starts decide the complaints received after today
        (:meth:`Model.set_complaint_policy`): when each is first answered and return-visited,
        with what remedy and satisfaction, by whom. Read again at every step; the model is only
        told when the rules changed, so a step with the same rules changes nothing. With no
        rules (and none before), nothing is read into the model and the world is exactly as
        without this table.
        """
        model = self._model
        pol = self.store.read("complaint_policy", resolve=True)
        had = model.__dict__.get("complaint_policy")
        if not len(pol) and had is None:
            return
        who = self._rendered_ids("employee", pol["handler_id"].astype("float64"))
        rules = {str(c): (int(a), int(b), str(r), int(h) if pd.notna(h) else -1)
                 for c, a, b, r, h in zip(pol["category"], pol["response_days"], pol["resolve_days"], pol["remedy"], who)}
        if had is not None and had["rules"] == rules:
            return
        model.set_complaint_policy(rules or None, lo)

    def _read_complaint_handling(self, lo: int, hi: int) -> None:
        """Complaints of the world that a CRM user took into their hands, and those they resolved.

        A complaint the world wrote that has ``complaint_history`` rows the world did not write is
        the user's from then on (:meth:`Model.take_over_complaints`: the model stops advancing
        it, so a step never overwrites what the user recorded). Its first such row with status
        已回访 (dated up to the end of the coming period) resolves it on that day, with the
        satisfaction recorded on the complaint (:meth:`Model.resolve_complaints`). Each
        complaint is taken over once and resolved once. Nothing is read or changed when no user
        touched a complaint of the world.
        """
        world_ids = self._idmap.get("complaint")
        if world_ids is None or not len(world_ids):
            return
        hist = self.store.read("complaint_history", resolve=True)
        mine = hist[~hist["id"].isin(self._idmap.get("complaint_history", [])) & hist["complaint_id"].isin(world_ids)]
        if not len(mine):
            return
        model = self._model
        applied = model.__dict__.setdefault("applied", {"care": set(), "campaign_member": set()})
        taken = applied.setdefault("complaint", {})  # stored complaint id → still open for the customer
        resolved = applied.setdefault("complaint_resolved", set())
        rendered = self._rendered_ids("complaint", pd.Series(world_ids))
        f = model.ev["complaint"].frame()
        T = self._day()
        arrive = model.cust["arrive"]
        vis = (f["day"].to_numpy() <= T) & (arrive[f["cust"].to_numpy()] <= T)
        from .render import _order_ids

        order = np.flatnonzero(vis)[_order_ids(f["day"].to_numpy()[vis], f["received"].to_numpy()[vis])]
        row_of = dict(zip(world_ids.tolist(), order[rendered.to_numpy().astype(np.int64) - 1].tolist()))
        new = sorted(set(int(x) for x in mine["complaint_id"]) - set(taken))
        if new:
            still = model.take_over_complaints(np.array([row_of[i] for i in new], dtype=np.int64), lo)
            taken.update(zip(new, still.tolist()))
        start = pd.Timestamp(self.params.start)
        visit = mine[mine["status"] == "已回访"].sort_values(["at", "id"]).groupby("complaint_id")["at"].first()
        visit = visit[~visit.index.isin(list(resolved))]
        day = (pd.to_datetime(visit) - start).dt.days
        visit = visit[day.to_numpy() <= hi]
        if not len(visit):
            return
        ids = [int(i) for i in visit.index]
        resolved.update(ids)
        comp = self.store.read("complaint", resolve=False, columns=["id", "satisfaction"]).set_index("id")["satisfaction"]
        sat = pd.to_numeric(comp.reindex(ids), errors="coerce").fillna(0).to_numpy()
        when = np.clip((pd.to_datetime(visit) - start).dt.days.to_numpy(), lo, hi).astype(np.int64)
        model.resolve_complaints(np.array([row_of[i] for i in ids], dtype=np.int64), when, sat,
                                 np.array([taken[i] for i in ids], dtype=bool))

    def _customer_index(self) -> pd.Series:
        c = self._model.cust.frame()
        vis = c["arrive"].to_numpy() <= self._day()
        order = np.lexsort((np.arange(vis.sum()), c["arrive_sec"].to_numpy()[vis], c["arrive"].to_numpy()[vis]))
        idx = np.flatnonzero(vis)[order]
        return pd.Series(idx, index=np.arange(1, len(idx) + 1))

    def __repr__(self) -> str:
        return (f"World(seed={self.seed}, customers={self.params.customers}, start={self.params.start}, "
                f"today={self.today}, firm={self._firm.name!r})")


def _params(customers: int, start: Any, today: Any, overrides: dict[str, Any]) -> SimParams:
    p = SimParams(customers=int(customers), start=_date(start, "start"), today=_date(today, "today"))
    if overrides:
        p = replace(p, **overrides)
    if p.today <= p.start:
        from ..errors import ConfigError

        raise ConfigError(field="today", value=str(p.today), allowed=f"晚于开始日期 {p.start}")
    return p


def world_key(seed: int, p: SimParams, locale: str = "zh_CN") -> str:
    """The world cache's key of the world of ``seed``, parameters ``p`` and ``locale``."""
    from . import cache as _cache

    return _cache.key(f"{int(seed)}|{locale}|{p.key()}")


def generate(seed: int = DEFAULT_SEED, customers: int = 2000, start: Any = DEFAULT_START,
             today: Any = DEFAULT_TODAY, locale: str = "zh_CN", db: Any = None,
             progress: bool | Callable | None = None, validate: bool = False, cache: bool | None = None,
             durable: bool = True, **params: Any) -> World:
    """Build a firm and run the behaviour model from ``start`` to ``today`` into a store.

    Args:
        seed: the one seed of the world (same seed and parameters → byte-identical tables).
        customers: customers created by ``today``.
        start: the founding date (``datetime.date`` or ISO text).
        today: the world's "today" (never the real clock).
        locale: identities' locale (``"zh_CN"``).
        db: ``None`` (in-memory SQLite), a file path, a SQLAlchemy URL, or a :class:`Store`.
            A file path must not exist yet (:class:`~simcrm.store.WorldFileError`); the world is
            built in a temporary file and moved there only when complete
            (:meth:`Store.build_file`), so an interrupted run never leaves a partial world.
        progress: ``True`` for a tqdm bar over the simulated weeks, or a callable wrapping
            an iterable.
        validate: check every generated row against the schema before writing (the tests do;
            the model's output is deterministic, so the default skips it for speed).
        cache: serve a world built before with the same seed, parameters and code from the
            cache (:mod:`simcrm.sim.cache`) and keep new ones there. ``None`` (default): on
            when a cache folder is available and the target is a new SQLite store; ``False``:
            always build.
        durable: flush a world file served from the cache to disk before it appears at ``db``
            (``False`` for a scratch file deleted when the process ends, like a lab session's).
        **params: other :class:`~simcrm.sim.model.SimParams` fields.

    Returns:
        The :class:`World`.
    """
    from . import cache as _cache

    p = _params(customers, start, today, params)
    if isinstance(db, (str, os.PathLike)) and "://" not in str(db) and str(db) != ":memory:":
        lock: Any = contextlib.nullcontext(False)
        target = Path(db).expanduser().resolve()
        if cache is not False and _cache.cache_dir() is not None and not (target.exists() and target.stat().st_size > 0):
            # a world built before: its verified SQLite file is copied as it is (no re-serialising)
            target.parent.mkdir(parents=True, exist_ok=True)
            k = world_key(seed, p, locale)

            def restored() -> World | None:
                got = _cache.restore_file(k, target, durable=durable)
                if got is None:
                    return None
                world = World(seed, p, Store(target, create=False, check=False), locale, _state=got[0], _meta=got[1])
                world._cache_key = k
                return world

            world = restored()
            if world is not None:
                return world
            lock = _cache.building(k)  # another process building the same world (a prebuild): wait for it
        with lock as waited:
            world = restored() if waited else None
            if world is not None:
                return world
            # a world file appears complete or not at all: built beside the target, then renamed
            with Store.build_file(db, create=False) as building:  # schema: restored or created below
                built = generate(seed, customers, start, today, locale, building, progress, validate, cache, **params)
                state, meta = built._handover()
        world = World(seed, p, Store(db, check=False), locale, _state=state, _meta=meta)  # built just now
        world._cache_key = built._cache_key
        return world
    store = db if isinstance(db, Store) else Store(db)
    use_cache = (cache is not False and _cache.cache_dir() is not None and store.dialect == "sqlite"
                 and _fresh(store))
    k = world_key(seed, p, locale) if use_cache else None
    if k is not None:
        proxy = store.engine.raw_connection()
        try:
            got = _cache.restore(k, proxy.driver_connection)
        finally:
            proxy.close()
        if got is not None:
            store.invalidate_dictionary_cache()
            world = World(seed, p, store, locale, _state=got[0], _meta=got[1])
            world._cache_key = k
            return world
    store.create_schema()  # at once when it is there already
    world = World(seed, p, store, locale)
    #: the world's cache key (``None`` when not cached): files made from it can be kept beside it
    world._cache_key = k
    world._run(progress=_progress(progress), validate=validate)
    if k is not None:
        proxy = store.engine.raw_connection()
        try:
            _cache.save(k, proxy.driver_connection, world._state(), meta={"firm": world.firm})
        finally:
            proxy.close()
    return world


def _fresh(store: Store) -> bool:
    """True for a store with no world yet (no schema at all, or no department and no customer)."""
    from sqlalchemy import text

    with store._reader() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    if not {"customer", "department"} <= names:
        return not names
    return store.count("customer") == 0 and store.count("department") == 0


def _progress(progress: Any) -> Any:
    if progress is True:
        from tqdm.auto import tqdm

        return lambda it: tqdm(it, desc="simcrm 模拟", unit="周")
    if callable(progress):
        return progress
    return None


def generate_frames(seed: int = DEFAULT_SEED, customers: int = 2000, start: Any = DEFAULT_START,
                    today: Any = DEFAULT_TODAY, locale: str = "zh_CN", out_dir: Any = None,
                    progress: Any = None, **params: Any) -> dict[str, pd.DataFrame]:
    """The world's tables as DataFrames without a database (large worlds).

    With ``out_dir`` each table is also written there as Parquet (needs ``pyarrow``) or,
    without it, as ``.csv.gz``.
    """
    p = _params(customers, start, today, params)
    rngs = _spawn(int(seed), SUBSYSTEMS)
    ids = get_identities(locale)
    firm = build_firm(rngs["firm"], ids, p.start, p.today)
    model = Model(int(seed), p, ids, firm, rngs)
    model.run_until((p.today - p.start).days, progress=_progress(progress))
    frames = render(model, (p.today - p.start).days)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        try:
            import pyarrow  # noqa: F401

            for name, f in frames.items():
                f.to_parquet(os.path.join(out_dir, f"{name}.parquet"), index=False)
        except ImportError:
            for name, f in frames.items():
                f.to_csv(os.path.join(out_dir, f"{name}.csv.gz"), index=False)
    return frames
