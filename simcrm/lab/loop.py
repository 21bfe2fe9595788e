"""Closed loops: the student's decisions change the next quarter of their own firm.

In the student's kernel, :meth:`simcrm.lab.session.Lab.next_quarter` steps the student's world
``days`` past today with what they recorded in the CRM (care rows, members of a campaign's
目标组, the handling of the world's complaints, the complaint-handling policy:
:meth:`simcrm.sim.World.step` reads them). The notebook is the complete record, so
autograde, which re-executes it, steps again with the same decisions and gets the same outcome.

The referee never trusts the student's database for an *outcome*: :func:`replay` takes only
the student's *decisions* (the rows they added to the decision tables), writes them into its
own fresh copy of the world as generated, and steps that copy the same number of days. A
reference outcome is computed on the replay; a forged outcome in the student's database
changes nothing. :func:`decisions` is what both sides agree the decisions are.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["DECISION_TABLES", "HANDLED", "QUARTER_DAYS", "decisions", "discard_with", "replay", "replay_world"]

#: the tables whose student-added rows :meth:`World.step` acts on (order matters: FKs first);
#: ``complaint`` rows the student recorded come along so the world's later ids are the same
DECISION_TABLES = ("campaign", "campaign_member", "care", "complaint", "complaint_history", "complaint_policy")

#: the key under which :func:`decisions` returns the student's edits of the world's complaints
#: (the complaint rows as they are now, for complaints the student moved along in the CRM)
HANDLED = "complaint_handled"

#: one quarter of the simulation
QUARTER_DAYS = 91


def decisions(pristine: Any, store: Any) -> dict[str, pd.DataFrame]:
    """The rows of :data:`DECISION_TABLES` the student created through the CRM, keyed by table.

    A decision is a row beyond the world as generated whose creation the CRM audited (新建 in
    ``audit_log``); rows the simulation wrote in a later quarter are not decisions, and neither
    are rows written around the CRM. Values as stored (``resolve=False``).

    Also, under :data:`HANDLED`, the world's complaints the student handled: rows of the world
    as generated that the CRM audited a change of (修改/状态变更), with their values now (status,
    satisfaction, solution …); with the student's ``complaint_history`` rows they are the
    complaint handling that :meth:`World.step` acts on (who was resolved, when, how well).
    """
    from .chapters import max_id

    audit = store.read("audit_log", resolve=False, columns=["action", "table_name", "row_id"])
    created = audit[audit["action"] == "新建"]
    out: dict[str, pd.DataFrame] = {}
    for table in DECISION_TABLES:
        frame = store.read(table, resolve=False)
        ids = created.loc[created["table_name"] == table, "row_id"]
        mine = (frame["id"] > max_id(pristine, table)) & frame["id"].isin(ids)
        out[table] = frame[mine].reset_index(drop=True)
    comp = store.read("complaint", resolve=False)
    changed = audit.loc[(audit["table_name"] == "complaint") & audit["action"].isin(["修改", "状态变更"]), "row_id"]
    out[HANDLED] = comp[(comp["id"] <= max_id(pristine, "complaint")) & comp["id"].isin(changed)].reset_index(drop=True)
    return out


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def replay_world(seed: int, chapter: str, customers: int | None, chosen: dict[str, pd.DataFrame],
                 steps: list[int], directory: Path) -> Any:
    """A fresh world for ``seed`` with the ``chosen`` decision rows written in, stepped ``steps``.

    Returns the :class:`~simcrm.sim.World`; its store holds the outcome.
    """
    from .session import build_world

    world = build_world(seed, chapter, directory, customers)
    for table in DECISION_TABLES:
        frame = chosen.get(table)
        if frame is not None and len(frame):
            world.store.bulk_insert(table, frame)
    handled = chosen.get(HANDLED)
    if handled is not None and len(handled):
        for row in handled.to_dict("records"):
            world.store.update("complaint", int(row["id"]), {k: _plain(v) for k, v in row.items() if k != "id"},
                               validate=False)
    for days in steps:
        world.step(days)
    return world


def discard_with(obj: Any, folder: Path) -> Any:
    """``obj``, with ``folder`` (a scratch world's files, tens of MB) removed when ``obj`` is
    garbage-collected or the process ends: a referee grading a class replays many quarters."""
    weakref.finalize(obj, shutil.rmtree, folder, True)
    return obj


def replay(ctx: Any, steps: list[int] | None = None) -> Any:
    """The referee's own outcome for the student's decisions: a store after the same steps.

    ``ctx`` is a :class:`~simcrm.lab.questions.Context` whose ``world`` is the referee's (or the
    kernel's, for the visible check) world as generated. ``steps`` defaults to one quarter.
    Computed once per context.
    """
    steps = list(steps or [QUARTER_DAYS])

    def build() -> Any:
        chosen = decisions(ctx.pristine, ctx.store)
        folder = Path(tempfile.mkdtemp(prefix="simcrm-replay-"))
        world = replay_world(ctx.world.seed, ctx.chapter, ctx.world.params.customers, chosen, steps, folder)
        return discard_with(world.store, folder)

    return ctx.once(f"replay:{steps}", build)
