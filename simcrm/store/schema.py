"""The one schema of simcrm: every table, column, key, constraint and Chinese label.

Every other layer reads this module instead of repeating column lists (the tables are defined in
:mod:`simcrm.store._tables`; this module serves them, from a cached copy when it can, see
:func:`_load`). A column carries in its
SQLAlchemy ``info``:

* ``label`` — the Chinese display label (tables have one too);
* ``states`` — the name of a fixed state list in :mod:`simcrm.reference`; the column gets a
  CHECK constraint ``ck_<table>_<column>`` listing the allowed values;
* ``dictionary`` — the name of a user-extendable list; the column is an integer foreign key
  into the ``dictionary`` table (reads show the value text, see :meth:`Store.read`);
* ``min`` / ``max`` — numeric bounds, also CHECK constraints (``ck_<table>_<column>_min``…);
* ``sensitive`` — a masking rule for privacy exports (``mobile``, ``id_number``, ``email``,
  ``address``, ``name``).

    >>> from simcrm.store.schema import metadata, table_label, column_label
    >>> table_label("customer"), column_label("customer", "lifecycle")
    ('客户', '生命周期')
    >>> "complaint" in metadata.tables
    True
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

from sqlalchemy import MetaData

from .. import reference

__all__ = [
    "metadata",
    "create_all",
    "TABLES",
    "table_label",
    "column_label",
    "labels",
    "dictionary_columns",
    "state_columns",
    "sensitive_columns",
]


def _load() -> MetaData:
    """The schema's metadata: the pickled copy kept in the world cache when it is there and
    intact, else built from :mod:`simcrm.store._tables` (and kept for the next process).

    Building the tables is SQLAlchemy's work for each of the 42 tables, 402 columns, 309
    constraints and 122 indexes (events, naming conventions, coercions: about 0.05 s of CPU time
    at every ``import simcrm``, more with the full garbage collection the interpreter tends to run
    in the middle of it); unpickling the same objects takes about a third of that. The copy is
    an entry of the world cache (:mod:`simcrm.sim.cache`: private folder, content keyed with
    the user's secret, checked before unpickling), keyed with the code of ``simcrm/store`` and
    ``simcrm/reference`` (which define the tables and their allowed values) and the versions of
    SQLAlchemy and Python; with the cache off, damaged or unwritable, the tables are built.
    """
    from ..sim import cache

    k = None
    try:
        import sqlalchemy

        k = cache.key(f"schema-metadata|sqlalchemy={sqlalchemy.__version__}|python={sys.version}")
        data = cache.load_blob(k)
        if data is not None:
            loaded = pickle.loads(data)
            if isinstance(loaded, MetaData) and loaded.tables:
                return loaded
    except Exception:  # noqa: BLE001 - a cache that cannot serve the schema is a miss
        pass
    from . import _tables

    if k is not None:
        cache.save_blob(k, pickle.dumps(_tables.metadata, protocol=pickle.HIGHEST_PROTOCOL))
    return _tables.metadata


#: the schema: every table with its columns, keys, constraints and Chinese labels
metadata: MetaData = _load()

#: every table, in dependency order (parents before children)
TABLES: tuple[str, ...] = tuple(t.name for t in metadata.sorted_tables)


def create_all(bind: Any, **kw: Any) -> None:
    """``metadata.create_all(bind)`` without its side effect on the shared metadata.

    On a database that can ``ALTER TABLE … ADD CONSTRAINT`` (PostgreSQL), SQLAlchemy adds each
    ``use_alter`` foreign key (department.manager_id → employee) after the tables and, doing so,
    marks the constraint in the *process-wide* metadata as "never inside CREATE TABLE". A SQLite
    world created later in the same process then lost that foreign key, so a world file's schema
    depended on whether the process had touched PostgreSQL before. Every schema creation goes
    through here, which restores each constraint's create rule afterwards.
    """
    saved = [(c, c._create_rule) for t in metadata.tables.values() for c in t.constraints]
    try:
        metadata.create_all(bind, **kw)
    finally:
        for constraint, rule in saved:
            constraint._create_rule = rule


def table_label(table: str) -> str:
    """The Chinese display label of a table."""
    return metadata.tables[table].info["label"]


def column_label(table: str, column: str) -> str:
    """The Chinese display label of a column."""
    return metadata.tables[table].c[column].info["label"]


def labels(table: str) -> dict[str, str]:
    """``{column: Chinese label}`` for every column of ``table``, in schema order."""
    return {c.name: c.info["label"] for c in metadata.tables[table].columns}


def dictionary_columns(table: str) -> dict[str, str]:
    """``{column: dictionary list name}`` for the dictionary-backed columns of ``table``."""
    return {c.name: c.info["dictionary"] for c in metadata.tables[table].columns if "dictionary" in c.info}


def state_columns(table: str) -> dict[str, tuple[str, ...]]:
    """``{column: allowed values}`` for the fixed-state columns of ``table``."""
    out: dict[str, tuple[str, ...]] = {}
    for c in metadata.tables[table].columns:
        if "states" in c.info:
            out[c.name] = reference.state_values(c.info["states"])
        elif "states_list" in c.info:
            out[c.name] = tuple(c.info["states_list"])
    return out


def sensitive_columns(table: str) -> dict[str, str]:
    """``{column: masking rule}`` for the personal-data columns of ``table``."""
    return {c.name: c.info["sensitive"] for c in metadata.tables[table].columns if "sensitive" in c.info}
