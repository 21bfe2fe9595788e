"""Per-chapter lab content: world set-up, files for the student, and graded questions.

Each ``chNN.py`` registers its questions (see :mod:`simcrm.lab.questions`) and may define
``CUSTOMERS`` (world size), ``prepare_world(world)`` and ``build_files(world, directory)``.
Helpers shared by the chapters live here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["new_rows", "max_id"]


def max_id(store: Any, table: str) -> int:
    """The largest id of ``table`` (0 when empty)."""
    frame = store.read(table, columns=["id"])
    return int(frame["id"].max()) if len(frame) else 0


def new_rows(ctx: Any, table: str) -> pd.DataFrame:
    """Rows of ``table`` the student added (ids beyond the world as generated)."""
    frame = ctx.store.read(table)
    return frame[frame["id"] > max_id(ctx.pristine, table)].reset_index(drop=True)
