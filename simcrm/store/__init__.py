"""The storage layer: the one schema, and a :class:`Store` over SQLite or any SQLAlchemy URL."""

from . import schema
from .store import BusyError, Store, WorldFileError, check_file, snapshot_equal

__all__ = ["BusyError", "Store", "WorldFileError", "check_file", "schema", "snapshot_equal"]
