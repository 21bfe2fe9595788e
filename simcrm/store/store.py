"""The database behind a simcrm world: a SQLite file by default, or any SQLAlchemy URL.

    >>> from simcrm.store import Store
    >>> store = Store()                      # in-memory SQLite
    >>> store.dictionary_values("customer_level")
    ['VIP客户', '主要客户', '普通客户', '小客户']
    >>> store.count("customer")
    0
    >>> store.read("dictionary", labels=True).columns[:3].tolist()
    ['编号', '字典名称', '字典值']

Writes go through :meth:`Store.transaction` (all or nothing). :meth:`Store.insert` and
:meth:`Store.update` validate each row against the schema first, so a bad value raises a
:class:`~simcrm.errors.SimCRMError` naming the field, the value and what is allowed; the
database constraints stay as the last line of defence, and their errors are translated the
same way. Either way the transaction is rolled back and every row is as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text as sql_text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from .. import reference
from ..errors import (
    ConstraintError,
    SimCRMError,
    DuplicateError,
    NotFoundError,
    RequiredFieldError,
    UnknownValueError,
    ValidationError,
)
from . import schema, summaries

__all__ = ["Store", "BusyError", "WorldFileError", "check_file", "snapshot_equal"]

_MISSING = object()

#: how long one SQLite connection waits for another writer's lock before "database is locked"
BUSY_TIMEOUT_S = 20
#: how often :meth:`Store.atomic` runs an operation whose transaction lost a race (lock
#: timeout, deadlock, serialization failure, a unique key taken at the same moment)
ATTEMPTS = 5
#: the most characters a free-text (``Text``) field takes; ``String(n)`` fields take ``n``
TEXT_LIMIT = 10_000
#: PostgreSQL transaction-level advisory locks (first key of the two-int form)
ADVISORY_SCHEMA = 0x5C_0001
#: ``(ADVISORY_CUSTOMER_KEYS, h)``: a writer of the customer key with 32-bit hash ``h`` (a normalised
#: company name, a phone, an e-mail: :func:`simcrm.crm.customers.customer_keys`)
ADVISORY_CUSTOMER_KEYS = 0x5C_0002


#: SQLite ``PRAGMA application_id`` of every simcrm database file ("SIMC")
APPLICATION_ID = 0x53494D43
#: SQLite ``PRAGMA user_version`` of a world file while :meth:`Store.build_file` builds it
BUILDING = 0x5349_0001
#: existing SQLite files up to this size are integrity-checked (``PRAGMA quick_check``) on open
CHECK_LIMIT_BYTES = 64 * 2**20


class WorldFileError(SimCRMError):
    """A database file that is not a complete, undamaged simcrm world (世界文件不可用)."""

    problem_zh = "不可用"
    problem_en = "unusable world file"


class BusyError(SimCRMError):
    """The database stayed locked by another user (数据库忙)."""

    problem_zh = "暂时无法写入"
    problem_en = "database busy"


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip() == "":
        return True
    return False


class Store:
    """A connection to one CRM database, with the schema created on open.

    Args:
        url: ``None`` or ``":memory:"`` for an in-memory SQLite database, a file path for a
            SQLite file (created if missing), or any SQLAlchemy URL such as
            ``postgresql+psycopg://user@127.0.0.1:5432/crm``.
        create: create missing tables and load the default dictionaries (default ``True``).
        echo: log SQL (for debugging).
        check: check an existing SQLite file first (:func:`check_file`); ``False`` only for a
            file this process has just built (:meth:`build_file`).
    """

    def __init__(self, url: str | os.PathLike | None = None, *, create: bool = True, echo: bool = False,
                 check: bool = True):
        self.url = self._normalise_url(url)
        path = self.path
        if check and path is not None and path.exists() and path.stat().st_size > 0:
            check_file(path)
        self.engine: Engine = self._make_engine(self.url, echo)
        self.dialect = self.engine.dialect.name
        self._active: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            f"simcrm_store_{id(self)}", default=None
        )
        self._dict_cache: dict[str, Any] | None = None
        #: ids known to exist while :meth:`lookup_cache` is on (foreign-key checks of a batch)
        self._known_ids: dict[str, set[Any]] | None = None
        if create:
            self.create_schema()
        #: a shared classroom world on PostgreSQL (:mod:`simcrm.store.pg_security`): triggers
        #: write ``audit_log``, so simcrm's operations do not write their own audit rows there
        self.audited_by_database = False
        #: ``{"table.column"}`` this connection's login reads masked (a classroom login whose role
        #: type masks personal data: its search_path shows the masked copies under these names)
        self.masked_by_database: frozenset[str] = frozenset()
        #: a classroom world hashes the duplicate rule's keys in the database, with a secret salt
        #: (``simcrm_lock_keys``): a login may lock the keys of values it reads masked, and the
        #: keys other sessions lock (visible to all in ``pg_locks``) tell nobody a phone number
        self.key_locks_in_database = False
        if self.dialect == "postgresql":
            from . import pg_security

            with self.engine.connect() as conn:
                self.audited_by_database = pg_security.is_installed(conn)
                if self.audited_by_database:
                    self.masked_by_database = pg_security.masked_for_login(conn)
                    self.key_locks_in_database = pg_security.has_key_locks(conn)

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def _normalise_url(url: str | os.PathLike | None) -> str:
        if url is None or str(url) == ":memory:":
            return "sqlite://"
        text = str(url)
        if "://" in text:
            return text
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    @property
    def path(self) -> Path | None:
        """The SQLite file of this store (``None`` in memory or on a server)."""
        if not self.url.startswith("sqlite:///") or self.url in ("sqlite:///:memory:",):
            return None
        return Path(self.url[len("sqlite:///"):])

    @classmethod
    @contextlib.contextmanager
    def build_file(cls, path: str | os.PathLike, *, overwrite: bool = False, create: bool = True) -> Iterator["Store"]:
        """Build a SQLite world file that appears complete or not at all.

        Yields a :class:`Store` on a temporary file beside ``path``, marked as being built
        (``PRAGMA user_version``). When the block ends without an error the file is made
        self-contained (WAL folded in), marked complete, flushed to disk and moved onto
        ``path`` in one atomic rename; on an error — or a crash, ``kill -9``, a full disk —
        ``path`` is untouched (an existing file stays as it was) and the temporary file is
        removed (after a crash it is left as ``.<name>.building-<pid>``, never at ``path``).

        An existing ``path`` is refused with :class:`WorldFileError` unless ``overwrite=True``.
        ``create=False`` yields the store without its schema (the caller creates it or restores
        a whole database into it).
        """
        target = Path(path).expanduser().resolve()
        if target.exists() and target.stat().st_size > 0 and not overwrite:
            raise WorldFileError(field="path", value=str(target), label="世界文件",
                                 allowed="一个尚不存在的文件路径；要替换旧世界请先删除它（或传 overwrite=True）",
                                 reason="文件已存在，不会覆盖")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.building-{os.getpid()}")
        for leftover in (tmp, *_sidecars(tmp)):
            leftover.unlink(missing_ok=True)
        store = cls(tmp, create=create)
        try:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f"PRAGMA user_version = {BUILDING}")
            yield store
            store.close()
            con = sqlite3.connect(tmp, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode = DELETE")  # fold the WAL into the one file
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute("PRAGMA user_version = 0")
            finally:
                con.close()
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            store.close()
            for leftover in (tmp, *_sidecars(tmp)):
                leftover.unlink(missing_ok=True)
            raise

    @staticmethod
    def _make_engine(url: str, echo: bool) -> Engine:
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}}
            if memory:
                kwargs["poolclass"] = StaticPool
            engine = create_engine(url, echo=echo, **kwargs)

            @event.listens_for(engine, "connect")
            def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - trivial
                # take transaction control from the sqlite3 module, so BEGIN is ours
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys = ON")
                cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
                if not memory:
                    cur.execute("PRAGMA journal_mode = WAL")
                    cur.execute("PRAGMA synchronous = NORMAL")
                cur.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn):  # pragma: no cover - trivial
                # writers take the lock up front: two processes never deadlock on upgrade
                conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("simcrm_write") else "BEGIN")

            return engine
        return create_engine(url, echo=echo, pool_pre_ping=True)

    def create_schema(self) -> None:
        """Create every missing table and load the default dictionaries into an empty store.

        Done in one write transaction (PostgreSQL: under an advisory lock), so two processes
        opening the same new database at once neither clash nor load the dictionaries twice.
        SQLite takes a short path: the readiness check is one query of ``sqlite_master``, and a
        database without any table gets the same DDL ``create_all`` would run (compiled once
        per process), with no per-table existence checks.
        """
        if self.dialect == "sqlite" and self._sqlite_create_schema():
            return
        try:
            with self._reader() as conn:
                names = set(inspect(conn).get_table_names())
                ready = names >= set(schema.TABLES) and int(conn.execute(
                    select(func.count()).select_from(schema.metadata.tables["dictionary"])).scalar_one()) > 0
        except DBAPIError:
            ready = False
        if not ready:
            self.atomic(self._create_schema)

    def _sqlite_create_schema(self) -> bool:
        """The SQLite short path of :meth:`create_schema`; ``False``: use the general one."""
        proxy = self.engine.raw_connection()
        try:
            raw = proxy.driver_connection
            state = _sqlite_schema_state(raw)
            if state == "ready":
                return True
            if state != "empty":
                return False
            raw.execute("BEGIN IMMEDIATE")
            try:
                if _sqlite_schema_state(raw) == "empty":  # another process may have been first
                    for stmt in _sqlite_ddl(self.engine.dialect):
                        raw.execute(stmt)
                    for stmt in summaries.ddl(self.engine.dialect):  # the summaries kept by triggers
                        raw.execute(stmt)
                    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    raw.executemany(
                        "INSERT INTO dictionary (list_name, value, is_default, in_use, sort_order) VALUES (?, ?, ?, ?, ?)",
                        [(list_name, value, int(value == spec.get("default")), 1, order)
                         for list_name, spec in reference.DICTIONARIES.items()
                         for order, value in enumerate(spec["values"])])
                raw.execute("COMMIT")
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            return True
        finally:
            proxy.close()

    def _create_schema(self) -> None:
        with self.transaction() as conn:
            self.advisory_lock(ADVISORY_SCHEMA)
            schema.create_all(conn)
            summaries.install(conn)  # the summaries kept by triggers
            if int(conn.execute(select(func.count()).select_from(schema.metadata.tables["dictionary"])).scalar_one()):
                return
            if self.dialect == "sqlite":
                conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
            rows = []
            for list_name, spec in reference.DICTIONARIES.items():
                for order, value in enumerate(spec["values"]):
                    rows.append(
                        {
                            "list_name": list_name,
                            "value": value,
                            "is_default": value == spec.get("default"),
                            "in_use": True,
                            "sort_order": order,
                        }
                    )
            conn.execute(insert(schema.metadata.tables["dictionary"]), rows)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._shown_url()!r})"

    # -- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: commits on success, rolls back on any error.

        Nested calls join the outer transaction, so an operation made of several operations
        is still all or nothing. Integrity errors from the database are re-raised as
        :class:`~simcrm.errors.SimCRMError` naming the field and value.
        """
        active = self._active.get()
        if active is not None:
            yield active
            return
        conn = self.engine.connect()
        conn.info["simcrm_write"] = True
        token = self._active.set(conn)
        try:
            with conn.begin():
                yield conn
            for hook in conn.info.pop("simcrm_after_commit", {}).values():
                hook()
        except (IntegrityError, DataError) as exc:
            self._dict_cache = None
            raise self._translate(exc) from exc
        except BaseException:
            self._dict_cache = None
            raise
        finally:
            self._active.reset(token)
            conn.info.pop("simcrm_write", None)
            conn.info.pop("simcrm_after_commit", None)
            conn.info.pop("simcrm_advisory", None)
            conn.close()

    def after_commit(self, key: Any, hook: Callable[[], None]) -> None:
        """Run ``hook()`` once the current write transaction has committed (never if it rolls
        back); a later hook with the same ``key`` replaces an earlier one. For caches that may
        only learn what the database really holds."""
        conn = self._active.get()
        if conn is None:
            raise RuntimeError("after_commit needs an open write transaction")
        conn.info.setdefault("simcrm_after_commit", {})[key] = hook

    def in_write(self) -> bool:
        """Whether the calling code runs inside :meth:`transaction`."""
        return self._active.get() is not None

    def atomic(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as one write transaction, again if it lost a race.

        Everything ``fn`` reads, checks and writes happens inside that transaction: SQLite
        writers hold the database lock from ``BEGIN IMMEDIATE``; on PostgreSQL the rows an
        operation changes are locked when read (:meth:`locked`). A transaction that lost a
        race — SQLite still locked after the busy timeout, a PostgreSQL deadlock or
        serialization failure, a unique key inserted by another user at the same moment — is
        rolled back and run again, at most :data:`ATTEMPTS` times in all; the rerun sees the
        other user's committed work and so gives the same answer as if it had come second.
        Inside an outer transaction ``fn`` simply joins it (the outermost call retries).
        """
        if self.in_write():
            return fn(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.transaction():
                    return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - filtered just below
                kind = self._lost_race(exc)
                if kind is None:
                    raise
                if kind == "unique key taken" and attempt >= 2:
                    raise  # taken for good, not by a concurrent insert: the error stands
                if attempt == ATTEMPTS:
                    if isinstance(exc, SimCRMError):
                        raise
                    raise BusyError(field="database", value=self._shown_url(), label="数据库",
                                    allowed="稍后重试，或关闭长时间占用数据库的其他程序",
                                    reason=f"另一个用户正在写入（{kind}），已重试 {ATTEMPTS} 次") from exc
                time.sleep(min(2.0, 0.02 * 2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _lost_race(self, exc: BaseException) -> str | None:
        """Why a transaction failed only because another one ran at the same time (else None)."""
        cause = exc.__cause__ if isinstance(exc, SimCRMError) else exc
        if not isinstance(cause, DBAPIError):
            return None
        code = getattr(cause.orig, "sqlstate", None)
        text = str(cause.orig).lower()
        if isinstance(cause, OperationalError) and ("database is locked" in text or "database is busy" in text):
            return "database is locked"
        if code in ("40001", "40P01"):
            return "serialization failure" if code == "40001" else "deadlock"
        if isinstance(cause, IntegrityError) and code == "23505":
            # PostgreSQL: another transaction inserted the same key after our check; the rerun
            # checks again and refuses it properly (SQLite writers cannot interleave)
            return "unique key taken"
        return None

    def _shown_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def locked(self, query: Any) -> Any:
        """``query`` locking the rows it reads while a write transaction is open.

        PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` (a concurrent writer of the same row waits
        for this transaction, then reads the committed result); SQLite ignores the clause, its
        writers are serialised by ``BEGIN IMMEDIATE``.
        """
        if self.in_write() and self.dialect == "postgresql":
            return query.with_for_update(key_share=True)
        return query

    def advisory_lock(self, key: int, sub: int = 0) -> None:
        """Hold a PostgreSQL advisory lock until the current write transaction ends.

        Serialises writers of something no single row stands for (e.g. "is this company name
        taken?"). A no-op on SQLite, whose writers are serialised anyway.
        """
        if self.dialect == "postgresql":
            conn = self._active.get()
            if conn is None:
                raise RuntimeError("advisory_lock needs an open write transaction")
            conn.execute(select(func.pg_advisory_xact_lock(int(key), int(sub))))

    def advisory_locks(self, key: int, subs: Iterable[int]) -> int:
        """Hold the PostgreSQL advisory locks ``(key, sub)`` of every ``sub`` until the current
        write transaction ends, taken in ascending order of ``sub`` (two transactions locking
        overlapping sets in one call each cannot deadlock); locks this transaction holds already
        are not asked for again. Returns how many locks were newly taken (what was read before
        may be stale for their keys). A no-op on SQLite, whose writers are serialised anyway.
        """
        if self.dialect != "postgresql":
            return 0
        conn = self._active.get()
        if conn is None:
            raise RuntimeError("advisory_locks needs an open write transaction")
        held = conn.info.setdefault("simcrm_advisory", set())
        todo = sorted({int(s) for s in subs} - {s for k, s in held if k == key})
        for start in range(0, len(todo), 200):  # one round trip per 200 locks, left to right
            part = todo[start:start + 200]
            conn.execute(select(*(func.pg_advisory_xact_lock(int(key), s) for s in part)))
            held.update((key, s) for s in part)
        return len(todo)

    def key_locks(self, key: int, pairs: Iterable[tuple[str, str]], *, customers: Iterable[int] = (),
                  leads: Iterable[int] = (), hash_pair: Callable[[str, str], int] | None = None) -> int:
        """Lock the duplicate rule's keys ``pairs`` (``(kind, key)``: ``("phone", "138…")`` …) as
        :meth:`advisory_locks` does, plus the phone and e-mail keys of the existing ``customers``
        and the mobile (as a phone) of ``leads``. Returns how many locks were newly taken.

        A classroom world (:attr:`key_locks_in_database`) hashes every key in the database with
        its secret salt, in one call that takes the locks in ascending order
        (``simcrm_lock_keys``: the rows must be in the login's data scope); elsewhere the keys
        are hashed by ``hash_pair`` here (the ids of ``customers`` and ``leads`` are then
        ignored: their values are readable and belong in ``pairs``).
        """
        if self.dialect != "postgresql":
            return 0
        pairs = sorted(set(pairs))
        if not self.key_locks_in_database:
            return self.advisory_locks(key, (hash_pair(k, v) for k, v in pairs))
        customers, leads = sorted({int(c) for c in customers}), sorted({int(x) for x in leads})
        if not (pairs or customers or leads):
            return 0
        conn = self._active.get()
        if conn is None:
            raise RuntimeError("key_locks needs an open write transaction")
        got = conn.execute(sql_text("SELECT simcrm_lock_keys(CAST(:k AS text[]), CAST(:v AS text[]), "
                                "CAST(:c AS integer[]), CAST(:l AS integer[]))"),
                           {"k": [k for k, _ in pairs], "v": [v for _, v in pairs],
                            "c": customers, "l": leads}).scalar() or []
        held = conn.info.setdefault("simcrm_advisory", set())
        new = {(key, int(h)) for h in got} - held
        held.update(new)
        return len(new)

    @contextlib.contextmanager
    def lookup_cache(self) -> Iterator[None]:
        """Remember, while the block runs, which referenced ids exist (batched validation).

        Meant for one write transaction that checks many rows (an import chunk): rows are
        not deleted from under it (SQLite serialises writers; on PostgreSQL the foreign keys
        still refuse a vanished parent).
        """
        if self._known_ids is not None:
            yield
            return
        self._known_ids = {}
        try:
            yield
        finally:
            self._known_ids = None

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Connection]:
        active = self._active.get()
        if active is not None:
            yield active
            return
        with self.engine.connect() as conn:
            yield conn

    # -- dictionaries ---------------------------------------------------------------------------

    def _dictionary(self) -> dict[str, Any]:
        if self._dict_cache is None:
            t = schema.metadata.tables["dictionary"]
            with self._reader() as conn:
                rows = conn.execute(select(t).order_by(t.c.list_name, t.c.sort_order, t.c.id)).mappings().all()
            by_id = {r["id"]: r["value"] for r in rows}
            by_value: dict[tuple[str, str], int] = {}
            in_use: dict[str, list[str]] = {}
            for r in rows:
                by_value[(r["list_name"], r["value"])] = r["id"]
                if r["in_use"]:
                    in_use.setdefault(r["list_name"], []).append(r["value"])
            self._dict_cache = {"by_id": by_id, "by_value": by_value, "in_use": in_use, "rows": rows}
        return self._dict_cache

    def invalidate_dictionary_cache(self) -> None:
        """Forget cached dictionary rows (call after writing the ``dictionary`` table)."""
        self._dict_cache = None

    def dictionary_values(self, list_name: str, *, include_disabled: bool = False) -> list[str]:
        """The values of a user-extendable list, in display order."""
        d = self._dictionary()
        if include_disabled:
            return [r["value"] for r in d["rows"] if r["list_name"] == list_name]
        return list(d["in_use"].get(list_name, []))

    def dictionary_id(self, list_name: str, value: Any, *, field: str | None = None, table: str | None = None) -> int:
        """The id of ``value`` in dictionary ``list_name``; refuses unknown or disabled values."""
        d = self._dictionary()
        allowed = d["in_use"].get(list_name, [])
        if isinstance(value, str) and value in allowed:
            return d["by_value"][(list_name, value)]
        label = None
        if table and field:
            label = schema.column_label(table, field)
        reason = None
        if isinstance(value, str) and (list_name, value) in d["by_value"]:
            reason = "该字典值已停用"
        raise UnknownValueError(field=field or list_name, value=value, allowed=allowed, label=label, reason=reason)

    def dictionary_value(self, dict_id: int | None) -> str | None:
        """The text of a dictionary id (``None`` stays ``None``)."""
        if dict_id is None:
            return None
        return self._dictionary()["by_id"].get(int(dict_id))

    # -- validation -------------------------------------------------------------------------------

    def validate(self, table: str, row: Mapping[str, Any], *, partial: bool = False,
                 conn: Connection | None = None) -> dict[str, Any]:
        """Check one row against the schema and return it ready to write.

        Dictionary fields may be given as their text value (``industry="制造业"``); dates as
        ``datetime.date`` or ISO strings. Raises a :class:`~simcrm.errors.SimCRMError`
        naming the first bad field. ``partial=True`` checks only the given fields (updates).
        """
        t = schema.metadata.tables.get(table)
        if t is None:
            raise UnknownValueError(field="table", value=table, allowed=schema.TABLES, label="数据表")
        out: dict[str, Any] = {}
        for key in row:
            if key not in t.c:
                raise UnknownValueError(field=key, value=row[key], table=table, label="字段名",
                                        allowed=[c.name for c in t.columns], reason=f"{table} 表没有这个字段")
        for c in t.columns:
            if c.primary_key and c.name not in row:
                continue
            if c.name not in row:
                if partial:
                    continue
                value = None
            else:
                value = row[c.name]
            label = c.info.get("label")
            if _is_missing(value):
                if c.default is not None and c.name not in row and not partial:
                    continue
                if not c.nullable and not c.primary_key:
                    raise RequiredFieldError(field=c.name, value=value, label=label, table=table)
                out[c.name] = None
                continue
            out[c.name] = self._coerce(table, c, value, conn)
        return out

    def _coerce(self, table: str, c: Any, value: Any, conn: Connection | None) -> Any:
        label = c.info.get("label")
        info = c.info
        if "dictionary" in info:
            if isinstance(value, bool):
                raise UnknownValueError(field=c.name, value=value, label=label,
                                        allowed=self.dictionary_values(info["dictionary"]))
            if isinstance(value, int) and value in self._dictionary()["by_id"]:
                return value
            return self.dictionary_id(info["dictionary"], value, field=c.name, table=table)
        states = info.get("states_list") or (reference.state_values(info["states"]) if "states" in info else None)
        if states is not None:
            if value not in states:
                raise UnknownValueError(field=c.name, value=value, label=label, allowed=states)
            return value
        ctype = c.type
        if isinstance(ctype, Boolean):
            if isinstance(value, bool):
                return value
            if hasattr(value, "dtype") and str(getattr(value, "dtype", "")) == "bool":
                return bool(value)
            if value in (0, 1):
                return bool(value)
            raise ValidationError(field=c.name, value=value, label=label, allowed="True 或 False（是/否）")
        if isinstance(ctype, Integer):
            if isinstance(value, bool) or not _is_integral(value):
                raise ValidationError(field=c.name, value=value, label=label, allowed="整数")
            value = int(value)
        elif isinstance(ctype, Float):
            if isinstance(value, bool) or not _is_number(value):
                raise ValidationError(field=c.name, value=value, label=label, allowed="数字")
            value = float(value)
            if math.isinf(value):
                raise ValidationError(field=c.name, value=value, label=label, allowed="有限的数字")
        elif isinstance(ctype, DateTime):
            value = _to_datetime(value, c.name, label)
        elif isinstance(ctype, Date):
            value = _to_date(value, c.name, label)
        elif isinstance(ctype, (String, Text)):
            if not isinstance(value, str):
                raise ValidationError(field=c.name, value=value, label=label, allowed="文本")
            if "\x00" in value:
                raise ValidationError(field=c.name, value=_shorten(value), label=label, table=table,
                                      allowed="不含 NUL 字符（\\x00）的文本", reason="文本中有 NUL 字符")
            value = value.strip()
            length = getattr(ctype, "length", None) or TEXT_LIMIT
            if length and len(value) > length:
                raise ValidationError(field=c.name, value=_shorten(value), label=label,
                                      allowed=f"不超过 {length} 个字符", reason=f"共 {len(value)} 个字符")
        if "min" in info and value < info["min"]:
            raise ValidationError(field=c.name, value=value, label=label, allowed=f"不小于 {info['min']}")
        if "max" in info and value > info["max"]:
            raise ValidationError(field=c.name, value=value, label=label, allowed=f"不大于 {info['max']}")
        for fk in c.foreign_keys:
            if fk.column.table.name == "dictionary":
                continue
            target = fk.column.table
            known = self._known_ids.setdefault(target.name, set()) if self._known_ids is not None else None
            if known is not None and value in known:
                continue
            with (contextlib.nullcontext(conn) if conn is not None else self._reader()) as cx:
                found = cx.execute(select(target.c.id).where(target.c.id == value)).first()
            if found is not None and known is not None:
                known.add(value)
            if found is None:
                raise NotFoundError(field=c.name, value=value, label=label,
                                    allowed=f"已存在的{schema.table_label(target.name)}编号")
        return value

    # -- writing -----------------------------------------------------------------------------------

    def insert(self, table: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
               validate: bool = True) -> int | list[int]:
        """Insert one row (returns its id) or many rows (returns their ids), all or nothing.

        ``validate=False`` skips the per-row Python checks (bulk writers that validated with
        the vectorised validators); the database constraints still apply.
        """
        if not isinstance(rows, Mapping):
            rows = list(rows)  # read once: a rerun after a lost race must see the same rows
        return self.atomic(self._insert_rows, table, rows, validate)

    def _insert_rows(self, table: str, rows: Any, validate: bool) -> int | list[int]:
        single = isinstance(rows, Mapping)
        batch = [rows] if single else list(rows)
        t = schema.metadata.tables[table]
        ids: list[int] = []
        with self.transaction() as conn:
            prepared = [self.validate(table, r, conn=conn) if validate else dict(r) for r in batch]
            if validate:
                self._check_unique(table, prepared, conn)
            if single or len(prepared) < 50:
                for r in prepared:
                    result = conn.execute(insert(t).values(**r).returning(t.c.id))
                    ids.append(int(result.scalar_one()))
            else:
                # one round trip per batch, ids read back in insertion order
                result = conn.execute(insert(t).returning(t.c.id, sort_by_parameter_order=True), prepared)
                ids.extend(int(x) for x in result.scalars().all())
            if self._known_ids is not None:
                self._known_ids.setdefault(table, set()).update(ids)
        if table == "dictionary":
            self._dict_cache = None
        return ids[0] if single else ids

    def bulk_insert(self, table: str, frame: pd.DataFrame, *, conn: Connection | None = None,
                    chunk: int = 20000) -> None:
        """Fast insert of a DataFrame whose columns match the schema (no per-row checks).

        Used by the simulation, which validates with the vectorised validators first. Columns
        must already hold database values (dictionary ids, not text).
        """
        t = schema.metadata.tables[table]
        unknown = [c for c in frame.columns if c not in t.c]
        if unknown:
            raise UnknownValueError(field=unknown[0], value=unknown[0], table=table,
                                    allowed=[c.name for c in t.columns], label="字段名")
        records = _frame_records(frame, t)
        with (contextlib.nullcontext(conn) if conn is not None else self.transaction()) as cx:
            for start in range(0, len(records), chunk):
                cx.execute(insert(t), records[start:start + chunk])

    def _check_unique(self, table: str, rows: list[dict[str, Any]], conn: Connection,
                      exclude_id: int | None = None) -> None:
        t = schema.metadata.tables[table]
        for c in t.columns:
            if not c.unique:
                continue
            values: list[Any] = []
            seen: set[Any] = set()
            for r in rows:
                v = r.get(c.name)
                if v is None:
                    continue
                if v in seen:
                    raise DuplicateError(field=c.name, value=v, label=c.info.get("label"), table=table,
                                         allowed="每条记录唯一的值")
                seen.add(v)
                values.append(v)
            for start in range(0, len(values), 500):  # one query per 500 values, not one per row
                part = values[start:start + 500]
                q = select(c).where(c.in_(part) if len(part) > 1 else c == part[0])
                if exclude_id is not None:
                    q = q.where(t.c.id != exclude_id)
                taken = set(conn.execute(q).scalars())
                if taken:
                    v = next(x for x in part if x in taken)
                    raise DuplicateError(field=c.name, value=v, label=c.info.get("label"),
                                         allowed="每条记录唯一的值")

    def update(self, table: str, row_id: int, values: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        """Change fields of one row; returns the old values of the changed fields."""
        return self.atomic(self._update_row, table, row_id, values, validate)

    def _update_row(self, table: str, row_id: int, values: Mapping[str, Any], validate: bool) -> dict[str, Any]:
        t = schema.metadata.tables[table]
        with self.transaction() as conn:
            # the row is locked from here: a concurrent edit waits, so the returned old values
            # are the previous edit's new ones (an unbroken audit chain)
            old = conn.execute(self.locked(select(t).where(t.c.id == row_id))).mappings().first()
            if old is None:
                raise NotFoundError(field="id", value=row_id, label=f"{schema.table_label(table)}编号",
                                    allowed=f"已存在的{schema.table_label(table)}编号")
            clean = self.validate(table, values, partial=True, conn=conn) if validate else dict(values)
            clean.pop("id", None)
            if validate:
                self._check_unique(table, [clean], conn, exclude_id=row_id)
            if clean:
                conn.execute(update(t).where(t.c.id == row_id).values(**clean))
        if table == "dictionary":
            self._dict_cache = None
        return {k: old[k] for k in clean}

    # -- reading ------------------------------------------------------------------------------------

    def get(self, table: str, row_id: int, *, resolve: bool = True) -> dict[str, Any]:
        """One row as a dict (dictionary fields as text unless ``resolve=False``)."""
        t = schema.metadata.tables[table]
        with self._reader() as conn:
            row = conn.execute(select(t).where(t.c.id == row_id)).mappings().first()
        if row is None:
            raise NotFoundError(field="id", value=row_id, label=f"{schema.table_label(table)}编号",
                                allowed=f"已存在的{schema.table_label(table)}编号")
        out = dict(row)
        if resolve:
            for name in schema.dictionary_columns(table):
                out[name] = self.dictionary_value(out[name])
        return out

    def count(self, table: str, **where: Any) -> int:
        """Number of rows of ``table`` (optionally where ``column == value`` for each keyword)."""
        t = self._table(table)
        self._check_columns(t, where)
        q = select(func.count()).select_from(t)
        for k, v in where.items():
            q = q.where(t.c[k] == v)
        with self._reader() as conn:
            return int(conn.execute(q).scalar_one())

    def read(self, table: str, *, labels: bool = False, resolve: bool = True,
             columns: Iterable[str] | None = None, where: Mapping[str, Any] | None = None,
             condition: Any = None, order_by: str | Iterable[str] | None = None, descending: bool = False,
             limit: int | None = None, offset: int = 0) -> pd.DataFrame:
        """A whole table (or the rows matching ``where``) as a DataFrame, ordered by id.

        Args:
            labels: rename the columns to their Chinese labels.
            resolve: show dictionary fields as their text (``False``: the raw ids).
            columns: only these columns.
            where: ``{column: value}`` equality filters (a list, tuple or set: ``IN``).
            condition: a further SQLAlchemy condition (e.g. a user's data scope).
            order_by: column(s) to sort by before ``id`` (default: ``id`` only);
                ``descending`` reverses the order.
            limit, offset: at most ``limit`` rows after skipping ``offset`` (pagination).

        Column dtypes follow the schema: ids and integers ``int64`` (``Int64`` where missing
        values are allowed), amounts ``float64``, text ``str``, dates and times
        ``datetime64``, flags ``bool``.
        """
        t = self._table(table)
        if columns is not None:
            columns = list(columns)
            self._check_columns(t, columns, what="columns")
        self._check_columns(t, where or {})
        cols = [t.c[c] for c in columns] if columns is not None else list(t.columns)
        q = self._filtered(select(*cols), t, where, condition)
        keys = [] if order_by is None else [order_by] if isinstance(order_by, str) else list(order_by)
        self._check_columns(t, keys, what="order_by")
        keys += ["id"] if "id" in t.c and "id" not in keys else []
        q = q.order_by(*[t.c[k].desc() if descending else t.c[k].asc() for k in keys])
        for name, value, low in (("limit", limit, 0), ("offset", offset, 0)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low):
                raise ValidationError(field=name, value=value, label="分页参数", allowed="不小于 0 的整数")
        q = q.limit(int(limit)) if limit is not None else q
        q = q.offset(int(offset)) if offset else q
        with self._reader() as conn:
            result = conn.execute(q)
            if conn.dialect.name == "sqlite":  # SQLite's own rows: typed below, column by column
                data = result.cursor.fetchall()
                result.close()
                frame = _typed_frame_sqlite(cols, data)
            else:
                frame = _typed_frame(cols, result.fetchall())
        if resolve:
            for name, _list in schema.dictionary_columns(table).items():
                if name in frame.columns:
                    by_id = self._dictionary()["by_id"]
                    ids = frame[name]  # Int64: the ids and their missing mask as plain lists (fast)
                    frame[name] = pd.Series(
                        [None if gone else by_id.get(v) for v, gone in
                         zip(ids.to_numpy(dtype="int64", na_value=0).tolist(), ids.isna().to_numpy().tolist())],
                        index=frame.index, dtype="str",
                    )
        if labels:
            frame = frame.rename(columns={c.name: c.info.get("label", c.name) for c in cols})
        return frame

    def count_where(self, table: str, *, where: Mapping[str, Any] | None = None, condition: Any = None) -> int:
        """How many rows :meth:`read` would return with the same ``where`` and ``condition``."""
        t = self._table(table)
        self._check_columns(t, where or {})
        q = self._filtered(select(func.count()).select_from(t), t, where, condition)
        with self._reader() as conn:
            return int(conn.execute(q).scalar_one())

    @staticmethod
    def _filtered(q: Any, t: Any, where: Mapping[str, Any] | None, condition: Any) -> Any:
        for k, v in (where or {}).items():
            if isinstance(v, (list, tuple, set, frozenset, np.ndarray, pd.Index, pd.Series)):
                values = sorted({x.item() if isinstance(x, np.generic) else x for x in v},
                                key=lambda x: (str(type(x)), x))
                q = q.where(t.c[k].in_(values))
            else:
                q = q.where(t.c[k] == (v.item() if isinstance(v, np.generic) else v))
        return q if condition is None else q.where(condition)

    @staticmethod
    def _table(table: Any) -> Any:
        t = schema.metadata.tables.get(table) if isinstance(table, str) else None
        if t is None:
            raise UnknownValueError(field="table", value=table, label="数据表", allowed=schema.TABLES)
        return t

    @staticmethod
    def _check_columns(t: Any, names: Iterable[Any], *, what: str = "where") -> None:
        for name in names:
            if not isinstance(name, str) or name not in t.c:
                raise UnknownValueError(field=what, value=name, label="字段名", table=t.name,
                                        allowed=[c.name for c in t.columns], reason=f"{t.name} 表没有这个字段")

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, read with :meth:`read`."""
        return {name: self.read(name) for name in schema.TABLES}

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table as plain tuples (for "nothing changed" checks)."""
        out = {}
        with self._reader() as conn:
            for name in schema.TABLES:
                t = schema.metadata.tables[name]
                out[name] = [tuple(r) for r in conn.execute(select(t).order_by(t.c.id)).all()]
        return out

    # -- error translation --------------------------------------------------------------------------

    def _translate(self, exc: DBAPIError) -> ConstraintError:
        msg = str(exc.orig)
        params = exc.params if isinstance(exc.params, Mapping) else {}
        m = re.search(r"(ck_[a-z_]+)", msg)
        if m:
            name = m.group(1)
            for tname, t in schema.metadata.tables.items():
                for ck in t.constraints:
                    if getattr(ck, "name", None) == name:
                        field = _field_of_check(tname, name)
                        value = params.get(field, "?") if field else "?"
                        label = schema.column_label(tname, field) if field and field in t.c else None
                        return ConstraintError(field=field or name, value=value, label=label, table=tname,
                                               allowed=str(ck.sqltext))
        m = re.search(r"NOT NULL constraint failed: (\w+)\.(\w+)", msg) or re.search(
            r'null value in column "(\w+)" of relation "(\w+)"', msg)
        if m:
            a, b = m.group(1), m.group(2)
            tname, field = (a, b) if "NOT NULL" in msg else (b, a)
            return ConstraintError(field=field, value=None, table=tname,
                                   label=schema.column_label(tname, field), allowed="必填，不能为空")
        m = re.search(r"UNIQUE constraint failed: (\w+)\.(\w+)", msg) or re.search(
            r'unique constraint "(?:uq_)?(\w+?)_(\w+?)(?:_key)?"', msg)
        if m:
            tname, field = m.group(1), m.group(2)
            return ConstraintError(field=field, value=params.get(field, "?"), table=tname,
                                   allowed="每条记录唯一的值")
        m = re.search(r'foreign key constraint "fk_(\w+?)_(\w+)"', msg)
        if m or "FOREIGN KEY" in msg:
            field = m.group(2) if m else "外键"
            return ConstraintError(field=field, value=params.get(field, "?"),
                                   allowed="引用已存在的记录（外键）", reason=msg)
        return ConstraintError(field="?", value="?", reason=msg)


_DDL: dict[str, list[str]] = {}


def _sqlite_ddl(dialect: Any) -> list[str]:
    """The statements ``metadata.create_all`` runs on an empty SQLite database, in its order,
    compiled once per process. They are captured from ``create_all`` itself (on a mock engine
    that records instead of executing), so the short path cannot drift from the general one."""
    key = f"{dialect.name}/{getattr(dialect, 'server_version_info', None)}"
    if key not in _DDL:
        from sqlalchemy import create_mock_engine

        stmts: list[str] = []

        def record(sql: Any, *_multiparams: Any, **_params: Any) -> None:
            stmts.append(str(sql.compile(dialect=dialect)))

        schema.create_all(create_mock_engine("sqlite://", record), checkfirst=False)
        _DDL[key] = stmts
    return _DDL[key]


def _sqlite_schema_state(raw: sqlite3.Connection) -> str:
    """``"ready"`` (every table, dictionaries loaded), ``"empty"`` (no table) or ``"partial"``."""
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not names:
        return "empty"
    if names >= set(schema.TABLES) and raw.execute("SELECT EXISTS (SELECT 1 FROM dictionary)").fetchone()[0]:
        return "ready"
    return "partial"


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def check_file(path: str | os.PathLike) -> None:
    """Refuse a file that is not a complete, undamaged simcrm database (:class:`WorldFileError`).

    Checks the SQLite header, the simcrm marks (``application_id``; not left half-built by an
    interrupted :meth:`Store.build_file`), that it holds simcrm's tables rather than another
    program's, and — for files up to :data:`CHECK_LIMIT_BYTES` — every page
    (``PRAGMA quick_check``), so a damaged file fails here with one clear message instead of
    later with a raw ``database disk image is malformed``.
    """
    path = Path(path)
    todo = f"请重新生成世界（simcrm generate --out 新文件名），或从备份恢复 {path.name}"

    def refuse(reason: str, allowed: str = todo) -> WorldFileError:
        return WorldFileError(field="path", value=str(path), label="世界文件", reason=reason, allowed=allowed)

    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        raise refuse("不是 SQLite 数据库文件（文件头不对），可能不是 simcrm 世界文件，或已损坏",
                     "simcrm 生成的世界文件（.sqlite）；" + todo)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:  # pragma: no cover - unreadable file
        raise refuse(f"无法打开：{exc}") from exc
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        problems = []
        if path.stat().st_size <= CHECK_LIMIT_BYTES:
            problems = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise refuse(f"文件已损坏（SQLite：{exc}）") from exc
    finally:
        con.close()
    if problems and problems != ["ok"]:
        raise refuse(f"文件已损坏（SQLite 检查发现：{problems[0]}）")
    if app_id not in (0, APPLICATION_ID):
        raise refuse(f"这是另一个程序的 SQLite 数据库（application_id = {app_id:#x}），不是 simcrm 世界文件",
                     "simcrm 生成的世界文件；换一个文件名")
    if version == BUILDING:
        raise refuse("这个世界文件没有生成完（生成过程被中断），内容不完整", todo)
    if names and not names & set(schema.TABLES):
        shown = "、".join(sorted(names)[:5])
        raise refuse(f"其中没有 simcrm 的数据表（有：{shown}），不是 simcrm 世界文件",
                     "simcrm 生成的世界文件；换一个文件名")


def _shorten(value: str, keep: int = 40) -> str:
    """A long text as shown in an error message (its start and its length)."""
    return value if len(value) <= keep else f"{value[:keep]}…（共 {len(value)} 个字符）"


def _field_of_check(table: str, ck_name: str) -> str | None:
    rest = ck_name[len(f"ck_{table}_"):]
    for suffix in ("_min", "_max"):
        if rest.endswith(suffix) and rest[: -len(suffix)] in schema.metadata.tables[table].c:
            return rest[: -len(suffix)]
    if rest in schema.metadata.tables[table].c:
        return rest
    if rest in ("won_100", "lost_0"):
        return "probability"
    return None


def _is_integral(value: Any) -> bool:
    try:
        return float(value) == int(value) and not isinstance(value, str)
    except (TypeError, ValueError, OverflowError):
        return False


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        return False
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _to_date(value: Any, field: str, label: str | None) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValidationError(field=field, value=value, label=label, allowed="日期，如 2025-03-01")


def _to_datetime(value: Any, field: str, label: str | None) -> dt.datetime:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(field=field, value=value, label=label, allowed="日期时间，如 2025-03-01 09:30")


def _missing_ints(c: Any) -> bool:
    """Whether integer column ``c`` is read as ``Int64`` (it may miss values, or it holds
    dictionary ids) rather than ``int64``."""
    return bool((c.nullable and not c.primary_key) or "dictionary" in c.info)


def _typed_frame(cols: list[Any], data: list[Any]) -> pd.DataFrame:
    series = {}
    by_column = list(zip(*data)) if data else [() for _ in cols]  # rows → columns, once
    for i, c in enumerate(cols):
        values = list(by_column[i])
        ctype = c.type
        if isinstance(ctype, Integer):
            s = pd.Series(values, dtype="Int64" if _missing_ints(c) else "int64")
        elif isinstance(ctype, Float):
            s = pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        elif isinstance(ctype, Boolean):
            s = pd.Series(values, dtype="boolean" if (c.nullable and any(v is None for v in values)) else "bool")
        elif isinstance(ctype, (Date, DateTime)):
            s = pd.to_datetime(pd.Series(values, dtype="object"))
            if s.dtype == "object":  # all missing
                s = pd.Series(pd.NaT, index=range(len(values)), dtype="datetime64[us]")
            s = s.astype("datetime64[us]")
        else:
            s = pd.Series(values, dtype="str")
        series[c.name] = s
    return pd.DataFrame(series, index=pd.RangeIndex(len(data)))


def _typed_frame_sqlite(cols: list[Any], data: list[Any]) -> pd.DataFrame:
    """:func:`_typed_frame` from the rows as SQLite's driver returns them (dates and times as ISO
    text, flags as 0/1), converted a column at a time instead of a value at a time by
    SQLAlchemy's result processors; the frames are equal (``tests/test_store_read_fast.py``)."""
    n = len(data)
    series = {}
    by_column = list(zip(*data)) if data else [() for _ in cols]
    for i, c in enumerate(cols):
        values = by_column[i]
        ctype = c.type
        if isinstance(ctype, Integer):
            if _missing_ints(c):
                if None in values:
                    s = pd.Series(values, dtype="Int64")
                else:
                    s = pd.Series(pd.arrays.IntegerArray(np.array(values, dtype="int64").reshape(n),
                                                         np.zeros(n, dtype=bool)))
            else:
                s = pd.Series(np.array(values, dtype="int64").reshape(n))
        elif isinstance(ctype, Float):
            s = pd.Series(np.array(values, dtype="float64").reshape(n))
        elif isinstance(ctype, Boolean):
            if c.nullable and None in values:
                s = pd.Series([None if v is None else bool(v) for v in values], dtype="boolean")
            else:
                s = pd.Series(np.array(values, dtype="bool").reshape(n))
        elif isinstance(ctype, (Date, DateTime)):
            text = pd.Series(values, dtype="object")
            if isinstance(ctype, Date):  # a date is its first ten characters, never a time of day
                text = text.str.slice(0, 10)
            s = pd.to_datetime(text, format="ISO8601") if text.notna().any() else \
                pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]")
            s = s.astype("datetime64[us]")
        else:
            s = pd.Series(values, dtype="str")
        series[c.name] = s
    return pd.DataFrame(series, index=pd.RangeIndex(n))


def _frame_records(frame: pd.DataFrame, t: Any) -> list[dict[str, Any]]:
    out_cols = {}
    for name in frame.columns:
        c = t.c[name]
        s = frame[name]
        if isinstance(c.type, DateTime):
            vals = [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in s]
        elif isinstance(c.type, Date):
            vals = [None if pd.isna(v) else pd.Timestamp(v).date() for v in s]
        elif isinstance(c.type, Boolean):
            vals = [None if pd.isna(v) else bool(v) for v in s]
        elif isinstance(c.type, Integer):
            vals = [None if pd.isna(v) else int(v) for v in s]
        elif isinstance(c.type, Float):
            vals = [None if pd.isna(v) else float(v) for v in s]
        else:
            vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in s]
        out_cols[name] = vals
    n = len(frame)
    names = list(out_cols)
    return [{k: out_cols[k][i] for k in names} for i in range(n)]


def snapshot_equal(a: Mapping[str, list[tuple]], b: Mapping[str, list[tuple]]) -> list[str]:
    """Names of the tables whose rows differ between two :meth:`Store.snapshot` results."""
    return [name for name in a if a[name] != b.get(name)]
