"""Vectorised validation of whole DataFrames against the schema, and a fast bulk writer.

The simulation writes hundreds of thousands of rows; checking them one by one with
:meth:`Store.validate` would take longer than generating them. :func:`validate_frame` applies
the same rules column-wise (required, fixed states, min/max, text length, dictionary ids,
unique, foreign keys present) and raises the same :class:`~simcrm.errors.SimCRMError`
subclasses, naming the table, field, first bad value and what is allowed.
:func:`write_frames` then inserts every table inside one store transaction; on SQLite it
uses the DBAPI cursor's ``executemany`` with values already in SQLAlchemy's storage format
(dates ``YYYY-MM-DD``, times ``YYYY-MM-DD HH:MM:SS.000000``, booleans 0/1), elsewhere
SQLAlchemy's executemany, and on PostgreSQL it moves the id sequences past the written ids.

    >>> import pandas as pd
    >>> from simcrm.store import Store
    >>> store = Store()
    >>> bad = pd.DataFrame({"id": [1], "urgency": ["很急"], "first_response_hours": [1.0],
    ...                     "resolution_hours": [8.0]})
    >>> validate_frame("sla_policy", bad, store)
    Traceback (most recent call last):
    ...
    simcrm.errors.UnknownValueError: 服务等级协议.紧急程度（urgency）... '很急' 不在允许的取值中。允许：非常紧急、紧急、一般
    [en] unknown value '很急' for field 'urgency'; allowed: 非常紧急、紧急、一般
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, Text, bindparam, insert, text
from sqlalchemy import update as sa_update

from .. import reference
from ..errors import NotFoundError, RequiredFieldError, UnknownValueError, ValidationError, DuplicateError
from . import schema, summaries

__all__ = ["validate_frame", "validate_frames", "to_db_frame", "write_frames"]


def _label(table: str, column: str) -> str:
    return f"{schema.table_label(table)}.{schema.column_label(table, column)}"


def _missing(s: pd.Series) -> np.ndarray:
    m = s.isna().to_numpy()
    if s.dtype == object or str(s.dtype) == "str":
        m = m | (s.astype("str").str.strip() == "").to_numpy() & ~m
    return m


def to_db_frame(table: str, frame: pd.DataFrame, dictionary_ids: Mapping[tuple[str, str], int]) -> pd.DataFrame:
    """Replace dictionary text by ids (unknown text raises), keep everything else."""
    out = frame.copy()
    for col, list_name in schema.dictionary_columns(table).items():
        if col not in out.columns:
            continue
        s = out[col]
        if pd.api.types.is_integer_dtype(s.dtype):
            continue
        vals = s.astype(object).to_numpy()
        miss = pd.isna(vals)
        lookup = {v: i for (ln, v), i in dictionary_ids.items() if ln == list_name}
        # one hash lookup per distinct text instead of a Python loop over the rows
        pos = pd.Index(list(lookup), dtype=object).get_indexer(vals)
        ids = np.where(pos >= 0, np.array(list(lookup.values()) + [-1], dtype=np.int64)[pos], -1)
        ids[miss] = 0
        bad = (ids < 0) & ~miss
        if bad.any():
            raise UnknownValueError(field=col, value=vals[bad][0], label=_label(table, col), allowed=sorted(lookup))
        arr = pd.array(ids, dtype="Int64")
        arr[miss] = pd.NA
        out[col] = arr
    return out


def validate_frame(table: str, frame: pd.DataFrame, store=None, *, known_ids: Mapping[str, np.ndarray] | None = None,
                   dictionary_ids: Mapping[int, str] | None = None) -> None:
    """Check a frame of new rows against the schema's rules, column by column.

    Args:
        table: the table name.
        frame: rows in database form (dictionary columns as ids), or with dictionary text
            when ``store`` is given (text is then looked up).
        store: a :class:`~simcrm.store.Store` to read dictionary ids and existing ids from.
        known_ids: ``{table: ids}`` that foreign keys may point to (e.g. rows written in the
            same batch); when omitted and a store is given, the store's ids are read.
        dictionary_ids: ``{dictionary id: list name}`` (read from the store when omitted).

    Raises:
        SimCRMError: the first rule broken, naming table, field, value and what is allowed.
    """
    t = schema.metadata.tables[table]
    unknown = [c for c in frame.columns if c not in t.c]
    if unknown:
        raise UnknownValueError(field=unknown[0], value=unknown[0], table=table, label="字段名",
                                allowed=[c.name for c in t.columns])
    if store is not None and dictionary_ids is None:
        d = store._dictionary()
        dictionary_ids = {i: r["list_name"] for r in d["rows"] for i in [r["id"]]}
        frame = to_db_frame(table, frame, d["by_value"])
    for c in t.columns:
        if c.name not in frame.columns:
            if not c.nullable and not c.primary_key and c.default is None:
                raise RequiredFieldError(field=c.name, value=None, label=_label(table, c.name))
            continue
        s = frame[c.name]
        miss = _missing(s)
        if not c.nullable and miss.any():
            raise RequiredFieldError(field=c.name, value=None, label=_label(table, c.name),
                                     reason=f"第 {int(np.flatnonzero(miss)[0]) + 1} 行")
        present = s[~miss]
        if len(present) == 0:
            continue
        info = c.info
        states = info.get("states_list") or (reference.state_values(info["states"]) if "states" in info else None)
        if states is not None:
            bad = ~present.isin(states).to_numpy()
            if bad.any():
                raise UnknownValueError(field=c.name, value=present.to_numpy()[bad][0], label=_label(table, c.name),
                                        allowed=states)
        if "dictionary" in info and dictionary_ids is not None:
            vals = present.astype(np.int64).to_numpy()
            lists = np.array([dictionary_ids.get(int(v)) for v in vals], dtype=object)
            bad = lists != info["dictionary"]
            if bad.any():
                raise UnknownValueError(field=c.name, value=int(vals[bad][0]), label=_label(table, c.name),
                                        allowed=f"{info['dictionary']} 字典中的编号")
        if isinstance(c.type, (Integer, Float)) and not isinstance(c.type, Boolean):
            num = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
            if np.isnan(num).any() or np.isinf(num).any():
                raise ValidationError(field=c.name, value=present.to_numpy()[np.isnan(num) | np.isinf(num)][0],
                                      label=_label(table, c.name), allowed="有限的数字")
            if "min" in info and (num < info["min"]).any():
                raise ValidationError(field=c.name, value=num[num < info["min"]][0], label=_label(table, c.name),
                                      allowed=f"不小于 {info['min']}")
            if "max" in info and (num > info["max"]).any():
                raise ValidationError(field=c.name, value=num[num > info["max"]][0], label=_label(table, c.name),
                                      allowed=f"不大于 {info['max']}")
        if isinstance(c.type, (String, Text)) and getattr(c.type, "length", None):
            lens = present.astype("str").str.len().to_numpy()
            if (lens > c.type.length).any():
                raise ValidationError(field=c.name, value=present.to_numpy()[lens > c.type.length][0],
                                      label=_label(table, c.name), allowed=f"不超过 {c.type.length} 个字符")
        if c.unique or c.primary_key:
            dup = present.duplicated().to_numpy()
            if dup.any():
                raise DuplicateError(field=c.name, value=present.to_numpy()[dup][0], label=_label(table, c.name),
                                     allowed="每条记录唯一的值")
        for fk in c.foreign_keys:
            target = fk.column.table.name
            if target == "dictionary":
                continue
            ids = None
            if known_ids is not None and target in known_ids:
                ids = known_ids[target]
            elif store is not None:
                ids = store.read(target, columns=["id"], resolve=False)["id"].to_numpy()
            if ids is None:
                continue
            vals = present.astype(np.int64).to_numpy()
            bad = ~np.isin(vals, ids)
            if bad.any():
                raise NotFoundError(field=c.name, value=int(vals[bad][0]), label=_label(table, c.name),
                                    allowed=f"已存在的{schema.table_label(target)}编号")
    # table-level rules: the opportunity invariant
    if table == "opportunity" and {"status", "probability"} <= set(frame.columns):
        st, pr = frame["status"].to_numpy(), frame["probability"].to_numpy(dtype=float)
        bad = ((st == "成功") & (pr != 100)) | ((st == "失败") & (pr != 0))
        if bad.any():
            raise ValidationError(field="probability", value=pr[bad][0], label=_label(table, "probability"),
                                  allowed="成功=100，失败=0")


def validate_frames(frames: Mapping[str, pd.DataFrame], store) -> None:
    """Validate a whole world's frames (database form), foreign keys against the batch itself."""
    d = store._dictionary()
    dict_lists = {r["id"]: r["list_name"] for r in d["rows"]}
    known = {name: f["id"].to_numpy() for name, f in frames.items() if "id" in f.columns}
    known["dictionary"] = np.array(list(dict_lists))
    for name in schema.TABLES:
        if name in frames:
            validate_frame(name, frames[name], known_ids=known, dictionary_ids=dict_lists)


_HOURS = [f" {h:02d}:" for h in range(24)]
_MIN_SEC: list[str] = []


def _day_strings(days: np.ndarray) -> np.ndarray:
    """Days since 1970 (int64, no NaT) → ``YYYY-MM-DD`` as an object array (one format per distinct day)."""
    if len(days) == 0:
        return np.zeros(0, dtype=object)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo <= 200_000:
        table = np.datetime_as_string(np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]"), unit="D").astype(object)
        return table[days - lo]
    uniq, inv = np.unique(days, return_inverse=True)
    return np.datetime_as_string(uniq.astype("datetime64[D]"), unit="D").astype(object)[inv]


def _plain_years(days: np.ndarray) -> bool:
    """All days in years 0001..9999 (where ISO text has the plain ``YYYY-MM-DD`` form)."""
    return not len(days) or (int(days.min()) >= -719162 and int(days.max()) <= 2932896)


def _column_values(c, s: pd.Series, sqlite: bool) -> list:
    """A column as a Python list of database values (None for missing).

    On SQLite dates and times become the text SQLAlchemy stores (``YYYY-MM-DD``,
    ``YYYY-MM-DD HH:MM:SS.000000``): each distinct day is formatted once and the time of day
    is put together from small tables, so no per-cell Python conversion is needed.
    """
    miss = s.isna().to_numpy()
    has_miss = bool(miss.any())
    ctype = c.type
    if isinstance(ctype, DateTime):
        a = s.to_numpy().astype("datetime64[s]")
        if sqlite:
            sec = a.view(np.int64)
            ok = sec[~miss] if has_miss else sec
            days = ok // 86400
            if not _plain_years(days):
                txt = np.char.add(np.char.replace(np.datetime_as_string(a, unit="s"), "T", " "), ".000000").astype(object)
                txt[miss] = None
                return txt.tolist()
            if not _MIN_SEC:
                _MIN_SEC.extend(f"{m:02d}:{x:02d}.000000" for m in range(60) for x in range(60))
            rest = ok - days * 86400
            hours = np.array(_HOURS, dtype=object)[rest // 3600]
            minsec = np.array(_MIN_SEC, dtype=object)[rest % 3600]
            txt = _day_strings(days) + hours + minsec
            if has_miss:
                out = np.full(len(a), None, dtype=object)
                out[~miss] = txt
                return out.tolist()
            return txt.tolist()
        return [None if mm else v for v, mm in zip(pd.to_datetime(pd.Series(a)).dt.to_pydatetime(), miss)]
    if isinstance(ctype, Date):
        a = s.to_numpy().astype("datetime64[D]")
        if sqlite:
            days = a.view(np.int64)
            ok = days[~miss] if has_miss else days
            if not _plain_years(ok):
                txt = np.datetime_as_string(a, unit="D").astype(object)
                txt[miss] = None
                return txt.tolist()
            if has_miss:
                out = np.full(len(a), None, dtype=object)
                out[~miss] = _day_strings(ok)
                return out.tolist()
            return _day_strings(days).tolist()
        return [None if mm else v for v, mm in zip(a.astype(object), miss)]
    if isinstance(ctype, Boolean):
        v = s.fillna(False).to_numpy().astype(bool)
        if not has_miss:
            return v.astype(np.int64).tolist() if sqlite else v.tolist()
        out = v.astype(np.int64).astype(object) if sqlite else v.astype(object)
        out[miss] = None
        return out.tolist()
    if isinstance(ctype, Integer):
        if s.dtype == np.int64:
            v = s.to_numpy()
        elif str(s.dtype) == "Int64":
            v = s.to_numpy(dtype=np.int64, na_value=0)
        else:
            v = s.to_numpy(dtype=float, na_value=np.nan)
            v = np.where(miss, 0, v).astype(np.int64)
        if not has_miss:
            return v.tolist()
        out = v.astype(object)
        out[miss] = None
        return out.tolist()
    if isinstance(ctype, Float):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        if not has_miss:
            return v.tolist()
        out = v.astype(object)
        out[miss] = None
        return out.tolist()
    out = s.to_numpy(dtype=object)
    if has_miss:
        out = out.copy()
        out[miss] = None
    return out.tolist()


def _rows(t, frame: pd.DataFrame, sqlite: bool, *, lazy: bool = False) -> tuple[list[str], Any]:
    """Column names and the rows as tuples (``lazy``: an iterator, for ``executemany``)."""
    cols = [c for c in t.columns if c.name in frame.columns]
    data = [_column_values(c, frame[c.name], sqlite) for c in cols]
    rows = zip(*data)
    return [c.name for c in cols], rows if lazy else list(rows)


def _insert_sql(name: str, names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f'INSERT INTO "{name}" ({quoted}) VALUES ({", ".join("?" * len(names))})'


def _update_by_id(t: Any, columns: list[str]) -> Any:
    """``UPDATE t SET column = :column, … WHERE id = :_id`` (rows bound as dicts, the key as ``_id``)."""
    return sa_update(t).where(t.c.id == bindparam("_id")).values({c: bindparam(c) for c in columns})


def _cycle_columns(t: Any) -> list[str]:
    """Columns of ``t`` whose foreign key closes a cycle (``use_alter``: department.manager_id →
    employee). SQLite checks them at commit; elsewhere they are set after every insert."""
    return [fk.parent.name for fk in t.foreign_keys if fk.use_alter or fk.constraint.use_alter]


def write_frames(store, frames: Mapping[str, pd.DataFrame], *, update: Mapping[str, pd.DataFrame] | None = None,
                 bulk: bool = False) -> None:
    """Insert ``frames`` (database form, explicit ids) and apply ``update`` rows, in one transaction.

    Tables are written parents first; foreign keys are checked at commit (SQLite
    ``defer_foreign_keys``), so the organisation's cycle (department ↔ employee) needs no
    second pass. ``update`` frames hold the full new rows (with ``id``) of existing records.

    ``bulk=True`` is the fast path for filling a freshly created SQLite store with rows that
    were already checked (or generated by the simulation, whose tests validate them): the
    secondary indexes are dropped and rebuilt after the inserts, CHECK and foreign-key
    enforcement are paused for the transaction, and a file database skips its journal sync
    while it is built (``synchronous=OFF``, ``journal_mode=MEMORY``, back to WAL after).
    It is still one transaction: an error leaves the store as it was.
    """
    sqlite = store.dialect == "sqlite"
    if bulk and sqlite and not update:
        _bulk_sqlite(store, frames)
        store.invalidate_dictionary_cache()
        return
    with store.transaction() as conn:
        if sqlite:
            raw = conn.connection.driver_connection
            cur = raw.cursor()
            cur.execute("PRAGMA defer_foreign_keys = ON")
        later: list[tuple[Any, pd.DataFrame]] = []  # PostgreSQL: the cycle's keys, set after the inserts
        for name in schema.TABLES:
            t = schema.metadata.tables[name]
            for mode, source in (("insert", frames), ("update", update or {})):
                frame = source.get(name)
                if frame is None or len(frame) == 0:
                    continue
                if mode == "insert" and not sqlite:
                    cyclic = [c for c in _cycle_columns(t) if c in frame.columns and frame[c].notna().any()]
                    if cyclic:
                        later.append((t, frame[["id", *cyclic]]))
                        frame = frame.assign(**{c: None for c in cyclic})
                names, rows = _rows(t, frame, sqlite)
                if mode == "insert":
                    if sqlite:
                        cur.executemany(_insert_sql(name, names), rows)
                    else:
                        conn.execute(insert(t), [dict(zip(names, r)) for r in rows])
                else:
                    set_cols = [n for n in names if n != "id"]
                    if sqlite:
                        sql = f'UPDATE "{name}" SET {", ".join(chr(34) + n + chr(34) + " = ?" for n in set_cols)} WHERE id = ?'
                        idx = names.index("id")
                        cur.executemany(sql, [tuple(v for k, v in enumerate(r) if k != idx) + (r[idx],) for r in rows])
                    else:
                        idx = names.index("id")
                        conn.execute(_update_by_id(t, set_cols),
                                     [{**{n: v for n, v in zip(names, r) if n != "id"}, "_id": r[idx]} for r in rows])
        for t, keys in later:
            cols = [c for c in keys.columns if c != "id"]
            conn.execute(_update_by_id(t, cols), [{**{c: (None if pd.isna(r[c]) else int(r[c])) for c in cols}, "_id": int(r["id"])}
                                for r in keys.to_dict("records")])
        if store.dialect == "postgresql":
            for name in frames:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"COALESCE((SELECT MAX(id) FROM \"{name}\"), 1))"))
    store.invalidate_dictionary_cache()


def _bulk_sqlite(store, frames: Mapping[str, pd.DataFrame]) -> None:
    proxy = store.engine.raw_connection()
    raw = proxy.driver_connection
    memory = store.url in ("sqlite://", "sqlite:///:memory:")
    failed = True
    try:
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("PRAGMA ignore_check_constraints = ON")
        if not memory:
            raw.execute("PRAGMA synchronous = OFF")
            raw.execute("PRAGMA journal_mode = MEMORY")
        raw.execute("BEGIN IMMEDIATE")
        try:
            tables = [n for n in schema.TABLES if frames.get(n) is not None and len(frames[n])]
            marks = ", ".join("?" * len(tables))
            indexes = raw.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                  f"AND tbl_name IN ({marks}) ORDER BY name", tables).fetchall()
            # the triggers keeping the summaries (simcrm.store.summaries) would each add up a
            # record's rows on tables without their indexes: off for the inserts, the summaries
            # rebuilt from all the rows after them, and the triggers back, in the same transaction
            triggers = raw.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                   f"AND tbl_name IN ({marks}) ORDER BY name", tables).fetchall()
            for iname, _sql in indexes:
                raw.execute(f'DROP INDEX "{iname}"')
            for tname, _sql in triggers:
                raw.execute(f'DROP TRIGGER "{tname}"')
            for name in tables:
                names, rows = _rows(schema.metadata.tables[name], frames[name], True, lazy=True)
                raw.executemany(_insert_sql(name, names), rows)
            for _iname, sql in indexes:
                raw.execute(sql)
            summaries.rebuild_sqlite(raw, store.engine.dialect, set(tables))
            for _tname, sql in triggers:
                raw.execute(sql)
            raw.execute("COMMIT")
        except BaseException:
            # a full disk (SQLITE_FULL) or an I/O error may have rolled the transaction back
            # already; a second ROLLBACK would then hide the real error behind "no transaction"
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
    except BaseException:
        failed = True
        raise
    else:
        failed = False
    finally:
        try:
            raw.execute("PRAGMA ignore_check_constraints = OFF")
            raw.execute("PRAGMA foreign_keys = ON")
            if not memory:
                raw.execute("PRAGMA journal_mode = WAL")
                raw.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error:
            if not failed:  # after an error (a full disk) the first error is the one to report
                raise
        finally:
            proxy.close()
