"""Per-chapter lab content: world set-up, files for the student, and graded questions.

Each ``chNN.py`` registers its questions (see :mod:`simcrm.lab.questions`) and may define
``CUSTOMERS`` (world size), ``prepare_world(world)`` and ``build_files(world, directory)``.
Helpers shared by the chapters live here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["new_rows", "max_id", "safe_diagnose"]


def max_id(store: Any, table: str) -> int:
    """The largest id of ``table`` (0 when empty)."""
    frame = store.read(table, columns=["id"])
    return int(frame["id"].max()) if len(frame) else 0


def new_rows(ctx: Any, table: str) -> pd.DataFrame:
    """Rows of ``table`` the student added (ids beyond the world as generated)."""
    frame = ctx.store.read(table)
    return frame[frame["id"] > max_id(ctx.pristine, table)].reset_index(drop=True)


def safe_diagnose(diagnose: Any) -> Any:
    """Wrap a question's hint finder so that it never crashes the check: an answer of an
    unexpected shape (text in a number column …) just gets the generic comparison hint."""
    def wrapped(ctx: Any, answer: Any, expected: Any) -> str | None:
        try:
            return diagnose(ctx, answer, expected)
        except Exception:  # noqa: BLE001 - any failure means "no specific hint"
            return None
    wrapped.__name__ = diagnose.__name__
    wrapped.__doc__ = diagnose.__doc__
    return wrapped
