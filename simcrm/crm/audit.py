"""Audit trail (操作日志): who changed what, when, from which value to which.

Reading history follows the same rules as reading the records: the history of one record needs
the read right on its module and the record inside the reader's data scope; the history of a
whole table (or ``list("audit_log")``) needs the 系统管理 read right and shows only the rows of
records inside the reader's scope (:meth:`~simcrm.crm.CRM.scope_condition` of ``audit_log``).
Personal data in old and new values is masked as exports mask it for the reader's role type
(:data:`simcrm.crm.MASKING`: a 主管 sees ID numbers masked, a 一般人员 also phones, e-mails and
addresses), so the log is no way around the masks.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from ..errors import NotFoundError, PermissionDeniedError, ValidationError
from ..store import schema
from .base import _SCOPED, TABLE_MODULE, CRMBase, locale, tbl


class AuditMixin(CRMBase):
    def audit(self, table: str, row_id: int | None = None) -> pd.DataFrame:
        """The audit history of one row (or a whole table), oldest first.

        Reading a record's history needs read access to that record (module right and data
        scope); a record that no longer exists (an ended share …) only with the data scope 全部.
        A whole table's history needs the 系统管理 read right and lists the records in scope.

        Returns:
            DataFrame ``at, employee_id, employee, action, table_name, row_id, field, old_value,
            new_value`` (personal data masked for the reader's role type).
        """
        if table not in schema.metadata.tables:
            raise ValidationError(field="table", value=table, label="数据表", allowed=schema.TABLES)
        with self._traced("audit", table, row_id):
            if row_id is not None:
                self._check_history(table, row_id)
            elif not self.is_system:
                self._require("system", "read")
        where = {"table_name": table} if row_id is None else {"table_name": table, "row_id": int(row_id)}
        cond = self.scope_condition("audit_log")
        if cond is not None:
            # the rows read are all of ``table``: of the scope rule's arms (one per scoped table),
            # only this table's applies — the same rows, with one subquery instead of one per table
            cond = self._history_scope(table)
        log = self.store.read("audit_log", where=where, condition=cond)
        log = self._mask_read("audit_log", log)
        names = self.store.read("employee", columns=["id", "name"]).set_index("id")["name"]
        log.insert(2, "employee", log["employee_id"].map(names).fillna("系统管理员").astype("str"))
        return log.drop(columns=["id"]).reset_index(drop=True)

    def _history_scope(self, table: str):
        """:meth:`scope_condition` of ``audit_log`` for rows of ``table`` only (``None``: all)."""
        if table not in _SCOPED:
            return None
        log, target = tbl("audit_log"), tbl(table)
        return log.c.row_id.in_(select(target.c.id).where(self.scope_condition(table)))

    def _check_history(self, table: str, row_id: int) -> None:
        """May the user read the history of row ``row_id`` of ``table``? (raises if not)"""
        if table == "audit_log":
            self._require("system", "read")
            return
        if table not in _SCOPED:
            self._require(TABLE_MODULE[table], "read")
            return
        self._require(TABLE_MODULE[table], "read")
        t = tbl(table)
        with self.store._reader() as conn:
            exists = conn.execute(select(t.c.id).where(t.c.id == int(row_id))).first() is not None
        if exists:
            if not self._in_scope(table, int(row_id)):
                raise PermissionDeniedError(
                    field="row_id", value=row_id, label=f"{schema.table_label(table)}编号",
                    allowed="本人数据范围内的记录",
                    reason=f"{self._who()} 不能查看这条{schema.table_label(table)}的历史：它不在其数据范围"
                           f"（{self._role()['data_scope']}）内")
            return
        if self.scope_condition(table) is not None:
            raise NotFoundError(field="row_id", value=row_id, label=f"{schema.table_label(table)}编号",
                                allowed="已存在且在本人数据范围内的记录",
                                reason="记录不存在（或已删除）；已删除记录的历史只有数据范围为“全部”的用户能查看")

    def _mask_read(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Audit values of personal-data fields masked as exports mask them for the user."""
        if table != "audit_log" or self.is_system or not len(frame):
            return frame
        from .privacy import MASKING

        rules = MASKING[self._user["role_type"]]
        if not rules:
            return frame
        loc = locale()
        frame = frame.copy()
        for name in schema.TABLES:
            for column, rule in schema.sensitive_columns(name).items():
                if rule not in rules:
                    continue
                hit = (frame["table_name"] == name) & (frame["field"] == column)
                if hit.any():
                    mask = getattr(loc, f"mask_{rule}_series")
                    for value_col in ("old_value", "new_value"):
                        values = frame.loc[hit, value_col]
                        present = values.notna() & (values != "None")
                        frame.loc[values[present].index, value_col] = mask(values[present].astype("str")).to_numpy()
        return frame


__all__ = ["AuditMixin"]
