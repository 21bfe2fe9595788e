"""The storage layer: the one schema, and a :class:`Store` over SQLite or any SQLAlchemy URL."""

from . import schema
from .store import Store, snapshot_equal

__all__ = ["Store", "schema", "snapshot_equal"]
