"""Undo one exercise: take back what the student's operations wrote for it, and nothing else.

Every CRM operation writes an audit row (``audit_log``: 新建 with the new row's id, 修改 /
状态变更 / 删除 with the field's old value). A lab session keeps a :class:`Journal` of which
audit rows belong to which exercise: the writes made since the previous check cell belong to
the exercise whose check cell runs next (answer cell, then its check cell — the order of every
lab). Writes not followed by a check yet (a cell that failed half-way) belong to the exercise
being undone.

``lab.undo("ch04.new_customer")`` then reverts those audit rows, newest first: a created row
is deleted, a changed field gets its old value back. Rows other exercises created or changed
are not touched, so a student can redo one exercise after a wrong or partial attempt without
``lab.reset()`` throwing everything away.

What it cannot take back: a deleted row (the audit keeps a summary, not the row; no exercise
of ch01–ch05 deletes rows), numbers already taken from a numbering rule (a redone customer
gets the next code) and export logs (an export is a fact to be audited, not undone; the export
check reads the latest export).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, delete, func, select, update

from ..errors import ConfigError
from ..store import schema

__all__ = ["Journal", "UndoReport"]


@dataclass
class UndoReport:
    """What :meth:`Journal.undo` did: the exercise, the reverted audit rows, one line each."""

    key: str
    lines: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.lines and not self.skipped:
            return (f"练习 {self.key} 没有需要撤销的操作（本实训中还没有为它写入数据）。"
                    "可以直接运行该练习的单元格。")
        head = f"已撤销练习 {self.key} 的 {len(self.lines)} 项操作，其他练习的数据没有变化："
        body = [f"  · {line}" for line in self.lines[:12]]
        if len(self.lines) > 12:
            body.append(f"  · ……（共 {len(self.lines)} 项）")
        body += [f"  · 未能撤销：{line}" for line in self.skipped]
        tail = "现在可以改正答案单元格后重新运行它，再运行检查单元格。"
        return "\n".join([head, *body, tail])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the text, not a repr
        p.text(str(self))


def _audit_max(store: Any) -> int:
    t = schema.metadata.tables["audit_log"]
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.max(t.c.id))).scalar() or 0)


class Journal:
    """Which audit rows belong to which exercise of one lab session (see the module docstring)."""

    def __init__(self, store: Any):
        self.store = store
        self.mark = _audit_max(store)  # the audit rows up to here are attributed (or the world's own)
        self.ranges: dict[str, list[tuple[int, int]]] = {}
        self.undone: set[int] = set()  # audit rows already taken back (the audit log keeps them)

    def checked(self, key: str) -> None:
        """A check cell of ``key`` ran: the writes since the previous check belong to ``key``."""
        now = _audit_max(self.store)
        if now > self.mark:
            self.ranges.setdefault(key, []).append((self.mark, now))
            self.mark = now

    def owner_of(self, table: str, row_id: int) -> str | None:
        """The exercise whose operations created ``table`` row ``row_id`` (``None``: unknown)."""
        t = schema.metadata.tables["audit_log"]
        with self.store.engine.connect() as conn:
            audit_id = conn.execute(select(t.c.id).where(t.c.table_name == table, t.c.row_id == int(row_id),
                                                         t.c.action == "新建")).scalar()
        if audit_id is None:
            return None
        return self._key_of(audit_id)

    def _key_of(self, audit_id: int) -> str | None:
        """The exercise an audit row is attributed to (``None``: the world's own history)."""
        for key, spans in self.ranges.items():
            if any(lo < audit_id <= hi for lo, hi in spans):
                return key
        return "（尚未检查的操作）" if audit_id > self.mark else None

    def undo(self, key: str) -> UndoReport:
        """Revert the writes of exercise ``key`` (and writes not yet followed by a check)."""
        spans = list(self.ranges.pop(key, []))
        now = _audit_max(self.store)
        if now > self.mark:
            spans.append((self.mark, now))
        report = UndoReport(key)
        if not spans:
            return report
        t = schema.metadata.tables["audit_log"]
        with self.store.engine.connect() as conn:
            rows = []
            for lo, hi in spans:
                rows += conn.execute(select(t).where(t.c.id > lo, t.c.id <= hi)).mappings().all()
        try:
            self._refuse_if_used(key, rows)
        except ConfigError:
            self.ranges[key] = [s for s in spans if s[1] <= self.mark]  # nothing changed: keep the journal
            raise
        with self.store.transaction() as conn:  # all or nothing
            for row in sorted(rows, key=lambda r: r["id"], reverse=True):
                self._revert(conn, row, report)
        self.undone |= {int(r["id"]) for r in rows}
        if any(r["table_name"] == "dictionary" for r in rows):
            self.store.invalidate_dictionary_cache()
        self.mark = _audit_max(self.store)
        return report

    def _refuse_if_used(self, key: str, rows: list[Any]) -> None:
        """Refuse (changing nothing) when rows this undo would delete are used by other rows —
        typically a later exercise built on them (e.g. converting the leads an import created)."""
        doomed: dict[str, set[int]] = {}
        reverted: set[tuple[str, int, str]] = set()  # fields this undo sets back (to older values)
        for row in rows:
            if row["row_id"] is None or row["table_name"] not in schema.metadata.tables:
                continue
            if row["action"] == "新建":
                doomed.setdefault(row["table_name"], set()).add(int(row["row_id"]))
            elif row["field"]:
                reverted.add((row["table_name"], int(row["row_id"]), row["field"]))
        if not doomed:
            return
        ours = {int(r["id"]) for r in rows}
        audit = schema.metadata.tables["audit_log"]
        with self.store.engine.connect() as conn:
            for table, ids in doomed.items():  # a later exercise changed a row this one created
                q = select(audit.c.id, audit.c.row_id).where(audit.c.table_name == table,
                                                              audit.c.row_id.in_(sorted(ids)),
                                                              audit.c.action != "新建")
                for audit_id, row_id in conn.execute(q).all():
                    if int(audit_id) in ours or int(audit_id) in self.undone:
                        continue
                    other = self._key_of(int(audit_id)) or "其他操作"
                    raise ConfigError(
                        field="key", value=key, label="题号",
                        reason=f"{schema.table_label(table)} #{row_id} 是本练习新建的，但练习 {other} 又修改了它",
                        allowed=f"先撤销 {other}（lab.undo(\"{other}\")），再撤销 {key}")
        with self.store.engine.connect() as conn:
            for child in schema.metadata.sorted_tables:
                for fk in child.foreign_keys:
                    parent = fk.column.table.name
                    if parent not in doomed or child.name == "audit_log":
                        continue
                    col = fk.parent
                    q = select(child.c.id, col).where(col.in_(sorted(doomed[parent])))
                    for child_id, parent_id in conn.execute(q).all():
                        if int(child_id) in doomed.get(child.name, set()):
                            continue
                        if (child.name, int(child_id), col.name) in reverted:
                            continue
                        other = self.owner_of(child.name, int(child_id))
                        who = f"练习 {other}" if other and other != key else "其他操作"
                        raise ConfigError(
                            field="key", value=key, label="题号",
                            reason=(f"{schema.table_label(parent)} #{parent_id} 是本练习新建的，但{who}的"
                                    f"{schema.table_label(child.name)} #{child_id} 还在使用它"),
                            allowed=(f"先撤销 {other}（lab.undo(\"{other}\")），再撤销 {key}" if other and other != key
                                     and not other.startswith("（") else "先撤销依赖它的练习，或用 lab.reset() 全部重来"))

    # -- one audit row --------------------------------------------------------------------------

    def _revert(self, conn: Any, row: Any, report: UndoReport) -> None:
        table, row_id, action = row["table_name"], row["row_id"], row["action"]
        if table not in schema.metadata.tables or row_id is None:
            return  # 导出 and other whole-table events: nothing to take back
        t = schema.metadata.tables[table]
        label = f"{schema.table_label(table)} #{int(row_id)}"
        if action == "新建":
            conn.execute(delete(t).where(t.c.id == int(row_id)))
            report.lines.append(f"删除新建的{label}" + (f"（{row['new_value']}）" if row["new_value"] else ""))
            return
        name = row["field"]
        if action == "删除" and (not name or name not in t.c):
            report.skipped.append(f"{label} 已被删除（原记录无法恢复）")
            return
        if not name or name not in t.c:
            return
        value = self._typed(table, name, row["old_value"])
        exists = conn.execute(select(t.c.id).where(t.c.id == int(row_id))).scalar()
        if exists is None:
            return  # created by the same exercise and already deleted
        conn.execute(update(t).where(t.c.id == int(row_id)).values({name: value}))
        shown = schema.column_label(table, name) if name in t.c else name
        report.lines.append(f"{label} 的{shown}恢复为 {row['old_value']!r}")

    def _typed(self, table: str, name: str, text: str | None) -> Any:
        """An audit row's old value (text) as the column's type."""
        if text is None:
            return None
        column = schema.metadata.tables[table].c[name]
        dictionaries = schema.dictionary_columns(table)
        if name in dictionaries:
            known = self.store._dictionary()["by_value"]  # disabled values too: it is an old value
            return known.get((dictionaries[name], text), text)
        kind = column.type
        if isinstance(kind, Boolean):
            return text in ("True", "true", "1")
        if isinstance(kind, Integer):
            return int(float(text))
        if isinstance(kind, Float):
            return float(text)
        if isinstance(kind, DateTime):
            return dt.datetime.fromisoformat(text)
        if isinstance(kind, Date):
            return dt.date.fromisoformat(text[:10])
        return text


def check_key(key: str) -> None:
    """Refuse an exercise key that is not an operation (only operations write data)."""
    from .questions import get_question

    q = get_question(key)
    if q.kind != "operation":
        raise ConfigError(field="key", value=key, label="题号", reason="这是计算或判断题，不写入数据，无需撤销",
                          allowed="操作题的题号，如 \"ch04.new_customer\"（见检查单元格 lab.check(...) 的第一个参数）")
